//! The headless pipeline: the same plugins the window uses, driven by `app.update()`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use hark_capture::{CapturePlugin, FileSource, Pace, Source};
use hark_core::{CaptureFailed, HarkCorePlugin, SessionClock, SessionState, SourceKind, samples_to_secs};
use hark_segment::{SegmentPlugin, SegmentSettings};
use hark_store::{Reader, SessionRow, StoreContext, StoreError, StorePlugin, StoredSession, Writer};
use hark_transcribe::{Engine, Recognizer, TranscribePlugin, TranscribeSettings, WhisperEngine, WhisperSettings};
use hark_vad::{SpeechRegions, VadPlugin, VadSettings};

pub use crate::output::{
    OutSegment, OutWord, SessionEnd, SessionTranscript, Unrecognised, UtteranceOut, unrecognised_note,
};
use crate::output::{round_ms, take_utterances};

/// Everything that configures a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub model: PathBuf,
    pub whisper: WhisperSettings,
    pub vad: VadSettings,
    pub segment: SegmentSettings,
    pub transcribe: TranscribeSettings,
    /// Recogniser threads (each with its own whisper state).
    pub workers: usize,
    /// Stop on Ctrl+C (an `AppExit` message) instead of being killed.
    pub handle_ctrl_c: bool,
    /// Save sessions in this database (see `hark_store`).
    pub database: Option<PathBuf>,
    /// More plugins or systems, added before the app is finished (tests of window plugins).
    pub extend: Option<fn(&mut App)>,
}

impl PipelineOptions {
    pub fn new(model: PathBuf) -> Self {
        Self {
            model,
            whisper: WhisperSettings::default(),
            vad: VadSettings::default(),
            // Files: join pauses into sentences (live capture sets the gap to 0 for latency).
            segment: SegmentSettings { merge_gap_secs: SegmentSettings::FILE_MERGE_GAP_SECS, ..Default::default() },
            transcribe: TranscribeSettings { block_when_idle: true, ..Default::default() },
            workers: 1,
            handle_ctrl_c: false,
            database: None,
            extend: None,
        }
    }
}

impl PipelineOptions {
    /// Live capture (a microphone, the window): utterances close after a short pause
    /// ([`hark_vad::GateSettings::LIVE_HANGOVER_MS`]), each final is decoded as the speaker
    /// stops, and with `partials` the utterance being said is decoded as it grows. Pauses are
    /// not joined (the caller may ask for it).
    pub fn live(&mut self, partials: bool) {
        self.segment.merge_gap_secs = 0.0;
        if partials {
            self.segment.partial_interval_secs = SegmentSettings::LIVE_PARTIAL_INTERVAL_SECS;
        }
        self.segment.speculate_after_secs = Some(SegmentSettings::LIVE_SPECULATE_AFTER_SECS);
        self.vad.gate.hangover_ms = hark_vad::GateSettings::LIVE_HANGOVER_MS;
    }

    /// What [`Self::live`] changes, back as a file has it: pauses joined into sentences, a
    /// file's VAD hangover, no text-being-said decodes; the rest of `vad` and `segment` kept (a
    /// file transcribed in the window, whose app settings are live).
    pub fn file_settings(vad: &VadSettings, segment: &SegmentSettings) -> (VadSettings, SegmentSettings) {
        let mut v = vad.clone();
        v.gate.hangover_ms = hark_vad::GateSettings::default().hangover_ms;
        let defaults = SegmentSettings::default();
        let s = SegmentSettings {
            merge_gap_secs: SegmentSettings::FILE_MERGE_GAP_SECS,
            partial_interval_secs: defaults.partial_interval_secs,
            speculate_after_secs: defaults.speculate_after_secs,
            ..segment.clone()
        };
        (v, s)
    }
}

/// A headless pipeline with a loaded model.
pub struct Pipeline {
    pub app: App,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish()
    }
}

