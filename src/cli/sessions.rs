//! `hark sessions …`: the saved sessions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use hark::pipeline::{Pipeline, SessionTranscript};
use hark_core::SessionState;
use hark_replay::versions::ExportKind;
use hark_store::{Reader, Writer};

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
    /// Transcribe a session's audio again (other model or settings) as a new transcript
    /// version; earlier versions stay. The current version is unchanged unless --use is given.
    Rerun {
        id: i64,
        /// Re-run from this many seconds in (widened to whole utterances).
        #[arg(long, value_name = "SECS")]
        from: Option<f64>,
        /// Re-run up to this many seconds in (widened to whole utterances).
        #[arg(long, value_name = "SECS")]
        to: Option<f64>,
        /// Make the new version the current one (shown, searched, exported).
        #[arg(long = "use")]
        make_current: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// A session's transcript versions: number, model, settings, date, word count.
    Versions {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// The words that differ between two versions (default: the current one and the newest
    /// other one).
    Diff {
        id: i64,
        from: Option<i64>,
        to: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Make a version the current one: what is shown, searched and exported.
    Use {
        id: i64,
        version: i64,
    },
    /// Play a session through an output device, printing each word as it is heard.
    Play {
        id: i64,
        /// Start this many seconds in.
        #[arg(long, value_name = "SECS", default_value_t = 0.0)]
        from: f64,
        /// 0.5 to 2; the pitch is kept.
        #[arg(long, default_value_t = 1.0)]
        speed: f32,
        /// Output device id (`host:id`, as the window's picker lists them); default: the system's.
        #[arg(long)]
        device: Option<String>,
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

impl ExportFormat {
    fn kind(self) -> ExportKind {
        match self {
            Self::Txt => ExportKind::Txt,
            Self::Srt => ExportKind::Srt,
            Self::Vtt => ExportKind::Vtt,
            Self::Json => ExportKind::Json,
            Self::Wav => ExportKind::Wav,
        }
    }
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
            for g in r.gaps(id)? {
                println!(
                    "  {:.1} s without the input device from {:.2} s (kept as silence): {}",
                    g.secs, g.start_s, g.cause
                );
            }
            let t = SessionTranscript::from_store(&r.segments(id)?, s.duration_s);
            // Text in order, with the speech that came out without any where it was said.
            let mut lines: Vec<(f64, String)> = t
                .segments
                .iter()
                .filter(|g| !g.suspect)
                .map(|g| (g.start_s, format!("[{:>8.2} – {:>8.2}] {}", g.start_s, g.end_s, g.text)))
                .chain(t.unrecognised.iter().map(|u| {
                    (
                        u.start_s,
                        format!("[{:>8.2} – {:>8.2}] (speech not recognised, {:.1} s)", u.start_s, u.end_s, u.speech_s),
                    )
                }))
                .collect();
            lines.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, line) in lines {
                println!("{line}");
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
            let bytes = hark::export::session_bytes(&Reader::open(db)?, id, format.kind())?;
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
        SessionsCommand::Rerun { id, from, to, make_current, pipeline } => {
            super::versions::rerun(id, from, to, make_current, &pipeline, models_dir, db)?
        }
        SessionsCommand::Versions { id, json } => super::versions::list(id, json, db)?,
        SessionsCommand::Diff { id, from, to, json } => super::versions::diff(id, from, to, json, db)?,
        SessionsCommand::Play { id, from, speed, device } => return super::play::play(id, from, speed, device, db),
        SessionsCommand::Use { id, version } => {
            Writer::open(db)?.use_version(id, version)?;
            eprintln!("session {id} now shows version {version}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Transcribes the audio of interrupted sessions after their last transcribed utterance.
fn recover(args: &PipelineArgs, models_dir: &Path, db: &Path) -> anyhow::Result<()> {
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
    let mut opts = args.options(models_dir)?;
    opts.database = Some(db.to_path_buf());
    let mut p = Pipeline::new(&opts)?;
    for s in todo {
        let (added, secs) = match p.resume(&reader, &s)? {
            Some((e, samples)) => {
                p.run_until_done(e, |_| {}).map_err(anyhow::Error::msg)?;
                let t = p.take_transcript(e);
                if let Some(err) = t.save_error {
                    anyhow::bail!("session {}: {err}", s.id);
                }
                (t.segments.len(), hark_core::samples_to_secs(samples))
            }
            None => (0, 0.0),
        };
        p.app.world().resource::<Writer>().flush()?;
        println!("session {}: transcribed {secs:.1} s after the last saved utterance ({added} utterances)", s.id);
    }
    Ok(())
}
