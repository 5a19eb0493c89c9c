//! Transcript versions: each re-run of a session is a version with segments of its own.

use hark_core::diff::{DiffWord, WordChange, word_diff};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Reader, SegmentRow, StoreError, sql};

/// A transcript version of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionRow {
    pub version: i64,
    pub model: String,
    /// The settings it was made with (JSON, as the pipeline stores them).
    pub settings: String,
    pub created_at: String,
    /// The span re-transcribed, in seconds (`None`: the whole session). Outside it the version
    /// has the segments of the version that was current when it was made.
    pub from_s: Option<f64>,
    pub to_s: Option<f64>,
    pub segments: usize,
    pub words: usize,
    /// Whether this is the version shown, searched and exported.
    pub current: bool,
}

impl Reader {
    /// The version shown, searched and exported.
    pub fn current_version(&self, id: i64) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT current_version FROM sessions WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| sql(&self.path, e))?
            .ok_or(StoreError::NoSession(id))
    }

    /// The session's transcript versions, oldest first.
    pub fn versions(&self, id: i64) -> Result<Vec<VersionRow>, StoreError> {
        let current = self.current_version(id)?;
        let mut st = self
            .conn
            .prepare(
                "SELECT version, model, settings, created_at, from_sample, to_sample FROM versions
                 WHERE session_id = ?1 ORDER BY version",
            )
            .map_err(|e| sql(&self.path, e))?;
        let rows = st
            .query_map([id], |r| {
                let secs = |n: Option<i64>| n.map(|n| n as f64 / hark_core::SAMPLE_RATE as f64);
                Ok(VersionRow {
                    version: r.get(0)?,
                    model: r.get(1)?,
                    settings: r.get(2)?,
                    created_at: r.get(3)?,
                    from_s: secs(r.get(4)?),
                    to_s: secs(r.get(5)?),
                    segments: 0,
                    words: 0,
                    current: false,
                })
            })
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sql(&self.path, e))?;
        rows.into_iter()
            .map(|mut v| {
                let segs = self.segments_of(id, v.version)?;
                v.segments = segs.len();
                v.words = segs.iter().map(|g| g.text.split_whitespace().count()).sum();
                v.current = v.version == current;
                Ok(v)
            })
            .collect()
    }

    /// The segments of one transcript version, in time order, each with its latest transcript.
    pub fn segments_of(&self, id: i64, version: i64) -> Result<Vec<SegmentRow>, StoreError> {
        let known: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM versions WHERE session_id = ?1 AND version = ?2", params![id, version], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sql(&self.path, e))?;
        if known.is_none() {
            self.session(id)?;
            return Err(StoreError::NoVersion { session: id, version });
        }
        // An archive read as it is (read-only, from before schema 7) has no `unheard`.
        let unheard = if self.has_column("transcripts", "unheard") { "t.unheard" } else { "'[]'" };
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT g.idx, g.start_sample, g.end_sample, t.version, t.text, t.words, t.suspect, g.vad_speech, {unheard}
                 FROM segments g JOIN transcripts t ON t.segment_id = g.id
                 WHERE g.session_id = ?1 AND g.version = ?2
                   AND t.version = (SELECT max(version) FROM transcripts WHERE segment_id = g.id)
                 ORDER BY g.start_sample, g.idx"
            ))
            .map_err(|e| sql(&self.path, e))?;
        st.query_map(params![id, version], |r| {
            let words: String = r.get(5)?;
            Ok(SegmentRow {
                idx: r.get(0)?,
                start_sample: r.get::<_, i64>(1)? as u64,
                end_sample: r.get::<_, i64>(2)? as u64,
                version: r.get(3)?,
                text: r.get(4)?,
                words: serde_json::from_str(&words).unwrap_or_default(),
                suspect: r.get(6)?,
                vad_speech: r.get::<_, f64>(7)? as f32,
                unheard: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
            })
        })
        .and_then(|r| r.collect())
        .map_err(|e| sql(&self.path, e))
    }

    /// The word changes from version `a` to version `b` of a session.
    pub fn diff(&self, id: i64, a: i64, b: i64) -> Result<Vec<WordChange>, StoreError> {
        let wa = diff_words(&self.segments_of(id, a)?);
        let wb = diff_words(&self.segments_of(id, b)?);
        Ok(word_diff(&wa, &wb))
    }
}

