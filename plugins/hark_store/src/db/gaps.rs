//! Stretches of a session without its input device (schema 6's `gaps`): the audio holds
//! silence there, and this marks it.

use serde::Serialize;

use super::{Reader, StoreError, sql};

/// A stretch of a session without its input device, kept as silence in its audio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapRow {
    pub start_s: f64,
    pub secs: f64,
    /// What was lost and why.
    pub cause: String,
}

impl Reader {
    /// The session's stretches without its input device, in order (none in a database from
    /// before schema 6 read as it is).
    pub fn gaps(&self, id: i64) -> Result<Vec<GapRow>, StoreError> {
        let has_table = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'gaps'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| sql(&self.path, e))?;
        if has_table == 0 {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare("SELECT start_sample, samples, cause FROM gaps WHERE session_id = ?1 ORDER BY start_sample")
            .map_err(|e| sql(&self.path, e))?;
        st.query_map([id], |r| {
            Ok(GapRow {
                start_s: hark_core::samples_to_secs(r.get::<_, i64>(0)? as u64),
                secs: hark_core::samples_to_secs(r.get::<_, i64>(1)? as u64),
                cause: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| sql(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{APPLICATION_ID, migrations};
    use hark_core::SourceKind;
    use rusqlite::Connection;

    #[test]
    fn gaps_are_marked_in_order_and_a_database_from_before_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.db");
        let w = crate::Writer::open(&path).unwrap();
        let id = w.create_session("talk", SourceKind::Microphone, "mic", "tiny.en", "{}").unwrap();
        for (start, samples) in [(320_000, 48_000), (16_000, 160_000)] {
            w.send(crate::Command::Gap { session: id, start, samples, cause: format!("lost at {start}") });
        }
        w.close().unwrap();
        let r = Reader::open(&path).unwrap();
        let got = r.gaps(id).unwrap();
        assert_eq!(
            got,
            vec![
                GapRow { start_s: 1.0, secs: 10.0, cause: "lost at 16000".into() },
                GapRow { start_s: 20.0, secs: 3.0, cause: "lost at 320000".into() },
            ]
        );
        assert!(r.gaps(id + 1).unwrap().is_empty());
        // Deleting the session deletes its gaps.
        let w = crate::Writer::open(&path).unwrap();
        w.delete(id).unwrap();
        w.close().unwrap();
        let c = Connection::open(&path).unwrap();
        assert_eq!(c.query_row("SELECT count(*) FROM gaps", [], |r| r.get::<_, i64>(0)).unwrap(), 0);
        // A schema-5 archive that cannot be migrated (read as it is) has no gaps table.
        let old = dir.path().join("old.db");
        {
            let mut c = Connection::open(&old).unwrap();
            migrations().to_version(&mut c, 5).unwrap();
            c.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
            c.execute(
                "INSERT INTO sessions (title, created_at, source, state) VALUES ('t', 'x', 'mic', 'complete')",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO versions (session_id, version, model, settings, created_at) VALUES (1, 1, 'tiny.en', '{}', 'x')",
                [],
            )
            .unwrap();
            c.execute("INSERT INTO segments (session_id, idx, start_sample, end_sample) VALUES (1, 0, 0, 16000)", [])
                .unwrap();
            c.execute(
                "INSERT INTO transcripts (segment_id, version, text, words, no_speech, suspect, model, settings, created_at)
                 VALUES (1, 1, 'hello', '[]', 0, 0, 'tiny.en', '{}', 'x')",
                [],
            )
            .unwrap();
        }
        let mut perms = std::fs::metadata(&old).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&old, perms).unwrap();
        let r = Reader::open(&old).unwrap();
        assert!(r.gaps(1).unwrap().is_empty());
        // Nor its transcripts a column for speech not recognised (schema 7): read as none.
        let segs = r.segments(1).unwrap();
        assert_eq!(segs.iter().map(|g| (g.text.as_str(), g.unheard.len())).collect::<Vec<_>>(), [("hello", 0)]);
    }
}
