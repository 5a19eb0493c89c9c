//! Speech the text does not reach is heard again.
//!
//! Whisper may end its transcript early: after a sentence that sounds like an ending ("… and
//! that should be all. Thanks.") followed by a pause, it predicts that nothing more is said,
//! and whisper.cpp (like OpenAI's decoder) then skips the rest of the window. In a file whose
//! pauses were joined into one utterance, a second speaker's 9 s after that pause vanished
//! without a trace. The VAD heard that speech, so the recogniser knows: when the decoded text
//! ends well before speech the VAD found, the audio from where the text ends is decoded on its
//! own and its text appended, until the text reaches the speech or a pass adds nothing.
//! Whisper may also jump over speech in the middle (from "… ten meters" straight to the next
//! speaker's "no", a falsetto between them gone): speech no word's time reaches between two
//! words is heard on its own too, and put in its place.

use hark_core::text::normalize_words;

use crate::engine::{Engine, EngineError, EngineOutput, Segment, Token, output_text};

mod between;
mod sparse;
use crate::words::{token_words, word_text};

/// Samples per whisper timestamp unit (10 ms at 16 kHz).
const PER_CS: u64 = 160;
/// How far whisper's last timestamp may fall before the end of the speech it transcribed (its
/// segment ends are coarse, and the VAD's frames run on through a word's fading end).
const SLACK: u64 = 16_000;
/// Speech beyond the text's end (past the slack) that makes it worth hearing again: less is a
/// breath, a click or a voice fading out, and a pass costs an encoder run. (1.5 s was tried:
/// it spared one made-up word on the short set and lost 4 recovered words on held-out noisy
/// monologues.)
const MIN_UNHEARD: u64 = 12_800;
/// Passes after the first, at most.
const MAX_PASSES: u32 = 3;

/// How long a word is taken to last from its start at most (a slow "forward" lasts a second,
/// and whisper may place a word's start early by part of it).
const LONGEST_WORD: u64 = 24_000;

/// Where the text of `out` ends, in samples of the audio it was decoded from: its last
/// timestamp, but no later than [`LONGEST_WORD`] after its last word starts. Whisper stretches a
/// segment's last timestamp, and with it the final full stop, over what follows: in a fast
/// held-out monologue "One, two, three." ended with a "." running 19.6 s over a speaker it never
/// transcribed, and that speech, 57 words, was lost.
pub fn text_end(out: &EngineOutput) -> u64 {
    let last = tokens(out).map(|t| t.t1.max(0) as u64 * PER_CS).max().unwrap_or(0);
    last.min(last_word_start(out) + LONGEST_WORD)
}

/// Where the last word of `out` starts. Whisper stretches a segment's last timestamp over the
/// pause after it (and sometimes into the next speech), so a word's start is the firmer mark.
fn last_word_start(out: &EngineOutput) -> u64 {
    tokens(out)
        .filter(|t| t.bytes.iter().any(|b| b.is_ascii_alphanumeric() || *b >= 0x80))
        .map(|t| t.t0.max(0) as u64 * PER_CS)
        .max()
        .unwrap_or(0)
}

fn tokens(out: &EngineOutput) -> impl Iterator<Item = &Token> {
    out.segments.iter().flat_map(|s| &s.tokens)
}

/// Samples of `speech` (sorted `(from, to)` spans) after `from`.
fn speech_after(speech: &[(u64, u64)], from: u64) -> u64 {
    speech.iter().map(|&(a, b)| b.saturating_sub(a.max(from))).sum()
}

/// The speech of `speech` (sorted `(from, to)` spans) between `from` and `to`: from where it
/// first starts to where it last ends, if there is any.
pub(crate) fn speech_span(speech: &[(u64, u64)], from: u64, to: u64) -> Option<(u64, u64)> {
    let mut inside = speech.iter().filter(|&&(a, b)| b > from && a < to);
    let first = inside.next()?;
    let last = inside.next_back().unwrap_or(first);
    Some((first.0.max(from), last.1.min(to)))
}

