//! Speech that the text's words are only stretched over is heard alone.
//!
//! Whisper may stretch one speaker's words over the next speaker: between two readers, a
//! 12-year-old it cannot follow got the first reader's "the small dog" placed on his speech,
//! and nothing of his own. The hearing between words does not see that: words are there. But
//! over the VAD's speech frames a voice says about three words a second, so a stretch of speech
//! (those frames joined across pauses under half a second) of two seconds or more holding
//! fewer than half that, [`MIN_WORDS_PER_S`], and not heard again already, is heard alone.
//! Only in an utterance of two stretches or more: words are misplaced from one onto another.
//! When no word is heard in it, nor in the whole window, it is marked as speech not
//! recognised. The text is not changed: the words whisper hears there alone may be the ones it
//! had misplaced, and a slow speaker's stretch costs one decode and is left as it was.

use super::{MAX_PASSES, SLACK, mark_unheard, no_words, speech_span, stretches};
use crate::engine::{Engine, EngineOutput};

/// Least speech in a stretch for it to be weighed (2 s: a second and a half of one drawn-out
/// word, or of a word and the VAD's trailing frames, is common).
const MIN_SPEECH: u64 = 32_000;
/// How early whisper may place a word's start before its speech (as the tail hearing takes it).
const EARLY_START: u64 = SLACK;
/// Fewer word starts than this per second of speech make a stretch worth hearing alone.
const MIN_WORDS_PER_S: f64 = 1.5;
/// Audio heard around the stretch (its pauses are at least twice as long).
const PAD: u64 = 3_200;

/// The stretches of `frames` (speech `(from, to)`, sorted) that hold at least [`MIN_SPEECH`] of
/// speech and fewer word starts of `out` than [`MIN_WORDS_PER_S`] for it, neither heard again already
/// (`heard`) nor marked.
fn sparse(out: &EngineOutput, frames: &[(u64, u64)], heard: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let starts: Vec<u64> = super::between::words_at(out).iter().map(|w| w.start).collect();
    let all = stretches(frames);
    // Words are misplaced from one stretch onto another: with one stretch there is no other,
    // and speech the words do not reach in it is the other hearings' (after the text, between
    // two words).
    if all.len() < 2 {
        return Vec::new();
    }
    all.into_iter()
        .filter(|&(a, b)| {
            let said: u64 = frames.iter().map(|&(x, y)| y.min(b).saturating_sub(x.max(a))).sum();
            let words = starts.iter().filter(|&&s| s + EARLY_START >= a && s < b).count() as u64;
            let done = out.unheard.iter().chain(heard).any(|&(x, y)| x < b && y > a);
            said >= MIN_SPEECH && (words as f64) < MIN_WORDS_PER_S * hark_core::samples_to_secs(said) && !done
        })
        .collect()
}

