//! `hark bench live FILE`: the file through the live pipeline paced in real time (the path a
//! microphone's audio takes after the device), timing what a person watching would see: end of
//! speech to final text, how often the text being said is updated, speech start to first text,
//! and the CPU it all costs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use clap::Args;
use hark::pipeline::Pipeline;
use hark::procstat::process_cpu;
use hark_capture::{FileSource, Pace, Source};
use hark_core::{PartialReady, PartialTranscript, SessionClock, SourceKind, Transcript, TranscriptReady, Utterance};
use hark_vad::SpeechRegions;
use serde::Serialize;

use super::PipelineArgs;

#[derive(Debug, Args)]
pub struct BenchLiveArgs {
    pub file: PathBuf,
    /// No partial decodes (finals only), for comparison.
    #[arg(long)]
    pub no_partials: bool,
    /// Reference transcript, for the finals' word error rate.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Serialize)]
struct Quantiles {
    p50: f64,
    p95: f64,
    n: usize,
}

fn quantiles(mut v: Vec<f64>) -> Quantiles {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    Quantiles { p50: at(0.5), p95: at(0.95), n: v.len() }
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    audio_s: f64,
    partials: bool,
    final_latency_ms: Quantiles,
    partial_interval_ms: Quantiles,
    first_partial_ms: Quantiles,
    cpu_percent_of_a_core: f64,
    rtf: f64,
    partials_decoded: u64,
    partials_skipped: u64,
    wer: Option<f64>,
    text: String,
}

pub fn run(a: BenchLiveArgs, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let src = FileSource::open(&a.file)?;
    let audio_s = src.duration_secs().unwrap_or(0.0);
    let mut opts = a.pipeline.options(models_dir, None)?;
    opts.segment.merge_gap_secs = a.pipeline.merge_pauses.unwrap_or(0.0);
    if !a.no_partials {
        opts.segment.partial_interval_secs = hark_segment::SegmentSettings::LIVE_PARTIAL_INTERVAL_SECS;
    }
    let mut p = Pipeline::new(&opts)?;
    p.app.insert_resource(TimeUpdateStrategy::Automatic);
    let cpu0 = process_cpu();
    let busy0 = p.inference_time();
    let s = p.start(SourceKind::File, Source::File(src), a.file.display().to_string(), Pace::RealTime);
    // Wall time when each sample entered the pipeline: the capture clock, paced in real time.
    let mut entered: Vec<(u64, Instant)> = Vec::new();
    let mut partial_times: Vec<(u64, Instant)> = Vec::new();
    let mut finals: Vec<(u64, u64, Instant)> = Vec::new();
    let mut pc = p.app.world().resource::<Messages<PartialReady>>().get_cursor();
    let mut fc = p.app.world().resource::<Messages<TranscriptReady>>().get_cursor();
    let mut observe = |world: &World, entered: &mut Vec<(u64, Instant)>| {
        let now = Instant::now();
        if let Some(c) = world.get::<SessionClock>(s)
            && entered.last().is_none_or(|l| l.0 < c.captured)
        {
            entered.push((c.captured, now));
        }
        for _ in pc.read(world.resource::<Messages<PartialReady>>()) {
            if let Some(pt) = world.get::<PartialTranscript>(s) {
                partial_times.push((pt.start, now));
            }
        }
        for r in fc.read(world.resource::<Messages<TranscriptReady>>()) {
            if let Some(u) = world.get::<Utterance>(r.utterance) {
                finals.push((u.start, u.end, now));
            }
        }
    };
    p.run_until_done(s, |app| {
        observe(app.world(), &mut entered);
        std::thread::sleep(Duration::from_millis(5));
    })
    .map_err(anyhow::Error::msg)?;
    observe(p.app.world(), &mut entered);
    let cpu = (process_cpu() - cpu0).as_secs_f64();
    let busy = (p.inference_time() - busy0).as_secs_f64();
    let rec = p.app.world().resource::<hark_transcribe::Recognizer>();
    let (decoded, skipped) = (rec.partials_decoded, rec.partials_skipped);
    let regions: Vec<(u64, u64)> = p
        .app
        .world()
        .get::<SpeechRegions>(s)
        .map(|r| r.0.iter().filter_map(|&(a, b)| b.map(|b| (a, b))).collect())
        .unwrap_or_default();
    let texts: Vec<(u64, String)> = {
        let world = p.app.world_mut();
        let mut q = world.query::<(&Utterance, &Transcript)>();
        let mut v: Vec<(u64, String)> = q
            .iter(world)
            .filter(|(u, t)| u.session == s && !t.suspect)
            .map(|(u, t)| (u.start, t.text.clone()))
            .collect();
        v.sort();
        v
    };
    let text = texts.iter().map(|t| t.1.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
    let _ = p.take_transcript(s);
    // When sample `at` entered the pipeline (the first update that had captured it).
    let wall_of = |at: u64| entered.iter().find(|e| e.0 >= at).map(|e| e.1);
    let mut final_ms = Vec::new();
    let mut first_ms = Vec::new();
    let mut interval_ms = Vec::new();
    for &(start, end, published) in &finals {
        // End of speech: the VAD's decision, not the padded cut.
        let inside: Vec<&(u64, u64)> = regions.iter().filter(|r| r.0 < end && r.1 > start).collect();
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else { continue };
        if let Some(t) = wall_of(last.1.min(end)) {
            final_ms.push(published.saturating_duration_since(t).as_secs_f64() * 1e3);
        }
        let mine: Vec<Instant> = partial_times.iter().filter(|p| p.0 == start).map(|p| p.1).collect();
        if let (Some(p0), Some(t0)) = (mine.first(), wall_of(first.0)) {
            first_ms.push(p0.saturating_duration_since(t0).as_secs_f64() * 1e3);
        }
        interval_ms.extend(mine.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1e3));
    }
    let wer = match &a.reference {
        Some(r) => {
            let reference = std::fs::read_to_string(r)?;
            let w = hark_core::text::wer(&reference, &text);
            Some(w.edits as f64 / w.words.max(1) as f64)
        }
        None => None,
    };
    let report = Report {
        file: a.file.display().to_string(),
        audio_s,
        partials: !a.no_partials,
        final_latency_ms: quantiles(final_ms),
        partial_interval_ms: quantiles(interval_ms),
        first_partial_ms: quantiles(first_ms),
        cpu_percent_of_a_core: cpu / audio_s.max(1e-9) * 100.0,
        rtf: busy / audio_s.max(1e-9),
        partials_decoded: decoded,
        partials_skipped: skipped,
        wer,
        text,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let q = |q: &Quantiles| format!("p50 {:.0} ms, p95 {:.0} ms (n {})", q.p50, q.p95, q.n);
        println!("{} ({:.1} s), partials {}", report.file, audio_s, if report.partials { "on" } else { "off" });
        println!("  end of speech → final text: {}", q(&report.final_latency_ms));
        println!("  partial update interval:    {}", q(&report.partial_interval_ms));
        println!("  speech start → first text:  {}", q(&report.first_partial_ms));
        println!(
            "  CPU {:.1} % of a core, recogniser RTF {:.3}, partial decodes {decoded} (skipped {skipped}){}",
            report.cpu_percent_of_a_core,
            report.rtf,
            wer.map_or(String::new(), |w| format!(", WER {:.2} %", w * 100.0))
        );
    }
    Ok(ExitCode::SUCCESS)
}
