//! Sessions in SQLite: every capture is saved as it happens (audio at least every half second
//! of audio, utterances as they are cut, transcripts as they arrive), searchable with FTS5,
//! and never lost to a crash.
//!
//! The writable connection is owned by a writer thread ([`writer::Writer`]); the ECS only sends
//! it commands. Reads go through their own read-only connection ([`db::Reader`]).

pub mod browse;
pub mod codec;
mod command;
pub mod db;
pub mod writer;

use bevy::prelude::*;
use std::sync::Arc;

use hark_core::{
    AudioArchive, AudioChunk, CaptureEnded, CaptureGap, LiveLatency, PipelineSystems, Session, SessionClock,
    SessionState, SpilledAudio, Transcript, TranscriptReady, TranscriptionPending, Utterance, UtteranceAudio,
    UtteranceVad,
};

pub use browse::{BrowsePlugin, BrowseRequest, Browser, Browsing, OpenedSession};
pub use db::{GapRow, Reader, SearchHit, SegmentRow, SessionRow, StoreError, VersionRow};
pub use writer::{Command, NewSegment, Writer};

/// The database row of a session entity.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSession(pub i64);

/// What new sessions are saved with.
#[derive(Resource, Debug, Clone, Default)]
pub struct StoreContext {
    pub model: String,
    /// JSON of the settings used.
    pub settings: String,
}

/// Audio is sent to the writer whenever this much has gathered (0.5 s).
pub const AUDIO_FLUSH_SAMPLES: usize = hark_core::SAMPLE_RATE as usize / 2;

/// The store plugin; insert the [`Writer`] resource to enable it.
#[derive(Debug, Default)]
pub struct StorePlugin;

impl Plugin for StorePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StoreContext>().init_resource::<WaitingAudio>().add_systems(
            Update,
            (
                register_sessions,
                store_audio,
                store_segments,
                spill_waiting_audio,
                store_transcripts,
                store_gaps,
                store_states,
            )
                .chain()
                .in_set(PipelineSystems::Output)
                .run_if(resource_exists::<Writer>),
        );
    }
}

/// A session gets its row with its first audio: input refused before any audio arrived (an
/// empty file, a microphone that fails to start) leaves no session behind.
fn register_sessions(
    mut commands: Commands,
    writer: Res<Writer>,
    ctx: Res<StoreContext>,
    new: Query<(Entity, &Session, &SessionClock), Without<StoredSession>>,
) {
    for (e, s, clock) in &new {
        if clock.captured == 0 {
            continue;
        }
        let title = std::path::Path::new(&s.source)
            .file_name()
            .filter(|_| s.kind.is_file())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| s.source.clone());
        match writer.create_session(&title, s.kind, &s.source, &ctx.model, &ctx.settings) {
            Ok(id) => {
                commands.entity(e).insert((StoredSession(id), UnsentAudio::default()));
            }
            Err(err) => error!("session not saved: {err}"),
        }
    }
}

/// A saved session's audio not yet sent to the writer (under half a second of it).
#[derive(Component, Debug, Default)]
pub struct UnsentAudio {
    start: u64,
    samples: Vec<f32>,
}

fn store_audio(
    writer: Res<Writer>,
    mut chunks: MessageReader<AudioChunk>,
    mut ended: MessageReader<CaptureEnded>,
    mut sessions: Query<(&StoredSession, &mut UnsentAudio)>,
) {
    for c in chunks.read() {
        let Ok((id, mut p)) = sessions.get_mut(c.session) else { continue };
        if p.samples.is_empty() {
            p.start = c.start;
        }
        p.samples.extend_from_slice(&c.samples);
        if p.samples.len() >= AUDIO_FLUSH_SAMPLES {
            writer.send(Command::Audio {
                session: id.0,
                start: p.start,
                samples: std::mem::take(&mut p.samples).into(),
            });
        }
    }
    for e in ended.read() {
        let Ok((id, mut p)) = sessions.get_mut(e.session) else { continue };
        if !p.samples.is_empty() {
            let samples = std::mem::take(&mut p.samples);
            writer.send(Command::Audio { session: id.0, start: p.start, samples: samples.into() });
        }
    }
}

/// How much of a live session's audio waiting for the recogniser stays in memory (seconds).
/// When transcription falls further behind (a model slower than speech), the audio of later
/// utterances is let go once the writer has it, and read back from the database when their turn
/// comes ([`SpilledAudio`]): a backlog of any length holds this much audio, and the utterance
/// not yet written, not all of it.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct WaitingAudio {
    pub keep_secs: f64,
}

impl Default for WaitingAudio {
    fn default() -> Self {
        // 1.9 MB of samples: some minutes of speech at the rate a slow model falls behind.
        Self { keep_secs: 30.0 }
    }
}

/// Utterances cut and not yet sent to the recogniser.
type WaitingForText = (Without<TranscriptionPending>, Without<Transcript>);

