//! The writer thread: it alone owns the writable connection. Commands arrive over a channel and
//! are applied in batches, one transaction per batch, each command in its own savepoint.
//!
//! What is promised:
//! - A command that fails on its own data (a transcript for a segment that was deleted) fails
//!   alone; the rest of its batch is committed.
//! - When the database cannot be written (disk full, read-only, locked, its write-ahead log
//!   removed), nothing is dropped: the batch is kept in memory, in order, and tried again every
//!   half second and with every new command, until it commits. [`Writer::health`] says what is
//!   wrong meanwhile, and [`Writer::flush`] and [`Writer::close`] return an error naming it.
//! - Replies (a new session's id, rename, delete) are sent after their commit, so an id handed
//!   out always exists.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use hark_core::{SessionState, SourceKind, Word};
use rusqlite::{Connection, params};

use crate::db::{self, StoreError, now_rfc3339, sql};

/// What the writer is asked to do.
#[derive(Debug)]
pub enum Command {
    CreateSession {
        title: String,
        kind: SourceKind,
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
        state: SessionState,
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
    /// Replies once everything before it is committed, or with what keeps it from being so.
    Flush(Sender<Result<(), String>>),
    /// Commits, closes the connection, ends the thread, then replies.
    Close(Sender<Result<(), String>>),
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

/// What the writer thread reports about saving: `None` while everything sent is committed.
#[derive(Debug, Default)]
struct Health {
    problem: Option<String>,
    /// Samples of audio waiting in memory for the database.
    unsaved_samples: u64,
}

/// A handle to the writer thread; cloning is cheap.
#[derive(bevy::prelude::Resource, Debug, Clone)]
pub struct Writer {
    tx: Sender<Command>,
    pub path: PathBuf,
    health: Arc<Mutex<Health>>,
}

impl Writer {
    /// Opens (creating if needed) the database and starts the writer thread. Sessions left in
    /// `recording` by a process that no longer runs are marked `interrupted` first.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = db::open(path)?;
        mark_interrupted(&conn, path)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let p = path.to_path_buf();
        let health = Arc::new(Mutex::new(Health::default()));
        let h = health.clone();
        std::thread::Builder::new()
            .name("hark-store".into())
            .spawn(move || run(conn, rx, p, h))
            .map_err(|e| StoreError::Open { path: path.to_path_buf(), msg: format!("writer thread: {e}") })?;
        Ok(Self { tx, path: path.to_path_buf(), health })
    }

    /// What keeps the database from being written, and how much audio waits in memory
    /// (seconds), or `None` when everything sent so far is saved.
    pub fn health(&self) -> Option<(String, f64)> {
        let h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        h.problem.clone().map(|p| (p, h.unsaved_samples as f64 / hark_core::SAMPLE_RATE as f64))
    }

    pub fn send(&self, c: Command) {
        if self.tx.send(c).is_err() {
            log::error!("{}", StoreError::WriterGone);
        }
    }

    /// Creates a session row and returns its id (waits for the writer).
    pub fn create_session(
        &self,
        title: &str,
        kind: SourceKind,
        source: &str,
        model: &str,
        settings: &str,
    ) -> Result<i64, StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::CreateSession {
            title: title.into(),
            kind,
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
        rx.recv().map_err(|_| StoreError::WriterGone)?.map_err(StoreError::NotFound)
    }

    pub fn delete(&self, session: i64) -> Result<(), StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Delete { session, reply });
        rx.recv().map_err(|_| StoreError::WriterGone)?.map_err(StoreError::NotFound)
    }

    /// Commits everything, closes the database and waits until the connection is gone. An
    /// error names what could not be saved (it is lost with the process).
    pub fn close(self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Close(tx));
        rx.recv()
            .map_err(|_| StoreError::WriterGone)?
            .map_err(|msg| StoreError::NotSaved { path: self.path.clone(), msg })
    }

    /// Waits until every command sent so far is committed, or the writer has tried and cannot
    /// (the error says why; the commands stay queued and are tried again).
    /// A handle another thread can wait on until what was sent so far is committed.
    pub fn flusher(&self) -> Flusher {
        Flusher(self.tx.clone())
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Flush(tx));
        rx.recv()
            .map_err(|_| StoreError::WriterGone)?
            .map_err(|msg| StoreError::NotSaved { path: self.path.clone(), msg })
    }
}

