//! Partial text of the utterance being said (live capture).
//!
//! The segmenter sends the open utterance's audio as it grows ([`OpenSpeech`]); the newest one
//! is decoded when a worker is free and no final waits. Of each decode's words, those two
//! consecutive decodes give alike at the same places after the committed ones are committed
//! (LocalAgreement-2) and never rewritten; the rest is tentative.
//!
//! Decoding all of a long utterance again every half second would cost more the longer it
//! grows. So once the committed words reach [`TRIM_AFTER_SECS`] past where decoding starts,
//! decoding starts after the last committed word instead (with the committed text as the
//! prompt): a partial decode hears at most a few seconds more than that, whatever the
//! utterance's length.

use bevy::prelude::*;
use hark_core::{PartialReady, PartialTranscript, SAMPLE_RATE, Word};

use crate::JobDone;

/// Committed words this far (seconds) past where decoding starts move that start.
pub const TRIM_AFTER_SECS: f64 = 4.0;

/// Characters of committed text given as the prompt of a trimmed decode.
const PROMPT_CHARS: usize = 200;

/// Where a session's partial decoding stands (on the session entity while it has an open
/// utterance with partial text).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct PartialState {
    /// Session sample where the open utterance starts (its identity).
    pub start: u64,
    /// Session sample where decoding starts (the utterance's start, or after a committed word).
    pub trim: u64,
    /// Committed words before `trim`.
    fixed: Vec<String>,
    /// Committed words after `trim`.
    committed: Vec<String>,
    /// The previous decode's words after `trim`.
    previous: Vec<String>,
    /// The utterance has been cut: its final decode is on the way, partial results are dropped.
    pub closed: bool,
    passes: u32,
}

impl PartialState {
    fn new(start: u64) -> Self {
        Self { start, trim: start, ..Default::default() }
    }

    /// What a decode of the open utterance starting at `start` hears: its audio from `trim`
    /// (`audio` starts at `start`), and the prompt.
    pub fn job_audio<'a>(this: Option<&Self>, start: u64, audio: &'a [f32]) -> (u64, &'a [f32], Option<String>) {
        match this.filter(|s| s.start == start && s.trim > start) {
            Some(s) => {
                let skip = ((s.trim - start) as usize).min(audio.len());
                let text = s.fixed.iter().chain(&s.committed).cloned().collect::<Vec<_>>().join(" ");
                let count = text.chars().count();
                (s.trim, &audio[skip..], Some(text.chars().skip(count.saturating_sub(PROMPT_CHARS)).collect()))
            }
            None => (start, audio, None),
        }
    }

    /// Takes a decode of the audio from `from` (words in session time); returns the text to
    /// show, or `None` when the decode is stale (another start, or from before a trim).
    pub fn take(&mut self, from: u64, words: &[Word]) -> Option<PartialTranscript> {
        if self.closed || from != self.trim {
            return None;
        }
        let now: Vec<&Word> = words.iter().filter(|w| !w.text.trim().is_empty()).collect();
        let texts: Vec<String> = now.iter().map(|w| w.text.trim().to_owned()).collect();
        let n = self.committed.len();
        // Past the committed words (whatever a decode now makes of those: they stay), the
        // words both decodes give at the same places, from the first on.
        if self.previous.len() > n && texts.len() > n {
            let more = self.previous[n..].iter().zip(&texts[n..]).take_while(|(a, b)| key(a) == key(b)).count();
            self.committed.extend(texts[n..n + more].iter().cloned());
        }
        let tentative = texts.iter().skip(self.committed.len()).cloned().collect::<Vec<_>>().join(" ");
        self.passes += 1;
        let shown = PartialTranscript {
            start: self.start,
            committed: self.fixed.iter().chain(&self.committed).cloned().collect::<Vec<_>>().join(" "),
            tentative,
            passes: self.passes,
        };
        // Enough committed: decoding starts after the last committed word from now on.
        let last = self.committed.len().checked_sub(1).and_then(|i| now.get(i));
        match last {
            Some(w) if w.end >= self.trim + (TRIM_AFTER_SECS * SAMPLE_RATE as f64) as u64 => {
                self.trim = w.end;
                self.fixed.append(&mut self.committed);
                self.previous.clear();
            }
            _ => self.previous = texts,
        }
        Some(shown)
    }
}

