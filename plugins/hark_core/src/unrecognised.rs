//! Speech without text: where the VAD heard someone that the recogniser did not follow, so
//! the window, the CLI and the JSON say so instead of leaving the speaker out unremarked.

use crate::samples_to_secs;

/// The least speech, in seconds, to count as someone not recognised: a word or two. A click, a
/// breath or a cough holds less, and so did the 0.8 s the VAD took for speech in the quiet
/// after a clip in held-out monologues (six of the eight marks there at 0.5 s; no word of the
/// reference was missing at any of them).
pub const MIN_SPEECH_S: f64 = 1.0;

/// The speech not recognised in an utterance from `start` to `end` (session samples), as
/// `(from, to, seconds of speech)`: the whole utterance when it has no text to show (`text`
/// empty, or `suspect`: judged made up) and `speech_fraction` of it was the VAD's speech, else
/// each stretch of it heard again without a word (`unheard`, session samples); only those with
/// at least [`MIN_SPEECH_S`].
pub fn in_utterance(
    text: &str,
    suspect: bool,
    speech_fraction: f32,
    (start, end): (u64, u64),
    unheard: &[(u64, u64)],
) -> Vec<(u64, u64, f64)> {
    if suspect || text.trim().is_empty() {
        let speech = f64::from(speech_fraction.clamp(0.0, 1.0)) * samples_to_secs(end.saturating_sub(start));
        return if speech >= MIN_SPEECH_S { vec![(start, end, speech)] } else { Vec::new() };
    }
    unheard
        .iter()
        .map(|&(a, b)| (a, b, samples_to_secs(b.saturating_sub(a))))
        .filter(|&(.., speech)| speech >= MIN_SPEECH_S)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_utterance_without_text_else_its_stretches_heard_without_words() {
        let sr = 16_000;
        // 2.6 s of a 3.8 s utterance (from 10 s) was speech and whisper gave nothing.
        let got = in_utterance("", false, 0.69, (10 * sr, 10 * sr + 60_800), &[(0, 1)]);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].1), (10 * sr, 10 * sr + 60_800));
        assert!((got[0].2 - 2.622).abs() < 1e-3, "{got:?}");
        // Text judged made up counts as none.
        assert_eq!(in_utterance("Thank you.", true, 1.0, (0, 19_200), &[]).len(), 1);
        // With text: only its stretches heard without words, from a second of speech.
        assert!(in_utterance("She must be made to stay.", false, 0.69, (0, 60_800), &[]).is_empty());
        let got = in_utterance("Go forward.", false, 0.8, (0, 200_000), &[(68_640, 109_440), (150_000, 155_000)]);
        assert_eq!(got, [(68_640, 109_440, 2.55)]);
        // A click or a breath the VAD let through is not someone speaking.
        assert!(in_utterance("", false, 0.2, (0, 24_000), &[]).is_empty());
        assert!(in_utterance(" ", true, 1.0, (0, 6_400), &[]).is_empty());
    }
}
