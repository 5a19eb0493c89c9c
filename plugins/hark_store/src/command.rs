//! The commands the writer thread applies, and how each one changes the database.

use std::sync::Arc;

use crossbeam_channel::Sender;
use hark_core::{SessionState, SourceKind, Word};
use rusqlite::params;

use crate::db::{StoreError, now_rfc3339};

/// What the writer is asked to do.
#[derive(Debug)]
pub enum Command {
    CreateSession {
        title: String,
        kind: SourceKind,
        source: String,
        model: String,
        settings: String,
        reply: Sender<Result<i64, StoreError>>,
    },
    Audio {
        session: i64,
        start: u64,
        samples: Arc<[f32]>,
    },
    /// An utterance, with the VAD's mean probability and speech fraction over it.
    Segment {
        session: i64,
        idx: u32,
        start: u64,
        end: u64,
        vad_mean: f32,
        vad_speech: f32,
    },
    Transcript {
        session: i64,
        idx: u32,
        text: String,
        words: Vec<Word>,
        no_speech: f32,
        suspect: bool,
        model: String,
        settings: String,
    },
    SetState {
        session: i64,
        state: SessionState,
    },
    /// Removes segments that never got a transcript (cut just before a crash).
    DropUntranscribed {
        session: i64,
    },
    Rename {
        session: i64,
        title: String,
        reply: Sender<Result<(), StoreError>>,
    },
    Delete {
        session: i64,
        reply: Sender<Result<(), StoreError>>,
    },
    /// Replies once everything before it is committed, or with what keeps it from being so.
    Flush(Sender<Result<(), StoreError>>),
    /// Commits, closes the connection, ends the thread, then replies.
    Close(Sender<Result<(), StoreError>>),
}

impl Command {
    /// A transcript with text only (no word timings), as tools and benchmarks store them.
    pub fn text_transcript(session: i64, idx: u32, text: String, model: &str) -> Self {
        Self::Transcript {
            session,
            idx,
            text,
            words: Vec::new(),
            no_speech: 0.0,
            suspect: false,
            model: model.into(),
            settings: "{}".into(),
        }
    }
}

/// A reply held back until its command is committed.
pub(crate) enum Reply {
    Id(Sender<Result<i64, StoreError>>, Result<i64, StoreError>),
    Done(Sender<Result<(), StoreError>>, Result<(), StoreError>),
}

impl Reply {
    pub(crate) fn send(self) {
        match self {
            Self::Id(tx, r) => {
                let _ = tx.send(r);
            }
            Self::Done(tx, r) => {
                let _ = tx.send(r);
            }
        }
    }
}

impl Command {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::CreateSession { .. } => "new session",
            Self::Audio { .. } => "piece of audio",
            Self::Segment { .. } => "segment",
            Self::Transcript { .. } => "transcript",
            Self::SetState { .. } => "session state",
            Self::DropUntranscribed { .. } => "clean-up",
            Self::Rename { .. } => "rename",
            Self::Delete { .. } => "delete",
            Self::Flush(_) | Self::Close(_) => "flush",
        }
    }
}

pub(crate) fn apply(tx: &rusqlite::Savepoint<'_>, c: &Command) -> rusqlite::Result<Option<Reply>> {
    match c {
        Command::CreateSession { title, kind, source, model, settings, reply } => {
            tx.execute(
                "INSERT INTO sessions (title, created_at, source, kind, model, settings, state, pid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    title,
                    now_rfc3339(),
                    source,
                    kind,
                    model,
                    settings,
                    SessionState::Recording,
                    std::process::id() as i64
                ],
            )?;
            return Ok(Some(Reply::Id(reply.clone(), Ok(tx.last_insert_rowid()))));
        }
        Command::Audio { session, start, samples } => {
            let (codec, blob) = crate::codec::encode(samples);
            tx.execute(
                "INSERT OR REPLACE INTO audio (session_id, start_sample, codec, frames, samples) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session, *start as i64, codec as i64, samples.len() as i64, blob],
            )?;
            tx.execute(
                "UPDATE sessions SET samples = max(samples, ?2) WHERE id = ?1",
                params![session, (start + samples.len() as u64) as i64],
            )?;
        }
        Command::Segment { session, idx, start, end, vad_mean, vad_speech } => {
            tx.execute(
                "INSERT OR REPLACE INTO segments (session_id, idx, start_sample, end_sample, vad_mean, vad_speech)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, idx, *start as i64, *end as i64, vad_mean, vad_speech],
            )?;
        }
        Command::Transcript { session, idx, text, words, no_speech, suspect, model, settings } => {
            let seg: i64 = tx.query_row(
                "SELECT id FROM segments WHERE session_id = ?1 AND idx = ?2",
                params![session, idx],
                |r| r.get(0),
            )?;
            let version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM transcripts WHERE segment_id = ?1",
                [seg],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO transcripts (segment_id, version, text, words, no_speech, suspect, model, settings, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    seg,
                    version,
                    text,
                    serde_json::to_string(&words).unwrap_or_else(|_| "[]".into()),
                    no_speech,
                    suspect,
                    model,
                    settings,
                    now_rfc3339()
                ],
            )?;
        }
        Command::SetState { session, state } => {
            let pid: Option<i64> = (*state == SessionState::Recording).then_some(std::process::id() as i64);
            tx.execute("UPDATE sessions SET state = ?2, pid = ?3 WHERE id = ?1", params![session, state, pid])?;
        }
        Command::DropUntranscribed { session } => {
            tx.execute(
                "DELETE FROM segments WHERE session_id = ?1 AND id NOT IN (SELECT segment_id FROM transcripts)",
                [session],
            )?;
        }
        Command::Rename { session, title, reply } => {
            let n = tx.execute("UPDATE sessions SET title = ?2 WHERE id = ?1", params![session, title])?;
            let r = if n == 1 { Ok(()) } else { Err(StoreError::NoSession(*session)) };
            return Ok(Some(Reply::Done(reply.clone(), r)));
        }
        Command::Delete { session, reply } => {
            let n = tx.execute("DELETE FROM sessions WHERE id = ?1", [session])?;
            let r = if n == 1 { Ok(()) } else { Err(StoreError::NoSession(*session)) };
            return Ok(Some(Reply::Done(reply.clone(), r)));
        }
        Command::Flush(_) | Command::Close(_) => {}
    }
    Ok(None)
}
