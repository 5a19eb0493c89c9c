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
    /// No speculative finals (each final decoded once the VAD has closed the utterance).
    #[arg(long)]
    pub no_speculative: bool,
    /// Silence after the last speech frame that starts the speculative final, in seconds.
    #[arg(long)]
    pub speculate_after: Option<f64>,
    /// The VAD's hangover in milliseconds (how long a pause closes an utterance; live capture's
    /// is 300).
    #[arg(long)]
    pub hangover_ms: Option<u32>,
    /// Seconds of new audio between partial decodes (live capture's is 0.48).
    #[arg(long)]
    pub partial_interval: Option<f64>,
    /// The VAD's end pad in milliseconds (audio kept after the last speech frame).
    #[arg(long)]
    pub end_pad_ms: Option<u32>,
    /// Reference transcript, for the finals' word error rate.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Where speech really is (TSV with a header and `start_s`, `end_s` columns, like the
    /// corpus's `vad/*.segments.tsv`): end of speech is taken from it instead of the VAD.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Skip the whisper.cpp-`stream`-style baseline.
    #[arg(long)]
    pub no_baseline: bool,
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
    /// Of the final latency, what came after the VAD could confirm the end (the hangover's
    /// last sample entered): waiting for the decode and for the ECS to publish it.
    after_hangover_ms: Quantiles,
    partial_interval_ms: Quantiles,
    first_partial_ms: Quantiles,
    cpu_percent_of_a_core: f64,
    rtf: f64,
    /// Each final: its utterance's span and latencies.
    utterances: Vec<UtteranceTiming>,
    partials_decoded: u64,
    partials_skipped: u64,
    speculative_decoded: u64,
    speculative_used: u64,
    /// Decodes stopped because their result was no longer wanted.
    cancelled: u64,
    wer: Option<f64>,
    text: String,
    baseline: Option<Baseline>,
}

#[derive(Debug, Serialize)]
struct UtteranceTiming {
    start_s: f64,
    end_of_speech_s: f64,
    final_ms: f64,
    after_hangover_ms: f64,
}

/// The whisper.cpp `stream` example's loop on the same audio, for comparison.
#[derive(Debug, Serialize)]
struct Baseline {
    method: &'static str,
    final_latency_ms: Quantiles,
    wer: Option<f64>,
    cpu_percent_of_a_core: f64,
    text: String,
}

/// Speech regions `(start, end)` in samples from a TSV with `start_s` and `end_s` columns.
fn read_truth(path: &Path) -> anyhow::Result<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            anyhow::anyhow!("{} has no `{name}` column (a TSV with a header naming start_s and end_s)", path.display())
        })
    };
    let (a, b) = (col("start_s")?, col("end_s")?);
    let mut out = Vec::new();
    for (n, l) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split('\t').collect();
        let num = |i: usize| {
            f.get(i).and_then(|v| v.trim().parse::<f64>().ok()).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} line {}: `{}` is not a time in seconds",
                    path.display(),
                    n + 2,
                    f.get(i).unwrap_or(&"")
                )
            })
        };
        out.push((hark_core::secs_to_samples(num(a)?), hark_core::secs_to_samples(num(b)?)));
    }
    out.sort();
    // Overlapping speakers make one stretch of speech.
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in out {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    Ok(merged)
}