/// Lets go of the audio of a live session's waiting utterances beyond [`WaitingAudio`], oldest
/// kept (they go to the recogniser first). Only audio already sent to the writer, and only
/// while the database takes what it is sent: otherwise the audio may not be there to read back.
fn spill_waiting_audio(
    mut commands: Commands,
    writer: Res<Writer>,
    keep: Res<WaitingAudio>,
    archive: Option<Res<AudioArchive>>,
    sessions: Query<(&Session, &StoredSession, &UnsentAudio)>,
    waiting: Query<(Entity, &Utterance, &UtteranceAudio), WaitingForText>,
) {
    let keep = hark_core::secs_to_samples(keep.keep_secs);
    let mut queue: Vec<_> = waiting
        .iter()
        .filter(|(_, u, _)| sessions.get(u.session).is_ok_and(|(s, ..)| s.kind.is_live()))
        .map(|(e, u, a)| (u.session, u.index, e, u.end, a.0.len() as u64))
        .collect();
    if queue.iter().map(|q| q.4).sum::<u64>() <= keep || writer.health().is_some() {
        return;
    }
    queue.sort_unstable();
    let mut archive_there = archive.is_some();
    let (mut session, mut kept) = (Entity::PLACEHOLDER, 0);
    for (s, _, e, end, len) in queue {
        if s != session {
            (session, kept) = (s, 0);
        }
        kept += len;
        let Ok((_, id, unsent)) = sessions.get(s) else { continue };
        if kept <= keep || (!unsent.samples.is_empty() && end > unsent.start) {
            continue;
        }
        if !archive_there {
            commands.insert_resource(archive_of(&writer));
            archive_there = true;
        }
        commands.entity(e).remove::<UtteranceAudio>().insert(SpilledAudio { stored_session: id.0 });
    }
}

/// Reads spilled audio back from the writer's database, once everything sent to the writer
/// before is committed.
fn archive_of(writer: &Writer) -> AudioArchive {
    let (path, flusher) = (writer.path.clone(), writer.flusher());
    AudioArchive(Arc::new(move |session, pieces| {
        // Audio committed before a fault is there even when this flush is not.
        flusher.wait();
        let reader = Reader::open(&path).map_err(|e| e.to_string())?;
        let mut audio = Vec::with_capacity(pieces.iter().map(|(a, b)| (b - a) as usize).sum());
        for &(from, to) in pieces {
            let got = reader.audio_range(session, from, (to - from) as usize).map_err(|e| e.to_string())?;
            if (got.len() as u64) < to - from {
                return Err(format!(
                    "{} holds session {session}'s audio only up to sample {}",
                    path.display(),
                    from + got.len() as u64
                ));
            }
            audio.extend(got);
        }
        Ok(audio)
    }))
}

fn store_segments(
    writer: Res<Writer>,
    new: Query<(&Utterance, Option<&UtteranceVad>), Added<Utterance>>,
    ids: Query<&StoredSession>,
) {
    for (u, vad) in &new {
        if let Ok(id) = ids.get(u.session) {
            let vad = vad.copied().unwrap_or_default();
            writer.send(Command::Segment {
                session: id.0,
                idx: u.index,
                start: u.start,
                end: u.end,
                vad_mean: vad.mean_probability,
                vad_speech: vad.speech_fraction,
            });
        }
    }
}

fn store_transcripts(
    writer: Res<Writer>,
    ctx: Res<StoreContext>,
    mut ready: MessageReader<TranscriptReady>,
    q: Query<(&Utterance, &Transcript)>,
    ids: Query<&StoredSession>,
) {
    for r in ready.read() {
        let Ok((u, t)) = q.get(r.utterance) else { continue };
        let Ok(id) = ids.get(u.session) else { continue };
        writer.send(Command::Transcript {
            session: id.0,
            idx: u.index,
            text: t.text.clone(),
            words: t.words.clone(),
            no_speech: t.no_speech,
            suspect: t.suspect,
            unheard: t.unheard.clone(),
            model: ctx.model.clone(),
            settings: ctx.settings.clone(),
        });
    }
}

/// A stretch without the input device is marked (its silence is in the audio).
fn store_gaps(writer: Res<Writer>, mut gaps: MessageReader<CaptureGap>, ids: Query<&StoredSession>) {
    for g in gaps.read() {
        if let Ok(id) = ids.get(g.session) {
            writer.send(Command::Gap { session: id.0, start: g.start, samples: g.samples, cause: g.cause.clone() });
        }
    }
}

/// The row follows the session's state (its audio and transcripts were sent before: the
/// writer applies commands in order), also when the row was created after the state moved.
type StateNews = Or<(Changed<SessionState>, Added<StoredSession>)>;

fn store_states(
    writer: Res<Writer>,
    sessions: Query<(&StoredSession, &SessionState, Option<&LiveLatency>), StateNews>,
) {
    for (id, state, latency) in &sessions {
        if *state != SessionState::Recording {
            // A live session's latency figures, as they stand when it stops and when its last
            // text is in.
            if let Some(l) = latency.filter(|l| !l.finals_ms.is_empty())
                && let Ok(json) = serde_json::to_string(&l.summary())
            {
                writer.send(Command::Latency { session: id.0, json });
            }
            writer.send(Command::SetState { session: id.0, state: *state });
        }
    }
}
