//! The repetition-storm guard: judges a hypothesis against the audio it came from.
//!
//! whisper, given a short or unusual piece of audio, can loop on a word or phrase ("six, six,
//! six, …" for 1.2 s of one spoken word). whisper.cpp's own checks (token entropy, over 32
//! tokens, and average log-probability) miss short storms and, when every temperature fails,
//! keep the last attempt anyway. A hypothesis fails here when it has
//! - more words than anyone says in that time (6 words a second, +2),
//! - a word or phrase of up to four words repeated five or more times back to back, or three
//!   or more times when the repetition is most of what was heard (people do say "words words
//!   words" in a sentence, but not as the whole of one), or
//! - a phrase of up to four words going round two and a half times or more over ten words or
//!   more, whole copies or not ("the one who was the one who was the one who"), or
//! - a passage of five words or more said twice, word for word, straight after itself (whisper
//!   repeating a whole sentence into the silence after it; people repeat a phrase, rarely a
//!   five-word passage verbatim), or
//! - text that compresses too well (zlib ratio above 2.4, OpenAI's reference threshold, for
//!   texts long enough to measure).

use std::io::Write;

/// Words a second nobody exceeds over a whole utterance.
pub const MAX_WORDS_PER_SEC: f64 = 6.0;
/// Back-to-back occurrences of one n-gram at which a hypothesis fails when the run is most of it.
pub const MAX_REPEATS: usize = 3;
/// Back-to-back occurrences at which a hypothesis fails whatever else it holds.
pub const MAX_REPEATS_ANYWHERE: usize = 5;
/// Words of a run in which every word repeats the word one to four places before it (a phrase
/// going round) at which the run is a loop, if it also goes round at least two and a half times.
pub const MIN_CYCLING_WORDS: usize = 10;
/// Words in the shortest passage that, said twice back to back word for word, is an echo.
pub const MIN_ECHO_WORDS: usize = 5;
/// zlib compression ratio above which a text is a loop.
pub const MAX_COMPRESSION: f32 = 2.4;

/// What the guard found in one hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Verdict {
    pub words: usize,
    /// Most words the audio can hold.
    pub bound: usize,
    /// Longest back-to-back repetition of one n-gram (n ≤ 4), in occurrences.
    pub repeats: usize,
    /// Words in that repetition.
    pub repeat_words: usize,
    /// Words in the longest passage of at least [`MIN_ECHO_WORDS`] said twice back to back (0: none).
    pub echo: usize,
    /// Words in the longest run of a phrase of up to four words going round at least two and a
    /// half times ("the one who was the one who was the one who"), cut or not at either end.
    pub cycling: usize,
    pub compression: f32,
}

impl Verdict {
    /// Whether the repetition is a loop rather than speech.
    pub fn looping(&self) -> bool {
        self.repeats >= MAX_REPEATS_ANYWHERE
            || (self.repeats >= MAX_REPEATS && 2 * self.repeat_words >= self.words)
            || self.echo >= MIN_ECHO_WORDS
            || self.cycling >= MIN_CYCLING_WORDS
    }

    pub fn ok(&self) -> bool {
        self.words <= self.bound && !self.looping() && self.compression <= MAX_COMPRESSION
    }

    /// How bad a failing hypothesis is (0 when it passes); attempts are ranked by it.
    pub fn badness(&self) -> f32 {
        let over = self.words.saturating_sub(self.bound) as f32;
        let rep = if self.looping() {
            (self.repeats.saturating_sub(MAX_REPEATS - 1)
                + usize::from(self.echo >= MIN_ECHO_WORDS)
                + usize::from(self.cycling >= MIN_CYCLING_WORDS)) as f32
        } else {
            0.0
        };
        let comp = (self.compression - MAX_COMPRESSION).max(0.0);
        over + 2.0 * rep + 10.0 * comp
    }
}

/// Most words `secs` of audio can hold.
pub fn word_bound(secs: f64) -> usize {
    (secs.max(1.0) * MAX_WORDS_PER_SEC).floor() as usize + 2
}

/// Lower-case words without punctuation, for comparing; hyphens and other punctuation
/// separate words ("T-T-T-T" is four).
pub fn plain_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Longest back-to-back repetition of an n-gram (n = 1..=4) in `words`, in occurrences.
pub fn longest_repeat(words: &[String]) -> usize {
    repeat_run(words).0
}

