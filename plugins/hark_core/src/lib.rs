//! Shared types of the Hark pipeline: the sample clock, audio and VAD messages, session and
//! utterance components, and the one [`PipelineSystems`] set that orders every stage.
//!
//! Audio moves through the pipeline as 16 kHz mono chunks indexed by sample, never by wall-clock
//! time, so a live microphone, a file fed as fast as possible, a paced file and a replay all
//! produce the same messages and therefore the same transcript.

use std::sync::Arc;

use bevy::prelude::*;

pub mod diff;
pub mod latency;
pub mod paths;
pub mod text;
pub mod unrecognised;

pub use latency::{Arrivals, EngineTime, LatencySummary, LiveLatency, Quantiles, Waits};

/// The pipeline's one sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// Seconds → samples at [`SAMPLE_RATE`].
pub fn secs_to_samples(s: f64) -> u64 {
    (s * SAMPLE_RATE as f64).round().max(0.0) as u64
}

/// Samples → seconds at [`SAMPLE_RATE`].
pub fn samples_to_secs(n: u64) -> f64 {
    n as f64 / SAMPLE_RATE as f64
}

/// The stages of the pipeline, in order. The core plugin chains them once; each stage's plugin
/// only puts its systems in its own set.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PipelineSystems {
    /// Requests from people and devices: captures started and stopped, devices and models
    /// chosen (before the sources are read, so a stop takes effect in the same frame).
    Control,
    /// Sources produce [`AudioChunk`]s (microphone, file, replay).
    Capture,
    /// Voice activity: [`VadFrame`]s and [`SpeechEdge`]s from the chunks.
    Vad,
    /// Utterances are cut from speech and spawned as entities.
    Segment,
    /// Utterances are sent to the recogniser and transcripts collected.
    Transcribe,
    /// Each session's [`SessionState`] moves forward (the one place that decides it).
    State,
    /// Consumers of the results: storage, UI, printing.
    Output,
}

/// A block of 16 kHz mono samples from a session's audio, starting at sample `start`.
#[derive(Message, Debug, Clone)]
pub struct AudioChunk {
    pub session: Entity,
    /// Index of the first sample since the session started.
    pub start: u64,
    pub samples: Arc<[f32]>,
}

impl AudioChunk {
    pub fn end(&self) -> u64 {
        self.start + self.samples.len() as u64
    }
}

/// One VAD analysis frame.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub struct VadFrame {
    pub session: Entity,
    /// First sample of the frame.
    pub start: u64,
    /// Raw speech probability from the detector, 0..1.
    pub probability: f32,
    /// The smoothed decision for this frame.
    pub speech: bool,
}

/// Start or end of a smoothed speech region (pre-roll and hangover applied).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechEdge {
    Start { session: Entity, at: u64 },
    End { session: Entity, at: u64 },
}

/// A capture session: one recording, live or from a file. It starts [`SessionState::Recording`].
#[derive(Component, Debug, Clone)]
#[require(SessionState, SessionClock, StartedAt)]
pub struct Session {
    /// What kind of source the audio comes from.
    pub kind: SourceKind,
    /// What the audio comes from, for people: a device description or a file path.
    pub source: String,
}

/// A saved session being finished after it was cut short (its stored audio after the last
/// transcribed utterance, fed again): quitting does not stop it the way it stops a capture,
/// since what it did not hear would be left untranscribed under a `complete` state.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Resumed;

/// When a session began (wall clock), for showing when its words were said. Made with the
/// session.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartedAt(pub std::time::SystemTime);

impl Default for StartedAt {
    fn default() -> Self {
        Self(std::time::SystemTime::now())
    }
}

/// What kind of source a session captures from. The database keeps the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An input device, live.
    #[default]
    Microphone,
    /// An audio file (`hark transcribe`, a file opened in the window).
    File,
    /// The always-on recall buffer's last seconds of microphone audio.
    Recall,
    /// A file played as if it were the microphone (`hark --demo`).
    Demo,
    /// Samples handed over in memory (tests, re-runs).
    Memory,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [Self::Microphone, Self::File, Self::Recall, Self::Demo, Self::Memory];

    /// The name the database and the CLI use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Microphone => "microphone",
            Self::File => "file",
            Self::Recall => "recall",
            Self::Demo => "demo",
            Self::Memory => "memory",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether [`Session::source`] is a file path (the session is then titled by its name).
    pub const fn is_file(self) -> bool {
        matches!(self, Self::File | Self::Demo)
    }

    /// Whether someone waits on the session's text as it is said (a device, the recall buffer,
    /// a demo played as a microphone), as against audio read as fast as it goes (a file,
    /// samples handed over): the recogniser takes such a session's utterances first.
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Microphone | Self::Recall | Self::Demo)
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a session is in its life. Set by one system ([`PipelineSystems::State`]) and read by
/// the store, the CLI and the window; the database keeps the same names.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Audio is arriving.
    #[default]
    Recording,
    /// The capture ended; utterances are still being cut or transcribed.
    Captured,
    /// Every utterance has its text.
    Complete,
    /// The process ended while recording (found at the next start; only in the database).
    Interrupted,
}

