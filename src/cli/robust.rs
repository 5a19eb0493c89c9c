//! `hark bench robust`: the pipeline on material it was not tuned on — short utterances cut out
//! of aligned recordings, and every recording in pink, white and babble noise at several local
//! SNRs. Tuning and held-out recordings are reported apart.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use hark::pipeline::Pipeline;
use hark::robust::{ShortResult, percentile, run_short, transcribe};
use hark::testset::{self, NoiseKind, Recording, TestClip};
use hark_core::text::wer;
use serde::Serialize;

use super::PipelineArgs;

#[derive(Debug, Args)]
pub struct RobustArgs {
    /// The shared corpus directory.
    #[arg(long, default_value = "../shared/corpus")]
    pub corpus: PathBuf,
    /// More recordings (a manifest.tsv like the corpus'); all held out of tuning.
    #[arg(long, default_value = "tests/voices")]
    pub voices: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Spans per recording and word count (1, 2, 3 words).
    #[arg(long, default_value_t = 4)]
    pub per_length: usize,
    /// Local SNRs for the noise set (dB).
    #[arg(long, value_delimiter = ',', default_value = "10,5,0")]
    pub snr: Vec<f64>,
    /// Noise kinds for the noise set.
    #[arg(long, value_delimiter = ',', default_value = "pink,white,babble", value_parser = parse_noise)]
    pub noise: Vec<NoiseKind>,
    /// Only the short-utterance set / only the noise set.
    #[arg(long)]
    pub short_only: bool,
    #[arg(long)]
    pub noise_only: bool,
    /// Leave recordings shorter than this out of the noise set (the test uses 2 s: a 0.3 s
    /// digit is all boundary).
    #[arg(long, default_value_t = 2.0)]
    pub min_secs: f64,
    /// Skip transcription of the noise set (VAD figures only).
    #[arg(long)]
    pub vad_only: bool,
    /// Print every clip.
    #[arg(long)]
    pub verbose: bool,
    /// Write every noisy clip here as a 16 kHz WAV (to listen to, or to run through
    /// `hark transcribe` or another detector), with its reference speech spans (seconds, one
    /// span a line) beside it as `NAME.speech.tsv`.
    #[arg(long)]
    pub write: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Override the weak-voice assist (probability, dB over the floor) for this run (tuning).
    #[arg(long)]
    pub assist_db: Option<f32>,
    #[arg(long)]
    pub assist_p: Option<f32>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

fn parse_noise(s: &str) -> Result<NoiseKind, String> {
    NoiseKind::ALL
        .into_iter()
        .find(|k| k.name() == s)
        .ok_or_else(|| format!("unknown noise '{s}' (pink, white or babble)"))
}

#[derive(Debug, Serialize)]
struct ShortSummary {
    part: &'static str,
    clips: usize,
    words: usize,
    wer: f64,
    inserted_per_utterance: f64,
    max_inserted: usize,
    max_run: usize,
    decode_p50_s: f64,
    decode_p95_s: f64,
    decode_max_s: f64,
    suspect: usize,
}

#[derive(Debug, Serialize)]
struct NoiseRow {
    noise: &'static str,
    snr_db: f64,
    part: &'static str,
    clips: usize,
    vad_recall_mean: f64,
    vad_recall_min: f64,
    worst_clip: String,
    vad_precision_mean: f64,
    /// The same for the padded cut the segmenter sends to the recogniser.
    cut_recall_mean: f64,
    cut_recall_min: f64,
    cut_precision_mean: f64,
    wer: Option<f64>,
    untranscribed: Vec<String>,
}

fn summarise(part: &'static str, r: &[&ShortResult]) -> ShortSummary {
    let words: usize = r.iter().map(|x| x.ref_words).sum();
    let decode: Vec<f64> = r.iter().map(|x| x.decode_s).collect();
    ShortSummary {
        part,
        clips: r.len(),
        words,
        wer: r.iter().map(|x| x.edits).sum::<usize>() as f64 / words.max(1) as f64,
        inserted_per_utterance: r.iter().map(|x| x.insertions).sum::<usize>() as f64 / r.len().max(1) as f64,
        max_inserted: r.iter().map(|x| x.hyp_words.saturating_sub(x.ref_words)).max().unwrap_or(0),
        max_run: r.iter().map(|x| x.max_run).max().unwrap_or(0),
        decode_p50_s: percentile(&decode, 0.5),
        decode_p95_s: percentile(&decode, 0.95),
        decode_max_s: percentile(&decode, 1.0),
        suspect: r.iter().map(|x| x.suspect).sum(),
    }
}

/// The corpus and, when present, the extra voices (held out).
pub fn recordings(corpus: &Path, voices: &Path) -> anyhow::Result<(Vec<Recording>, Vec<Recording>)> {
    let c = testset::load_recordings(corpus)?;
    let v = if voices.join("manifest.tsv").is_file() { testset::load_recordings(voices)? } else { Vec::new() };
    Ok((c, v))
}

pub fn run(a: RobustArgs, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let (corpus, voices) = recordings(&a.corpus, &a.voices)?;
    let mut opts = a.pipeline.options(models_dir)?;
    let g = &mut opts.vad.gate;
    g.assist_db = a.assist_db.unwrap_or(g.assist_db);
    g.assist_probability = a.assist_p.unwrap_or(g.assist_probability);
    let mut p = Pipeline::new(&opts)?;
    let mut out = serde_json::Map::new();
    if !a.noise_only {
        let mut clips = testset::short_utterances(&corpus, a.seed, a.per_length, 5.0);
        let mut extra = testset::short_utterances(&voices, a.seed, a.per_length, 5.0);
        extra.iter_mut().for_each(|c| c.holdout = true);
        clips.extend(extra);
        let clips: Vec<TestClip> = clips.iter().map(|c| testset::in_quiet(c, 1.0, 1.0, a.seed)).collect();
        let results = run_short(&mut p, &clips);
        if a.verbose {
            for r in &results {
                eprintln!(
                    "{:<48} {:>5.2}s dec {:>5.2}s ins {} run {} | {} | {}",
                    r.name, r.audio_s, r.decode_s, r.insertions, r.max_run, r.reference, r.hypothesis
                );
            }
        }
        let tune: Vec<&ShortResult> = results.iter().filter(|r| !r.holdout).collect();
        let hold: Vec<&ShortResult> = results.iter().filter(|r| r.holdout).collect();
        let sums = [summarise("tune", &tune), summarise("holdout", &hold)];
        if !a.json {
            println!("short utterances (1 s of faint hiss each side)");
            println!("part      clips words   WER   ins/utt max_ins max_run  decode p50   p95   max  suspect");
            for s in &sums {
                println!(
                    "{:<8} {:>6} {:>5} {:>5.1}% {:>7.2} {:>7} {:>7} {:>10.2}s {:>5.2}s {:>5.2}s {:>6}",
                    s.part,
                    s.clips,
                    s.words,
                    s.wer * 100.0,
                    s.inserted_per_utterance,
                    s.max_inserted,
                    s.max_run,
                    s.decode_p50_s,
                    s.decode_p95_s,
                    s.decode_max_s,
                    s.suspect
                );
            }
        }
        out.insert("short".into(), serde_json::to_value(&sums)?);
        out.insert("short_clips".into(), serde_json::to_value(&results)?);
    }
    if !a.short_only {
        let all: Vec<Recording> = corpus
            .iter()
            .chain(&voices)
            .filter(|r| hark_core::samples_to_secs(r.samples.len() as u64) >= a.min_secs)
            .cloned()
            .collect();
        let mut rows = Vec::new();
        if !a.json {
            println!("noise (local SNR over each clip's active speech; 1 s of noise each side)");
            println!(
                "noise   SNR part     clips | speech: recall mean   min (worst clip)                      precision | cut: recall mean  min  precision |  WER"
            );
        }
        for &kind in &a.noise {
            for &snr in &a.snr {
                let mut clips = testset::noisy(&all, kind, snr, 1.0, a.seed);
                for (c, r) in clips.iter_mut().zip(&all) {
                    c.holdout = testset::is_holdout(&r.name, voices.iter().any(|v| v.name == r.name));
                }
                let mut per = Vec::new();
                for c in &clips {
                    if let Some(dir) = &a.write {
                        std::fs::create_dir_all(dir)?;
                        hark_capture::file::write_wav_16k(&dir.join(format!("{}.wav", c.name)), &c.samples)?;
                        let spans: String = c
                            .speech
                            .iter()
                            .map(|&(a, b)| {
                                format!("{:.4}\t{:.4}\n", hark_core::samples_to_secs(a), hark_core::samples_to_secs(b))
                            })
                            .collect();
                        std::fs::write(dir.join(format!("{}.speech.tsv", c.name)), spans)?;
                    }
                    let (_, regions) = hark_vad::analyse_regions(&c.samples, &opts.vad);
                    let total = c.samples.len() as u64;
                    let speech: Vec<(u64, u64)> = regions.iter().map(|r| r.speech).collect();
                    let cut: Vec<(u64, u64)> = regions.iter().map(|r| r.cut).collect();
                    let (rec, prec) = testset::frame_scores(&c.speech, &speech, total);
                    let (cut_rec, cut_prec) = testset::frame_scores(&c.speech, &cut, total);
                    let (hyp, errs) = if a.vad_only {
                        (None, None)
                    } else {
                        let (t, _) = transcribe(&mut p, &c.samples);
                        let h = t.text();
                        let w = wer(&c.reference, &h);
                        // Untranscribed means no text a user would see (suspect text is hidden).
                        (Some(h.clone()), Some((w.edits, w.words, h)))
                    };
                    if a.verbose {
                        eprintln!(
                            "{:<52} recall {rec:.2} precision {prec:.2} cut {cut_rec:.2}/{cut_prec:.2} {:?}",
                            c.name, hyp
                        );
                    }
                    per.push((c, rec, prec, errs, cut_rec, cut_prec));
                }
                for (part, hold) in [("tune", false), ("holdout", true)] {
                    let sel: Vec<_> = per.iter().filter(|x| x.0.holdout == hold).collect();
                    if sel.is_empty() {
                        continue;
                    }
                    let worst = sel.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
                    let wer = (!a.vad_only).then(|| {
                        let e: usize = sel.iter().filter_map(|x| x.3.as_ref()).map(|x| x.0).sum();
                        let w: usize = sel.iter().filter_map(|x| x.3.as_ref()).map(|x| x.1).sum();
                        e as f64 / w.max(1) as f64
                    });
                    let row = NoiseRow {
                        noise: kind.name(),
                        snr_db: snr,
                        part,
                        clips: sel.len(),
                        vad_recall_mean: sel.iter().map(|x| x.1).sum::<f64>() / sel.len() as f64,
                        vad_recall_min: worst.1,
                        worst_clip: worst.0.name.clone(),
                        vad_precision_mean: sel.iter().map(|x| x.2).sum::<f64>() / sel.len() as f64,
                        cut_recall_mean: sel.iter().map(|x| x.4).sum::<f64>() / sel.len() as f64,
                        cut_recall_min: sel.iter().map(|x| x.4).fold(1.0, f64::min),
                        cut_precision_mean: sel.iter().map(|x| x.5).sum::<f64>() / sel.len() as f64,
                        wer,
                        untranscribed: sel
                            .iter()
                            .filter(|x| x.3.as_ref().is_some_and(|e| e.2.trim().is_empty()))
                            .map(|x| x.0.name.clone())
                            .collect(),
                    };
                    if !a.json {
                        println!(
                            "{:<6} {:>4} {:<8} {:>5} | {:>19.3} {:>5.2} ({:<36}) {:>9.3} | {:>16.3} {:>4.2} {:>10.3} | {:>6} {}",
                            row.noise,
                            row.snr_db,
                            row.part,
                            row.clips,
                            row.vad_recall_mean,
                            row.vad_recall_min,
                            row.worst_clip,
                            row.vad_precision_mean,
                            row.cut_recall_mean,
                            row.cut_recall_min,
                            row.cut_precision_mean,
                            row.wer.map_or("-".into(), |w| format!("{:.1}%", w * 100.0)),
                            if row.untranscribed.is_empty() {
                                String::new()
                            } else {
                                format!("untranscribed: {}", row.untranscribed.join(", "))
                            }
                        );
                    }
                    rows.push(row);
                }
            }
        }
        out.insert("noise".into(), serde_json::to_value(&rows)?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(ExitCode::SUCCESS)
}