/// Waits, on any thread, until the commands a [`Writer`] was sent before are committed (or
/// could not be).
#[derive(Debug, Clone)]
pub struct Flusher(Sender<Command>);

impl Flusher {
    /// Blocks until the writer has handled everything sent before; false when it could not
    /// commit it (it keeps it and tries again) or has stopped.
    pub fn wait(&self) -> bool {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.0.send(Command::Flush(tx)).is_ok() && matches!(rx.recv(), Ok(Ok(())))
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

/// Whether an error is the database's (cannot be written now) rather than the command's.
fn is_storage_error(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            C::DiskFull
                | C::SystemIoFailure
                | C::ReadOnly
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::CannotOpen
                | C::PermissionDenied
                | C::OutOfMemory
                | C::FileLockingProtocolFailed
                | C::DatabaseCorrupt
                | C::NotADatabase
        ),
        _ => false,
    }
}

/// A reply held back until its command is committed.
enum Reply {
    Id(Sender<Result<i64, String>>, Result<i64, String>),
    Done(Sender<Result<(), String>>, Result<(), String>),
}

impl Reply {
    fn send(self, failed: Option<&str>) {
        match self {
            Self::Id(tx, r) => {
                let _ = tx.send(failed.map_or(r, |m| Err(m.to_owned())));
            }
            Self::Done(tx, r) => {
                let _ = tx.send(failed.map_or(r, |m| Err(m.to_owned())));
            }
        }
    }
}

fn audio_samples(c: &Command) -> u64 {
    if let Command::Audio { samples, .. } = c { samples.len() as u64 } else { 0 }
}

/// One transaction over `batch`. Returns the held-back replies, or a storage error (the
/// transaction rolled back).
fn commit_batch(conn: &mut Connection, batch: &[Command], path: &Path) -> rusqlite::Result<Vec<Reply>> {
    let mut tx = conn.transaction()?;
    let mut replies = Vec::new();
    for c in batch {
        let mut sp = tx.savepoint()?;
        match apply(&sp, c) {
            Ok(r) => {
                sp.commit()?;
                replies.extend(r);
            }
            Err(e) if is_storage_error(&e) => return Err(e),
            Err(e) => {
                // This command's own data is wrong: it fails alone.
                sp.rollback()?;
                drop(sp);
                log::error!("{}: a {} was not saved: {e}", path.display(), c.kind());
                match c {
                    Command::CreateSession { reply, .. } => replies.push(Reply::Id(reply.clone(), Err(e.to_string()))),
                    Command::Rename { reply, .. } | Command::Delete { reply, .. } => {
                        replies.push(Reply::Done(reply.clone(), Err(e.to_string())))
                    }
                    _ => {}
                }
            }
        }
    }
    tx.commit()?;
    Ok(replies)
}

/// After a commit: a write-ahead log removed by another program takes every later commit with
/// it. Copy what it holds into the database file and start a new log.
fn check_wal(conn: &mut Connection, path: &Path) -> Result<(), String> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Ok(());
    }
    log::warn!("{}-wal was removed by another program; saving it into the database", path.display());
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| format!("its write-ahead log was removed and could not be saved back: {e}"))?;
    *conn = db::open(path).map_err(|e| e.to_string())?;
    Ok(())
}