/// Whether `out` holds no words at all (nothing, a phrase whisper invents for silence, or a
/// storm).
pub(crate) fn no_words(out: &EngineOutput) -> bool {
    let text = output_text(out);
    out.storm || crate::guard::plain_words(&text).is_empty() || crate::words::is_phantom(&text)
}

/// Marks `span` of `audio` (speech the VAD heard, decoded again without a word in it) as
/// speech not recognised in `out`, once a decode in the whole window hears no word in it
/// either: short stretches decoded alone often come out empty where the text has their
/// words, only placed elsewhere, and a row saying "not recognised" there would be false.
pub(crate) fn mark_unheard(engine: &mut dyn Engine, audio: &[f32], span: Option<(u64, u64)>, out: &mut EngineOutput) {
    let Some((a, b)) = span else { return };
    if hark_core::samples_to_secs(b.saturating_sub(a)) < hark_core::unrecognised::MIN_SPEECH_S {
        return;
    }
    let end = (b as usize).min(audio.len());
    if let Ok(heard) = engine.transcribe_whole_window(&audio[a as usize..end]) {
        out.attempts += heard.attempts;
        if no_words(&heard) {
            out.unheard.push((a, b));
        }
    }
}

/// The VAD's speech frames joined across pauses shorter than half a second (between words,
/// a stop consonant, a breath): stretches of speech that a real pause separates.
fn stretches(speech: &[(u64, u64)]) -> Vec<(u64, u64)> {
    const BRIDGE: u64 = 8_000;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(a, b) in speech {
        match out.last_mut() {
            Some(last) if a <= last.1 + BRIDGE => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Where speech the text of `out` does not reach starts, if there is enough of it: speech
/// running on past the text's end in the stretch its last word was said in, or stretches after
/// that one.
fn unheard(out: &EngineOutput, speech: &[(u64, u64)], len: u64) -> Option<u64> {
    const LEAD_IN: u64 = 4_800;
    let anchor = last_word_start(out);
    let end = text_end(out);
    // The stretch the last word was said in (whisper's word starts can be early by most of a
    // word: a stretch that starts within the slack after it is taken as the word's own).
    let heard = speech.iter().rposition(|&(a, _)| a <= anchor + SLACK).unwrap_or(0);
    let from = if speech_after(&speech[..=heard.min(speech.len() - 1)], end + SLACK) >= MIN_UNHEARD {
        end
    } else {
        match speech.get(heard + 1) {
            Some(&(a, _)) if speech_after(speech, a) >= MIN_UNHEARD => a.saturating_sub(LEAD_IN).max(anchor),
            _ => return None,
        }
    };
    (from + PER_CS < len).then_some(from)
}

/// A segment of `tokens`, its text decoded from them whole.
fn segment_of(tokens: Vec<Token>, no_speech: f32) -> Segment {
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.bytes.iter().copied()).collect();
    Segment { text: String::from_utf8_lossy(&bytes).into_owned(), no_speech, tokens }
}

/// Drops the words at the start of `rest` (decoded from `shift` centiseconds on) that repeat
/// the last words of `out` and start before its text ends, give or take the slack (a pass that
/// started inside the last words heard): up to three, compared as the word error rate compares
/// them ("3" is "three").
fn drop_repeated_start(out: &EngineOutput, rest: &mut EngineOutput, shift: i64) {
    let before = normalize_words(&output_text(out));
    let until = ((text_end(out) + SLACK) / PER_CS) as i64;
    let Some(first) = rest.segments.first_mut() else { return };
    let drop = {
        let after = token_words(&first.tokens);
        let Some(k) = (1..=3.min(after.len())).rev().find(|&k| {
            let said: Vec<String> = after[..k].iter().flat_map(|w| normalize_words(&word_text(w))).collect();
            !said.is_empty() && before.ends_with(&said) && after[k - 1][0].t0 + shift < until
        }) else {
            return;
        };
        after[..k].iter().map(Vec::len).sum::<usize>()
    };
    first.tokens.drain(..drop);
    *first = segment_of(std::mem::take(&mut first.tokens), first.no_speech);
}

/// An utterance's text: the engine's decode of `audio`, then the second hearings below. Those
/// only add to what was heard: should one fail in a way nobody foresaw (a panic), the first
/// decode's text is kept rather than the worker, and every utterance after it, lost.
pub fn transcribe(
    engine: &mut dyn Engine,
    audio: &[f32],
    prompt: Option<&str>,
    speech: &[(u64, u64)],
) -> Result<EngineOutput, EngineError> {
    let out = engine.transcribe(audio, prompt)?;
    let first = out.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| complete(engine, audio, speech, out))).unwrap_or_else(
        |_| {
            bevy::log::error!("hearing an utterance again failed; its first transcription is kept");
            Ok(first)
        },
    )
}

