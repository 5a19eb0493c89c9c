//! The commands the writer thread applies, and how each one changes the database.

use std::sync::Arc;

use crossbeam_channel::Sender;
use hark_core::{SessionState, SourceKind, Word};
use rusqlite::{OptionalExtension, params};

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
        /// Speech heard again without words (session samples).
        unheard: Vec<(u64, u64)>,
        model: String,
        settings: String,
    },
    SetState {
        session: i64,
        state: SessionState,
    },
    /// A live session's latency figures (JSON of `hark_core::LatencySummary`).
    Latency {
        session: i64,
        json: String,
    },
    /// A stretch without the input device (`hark_core::CaptureGap`).
    Gap {
        session: i64,
        start: u64,
        samples: u64,
        cause: String,
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
    /// A new transcript version of a finished session (a re-run), written in one transaction
    /// and replied with its number. With a `span` (samples), only that span was re-run: the
    /// current version's segments wholly outside it are carried over. The current version does
    /// not change ([`Command::UseVersion`] does that).
    AddVersion {
        session: i64,
        model: String,
        settings: String,
        span: Option<(u64, u64)>,
        segments: Vec<NewSegment>,
        reply: Sender<Result<i64, StoreError>>,
    },
    /// Makes a version the one shown, searched and exported.
    UseVersion {
        session: i64,
        version: i64,
        reply: Sender<Result<(), StoreError>>,
    },
    /// Replies once everything before it is committed, or with what keeps it from being so.
    Flush(Sender<Result<(), StoreError>>),
    /// Commits, closes the connection, ends the thread, then replies.
    Close(Sender<Result<(), StoreError>>),
}

/// A segment of a new version with its transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSegment {
    pub start: u64,
    pub end: u64,
    pub vad_mean: f32,
    pub vad_speech: f32,
    pub text: String,
    pub words: Vec<Word>,
    pub no_speech: f32,
    pub suspect: bool,
    /// Speech heard again without words (session samples).
    pub unheard: Vec<(u64, u64)>,
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
            unheard: Vec::new(),
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
            Self::Latency { .. } => "latency figures",
            Self::Gap { .. } => "gap",
            Self::DropUntranscribed { .. } => "clean-up",
            Self::Rename { .. } => "rename",
            Self::Delete { .. } => "delete",
            Self::AddVersion { .. } => "transcript version",
            Self::UseVersion { .. } => "choice of version",
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
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO versions (session_id, version, model, settings, created_at)
                 SELECT id, 1, model, settings, created_at FROM sessions WHERE id = ?1",
                [id],
            )?;
            return Ok(Some(Reply::Id(reply.clone(), Ok(id))));
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
        Command::Transcript { session, idx, text, words, no_speech, suspect, unheard, model, settings } => {
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
                "INSERT INTO transcripts (segment_id, version, text, words, no_speech, suspect, model, settings, created_at, unheard)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    seg,
                    version,
                    text,
                    serde_json::to_string(&words).unwrap_or_else(|_| "[]".into()),
                    no_speech,
                    suspect,
                    model,
                    settings,
                    now_rfc3339(),
                    serde_json::to_string(&unheard).unwrap_or_else(|_| "[]".into())
                ],
            )?;
        }
        Command::SetState { session, state } => {
            let pid: Option<i64> = (*state == SessionState::Recording).then_some(std::process::id() as i64);
            tx.execute("UPDATE sessions SET state = ?2, pid = ?3 WHERE id = ?1", params![session, state, pid])?;
        }
        Command::Latency { session, json } => {
            tx.execute("UPDATE sessions SET latency = ?2 WHERE id = ?1", params![session, json])?;
        }
        Command::Gap { session, start, samples, cause } => {
            tx.execute(
                "INSERT OR REPLACE INTO gaps (session_id, start_sample, samples, cause) VALUES (?1, ?2, ?3, ?4)",
                params![session, *start as i64, *samples as i64, cause],
            )?;
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
        Command::AddVersion { session, model, settings, span, segments, reply } => {
            let r = add_version(tx, *session, model, settings, *span, segments)?;
            return Ok(Some(Reply::Id(reply.clone(), r)));
        }
        Command::UseVersion { session, version, reply } => {
            let known: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM versions WHERE session_id = ?1 AND version = ?2",
                    params![session, version],
                    |r| r.get(0),
                )
                .optional()?;
            let r = if known.is_some() {
                tx.execute("UPDATE sessions SET current_version = ?2 WHERE id = ?1", params![session, version])?;
                Ok(())
            } else if session_exists(tx, *session)? {
                Err(StoreError::NoVersion { session: *session, version: *version })
            } else {
                Err(StoreError::NoSession(*session))
            };
            return Ok(Some(Reply::Done(reply.clone(), r)));
        }
        Command::Flush(_) | Command::Close(_) => {}
    }
    Ok(None)
}