/// Hears alone each stretch of speech that `out`'s words are only stretched over (see the
/// module documentation), at most [`MAX_PASSES`] of them, and marks those without a word.
pub(super) fn mark_sparse(
    engine: &mut dyn Engine,
    audio: &[f32],
    frames: &[(u64, u64)],
    heard: &[(u64, u64)],
    out: &mut EngineOutput,
) {
    let len = audio.len() as u64;
    for (a, b) in sparse(out, frames, heard).into_iter().take(MAX_PASSES as usize) {
        let (from, to) = (a.saturating_sub(PAD) as usize, (b + PAD).min(len) as usize);
        if from >= to {
            continue;
        }
        let Ok(heard) = engine.transcribe(&audio[from..to], None) else { continue };
        out.attempts += heard.attempts;
        if no_words(&heard) {
            mark_unheard(engine, audio, speech_span(frames, a, b), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::tests::said;
    use crate::engine::EngineError;

    /// `said` with a space before each word, as whisper's tokens have.
    fn output(words: &[(&str, i64, i64)]) -> EngineOutput {
        let spaced: Vec<String> = words.iter().map(|w| format!(" {}", w.0)).collect();
        said(&words.iter().zip(&spaced).map(|(w, t)| (t.as_str(), w.1, w.2)).collect::<Vec<_>>())
    }

    /// Hears what it is told for each call, and nothing in the whole window.
    struct Hears(Vec<EngineOutput>, Vec<(usize, usize)>);

    impl Engine for Hears {
        fn transcribe(&mut self, audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
            self.1.push((audio.len(), 0));
            Ok(self.0.remove(0))
        }

        fn transcribe_whole_window(&mut self, audio: &[f32]) -> Result<EngineOutput, EngineError> {
            self.1.push((0, audio.len()));
            Ok(EngineOutput::default())
        }
    }

    /// A reader (0-2.5 s), a pause, a speaker whisper cannot follow (3.5-6.5 s), a pause, a
    /// reader (7.5-9 s). Whisper put two of the first reader's words on the second speaker.
    fn readers() -> (Vec<(u64, u64)>, EngineOutput) {
        let frames = vec![(0, 40_000), (56_000, 80_000), (84_000, 104_000), (120_000, 144_000)];
        let out = output(&[
            ("a", 0, 20),
            ("small", 40, 70),
            ("dog", 90, 120),
            ("hurt", 130, 276),
            ("the", 400, 430),
            ("small", 450, 600),
            ("go", 750, 780),
            ("forward", 790, 840),
            ("ten", 850, 870),
        ]);
        (frames, out)
    }

    #[test]
    fn a_stretch_holding_fewer_words_than_seconds_is_heard_alone_and_marked_when_it_has_none() {
        let (frames, mut out) = readers();
        assert_eq!(sparse(&out, &frames, &[]), vec![(56_000, 104_000)]);
        let text = crate::engine::output_text(&out);
        let mut e = Hears(vec![EngineOutput::default()], Vec::new());
        mark_sparse(&mut e, &vec![0.0; 150_000], &frames, &[], &mut out);
        assert_eq!(e.1, vec![(48_000 + 2 * 3_200, 0), (0, 48_000)], "the stretch alone, then the whole window");
        assert_eq!(out.unheard, vec![(56_000, 104_000)]);
        assert_eq!(crate::engine::output_text(&out), text, "the text is not changed");
        // Marked once: weighed again, it is not heard again.
        assert!(sparse(&out, &frames, &[]).is_empty());
        // Nor is an utterance's only stretch (two words in its 2.75 s).
        let (frames, out) = readers();
        assert!(sparse(&out, &frames[1..3], &[]).is_empty());
        // Nor is a stretch an earlier hearing took in.
        let (frames, out) = readers();
        assert!(sparse(&out, &frames, &[(90_000, 150_000)]).is_empty());
    }

    #[test]
    fn words_heard_in_it_alone_leave_it_unmarked() {
        let (frames, mut out) = readers();
        let mut e = Hears(vec![output(&[("the", 0, 20), ("small", 30, 60)])], Vec::new());
        mark_sparse(&mut e, &vec![0.0; 150_000], &frames, &[], &mut out);
        assert_eq!(e.1.len(), 1, "no whole-window hearing");
        assert!(out.unheard.is_empty());
    }

    #[test]
    fn speech_with_its_words_is_not_heard_again() {
        // Two words a second over three seconds, a slow speaker's one and a half words a second,
        // and a short stretch with a word.
        let frames = vec![(0, 48_000), (60_000, 92_000), (110_000, 120_000)];
        let out = output(&[
            ("one", 0, 40),
            ("two", 50, 90),
            ("three", 100, 140),
            ("four", 150, 190),
            ("five", 200, 240),
            ("six", 250, 290),
            ("slow", 380, 480),
            ("ly", 480, 520),
            ("said", 530, 570),
        ]);
        assert!(sparse(&out, &frames, &[]).is_empty());
        let mut e = Hears(Vec::new(), Vec::new());
        let mut o = out.clone();
        mark_sparse(&mut e, &vec![0.0; 130_000], &frames, &[], &mut o);
        assert!(e.1.is_empty());
    }
}
