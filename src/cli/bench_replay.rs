//! `hark bench replay`: what replaying a long session costs. A session of N hours is written to
//! a fresh database (the long-form recording looped, or noise without the corpus), then played
//! headless in virtual time through the replay plugin and the VAD (the speech band): memory
//! over the whole play, CPU per second of audio, and how long a seek takes to its first sample.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bevy::prelude::*;
use hark::procstat::{process_cpu, rss};
use hark_core::{AudioChunk, HarkCorePlugin, SAMPLE_RATE, SessionState, SourceKind};
use hark_replay::{Replay, ReplayPlugin, ReplayRequest, feed::Feed};
use hark_store::{Command, Writer};

const SR: u64 = SAMPLE_RATE as u64;

pub fn run(hours: f64, corpus: &Path, sound: bool) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("hark.db");
    let clip: Vec<f32> = match hark::longform::build(corpus, None) {
        // As its WAV file holds it: 16-bit.
        Ok(lf) => {
            lf.samples.iter().map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16 as f32 / 32768.0).collect()
        }
        Err(_) => {
            eprintln!("no corpus at {}: replaying noise", corpus.display());
            let mut x = 1u32;
            (0..SR as usize * 60)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x as f32 / u32::MAX as f32 - 0.5) * 0.1
                })
                .collect()
        }
    };
    let total = (hours * 3600.0 * SR as f64) as u64;
    compression(&clip)?;
    let t = Instant::now();
    let w = Writer::open(&db)?;
    let id = w.create_session("replay bench", SourceKind::Memory, "memory", "-", "{}")?;
    let mut at = 0u64;
    while at < total {
        // Rows as a capture writes them: 0.5 s each.
        let n = (SR / 2).min(total - at) as usize;
        let from = (at % clip.len() as u64) as usize;
        let row: Vec<f32> = clip.iter().cycle().skip(from).take(n).copied().collect();
        w.send(Command::Audio { session: id, start: at, samples: Arc::from(row) });
        at += n as u64;
        if at.is_multiple_of(SR * 600) {
            w.flush()?;
        }
    }
    w.send(Command::SetState { session: id, state: SessionState::Complete });
    w.close()?;
    let bytes = std::fs::metadata(&db)?.len();
    println!(
        "stored {hours} h in {:.1} s: {:.1} MB, {:.1} MB per hour of audio",
        t.elapsed().as_secs_f64(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / hours
    );

    let mut app = App::new();
    app.add_plugins((
        HarkCorePlugin,
        hark_vad::VadPlugin,
        ReplayPlugin { database: Some(db.clone()), sound: false, output: None },
    ))
    .init_resource::<Time>();
    let before = rss();
    app.world_mut().write_message(ReplayRequest::Open(id));
    for _ in 0..2 {
        app.world_mut().resource_mut::<Feed>().wait();
        app.update();
    }
    anyhow::ensure!(app.world().resource::<Replay>().session.is_some(), "the session did not open");

    // Play ten minutes from the start, the middle and the end, at 1×, 0.1 s per frame.
    let mut max_rss = rss();
    let (mut cpu, mut played) = (Duration::ZERO, 0u64);
    for start in [0, total / 2, total.saturating_sub(SR * 600)] {
        app.world_mut().write_message_batch([ReplayRequest::Seek(start), ReplayRequest::Play]);
        let c0 = process_cpu();
        for frame in 0..6_000 {
            app.world_mut().resource_mut::<Feed>().wait();
            app.world_mut().resource_mut::<Time>().advance_by(Duration::from_millis(100));
            app.update();
            let chunks = app.world().resource::<Messages<AudioChunk>>();
            played += chunks.iter_current_update_messages().map(|c| c.samples.len() as u64).sum::<u64>();
            if frame % 600 == 0 {
                max_rss = max_rss.max(rss());
            }
            if !app.world().resource::<Replay>().playing {
                break;
            }
        }
        cpu += process_cpu() - c0;
        app.world_mut().write_message(ReplayRequest::Pause);
        app.update();
    }
    let played_s = played as f64 / SR as f64;
    println!(
        "played {:.0} s of audio (start, middle, end): {:.3} ms of CPU per second of audio ({:.3} % of a core at 1×); RSS {:.1} MB before opening, at most {:.1} MB while playing (+{:.1} MB)",
        played_s,
        cpu.as_secs_f64() * 1e3 / played_s,
        cpu.as_secs_f64() / played_s * 100.0,
        before as f64 / 1e6,
        max_rss as f64 / 1e6,
        (max_rss as f64 - before as f64) / 1e6
    );

    // Seeks to seeded positions while playing: request to the first sample handed out.
    let mut lat = Vec::new();
    let mut x = 7u64;
    for _ in 0..100 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let to = (x >> 11) % total.saturating_sub(SR);
        let t = Instant::now();
        app.world_mut().write_message_batch([ReplayRequest::Seek(to), ReplayRequest::Play]);
        loop {
            app.world_mut().resource_mut::<Time>().advance_by(Duration::from_millis(10));
            app.update();
            let chunks = app.world().resource::<Messages<AudioChunk>>();
            if chunks.iter_current_update_messages().any(|c| c.start == to) {
                break;
            }
            anyhow::ensure!(t.elapsed() < Duration::from_secs(10), "a seek to {to} never played");
        }
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "seek to first sample (headless; the device adds its period, 50 ms): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms over {} seeks",
        lat[lat.len() / 2],
        lat[lat.len() * 95 / 100],
        lat[lat.len() - 1],
        lat.len()
    );
    drop(app);
    if sound {
        heard_seeks(&db, id, total)?;
    }
    std::fs::remove_file(&db).with_context(|| format!("{} cannot be removed", db.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Seeks while playing through the output device, in real time: from the request to the first
/// frames of the new position played by the device's callback (the playhead then follows the
/// device, so it moves past the seek only once they are).
fn heard_seeks(db: &Path, id: i64, total: u64) -> anyhow::Result<()> {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        HarkCorePlugin,
        hark_vad::VadPlugin,
        ReplayPlugin { database: Some(db.to_path_buf()), sound: true, output: None },
    ));
    app.finish();
    app.cleanup();
    app.world_mut().resource_mut::<hark_replay::sound::Speaker>().wait_open();
    app.world_mut().write_message(ReplayRequest::Open(id));
    let t = Instant::now();
    while app.world().resource::<Replay>().session.is_none() {
        app.update();
        anyhow::ensure!(t.elapsed() < Duration::from_secs(10), "the session did not open");
    }
    match &app.world().resource::<Replay>().sound {
        Some(hark_replay::sound::SoundState::On { device }) => println!("seeks heard on {device}:"),
        other => anyhow::bail!("no sound to time seeks with: {other:?}"),
    }
    let mut lat = Vec::new();
    let mut x = 11u64;
    for _ in 0..40 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let to = (x >> 11) % total.saturating_sub(SR);
        let t = Instant::now();
        app.world_mut().write_message_batch([ReplayRequest::Seek(to), ReplayRequest::Play]);
        loop {
            app.update();
            if app.world().resource::<Replay>().position > to {
                break;
            }
            anyhow::ensure!(t.elapsed() < Duration::from_secs(10), "a seek to {to} was never heard");
            // A frame every millisecond: the figure is the device's, not the frame rate's.
            std::thread::sleep(Duration::from_millis(1));
        }
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        // Play a moment before the next seek, as a person listening would.
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            app.update();
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "seek to first frames played by the device: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} seeks",
        lat[lat.len() / 2],
        lat[lat.len() * 95 / 100],
        lat[lat.len() - 1],
        lat.len()
    );
    Ok(())
}