fn run(mut conn: Connection, rx: Receiver<Command>, path: PathBuf, health: Arc<Mutex<Health>>) {
    // Commands whose commit failed for the database's sake, in order, to be tried again.
    let mut waiting: Vec<Command> = Vec::new();
    let mut closing = None;
    loop {
        let first = if waiting.is_empty() {
            match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(c) => Some(c),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    if closing.is_none() {
                        // Nobody can hear about it any more; one last try below, then stop.
                        closing = Some(None);
                    }
                    None
                }
            }
        };
        let mut batch = std::mem::take(&mut waiting);
        batch.extend(first);
        batch.extend(rx.try_iter().take(256));
        let mut flushes = Vec::new();
        batch.retain(|c| match c {
            Command::Flush(tx) => {
                flushes.push(tx.clone());
                false
            }
            Command::Close(tx) => {
                closing = Some(Some(tx.clone()));
                false
            }
            _ => true,
        });
        let outcome = commit_batch(&mut conn, &batch, &path)
            .map_err(|e| db::sql(&path, e).to_string())
            .and_then(|replies| check_wal(&mut conn, &path).map(|()| replies));
        let problem = match outcome {
            Ok(replies) => {
                replies.into_iter().for_each(|r| r.send(None));
                None
            }
            Err(msg) => {
                log::error!("{msg}; {} command(s) kept in memory and tried again", batch.len());
                for c in batch {
                    match c {
                        Command::CreateSession { reply, .. } => {
                            let _ = reply.send(Err(msg.clone()));
                        }
                        Command::Rename { reply, .. } | Command::Delete { reply, .. } => {
                            let _ = reply.send(Err(msg.clone()));
                        }
                        other => waiting.push(other),
                    }
                }
                Some(msg)
            }
        };
        {
            let mut h = health.lock().unwrap_or_else(|e| e.into_inner());
            h.problem = problem.clone();
            h.unsaved_samples = waiting.iter().map(audio_samples).sum();
        }
        let status = problem.map_or(Ok(()), |m| {
            let secs = waiting.iter().map(audio_samples).sum::<u64>() as f64 / hark_core::SAMPLE_RATE as f64;
            Err(format!("{m} ({} change(s), {secs:.1} s of audio, not saved yet)", waiting.len()))
        });
        for f in flushes {
            let _ = f.send(status.clone());
        }
        if let Some(reply) = closing.take() {
            drop(conn);
            if let Some(reply) = reply {
                let _ = reply.send(status);
            }
            return;
        }
    }
}

impl Command {
    fn kind(&self) -> &'static str {
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

fn apply(tx: &rusqlite::Savepoint<'_>, c: &Command) -> rusqlite::Result<Option<Reply>> {
    match c {
        Command::CreateSession { title, kind, source, model, settings, reply } => {
            tx.execute(
                "INSERT INTO sessions (title, created_at, source, kind, model, settings, state, pid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'recording', ?7)",
                params![title, now_rfc3339(), source, kind.as_str(), model, settings, std::process::id() as i64],
            )?;
            return Ok(Some(Reply::Id(reply.clone(), Ok(tx.last_insert_rowid()))));
        }
        Command::Audio { session, start, samples } => {
            let mut blob = Vec::with_capacity(samples.len() * 4);
            for s in samples.iter() {
                blob.extend_from_slice(&s.to_le_bytes());
            }
            tx.execute(
                "INSERT OR REPLACE INTO audio (session_id, start_sample, samples) VALUES (?1, ?2, ?3)",
                params![session, *start as i64, blob],
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
            tx.execute(
                "UPDATE sessions SET state = ?2, pid = ?3 WHERE id = ?1",
                params![session, state.as_str(), pid],
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
            let r = if n == 1 { Ok(()) } else { Err(format!("there is no session {session}")) };
            return Ok(Some(Reply::Done(reply.clone(), r)));
        }
        Command::Delete { session, reply } => {
            let n = tx.execute("DELETE FROM sessions WHERE id = ?1", [session])?;
            let r = if n == 1 { Ok(()) } else { Err(format!("there is no session {session}")) };
            return Ok(Some(Reply::Done(reply.clone(), r)));
        }
        Command::Flush(_) | Command::Close(_) => {}
    }
    Ok(None)
}
