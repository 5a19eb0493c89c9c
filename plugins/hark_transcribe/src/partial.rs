//! Partial text of the utterance being said (live capture).
//!
//! The segmenter sends the open utterance's audio as it grows ([`OpenSpeech`]); the newest one
//! is decoded when a worker is free and no final waits. Of each decode's words, those two
//! consecutive decodes give alike at the same places after the committed ones are committed
//! (LocalAgreement-2) and never rewritten; the rest is tentative.
//!
//! Each decode hears the whole open utterance (at most 25 s), so a long utterance's partials
//! cost more as it grows, and come less often when the recogniser cannot keep up. Decoding
//! only after the committed words (with their end times) was tried: under load, whisper's word
//! times on those short decodes were off often enough to commit the same words again and again.

use bevy::prelude::*;
use hark_core::{Arrivals, EngineTime, LiveLatency, PartialReady, PartialTranscript, Word};

use crate::JobDone;

/// Where a session's partial decoding stands (on the session entity while it has an open
/// utterance with partial text).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct PartialState {
    /// Session sample where the open utterance starts (its identity).
    pub start: u64,
    /// Committed words.
    committed: Vec<String>,
    /// The previous decode's words.
    previous: Vec<String>,
    /// The utterance has been cut: its final decode is on the way, partial results are dropped.
    pub closed: bool,
    passes: u32,
}

impl PartialState {
    fn new(start: u64) -> Self {
        Self { start, ..Default::default() }
    }

    /// Takes a decode of the open utterance's audio (words in session time); returns the text
    /// to show, or `None` once the utterance has been cut.
    pub fn take(&mut self, words: &[Word]) -> Option<PartialTranscript> {
        if self.closed {
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
        self.previous = texts;
        Some(PartialTranscript {
            start: self.start,
            committed: self.committed.join(" "),
            tentative,
            passes: self.passes,
        })
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
    latency: Query<'w, 's, (&'static Arrivals, &'static mut LiveLatency)>,
    engine_time: Query<'w, 's, &'static mut EngineTime>,
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
        let Some(shown) = state.take(&words) else { return };
        self.commands.entity(session).insert((state, shown));
        self.changed.write(PartialReady { session });
        if let Ok((_, mut l)) = self.latency.get_mut(session) {
            let now = std::time::Instant::now();
            if let Some((start, at)) = l.last_partial
                && start == utterance_start
            {
                l.partial_intervals_ms.push((now - at).as_secs_f32() * 1e3);
            }
            l.last_partial = Some((utterance_start, now));
        }
    }

    /// The recogniser spent `busy` on `session`.
    pub(crate) fn spent(&mut self, session: Entity, busy: std::time::Duration) {
        if let Ok(mut t) = self.engine_time.get_mut(session) {
            t.0 += busy;
        }
    }

    /// An utterance's final text was published: the wait since its speech ended is noted.
    pub(crate) fn final_published(&mut self, session: Entity, speech_end: Option<u64>) {
        let Ok((arrivals, mut l)) = self.latency.get_mut(session) else { return };
        if let Some(heard) = speech_end.and_then(|at| arrivals.when(at)) {
            l.finals_ms.push(heard.elapsed().as_secs_f32() * 1e3);
        }
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
        assert_eq!(shown(&s.take(&words(0, "And so my"))), ("", "And so my"));
        assert_eq!(shown(&s.take(&words(0, "and so, my fellow"))), ("and so, my", "fellow"));
        assert_eq!(
            shown(&s.take(&words(0, "And so my fellow Americans, ask"))),
            ("and so, my fellow", "Americans, ask")
        );
        // The committed words spelled another way: they stay, the words after them still agree.
        assert_eq!(
            shown(&s.take(&words(0, "AND SO MY FELLOW Americans ask not"))),
            ("and so, my fellow Americans ask", "not")
        );
        // Fewer words than committed: nothing committed is lost.
        assert_eq!(shown(&s.take(&words(0, "And so"))), ("and so, my fellow Americans ask", ""));
        // A cut utterance takes no more partial text.
        s.closed = true;
        assert!(s.take(&words(0, "And so my fellow Americans ask not what")).is_none());
    }
}
