//! The SQLite database: opening with the safety checks, the schema, and every query.

use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};

use hark_core::{SessionState, SourceKind, Word};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;

mod audio;
mod gaps;
mod versions;

pub use gaps::GapRow;
pub use versions::{VersionRow, diff_words};

/// `PRAGMA application_id` of Hark databases ("HARK").
pub const APPLICATION_ID: i32 = 0x4841_524B;

/// Errors of the store, each naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {} {msg}", path.display())]
    Open { path: PathBuf, msg: String },
    #[error("database {}: {source}", path.display())]
    Sql { path: PathBuf, source: rusqlite::Error },
    #[error("there is no session {0} (see `hark sessions list`)")]
    NoSession(i64),
    #[error("session {session} has no transcript version {version} (see `hark sessions versions {session}`)")]
    NoVersion { session: i64, version: i64 },
    #[error("the store's writer thread has stopped")]
    WriterGone,
    #[error("database {} could not be written: {msg}", path.display())]
    NotSaved { path: PathBuf, msg: String },
    #[error("database {} has a damaged audio row at sample {start}: {source}", path.display())]
    DamagedAudio { path: PathBuf, start: u64, source: crate::codec::DecodeError },
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE sessions (
             id INTEGER PRIMARY KEY,
             title TEXT NOT NULL,
             created_at TEXT NOT NULL,
             source TEXT NOT NULL,
             model TEXT NOT NULL DEFAULT '',
             settings TEXT NOT NULL DEFAULT '',
             state TEXT NOT NULL CHECK (state IN ('recording', 'captured', 'complete', 'interrupted')),
             samples INTEGER NOT NULL DEFAULT 0,
             pid INTEGER
         );
         CREATE TABLE audio (
             session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
             start_sample INTEGER NOT NULL,
             samples BLOB NOT NULL,
             PRIMARY KEY (session_id, start_sample)
         ) WITHOUT ROWID;
         CREATE TABLE segments (
             id INTEGER PRIMARY KEY,
             session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
             idx INTEGER NOT NULL,
             start_sample INTEGER NOT NULL,
             end_sample INTEGER NOT NULL,
             vad_mean REAL NOT NULL DEFAULT 0,
             vad_speech REAL NOT NULL DEFAULT 0,
             UNIQUE (session_id, idx)
         );
         CREATE TABLE transcripts (
             id INTEGER PRIMARY KEY,
             segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
             version INTEGER NOT NULL,
             text TEXT NOT NULL,
             words TEXT NOT NULL,
             no_speech REAL NOT NULL,
             suspect INTEGER NOT NULL,
             model TEXT NOT NULL,
             settings TEXT NOT NULL,
             created_at TEXT NOT NULL,
             UNIQUE (segment_id, version)
         );
         CREATE VIRTUAL TABLE transcripts_fts USING fts5(text, content='transcripts', content_rowid='id');
         CREATE TRIGGER transcripts_ai AFTER INSERT ON transcripts BEGIN
             INSERT INTO transcripts_fts(rowid, text) VALUES (new.id, new.text);
         END;
         CREATE TRIGGER transcripts_ad AFTER DELETE ON transcripts BEGIN
             INSERT INTO transcripts_fts(transcripts_fts, rowid, text) VALUES ('delete', old.id, old.text);
         END;",
        ),
        // Schema 2: the source's kind in a column of its own. Version 1 wrote a recall or demo
        // capture as a "recall: " / "demo: " prefix of the source; a file's source was its path.
        M::up(
            "ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'microphone'
                 CHECK (kind IN ('microphone', 'file', 'recall', 'demo', 'memory'));
             UPDATE sessions SET kind = CASE
                 WHEN source LIKE 'recall: %' THEN 'recall'
                 WHEN source LIKE 'demo: %' THEN 'demo'
                 WHEN source LIKE '%/%' OR title <> source THEN 'file'
                 ELSE 'microphone' END;
             UPDATE sessions SET source = substr(source, 7) WHERE kind = 'demo';",
        ),
        // Schema 3: audio rows compressed losslessly (`codec`), with their length in samples
        // (`frames`); rows written before keep codec 0 (raw f32) and no length (their bytes / 4).
        M::up(
            "ALTER TABLE audio ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE audio ADD COLUMN frames INTEGER;",
        ),
        // Schema 4: transcript versions. A re-run (other model or settings) cuts and transcribes
        // the session's audio again as a new version with segments of its own; earlier versions
        // stay, and the session's `current_version` is what is shown, searched and exported.
        // Everything written before is version 1.
        M::up(
            "CREATE TABLE versions (
                 session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                 version INTEGER NOT NULL,
                 model TEXT NOT NULL,
                 settings TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 from_sample INTEGER,
                 to_sample INTEGER,
                 PRIMARY KEY (session_id, version)
             ) WITHOUT ROWID;
             ALTER TABLE sessions ADD COLUMN current_version INTEGER NOT NULL DEFAULT 1;
             ALTER TABLE segments ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
             INSERT INTO versions (session_id, version, model, settings, created_at)
                 SELECT id, 1, model, settings, created_at FROM sessions;",
        ),
        // Schema 5: a live session's latency figures (JSON of `hark_core::LatencySummary`):
        // end of speech to final text, and between partial updates.
        M::up("ALTER TABLE sessions ADD COLUMN latency TEXT;"),
        // Schema 6: stretches of a session without its input device (lost, then back or the
        // capture stopped), stored in the audio as silence and marked here.
        M::up(
            "CREATE TABLE gaps (
                 session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                 start_sample INTEGER NOT NULL,
                 samples INTEGER NOT NULL,
                 cause TEXT NOT NULL,
                 PRIMARY KEY (session_id, start_sample)
             ) WITHOUT ROWID;",
        ),
        // Schema 7: where, in a transcribed segment, the VAD heard speech that the recogniser,
        // asked again, found no words in (JSON `[[from, to], …]` in session samples).
        M::up("ALTER TABLE transcripts ADD COLUMN unheard TEXT NOT NULL DEFAULT '[]';"),
    ])
}