/// Stored size per hour and encoding cost, for audio from a 16-bit file and for the same audio as
/// a microphone delivers it (resampled from 48 kHz: not 16-bit values any more).
fn compression(clip: &[f32]) -> anyhow::Result<()> {
    let mut up = Vec::new();
    let mut to48 = hark_capture::resample::RateConverter::new(SAMPLE_RATE, 48_000)?;
    to48.push(clip, &mut up);
    to48.finish(&mut up);
    let mut mic = Vec::new();
    let mut to16 = hark_capture::resample::RateConverter::to_16k(48_000)?;
    to16.push(&up, &mut mic);
    to16.finish(&mut mic);
    for (what, audio) in [("16-bit file", clip), ("microphone (48 kHz resampled)", &mic[..])] {
        let (mut bytes, mut codecs) = (0usize, std::collections::BTreeMap::new());
        let t = Instant::now();
        for row in audio.chunks(SR as usize / 2) {
            let (c, blob) = hark_store::codec::encode(row);
            bytes += blob.len();
            *codecs.entry(format!("{c:?}")).or_insert(0) += 1;
        }
        let secs = audio.len() as f64 / SR as f64;
        let encode_s = t.elapsed().as_secs_f64();
        println!(
            "{what}: {:.1} MB per hour stored (rows: {:?}), raw f32 {:.1} MB per hour: {:.3} of it; encoding {:.3} % of a core while capturing",
            bytes as f64 / secs * 3600.0 / 1e6,
            codecs,
            audio.len() as f64 * 4.0 / secs * 3600.0 / 1e6,
            bytes as f64 / (audio.len() as f64 * 4.0),
            encode_s / secs * 100.0
        );
    }
    Ok(())
}