/// A version's words for comparison: the timed words, or the text's words where a segment has
/// no timings (each then starts with its segment).
pub fn diff_words(segments: &[SegmentRow]) -> Vec<DiffWord> {
    let mut out = Vec::new();
    for g in segments {
        if g.words.is_empty() {
            out.extend(g.text.split_whitespace().map(|w| DiffWord { text: w.to_owned(), start: Some(g.start_sample) }));
        } else {
            out.extend(
                g.words
                    .iter()
                    .filter(|w| !w.text.trim().is_empty())
                    .map(|w| DiffWord { text: w.text.trim().to_owned(), start: Some(w.start) }),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use hark_core::{SourceKind, Word};
    use rusqlite::Connection;

    use super::*;
    use crate::{Command, NewSegment, Writer};

    fn seg(start: u64, text: &str) -> NewSegment {
        let words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                start: start + i as u64 * 4000,
                end: start + i as u64 * 4000 + 3000,
                text: format!(" {w}"),
                probability: 0.9,
            })
            .collect::<Vec<_>>();
        NewSegment {
            start,
            end: start + words.len() as u64 * 4000,
            vad_mean: 0.8,
            vad_speech: 0.9,
            text: text.into(),
            words,
            no_speech: 0.01,
            suspect: false,
            unheard: Vec::new(),
        }
    }

    /// Writes a session the way the pipeline does: segments, then their transcripts.
    fn captured(w: &Writer, texts: &[(u64, &str)]) -> i64 {
        let id = w.create_session("talk", SourceKind::File, "/tmp/talk.wav", "tiny.en", "{}").unwrap();
        for (idx, (start, text)) in texts.iter().enumerate() {
            let g = seg(*start, text);
            w.send(Command::Segment {
                session: id,
                idx: idx as u32,
                start: g.start,
                end: g.end,
                vad_mean: 0.8,
                vad_speech: 0.9,
            });
            w.send(Command::Transcript {
                session: id,
                idx: idx as u32,
                text: g.text,
                words: g.words,
                no_speech: 0.0,
                suspect: false,
                // The first utterance has a voice in it that was heard again without words.
                unheard: if idx == 0 { vec![(g.start + 500, g.start + 9_000)] } else { Vec::new() },
                model: "tiny.en".into(),
                settings: "{}".into(),
            });
        }
        w.flush().unwrap();
        id
    }

    fn texts(r: &Reader, id: i64) -> Vec<String> {
        r.segments(id).unwrap().into_iter().map(|g| g.text).collect()
    }

    #[test]
    fn a_rerun_adds_a_version_the_old_one_stays_and_use_switches_what_search_sees() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.db");
        let w = Writer::open(&path).unwrap();
        let id = captured(&w, &[(0, "the quick brown fox"), (32_000, "jumps over the lazy dog")]);
        // Only the second utterance is re-run.
        let v = w.add_version(
            id,
            "base.en",
            "{\"x\":1}",
            Some((30_000, 80_000)),
            vec![seg(32_000, "jumps over a lazy cat")],
        );
        assert_eq!(v.unwrap(), 2);
        let r = Reader::open(&path).unwrap();
        let versions = r.versions(id).unwrap();
        type Summary<'a> = (i64, &'a str, usize, usize, bool, Option<f64>);
        let summary: Vec<Summary> =
            versions.iter().map(|v| (v.version, v.model.as_str(), v.segments, v.words, v.current, v.from_s)).collect();
        assert_eq!(
            summary,
            vec![(1, "tiny.en", 2, 9, true, None), (2, "base.en", 2, 9, false, Some(1.875))],
            "version 2 carries the first utterance over"
        );
        assert_eq!(texts(&r, id), ["the quick brown fox", "jumps over the lazy dog"], "version 1 is still shown");
        let d = r.diff(id, 1, 2).unwrap();
        let changes: Vec<(Vec<String>, Vec<String>, Option<u64>)> =
            d.into_iter().map(|c| (c.old, c.new, c.start)).collect();
        assert_eq!(
            changes,
            vec![
                (vec!["the".into()], vec!["a".into()], Some(32_000 + 2 * 4000)),
                (vec!["dog".into()], vec!["cat".into()], Some(32_000 + 4 * 4000))
            ]
        );
        assert_eq!(r.search("cat", 5).unwrap().len(), 0, "search sees the current version only");
        assert_eq!(r.search("dog", 5).unwrap().len(), 1);

        w.use_version(id, 2).unwrap();
        assert_eq!(texts(&r, id), ["the quick brown fox", "jumps over a lazy cat"]);
        // The utterance carried over keeps its speech not recognised.
        let unheard: Vec<Vec<(u64, u64)>> = r.segments(id).unwrap().into_iter().map(|g| g.unheard).collect();
        assert_eq!(unheard, [vec![(500, 9_000)], vec![]]);
        assert_eq!(r.search("dog", 5).unwrap().len(), 0);
        assert_eq!(r.search("cat", 5).unwrap()[0].session_id, id);
        assert_eq!(r.sessions().unwrap()[0].segments, 2);
        let old: Vec<String> = r.segments_of(id, 1).unwrap().into_iter().map(|g| g.text).collect();
        assert_eq!(old, ["the quick brown fox", "jumps over the lazy dog"], "the old version is unchanged");

        // A whole re-run carries nothing over.
        assert_eq!(w.add_version(id, "tiny.en", "{}", None, vec![seg(0, "one")]).unwrap(), 3);
        assert_eq!(r.segments_of(id, 3).unwrap().len(), 1);

        // Asking for what is not there names it and changes nothing.
        let e = w.use_version(id, 9).unwrap_err().to_string();
        assert!(e.contains("session 1 has no transcript version 9"), "{e}");
        assert!(matches!(w.use_version(77, 1), Err(StoreError::NoSession(77))));
        assert!(matches!(w.add_version(77, "m", "{}", None, vec![]), Err(StoreError::NoSession(77))));
        assert!(matches!(r.segments_of(id, 9), Err(StoreError::NoVersion { session: 1, version: 9 })));
        assert!(matches!(r.versions(77), Err(StoreError::NoSession(77))));
        assert_eq!(r.current_version(id).unwrap(), 2);

        // Deleting the session takes its versions with it.
        w.delete(id).unwrap();
        let c = Connection::open(&path).unwrap();
        let left: i64 = c.query_row("SELECT count(*) FROM versions", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_schema_3_database_has_its_transcripts_as_version_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hark.db");
        {
            let mut c = Connection::open(&path).unwrap();
            super::super::migrations().to_version(&mut c, 3).unwrap();
            c.pragma_update(None, "application_id", super::super::APPLICATION_ID).unwrap();
            c.execute_batch(
                "INSERT INTO sessions (title, created_at, source, model, state) VALUES ('old', '2026-11-01T10:00:00Z', 'mic', 'tiny.en', 'complete');
                 INSERT INTO segments (session_id, idx, start_sample, end_sample) VALUES (1, 0, 0, 16000);
                 INSERT INTO transcripts (segment_id, version, text, words, no_speech, suspect, model, settings, created_at)
                     VALUES (1, 1, 'hello there', '[]', 0, 0, 'tiny.en', '{}', 'x');",
            )
            .unwrap();
        }
        drop(Writer::open(&path).unwrap());
        let r = Reader::open(&path).unwrap();
        let v = r.versions(1).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].version, v[0].model.as_str(), v[0].created_at.as_str(), v[0].words, v[0].current),
            (1, "tiny.en", "2026-11-01T10:00:00Z", 2, true)
        );
        assert_eq!(texts(&r, 1), ["hello there"]);
        assert_eq!(r.search("hello", 5).unwrap().len(), 1);
        // Schema 5's latency figures: none for a session from before.
        assert_eq!(r.sessions().unwrap()[0].latency, None);
    }
}