/// whisper.cpp's `stream` example (3 s step, 10 s window, 0.2 s kept, a line committed every
/// second step, greedy, full 30 s encoder window) on `audio` as if it arrived in real time.
/// Each step is decoded for real; its start waits for its audio to have arrived and for the
/// step before it to finish, as in the real loop. Returns the committed lines as
/// `(audio covered up to, seconds after the audio started when published, text)`.
fn stream_baseline(audio: &[f32], model: &Path) -> anyhow::Result<Vec<(u64, f64, String)>> {
    use hark_transcribe::Engine;
    let rate = hark_core::SAMPLE_RATE as usize;
    let (step, len, keep) = (3 * rate, 10 * rate, rate / 5);
    let new_line_every = (len / step).saturating_sub(1).max(1);
    let settings = hark_transcribe::WhisperSettings {
        fit_audio_ctx: false,
        guard: false,
        beam_size: 1,
        min_audio_ctx: 0,
        ..Default::default()
    };
    let mut engine = hark_transcribe::WhisperEngine::load(model, settings)?;
    let (mut wall, mut pos, mut iter) = (0f64, 0usize, 0usize);
    let mut old: Vec<f32> = Vec::new();
    let mut lines = Vec::new();
    while pos < audio.len() {
        // The loop waits for a step of new audio, then takes all that has arrived.
        let ready = ((pos + step).min(audio.len())) as f64 / rate as f64;
        let start = wall.max(ready);
        let upto = ((start * rate as f64) as usize).clamp(pos + 1, audio.len());
        let new = &audio[pos..upto];
        pos = upto;
        let take = old.len().min((keep + len).saturating_sub(new.len()));
        let mut window = old[old.len() - take..].to_vec();
        window.extend_from_slice(new);
        let t = Instant::now();
        let out = engine.transcribe(&window, None)?;
        let d = t.elapsed();
        wall = start + d.as_secs_f64();
        iter += 1;
        if iter % new_line_every == 0 || pos == audio.len() {
            let text = out.segments.iter().map(|s| s.text.trim()).collect::<Vec<_>>().join(" ");
            lines.push((pos as u64, wall, text));
            old = window[window.len().saturating_sub(keep)..].to_vec();
        } else {
            old = window;
        }
    }
    Ok(lines)
}