/// Decodes the speech `out` (the engine's result for `audio`) does not reach, and appends it.
/// `speech` is where the VAD heard speech in `audio`; empty means unknown (nothing is done).
/// A pass that fails, hears nothing, a phantom phrase or a storm ends it with what was heard.
pub fn complete(
    engine: &mut dyn Engine,
    audio: &[f32],
    speech: &[(u64, u64)],
    mut out: EngineOutput,
) -> Result<EngineOutput, EngineError> {
    let len = audio.len() as u64;
    // Nothing decoded at all is the engine's own concern (it hears silence again itself).
    if speech.is_empty() || output_text(&out).trim().is_empty() {
        return Ok(out);
    }
    let frames = speech;
    let speech = stretches(speech);
    // What was heard again, `(from, to)`: speech the text was weighed against already.
    let mut heard = Vec::new();
    for _ in 0..MAX_PASSES {
        let Some(from) = unheard(&out, &speech, len) else { break };
        heard.push((from, len));
        // A failed pass (or one cancelled) leaves the text as it was.
        let Ok(mut rest) = engine.transcribe(&audio[from as usize..], None) else { break };
        out.attempts += rest.attempts;
        // No words in it at all: someone the recogniser cannot follow, if the whole window
        // hears none either. (Only words the text already ends with are not that: the pass
        // started inside them.)
        if no_words(&rest) {
            mark_unheard(engine, audio, speech_span(frames, from, len), &mut out);
            break;
        }
        let shift = (from / PER_CS) as i64;
        drop_repeated_start(&out, &mut rest, shift);
        let text = output_text(&rest);
        if crate::guard::plain_words(&text).is_empty() || crate::words::is_phantom(&text) {
            break;
        }
        for t in rest.segments.iter_mut().flat_map(|s| &mut s.tokens) {
            t.t0 += shift;
            t.t1 += shift;
        }
        // Only text that reaches further than what was heard.
        if last_word_start(&rest) <= last_word_start(&out) {
            break;
        }
        out.segments.extend(rest.segments);
    }
    between::fill_skipped(engine, audio, frames, &mut out, &mut heard);
    sparse::mark_sparse(engine, audio, frames, &heard, &mut out);
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Transcribes like whisper stopping early: of the words it is given (each at a time in
    /// the full audio), it reports those in the audio it is handed up to the first pause of
    /// more than a second, then declares the rest silence.
    struct StopsAtPauses {
        words: Vec<(&'static str, u64, u64)>,
        total: u64,
        calls: Vec<u64>,
    }

    impl Engine for StopsAtPauses {
        fn transcribe(&mut self, audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
            let from = self.total - audio.len() as u64;
            self.calls.push(from);
            let mut tokens = Vec::new();
            let mut last_end: Option<u64> = None;
            for &(w, a, b) in self.words.iter().filter(|w| w.1 >= from) {
                if last_end.is_some_and(|e| a > e + 16_000) {
                    break;
                }
                let cs = |x: u64| ((x - from) / PER_CS) as i64;
                tokens.push(Token { bytes: format!(" {w}").into_bytes(), p: 0.9, t0: cs(a), t1: cs(b) });
                last_end = Some(b);
            }
            let text = tokens.iter().map(|t| String::from_utf8_lossy(&t.bytes).into_owned()).collect::<String>();
            Ok(EngineOutput {
                segments: vec![Segment { text, no_speech: 0.0, tokens }],
                attempts: 1,
                storm: false,
                unheard: Vec::new(),
            })
        }
    }

    pub(super) const S: u64 = 16_000;

    fn run(words: Vec<(&'static str, u64, u64)>, speech: &[(u64, u64)], total: u64) -> (String, Vec<u64>, Vec<i64>) {
        let mut e = StopsAtPauses { words, total, calls: Vec::new() };
        let audio = vec![0.0; total as usize];
        let first = e.transcribe(&audio, None).unwrap();
        let out = complete(&mut e, &audio, speech, first).unwrap();
        let starts = out.segments.iter().flat_map(|s| &s.tokens).map(|t| t.t0).collect();
        (output_text(&out).split_whitespace().collect::<Vec<_>>().join(" "), e.calls, starts)
    }

    #[test]
    fn speech_after_an_early_end_is_heard_again_with_its_times_in_the_whole_audio() {
        // "that is all" at 0-2 s, a 2 s pause, then "had he married" at 4-6.5 s.
        let words = vec![
            ("that", 0, S / 2),
            ("is", S / 2, S),
            ("all", S, 2 * S),
            ("had", 4 * S, 5 * S),
            ("he", 5 * S, 6 * S),
            ("married", 6 * S, 6 * S + S / 2),
        ];
        let (text, calls, starts) = run(words, &[(0, 2 * S), (4 * S, 6 * S + S / 2)], 7 * S);
        assert_eq!(text, "that is all had he married");
        // The second pass starts just before the speech it had not reached.
        assert_eq!(calls, vec![0, 4 * S - 4_800]);
        assert_eq!(starts, vec![0, 50, 100, 400, 500, 600]);
    }

    #[test]
    fn several_early_ends_take_several_passes() {
        let words = vec![("one", 0, S), ("two", 3 * S, 5 * S), ("three", 7 * S, 9 * S)];
        let (text, calls, _) = run(words, &[(0, S), (3 * S, 5 * S), (7 * S, 9 * S)], 10 * S);
        assert_eq!(text, "one two three");
        assert_eq!(calls.len(), 3);
    }

    #[test]
    fn speech_beyond_the_text_counts_only_past_the_slack_and_over_the_threshold() {
        // "hello my dear old friend Tom" ends at 2 s; the VAD's stretch runs on to 2 + 1 (slack)
        // + 0.7 s: not enough to hear again, and a later blip of 0.4 s is not either.
        let words = || {
            let mut w: Vec<_> = ["hello", "my", "dear", "old", "friend", "Tom"]
                .into_iter()
                .enumerate()
                .map(|(i, w)| (w, i as u64 * S / 3, (i as u64 + 1) * S / 3))
                .collect();
            w.push(("again", 3 * S + S / 10, 3 * S + S * 9 / 10));
            w
        };
        let speech = [(0, 3 * S + 11_200), (7 * S, 7 * S + 6_400)];
        let (text, calls, _) = run(words(), &speech, 8 * S);
        assert_eq!(text, "hello my dear old friend Tom");
        assert_eq!(calls, vec![0]);
        // 0.9 s past the slack is heard again, from where the text ends, though a later
        // stretch exists.
        let speech = [(0, 3 * S + 14_400), (7 * S, 7 * S + 6_400)];
        let (text, calls, _) = run(words(), &speech, 8 * S);
        assert_eq!(text, "hello my dear old friend Tom again");
        assert_eq!(calls, vec![0, 2 * S]);
    }

    #[test]
    fn a_word_placed_before_its_speech_is_not_heard_again() {
        // Whisper puts the start of "no" 0.7 s before the stretch it was said in: that stretch
        // is the word's own, not speech after it.
        let words = vec![("so", 0, S), ("no", S * 18 / 10, S * 35 / 10)];
        let (text, calls, _) = run(words, &[(0, S), (S * 25 / 10, 4 * S)], 5 * S);
        assert_eq!(text, "so no");
        assert_eq!(calls, vec![0]);
    }

    #[test]
    fn a_failed_pass_keeps_the_text_heard() {
        struct FailsSecond(u32);
        impl Engine for FailsSecond {
            fn transcribe(&mut self, _audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
                self.0 += 1;
                Err(EngineError::Other("no".into()))
            }
        }
        let first = said(&[(" fine", 0, 100)]);
        let out = complete(&mut FailsSecond(0), &vec![0.0; 8 * S as usize], &[(0, S), (3 * S, 6 * S)], first).unwrap();
        assert_eq!(output_text(&out), "fine");
    }

    #[test]
    fn without_speech_spans_nothing_is_done() {
        let words = vec![("a", 0, S), ("b", 4 * S, 5 * S)];
        let (text, calls, _) = run(words, &[], 6 * S);
        assert_eq!(text, "a");
        assert_eq!(calls, vec![0]);
    }

    #[test]
    fn a_pass_that_hears_nothing_or_a_phantom_adds_nothing() {
        // The VAD's "speech" after the text is noise the engine hears nothing in.
        let words = vec![("fine", 0, S)];
        let (text, calls, _) = run(words, &[(0, S), (3 * S, 6 * S)], 7 * S);
        assert_eq!(text, "fine");
        // The pass from just before that speech, then its 3 s alone in the whole window (this
        // engine notes a call as the audio's length short of the total), before it is marked.
        assert_eq!(calls, vec![0, 3 * S - 4_800, 7 * S - 3 * S]);
        let words = vec![("fine", 0, S), ("thank", 4 * S, 4 * S + 8_000), ("you", 4 * S + 8_000, 5 * S)];
        let (text, calls, _) = run(words, &[(0, S), (3 * S, 6 * S)], 7 * S);
        assert_eq!(text, "fine");
        assert_eq!(calls.len(), 3);
        // What was heard twice without words is marked: where the VAD's speech is (3-6 s).
        let mut e = StopsAtPauses { words: vec![("fine", 0, S)], total: 7 * S, calls: Vec::new() };
        let audio = vec![0.0; 7 * S as usize];
        let first = e.transcribe(&audio, None).unwrap();
        let out = complete(&mut e, &audio, &[(0, S), (3 * S, 6 * S)], first).unwrap();
        assert_eq!(out.unheard, vec![(3 * S, 6 * S)]);
    }
    #[test]
    fn speech_running_on_past_the_text_is_heard_from_where_the_text_ends() {
        // One stretch of speech (the VAD heard no pause), whisper stopped at 2 s.
        let words = vec![("a", 0, S), ("b", S, 2 * S), ("c", 3 * S + S / 10, 4 * S)];
        let (text, calls, starts) = run(words, &[(0, 5 * S)], 6 * S);
        assert_eq!(text, "a b c");
        assert_eq!(calls, vec![0, 2 * S]);
        assert_eq!(starts, vec![0, 100, 310]);
    }

    /// Gives its outputs in turn.
    struct Scripted(Vec<EngineOutput>);

    impl Engine for Scripted {
        fn transcribe(&mut self, _audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
            Ok(self.0.remove(0))
        }

        /// The whole window hears nothing either.
        fn transcribe_whole_window(&mut self, _audio: &[f32]) -> Result<EngineOutput, EngineError> {
            Ok(EngineOutput::default())
        }
    }

    pub(super) fn said(words: &[(&str, i64, i64)]) -> EngineOutput {
        let tokens: Vec<Token> =
            words.iter().map(|&(w, t0, t1)| Token { bytes: w.as_bytes().to_vec(), p: 0.9, t0, t1 }).collect();
        let text = words.iter().map(|w| w.0).collect();
        EngineOutput {
            segments: vec![Segment { text, no_speech: 0.0, tokens }],
            attempts: 1,
            storm: false,
            unheard: Vec::new(),
        }
    }

    #[test]
    fn words_the_next_pass_hears_again_are_not_repeated() {
        let first = said(&[(" so", 0, 50), (" we", 50, 100), (" went", 100, 150), (" home", 150, 200)]);
        let rest = said(&[
            (" we", 0, 40),
            (" went", 40, 80),
            (" home", 80, 120),
            (".", 120, 125),
            (" Then", 140, 180),
            (" it", 180, 220),
            (" rained", 220, 290),
        ]);
        let mut e = Scripted(vec![rest]);
        // Speech runs on past the text (one stretch): the next pass starts where it ended.
        let out = complete(&mut e, &vec![0.0; 10 * S as usize], &[(0, 6 * S)], first).unwrap();
        assert_eq!(output_text(&out), "so we went home Then it rained");
        assert_eq!(out.attempts, 2);
    }
    #[test]
    fn a_full_stop_stretched_over_later_speech_does_not_hide_it() {
        // "One, two, three." with its "." running from 5 s to 24.6 s over speech whisper never
        // transcribed (a fast held-out monologue lost 57 words so): heard again from where
        // "three" could have ended.
        let first = said(&[
            (" One", 150, 200),
            (",", 200, 205),
            (" two", 289, 360),
            (",", 362, 399),
            (" three", 412, 500),
            (".", 500, 2459),
        ]);
        assert_eq!(text_end(&first), 412 * PER_CS + LONGEST_WORD);
        let rest = said(&[(" this", 10, 40), (" is", 40, 80), (" the", 80, 100), (" corpus", 100, 160)]);
        let mut e = Scripted(vec![rest, said(&[])]);
        let speech = [(2 * S, 5 * S), (5 * S + 1_000, 24 * S)];
        let out = complete(&mut e, &vec![0.0; 25 * S as usize], &speech, first).unwrap();
        assert_eq!(output_text(&out), "One, two, three. this is the corpus");
    }

    #[test]
    fn a_repeat_in_other_spelling_is_a_repeat() {
        let first =
            said(&[(" 1", 0, 50), (",", 50, 50), (" 2", 60, 100), (",", 100, 100), (" 3", 110, 150), (".", 150, 150)]);
        let rest = said(&[(" two", 0, 40), (" three", 40, 80), (".", 80, 80), (" Four", 150, 190)]);
        let mut e = Scripted(vec![rest]);
        let out = complete(&mut e, &vec![0.0; 10 * S as usize], &[(0, 4 * S + 6_000)], first).unwrap();
        assert_eq!(output_text(&out), "1, 2, 3. Four");
    }

    #[test]
    fn a_second_hearing_that_panics_keeps_the_first_text() {
        struct PanicsSecond(u32);
        impl Engine for PanicsSecond {
            fn transcribe(&mut self, _audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
                self.0 += 1;
                assert!(self.0 < 2, "a bug in the second hearing");
                Ok(said(&[(" fine", 0, 100)]))
            }
        }
        // Speech runs on well past the text: a second hearing is made, and panics.
        let mut e = PanicsSecond(0);
        let out = transcribe(&mut e, &vec![0.0; 8 * S as usize], None, &[(0, S), (3 * S, 6 * S)]).unwrap();
        assert_eq!(output_text(&out), "fine");
        assert_eq!(e.0, 2);
    }
}