impl SessionState {
    pub const ALL: [SessionState; 4] = [Self::Recording, Self::Captured, Self::Complete, Self::Interrupted];

    /// The name the database and the CLI use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Captured => "captured",
            Self::Complete => "complete",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Both enums are stored by name ([`SessionState::as_str`], [`SourceKind::as_str`]); a name the
/// build does not know is a conversion error naming it, never a default.
#[cfg(feature = "sql")]
mod sql {
    use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

    macro_rules! by_name {
        ($t:ty, $what:literal) => {
            impl ToSql for $t {
                fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                    Ok(ToSqlOutput::from(self.as_str()))
                }
            }
            impl FromSql for $t {
                fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                    let s = v.as_str()?;
                    <$t>::parse(s).ok_or_else(|| FromSqlError::Other(format!("unknown {} {s:?}", $what).into()))
                }
            }
        };
    }
    by_name!(super::SessionState, "session state");
    by_name!(super::SourceKind, "source kind");
}

/// Keeps a finished session in the world (the window's shown session); see
/// [`ReleaseFinishedSessions`].
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Retained;

/// Finished sessions leave the world: a `Complete` session that is not [`Retained`] is despawned
/// with its utterances at the end of the frame in which it completed (the store has sent its
/// last rows by then). For long-running apps (the window); the CLI takes each session's
/// transcript and despawns it itself.
#[derive(Debug, Default)]
pub struct ReleaseFinishedSessions;

impl Plugin for ReleaseFinishedSessions {
    fn build(&self, app: &mut App) {
        app.add_systems(PostUpdate, release_finished);
    }
}

fn release_finished(mut commands: Commands, done: Query<(Entity, &SessionState), Without<Retained>>) {
    for (e, state) in &done {
        if *state == SessionState::Complete {
            commands.entity(e).despawn();
        }
    }
}

/// Put on a session by the segmenter once its capture ended and its last utterance was cut.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct AllUtterancesCut;

/// Recording → Captured when the capture ends; Captured → Complete once the segmenter has cut
/// the last utterance and every utterance of the session has its transcript.
/// What decides a session's state: capture finished, all cut, its utterances.
type Progress =
    (&'static mut SessionState, Has<CaptureFinished>, Has<AllUtterancesCut>, Option<&'static SessionUtterances>);

fn advance_sessions(mut sessions: Query<Progress>, transcribed: Query<Has<Transcript>>) {
    for (mut state, finished, cut, utterances) in &mut sessions {
        if *state == SessionState::Recording && finished {
            *state = SessionState::Captured;
        }
        let all_done = || utterances.is_none_or(|u| u.iter().all(|u| transcribed.get(u).unwrap_or(true)));
        if *state == SessionState::Captured && cut && all_done() {
            *state = SessionState::Complete;
        }
    }
}

/// How much of the session's audio has been captured (samples at 16 kHz).
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct SessionClock {
    pub captured: u64,
}

/// Marks a session whose source has delivered its last sample.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct CaptureFinished;

/// Sent once when a session's source ends (end of file, device stopped).
#[derive(Message, Debug, Clone, Copy)]
pub struct CaptureEnded {
    pub session: Entity,
    /// Total samples captured.
    pub samples: u64,
}

/// Ask the capture plugin to end a session's capture: what the source already delivered is
/// taken, then the session gets [`CaptureFinished`] and a [`CaptureEnded`] goes out.
#[derive(Message, Debug, Clone, Copy)]
pub struct StopCapture {
    pub session: Entity,
}

/// Sent when a source fails (corrupt file, device unplugged). What was captured before stays.
#[derive(Message, Debug, Clone)]
pub struct CaptureFailed {
    pub session: Entity,
    pub message: String,
}

/// A stretch of a session without its input device (lost, then back or the capture stopped),
/// kept in the audio as silence so later audio keeps its time; the store marks it.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct CaptureGap {
    pub session: Entity,
    /// Where the silence starts and how long it is, in samples of the session.
    pub start: u64,
    pub samples: u64,
    /// What was lost and why.
    pub cause: String,
}

/// Set by the recogniser while its queue is full, so fast file sources wait instead of
/// decoding the whole file into memory ahead of it. Live sources ignore it.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct PipelineBackpressure(pub bool);

