//! Segmenter: turns speech regions into utterance entities carrying their audio.
//!
//! It keeps a rolling window of each session's audio, opens an utterance at a
//! [`SpeechEdge::Start`] and closes it at the matching end. An utterance that grows past
//! `max_secs` is cut at its quietest 16 ms frame within the last `split_search_secs` before
//! the limit (or where two joined regions met, when there is such a place), and the rest
//! continues as the next utterance; but speech that ends less than [`SHORT_REST_SECS`] past the
//! limit is not cut (files wait that long past the limit to see whether it ends). Regions
//! shorter than `min_speech_secs` are dropped as blips.
//!
//! With `merge_gap_secs` above zero, regions separated by a pause no longer than that are
//! joined into one utterance, so whisper hears whole sentences rather than the fragments
//! between breaths. Of the pause itself only `merge_keep_secs` stays in the audio (each region
//! keeps its pads too); what is left out is recorded in [`UtteranceGaps`], which maps
//! recogniser times back to session time. A closed region waits, in sample time, until the
//! audio has gone `merge_gap_secs + merge_lookahead_secs` past its end before it becomes an
//! utterance: worth it for files, where latency does not matter; live capture keeps the gap
//! at zero. A region whose speech is more than 20 dB quieter or louder than the utterance it
//! joined is cut off into its own utterance: whisper skipped a whisper heard in one window with
//! a talker, and hears it on its own (when each side holds a second of speech or more: a click
//! or breath next to a voice is not worth a window).

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

use bevy::prelude::*;
use hark_core::{
    AllUtterancesCut, AudioChunk, CaptureEnded, OpenSpeech, PipelineSystems, Session, SpeculativeFinal, SpeechEdge,
    SpeechEnd, Utterance, UtteranceAudio, UtteranceGaps, UtteranceOf, UtteranceSpeech, UtteranceVad, VadFrame,
    secs_to_samples,
};

/// A joined region whose speech is this much quieter or louder than the utterance it joined
/// is cut off into an utterance of its own (files).
const LEVEL_JUMP_DB: f32 = 20.0;
/// Least speech on each side of such a jump for the cut: a click or a breath before or after a
/// voice (a fraction of a second the VAD took for speech, 20 dB under the voice) holds nothing
/// worth a window of its own, and alone it costs a decode that hears nothing.
const LEVEL_JUMP_MIN_SPEECH: u64 = 16_000;

/// Speech that goes on less than this past the limit is not cut: the utterance grows to hold
/// it (up to [`LONGEST_WHOLE_SECS`]). Cut at the limit, a sentence's last words became an
/// utterance of their own of 1-2 s, the length at which whisper is least sure of itself
/// (issue #10), heard without the sentence they end.
pub const SHORT_REST_SECS: f64 = 3.0;
/// Whisper's 30 s window less 2 s: the longest utterance grown to hold a short rest. From 25 s
/// on an utterance gets the full window, and this leaves whisper at least 2 s of it silent
/// after the speech, as its training windows had when speech ended inside them.
pub const LONGEST_WHOLE_SECS: f64 = 28.0;

/// A session cut with settings of its own instead of the app's [`SegmentSettings`] (a file
/// transcribed in the window, where live capture cuts at every pause).
#[derive(Component, Debug, Clone)]
pub struct SessionSegmentSettings(pub SegmentSettings);

/// Segmenter settings.
#[derive(Resource, Debug, Clone)]
pub struct SegmentSettings {
    /// Longest utterance, in audio whisper hears (a joined pause counts only its kept part);
    /// whisper's window is 30 s.
    pub max_secs: f64,
    /// How far before the limit to look for the quietest point to split at.
    pub split_search_secs: f64,
    /// Shortest region kept.
    pub min_speech_secs: f64,
    /// Join regions whose pause (end of one to start of the next, pads included) is at most
    /// this long; 0 closes every region at once.
    pub merge_gap_secs: f64,
    /// How far past `merge_gap_secs` to wait for the start of the next region: it must cover
    /// the VAD's pre-roll and onset, since a start edge reaches back that far, and the delay of
    /// its end edges (hangover minus end pad). Over-long utterances are cut this far behind the
    /// audio too, so the cut does not depend on chunk sizes.
    pub merge_lookahead_secs: f64,
    /// How much of a joined pause stays in the audio (beyond the regions' own pads); the rest
    /// is left out, which saves encoder time and keeps whisper's timestamps from drifting
    /// into the pause.
    pub merge_keep_secs: f64,
    /// Live partials: each time the open utterance has grown by this much audio, its audio so
    /// far is sent as [`OpenSpeech`] for a partial decode; 0 sends none (files).
    pub partial_interval_secs: f64,
    /// Speculative finals (live): once the VAD has heard this long a silence after the open
    /// utterance's last speech frame, its audio so far is sent as a speculative [`OpenSpeech`],
    /// decoded while the hangover waits to confirm the end. `None` sends none (files).
    pub speculate_after_secs: Option<f64>,
}

