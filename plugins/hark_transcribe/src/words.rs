//! From recogniser tokens to words in session time, and the hallucination guard.

use hark_core::{Transcript, UtteranceGaps, Word};

use crate::engine::{EngineOutput, Token};

/// Phrases whisper is known to produce from silence, noise or music (normalised).
pub const PHANTOM_PHRASES: &[&str] = &[
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "subscribe",
    "you",
    "bye",
    "so",
    "the end",
    "blank audio",
    "silence",
    "music",
    "applause",
];

/// Tokens grouped into words: a token that starts with a space starts a word; any other joins
/// the word before it (the rest of a word, its punctuation, or a character split across tokens).
pub(crate) fn token_words<'a>(tokens: impl IntoIterator<Item = &'a Token>) -> Vec<Vec<&'a Token>> {
    let mut words: Vec<Vec<&Token>> = Vec::new();
    for t in tokens {
        match words.last_mut() {
            Some(w) if t.bytes.first() != Some(&b' ') => w.push(t),
            _ => words.push(vec![t]),
        }
    }
    words
}

/// A word's text: its tokens' bytes decoded together (a character can be split across tokens),
/// with the leading space.
pub(crate) fn word_text(word: &[&Token]) -> String {
    let bytes: Vec<u8> = word.iter().flat_map(|t| t.bytes.iter().copied()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Builds the transcript of an utterance that starts at session sample `start`.
/// `gaps` are the pauses left out of the audio, mapped back here.
pub fn transcript_from(out: &EngineOutput, start: u64, duration_samples: u64, gaps: &UtteranceGaps) -> Transcript {
    let grouped = token_words(out.segments.iter().flat_map(|s| &s.tokens));
    let offset = |c: i64| -> u64 { (c.max(0) as u64 * 160).min(duration_samples) };
    let cs = |c: i64| -> u64 { gaps.to_session(start, offset(c)) };
    // An end that falls on a gap stays before it.
    let ce = |c: i64| -> u64 { offset(c).checked_sub(1).map_or(start, |o| gaps.to_session(start, o) + 1) };
    let mut words: Vec<Word> = grouped
        .iter()
        .filter_map(|w| {
            let text = word_text(w).trim().to_owned();
            if text.is_empty() {
                return None;
            }
            let t0 = w[0].t0;
            let t1 = w.iter().map(|t| t.t1).max().unwrap_or(t0);
            // A word over a left-out pause was said after it: whisper's first timestamp after
            // a pause tends to continue from the word before.
            let s = match gaps.inside(offset(t0), offset(t1)) {
                Some(g) => gaps.to_session(start, g),
                None => cs(t0),
            };
            let e = ce(t1).max(s);
            Some(Word { start: s, end: e, text, probability: w.iter().map(|t| t.p).sum::<f32>() / w.len() as f32 })
        })
        .collect();
    let mut text = out.segments.iter().map(|s| s.text.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    if out.storm {
        // No decoding passed the storm guard: keep what the audio can hold, without the loop.
        let plain: Vec<String> = words.iter().map(|w| crate::guard::plain_words(&w.text).join(" ")).collect();
        let bound = crate::guard::word_bound(hark_core::samples_to_secs(duration_samples));
        let keep = crate::guard::keep_after_collapse(&plain, bound);
        let mut k = keep.into_iter();
        words.retain(|_| k.next().unwrap_or(false));
        text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
    }
    let no_speech = out.segments.iter().map(|s| s.no_speech).fold(0.0, f32::max);
    let mean_p =
        if words.is_empty() { 0.0 } else { words.iter().map(|w| w.probability).sum::<f32>() / words.len() as f32 };
    // A storm cut back to what the audio holds stays visible: hiding it would hide what was said.
    let suspect = is_phantom(&text) && (no_speech > 0.2 || mean_p < 0.6 || duration_samples < 32_000);
    // Speech heard again without words, in session time (an end on a gap stays before it).
    let at = |o: u64| gaps.to_session(start, o.min(duration_samples));
    let unheard = out
        .unheard
        .iter()
        .filter(|&&(a, b)| b > a)
        .map(|&(a, b)| (at(a), b.min(duration_samples).checked_sub(1).map_or(start, |o| gaps.to_session(start, o) + 1)))
        .collect();
    Transcript { text, words, no_speech, suspect, unheard }
}

/// Whether `text` is one of the [`PHANTOM_PHRASES`] (ignoring case and punctuation).
pub fn is_phantom(text: &str) -> bool {
    let n: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == ' ' { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    !n.is_empty() && PHANTOM_PHRASES.contains(&n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Segment, Token};

    fn tok(s: &str, t0: i64, t1: i64, p: f32) -> Token {
        Token { bytes: s.as_bytes().to_vec(), p, t0, t1 }
    }

    #[test]
    fn a_character_split_across_tokens_and_segments_stays_whole() {
        // "café" with its "é" (0xC3 0xA9) split between two tokens in two segments.
        let raw = |b: &[u8], t0, t1| Token { bytes: b.to_vec(), p: 0.5, t0, t1 };
        let segments =
            [vec![raw(b" caf", 0, 20), raw(&[0xC3], 20, 25)], vec![raw(&[0xA9], 25, 30), raw(b" ol\xC3\xA9", 40, 60)]];
        let words = token_words(segments.iter().flatten());
        let texts: Vec<String> = words.iter().map(|w| word_text(w)).collect();
        assert_eq!(texts, [" café", " olé"]);
        assert_eq!(words.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    }

    #[test]
    fn tokens_merge_into_words_in_session_time() {
        let out = EngineOutput {
            segments: vec![Segment {
                text: " And so, my fellow".into(),
                no_speech: 0.01,
                tokens: vec![
                    tok(" And", 0, 30, 0.9),
                    tok(" so", 30, 50, 0.8),
                    tok(",", 50, 52, 0.7),
                    tok(" my", 60, 80, 0.9),
                    tok(" fel", 80, 100, 0.6),
                    tok("low", 100, 130, 1.0),
                ],
            }],
            ..Default::default()
        };
        let t = transcript_from(&out, 16_000, 16_000 * 10, &UtteranceGaps::default());
        let w: Vec<_> = t.words.iter().map(|w| (w.text.as_str(), w.start, w.end)).collect();
        assert_eq!(
            w,
            vec![
                ("And", 16_000, 16_000 + 30 * 160),
                ("so,", 16_000 + 30 * 160, 16_000 + 52 * 160),
                ("my", 16_000 + 60 * 160, 16_000 + 80 * 160),
                ("fellow", 16_000 + 80 * 160, 16_000 + 130 * 160),
            ]
        );
        assert!((t.words[3].probability - 0.8).abs() < 1e-6);
        assert_eq!(t.text, "And so, my fellow");
        assert!(!t.suspect);
    }

    #[test]
    fn times_after_a_left_out_pause_move_past_it() {
        let out = EngineOutput {
            segments: vec![Segment {
                text: " one two".into(),
                no_speech: 0.01,
                tokens: vec![tok(" one", 0, 100, 0.9), tok(" two", 100, 150, 0.9)],
            }],
            ..Default::default()
        };
        // 3 s of pause were cut out at 1 s into the audio.
        let gaps = UtteranceGaps(vec![(16_000, 48_000)]);
        let t = transcript_from(&out, 0, 16_000 * 2, &gaps);
        let w: Vec<_> = t.words.iter().map(|w| (w.text.as_str(), w.start, w.end)).collect();
        assert_eq!(w, vec![("one", 0, 16_000), ("two", 64_000, 64_000 + 50 * 160)]);
        // A word whose times run over the cut starts after it.
        let out = EngineOutput {
            segments: vec![Segment {
                text: " one two".into(),
                no_speech: 0.01,
                tokens: vec![tok(" one", 0, 80, 0.9), tok(" two", 80, 150, 0.9)],
            }],
            ..Default::default()
        };
        let t = transcript_from(&out, 0, 16_000 * 2, &gaps);
        assert_eq!((t.words[1].start, t.words[1].end), (64_000, 64_000 + 50 * 160));
    }

    #[test]
    fn speech_heard_again_without_words_is_placed_in_session_time() {
        let out = EngineOutput { unheard: vec![(16_000, 40_000), (50_000, 90_000)], ..Default::default() };
        // An utterance 10 s into the session, 4 s long: the second stretch ends with it.
        let t = transcript_from(&out, 160_000, 64_000, &UtteranceGaps::default());
        assert_eq!(t.unheard, vec![(176_000, 200_000), (210_000, 224_000)]);
    }

    #[test]
    fn a_storm_keeps_two_copies_and_stays_visible() {
        let tokens: Vec<Token> = (0..40).map(|i| tok(" six,", i * 3, i * 3 + 3, 0.5)).collect();
        let out = EngineOutput {
            segments: vec![Segment { text: " six,".repeat(40), no_speech: 0.01, tokens }],
            attempts: 3,
            storm: true,
            unheard: Vec::new(),
        };
        let t = transcript_from(&out, 0, 19_200, &UtteranceGaps::default());
        assert_eq!(t.text, "six, six,");
        assert_eq!(t.words.len(), 2);
        assert!(!t.suspect);
    }

    #[test]
    fn phantom_phrases_on_weak_audio_are_flagged() {
        let out = EngineOutput {
            segments: vec![Segment {
                text: " Thank you.".into(),
                no_speech: 0.5,
                tokens: vec![tok(" Thank", 0, 10, 0.4)],
            }],
            ..Default::default()
        };
        assert!(transcript_from(&out, 0, 16_000, &UtteranceGaps::default()).suspect);
        assert!(is_phantom("Thanks for watching!"));
        assert!(!is_phantom("Thank you for coming to the meeting"));
    }
}
