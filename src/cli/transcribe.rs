//! `hark transcribe FILE`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::io::Write;

use clap::Args;
use hark::format::{Format, Streamer};
use hark::pipeline::Pipeline;
use hark::pipeline::unrecognised_note;
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
    let mut opts = a.pipeline.options(models_dir)?;
    if !a.no_save {
        opts.database = Some(db.to_path_buf());
    }
    let mut p = Pipeline::new(&opts)?;
    let bar = progress_bar(duration);
    let pace = if a.paced { Pace::RealTime } else { Pace::Fast };
    // Each utterance is written as soon as it and those before it have their text: a long
    // file reads as it goes, and its text is not held until the end.
    let (mut writer, head) = Streamer::start(a.format);
    let mut unrecognised = Vec::new();
    let mut out = std::io::stdout().lock();
    let mut write = |text: &str| {
        let mut put = || out.write_all(text.as_bytes()).and_then(|()| out.flush());
        match &bar {
            Some(b) => b.suspend(put),
            None => put(),
        }
    };
    write(&head)?;
    let mut failed_write = None;
    let t = p.transcribe_file_as_it_goes(
        &a.file,
        pace,
        |secs| {
            if let Some(b) = &bar {
                b.set_position((secs * 10.0) as u64);
                b.set_message(format!("{secs:.0} s"));
            }
        },
        |u| {
            unrecognised.extend_from_slice(&u.unrecognised);
            if failed_write.is_none()
                && let Err(e) = write(&writer.push_utterance(&u))
            {
                failed_write = Some(e);
            }
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let t = t?;
    write(&writer.finish(&t))?;
    if let Some(e) = failed_write {
        return Err(e.into());
    }
    if t.failure.is_none() && t.speech.is_empty() {
        // Otherwise an empty output and "saved as session N" would be all that was said.
        eprintln!("note: no speech was heard in {} ({:.1} s of audio)", a.file.display(), t.audio_s);
    }
    if let Some(note) = unrecognised_note(&unrecognised) {
        let hear = t
            .session_id
            .map_or(String::new(), |id| format!(" (its audio is in session {id}: replay it in the window)"));
        eprintln!("note: {note}{hear}");
    }
    if let Some(failure) = &t.failure {
        let kept = t
            .session_id
            .filter(|_| t.save_error.is_none())
            .map_or(String::new(), |id| format!("; what was heard before it is above and in session {id}"));
        eprintln!("error: {failure}{kept}");
    }
    match (&t.save_error, t.session_id) {
        (Some(e), id) => {
            let what = id.map_or("the session".to_owned(), |id| format!("session {id}"));
            eprintln!(
                "error: {what} was not saved completely: {e}. The transcript above is complete; free space or fix the data directory and transcribe again"
            );
            return Ok(ExitCode::FAILURE);
        }
        (None, Some(id)) if t.failure.is_none() => eprintln!("saved as session {id} (`hark sessions show {id}`)"),
        (None, _) => {}
    }
    Ok(if t.failure.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
