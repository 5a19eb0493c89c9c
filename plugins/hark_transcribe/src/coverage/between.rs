//! Speech the text passes over between two of its words is heard again.
//!
//! Whisper may jump from one sentence to a later one, stretching a word's time over what was
//! said between them: in a joined utterance, "Go forward 10 meters. No." with "meters" lasting
//! 4.9 s over a falsetto speaker's nine words, gone with no sign. Where the VAD heard speech
//! that no word's time reaches, that span is decoded on its own and its words put in place.

use hark_core::text::normalize_words;

use super::{LONGEST_WORD, MAX_PASSES, MIN_UNHEARD, PER_CS, segment_of, tokens};
use crate::engine::{Engine, EngineOutput, Segment, Token, output_text};
use crate::words::{token_words, word_text};

/// How late whisper may place a word's start after its speech begins.
const LATE_START: u64 = 8_000;

/// A word of the decoded text: where its first token is and when it starts, in samples.
pub(super) struct WordAt {
    segment: usize,
    token: usize,
    pub(super) start: u64,
    text: String,
}

/// The words of `out` that carry a letter or digit (not punctuation on its own).
pub(super) fn words_at(out: &EngineOutput) -> Vec<WordAt> {
    let mut words = Vec::new();
    for (si, s) in out.segments.iter().enumerate() {
        let mut ti = 0;
        for w in token_words(&s.tokens) {
            let text = word_text(&w);
            if text.bytes().any(|b| b.is_ascii_alphanumeric() || b >= 0x80) {
                words.push(WordAt { segment: si, token: ti, start: w[0].t0.max(0) as u64 * PER_CS, text });
            }
            ti += w.len();
        }
    }
    words
}

/// Speech the text passes over between two of its words: whisper may jump from one sentence to
/// a later one, stretching a word's time over what was said between them (a falsetto voice
/// between two readers, in a joined utterance, vanished so). The first `MIN_UNHEARD` or more
/// of the VAD's speech that lies after a word could have ended and before the next starts:
/// `(index of the word after it, from, to)`, in samples of the audio, to hear again (from the
/// start of the run of speech frames it begins in, but not within half a word of the word
/// before).
fn skipped_between(words: &[WordAt], speech: &[(u64, u64)], tried: &[u64]) -> Option<(usize, u64, u64)> {
    const PAD: u64 = 4_800;
    for (i, pair) in words.windows(2).enumerate() {
        let (from, to) = (pair[0].start + LONGEST_WORD, pair[1].start.saturating_sub(LATE_START));
        let inside: Vec<(u64, u64)> =
            speech.iter().map(|&(a, b)| (a.max(from), b.min(to))).filter(|&(a, b)| b > a).collect();
        let said: u64 = inside.iter().map(|&(a, b)| b - a).sum();
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else { continue };
        let begins = speech.iter().find(|&&(a, b)| a <= first.0 && first.0 < b).map_or(first.0, |s| s.0);
        let span =
            (begins.saturating_sub(PAD).max(pair[0].start + LONGEST_WORD / 3), (last.1 + PAD).min(pair[1].start));
        if said >= MIN_UNHEARD && !tried.contains(&span.0) {
            return Some((i + 1, span.0, span.1));
        }
    }
    None
}

/// Least mean token probability of what is heard between two words for it to be put there.
const MIN_HEARD_P: f32 = 0.5;

/// Mean probability of the tokens of `out` that carry a letter or digit.
fn mean_p(out: &EngineOutput) -> f32 {
    let ps: Vec<f32> =
        tokens(out).filter(|t| t.bytes.iter().any(|b| b.is_ascii_alphanumeric() || *b >= 0x80)).map(|t| t.p).collect();
    if ps.is_empty() { 0.0 } else { ps.iter().sum::<f32>() / ps.len() as f32 }
}

/// Drops from `heard` its first words when they are the words just before (`before`, last
/// first) and its last when they are the words just after (`after`): up to two each, the edges
/// of a word the pass started or ended inside.
fn trim_edges(heard: &mut EngineOutput, before: &[String], after: &[String]) {
    let mut tokens: Vec<Token> = heard.segments.iter().flat_map(|s| s.tokens.iter().cloned()).collect();
    let words = token_words(&tokens);
    let said: Vec<Vec<String>> = words.iter().map(|w| normalize_words(&word_text(w))).collect();
    let lead = (0..=2.min(said.len()))
        .rev()
        .find(|&k| k > 0 && !said[..k].concat().is_empty() && before.ends_with(&said[..k].concat()))
        .unwrap_or(0);
    let trail = (0..=2.min(said.len() - lead))
        .rev()
        .find(|&k| {
            k > 0 && !said[said.len() - k..].concat().is_empty() && after.starts_with(&said[said.len() - k..].concat())
        })
        .unwrap_or(0);
    if lead == 0 && trail == 0 {
        return;
    }
    let (from, to) = (
        words[..lead].iter().map(Vec::len).sum::<usize>(),
        tokens.len() - words[words.len() - trail..].iter().map(Vec::len).sum::<usize>(),
    );
    tokens = tokens[from..to].to_vec();
    let no_speech = heard.segments.first().map_or(0.0, |s| s.no_speech);
    heard.segments = vec![segment_of(tokens, no_speech)];
}

