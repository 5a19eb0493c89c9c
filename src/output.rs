//! What a transcribed session gives its reader: segments with their words, the VAD's speech,
//! and the speech that came out without text, in seconds (the JSON of `hark transcribe`, the
//! text and subtitle formats, and stored sessions read back in the same shape).

use bevy::prelude::*;
use hark_core::{Transcript, Utterance, UtteranceVad, Word, samples_to_secs};
use serde::Serialize;

/// A word in the output, times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutWord {
    pub start_s: f64,
    pub end_s: f64,
    pub word: String,
    pub p: f32,
}

/// An utterance in the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutSegment {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
    pub words: Vec<OutWord>,
    /// Looks like a hallucination (a phantom phrase on weak audio); left out of plain text.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
}

/// Speech without text ([`hark_core::unrecognised::in_utterance`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unrecognised {
    pub start_s: f64,
    pub end_s: f64,
    /// Seconds of it the VAD called speech.
    pub speech_s: f64,
}

impl Unrecognised {
    /// An utterance's speech without text, in seconds.
    fn in_utterance(
        text: &str,
        suspect: bool,
        speech_fraction: f32,
        span: (u64, u64),
        unheard: &[(u64, u64)],
    ) -> Vec<Self> {
        hark_core::unrecognised::in_utterance(text, suspect, speech_fraction, span, unheard)
            .into_iter()
            .map(|(a, b, speech)| Self {
                start_s: round_ms(samples_to_secs(a)),
                end_s: round_ms(samples_to_secs(b)),
                speech_s: round_ms(speech),
            })
            .collect()
    }
}

/// A transcribed session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionTranscript {
    pub audio_s: f64,
    pub segments: Vec<OutSegment>,
    /// The VAD's speech regions, `[start_s, end_s]`.
    pub speech: Vec<[f64; 2]>,
    /// Utterances the VAD heard someone speak in that came out without text (or only with text
    /// judged made up): what a reader would otherwise never know was said.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unrecognised: Vec<Unrecognised>,
    /// The stored session's id, when it was saved (not part of the JSON output).
    #[serde(skip)]
    pub session_id: Option<i64>,
    /// Why the session is not (completely) saved, when a database was asked for.
    #[serde(skip)]
    pub save_error: Option<String>,
}

/// One utterance's part of a transcript: its text, unless it has none, and the speech in it
/// that came out without text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UtteranceOut {
    /// Where the utterance is in the session, in samples.
    pub span: (u64, u64),
    pub segment: Option<OutSegment>,
    pub unrecognised: Vec<Unrecognised>,
}

impl UtteranceOut {
    fn new(u: &Utterance, t: &Transcript, vad: Option<&UtteranceVad>) -> Self {
        let fraction = vad.map_or(0.0, |v| v.speech_fraction);
        Self {
            span: (u.start, u.end),
            segment: (!t.text.is_empty()).then(|| OutSegment::new(&t.words, (u.start, u.end), &t.text, t.suspect)),
            unrecognised: Unrecognised::in_utterance(&t.text, t.suspect, fraction, (u.start, u.end), &t.unheard),
        }
    }
}

/// What is known of a session once its capture ended, beside its utterances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionEnd {
    pub audio_s: f64,
    /// The VAD's speech regions, `[start_s, end_s]`.
    pub speech: Vec<[f64; 2]>,
    /// The stored session's id, when it was saved.
    pub session_id: Option<i64>,
    /// Why the session is not (completely) saved, when a database was asked for.
    pub save_error: Option<String>,
    /// Why the source stopped before its end.
    pub failure: Option<String>,
}