/// The session an utterance belongs to. A relationship: the session lists its utterances in
/// [`SessionUtterances`], and despawning the session despawns them.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[relationship(relationship_target = SessionUtterances)]
pub struct UtteranceOf(pub Entity);

/// A session's utterances, in the order they were cut (kept by Bevy from [`UtteranceOf`]).
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = UtteranceOf, linked_spawn)]
pub struct SessionUtterances(Vec<Entity>);

impl SessionUtterances {
    /// The utterances in session order (by [`Utterance::index`]; those that `index_and_text`
    /// does not know are left out), and how many lead them with their text: the prefix that
    /// can leave the world without a row coming out of order. `index_and_text` gives an
    /// utterance's index and whether it has its text.
    pub fn in_order(&self, index_and_text: impl Fn(Entity) -> Option<(u32, bool)>) -> (Vec<Entity>, usize) {
        let mut items: Vec<(u32, bool, Entity)> =
            self.0.iter().filter_map(|&e| index_and_text(e).map(|(i, done)| (i, done, e))).collect();
        items.sort_unstable_by_key(|&(i, ..)| i);
        let transcribed = items.iter().position(|&(_, done, _)| !done).unwrap_or(items.len());
        (items.into_iter().map(|(.., e)| e).collect(), transcribed)
    }
}

/// An utterance: a stretch of speech of one session, `start..end` in samples.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utterance {
    pub session: Entity,
    pub start: u64,
    pub end: u64,
    /// Position in the session (0, 1, 2, …), the order transcripts are shown in.
    pub index: u32,
}

impl Utterance {
    pub fn duration_secs(&self) -> f64 {
        samples_to_secs(self.end - self.start)
    }
}

/// What the VAD heard over an utterance.
#[derive(Component, Debug, Clone, Copy, PartialEq, Default)]
pub struct UtteranceVad {
    /// Mean speech probability of its frames.
    pub mean_probability: f32,
    /// Fraction of its frames in the VAD's speech: those from a region's first speech frame to
    /// its last (what the window's green band shows).
    pub speech_fraction: f32,
}

/// Where the VAD heard speech in an utterance's audio: `(from, to)` sample offsets into its
/// [`UtteranceAudio`] (after left-out pauses), in order. The recogniser checks its text against
/// it: speech the text does not reach is heard again.
#[derive(Component, Debug, Clone, Default, PartialEq, Eq)]
pub struct UtteranceSpeech(pub Vec<(u64, u64)>);

/// The utterance's audio, until it has been transcribed.
#[derive(Component, Debug, Clone)]
pub struct UtteranceAudio(pub Arc<[f32]>);

/// Pauses left out of a joined utterance's audio, as `(offset, removed)`: at `offset` samples
/// into the [`UtteranceAudio`], `removed` samples of the session were skipped. Recogniser times
/// are mapped back to session time through it.
#[derive(Component, Debug, Clone, Default, PartialEq, Eq)]
pub struct UtteranceGaps(pub Vec<(u64, u64)>);

impl UtteranceGaps {
    /// Session sample of the utterance audio's sample `offset`, for audio starting at `start`.
    pub fn to_session(&self, start: u64, offset: u64) -> u64 {
        start + offset + self.0.iter().filter(|g| g.0 <= offset).map(|g| g.1).sum::<u64>()
    }

    /// The last gap strictly inside `from..to` (offsets into the audio), if any.
    pub fn inside(&self, from: u64, to: u64) -> Option<u64> {
        self.0.iter().rev().map(|g| g.0).find(|&g| from < g && g < to)
    }

    /// The spans of session samples the audio of an utterance over `start..end` is made of, in
    /// order: the whole span less the pauses left out.
    pub fn pieces(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut pieces = Vec::with_capacity(self.0.len() + 1);
        let (mut from, mut removed) = (start, 0);
        for &(at, skip) in &self.0 {
            pieces.push((from, start + removed + at));
            removed += skip;
            from = start + removed + at;
        }
        pieces.push((from, end.max(from)));
        pieces
    }
}

/// On an utterance still waiting for the recogniser whose audio was let go from memory (a live
/// capture that transcription fell far behind): the store holds it, and the recogniser reads
/// it back through the [`AudioArchive`] when the utterance's turn comes. Its samples are
/// [`UtteranceGaps::pieces`] of the session stored as `stored_session`.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpilledAudio {
    pub stored_session: i64,
}

/// Reads spans of a stored session's audio back, on a recogniser's thread: `(stored session,
/// pieces)` to their samples, in order, or why they cannot be had. Provided by the store.
#[derive(Resource, Clone)]
#[expect(clippy::type_complexity, reason = "one closure type, said once")]
pub struct AudioArchive(pub Arc<dyn Fn(i64, &[(u64, u64)]) -> Result<Vec<f32>, String> + Send + Sync>);

