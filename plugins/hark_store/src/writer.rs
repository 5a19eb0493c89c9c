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
use hark_core::{SessionState, SourceKind};
use rusqlite::{Connection, params};

pub use crate::command::{Command, NewSegment};
use crate::command::{Reply, apply};
use crate::db::{self, StoreError, sql};

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
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    pub fn rename(&self, session: i64, title: &str) -> Result<(), StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Rename { session, title: title.into(), reply });
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Adds a transcript version (see [`Command::AddVersion`]); returns its number.
    pub fn add_version(
        &self,
        session: i64,
        model: &str,
        settings: &str,
        span: Option<(u64, u64)>,
        segments: Vec<crate::command::NewSegment>,
    ) -> Result<i64, StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::AddVersion {
            session,
            model: model.into(),
            settings: settings.into(),
            span,
            segments,
            reply,
        });
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Makes `version` the session's current transcript.
    pub fn use_version(&self, session: i64, version: i64) -> Result<(), StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::UseVersion { session, version, reply });
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    pub fn delete(&self, session: i64) -> Result<(), StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Delete { session, reply });
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Commits everything, closes the database and waits until the connection is gone. An
    /// error names what could not be saved (it is lost with the process).
    pub fn close(self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Close(tx));
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// A handle another thread can wait on until what was sent so far is committed.
    pub fn flusher(&self) -> Flusher {
        Flusher(self.tx.clone())
    }

    /// Waits until every command sent so far is committed, or the writer has tried and cannot
    /// (the error says why; the commands stay queued and are tried again).
    pub fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Flush(tx));
        rx.recv().map_err(|_| StoreError::WriterGone)?
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
    let mut st = conn.prepare("SELECT id, pid FROM sessions WHERE state = ?1").map_err(|e| sql(path, e))?;
    let stale: Vec<i64> = st
        .query_map([SessionState::Recording], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)))
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(|e| sql(path, e))?
        .into_iter()
        .filter(|&(_, pid)| pid.is_none_or(|p| p == std::process::id() as i64 || !pid_alive(p)))
        .map(|(id, _)| id)
        .collect();
    for id in stale {
        conn.execute(
            "UPDATE sessions SET state = ?2, pid = NULL WHERE id = ?1",
            params![id, SessionState::Interrupted],
        )
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

fn not_saved(path: &Path, msg: &str) -> StoreError {
    StoreError::NotSaved { path: path.to_path_buf(), msg: msg.to_owned() }
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
                    Command::CreateSession { reply, .. } => replies.push(Reply::Id(reply.clone(), Err(sql(path, e)))),
                    Command::Rename { reply, .. } | Command::Delete { reply, .. } => {
                        replies.push(Reply::Done(reply.clone(), Err(sql(path, e))))
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
                replies.into_iter().for_each(Reply::send);
                None
            }
            Err(msg) => {
                log::error!("{msg}; {} command(s) kept in memory and tried again", batch.len());
                for c in batch {
                    match c {
                        Command::CreateSession { reply, .. } => {
                            let _ = reply.send(Err(not_saved(&path, &msg)));
                        }
                        Command::Rename { reply, .. } | Command::Delete { reply, .. } => {
                            let _ = reply.send(Err(not_saved(&path, &msg)));
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
            let _ = f.send(status.as_ref().map_err(|m| not_saved(&path, m)).copied());
        }
        if let Some(reply) = closing.take() {
            drop(conn);
            if let Some(reply) = reply {
                let _ = reply.send(status.map_err(|m| not_saved(&path, &m)));
            }
            return;
        }
    }
}