/// The schema version this build writes.
pub fn schema_version() -> usize {
    7
}

/// Where the database lives by default: `$XDG_DATA_HOME/hark/hark.db`.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("hark.db")
}

/// Opens (creating if absent) a Hark database for writing. Refuses, without touching it, a
/// file that is not SQLite, a SQLite database of another program, or one from a newer Hark.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let err = |msg: String| StoreError::Open { path: path.to_path_buf(), msg };
    let fresh = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(err("is a directory".into())),
        Ok(m) => m.len() == 0,
        Err(_) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot be created: {e}")))?;
            }
            create_private(path).map_err(|e| err(format!("cannot be created: {e}")))?;
            true
        }
    };
    if !fresh {
        check_sqlite_header(path)?;
    }
    let mut conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| err(format!("cannot be opened: {e}")))?;
    check_identity(&conn, path, fresh)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| err(format!("is damaged: {e}")))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| err(format!("is damaged: {e}")))?;
    // Every commit synced: a power cut keeps what was committed (NORMAL may lose the last WAL
    // transactions). It costs ~0.1 ms a commit here, two commits a second (docs/PERFORMANCE.md).
    conn.pragma_update(None, "synchronous", "FULL").map_err(|e| err(format!("is damaged: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(e.to_string()))?;
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| err(format!("could not be brought to schema {}: {e}", schema_version())))?;
    conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(|e| err(e.to_string()))?;
    Ok(conn)
}

/// Opens an existing database read-only (for listing and searching while a writer runs, and
/// for archives on read-only media). It never writes: a database of an older schema is
/// migrated by a writable open first when the file can be written, and read as it is otherwise.
pub fn open_read(path: &Path) -> Result<Connection, StoreError> {
    let err = |msg: String| StoreError::Open { path: path.to_path_buf(), msg };
    if !path.exists() {
        return Err(err("does not exist yet: no session has been saved".into()));
    }
    check_sqlite_header(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| err(format!("cannot be opened: {e}")))?;
    if conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).is_err() {
        // A WAL database whose directory cannot be written (no -shm can be made): read the
        // file as it is.
        let mut uri = std::ffi::OsString::from("file:");
        uri.push(path.as_os_str());
        uri.push("?immutable=1");
        conn = Connection::open_with_flags(std::path::PathBuf::from(uri), flags | OpenFlags::SQLITE_OPEN_URI)
            .map_err(|e| err(format!("cannot be opened: {e}")))?;
    }
    let head = |c: &Connection| -> rusqlite::Result<(i32, i64)> {
        Ok((
            c.query_row("PRAGMA application_id", [], |r| r.get(0))?,
            c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
        ))
    };
    let (app_id, version) =
        head(&conn).map_err(|e| err(format!("is damaged or not a database ({e}); it was left untouched")))?;
    if app_id != APPLICATION_ID {
        return Err(err(
            "belongs to another program (it is SQLite, but not a Hark database); it was left untouched. Pass another --data-dir".into(),
        ));
    }
    if version > schema_version() as i64 {
        return Err(err(format!(
            "was written by a newer Hark (schema {version}; this build knows {}): upgrade Hark to open it",
            schema_version()
        )));
    }
    if version < schema_version() as i64 && !readonly_file(path) {
        drop(open(path)?);
    }
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| sql(path, e))?;
    Ok(conn)
}