/// A word's comparison key: lower case, letters and digits only.
fn key(w: &str) -> String {
    w.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// What `collect` needs for partial results.
#[derive(bevy::ecs::system::SystemParam)]
pub(crate) struct PartialParams<'w, 's> {
    commands: Commands<'w, 's>,
    pub(crate) states: Query<'w, 's, &'static mut PartialState>,
    sessions: Query<'w, 's, (), With<hark_core::Session>>,
    changed: MessageWriter<'w, PartialReady>,
}

impl PartialParams<'_, '_> {
    /// A partial decode finished: the session's partial text is updated.
    pub(crate) fn apply(&mut self, done: &JobDone, utterance_start: u64) {
        let session = done.utterance;
        let Ok(out) = &done.result else { return };
        if self.sessions.get(session).is_err() {
            return;
        }
        let t = crate::words::transcript_from(out, done.start, done.duration_samples, &done.gaps);
        // A phantom or a storm is not shown, even for a moment.
        let words = if t.suspect || out.storm { Vec::new() } else { t.words };
        let mut state = match self.states.get(session) {
            Ok(s) if s.start == utterance_start => s.clone(),
            // A newer utterance is being decoded already.
            Ok(s) if s.start > utterance_start => return,
            _ => PartialState::new(utterance_start),
        };
        let Some(shown) = state.take(done.start, &words) else { return };
        self.commands.entity(session).insert((state, shown));
        self.changed.write(PartialReady { session });
    }

    /// Its final text arrived: what was shown of it goes.
    pub(crate) fn finish(&mut self, session: Entity, start: u64) {
        if self.states.get(session).is_ok_and(|s| s.start <= start) {
            self.commands.entity(session).remove::<(PartialState, PartialTranscript)>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words 0.5 s apart from `at`, each 0.4 s long.
    fn words(at: u64, s: &str) -> Vec<Word> {
        s.split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                start: at + i as u64 * 8000,
                end: at + i as u64 * 8000 + 6400,
                text: w.into(),
                probability: 0.9,
            })
            .collect()
    }

    fn shown(p: &Option<PartialTranscript>) -> (&str, &str) {
        let p = p.as_ref().expect("shown");
        (p.committed.as_str(), p.tentative.as_str())
    }

    #[test]
    fn what_two_decodes_agree_on_is_committed_and_never_rewritten() {
        let mut s = PartialState::new(0);
        assert_eq!(shown(&s.take(0, &words(0, "And so my"))), ("", "And so my"));
        assert_eq!(shown(&s.take(0, &words(0, "and so, my fellow"))), ("and so, my", "fellow"));
        assert_eq!(
            shown(&s.take(0, &words(0, "And so my fellow Americans, ask"))),
            ("and so, my fellow", "Americans, ask")
        );
        // The committed words spelled another way: they stay, the words after them still agree.
        assert_eq!(
            shown(&s.take(0, &words(0, "AND SO MY FELLOW Americans ask not"))),
            ("and so, my fellow Americans ask", "not")
        );
        // Fewer words than committed: nothing committed is lost.
        assert_eq!(shown(&s.take(0, &words(0, "And so"))), ("and so, my fellow Americans ask", ""));
        // A cut utterance takes no more partial text.
        s.closed = true;
        assert!(s.take(0, &words(0, "And so my fellow Americans ask not what")).is_none());
    }

    #[test]
    fn once_enough_is_committed_decoding_starts_after_it_with_the_text_as_prompt() {
        let audio = vec![0.0f32; 16_000 * 12];
        let mut s = PartialState::new(1_000);
        // Nine words, 4.5 s: the same twice commits them all, the last one ending at 5.4 s.
        let nine = "one two three four five six seven eight nine";
        s.take(1_000, &words(1_000, nine));
        let p = s.take(1_000, &words(1_000, nine)).unwrap();
        assert_eq!((p.committed.as_str(), p.tentative.as_str()), (nine, ""));
        let trim = 1_000 + 8 * 8000 + 6400;
        assert_eq!(s.trim, trim);
        let (from, heard, prompt) = PartialState::job_audio(Some(&s), 1_000, &audio);
        assert_eq!((from, heard.len()), (trim, audio.len() - (trim - 1_000) as usize));
        assert_eq!(prompt.as_deref(), Some(nine));
        // A decode started before the trim is stale.
        assert!(s.take(1_000, &words(1_000, nine)).is_none());
        // Decodes from the trim go on after the committed words.
        assert_eq!(shown(&s.take(trim, &words(trim, "ten eleven"))), (nine, "ten eleven"));
        let p = s.take(trim, &words(trim, "ten eleven twelve")).unwrap();
        assert_eq!(p.committed, format!("{nine} ten eleven"));
        assert_eq!(p.tentative, "twelve");
        // Another utterance decodes all of its audio.
        assert_eq!(PartialState::job_audio(Some(&s), 50_000, &audio).0, 50_000);
    }
}