pub fn run(a: BenchLiveArgs, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let src = FileSource::open(&a.file)?;
    let audio_s = src.duration_secs().unwrap_or(0.0);
    let mut opts = a.pipeline.options(models_dir)?;
    opts.live(!a.no_partials);
    opts.segment.merge_gap_secs = a.pipeline.merge_pauses.unwrap_or(0.0);
    opts.segment.speculate_after_secs = match a.speculate_after {
        _ if a.no_speculative => None,
        Some(after) => Some(after),
        None => opts.segment.speculate_after_secs,
    };
    if let Some(h) = a.hangover_ms {
        opts.vad.gate.hangover_ms = h;
    }
    if let Some(i) = a.partial_interval
        && !a.no_partials
    {
        opts.segment.partial_interval_secs = i;
    }
    if let Some(e) = a.end_pad_ms {
        opts.vad.gate.end_pad_ms = e;
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
    let (spec_decoded, spec_used, cancelled) = (rec.speculative_decoded, rec.speculative_used, rec.cancelled);
    let vad_regions: Vec<(u64, u64)> = p
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
    // Where speech is: the truth when given, else the VAD's decision.
    let regions = match &a.truth {
        Some(t) => read_truth(t)?,
        None => vad_regions,
    };
    let ends: Vec<u64> = regions.iter().map(|r| r.1).collect();
    let text = texts.iter().map(|t| t.1.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
    let _ = p.take_transcript(s);
    // When sample `at` entered the pipeline (the first update that had captured it).
    let wall_of = |at: u64| entered.iter().find(|e| e.0 >= at).map(|e| e.1);
    let hangover = hark_core::secs_to_samples(f64::from(opts.vad.gate.hangover_ms) / 1e3);
    let mut final_ms = Vec::new();
    let mut after_ms = Vec::new();
    let mut utterances = Vec::new();
    let mut first_ms = Vec::new();
    let mut interval_ms = Vec::new();
    for &(start, end, published) in &finals {
        // End of speech: the VAD's decision, not the padded cut.
        let inside: Vec<&(u64, u64)> = regions.iter().filter(|r| r.0 < end && r.1 > start).collect();
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else { continue };
        let speech_end = last.1.min(end);
        if let (Some(t), Some(confirmed)) = (wall_of(speech_end), wall_of(speech_end + hangover)) {
            let ms = |from: Instant| published.saturating_duration_since(from).as_secs_f64() * 1e3;
            final_ms.push(ms(t));
            after_ms.push(ms(confirmed));
            utterances.push(UtteranceTiming {
                start_s: hark_core::samples_to_secs(start),
                end_of_speech_s: hark_core::samples_to_secs(speech_end),
                final_ms: ms(t),
                after_hangover_ms: ms(confirmed),
            });
        }
        let mine: Vec<Instant> = partial_times.iter().filter(|p| p.0 == start).map(|p| p.1).collect();
        if let (Some(p0), Some(t0)) = (mine.first(), wall_of(first.0)) {
            first_ms.push(p0.saturating_duration_since(t0).as_secs_f64() * 1e3);
        }
        interval_ms.extend(mine.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1e3));
    }
    let reference = match &a.reference {
        Some(r) => Some(std::fs::read_to_string(r).map_err(|e| anyhow::anyhow!("{}: {e}", r.display()))?),
        None => None,
    };
    let score = |text: &str| {
        reference.as_ref().map(|r| {
            let w = hark_core::text::wer(r, text);
            w.edits as f64 / w.words.max(1) as f64
        })
    };
    let wer = score(&text);
    let baseline = if a.no_baseline {
        None
    } else {
        let audio = hark_capture::read_16k_mono(&a.file)?;
        let cpu0 = process_cpu();
        if !a.json {
            eprintln!("the whisper.cpp stream baseline on the same audio…");
        }
        let lines = stream_baseline(&audio, &opts.model)?;
        let cpu = (process_cpu() - cpu0).as_secs_f64();
        // End of speech: each speech region's end; the first committed line that covers it.
        let latencies: Vec<f64> = ends
            .iter()
            .filter_map(|&e| lines.iter().find(|l| l.0 >= e).map(|l| (l.1 - hark_core::samples_to_secs(e)) * 1e3))
            .collect();
        let text = lines.iter().map(|l| l.2.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        Some(Baseline {
            method: "whisper.cpp stream loop: 3 s step, 10 s window, 0.2 s keep, greedy, full encoder window",
            final_latency_ms: quantiles(latencies),
            wer: score(&text),
            cpu_percent_of_a_core: cpu / audio_s.max(1e-9) * 100.0,
            text,
        })
    };
    let report = Report {
        file: a.file.display().to_string(),
        audio_s,
        partials: !a.no_partials,
        final_latency_ms: quantiles(final_ms),
        after_hangover_ms: quantiles(after_ms),
        partial_interval_ms: quantiles(interval_ms),
        first_partial_ms: quantiles(first_ms),
        cpu_percent_of_a_core: cpu / audio_s.max(1e-9) * 100.0,
        rtf: busy / audio_s.max(1e-9),
        utterances,
        partials_decoded: decoded,
        partials_skipped: skipped,
        speculative_decoded: spec_decoded,
        speculative_used: spec_used,
        cancelled,
        wer,
        text,
        baseline,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let q = |q: &Quantiles| format!("p50 {:.0} ms, p95 {:.0} ms (n {})", q.p50, q.p95, q.n);
        println!("{} ({:.1} s), partials {}", report.file, audio_s, if report.partials { "on" } else { "off" });
        println!("  end of speech → final text: {}", q(&report.final_latency_ms));
        println!("    of which after the hangover: {}", q(&report.after_hangover_ms));
        println!("  partial update interval:    {}", q(&report.partial_interval_ms));
        println!("  speech start → first text:  {}", q(&report.first_partial_ms));
        println!(
            "  CPU {:.1} % of a core, recogniser RTF {:.3}, partial decodes {decoded} (skipped {skipped}, cancelled {cancelled}), speculative finals {spec_decoded} (used {spec_used}){}",
            report.cpu_percent_of_a_core,
            report.rtf,
            wer.map_or(String::new(), |w| format!(", WER {:.2} %", w * 100.0))
        );
        if let Some(b) = &report.baseline {
            println!("baseline, {}", b.method);
            println!("  end of speech → final text: {}", q(&b.final_latency_ms));
            println!(
                "  CPU {:.1} % of a core{}",
                b.cpu_percent_of_a_core,
                b.wer.map_or(String::new(), |w| format!(", WER {:.2} %", w * 100.0))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