/// Whether the database file (or its directory) cannot be written.
fn readonly_file(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.permissions().readonly()).unwrap_or(true)
        || OpenOptions::new().append(true).open(path).is_err()
}

/// Refuses, before SQLite sees it, a file that is not SQLite at all.
fn check_sqlite_header(path: &Path) -> Result<(), StoreError> {
    let err = |msg: String| StoreError::Open { path: path.to_path_buf(), msg };
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| err(format!("cannot be read: {e}")))?;
    if n < 16 || &head != b"SQLite format 3\0" {
        return Err(err(
            "is not a Hark database (not SQLite at all); it was left untouched. Move it away or pass another --data-dir".into(),
        ));
    }
    Ok(())
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map(drop)
}

fn check_identity(conn: &Connection, path: &Path, fresh: bool) -> Result<(), StoreError> {
    let err = |msg: String| StoreError::Open { path: path.to_path_buf(), msg };
    let damaged = |e: rusqlite::Error| err(format!("is damaged or not a database ({e}); it was left untouched"));
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(damaged)?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(damaged)?;
    if app_id != APPLICATION_ID && !(app_id == 0 && (tables == 0 || fresh)) {
        return Err(err(
            "belongs to another program (it is SQLite, but not a Hark database); it was left untouched. Pass another --data-dir".into(),
        ));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(damaged)?;
    if version > schema_version() as i64 {
        return Err(err(format!(
            "was written by a newer Hark (schema {version}; this build knows {}): upgrade Hark to open it",
            schema_version()
        )));
    }
    Ok(())
}

pub(crate) fn sql(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sql { path: path.to_path_buf(), source }
}

/// The current UTC time as RFC 3339 (`2026-11-25T21:55:00Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    pub id: i64,
    pub title: String,
    pub created_at: String,
    pub source: String,
    pub kind: SourceKind,
    pub model: String,
    pub state: SessionState,
    pub duration_s: f64,
    pub segments: i64,
    /// Live captures: what the person waited for text (absent for files and older sessions).
    pub latency: Option<hark_core::LatencySummary>,
    /// The text of its first transcribed utterance (current version), for a title that says
    /// what the session is about.
    pub first_words: String,
}

/// A segment with its latest transcript (`version` counts re-transcriptions of this segment;
/// the transcript version a segment belongs to is [`Reader::segments_of`]'s).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRow {
    pub idx: i64,
    pub start_sample: u64,
    pub end_sample: u64,
    pub version: i64,
    pub text: String,
    pub words: Vec<Word>,
    pub suspect: bool,
    /// Fraction of the segment the VAD called speech: with no text (or suspect text), how much
    /// of a person was not recognised.
    pub vad_speech: f32,
    /// Where in it (session samples) speech was heard again without words being found.
    pub unheard: Vec<(u64, u64)>,
}

/// A search hit: the best-matching transcript of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub session_id: i64,
    pub title: String,
    pub snippet: String,
    pub start_s: f64,
    pub rank: f64,
}

/// Read access for the CLI and the UI.
pub struct Reader {
    pub conn: Connection,
    pub path: PathBuf,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish()
    }
}

const SESSION_COLS: &str = "s.id, s.title, s.created_at, s.source, s.model, s.state, s.samples, \
     (SELECT count(*) FROM segments g WHERE g.session_id = s.id AND g.version = s.current_version), s.kind, \
     s.latency, \
     (SELECT t.text FROM segments g JOIN transcripts t ON t.segment_id = g.id \
      WHERE g.session_id = s.id AND g.version = s.current_version AND t.suspect = 0 AND t.text <> '' \
      ORDER BY g.idx, t.version DESC LIMIT 1)";