/// The transcribed utterances of `session` leave the world, in order, with what the output
/// needs of them: all of them, or (`all == false`) those before its first utterance still
/// waiting for its text. Their rows were sent to the store in the update that gave them
/// their text.
pub(crate) fn take_utterances(world: &mut World, session: Entity, all: bool) -> Vec<UtteranceOut> {
    let Some(list) = world.get::<hark_core::SessionUtterances>(session) else { return Vec::new() };
    let (items, transcribed) =
        list.in_order(|e| Some((world.get::<Utterance>(e)?.index, world.get::<Transcript>(e).is_some())));
    let take = if all { items.len() } else { transcribed };
    items[..take]
        .iter()
        .filter_map(|&e| {
            let out = match (world.get::<Utterance>(e), world.get::<Transcript>(e)) {
                (Some(u), Some(t)) => Some(UtteranceOut::new(u, t, world.get::<UtteranceVad>(e))),
                _ => None,
            };
            world.despawn(e);
            out
        })
        .collect()
}

impl SessionTranscript {
    /// A whole transcript from its utterances, in order, and the session's end.
    pub fn from_parts(utterances: Vec<UtteranceOut>, end: SessionEnd) -> Self {
        let mut segments = Vec::new();
        let mut unrecognised = Vec::new();
        for u in utterances {
            segments.extend(u.segment);
            unrecognised.extend(u.unrecognised);
        }
        Self {
            audio_s: end.audio_s,
            segments,
            speech: end.speech,
            unrecognised,
            session_id: end.session_id,
            save_error: end.save_error,
        }
    }

    /// A stored session's latest transcripts in the output shape.
    pub fn from_store(segments: &[hark_store::SegmentRow], audio_s: f64) -> Self {
        let unrecognised = segments
            .iter()
            .flat_map(|g| {
                Unrecognised::in_utterance(&g.text, g.suspect, g.vad_speech, (g.start_sample, g.end_sample), &g.unheard)
            })
            .collect();
        let segments = segments
            .iter()
            .filter(|g| !g.text.is_empty())
            .map(|g| OutSegment::new(&g.words, (g.start_sample, g.end_sample), &g.text, g.suspect))
            .collect();
        Self {
            audio_s: round_ms(audio_s),
            segments,
            speech: Vec::new(),
            unrecognised,
            session_id: None,
            save_error: None,
        }
    }

    /// What to tell a reader of the text about speech that has none, or `None`.
    pub fn unrecognised_note(&self) -> Option<String> {
        unrecognised_note(&self.unrecognised)
    }

    /// The text of all trusted segments, space-separated.
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .filter(|s| !s.suspect && !s.text.is_empty())
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What to tell a reader of the text about speech that has none (`list`), or `None`.
pub fn unrecognised_note(list: &[Unrecognised]) -> Option<String> {
    let total: f64 = list.iter().map(|u| u.speech_s).sum();
    let at: Vec<String> = list.iter().take(5).map(|u| format!("{:.1}–{:.1} s", u.start_s, u.end_s)).collect();
    let more = if list.len() > at.len() { ", …" } else { "" };
    match list.len() {
        0 => None,
        1 => Some(format!("{total:.1} s of speech was not recognised, at {}{more}", at.join(", "))),
        n => Some(format!("{total:.1} s of speech in {n} places was not recognised, at {}{more}", at.join(", "))),
    }
}

pub(crate) fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

impl OutSegment {
    /// An utterance in output form: it spans its words, or `fallback` (samples) without any.
    fn new(words: &[Word], fallback: (u64, u64), text: &str, suspect: bool) -> Self {
        let (start, end) = match (words.first(), words.last()) {
            (Some(a), Some(b)) => (a.start, b.end.max(a.start)),
            _ => fallback,
        };
        Self {
            start_s: round_ms(samples_to_secs(start)),
            end_s: round_ms(samples_to_secs(end)),
            text: text.to_owned(),
            words: words.iter().map(out_word).collect(),
            suspect,
        }
    }
}

fn out_word(w: &Word) -> OutWord {
    OutWord {
        start_s: round_ms(samples_to_secs(w.start)),
        end_s: round_ms(samples_to_secs(w.end)),
        word: w.text.clone(),
        p: (w.probability * 1000.0).round() / 1000.0,
    }
}
