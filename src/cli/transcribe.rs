//! `hark transcribe FILE`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use hark::format::{Format, render};
use hark::pipeline::Pipeline;
use hark_capture::{FileSource, Pace};

use super::{PipelineArgs, progress_bar};

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Audio file: wav, flac, mp3 or ogg/vorbis, any rate and channel count.
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "txt")]
    pub format: Format,
    /// Feed the file at real time, as a microphone would.
    #[arg(long)]
    pub paced: bool,
    /// Do not save the session in the database.
    #[arg(long)]
    pub no_save: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn run(a: TranscribeArgs, models_dir: &Path, db: &Path) -> anyhow::Result<ExitCode> {
    // Open the file first: a bad file is reported before the model is loaded.
    let duration = FileSource::open(&a.file)?.duration_secs();
    let mut opts = a.pipeline.options(models_dir, duration)?;
    if !a.no_save {
        opts.database = Some(db.to_path_buf());
    }
    let mut p = Pipeline::new(&opts)?;
    let bar = progress_bar(duration);
    let pace = if a.paced { Pace::RealTime } else { Pace::Fast };
    let t = p.transcribe_file(&a.file, pace, |secs| {
        if let Some(b) = &bar {
            b.set_position((secs * 10.0) as u64);
            b.set_message(format!("{secs:.0} s"));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let t = t?;
    print!("{}", render(&t, a.format));
    if let Some(note) = t.unrecognised_note() {
        let hear = t
            .session_id
            .map_or(String::new(), |id| format!(" (its audio is in session {id}: replay it in the window)"));
        eprintln!("note: {note}{hear}");
    }
    match (&t.save_error, t.session_id) {
        (Some(e), id) => {
            let what = id.map_or("the session".to_owned(), |id| format!("session {id}"));
            eprintln!(
                "error: {what} was not saved completely: {e}. The transcript above is complete; free space or fix the data directory and transcribe again"
            );
            return Ok(ExitCode::FAILURE);
        }
        (None, Some(id)) => eprintln!("saved as session {id} (`hark sessions show {id}`)"),
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}