impl std::fmt::Debug for AudioArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AudioArchive")
    }
}

/// The utterance has been handed to the recogniser.
#[derive(Component, Debug, Clone, Copy)]
pub struct TranscriptionPending {
    pub job: u64,
}

/// A recognised word, times in samples since the session started.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub start: u64,
    pub end: u64,
    pub text: String,
    /// Mean token probability.
    pub probability: f32,
}

/// The recogniser's result for an utterance.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub words: Vec<Word>,
    /// whisper's no-speech probability for the utterance.
    pub no_speech: f32,
    /// Set when the text looks like a hallucination (a known phantom phrase on weak audio).
    pub suspect: bool,
    /// Stretches of the utterance, in session samples, where the VAD heard speech that the
    /// recogniser, asked again, found no words in: someone it could not follow.
    pub unheard: Vec<(u64, u64)>,
}

/// Sent when an utterance's transcript is ready.
#[derive(Message, Debug, Clone)]
pub struct TranscriptReady {
    pub utterance: Entity,
}

/// The audio of a session's open utterance so far (live capture with partials on): the
/// segmenter sends it each time the utterance has grown by the partial interval, and the
/// recogniser decodes the newest one for a [`PartialTranscript`].
///
/// With `speculative` set, the speaker has just stopped (the VAD's first silence after speech)
/// and the audio runs from the utterance's start to now without gaps: the recogniser decodes it
/// as the final would be decoded, while the VAD's hangover waits to confirm the end. If the
/// utterance is then cut with nothing spoken after it (it carries a matching
/// [`SpeculativeFinal`]), that result is its final text.
#[derive(Message, Debug, Clone)]
pub struct OpenSpeech {
    pub session: Entity,
    /// Session sample where the open utterance starts (its identity while it grows).
    pub start: u64,
    pub audio: Arc<[f32]>,
    pub speculative: bool,
    /// A speculation's speech frames as offsets into `audio` (see [`UtteranceSpeech`]); empty
    /// for partials.
    pub speech: Vec<(u64, u64)>,
}

/// On an utterance: where its speech ends (session sample), by the VAD's decision: the end of
/// its last speech frame, before the hangover and end pad. Live latency counts from here.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechEnd(pub u64);

/// On an utterance: the speculative final decode of its audio up to this session sample
/// (sent as [`OpenSpeech`] with `speculative`) heard all of its speech, so its result can be
/// the utterance's final text.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeculativeFinal {
    /// Session sample where the speculative audio ended.
    pub end: u64,
}

/// What is being said now, before its utterance is final (on the session entity). `committed`
/// words were agreed by two consecutive decodes and are never rewritten; `tentative` ones may
/// still change. Never stored: the final [`Transcript`] of the utterance replaces it.
#[derive(Component, Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialTranscript {
    /// Session sample where its utterance starts.
    pub start: u64,
    pub committed: String,
    pub tentative: String,
    /// How many decodes it has been through.
    pub passes: u32,
}

impl PartialTranscript {
    /// The whole text: committed, then tentative.
    pub fn text(&self) -> String {
        match (self.committed.is_empty(), self.tentative.is_empty()) {
            (_, true) => self.committed.clone(),
            (true, false) => self.tentative.clone(),
            (false, false) => format!("{} {}", self.committed, self.tentative),
        }
    }
}

/// Sent when a session's [`PartialTranscript`] changed.
#[derive(Message, Debug, Clone)]
pub struct PartialReady {
    pub session: Entity,
}

/// Registers the shared messages and orders the pipeline stages in `Update`.
#[derive(Debug, Default)]
pub struct HarkCorePlugin;

impl Plugin for HarkCorePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<AudioChunk>()
            .add_message::<VadFrame>()
            .add_message::<SpeechEdge>()
            .add_message::<CaptureEnded>()
            .add_message::<CaptureFailed>()
            .add_message::<CaptureGap>()
            .add_message::<StopCapture>()
            .init_resource::<PipelineBackpressure>()
            .add_message::<TranscriptReady>()
            .add_message::<OpenSpeech>()
            .add_message::<PartialReady>()
            .configure_sets(
                Update,
                (
                    PipelineSystems::Control,
                    PipelineSystems::Capture,
                    PipelineSystems::Vad,
                    PipelineSystems::Segment,
                    PipelineSystems::Transcribe,
                    PipelineSystems::State,
                    PipelineSystems::Output,
                )
                    .chain(),
            )
            .add_systems(Update, advance_sessions.in_set(PipelineSystems::State));
    }
}