/// The longest back-to-back repetition: `(occurrences, words it spans)`.
fn repeat_run(words: &[String]) -> (usize, usize) {
    let mut best = (usize::from(!words.is_empty()), usize::from(!words.is_empty()));
    for n in 1..=4.min(words.len() / 2) {
        for start in 0..n {
            let mut run = 1;
            let mut i = start + n;
            while i + n <= words.len() {
                if words[i..i + n] == words[i - n..i] {
                    run += 1;
                    if run > best.0 || (run == best.0 && run * n > best.1) {
                        best = (run, run * n);
                    }
                } else {
                    run = 1;
                }
                i += n;
            }
        }
    }
    best
}

/// Words in the longest passage of at least [`MIN_ECHO_WORDS`] words that `words` has twice back
/// to back (0 when there is none).
fn echo(words: &[String]) -> usize {
    (MIN_ECHO_WORDS..=words.len() / 2)
        .rev()
        .find(|&n| (0..=words.len() - 2 * n).any(|i| words[i..i + n] == words[i + n..i + 2 * n]))
        .unwrap_or(0)
}

/// Words in the longest run of `words` where each word repeats the one `p` places before it
/// (p = 1..=4), the run counted with its first cycle, when it spans at least two and a half
/// cycles (0 when there is none).
fn cycling(words: &[String]) -> usize {
    let mut best = 0;
    for p in 1..=4 {
        let mut run = 0;
        for i in p..words.len() {
            run = if words[i] == words[i - p] { run + 1 } else { 0 };
            let span = run + p;
            if run > 0 && 2 * span >= 5 * p {
                best = best.max(span);
            }
        }
    }
    best
}

