//! Robustness measurements on generated material ([`crate::testset`]): short utterances
//! (inserted words, repeats, decode time) and clips in noise (VAD recall and precision, WER).
//! `hark bench robust` prints them; `tests/robust.rs` asserts on them.

use hark_capture::{Pace, Source};
use hark_core::SourceKind;
use hark_core::text::{edit_kinds, normalize_words};
use serde::Serialize;

use crate::pipeline::{Pipeline, SessionTranscript};
use crate::testset::TestClip;

/// One short utterance through the whole pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct ShortResult {
    pub name: String,
    pub holdout: bool,
    pub audio_s: f64,
    pub reference: String,
    pub hypothesis: String,
    pub ref_words: usize,
    pub hyp_words: usize,
    pub edits: usize,
    pub insertions: usize,
    /// Longest run of one word repeated back to back in the hypothesis.
    pub max_run: usize,
    /// Recogniser time for the clip (all its utterances, fallbacks included).
    pub decode_s: f64,
    /// Utterances marked suspect.
    pub suspect: usize,
}

/// Longest run of the same normalised word, back to back.
pub fn longest_run(words: &[String]) -> usize {
    let (mut best, mut run) = (0, 0);
    for (i, w) in words.iter().enumerate() {
        run = if i > 0 && words[i - 1] == *w { run + 1 } else { 1 };
        best = best.max(run);
    }
    best
}

/// Transcribes in-memory audio as a session; returns the transcript and the recogniser time.
pub fn transcribe(p: &mut Pipeline, samples: &[f32]) -> (SessionTranscript, f64) {
    let before = p.inference_time();
    let s = p.start(SourceKind::Memory, Source::Samples { samples: samples.into(), pos: 0 }, "test".into(), Pace::Fast);
    let _ = p.run_until_done(s, |_| {});
    let t = p.take_transcript(s);
    p.app.world_mut().despawn(s);
    (t, (p.inference_time() - before).as_secs_f64())
}

/// Every word of a transcript, suspect utterances included (a storm must count, even if
/// flagged).
pub fn all_text(t: &SessionTranscript) -> String {
    t.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// Runs each clip through the pipeline.
pub fn run_short(p: &mut Pipeline, clips: &[TestClip]) -> Vec<ShortResult> {
    clips
        .iter()
        .map(|c| {
            let (t, decode_s) = transcribe(p, &c.samples);
            let hypothesis = t.text();
            let r = normalize_words(&c.reference);
            let all = normalize_words(&all_text(&t));
            let h = normalize_words(&hypothesis);
            let k = edit_kinds(&r, &h);
            ShortResult {
                name: c.name.clone(),
                holdout: c.holdout,
                audio_s: hark_core::samples_to_secs(c.samples.len() as u64),
                reference: c.reference.clone(),
                hypothesis,
                ref_words: r.len(),
                hyp_words: all.len(),
                edits: k.substitutions + k.deletions + k.insertions,
                insertions: k.insertions,
                max_run: longest_run(&all),
                decode_s,
                suspect: t.segments.iter().filter(|s| s.suspect).count(),
            }
        })
        .collect()
}

/// Percentile (0..=1) of a list.
pub fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_back_to_back_repeats_only() {
        let w = |s: &str| normalize_words(s);
        assert_eq!(longest_run(&w("six six six six")), 4);
        assert_eq!(longest_run(&w("no no yes no")), 2);
        assert_eq!(longest_run(&[]), 0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    }
}