fn session_exists(tx: &rusqlite::Savepoint<'_>, session: i64) -> rusqlite::Result<bool> {
    Ok(tx.query_row("SELECT 1 FROM sessions WHERE id = ?1", [session], |r| r.get::<_, i64>(0)).optional()?.is_some())
}

/// A segment as stored: where it is, its VAD figures and its transcript's columns.
struct StoredSegment {
    start: i64,
    end: i64,
    vad_mean: f64,
    vad_speech: f64,
    text: String,
    words: String,
    no_speech: f64,
    suspect: bool,
    unheard: String,
}

fn add_version(
    tx: &rusqlite::Savepoint<'_>,
    session: i64,
    model: &str,
    settings: &str,
    span: Option<(u64, u64)>,
    segments: &[NewSegment],
) -> rusqlite::Result<Result<i64, StoreError>> {
    let Some((current, next_idx)) = tx
        .query_row(
            "SELECT current_version, (SELECT coalesce(max(idx), -1) + 1 FROM segments WHERE session_id = ?1)
             FROM sessions WHERE id = ?1",
            [session],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .optional()?
    else {
        return Ok(Err(StoreError::NoSession(session)));
    };
    let version: i64 =
        tx.query_row("SELECT coalesce(max(version), 0) + 1 FROM versions WHERE session_id = ?1", [session], |r| {
            r.get(0)
        })?;
    tx.execute(
        "INSERT INTO versions (session_id, version, model, settings, created_at, from_sample, to_sample)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![session, version, model, settings, now_rfc3339(), span.map(|s| s.0 as i64), span.map(|s| s.1 as i64)],
    )?;
    let mut all: Vec<StoredSegment> = segments
        .iter()
        .map(|g| StoredSegment {
            start: g.start as i64,
            end: g.end as i64,
            vad_mean: f64::from(g.vad_mean),
            vad_speech: f64::from(g.vad_speech),
            text: g.text.clone(),
            words: serde_json::to_string(&g.words).unwrap_or_else(|_| "[]".into()),
            no_speech: f64::from(g.no_speech),
            suspect: g.suspect,
            unheard: serde_json::to_string(&g.unheard).unwrap_or_else(|_| "[]".into()),
        })
        .collect();
    if let Some((from, to)) = span {
        // What was not re-run stays as the current version has it.
        let mut st = tx.prepare(
            "SELECT g.start_sample, g.end_sample, g.vad_mean, g.vad_speech, t.text, t.words, t.no_speech, t.suspect,
                    t.unheard
             FROM segments g JOIN transcripts t ON t.segment_id = g.id
             WHERE g.session_id = ?1 AND g.version = ?2 AND (g.end_sample <= ?3 OR g.start_sample >= ?4)
               AND t.version = (SELECT max(version) FROM transcripts WHERE segment_id = g.id)",
        )?;
        let kept = st.query_map(params![session, current, from as i64, to as i64], |r| {
            Ok(StoredSegment {
                start: r.get(0)?,
                end: r.get(1)?,
                vad_mean: r.get(2)?,
                vad_speech: r.get(3)?,
                text: r.get(4)?,
                words: r.get(5)?,
                no_speech: r.get(6)?,
                suspect: r.get(7)?,
                unheard: r.get(8)?,
            })
        })?;
        for g in kept {
            all.push(g?);
        }
    }
    all.sort_by_key(|g| (g.start, g.end));
    let created = now_rfc3339();
    for (i, g) in all.iter().enumerate() {
        tx.execute(
            "INSERT INTO segments (session_id, idx, start_sample, end_sample, vad_mean, vad_speech, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![session, next_idx + i as i64, g.start, g.end, g.vad_mean, g.vad_speech, version],
        )?;
        tx.execute(
            "INSERT INTO transcripts (segment_id, version, text, words, no_speech, suspect, model, settings, created_at, unheard)
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![tx.last_insert_rowid(), g.text, g.words, g.no_speech, g.suspect, model, settings, created, g.unheard],
        )?;
    }
    Ok(Ok(version))
}
