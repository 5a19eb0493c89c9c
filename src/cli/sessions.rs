//! `hark sessions …`: the saved sessions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use hark::format::{Format, render};
use hark::pipeline::{Pipeline, SessionTranscript};
use hark_capture::{Pace, Source};
use hark_core::SessionState;
use hark_store::{Command as StoreCommand, Reader, Writer};

use super::PipelineArgs;

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// All sessions, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A session's details and transcript.
    Show {
        id: i64,
    },
    /// Full-text search over transcripts, best match first.
    Search {
        query: Vec<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write a session's transcript or audio to a file (`-o -` or no `-o`: standard output).
    Export {
        id: i64,
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    Rename {
        id: i64,
        title: String,
    },
    Delete {
        id: i64,
    },
    /// Transcribe what interrupted sessions captured but never transcribed.
    Recover {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Txt,
    Srt,
    Vtt,
    Json,
    /// The captured audio, 16 kHz mono, 32-bit float samples exactly as captured.
    Wav,
}

pub fn run(cmd: SessionsCommand, models_dir: &Path, db: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionsCommand::List { json } => {
            // Opening for writing first marks sessions of crashed processes as interrupted; an
            // archive that cannot be written is listed as it is.
            if db.exists()
                && let Ok(w) = Writer::open(db)
            {
                w.close()?;
            }
            let r = Reader::open(db)?;
            let rows = r.sessions()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for s in rows {
                    println!(
                        "{:>5}  {}  {:>8.1} s  {:<11}  {:>3} utterances  {}",
                        s.id, s.created_at, s.duration_s, s.state, s.segments, s.title
                    );
                }
            }
        }
        SessionsCommand::Show { id } => {
            let r = Reader::open(db)?;
            let s = r.session(id)?;
            println!("session {}: {}", s.id, s.title);
            println!("  created {}  source {}  model {}", s.created_at, s.source, s.model);
            println!("  {:.1} s of audio, {}, {} utterances", s.duration_s, s.state, s.segments);
            let t = SessionTranscript::from_store(&r.segments(id)?, s.duration_s);
            for seg in t.segments.iter().filter(|g| !g.suspect) {
                println!("[{:>8.2} – {:>8.2}] {}", seg.start_s, seg.end_s, seg.text);
            }
        }
        SessionsCommand::Search { query, limit } => {
            let r = Reader::open(db)?;
            let hits = r.search(&query.join(" "), limit)?;
            if hits.is_empty() {
                println!("no session mentions {:?}", query.join(" "));
            }
            for h in hits {
                println!("{:>5}  {:>8.2} s  {}  — {}", h.session_id, h.start_s, h.snippet, h.title);
            }
        }
        SessionsCommand::Export { id, format, output } => {
            let r = Reader::open(db)?;
            let s = r.session(id)?;
            let bytes = match format {
                ExportFormat::Wav => wav_f32(&r.audio(id)?),
                other => {
                    let t = SessionTranscript::from_store(&r.segments(id)?, s.duration_s);
                    let f = match other {
                        ExportFormat::Txt => Format::Txt,
                        ExportFormat::Srt => Format::Srt,
                        ExportFormat::Vtt => Format::Vtt,
                        _ => Format::Json,
                    };
                    render(&t, f).into_bytes()
                }
            };
            if let hark::export::Written::File(p) = hark::export::write_export(output.as_deref(), db, &bytes)? {
                eprintln!("wrote {}", p.display());
            }
        }
        SessionsCommand::Rename { id, title } => Writer::open(db)?.rename(id, &title)?,
        SessionsCommand::Delete { id } => {
            Writer::open(db)?.delete(id)?;
            eprintln!("deleted session {id}");
        }
        SessionsCommand::Recover { pipeline } => recover(&pipeline, models_dir, db)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A WAV file of 32-bit float samples (format 3), 16 kHz mono.
fn wav_f32(samples: &[f32]) -> Vec<u8> {
    let data = (samples.len() * 4) as u32;
    let mut b = Vec::with_capacity(44 + data as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&16_000u32.to_le_bytes());
    b.extend_from_slice(&64_000u32.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

/// Transcribes the audio of interrupted sessions after their last transcribed utterance.
fn recover(args: &PipelineArgs, models_dir: &Path, db: &Path) -> anyhow::Result<()> {
    let writer = Writer::open(db)?;
    let reader = Reader::open(db)?;
    let todo: Vec<_> = reader
        .sessions()?
        .into_iter()
        .filter(|s| matches!(s.state, SessionState::Interrupted | SessionState::Captured))
        .collect();
    if todo.is_empty() {
        println!("nothing to recover");
        return Ok(());
    }
    let opts = args.options(models_dir, None)?;
    let mut p = Pipeline::new(&opts)?;
    for s in todo {
        writer.send(StoreCommand::DropUntranscribed { session: s.id });
        writer.flush()?;
        let done = reader.segments(s.id)?;
        let resume = done.iter().map(|g| g.end_sample).max().unwrap_or(0) as usize;
        let next_idx = done.iter().map(|g| g.idx + 1).max().unwrap_or(0) as u32;
        let audio = reader.audio(s.id)?;
        let rest: Vec<f32> = audio.get(resume..).unwrap_or(&[]).to_vec();
        let mut added = 0;
        if !rest.is_empty() {
            let e = p.start(s.kind, Source::Samples { samples: rest.into(), pos: 0 }, s.source.clone(), Pace::Fast);
            p.run_until_done(e, |_| {}).map_err(anyhow::Error::msg)?;
            let t = p.take_transcript(e);
            p.app.world_mut().despawn(e);
            let to_samples = |secs: f64| (secs * 16_000.0).round() as u64 + resume as u64;
            for (i, seg) in t.segments.iter().enumerate() {
                let idx = next_idx + i as u32;
                writer.send(StoreCommand::Segment {
                    session: s.id,
                    idx,
                    start: to_samples(seg.start_s),
                    end: to_samples(seg.end_s),
                    // Recovery runs the VAD again but does not keep its statistics.
                    vad_mean: 0.0,
                    vad_speech: 0.0,
                });
                writer.send(StoreCommand::Transcript {
                    session: s.id,
                    idx,
                    text: seg.text.clone(),
                    words: seg
                        .words
                        .iter()
                        .map(|w| hark_core::Word {
                            start: to_samples(w.start_s),
                            end: to_samples(w.end_s),
                            text: w.word.clone(),
                            probability: w.p,
                        })
                        .collect(),
                    no_speech: 0.0,
                    suspect: seg.suspect,
                    model: opts.model.display().to_string(),
                    settings: "{\"recovered\":true}".into(),
                });
                added += 1;
            }
        }
        writer.send(StoreCommand::SetState { session: s.id, state: SessionState::Complete });
        writer.flush()?;
        println!(
            "session {}: transcribed {:.1} s after the last saved utterance ({added} utterances)",
            s.id,
            (audio.len() - resume.min(audio.len())) as f64 / 16e3
        );
    }
    Ok(())
}