/// A text column holding one of an enum's names.
fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        title: r.get(1)?,
        created_at: r.get(2)?,
        source: r.get(3)?,
        model: r.get(4)?,
        kind: r.get(8)?,
        state: r.get(5)?,
        duration_s: r.get::<_, i64>(6)? as f64 / hark_core::SAMPLE_RATE as f64,
        segments: r.get(7)?,
        // Figures that cannot be read are left out rather than failing the session.
        latency: r.get::<_, Option<String>>(9)?.and_then(|j| serde_json::from_str(&j).ok()),
        first_words: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
    })
}

impl Reader {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { conn: open_read(path)?, path: path.to_path_buf() })
    }

    pub fn sessions(&self) -> Result<Vec<SessionRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {SESSION_COLS} FROM sessions s ORDER BY s.id DESC"))
            .map_err(|e| sql(&self.path, e))?;
        st.query_map([], session_row).and_then(|r| r.collect()).map_err(|e| sql(&self.path, e))
    }

    pub fn session(&self, id: i64) -> Result<SessionRow, StoreError> {
        self.conn
            .query_row(&format!("SELECT {SESSION_COLS} FROM sessions s WHERE s.id = ?1"), [id], session_row)
            .optional()
            .map_err(|e| sql(&self.path, e))?
            .ok_or(StoreError::NoSession(id))
    }

    /// The segments of the session's current transcript version, in order.
    /// Whether `table` has `column` (an archive read as it is may be of an older schema).
    pub(crate) fn has_column(&self, table: &str, column: &str) -> bool {
        self.conn
            .query_row("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| {
                r.get::<_, i64>(0)
            })
            .is_ok_and(|n| n > 0)
    }

    pub fn segments(&self, id: i64) -> Result<Vec<SegmentRow>, StoreError> {
        let version = self.current_version(id)?;
        self.segments_of(id, version)
    }

    /// Full-text search over the latest transcripts, best session first, with a snippet.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        // Every word as a quoted term, so user input never breaks FTS5 syntax.
        let q: Vec<String> =
            query.split_whitespace().map(|w| format!("\"{}\"", w.replace('"', ""))).filter(|w| w.len() > 2).collect();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT s.id, s.title, snippet(transcripts_fts, 0, '[', ']', '…', 10), g.start_sample,
                        bm25(transcripts_fts) AS rank
                 FROM transcripts_fts
                 JOIN transcripts t ON t.id = transcripts_fts.rowid
                 JOIN segments g ON g.id = t.segment_id
                 JOIN sessions s ON s.id = g.session_id
                 WHERE transcripts_fts MATCH ?1
                   AND g.version = s.current_version
                   AND t.version = (SELECT max(version) FROM transcripts WHERE segment_id = t.segment_id)
                 ORDER BY rank LIMIT ?2",
            )
            .map_err(|e| sql(&self.path, e))?;
        let rows = st
            .query_map(params![q.join(" "), (limit * 4) as i64], |r| {
                Ok(SearchHit {
                    session_id: r.get(0)?,
                    title: r.get(1)?,
                    snippet: r.get(2)?,
                    start_s: r.get::<_, i64>(3)? as f64 / hark_core::SAMPLE_RATE as f64,
                    rank: r.get(4)?,
                })
            })
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sql(&self.path, e))?;
        // Best hit per session.
        let mut seen = std::collections::HashSet::new();
        Ok(rows.into_iter().filter(|h| seen.insert(h.session_id)).take(limit).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_1_database_gets_its_source_kinds_from_the_old_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrations().to_version(&mut c, 1).unwrap();
            c.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
            for (title, source) in [
                ("Built-in Microphone", "Built-in Microphone"),
                ("talk.wav", "/home/a/talk.wav"),
                ("recall: the last 30 s", "recall: the last 30 s"),
                ("demo: /tmp/jfk.wav", "demo: /tmp/jfk.wav"),
            ] {
                c.execute(
                    "INSERT INTO sessions (title, created_at, source, state) VALUES (?1, 'x', ?2, 'complete')",
                    params![title, source],
                )
                .unwrap();
            }
        }
        drop(open(&path).unwrap());
        let rows = Reader::open(&path).unwrap().sessions().unwrap();
        let got: Vec<(SourceKind, &str)> = rows.iter().rev().map(|r| (r.kind, r.source.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (SourceKind::Microphone, "Built-in Microphone"),
                (SourceKind::File, "/home/a/talk.wav"),
                (SourceKind::Recall, "recall: the last 30 s"),
                (SourceKind::Demo, "/tmp/jfk.wav"),
            ]
        );
    }

    #[test]
    fn states_and_kinds_are_stored_by_name_and_replies_say_which_session_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.db");
        let w = crate::Writer::open(&path).unwrap();
        let id = w.create_session("talk", SourceKind::Recall, "recall", "tiny.en", "{}").unwrap();
        w.send(crate::Command::SetState { session: id, state: SessionState::Complete });
        w.flush().unwrap();
        assert!(matches!(w.rename(id + 1, "x"), Err(StoreError::NoSession(n)) if n == id + 1));
        assert!(matches!(w.delete(id + 7), Err(StoreError::NoSession(n)) if n == id + 7));
        w.close().unwrap();
        let c = Connection::open(&path).unwrap();
        let (state, kind): (String, String) = c
            .query_row("SELECT state, kind FROM sessions WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((state.as_str(), kind.as_str()), ("complete", "recall"));
        // A name this build does not know (written past the CHECK) is an error naming it, not a
        // default.
        c.pragma_update(None, "ignore_check_constraints", true).unwrap();
        c.execute("UPDATE sessions SET kind = 'telepathy' WHERE id = ?1", [id]).unwrap();
        drop(c);
        let e = Reader::open(&path).unwrap().sessions().unwrap_err().to_string();
        assert!(e.contains("unknown source kind \"telepathy\""), "{e}");
    }

    #[test]
    fn a_schema_2_database_keeps_its_raw_audio_readable_and_new_audio_is_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.db");
        let old: Vec<f32> = (0..8_000).map(|i| (i as f32 * 0.01).sin() * 0.3 + 1e-7).collect();
        {
            let mut c = Connection::open(&path).unwrap();
            migrations().to_version(&mut c, 2).unwrap();
            c.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
            c.execute(
                "INSERT INTO sessions (title, created_at, source, state) VALUES ('old', 'x', 'mic', 'complete')",
                [],
            )
            .unwrap();
            let blob: Vec<u8> = old.iter().flat_map(|s| s.to_le_bytes()).collect();
            c.execute("INSERT INTO audio (session_id, start_sample, samples) VALUES (1, 0, ?1)", [blob]).unwrap();
        }
        // Opened by this build: migrated, the old row read as it was.
        let w = crate::Writer::open(&path).unwrap();
        let new: Vec<f32> = (0..8_000).map(|i| ((i as f32 * 0.02).cos() * 9_000.0) as i16 as f32 / 32768.0).collect();
        w.send(crate::Command::Audio { session: 1, start: 8_000, samples: new.clone().into() });
        w.close().unwrap();
        let r = Reader::open(&path).unwrap();
        let both: Vec<u32> = old.iter().chain(&new).map(|s| s.to_bits()).collect();
        assert_eq!(r.audio(1).unwrap().iter().map(|s| s.to_bits()).collect::<Vec<_>>(), both);
        let mid = r.audio_range(1, 7_990, 20).unwrap();
        assert_eq!(mid.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), both[7_990..8_010]);
        assert_eq!((r.audio_end(1).unwrap(), r.audio_gaps(1).unwrap()), (16_000, vec![]));
        let c = Connection::open(&path).unwrap();
        let rows: Vec<(i64, Option<i64>, i64)> = c
            .prepare("SELECT codec, frames, length(samples) FROM audio ORDER BY start_sample")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!((rows[0].0, rows[0].1, rows[0].2), (0, None, 32_000), "the old row is left as it was");
        assert_eq!((rows[1].0, rows[1].1), (1, Some(8_000)), "16-bit audio is stored as such");
        assert!(rows[1].2 < 32_000 / 2, "and takes under half: {} bytes", rows[1].2);
        // A damaged compressed row is an error naming the row, not a panic.
        c.execute("UPDATE audio SET samples = x'00ff00ff' WHERE start_sample = 8000", []).unwrap();
        drop(c);
        let e = Reader::open(&path).unwrap().audio(1).unwrap_err().to_string();
        assert!(e.contains("damaged audio row at sample 8000"), "{e}");
    }
}
