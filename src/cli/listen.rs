//! `hark listen` (and `hark` with no arguments, until the window lands): live transcription
//! from a microphone in the terminal.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bevy::prelude::*;
use clap::Args;
use hark::pipeline::Pipeline;
use hark_capture::{CaptureHealth, MicSource, Pace, Source, list_input_devices};
use hark_core::{
    CaptureFinished, LatencySummary, LiveLatency, PartialReady, PartialTranscript, SessionClock, SourceKind,
    StopCapture, Transcript, Utterance, samples_to_secs, secs_to_samples,
};
use hark_transcribe::Recognizer;

use super::PipelineArgs;

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Input device id (`host:id`, see --list-devices); default: the system's default input.
    #[arg(long)]
    pub device: Option<String>,
    /// List input devices and exit.
    #[arg(long)]
    pub list_devices: bool,
    /// Stop after this many seconds of captured audio (default: until Ctrl+C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Do not save the session in the database.
    #[arg(long)]
    pub no_save: bool,
    /// No text while someone speaks, only each utterance's final line (the default when the
    /// output is not a terminal: a pipe gets one line per final).
    #[arg(long, conflicts_with = "partials")]
    pub no_partials: bool,
    /// Show the text being said even when the output is not a terminal: each update on a line
    /// of its own, marked `…` (in a terminal the line is rewritten in place).
    #[arg(long)]
    pub partials: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn run(a: ListenArgs, models_dir: &Path, db: &Path) -> anyhow::Result<ExitCode> {
    let devices = list_input_devices();
    if a.list_devices {
        if devices.is_empty() {
            println!("no input device was found");
        }
        for d in &devices {
            println!("{}{}  {}  ({})", if d.is_default { "* " } else { "  " }, d.id, d.name, d.host);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut opts = a.pipeline.options(models_dir)?;
    // In a terminal the line being said is rewritten as it is decoded; each final is decoded
    // as the speaker stops, piped or not.
    let terminal = std::io::stdout().is_terminal();
    let partials = a.partials || (!a.no_partials && terminal);
    opts.live(partials);
    opts.segment.merge_gap_secs = a.pipeline.merge_pauses.unwrap_or(0.0);
    opts.handle_ctrl_c = true;
    if !a.no_save {
        opts.database = Some(db.to_path_buf());
    }
    let mut p = Pipeline::new(&opts)?;
    let mic = MicSource::open(a.device.as_deref()).map_err(|e| {
        anyhow::anyhow!("{}. Connect a microphone, pick one with --device (see --list-devices), or transcribe a file with `hark transcribe FILE`", e.to_string().trim_end_matches('.'))
    })?;
    eprintln!("listening on {} ({} Hz); Ctrl+C stops", mic.description, mic.device_rate);
    let description = mic.description.clone();
    let session = p.start(SourceKind::Microphone, Source::Mic(mic), description, Pace::RealTime);
    let limit = a.duration.map(secs_to_samples);
    // Speech without text so far, for the summary at the end.
    let mut unrecognised = Vec::new();
    let mut partial_cursor = p.app.world().resource::<Messages<PartialReady>>().get_cursor();
    // Whether the terminal's current line holds a partial (to be overwritten).
    let mut line_open = false;
    let mut stopping = false;
    // The microphone lost (and being looked for), as last said.
    let mut waiting: Option<String> = None;
    // Input events said so far, and times the device came back.
    let mut told = 0;
    let mut resumed = 0;
    // How far transcription is behind the microphone, as last said, and the most it was.
    let mut lagging = false;
    let mut most_behind = 0.0f64;
    loop {
        p.app.update();
        let world = p.app.world_mut();
        let captured = world.get::<SessionClock>(session).map(|c| c.captured).unwrap_or(0);
        let health = world.get::<CaptureHealth>(session);
        for e in health.map_or(&[][..], |h| &h.events[told..]) {
            eprintln!("note: {e}");
        }
        told = health.map_or(0, |h| h.events.len());
        let now_waiting = health.and_then(|h| h.waiting.clone());
        if now_waiting != waiting {
            if let Some(w) = &now_waiting {
                eprintln!(
                    "warning: {w} (at {:.1} s); waiting for it to come back (the time without it is kept as silence; Ctrl+C stops)",
                    samples_to_secs(captured)
                );
            }
            waiting = now_waiting;
        }
        let now_resumed = health.map_or(0, |h| h.resumed);
        if now_resumed > resumed {
            eprintln!("the input device is back: capture resumed at {:.1} s", samples_to_secs(captured));
            resumed = now_resumed;
        }
        let stop_now = !world.resource::<Messages<AppExit>>().is_empty() || limit.is_some_and(|l| captured >= l);
        if stop_now && !stopping {
            stopping = true;
            // The capture plugin takes what the stream delivered and ends it; the open utterance
            // is closed and transcribed.
            world.write_message(StopCapture { session });
        }
        // A model slower than speech (or a busy machine) lets utterances queue up: say so once
        // it explains late text, and again when the text has caught up.
        let oldest = world
            .query::<(&Utterance, Has<Transcript>)>()
            .iter(world)
            .filter(|(u, done)| u.session == session && !done)
            .map(|(u, _)| u.end)
            .min();
        let behind = hark_ui::panels::status::behind(captured, oldest);
        most_behind = most_behind.max(behind.unwrap_or(0.0));
        match (behind, lagging) {
            (Some(b), false) => {
                eprintln!(
                    "note: transcription is {b:.0} s behind the microphone (the model is slower than speech here); nothing is dropped, the text will catch up"
                );
                lagging = true;
            }
            (None, true) => {
                eprintln!("note: transcription has caught up");
                lagging = false;
            }
            _ => {}
        }
        // Each utterance's text, in order, as soon as it has it; it then leaves the world (the
        // store has it), so a capture of hours holds only what is still being transcribed.
        for u in p.take_transcribed(session) {
            unrecognised.extend_from_slice(&u.unrecognised);
            let text = u.segment.as_ref().filter(|s| !s.suspect).map(|s| s.text.as_str());
            if text.is_none() && u.unrecognised.is_empty() {
                continue;
            }
            if std::mem::take(&mut line_open) {
                print!("\r\x1b[K");
            }
            if let Some(text) = text {
                println!("[{:>7.2} – {:>7.2}] {text}", samples_to_secs(u.span.0), samples_to_secs(u.span.1));
            }
            // Someone spoke here and no text came out: said where, as it happens.
            for r in &u.unrecognised {
                println!(
                    "[{:>7.2} – {:>7.2}] {} ({:.1} s)",
                    r.start_s,
                    r.end_s,
                    hark::format::UNRECOGNISED,
                    r.speech_s
                );
            }
        }
        let world = p.app.world_mut();
        let changed = cursor_has_news(&mut partial_cursor, world.resource::<Messages<PartialReady>>(), session);
        if partials
            && changed
            && let Some(pt) = world.get::<PartialTranscript>(session)
        {
            // Committed words plain, tentative ones dim; the line is rewritten at each decode.
            let tentative =
                if pt.tentative.is_empty() { String::new() } else { format!(" \x1b[2m{}\x1b[0m", pt.tentative) };
            if terminal {
                print!("\r\x1b[K[{:>7.2} …      ] {}{tentative}", pt.start as f64 / 16e3, pt.committed);
                let _ = std::io::stdout().flush();
                line_open = true;
            } else {
                // A pipe cannot rewrite a line: each update is a line of its own.
                let tentative = if pt.tentative.is_empty() { String::new() } else { format!(" {}", pt.tentative) };
                println!("[{:>7.2} …      ] {}{tentative}", pt.start as f64 / 16e3, pt.committed);
            }
        }
        if world.get::<CaptureFinished>(session).is_some() && p.is_done(session) {
            let health = p.app.world().get::<CaptureHealth>(session).cloned().unwrap_or_default();
            let heard = samples_to_secs(captured);
            let latency = p.app.world().get::<LiveLatency>(session).map(LiveLatency::summary).unwrap_or_default();
            let rec = p.app.world().resource::<Recognizer>();
            eprintln!("{}", live_summary(&latency, rec.partials_decoded, rec.partials_skipped, most_behind));
            let t = p.take_transcript(session);
            let what = t.session_id.map_or("the session".to_owned(), |id| format!("session {id}"));
            if let Some(losses) = health.losses() {
                eprintln!("warning: microphone audio lost: {losses}");
            }
            unrecognised.extend(t.unrecognised);
            if let Some(note) = hark::pipeline::unrecognised_note(&unrecognised) {
                eprintln!("note: {note}");
            }
            match (&t.save_error, t.session_id) {
                (Some(e), _) => {
                    eprintln!("error: {what} was not saved completely: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                (None, Some(id)) => eprintln!("saved as session {id}"),
                (None, None) => {}
            }
            if let Some(f) = health.failure {
                // Everything heard before the fault is saved and transcribed, but the capture
                // did not end as asked: say why, and let scripts see it.
                let kept = if t.session_id.is_some() { "saved" } else { "transcribed" };
                eprintln!("error: capture stopped after {heard:.1} s: {f}. What was heard before it is {kept}.");
                return Ok(ExitCode::FAILURE);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the capture's live figures were: how soon final text followed speech, how often the
/// text being said was updated, and whether the recogniser kept up.
fn live_summary(l: &LatencySummary, partials_decoded: u64, partials_skipped: u64, most_behind: f64) -> String {
    let mut parts = Vec::new();
    if let Some(q) = l.final_ms {
        parts.push(format!(
            "speech end to text {:.0} ms median, {:.0} ms 95th percentile, over {} utterances",
            q.p50, q.p95, q.n
        ));
    }
    if let Some(q) = l.partial_interval_ms {
        parts.push(format!("text being said updated every {:.0} ms (median)", q.p50));
    }
    if partials_skipped > 0 {
        parts.push(format!(
            "{partials_skipped} of {} updates skipped because newer audio overtook them",
            partials_decoded + partials_skipped
        ));
    }
    if most_behind > 0.0 {
        parts.push(format!("transcription fell up to {most_behind:.0} s behind"));
    }
    if parts.is_empty() { "live: no speech heard".to_owned() } else { format!("live: {}", parts.join("; ")) }
}

/// Whether a partial of `session` changed since the cursor last looked.
fn cursor_has_news(
    cursor: &mut bevy::ecs::message::MessageCursor<PartialReady>,
    msgs: &Messages<PartialReady>,
    session: Entity,
) -> bool {
    cursor.read(msgs).filter(|m| m.session == session).count() > 0
}
