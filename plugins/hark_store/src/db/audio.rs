//! Reading a session's stored audio: whole, or by range so that hours are never loaded at once.

use std::path::Path;

use rusqlite::params;

use super::{Reader, StoreError, sql};

/// A row's length in samples, in SQL.
pub(super) const ROW_FRAMES: &str = "coalesce(frames, length(samples) / 4)";

/// Decodes one audio row (`start_sample, codec, frames, samples`).
pub(super) fn audio_row(path: &Path, r: &rusqlite::Row<'_>) -> Result<(u64, Vec<f32>), StoreError> {
    let start = r.get::<_, i64>(0).map_err(|e| sql(path, e))? as u64;
    let codec: i64 = r.get(1).map_err(|e| sql(path, e))?;
    let frames: Option<i64> = r.get(2).map_err(|e| sql(path, e))?;
    let blob = r.get_ref(3).and_then(|v| Ok(v.as_blob()?)).map_err(|e| sql(path, e))?;
    let samples = crate::codec::decode(codec, blob, frames.map(|n| n.max(0) as usize))
        .map_err(|source| StoreError::DamagedAudio { path: path.to_path_buf(), start, source })?;
    Ok((start, samples))
}

impl Reader {
    /// The session's audio, 16 kHz mono, in order.
    pub fn audio(&self, id: i64) -> Result<Vec<f32>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT start_sample, codec, frames, samples FROM audio WHERE session_id = ?1 ORDER BY start_sample",
            )
            .map_err(|e| sql(&self.path, e))?;
        let mut rows = st.query([id]).map_err(|e| sql(&self.path, e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| sql(&self.path, e))? {
            let (start, samples) = audio_row(&self.path, r)?;
            // Chunks are contiguous; a gap (audio that never reached the database) is silence.
            out.resize((start as usize).max(out.len()), 0.0);
            out.extend(samples);
        }
        Ok(out)
    }

    /// `len` samples of the session's audio from sample `start` (fewer at its end), read from
    /// the rows that cover the range only, so a session of hours is never loaded whole. A span
    /// no row covers (see [`Reader::audio_gaps`]) reads as silence.
    pub fn audio_range(&self, id: i64, start: u64, len: usize) -> Result<Vec<f32>, StoreError> {
        let end = start + len as u64;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT start_sample, codec, frames, samples FROM audio
                 WHERE session_id = ?1 AND start_sample < ?3 AND start_sample >= coalesce(
                     (SELECT max(start_sample) FROM audio WHERE session_id = ?1 AND start_sample <= ?2), 0)
                 ORDER BY start_sample",
            )
            .map_err(|e| sql(&self.path, e))?;
        let mut rows = st.query(params![id, start as i64, end as i64]).map_err(|e| sql(&self.path, e))?;
        let mut out = vec![0.0f32; len];
        while let Some(r) = rows.next().map_err(|e| sql(&self.path, e))? {
            let (row_start, samples) = audio_row(&self.path, r)?;
            let row_end = row_start + samples.len() as u64;
            let (from, to) = (row_start.max(start), row_end.min(end));
            if from < to {
                out[(from - start) as usize..(to - start) as usize]
                    .copy_from_slice(&samples[(from - row_start) as usize..(to - row_start) as usize]);
            }
        }
        // Nothing beyond the last stored sample.
        let stored_end = self.audio_end(id)?;
        out.truncate(stored_end.saturating_sub(start).min(len as u64) as usize);
        Ok(out)
    }

    /// One past the session's last stored sample.
    pub fn audio_end(&self, id: i64) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT coalesce(max(start_sample + {ROW_FRAMES}), 0) FROM audio
                     WHERE session_id = ?1 AND start_sample = (SELECT max(start_sample) FROM audio WHERE session_id = ?1)"
                ),
                [id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| sql(&self.path, e))
    }

    /// Spans (start, end in samples) up to the last stored sample that no audio row covers:
    /// audio that never reached the database (a process killed with it in memory, a disk
    /// that was full and never came back).
    pub fn audio_gaps(&self, id: i64) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT start_sample, {ROW_FRAMES} FROM audio WHERE session_id = ?1 ORDER BY start_sample"
            ))
            .map_err(|e| sql(&self.path, e))?;
        let spans = st
            .query_map([id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sql(&self.path, e))?;
        let mut gaps = Vec::new();
        let mut at = 0;
        for (start, len) in spans {
            if start > at {
                gaps.push((at, start));
            }
            at = at.max(start + len);
        }
        Ok(gaps)
    }
}
