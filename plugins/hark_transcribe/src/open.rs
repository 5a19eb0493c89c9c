//! The open utterance's decodes (live capture): partials and speculative finals waiting to be
//! sent or in flight, speculations decoded ahead of their utterance, and how far each session's
//! partial text lags what has been heard. The [`crate::Recognizer`] owns one [`OpenDecodes`]
//! and does the sending, cancelling and handing out; this is only the bookkeeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::Entity;
use hark_core::OpenSpeech;

use crate::JobDone;

/// Audio heard past the last partial text at which partials are starved: from here a
/// speculative final no longer stops the partial decode in flight, and one the speaker talks
/// past goes on and is shown as partial text. Each pause in speech starts a speculation, each
/// word after it stops it; where a decode outlasts the pauses between words (a slower machine,
/// a loaded one) nothing finished and no partial text came at all.
const STARVED_SAMPLES: u64 = hark_core::SAMPLE_RATE as u64;

/// How far a session's partial text lags the open utterance (session samples).
#[derive(Debug, Clone, Copy)]
struct PartialProgress {
    start: u64,
    heard: u64,
    shown: u64,
}

/// A session's latest speculative final: sent, or decoded and waiting for its utterance.
#[derive(Debug)]
pub(crate) struct Speculation {
    pub start: u64,
    pub end: u64,
    pub job: u64,
    pub done: Option<JobDone>,
}

/// What becomes of a speculation the speaker talked past.
#[derive(Debug)]
pub(crate) enum TalkedPast {
    /// Decoded, and it heard more than the partial text shown: shown as partial text.
    Show(JobDone),
    /// Still decoding while the partials starve: it goes on, and is shown as partial text.
    ShowWhenDecoded,
    /// Still decoding and no longer wanted: its decode is to be stopped.
    Cancel(u64),
    /// None, or decoded and no newer than what is shown (or decoded with an error).
    Forgotten,
}

/// Partials and speculative finals of each session's open utterance.
#[derive(Debug, Default)]
pub(crate) struct OpenDecodes {
    /// The newest open-utterance audio of each session not decoded yet (only the newest
    /// matters: an older one is overtaken and skipped).
    pub pending_partials: HashMap<Entity, (u64, Arc<[f32]>)>,
    /// Sessions with a partial decode in flight.
    pub partial_in_flight: HashMap<Entity, u64>,
    /// The newest speculative final of each session not sent yet, and the last one sent.
    pub pending_speculative: HashMap<Entity, OpenSpeech>,
    pub speculative: HashMap<Entity, Speculation>,
    /// Of each session's open utterance: its start, the end of the newest audio of it sent for
    /// a partial or speculation, and the end of the audio its last partial text heard.
    progress: HashMap<Entity, PartialProgress>,
    /// Speculations the speaker talked past whose decode goes on, to be shown as partial text
    /// (by job id: the open utterance's start).
    pub as_partial: HashMap<u64, u64>,
}

impl OpenDecodes {
    /// The open utterance starting at `start` has been heard up to `end`.
    pub fn heard(&mut self, session: Entity, start: u64, end: u64) {
        let p = self.progress.entry(session).or_insert(PartialProgress { start, heard: end, shown: start });
        if p.start != start {
            *p = PartialProgress { start, heard: end, shown: start };
        }
        p.heard = p.heard.max(end);
    }

    /// A partial text of the open utterance starting at `start` heard up to `end`.
    pub fn shown(&mut self, session: Entity, start: u64, end: u64) {
        if let Some(p) = self.progress.get_mut(&session)
            && p.start == start
        {
            p.shown = p.shown.max(end);
        }
    }

    /// The utterance starting at `start` has its final text: the open utterance it was (or one
    /// before it) is over.
    pub fn finished(&mut self, session: Entity, start: u64) {
        if self.progress.get(&session).is_some_and(|p| p.start <= start) {
            self.progress.remove(&session);
        }
    }

    /// Whether `session`'s waiting speculative final can be sent now: with a prompt it waits
    /// for the text of the utterance before (`busy`: that one is in flight), so that its prompt
    /// is the one its final would get.
    pub fn speculation_ready(&self, session: Entity, use_prompt: bool, busy: bool) -> bool {
        self.pending_speculative.contains_key(&session) && !(use_prompt && busy)
    }

    /// Whether `session`'s waiting partial can be sent now (one decode of it at a time).
    pub fn partial_ready(&self, session: Entity) -> bool {
        self.pending_partials.contains_key(&session) && !self.partial_in_flight.contains_key(&session)
    }

    /// Whether the session's partial text lags its open utterance by a starving margin.
    pub fn starving(&self, session: Entity) -> bool {
        self.progress.get(&session).is_some_and(|p| p.heard.saturating_sub(p.shown) >= STARVED_SAMPLES)
    }

    /// The speaker went on after the session's speculation: its decode is stopped, unless the
    /// partials are starved (then it goes on, and is shown as partial text); one already
    /// decoded is shown as partial text if it heard more than the text shown.
    pub fn talked_past(&mut self, session: Entity) -> TalkedPast {
        let Some(p) = self.speculative.remove(&session) else { return TalkedPast::Forgotten };
        let newer = self.progress.get(&session).is_some_and(|g| g.start == p.start && g.shown < p.end);
        match p.done {
            Some(mut d) if newer && d.result.is_ok() => {
                // Its engine time was counted when it came back.
                d.busy = Duration::ZERO;
                self.as_partial.insert(d.id, p.start);
                TalkedPast::Show(d)
            }
            Some(_) => TalkedPast::Forgotten,
            None if newer && self.starving(session) && !self.partial_in_flight.contains_key(&session) => {
                self.as_partial.insert(p.job, p.start);
                self.partial_in_flight.insert(session, p.job);
                TalkedPast::ShowWhenDecoded
            }
            None => TalkedPast::Cancel(p.job),
        }
    }

    /// Forgets a session's speculation; returns its job if it is still decoding (to be stopped).
    pub fn drop_speculation(&mut self, session: Entity) -> Option<u64> {
        self.speculative.remove(&session).filter(|p| p.done.is_none()).map(|p| p.job)
    }
}