/// Builds the pipeline plugins into `app` (no window, no runner).
pub fn add_pipeline(app: &mut App, opts: &PipelineOptions, engines: Vec<Box<dyn Engine>>) {
    app.add_plugins((HarkCorePlugin, CapturePlugin, VadPlugin, SegmentPlugin, TranscribePlugin, StorePlugin))
        .insert_resource(StoreContext { model: opts.model.display().to_string(), settings: settings_json(opts) })
        .insert_resource(opts.vad.clone())
        .insert_resource(opts.segment.clone())
        .insert_resource(opts.transcribe.clone())
        .insert_resource(Recognizer::spawn(engines));
}

impl Pipeline {
    /// Loads the model once (one whisper state per worker) and builds the app.
    pub fn new(opts: &PipelineOptions) -> anyhow::Result<Self> {
        let engines: Vec<Box<dyn Engine>> =
            WhisperEngine::load_workers(&opts.model, opts.whisper.clone(), opts.workers)
                .map_err(anyhow::Error::msg)?
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn Engine>)
                .collect();
        let mut p = Self::with_engines(opts, engines);
        if let Some(db) = &opts.database {
            p.app.insert_resource(Writer::open(db)?);
        }
        Ok(p)
    }

    /// Builds the app around given engines (tests may pass stand-ins).
    pub fn with_engines(opts: &PipelineOptions, engines: Vec<Box<dyn Engine>>) -> Self {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins);
        if opts.handle_ctrl_c {
            install_stop_signals();
            app.add_plugins(bevy::app::TerminalCtrlCHandlerPlugin);
        }
        add_pipeline(&mut app, opts, engines);
        if let Some(extend) = opts.extend {
            extend(&mut app);
        }
        app.finish();
        app.cleanup();
        Self { app }
    }

    /// Starts a session capturing from `source`.
    pub fn start(&mut self, kind: SourceKind, source: Source, description: String, pace: Pace) -> Entity {
        self.app.world_mut().spawn(hark_capture::session_bundle(kind, description, source, pace)).id()
    }

    /// Resumes a saved session that was not finished (see [`resume_session`]).
    pub fn resume(&mut self, reader: &Reader, row: &SessionRow) -> Result<Option<(Entity, u64)>, StoreError> {
        resume_session(self.app.world_mut(), reader, row)
    }

    /// Whether the session has been captured, cut and transcribed completely.
    pub fn is_done(&mut self, session: Entity) -> bool {
        self.app.world().get::<SessionState>(session) == Some(&SessionState::Complete)
    }

    /// Steps the app until the session is done; returns a capture error if the source failed.
    /// `step` runs before each update (progress, pacing).
    pub fn run_until_done(&mut self, session: Entity, mut step: impl FnMut(&mut App)) -> Result<(), String> {
        let mut failure = None;
        let mut cursor = self.app.world().resource::<Messages<CaptureFailed>>().get_cursor();
        loop {
            step(&mut self.app);
            self.app.update();
            let msgs = self.app.world().resource::<Messages<CaptureFailed>>();
            for m in cursor.read(msgs) {
                if m.session == session {
                    failure = Some(m.message.clone());
                }
            }
            if self.is_done(session) {
                break;
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The session's transcript. The session entity is despawned with its utterances; what the
    /// store was sent is committed first.
    pub fn take_transcript(&mut self, session: Entity) -> SessionTranscript {
        let utterances = take_utterances(self.app.world_mut(), session, true);
        let end = self.end_session(session);
        SessionTranscript::from_parts(utterances, end)
    }

    /// The session's utterances that have their text, in order, up to the first one still
    /// waiting for it: they leave the world (the store has their rows), so a long capture
    /// holds no more of its text than what is still being transcribed.
    pub fn take_transcribed(&mut self, session: Entity) -> Vec<UtteranceOut> {
        take_utterances(self.app.world_mut(), session, false)
    }

    /// Ends a session whose utterances have been taken: commits what the store was sent and
    /// despawns the session.
    fn end_session(&mut self, session: Entity) -> SessionEnd {
        let world = self.app.world_mut();
        let stored = world.get::<StoredSession>(session).map(|s| s.0);
        let save_error = match world.get_resource::<Writer>() {
            Some(w) => match (w.flush(), stored) {
                (Err(e), _) => Some(e.to_string()),
                (Ok(()), None) if captured_so_far(world, session) > 0 => {
                    Some(format!("database {}: the session could not be created", w.path.display()))
                }
                (Ok(()), None) => None,
                (Ok(()), Some(_)) => None,
            },
            None => None,
        };
        let captured = captured_so_far(world, session);
        let speech = world
            .get::<SpeechRegions>(session)
            .map(SpeechRegions::secs)
            .unwrap_or_default()
            .into_iter()
            .map(|[a, b]| [round_ms(a), round_ms(b)])
            .collect();
        // The session leaves the world with what is left of its utterances (and its
        // per-session state).
        if let Ok(e) = world.get_entity_mut(session) {
            e.despawn();
        }
        SessionEnd {
            audio_s: round_ms(samples_to_secs(captured)),
            speech,
            session_id: stored,
            save_error,
            failure: None,
        }
    }

    /// Transcribes a file from start to end.
    pub fn transcribe_file(
        &mut self,
        path: &Path,
        pace: Pace,
        progress: impl FnMut(f64),
    ) -> anyhow::Result<SessionTranscript> {
        let mut utterances = Vec::new();
        let mut end = self.transcribe_file_as_it_goes(path, pace, progress, |u| utterances.push(u))?;
        if let Some(failure) = end.failure.take() {
            anyhow::bail!(failure);
        }
        Ok(SessionTranscript::from_parts(utterances, end))
    }

    /// Transcribes a file from start to end, handing each utterance to `each` (in order) as
    /// soon as it and every one before it have their text, and letting it go: memory does not
    /// grow with the file's length (the store keeps the session). A source that fails part of
    /// the way is in [`SessionEnd::failure`], after what was heard before it was handed over.
    pub fn transcribe_file_as_it_goes(
        &mut self,
        path: &Path,
        pace: Pace,
        mut progress: impl FnMut(f64),
        mut each: impl FnMut(UtteranceOut),
    ) -> anyhow::Result<SessionEnd> {
        let src = FileSource::open(path)?;
        if pace == Pace::RealTime {
            self.app.insert_resource(TimeUpdateStrategy::Automatic);
        }
        let session = self.start(SourceKind::File, Source::File(src), path.display().to_string(), pace);
        let r = self.run_until_done(session, |app| {
            take_utterances(app.world_mut(), session, false).into_iter().for_each(&mut each);
            let captured = app.world().get::<SessionClock>(session).map(|c| c.captured).unwrap_or(0);
            progress(samples_to_secs(captured));
            if pace == Pace::RealTime {
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        take_utterances(self.app.world_mut(), session, true).into_iter().for_each(each);
        let mut end = self.end_session(session);
        end.failure = r.err();
        Ok(end)
    }

    /// Inference time spent by the recognisers so far.
    pub fn inference_time(&self) -> Duration {
        self.app.world().resource::<Recognizer>().busy
    }
}

/// Resumes a saved session that was not finished (`interrupted`, or `captured` with utterances
/// left untranscribed), in any app with the pipeline and a [`Writer`] (the CLI's `recover`, or
/// the window): its stored audio after the last transcribed utterance goes through the pipeline
/// again as the same session, and the store plugin saves the new utterances and the final state
/// like any others. Its audio is in the database already and is not written again. Returns the
/// session entity and the samples it will hear, or `None` when there is nothing left to hear
/// (the session is then marked complete).
pub fn resume_session(
    world: &mut World,
    reader: &Reader,
    row: &SessionRow,
) -> Result<Option<(Entity, u64)>, StoreError> {
    let writer = world.resource::<Writer>();
    writer.send(hark_store::Command::DropUntranscribed { session: row.id });
    writer.flush()?;
    let done = reader.segments(row.id)?;
    let resume = done.iter().map(|g| g.end_sample).max().unwrap_or(0);
    let next_index = done.iter().map(|g| g.idx + 1).max().unwrap_or(0) as u32;
    let audio = reader.audio(row.id)?;
    let rest: Vec<f32> = audio.get(resume as usize..).unwrap_or(&[]).to_vec();
    if rest.is_empty() {
        writer.send(hark_store::Command::SetState { session: row.id, state: SessionState::Complete });
        return Ok(None);
    }
    let source = Source::Samples { samples: rest.into(), pos: 0 };
    let e = world
        .spawn(hark_capture::session_bundle(row.kind, row.source.clone(), source, Pace::Fast))
        // The session's own sample clock: new utterances land where they were said.
        .insert((
            SessionClock { captured: resume },
            hark_core::Resumed,
            hark_store::StoredSession(row.id),
            hark_segment::SessionSegmenter::resuming(next_index),
        ))
        .id();
    Ok(Some((e, audio.len() as u64 - resume)))
}

/// The settings a transcript was made with, as stored beside it (JSON).
#[derive(Debug, serde::Serialize)]
struct StoredSettings {
    threads: usize,
    workers: usize,
    fit_audio_ctx: bool,
    audio_ctx_margin: usize,
    min_audio_ctx: usize,
    window_step: usize,
    temperature_inc: f32,
    beam_size: usize,
    flash_attn: bool,
    guard: bool,
    prompt: bool,
    vad: hark_vad::DetectorKind,
    vad_threshold: f32,
    band_enter_db: f32,
    band_stay_db: f32,
    merge_pauses_s: f64,
    max_utterance_s: f64,
}

fn settings_json(o: &PipelineOptions) -> String {
    let s = StoredSettings {
        threads: o.whisper.threads,
        workers: o.workers,
        fit_audio_ctx: o.whisper.fit_audio_ctx,
        audio_ctx_margin: o.whisper.audio_ctx_margin,
        min_audio_ctx: o.whisper.min_audio_ctx,
        window_step: o.whisper.window_step,
        temperature_inc: o.whisper.temperature_inc,
        beam_size: o.whisper.beam_size,
        flash_attn: o.whisper.flash_attn,
        guard: o.whisper.guard,
        prompt: o.transcribe.use_prompt,
        vad: o.vad.detector,
        vad_threshold: o.vad.gate.threshold,
        band_enter_db: o.vad.gate.band_enter_db,
        band_stay_db: o.vad.gate.band_stay_db,
        merge_pauses_s: o.segment.merge_gap_secs,
        max_utterance_s: o.segment.max_secs,
    };
    serde_json::to_string(&s).unwrap_or_default()
}

/// SIGINT, SIGTERM and SIGHUP finish the capture (Bevy's handler then writes `AppExit`). Bevy's
/// own plugin refuses to install over a disposition that is not the default, so a process
/// started with SIGINT ignored (a script's `cmd &`) could not be stopped at all: install ours,
/// overwriting it, first.
fn install_stop_signals() {
    if let Err(e) = ctrlc::set_handler(bevy::app::TerminalCtrlCHandlerPlugin::gracefully_exit) {
        warn!("Ctrl+C, SIGTERM and SIGHUP will not finish the capture cleanly: {e}");
    }
}

fn captured_so_far(world: &World, session: Entity) -> u64 {
    world.get::<SessionClock>(session).map_or(0, |c| c.captured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_settings_undo_what_live_changes_and_keep_the_rest() {
        let file = PipelineOptions::new(PathBuf::from("m"));
        let mut live = file.clone();
        live.vad.gate.threshold = 0.7; // a choice of the window's, kept
        live.live(true);
        let (v, s) = PipelineOptions::file_settings(&live.vad, &live.segment);
        assert_eq!(v.gate.hangover_ms, file.vad.gate.hangover_ms);
        assert_eq!(v.gate.threshold, 0.7);
        assert_eq!(s.merge_gap_secs, file.segment.merge_gap_secs);
        assert_eq!(s.partial_interval_secs, file.segment.partial_interval_secs);
        assert_eq!(s.speculate_after_secs, file.segment.speculate_after_secs);
        assert_eq!(s.max_secs, file.segment.max_secs);
    }
}