/// zlib compression ratio of `text` (1 for texts under 60 bytes, too short to measure).
pub fn compression_ratio(text: &str) -> f32 {
    if text.len() < 60 {
        return 1.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    if z.write_all(text.as_bytes()).is_err() {
        return 1.0;
    }
    match z.finish() {
        Ok(c) if !c.is_empty() => text.len() as f32 / c.len() as f32,
        _ => 1.0,
    }
}

/// Judges `text` decoded from `secs` seconds of audio.
pub fn judge(text: &str, secs: f64) -> Verdict {
    let words = plain_words(text);
    let (repeats, repeat_words) = repeat_run(&words);
    Verdict {
        words: words.len(),
        bound: word_bound(secs),
        repeats,
        repeat_words,
        echo: echo(&words),
        cycling: cycling(&words),
        compression: compression_ratio(text),
    }
}

/// Which of `words` to keep so that no n-gram (n ≤ 4) occurs more than twice back to back, no
/// passage of [`MIN_ECHO_WORDS`] or more twice, and at most `bound` words remain (the first
/// occurrences are kept).
pub fn keep_after_collapse(words: &[String], bound: usize) -> Vec<bool> {
    let mut keep = vec![true; words.len()];
    let mut kept: Vec<(usize, &String)> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        kept.push((i, w));
        // Drop the newest occurrence when it completes a third copy of an n-gram.
        for n in 1..=4 {
            if kept.len() >= 3 * n {
                let l = kept.len();
                let a = &kept[l - n..];
                let b = &kept[l - 2 * n..l - n];
                let c = &kept[l - 3 * n..l - 2 * n];
                let same = |x: &[(usize, &String)], y: &[(usize, &String)]| x.iter().zip(y).all(|(p, q)| p.1 == q.1);
                if same(a, b) && same(b, c) {
                    for &(j, _) in &kept[l - n..] {
                        keep[j] = false;
                    }
                    kept.truncate(l - n);
                    break;
                }
            }
        }
        // ... and when it completes a second copy of a passage of MIN_ECHO_WORDS or more, which
        // the guard takes for an echo ("Do you want to make this?" four times over a toddler's
        // babble).
        let l = kept.len();
        if let Some(n) = (MIN_ECHO_WORDS..=l / 2)
            .find(|&n| kept[l - n..].iter().zip(&kept[l - 2 * n..l - n]).all(|(p, q)| p.1 == q.1))
        {
            for &(j, _) in &kept[l - n..] {
                keep[j] = false;
            }
            kept.truncate(l - n);
        }
    }
    let mut count = 0;
    for k in keep.iter_mut().filter(|k| **k) {
        count += 1;
        if count > bound {
            *k = false;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        plain_words(s)
    }

    #[test]
    fn storms_fail_and_speech_passes() {
        let storm = ["Six,"; 120].join(" ");
        let v = judge(&storm, 1.2);
        assert!(!v.ok());
        assert_eq!((v.words, v.bound, v.repeats, v.repeat_words), (120, 9, 120, 120));
        assert!(v.compression > 2.4);
        assert!(!judge("Six, six, six.", 1.2).ok());
        assert!(!judge("T-T-T-T-T-T-T-T-T-T-T-T-T-", 2.2).ok());
        assert!(!judge("I think that, I think that, I think that we should", 3.0).ok());
        // A repetition that is part of a sentence is speech; five times over is a loop.
        let said = "here's some more words words words words um and that should be all thanks";
        assert!(judge(said, 8.0).ok());
        assert!(!judge("and then we went to the the the the the the shop", 8.0).ok());
        let jfk = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
        assert!(judge(jfk, 11.0).ok(), "{:?}", judge(jfk, 11.0));
        assert!(judge("No, no.", 1.0).ok());
        // Too many words for the time, without any repeat.
        assert!(!judge("one two three four five six seven eight nine ten", 1.0).ok());
        assert!(judge("Six.", 1.2).badness() < judge("Six, six, six.", 1.2).badness());
    }

    #[test]
    fn a_sentence_said_again_straight_after_itself_is_an_echo() {
        // Whisper repeated the last sentence of a 9.4 s utterance (clipped audio), the copy's
        // times running on past the audio's end.
        let once = "The expression goes 6 times 10 equals 60, not 600,000. That gives us a 12% chance.";
        let v = judge(&format!("{once} {once}"), 9.4);
        assert_eq!(v.echo, 17);
        assert!(!v.ok() && v.badness() > 0.0);
        assert!(judge(once, 9.4).ok());
        // People repeat a short question, and a passage with something between.
        assert!(judge("Can you hear me? Can you hear me? Good.", 4.0).ok());
        assert!(judge("we went to the shop and then we went to the shop again", 5.0).ok());
        assert_eq!(echo(&w("one two three four five one two three four five")), 5);
        assert_eq!(echo(&w("one two three four one two three four")), 0);
    }

    #[test]
    fn a_phrase_going_round_is_a_loop_wherever_it_starts_and_stops() {
        // Reverberant JFK: the end of the sentence gave way to a loop that never completes
        // three whole copies.
        let looped = "And so my fellow Americans asked not to be the one who was the one who was the one who";
        assert_eq!(cycling(&w(looped)), 11);
        assert!(!judge(looped, 11.0).ok());
        // Speech that repeats itself a little is speech.
        assert!(judge("I don't know, I don't know. I don't think so.", 4.0).ok());
        assert!(judge("here's some more words words words words um and that should be all", 8.0).ok());
        assert_eq!(cycling(&w("a b a b a")), 5);
        assert_eq!(cycling(&w("a b c a b c")), 0, "two cycles are not two and a half");
    }

    #[test]
    fn repeats_are_counted_for_phrases_at_any_offset() {
        assert_eq!(longest_repeat(&w("a b c b c b c d")), 3);
        assert_eq!(longest_repeat(&w("go forward ten meters")), 1);
        assert_eq!(longest_repeat(&w("no no")), 2);
        assert_eq!(longest_repeat(&[]), 0);
    }

    #[test]
    fn collapse_keeps_two_copies_and_the_bound() {
        let words = w("six six six six six");
        let keep = keep_after_collapse(&words, 9);
        assert_eq!(keep, vec![true, true, false, false, false]);
        let words = w("we are we are we are here");
        let kept: Vec<&str> =
            words.iter().zip(keep_after_collapse(&words, 9)).filter(|(_, k)| *k).map(|(x, _)| x.as_str()).collect();
        assert_eq!(kept, vec!["we", "are", "we", "are", "here"]);
        assert_eq!(keep_after_collapse(&w("a b c d e"), 3), vec![true, true, true, false, false]);
        // A passage of five words or more: one copy, whatever came before it.
        let words = w(
            "Do you want your paper? You want to make this? Do you want to make this? Do you want to make this? Do you want to make this? Mmm nice.",
        );
        let kept: Vec<&str> =
            words.iter().zip(keep_after_collapse(&words, 40)).filter(|(_, k)| *k).map(|(x, _)| x.as_str()).collect();
        assert_eq!(kept.join(" "), "do you want your paper you want to make this do you want to make this mmm nice");
        assert_eq!(echo(&kept.iter().map(|s| s.to_string()).collect::<Vec<_>>()), 0);
    }
}