/// Hears again the speech the text passed over between its words (see [`skipped_between`]),
/// and puts what is heard there in its place. A pass that hears nothing new (a phantom, a
/// storm, or words the text already has around that place: whisper had only misplaced them)
/// changes nothing. Each span heard is added to `heard`.
pub(super) fn fill_skipped(
    engine: &mut dyn Engine,
    audio: &[f32],
    speech: &[(u64, u64)],
    out: &mut EngineOutput,
    heard_again: &mut Vec<(u64, u64)>,
) {
    let mut tried = Vec::new();
    for _ in 0..MAX_PASSES {
        let words = words_at(out);
        let Some((next, from, to)) = skipped_between(&words, speech, &tried) else { return };
        tried.push(from);
        // Whisper's times (and so the next word's start) can run past the audio's end.
        let to = (to as usize).min(audio.len());
        if from as usize >= to {
            return;
        }
        heard_again.push((from, to as u64));
        let Ok(mut heard) = engine.transcribe(&audio[from as usize..to], None) else { return };
        out.attempts += heard.attempts;
        // No words in it at all: someone the recogniser cannot follow, if the whole window
        // hears none either. (Words the text already has around there are not that: whisper
        // had misplaced them.)
        if crate::coverage::no_words(&heard) {
            crate::coverage::mark_unheard(engine, audio, crate::coverage::speech_span(speech, from, to as u64), out);
            continue;
        }
        let norm = |ws: &[WordAt]| ws.iter().flat_map(|w| normalize_words(&w.text)).collect::<Vec<String>>();
        trim_edges(
            &mut heard,
            &norm(&words[next.saturating_sub(2)..next]),
            &norm(&words[next..(next + 2).min(words.len())]),
        );
        let text = output_text(&heard);
        if crate::guard::plain_words(&text).is_empty() || crate::words::is_phantom(&text) {
            continue;
        }
        // Added on the strength of timestamps alone, what is heard must be heard clearly: a
        // hesitant word there is more likely a misplaced word heard again, or noise.
        if mean_p(&heard) < MIN_HEARD_P {
            continue;
        }
        let new = normalize_words(&text);
        let around = norm(&words[next.saturating_sub(new.len() + 3)..(next + new.len() + 3).min(words.len())]);
        // Mostly words from around there, or three in a row that the text already has: whisper
        // had misplaced what it heard (in noise its times drift most), not passed over it.
        let all = norm(&words);
        if new.iter().filter(|w| around.contains(w)).count() * 2 >= new.len()
            || new.windows(3).any(|g| all.windows(3).any(|h| h == g))
        {
            continue;
        }
        let shift = (from / PER_CS) as i64;
        for t in heard.segments.iter_mut().flat_map(|s| &mut s.tokens) {
            t.t0 += shift;
            t.t1 += shift;
        }
        // The word before, stretched over what was heard, ends where that starts.
        let begins = heard.segments.iter().flat_map(|s| &s.tokens).map(|t| t.t0).min().unwrap_or(shift);
        let at = &words[next];
        let (before, after) = out.segments.split_at_mut(at.segment);
        let cut = after[0].tokens.iter_mut().take(at.token);
        for t in before.iter_mut().flat_map(|s| &mut s.tokens).chain(cut) {
            t.t1 = t.t1.min(begins);
            t.t0 = t.t0.min(t.t1);
        }
        // The segment the next word is in is split there, and what was heard goes between.
        let whole = out.segments.remove(at.segment);
        let (head, tail) = whole.tokens.split_at(at.token);
        let mut parts: Vec<Segment> = Vec::new();
        if !head.is_empty() {
            parts.push(segment_of(head.to_vec(), whole.no_speech));
        }
        parts.extend(heard.segments);
        parts.push(segment_of(tail.to_vec(), whole.no_speech));
        out.segments.splice(at.segment..at.segment, parts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::complete;
    use crate::coverage::tests::{S, said};
    use crate::engine::EngineError;

    /// Gives its outputs in turn and notes the length of the audio each call was given.
    struct Heard(Vec<EngineOutput>, Vec<usize>);

    impl Engine for Heard {
        fn transcribe(&mut self, audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
            self.1.push(audio.len());
            Ok(self.0.remove(0))
        }

        /// The whole window hears nothing either.
        fn transcribe_whole_window(&mut self, _audio: &[f32]) -> Result<EngineOutput, EngineError> {
            Ok(EngineOutput::default())
        }
    }

    /// "go forward ten meters", a voice whisper jumped over (2.5-5.5 s), then "no": "meters"
    /// is stretched over the voice, as whisper did with a falsetto between two readers.
    fn jumped_over() -> (EngineOutput, Vec<(u64, u64)>) {
        let first = said(&[
            (" go", 0, 40),
            (" forward", 40, 100),
            (" ten", 100, 130),
            (" meters", 130, 620),
            (".", 620, 620),
            (" no", 750, 800),
        ]);
        (first, vec![(0, 2 * S), (S * 25 / 10, S * 55 / 10), (S * 75 / 10, 8 * S)])
    }

    #[test]
    fn speech_passed_over_between_two_words_is_heard_and_put_in_its_place() {
        let (first, speech) = jumped_over();
        let mut e = Heard(
            vec![said(&[(" I", 10, 40), (" really", 40, 100), (" don't", 100, 150), (" know", 150, 250)])],
            Vec::new(),
        );
        let out = complete(&mut e, &vec![0.0; 9 * S as usize], &speech, first).unwrap();
        assert_eq!(output_text(&out), "go forward ten meters. I really don't know no");
        // Heard from just before the passed-over speech to just after it.
        assert_eq!(e.1, vec![(S * 58 / 10 - S * 22 / 10) as usize]);
        let times: Vec<(i64, i64)> = out.segments.iter().flat_map(|s| &s.tokens).map(|t| (t.t0, t.t1)).collect();
        // Its words in their place; "meters" no longer runs over them.
        assert_eq!(
            times,
            vec![
                (0, 40),
                (40, 100),
                (100, 130),
                (130, 230),
                (230, 230),
                (230, 260),
                (260, 320),
                (320, 370),
                (370, 470),
                (750, 800)
            ]
        );
        assert_eq!(out.attempts, 2);
    }

    #[test]
    fn a_word_stretched_over_silence_or_words_only_misplaced_are_left_as_they_are() {
        // Over silence: nothing is heard again.
        let (first, _) = jumped_over();
        let mut e = Heard(Vec::new(), Vec::new());
        let speech = [(0, 2 * S), (S * 75 / 10, 8 * S)];
        let out = complete(&mut e, &vec![0.0; 9 * S as usize], &speech, first.clone()).unwrap();
        assert_eq!(out, first);
        assert!(e.1.is_empty());
        // Heard again, the speech there is words the text already has (whisper had put them
        // early): nothing is added.
        let (first, speech) = jumped_over();
        let mut e = Heard(vec![said(&[(" ten", 10, 40), (" meters", 40, 100)])], Vec::new());
        let out = complete(&mut e, &vec![0.0; 9 * S as usize], &speech, first.clone()).unwrap();
        assert_eq!(output_text(&out), output_text(&first));
        assert_eq!(e.1.len(), 1);
        // Heard again, three words in a row the text has (with others it does not): nothing
        // is added.
        let (first, speech) = jumped_over();
        let again = said(&[
            (" to", 10, 40),
            (" pour", 40, 80),
            (" any", 80, 120),
            (" of", 120, 130),
            (" a", 130, 140),
            (" go", 140, 150),
            (" forward", 150, 190),
            (" ten", 190, 230),
        ]);
        let out =
            complete(&mut Heard(vec![again], Vec::new()), &vec![0.0; 9 * S as usize], &speech, first.clone()).unwrap();
        assert_eq!(output_text(&out), output_text(&first));
        // The next word placed past the audio's end, the speech before it running to the end:
        // heard up to the end, no further.
        let first = said(&[(" go", 0, 40), (" forward", 40, 100), (" no", 900, 950)]);
        let mut e = Heard(vec![said(&[])], Vec::new());
        complete(&mut e, &vec![0.0; 8 * S as usize], &[(0, S), (6 * S, 8 * S)], first).unwrap();
        assert_eq!(e.1, vec![(8 * S - 6 * S + 4_800) as usize]);
        // Heard again, a word whisper is unsure of: nothing is added.
        let (first, speech) = jumped_over();
        let mut unsure = said(&[(" Okay.", 10, 60)]);
        unsure.segments[0].tokens[0].p = 0.37;
        let out =
            complete(&mut Heard(vec![unsure], Vec::new()), &vec![0.0; 9 * S as usize], &speech, first.clone()).unwrap();
        assert_eq!(output_text(&out), output_text(&first));
        assert!(out.unheard.is_empty(), "a word was heard there: {:?}", out.unheard);
        // Heard again, nothing or a phantom: nothing is added, and the voice there (2.5-5.5 s)
        // is marked as speech not recognised.
        for heard in [said(&[]), said(&[(" Thank", 0, 40), (" you.", 40, 80)])] {
            let (first, speech) = jumped_over();
            let out = complete(&mut Heard(vec![heard], Vec::new()), &vec![0.0; 9 * S as usize], &speech, first.clone())
                .unwrap();
            assert_eq!(output_text(&out), output_text(&first));
            assert_eq!(out.unheard, vec![(S * 25 / 10, S * 55 / 10)]);
        }
    }
}