impl SegmentSettings {
    /// Pauses joined when transcribing files. Regions the VAD closed (after its 0.6 s
    /// hangover) carry 0.4 s of end pad and 0.5 s of pre-roll, so this joins silences of up to
    /// ~3 s: on the long-form test file it brings WER from 4.2 to 2.4 % clean and from 15.7 to
    /// 13.9 % in pink noise (docs/PERFORMANCE.md).
    pub const FILE_MERGE_GAP_SECS: f64 = 2.2;
    /// How often live capture decodes the utterance being said (seconds of its audio). A
    /// little under half a second: each decode of the growing audio takes a little longer than
    /// the one before, so text reaches the person that much further apart (0.5 gave updates
    /// every 505-512 ms, p50; 0.48 gives 486 ms, docs/PERFORMANCE.md).
    pub const LIVE_PARTIAL_INTERVAL_SECS: f64 = 0.48;
    /// How much silence after the last speech frame starts the speculative final (live). The
    /// final is published once the 300 ms hangover confirms the end, and its decode takes about
    /// 0.2-0.3 s here: started at 0.1 s it was ready ~50 ms after the hangover (p50), at 0.05 s
    /// ~6 ms, for a few more speculations the speaker talks past (docs/PERFORMANCE.md).
    pub const LIVE_SPECULATE_AFTER_SECS: f64 = 0.05;

    /// Live capture: partials while someone speaks, and the final decoded as they stop.
    pub fn live() -> Self {
        Self {
            partial_interval_secs: Self::LIVE_PARTIAL_INTERVAL_SECS,
            speculate_after_secs: Some(Self::LIVE_SPECULATE_AFTER_SECS),
            ..Default::default()
        }
    }
}

impl Default for SegmentSettings {
    fn default() -> Self {
        Self {
            max_secs: 25.0,
            split_search_secs: 6.0,
            min_speech_secs: 0.3,
            merge_gap_secs: 0.0,
            merge_lookahead_secs: 1.0,
            merge_keep_secs: 0.5,
            partial_interval_secs: 0.0,
            speculate_after_secs: None,
        }
    }
}

/// A session's segmenter state. Every session gets one (a required component), and it leaves
/// with the session.
#[derive(Component, Debug, Default)]
pub struct SessionSegmenter {
    /// Audio from sample `base` on.
    audio: VecDeque<f32>,
    base: u64,
    /// Start of the open utterance.
    open: Option<u64>,
    /// A closed region `(start, end)` waiting to see whether the next one joins it.
    pending: Option<(u64, u64)>,
    /// Where regions were joined inside the open utterance: `(end of one, start of the next)`.
    /// A too-long utterance is cut at the last of these before the limit when there is one.
    joints: Vec<(u64, u64)>,
    next_index: u32,
    finished: bool,
    /// VAD frames `(start, probability, speech)` over the kept audio.
    vad: VecDeque<(u64, f32, bool)>,
    /// The open utterance the last [`OpenSpeech`] was sent for, and how far its audio reached.
    partial: Option<(u64, u64)>,
    /// The last speculative final sent: the open utterance's start, the end of its last speech
    /// frame then, and where the audio sent ended.
    speculated: Option<(u64, u64, u64)>,
}

impl SessionSegmenter {
    /// A segmenter whose first utterance gets index `next_index` (a session resumed after the
    /// utterances it already has).
    pub fn resuming(next_index: u32) -> Self {
        Self { next_index, ..Default::default() }
    }

    fn end(&self) -> u64 {
        self.base + self.audio.len() as u64
    }

