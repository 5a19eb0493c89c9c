//! The writer thread: it alone owns the writable connection. Commands arrive over a channel and
//! are applied in batches, one transaction per batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use hark_core::Word;
use rusqlite::{Connection, params};

use crate::db::{self, StoreError, now_rfc3339, sql};

/// What the writer is asked to do.
#[derive(Debug)]
pub enum Command {
    CreateSession {
        title: String,
        source: String,
        model: String,
        settings: String,
        reply: Sender<Result<i64, String>>,
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
        state: &'static str,
    },
    /// Removes segments that never got a transcript (cut just before a crash).
    DropUntranscribed {
        session: i64,
    },
    Rename {
        session: i64,
        title: String,
        reply: Sender<Result<(), String>>,
    },
    Delete {
        session: i64,
        reply: Sender<Result<(), String>>,
    },
    /// Replies once everything before it is committed.
    Flush(Sender<()>),
    /// Commits, closes the connection, ends the thread, then replies.
    Close(Sender<()>),
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

/// A handle to the writer thread; cloning is cheap.
#[derive(bevy::prelude::Resource, Debug, Clone)]
pub struct Writer {
    tx: Sender<Command>,
    pub path: PathBuf,
}

impl Writer {
    /// Opens (creating if needed) the database and starts the writer thread. Sessions left in
    /// `recording` by a process that no longer runs are marked `interrupted` first.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = db::open(path)?;
        mark_interrupted(&conn, path)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let p = path.to_path_buf();
        std::thread::Builder::new()
            .name("hark-store".into())
            .spawn(move || run(conn, rx, p))
            .map_err(|e| StoreError::Open { path: path.to_path_buf(), msg: format!("writer thread: {e}") })?;
        Ok(Self { tx, path: path.to_path_buf() })
    }

    pub fn send(&self, c: Command) {
        if self.tx.send(c).is_err() {
            log::error!("{}", StoreError::WriterGone);
        }
    }

    /// Creates a session row and returns its id (waits for the writer).
    pub fn create_session(&self, title: &str, source: &str, model: &str, settings: &str) -> Result<i64, StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::CreateSession {
            title: title.into(),
            source: source.into(),
            model: model.into(),
            settings: settings.into(),
            reply,
        });
        rx.recv().map_err(|_| StoreError::WriterGone)?.map_err(|msg| StoreError::Open { path: self.path.clone(), msg })
    }

    pub fn rename(&self, session: i64, title: &str) -> Result<(), StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Rename { session, title: title.into(), reply });
        let r = rx.recv().map_err(|_| StoreError::WriterGone)?.map_err(StoreError::NotFound);
        // The reply comes before the commit; wait for it, so the caller may exit at once.
        self.flush();
        r
    }

    pub fn delete(&self, session: i64) -> Result<(), StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Delete { session, reply });
        let r = rx.recv().map_err(|_| StoreError::WriterGone)?.map_err(StoreError::NotFound);
        self.flush();
        r
    }

    /// Commits everything, closes the database and waits until the connection is gone.
    pub fn close(self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Close(tx));
        let _ = rx.recv();
    }

    /// Waits until every command sent so far is committed.
    pub fn flush(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Flush(tx));
        let _ = rx.recv();
    }
}

fn pid_alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn mark_interrupted(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mut st = conn.prepare("SELECT id, pid FROM sessions WHERE state = 'recording'").map_err(|e| sql(path, e))?;
    let stale: Vec<i64> = st
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)))
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(|e| sql(path, e))?
        .into_iter()
        .filter(|&(_, pid)| pid.is_none_or(|p| p == std::process::id() as i64 || !pid_alive(p)))
        .map(|(id, _)| id)
        .collect();
    for id in stale {
        conn.execute("UPDATE sessions SET state = 'interrupted', pid = NULL WHERE id = ?1", [id])
            .map_err(|e| sql(path, e))?;
        log::warn!("session {id} was interrupted while recording; `hark sessions recover` transcribes the rest");
    }
    Ok(())
}

fn run(mut conn: Connection, rx: Receiver<Command>, path: PathBuf) {
    let mut closing = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(256));
        let mut flushes = Vec::new();
        if let Some(i) = batch.iter().position(|c| matches!(c, Command::Close(_))) {
            if let Command::Close(reply) = batch.remove(i) {
                closing = Some(reply);
            }
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for c in batch {
                apply(&tx, c, &mut flushes)?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            log::error!("{}", sql(&path, e));
        }
        for f in flushes {
            let _ = f.send(());
        }
        if closing.is_some() {
            break;
        }
    }
    drop(conn);
    if let Some(reply) = closing {
        let _ = reply.send(());
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, c: Command, flushes: &mut Vec<Sender<()>>) -> rusqlite::Result<()> {
    match c {
        Command::CreateSession { title, source, model, settings, reply } => {
            let r = tx.execute(
                "INSERT INTO sessions (title, created_at, source, model, settings, state, pid)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'recording', ?6)",
                params![title, now_rfc3339(), source, model, settings, std::process::id() as i64],
            );
            let _ = reply.send(r.map(|_| tx.last_insert_rowid()).map_err(|e| e.to_string()));
        }
        Command::Audio { session, start, samples } => {
            let mut blob = Vec::with_capacity(samples.len() * 4);
            for s in samples.iter() {
                blob.extend_from_slice(&s.to_le_bytes());
            }
            tx.execute(
                "INSERT OR REPLACE INTO audio (session_id, start_sample, samples) VALUES (?1, ?2, ?3)",
                params![session, start as i64, blob],
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
                params![session, idx, start as i64, end as i64, vad_mean, vad_speech],
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
            let pid: Option<i64> = (state == "recording").then_some(std::process::id() as i64);
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
            let _ = reply.send(if n == 1 { Ok(()) } else { Err(format!("there is no session {session}")) });
        }
        Command::Delete { session, reply } => {
            let n = tx.execute("DELETE FROM sessions WHERE id = ?1", [session])?;
            let _ = reply.send(if n == 1 { Ok(()) } else { Err(format!("there is no session {session}")) });
        }
        Command::Flush(tx) => flushes.push(tx),
        Command::Close(tx) => flushes.push(tx),
    }
    Ok(())
}
