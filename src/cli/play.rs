//! `hark sessions play ID`: a saved session through an output device, each word printed as it
//! is heard. The same replay plugin the window uses, stepped in real time.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bevy::prelude::*;
use hark_core::{HarkCorePlugin, samples_to_secs};
use hark_replay::sound::SoundState;
use hark_replay::{Replay, ReplayPlugin, ReplayRequest};
use hark_store::Reader;

pub fn play(id: i64, from: f64, speed: f32, device: Option<String>, db: &Path) -> anyhow::Result<ExitCode> {
    // A missing database or session is said before any device opens.
    let row = Reader::open(db)?.session(id)?;
    if !(0.5..=2.0).contains(&speed) {
        anyhow::bail!("speed {speed} is out of range: use 0.5 to 2");
    }
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, bevy::app::TerminalCtrlCHandlerPlugin)).add_plugins((
        HarkCorePlugin,
        ReplayPlugin { database: Some(db.to_path_buf()), sound: true, output: device.clone() },
    ));
    app.finish();
    app.cleanup();
    app.world_mut().write_message(ReplayRequest::Speed(speed));
    app.world_mut().write_message(ReplayRequest::Open(id));
    let mut started = false;
    let mut said_sound = false;
    // Words are printed once the playhead has passed their start.
    let mut next_word = 0;
    loop {
        app.update();
        if app.should_exit().is_some() {
            eprintln!("stopped");
            return Ok(ExitCode::SUCCESS);
        }
        let r = app.world().resource::<Replay>();
        if let Some(problem) = &r.problem {
            anyhow::bail!("session {id} cannot be played: {problem}");
        }
        let Some(s) = &r.session else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        match &r.sound {
            Some(SoundState::Opening) | None => {}
            Some(SoundState::On { device: name }) if !said_sound => {
                said_sound = true;
                eprintln!("playing session {id} ({}) through {name} at {speed}×", row.title);
            }
            Some(SoundState::Off(why)) if !said_sound => {
                if device.is_some() {
                    anyhow::bail!("{why}: `hark sessions play` without --device uses the default output");
                }
                said_sound = true;
                eprintln!("no sound: {why}; the words follow the clock");
            }
            Some(_) => {}
        }
        if !started {
            if said_sound {
                let at = (from.max(0.0) * hark_core::SAMPLE_RATE as f64) as u64;
                let words: Vec<u64> = s.words().map(|w| w.start).collect();
                next_word = words.partition_point(|&w| w < at);
                app.world_mut().write_message(ReplayRequest::Seek(at));
                app.world_mut().write_message(ReplayRequest::Play);
                started = true;
            }
            continue;
        }
        let position = r.position;
        let done = !r.playing && position >= s.samples;
        // Locked per frame only: the replay prints its own news from the schedule's threads.
        let mut out = std::io::stdout().lock();
        for w in s.words().skip(next_word).take_while(|w| w.start <= position) {
            writeln!(out, "{:>8.2}  {}", samples_to_secs(w.start), w.text.trim())?;
            next_word += 1;
        }
        out.flush()?;
        drop(out);
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        // Real time: the device (or the clock) sets the pace; a frame every 10 ms.
        std::thread::sleep(Duration::from_millis(10));
    }
}
