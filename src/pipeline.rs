//! The headless pipeline: the same plugins the window uses, driven by `app.update()`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use hark_capture::{CapturePlugin, FileSource, Pace, Source};
use hark_core::{
    CaptureFailed, HarkCorePlugin, SessionClock, SessionState, SourceKind, Transcript, Utterance, UtteranceVad, Word,
    samples_to_secs,
};
use hark_segment::{SegmentPlugin, SegmentSettings};
use hark_store::{Reader, SessionRow, StoreContext, StoreError, StorePlugin, StoredSession, Writer};
use hark_transcribe::{Engine, Recognizer, TranscribePlugin, TranscribeSettings, WhisperEngine, WhisperSettings};
use hark_vad::{SpeechRegions, VadPlugin, VadSettings};
use serde::Serialize;

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

/// A word in the output, times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutWord {
    pub start_s: f64,
    pub end_s: f64,
    pub word: String,
    pub p: f32,
}

/// An utterance in the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutSegment {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
    pub words: Vec<OutWord>,
    /// Looks like a hallucination (a phantom phrase on weak audio); left out of plain text.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
}

/// Speech without text ([`hark_core::unrecognised::in_utterance`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unrecognised {
    pub start_s: f64,
    pub end_s: f64,
    /// Seconds of it the VAD called speech.
    pub speech_s: f64,
}

impl Unrecognised {
    /// An utterance's speech without text, in seconds.
    fn in_utterance(
        text: &str,
        suspect: bool,
        speech_fraction: f32,
        span: (u64, u64),
        unheard: &[(u64, u64)],
    ) -> Vec<Self> {
        hark_core::unrecognised::in_utterance(text, suspect, speech_fraction, span, unheard)
            .into_iter()
            .map(|(a, b, speech)| Self {
                start_s: round_ms(samples_to_secs(a)),
                end_s: round_ms(samples_to_secs(b)),
                speech_s: round_ms(speech),
            })
            .collect()
    }
}

/// A transcribed session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionTranscript {
    pub audio_s: f64,
    pub segments: Vec<OutSegment>,
    /// The VAD's speech regions, `[start_s, end_s]`.
    pub speech: Vec<[f64; 2]>,
    /// Utterances the VAD heard someone speak in that came out without text (or only with text
    /// judged made up): what a reader would otherwise never know was said.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unrecognised: Vec<Unrecognised>,
    /// The stored session's id, when it was saved (not part of the JSON output).
    #[serde(skip)]
    pub session_id: Option<i64>,
    /// Why the session is not (completely) saved, when a database was asked for.
    #[serde(skip)]
    pub save_error: Option<String>,
}

/// One utterance's part of a transcript: its text, unless it has none, and the speech in it
/// that came out without text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UtteranceOut {
    /// Where the utterance is in the session, in samples.
    pub span: (u64, u64),
    pub segment: Option<OutSegment>,
    pub unrecognised: Vec<Unrecognised>,
}

impl UtteranceOut {
    fn new(u: &Utterance, t: &Transcript, vad: Option<&UtteranceVad>) -> Self {
        let fraction = vad.map_or(0.0, |v| v.speech_fraction);
        Self {
            span: (u.start, u.end),
            segment: (!t.text.is_empty()).then(|| OutSegment::new(&t.words, (u.start, u.end), &t.text, t.suspect)),
            unrecognised: Unrecognised::in_utterance(&t.text, t.suspect, fraction, (u.start, u.end), &t.unheard),
        }
    }
}

/// What is known of a session once its capture ended, beside its utterances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionEnd {
    pub audio_s: f64,
    /// The VAD's speech regions, `[start_s, end_s]`.
    pub speech: Vec<[f64; 2]>,
    /// The stored session's id, when it was saved.
    pub session_id: Option<i64>,
    /// Why the session is not (completely) saved, when a database was asked for.
    pub save_error: Option<String>,
    /// Why the source stopped before its end.
    pub failure: Option<String>,
}