    /// The kept audio of `start..end`.
    fn range(&self, start: u64, end: u64) -> impl Iterator<Item = f32> + '_ {
        let a = (start.max(self.base) - self.base) as usize;
        let b = (end.min(self.end()).max(start.max(self.base)) - self.base) as usize;
        self.audio.range(a..b).copied()
    }

    /// The spans of `start..end` whisper hears: joined pauses shortened to `keep`.
    fn pieces(&self, start: u64, end: u64, keep: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut from = start;
        for j in self.joints.iter().filter(|j| j.0 >= start && j.1 <= end && j.0 + keep < j.1) {
            out.push((from, j.0 + keep));
            from = j.1;
        }
        out.push((from, end));
        out
    }

    /// Where the open utterance from `start` reaches `max` samples of kept audio (joined pauses
    /// count only their kept part, as whisper's window does).
    fn limit(&self, start: u64, max: u64, keep: u64) -> u64 {
        let (mut pos, mut heard) = (start, 0);
        for j in self.joints.iter().filter(|j| j.0 >= start && j.0 + keep < j.1) {
            let piece = j.0 + keep - pos;
            if heard + piece >= max {
                break;
            }
            heard += piece;
            pos = j.1;
        }
        pos + (max - heard)
    }

    /// Sample of the quietest 16 ms frame in `from..to`.
    fn quietest(&self, from: u64, to: u64) -> u64 {
        const F: u64 = 256;
        let mut best = (f32::INFINITY, to);
        let mut t = from.max(self.base);
        while t + F <= to.min(self.end()) {
            let i = (t - self.base) as usize;
            let e: f32 = self.audio.range(i..i + F as usize).map(|x| x * x).sum();
            // Later frames win ties, keeping utterances long.
            if e <= best.0 {
                best = (e, t + F / 2);
            }
            t += F;
        }
        best.1
    }

    /// End of the last speech frame at or after `from`.
    fn last_speech(&self, from: u64) -> Option<u64> {
        self.vad.iter().rev().take_while(|f| f.0 >= from).find(|f| f.2).map(|f| f.0 + 256)
    }

    /// End of the last speech frame in `start..end`.
    fn speech_end(&self, start: u64, end: u64) -> Option<u64> {
        self.vad
            .iter()
            .rev()
            .skip_while(|f| f.0 >= end)
            .take_while(|f| f.0 >= start)
            .find(|f| f.2)
            .map(|f| (f.0 + 256).min(end))
    }

    /// The speculative final that heard all the speech of `start..end`, if one was sent.
    fn speculation_for(&self, start: u64, end: u64) -> Option<u64> {
        let (s, last, sent) = self.speculated?;
        let spoke_after = self.vad.iter().any(|f| f.2 && f.0 >= last && f.0 < end);
        (s == start && last <= end && !spoke_after && self.joints.iter().all(|j| j.0 < start || j.0 >= end))
            .then_some(sent)
    }

    /// VAD statistics over the kept spans. Its speech is what the VAD's regions (the window's
    /// green band, `--format json`'s `speech`) say: from a region's first speech frame to its
    /// last, so the short pauses between a voice's words within a region are in it and a
    /// click or a weak frame inside a word does not take from it. Joined regions are apart at
    /// their joints.
    fn vad_stats(&self, pieces: &[(u64, u64)]) -> UtteranceVad {
        let (mut n, mut p, mut sp) = (0u32, 0f32, 0u32);
        let kept = |t: u64| pieces.iter().any(|&(a, b)| t >= a && t < b);
        // The frames since the last speech frame of the region, not yet counted.
        let mut since: Option<(u64, u32)> = None;
        for &(t, prob, speech) in self.vad.iter().filter(|f| kept(f.0)) {
            n += 1;
            p += prob;
            if speech {
                sp += 1;
                if let Some((last, between)) = since
                    && !self.joints.iter().any(|j| j.0 > last && j.0 <= t)
                {
                    sp += between;
                }
                since = Some((t, 0));
            } else if let Some((_, between)) = since.as_mut() {
                *between += 1;
            }
        }
        if n == 0 {
            return UtteranceVad::default();
        }
        UtteranceVad { mean_probability: p / n as f32, speech_fraction: sp as f32 / n as f32 }
    }

    /// Loudness of the speech the VAD heard in `from..to` (mean square of its speech frames,
    /// in dB); `None` when it heard none there.
    fn speech_level_db(&self, from: u64, to: u64) -> Option<f32> {
        let (mut sum, mut n) = (0f64, 0u64);
        for &(t, ..) in self.vad.iter().filter(|f| f.2 && f.0 >= from && f.0 + 256 <= to) {
            for x in self.range(t, t + 256) {
                sum += f64::from(x) * f64::from(x);
                n += 1;
            }
        }
        (n > 0).then(|| (10.0 * (sum / n as f64).max(1e-12).log10()) as f32)
    }

    /// Samples of the frames the VAD heard as speech in `from..to`.
    fn speech_samples(&self, from: u64, to: u64) -> u64 {
        self.vad.iter().filter(|f| f.2 && f.0 >= from && f.0 + 256 <= to).count() as u64 * 256
    }

    /// The VAD's speech frames over the kept spans, as offsets into the audio built from
    /// `pieces` (consecutive frames merged).
    fn speech_spans(&self, pieces: &[(u64, u64)]) -> UtteranceSpeech {
        let mut spans: Vec<(u64, u64)> = Vec::new();
        let mut offset = 0;
        for &(a, b) in pieces {
            for &(t, ..) in self.vad.iter().filter(|f| f.2 && f.0 + 256 > a && f.0 < b) {
                let (from, to) = (t.max(a) - a + offset, (t + 256).min(b) - a + offset);
                match spans.last_mut() {
                    Some(last) if last.1 >= from => last.1 = last.1.max(to),
                    _ => spans.push((from, to)),
                }
            }
            offset += b - a;
        }
        UtteranceSpeech(spans)
    }

    /// Whether everything of a finished session has been cut.
    pub fn is_done(&self) -> bool {
        self.finished && self.open.is_none() && self.pending.is_none()
    }
}

