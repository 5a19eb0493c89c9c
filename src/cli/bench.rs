//! `hark bench …`: speed and memory figures, always against a baseline in the same run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use hark::pipeline::Pipeline;
use hark::procstat::{peak_rss, process_cpu, thread_cpu};
use hark_capture::{Pace, read_16k_mono};
use hark_core::text::wer;
use hark_transcribe::{Engine, WhisperEngine};
use serde::Serialize;
use serde_json::json;

use super::PipelineArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Hark's pipeline vs whole-file whisper_full (30 s windows) on the same file and model.
    File(BenchFileArgs),
    /// A file through the live pipeline in real time: end of speech to final text, partial
    /// updates, first text, CPU.
    Live(super::bench_live::BenchLiveArgs),
    /// Word error rate of a hypothesis text file against a reference text file, with Hark's
    /// normaliser (so other programs' output is scored exactly as Hark's is).
    Score {
        /// Reference transcript (text file).
        reference: PathBuf,
        /// Hypothesis transcript (text file).
        hypothesis: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write the long-form test recording (corpus clips with pauses, optional pink noise).
    MakeLongform {
        /// The shared corpus directory.
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
        /// Output WAV; the reference text goes beside it as .txt.
        #[arg(short, long)]
        output: PathBuf,
        /// Add pink noise at this speech-to-noise ratio (dB).
        #[arg(long)]
        snr_db: Option<f64>,
    },
    /// Full-text search over a database of N synthetic sessions.
    Search {
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
    },
    /// CPU cost of saving a live capture (audio every 0.5 s, an utterance every 5 s).
    Store {
        /// Seconds of capture to simulate.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
    },
    /// Per-frame cost of the studio's transcript panel for sessions of N utterances: laying out
    /// only the rows in view vs every row (the old panel), in a headless egui context.
    Transcript {
        /// Session sizes in utterances (an hour of talk is about 720).
        #[arg(long, value_delimiter = ',', default_value = "60,720,2160")]
        rows: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        frames: usize,
        /// Also a day of captures in one run of the window: this many earlier captures (eight
        /// lines each) above a current one of 20 utterances, their rows built from the run's
        /// history every frame as the panel does.
        #[arg(long, value_delimiter = ',')]
        captures: Vec<usize>,
    },
    /// Short utterances and noisy clips made from the corpus (and tests/voices): inserted
    /// words, repeats, decode time, VAD recall/precision and WER per noise type and SNR.
    Robust(super::robust::RobustArgs),
    /// Replaying a long session: stored bytes per hour, memory and CPU while playing, seek time.
    Replay {
        #[arg(long, default_value_t = 3.0)]
        hours: f64,
        /// The shared corpus directory (its long-form recording is looped as the audio).
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
        /// Also time seeks until the output device plays them (needs an output device).
        #[arg(long)]
        sound: bool,
    },
    /// Cost of each voice activity detector per 16 ms frame.
    Vad {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct BenchFileArgs {
    pub file: PathBuf,
    /// Reference transcript (text file) for word error rates.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Run the baseline without carrying text between windows (whisper-cli's --no-context).
    #[arg(long)]
    pub baseline_no_context: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Serialize)]
struct Side {
    wall_s: f64,
    rtf: f64,
    wer: Option<f64>,
    cpu_s: f64,
}

pub fn run(cmd: BenchCommand, models_dir: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::File(a) => bench_file(a, models_dir),
        BenchCommand::Vad { file, json } => bench_vad(&file, json),
        BenchCommand::Robust(a) => super::robust::run(a, models_dir),
        BenchCommand::Search { sessions } => bench_search(sessions),
        BenchCommand::Transcript { rows, frames, captures } => bench_transcript(&rows, frames, &captures),
        BenchCommand::Store { seconds } => bench_store(seconds),
        BenchCommand::Live(a) => super::bench_live::run(a, models_dir),
        BenchCommand::Replay { hours, corpus, sound } => super::bench_replay::run(hours, &corpus, sound),
        BenchCommand::Score { reference, hypothesis, json } => {
            let read =
                |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("{} cannot be read", p.display()));
            let w = hark_core::text::wer(&read(&reference)?, &read(&hypothesis)?);
            if json {
                println!("{}", serde_json::json!({ "wer": w.rate(), "errors": w.edits, "words": w.words }));
            } else {
                println!("WER {:.2}% ({}/{})", w.rate() * 100.0, w.edits, w.words);
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::MakeLongform { corpus, output, snr_db } => {
            let lf = hark::longform::build(&corpus, snr_db)?;
            hark_capture::write_wav_16k(&output, &lf.samples)
                .with_context(|| format!("{} cannot be written", output.display()))?;
            let txt = output.with_extension("txt");
            std::fs::write(&txt, &lf.reference).with_context(|| format!("{} cannot be written", txt.display()))?;
            println!(
                "{} ({:.1} s) and {}",
                output.display(),
                hark_core::samples_to_secs(lf.samples.len() as u64),
                txt.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn bench_file(a: BenchFileArgs, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let reference = match &a.reference {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reference {} cannot be read", p.display()))?)
        }
        None => None,
    };
    // Stage costs measured on their own: decoding + resampling, and the VAD.
    let t = Instant::now();
    let audio = read_16k_mono(&a.file)?;
    let decode_s = t.elapsed().as_secs_f64();
    let audio_s = hark_core::samples_to_secs(audio.len() as u64);
    let opts = a.pipeline.options(models_dir)?;
    let t = Instant::now();
    let _ = hark_vad::analyse_samples(&audio, &opts.vad);
    let vad_s = t.elapsed().as_secs_f64();

    // Hark: the full ECS pipeline, fast file mode.
    let mut p = Pipeline::new(&opts)?;
    let (cpu0, main0) = (process_cpu(), thread_cpu());
    let t = Instant::now();
    let tr = p.transcribe_file(&a.file, Pace::Fast, |_| {})?;
    let hark_wall = t.elapsed().as_secs_f64();
    let hark_cpu = (process_cpu() - cpu0).as_secs_f64();
    let main_cpu = (thread_cpu() - main0).as_secs_f64();
    let inference_wall = p.inference_time().as_secs_f64();
    let hark_text = tr.text();
    drop(p);

    // Baseline: whole-file whisper_full, as whisper.cpp's CLI runs it (greedy, 30 s windows).
    let mut base_settings = opts.whisper.clone();
    base_settings.fit_audio_ctx = false;
    // whisper-cli's default: each window is conditioned on the previous window's text.
    base_settings.carry_context = !a.baseline_no_context;
    // The baseline runs as whisper.cpp's CLI would on this machine: one thread per core.
    base_settings.threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut engine = WhisperEngine::load(&opts.model, base_settings).map_err(anyhow::Error::msg)?;
    let cpu1 = process_cpu();
    let t = Instant::now();
    let out = engine.transcribe(&audio, None).map_err(anyhow::Error::msg)?;
    let base_wall = t.elapsed().as_secs_f64();
    let base_cpu = (process_cpu() - cpu1).as_secs_f64();
    let base_text = out.segments.iter().map(|s| s.text.trim()).collect::<Vec<_>>().join(" ");

    let wer_of = |h: &str| reference.as_deref().map(|r| wer(r, h).rate());
    // Inference CPU: everything but the ECS main thread (the recogniser thread and whisper's pool).
    let inference_cpu = (hark_cpu - main_cpu).max(0.0);
    let report = json!({
        "file": a.file.display().to_string(),
        "audio_s": audio_s,
        "model": opts.model.display().to_string(),
        "threads": opts.whisper.threads,
        "workers": opts.workers,
        "hark": Side { wall_s: hark_wall, rtf: hark_wall / audio_s, wer: wer_of(&hark_text), cpu_s: hark_cpu },
        "baseline": Side { wall_s: base_wall, rtf: base_wall / audio_s, wer: wer_of(&base_text), cpu_s: base_cpu },
        "speedup": base_wall / hark_wall,
        "stages": {
            "decode_resample_s": decode_s,
            "vad_s": vad_s,
            "ecs_main_thread_cpu_s": main_cpu,
            "inference_wall_s": inference_wall,
            "inference_cpu_s": inference_cpu,
            "non_inference_share": main_cpu / inference_cpu.max(1e-9),
        },
        "peak_rss_bytes": peak_rss(),
        "hark_text": hark_text,
        "baseline_text": base_text,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let pct = |w: Option<f64>| w.map(|w| format!("{:.2}%", w * 100.0)).unwrap_or_else(|| "-".into());
        println!("{} ({audio_s:.1} s of audio)", a.file.display());
        println!(
            "  hark      {hark_wall:>7.2} s  {:>5.1}x real time  WER {}  CPU {hark_cpu:.2} s",
            audio_s / hark_wall,
            pct(wer_of(&hark_text))
        );
        println!(
            "  baseline  {base_wall:>7.2} s  {:>5.1}x real time  WER {}  CPU {base_cpu:.2} s",
            audio_s / base_wall,
            pct(wer_of(&base_text))
        );
        println!("  speedup {:.2}x", base_wall / hark_wall);
        println!(
            "  stages: decode+resample {decode_s:.3} s, VAD {vad_s:.3} s, ECS main thread {main_cpu:.2} s CPU, inference {inference_cpu:.2} s CPU ({:.1}% non-inference)",
            100.0 * main_cpu / inference_cpu.max(1e-9)
        );
        println!("  peak RSS {:.0} MB", peak_rss() as f64 / 1e6);
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_vad(file: &Path, json_out: bool) -> anyhow::Result<ExitCode> {
    let audio = read_16k_mono(file)?;
    let frames = audio.len() / 256;
    let mut rows = Vec::new();
    use hark_vad::DetectorKind as K;
    for (name, kind) in [("neural", K::Neural), ("energy", K::Energy), ("silero", K::Silero), ("fused", K::Fused)] {
        let settings = hark_vad::VadSettings { detector: kind, ..Default::default() };
        // Best of five runs.
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let _ = hark_vad::analyse_samples(&audio, &settings);
            best = best.min(t.elapsed());
        }
        let per_frame_us = best.as_secs_f64() * 1e6 / frames.max(1) as f64;
        rows.push(json!({"detector": name, "frames": frames, "total_s": best.as_secs_f64(), "us_per_16ms_frame": per_frame_us, "us_per_10ms": per_frame_us / 1.6}));
        if !json_out {
            println!(
                "{name:<7} {frames} frames in {:.3} s: {per_frame_us:.2} µs per 16 ms frame ({:.2} µs per 10 ms of audio)",
                best.as_secs_f64(),
                per_frame_us / 1.6
            );
        }
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_transcript(sizes: &[usize], frames: usize, captures: &[usize]) -> anyhow::Result<ExitCode> {
    use bevy_egui::egui;
    use hark_ui::transcript::{Row, RowText, TranscriptView, show_all};
    anyhow::ensure!(frames >= 10, "--frames must be at least 10");
    // Frame times in ms (layout and tessellation of a 1024×640 window with the 320 px panel).
    type Panel = Box<dyn FnMut(&mut egui::Ui, &[Row<'_>])>;
    let run = |rows: &[Row<'_>], mut panel: Panel| {
        let ctx = egui::Context::default();
        let mut times: Vec<f64> = (0..frames + 5)
            .map(|f| {
                let input = egui::RawInput {
                    screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1024.0, 640.0))),
                    time: Some(f as f64 / 20.0),
                    ..Default::default()
                };
                let t = Instant::now();
                let out = ctx.run_ui(input, |root| {
                    egui::Panel::right("transcript").exact_size(320.0).show(root, |ui| panel(ui, rows));
                });
                std::hint::black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
                t.elapsed().as_secs_f64() * 1000.0
            })
            .skip(5)
            .collect();
        times.sort_by(f64::total_cmp);
        (times.iter().sum::<f64>() / times.len() as f64, times[times.len() * 99 / 100])
    };
    for &n in sizes {
        let texts: Vec<String> = (0..n).map(|i| hark::filler::sentence(i, 8 + i % 12)).collect();
        let rows: Vec<Row<'_>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Row { start_s: i as f64 * 5.0, text: RowText::Said(t.as_str().into()) })
            .collect();
        let (all_mean, all_p99) = run(&rows, Box::new(show_all));
        let mut view = TranscriptView::default();
        let (view_mean, view_p99) = run(
            &rows,
            Box::new(move |ui, rows| {
                view.show(ui, rows);
            }),
        );
        println!(
            "{n:>5} utterances: in-view rows {view_mean:.3} ms/frame (p99 {view_p99:.3}), every row {all_mean:.3} ms/frame (p99 {all_p99:.3}): {:.1}x less",
            all_mean / view_mean
        );
    }
    for &n in captures {
        let mut world = bevy::prelude::World::new();
        let began = jiff::Timestamp::from_second(1_764_900_000)?.to_zoned(jiff::tz::TimeZone::UTC);
        let mut history = hark_ui::history::RunHistory::default();
        for c in 0..=n {
            let session = world.spawn_empty().id();
            let mut capture = hark_ui::history::PastCapture::new(session, Some(began.clone()), "Default Audio Device");
            for l in 0..if c == n { 20 } else { 8 } {
                let text = hark::filler::sentence(c * 8 + l, 8 + l % 12);
                capture.add(l as u64 * 80_000, hark_ui::history::Line::Said(text));
            }
            history.captures.push(capture);
        }
        let current = history.captures.last().map(|c| c.session).context("no capture")?;
        let mut view = TranscriptView::default();
        let (mean, p99) = run(
            &[],
            Box::new(move |ui, _| {
                let mut rows = history.rows_before(current);
                rows.extend(history.rows_of(current, u64::MAX));
                view.show(ui, &rows);
            }),
        );
        println!(
            "{n:>5} earlier captures ({} rows) above 20 utterances: rows built and shown {mean:.3} ms/frame (p99 {p99:.3})",
            n * 9 + 21
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_search(n: usize) -> anyhow::Result<ExitCode> {
    use hark_store::{Command as C, Reader, Writer};
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("hark.db");
    let w = Writer::open(&db)?;
    let t = Instant::now();
    for s in 0..n {
        let id = w.create_session(&format!("session {s}"), hark_core::SourceKind::Memory, "bench", "bench", "{}")?;
        for u in 0..12u32 {
            let i = s * 12 + u as usize;
            w.send(C::Segment {
                session: id,
                idx: u,
                start: u as u64 * 80_000,
                end: u as u64 * 80_000 + 64_000,
                vad_mean: 0.9,
                vad_speech: 1.0,
            });
            let mut text = hark::filler::sentence(i, 18);
            if i.is_multiple_of(997) {
                text.push_str(" zanzibar");
            }
            w.send(C::text_transcript(id, u, text, "bench"));
        }
    }
    w.flush()?;
    let fill = t.elapsed().as_secs_f64();
    let r = Reader::open(&db)?;
    let queries = [
        "zanzibar",
        "quarterly budget",
        "coffee",
        "kitchen window evening",
        "customer question answer",
        "nothinglikethis",
    ];
    let mut worst = 0f64;
    let mut total = 0f64;
    let mut runs = 0;
    for _ in 0..5 {
        for q in queries {
            let t = Instant::now();
            let hits = r.search(q, 20)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            std::hint::black_box(hits);
            worst = worst.max(ms);
            total += ms;
            runs += 1;
        }
    }
    println!(
        "{n} sessions ({} utterances) stored in {fill:.1} s; search over them: mean {:.2} ms, worst {worst:.2} ms ({runs} queries)",
        n * 12,
        total / runs as f64
    );
    Ok(ExitCode::SUCCESS)
}

fn bench_store(seconds: u64) -> anyhow::Result<ExitCode> {
    use hark_store::{Command as C, Writer};
    let dir = tempfile::tempdir()?;
    let w = Writer::open(&dir.path().join("hark.db"))?;
    let id = w.create_session("bench", hark_core::SourceKind::Memory, "bench", "bench", "{}")?;
    let chunk: std::sync::Arc<[f32]> = (0..8000).map(|i| (i as f32 * 0.01).sin() * 0.1).collect::<Vec<_>>().into();
    let (cpu0, main0) = (process_cpu(), thread_cpu());
    let t = Instant::now();
    for half in 0..seconds * 2 {
        w.send(C::Audio { session: id, start: half * 8000, samples: chunk.clone() });
        if half % 10 == 9 {
            let idx = (half / 10) as u32;
            w.send(C::Segment {
                session: id,
                idx,
                start: half * 8000 - 64_000,
                end: half * 8000,
                vad_mean: 0.9,
                vad_speech: 1.0,
            });
            w.send(C::text_transcript(id, idx, hark::filler::sentence(idx as usize, 18), "bench"));
        }
        // Commands arrive as a live capture sends them; flushing each keeps one commit per chunk.
        w.flush()?;
    }
    let wall = t.elapsed().as_secs_f64();
    let writer_cpu = ((process_cpu() - cpu0).as_secs_f64() - (thread_cpu() - main0).as_secs_f64()).max(0.0);
    println!(
        "{seconds} s of capture saved in {wall:.2} s: writer thread {writer_cpu:.2} s CPU = {:.3} % of one core during capture",
        100.0 * writer_cpu / seconds as f64
    );
    Ok(ExitCode::SUCCESS)
}