/// The transcribed utterances of `session` leave the world, in order, with what the output
/// needs of them: all of them, or (`all == false`) those before its first utterance still
/// waiting for its text. Their rows were sent to the store in the update that gave them
/// their text.
fn take_utterances(world: &mut World, session: Entity, all: bool) -> Vec<UtteranceOut> {
    let Some(list) = world.get::<hark_core::SessionUtterances>(session) else { return Vec::new() };
    let (items, transcribed) =
        list.in_order(|e| Some((world.get::<Utterance>(e)?.index, world.get::<Transcript>(e).is_some())));
    let take = if all { items.len() } else { transcribed };
    items[..take]
        .iter()
        .filter_map(|&e| {
            let out = match (world.get::<Utterance>(e), world.get::<Transcript>(e)) {
                (Some(u), Some(t)) => Some(UtteranceOut::new(u, t, world.get::<UtteranceVad>(e))),
                _ => None,
            };
            world.despawn(e);
            out
        })
        .collect()
}

impl SessionTranscript {
    /// A whole transcript from its utterances, in order, and the session's end.
    pub fn from_parts(utterances: Vec<UtteranceOut>, end: SessionEnd) -> Self {
        let mut segments = Vec::new();
        let mut unrecognised = Vec::new();
        for u in utterances {
            segments.extend(u.segment);
            unrecognised.extend(u.unrecognised);
        }
        Self {
            audio_s: end.audio_s,
            segments,
            speech: end.speech,
            unrecognised,
            session_id: end.session_id,
            save_error: end.save_error,
        }
    }

    /// A stored session's latest transcripts in the output shape.
    pub fn from_store(segments: &[hark_store::SegmentRow], audio_s: f64) -> Self {
        let unrecognised = segments
            .iter()
            .flat_map(|g| {
                Unrecognised::in_utterance(&g.text, g.suspect, g.vad_speech, (g.start_sample, g.end_sample), &g.unheard)
            })
            .collect();
        let segments = segments
            .iter()
            .filter(|g| !g.text.is_empty())
            .map(|g| OutSegment::new(&g.words, (g.start_sample, g.end_sample), &g.text, g.suspect))
            .collect();
        Self {
            audio_s: round_ms(audio_s),
            segments,
            speech: Vec::new(),
            unrecognised,
            session_id: None,
            save_error: None,
        }
    }

    /// What to tell a reader of the text about speech that has none, or `None`.
    pub fn unrecognised_note(&self) -> Option<String> {
        unrecognised_note(&self.unrecognised)
    }

    /// The text of all trusted segments, space-separated.
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .filter(|s| !s.suspect && !s.text.is_empty())
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What to tell a reader of the text about speech that has none (`list`), or `None`.
pub fn unrecognised_note(list: &[Unrecognised]) -> Option<String> {
    let total: f64 = list.iter().map(|u| u.speech_s).sum();
    let at: Vec<String> = list.iter().take(5).map(|u| format!("{:.1}–{:.1} s", u.start_s, u.end_s)).collect();
    let more = if list.len() > at.len() { ", …" } else { "" };
    match list.len() {
        0 => None,
        1 => Some(format!("{total:.1} s of speech was not recognised, at {}{more}", at.join(", "))),
        n => Some(format!("{total:.1} s of speech in {n} places was not recognised, at {}{more}", at.join(", "))),
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

pub(crate) fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

impl OutSegment {
    /// An utterance in output form: it spans its words, or `fallback` (samples) without any.
    fn new(words: &[Word], fallback: (u64, u64), text: &str, suspect: bool) -> Self {
        let (start, end) = match (words.first(), words.last()) {
            (Some(a), Some(b)) => (a.start, b.end.max(a.start)),
            _ => fallback,
        };
        Self {
            start_s: round_ms(samples_to_secs(start)),
            end_s: round_ms(samples_to_secs(end)),
            text: text.to_owned(),
            words: words.iter().map(out_word).collect(),
            suspect,
        }
    }
}

fn out_word(w: &Word) -> OutWord {
    OutWord {
        start_s: round_ms(samples_to_secs(w.start)),
        end_s: round_ms(samples_to_secs(w.end)),
        word: w.text.clone(),
        p: (w.probability * 1000.0).round() / 1000.0,
    }
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