#[derive(Debug, Default)]
pub struct SegmentPlugin;

impl Plugin for SegmentPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SegmentSettings>()
            .register_required_components::<Session, SessionSegmenter>()
            .add_systems(Update, cut.in_set(PipelineSystems::Segment));
    }
}

/// What happened in one update, in sample order.
enum Event {
    Audio(Arc<[f32]>, u64),
    Edge(SpeechEdge),
    Ended(u64),
}

#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
fn cut(
    mut commands: Commands,
    app_settings: Res<SegmentSettings>,
    mut segs: Query<(&mut SessionSegmenter, Option<&SessionSegmentSettings>)>,
    mut chunks: MessageReader<AudioChunk>,
    mut edges: MessageReader<SpeechEdge>,
    mut ended: MessageReader<CaptureEnded>,
    mut frames: MessageReader<VadFrame>,
    mut open_speech: MessageWriter<OpenSpeech>,
) {
    for f in frames.read() {
        if let Ok((mut s, _)) = segs.get_mut(f.session) {
            s.vad.push_back((f.start, f.probability, f.speech));
        }
    }
    let mut events: HashMap<Entity, Vec<Event>> = HashMap::new();
    for c in chunks.read() {
        events.entry(c.session).or_default().push(Event::Audio(c.samples.clone(), c.start));
    }
    for e in edges.read() {
        let session = match *e {
            SpeechEdge::Start { session, .. } | SpeechEdge::End { session, .. } => session,
        };
        events.entry(session).or_default().push(Event::Edge(*e));
    }
    for e in ended.read() {
        events.entry(e.session).or_default().push(Event::Ended(e.samples));
    }
    // Sessions in a stable order, so entity ids are assigned deterministically.
    let mut sessions: Vec<Entity> = events.keys().copied().collect();
    sessions.sort();
    for session in sessions {
        let Ok((mut s, own)) = segs.get_mut(session) else { continue };
        let settings = own.map_or(&*app_settings, |o| &o.0);
        let max = secs_to_samples(settings.max_secs);
        let search = secs_to_samples(settings.split_search_secs);
        let min = secs_to_samples(settings.min_speech_secs);
        let gap = secs_to_samples(settings.merge_gap_secs);
        let lookahead = secs_to_samples(settings.merge_lookahead_secs);
        let wait = gap.saturating_add(lookahead);
        let keep = secs_to_samples(settings.merge_keep_secs);
        let partial_every = secs_to_samples(settings.partial_interval_secs);
        let speculate_after = settings.speculate_after_secs.map(secs_to_samples);
        let s = &mut *s;
        // Audio first (edges never lie beyond the audio that produced them), then edges.
        let evs = events.remove(&session).unwrap_or_default();
        let spawn = |s: &mut SessionSegmenter, start: u64, end: u64, commands: &mut Commands| {
            if end.saturating_sub(start) < min {
                return;
            }
            let u = Utterance { session, start, end, index: s.next_index };
            s.next_index += 1;
            // Most of each pause between joined regions is left out: whisper hears the regions
            // with their pads, and times are mapped back through the gaps.
            let pieces = s.pieces(start, end, keep);
            let mut audio = Vec::with_capacity((end - start) as usize);
            let mut gaps = Vec::new();
            for (i, &(a, b)) in pieces.iter().enumerate() {
                if i > 0 {
                    gaps.push((audio.len() as u64, a - pieces[i - 1].1));
                }
                audio.extend(s.range(a, b));
            }
            let vad = s.vad_stats(&pieces);
            let speech = s.speech_spans(&pieces);
            let mut e = commands.spawn((
                u,
                UtteranceOf(session),
                UtteranceAudio(audio.into()),
                UtteranceGaps(gaps),
                vad,
                speech,
            ));
            if let Some(end) = s.speculation_for(start, end) {
                e.insert(SpeculativeFinal { end });
            }
            if let Some(at) = s.speech_end(start, end) {
                e.insert(SpeechEnd(at));
            }
        };
        for ev in &evs {
            if let Event::Audio(samples, start) = ev {
                if s.audio.is_empty() && s.base == 0 {
                    s.base = *start;
                }
                s.audio.extend(samples.iter());
            }
        }
        // Cuts the utterance from `start` while it reaches `horizon` and is over the limit, and
        // gives back where the rest starts: at the last joint in the search window before the
        // limit, else at the quietest frame there. `ends` is where the utterance ends, when that
        // is known (it is being closed): one that ends within the stretch is kept whole.
        // Without it, files wait for the stretch to pass, where an end would have been seen;
        // live capture cuts at the limit.
        let stretch = secs_to_samples((LONGEST_WHOLE_SECS - settings.max_secs).clamp(0.0, SHORT_REST_SECS));
        let cut_long = |s: &mut SessionSegmenter,
                        mut start: u64,
                        horizon: u64,
                        ends: Option<u64>,
                        commands: &mut Commands|
         -> u64 {
            loop {
                let limit = s.limit(start, max, keep);
                let whole = s.limit(start, max + stretch, keep);
                let keep_whole = match ends {
                    Some(end) => end <= whole,
                    None => gap > 0 && horizon < whole,
                };
                if horizon < limit || keep_whole {
                    return start;
                }
                let from = limit.saturating_sub(search).max(start);
                let (end, next) = match s.joints.iter().rev().find(|j| j.0 > from && j.0 <= limit) {
                    Some(&j) => j,
                    None => {
                        let q = s.quietest(from, limit);
                        (q, q)
                    }
                };
                spawn(s, start, end, commands);
                s.joints.retain(|j| j.1 > next);
                start = next;
            }
        };
        let close = |s: &mut SessionSegmenter, start: u64, end: u64, commands: &mut Commands| {
            let start = cut_long(s, start, end, Some(end), commands);
            spawn(s, start, end, commands);
            s.joints.clear();
        };
        for ev in evs {
            match ev {
                Event::Audio(..) => {}
                Event::Edge(SpeechEdge::Start { at, .. }) => {
                    if s.open.is_none() {
                        s.open = match s.pending.take() {
                            Some((start, end)) if at <= end.saturating_add(gap) => {
                                s.joints.push((end, at.max(end)));
                                Some(start)
                            }
                            Some((start, end)) => {
                                close(s, start, end, &mut commands);
                                Some(at.max(s.base))
                            }
                            None => Some(at.max(s.base)),
                        };
                    }
                }
                Event::Edge(SpeechEdge::End { at, .. }) => {
                    if let Some(start) = s.open.take() {
                        if gap > 0 {
                            // The utterance reached this far: cut it first if that is past the
                            // limit and the stretch (a region may still join it; when none
                            // does, closing it cuts what is still too long).
                            let start = cut_long(s, start, at, None, &mut commands);
                            // A voice far quieter or louder than what it was joined to (a
                            // whisper after a talker, a distant speaker) gets a window of its
                            // own: in one window with the loud voice whisper skipped it.
                            let start = match s.joints.last().copied() {
                                Some((end, next))
                                    if next > start
                                        && s.speech_samples(start, end) >= LEVEL_JUMP_MIN_SPEECH
                                        && s.speech_samples(next, at) >= LEVEL_JUMP_MIN_SPEECH
                                        && s.speech_level_db(start, end)
                                            .zip(s.speech_level_db(next, at))
                                            .is_some_and(|(a, b)| (a - b).abs() > LEVEL_JUMP_DB) =>
                                {
                                    close(s, start, end, &mut commands);
                                    next
                                }
                                _ => start,
                            };
                            s.pending = Some((start, at));
                        } else {
                            close(s, start, at, &mut commands);
                        }
                    }
                }
                Event::Ended(total) => {
                    if let Some((start, end)) = s.pending.take() {
                        close(s, start, end, &mut commands);
                    }
                    if let Some(start) = s.open.take() {
                        close(s, start, total, &mut commands);
                    }
                    s.finished = true;
                    commands.entity(session).try_insert(AllUtterancesCut);
                }
            }
        }
        // No next region can join a pending one once the audio is this far past it.
        if let Some((start, end)) = s.pending.filter(|&(_, end)| s.end() >= end.saturating_add(wait)) {
            s.pending = None;
            close(s, start, end, &mut commands);
        }
        // An open utterance that grew too long is cut (live audio arrives a little at a time).
        // Only up to the look-ahead: a region ending just before the limit has its end edge
        // still on the way, and the cut must not depend on how the audio was chunked.
        if let Some(start) = s.open {
            s.open = Some(cut_long(s, start, s.end().saturating_sub(lookahead), None, &mut commands));
        }
        // Speculative final: the speaker stopped a moment ago; decode what they said while the
        // hangover waits to see whether they go on (then this is sent again at the next pause).
        let speculating = match (speculate_after, s.open) {
            (Some(after), Some(start)) if s.joints.is_empty() => {
                let heard = s.vad.back().map_or(0, |f| f.0 + 256).min(s.end());
                match s.last_speech(start) {
                    Some(last) if s.speculated.is_some_and(|p| p.0 == start && p.1 == last) => true,
                    // At least one frame of silence, however short the delay.
                    Some(last) if heard > last && heard >= last + after => {
                        let audio: Vec<f32> = s.range(start, heard).collect();
                        let speech = s.speech_spans(&[(start, heard)]).0;
                        open_speech.write(OpenSpeech {
                            session,
                            start,
                            audio: audio.into(),
                            speculative: true,
                            speech,
                        });
                        s.speculated = Some((start, last, heard));
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        };
        // Live partials: the open utterance's audio so far, each time it has grown enough (not
        // in the silence a speculative final is already decoding).
        if partial_every > 0
            && !speculating
            && s.vad.back().is_some_and(|f| f.2)
            && let Some(start) = s.open
        {
            let (from, sent) = s.partial.filter(|p| p.0 == start).unwrap_or((start, start));
            let end = s.end();
            if end >= sent + partial_every && end >= start + min {
                let audio: Vec<f32> = s.pieces(start, end, keep).into_iter().flat_map(|(a, b)| s.range(a, b)).collect();
                open_speech.write(OpenSpeech {
                    session,
                    start,
                    audio: audio.into(),
                    speculative: false,
                    speech: Vec::new(),
                });
                // The next one is due a whole interval after this one was: on a grid from the
                // first, so the time each decode waits for its chunk does not add up; after a
                // pause in the partials (a pause in speech) the grid starts again from here.
                let due = sent + partial_every;
                s.partial = Some((from, if end < due + partial_every { due } else { end }));
            }
        }
        // Keep only what a future utterance can still need: the open one, or a pre-roll's worth.
        let keep_from =
            s.open.or(s.pending.map(|p| p.0)).unwrap_or_else(|| s.end().saturating_sub(secs_to_samples(2.0)));
        if keep_from > s.base {
            let n = ((keep_from - s.base) as usize).min(s.audio.len());
            s.audio.drain(..n);
            s.base += n as u64;
        }
        while s.vad.front().is_some_and(|f| f.0 + 256 <= s.base) {
            s.vad.pop_front();
        }
        if s.is_done() {
            // Nothing more can arrive: free the buffers (a studio runs many sessions a day).
            (s.audio, s.vad, s.joints) = Default::default();
        }
    }
}

#[cfg(test)]
mod tests;
