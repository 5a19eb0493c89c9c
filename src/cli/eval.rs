//! `hark eval MANIFEST`: word error rate and speed over a set of recordings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use hark::pipeline::Pipeline;
use hark_capture::Pace;
use hark_core::text::{WerCount, wer};
use serde::Serialize;

use super::PipelineArgs;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// TSV with a header naming at least the `file` and `transcript` columns; files are
    /// relative to the manifest's directory.
    pub manifest: PathBuf,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Serialize)]
struct Clip {
    file: String,
    audio_s: f64,
    wall_s: f64,
    wer: f64,
    errors: usize,
    words: usize,
    reference: String,
    hypothesis: String,
}

#[derive(Debug, Serialize)]
struct Report {
    clips: Vec<Clip>,
    total_wer: f64,
    errors: usize,
    words: usize,
    audio_s: f64,
    wall_s: f64,
    rtf: f64,
}

/// Rows `(file, transcript)` of a manifest.
pub fn read_manifest(path: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("manifest {} cannot be read", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("manifest {} has no `{name}` column (header: {header:?})", path.display()))
    };
    let (fc, tc) = (col("file")?, col("transcript")?);
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (dir.join(f.get(fc).unwrap_or(&"")), f.get(tc).unwrap_or(&"").to_string())
        })
        .collect())
}

pub fn run(a: EvalArgs, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let rows = read_manifest(&a.manifest)?;
    let opts = a.pipeline.options(models_dir)?;
    let mut p = Pipeline::new(&opts)?;
    let mut clips = Vec::new();
    let mut total = WerCount::default();
    let start_all = Instant::now();
    let mut audio = 0.0;
    for (file, reference) in rows {
        let t0 = Instant::now();
        let t = p.transcribe_file(&file, Pace::Fast, |_| {})?;
        let wall = t0.elapsed().as_secs_f64();
        let hyp = t.text();
        let w = wer(&reference, &hyp);
        total += w;
        audio += t.audio_s;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !a.json {
            println!(
                "{:<42} WER {:>6.2}%  ({}/{})  {:.1} s audio in {:.2} s",
                name,
                w.rate() * 100.0,
                w.edits,
                w.words,
                t.audio_s,
                wall
            );
        }
        clips.push(Clip {
            file: name,
            audio_s: t.audio_s,
            wall_s: wall,
            wer: w.rate(),
            errors: w.edits,
            words: w.words,
            reference,
            hypothesis: hyp,
        });
    }
    let wall = start_all.elapsed().as_secs_f64();
    let report = Report {
        clips,
        total_wer: total.rate(),
        errors: total.edits,
        words: total.words,
        audio_s: audio,
        wall_s: wall,
        rtf: wall / audio.max(1e-9),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "total WER {:.2}% ({}/{} words); {:.1} s of audio in {:.1} s: real-time factor {:.3} ({:.0}x real time)",
            report.total_wer * 100.0,
            report.errors,
            report.words,
            audio,
            wall,
            report.rtf,
            1.0 / report.rtf.max(1e-9)
        );
    }
    Ok(ExitCode::SUCCESS)
}
