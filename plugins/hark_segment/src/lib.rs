//! Segmenter: turns speech regions into utterance entities carrying their audio.
//!
//! It keeps a rolling window of each session's audio, opens an utterance at a
//! [`SpeechEdge::Start`] and closes it at the matching end. An utterance that grows past
//! `max_secs` is cut at its quietest 16 ms frame within the last `split_search_secs` before
//! the limit, and the rest continues as the next utterance. Regions shorter than
//! `min_speech_secs` are dropped as blips.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

use bevy::prelude::*;
use hark_core::{
    AudioChunk, CaptureEnded, PipelineSystems, SpeechEdge, Utterance, UtteranceAudio, UtteranceVad, VadFrame,
    secs_to_samples,
};

/// Segmenter settings.
#[derive(Resource, Debug, Clone)]
pub struct SegmentSettings {
    /// Longest utterance; whisper's window is 30 s.
    pub max_secs: f64,
    /// How far before the limit to look for the quietest point to split at.
    pub split_search_secs: f64,
    /// Shortest region kept.
    pub min_speech_secs: f64,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        Self { max_secs: 25.0, split_search_secs: 6.0, min_speech_secs: 0.3 }
    }
}

/// Per-session segmenter state, public for tests and the UI.
#[derive(Debug, Default)]
pub struct SessionSegmenter {
    /// Audio from sample `base` on.
    audio: VecDeque<f32>,
    base: u64,
    /// Start of the open utterance.
    open: Option<u64>,
    next_index: u32,
    finished: bool,
    /// VAD frames `(start, probability, speech)` over the kept audio.
    vad: VecDeque<(u64, f32, bool)>,
}

impl SessionSegmenter {
    fn end(&self) -> u64 {
        self.base + self.audio.len() as u64
    }

    fn slice(&self, start: u64, end: u64) -> Arc<[f32]> {
        let a = (start.max(self.base) - self.base) as usize;
        let b = (end.min(self.end()) - self.base) as usize;
        self.audio.range(a..b).copied().collect()
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

    /// VAD statistics over `start..end`.
    fn vad_stats(&self, start: u64, end: u64) -> UtteranceVad {
        let (mut n, mut p, mut sp) = (0u32, 0f32, 0u32);
        for &(_, prob, speech) in self.vad.iter().filter(|f| f.0 >= start && f.0 < end) {
            n += 1;
            p += prob;
            sp += u32::from(speech);
        }
        if n == 0 {
            return UtteranceVad::default();
        }
        UtteranceVad { mean_probability: p / n as f32, speech_fraction: sp as f32 / n as f32 }
    }

    /// Whether everything of a finished session has been cut.
    pub fn is_done(&self) -> bool {
        self.finished && self.open.is_none()
    }
}

/// State of all sessions' segmenters.
#[derive(Resource, Debug, Default)]
pub struct Segmenters(pub HashMap<Entity, SessionSegmenter>);

impl Segmenters {
    /// True when the session's capture ended and its last utterance has been spawned.
    pub fn is_done(&self, session: Entity) -> bool {
        self.0.get(&session).is_some_and(SessionSegmenter::is_done)
    }
}

#[derive(Debug, Default)]
pub struct SegmentPlugin;

impl Plugin for SegmentPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SegmentSettings>()
            .init_resource::<Segmenters>()
            .add_systems(Update, cut.in_set(PipelineSystems::Segment));
    }
}

/// What happened in one update, in sample order.
enum Event {
    Audio(Arc<[f32]>, u64),
    Edge(SpeechEdge),
    Ended(u64),
}

fn cut(
    mut commands: Commands,
    settings: Res<SegmentSettings>,
    mut segs: ResMut<Segmenters>,
    mut chunks: MessageReader<AudioChunk>,
    mut edges: MessageReader<SpeechEdge>,
    mut ended: MessageReader<CaptureEnded>,
    mut frames: MessageReader<VadFrame>,
) {
    for f in frames.read() {
        segs.0.entry(f.session).or_default().vad.push_back((f.start, f.probability, f.speech));
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
    let max = secs_to_samples(settings.max_secs);
    let search = secs_to_samples(settings.split_search_secs);
    let min = secs_to_samples(settings.min_speech_secs);
    for session in sessions {
        let s = segs.0.entry(session).or_default();
        // Audio first (edges never lie beyond the audio that produced them), then edges.
        let evs = events.remove(&session).unwrap_or_default();
        let spawn = |s: &mut SessionSegmenter, start: u64, end: u64, commands: &mut Commands| {
            if end.saturating_sub(start) < min {
                return;
            }
            let u = Utterance { session, start, end, index: s.next_index };
            s.next_index += 1;
            commands.spawn((u, UtteranceAudio(s.slice(start, end)), s.vad_stats(start, end)));
        };
        for ev in &evs {
            if let Event::Audio(samples, start) = ev {
                if s.audio.is_empty() && s.base == 0 {
                    s.base = *start;
                }
                s.audio.extend(samples.iter());
            }
        }
        for ev in evs {
            match ev {
                Event::Audio(..) => {}
                Event::Edge(SpeechEdge::Start { at, .. }) => {
                    if s.open.is_none() {
                        s.open = Some(at.max(s.base));
                    }
                }
                Event::Edge(SpeechEdge::End { at, .. }) => {
                    if let Some(start) = s.open.take() {
                        spawn(s, start, at, &mut commands);
                    }
                }
                Event::Ended(total) => {
                    if let Some(start) = s.open.take() {
                        spawn(s, start, total, &mut commands);
                    }
                    s.finished = true;
                }
            }
        }
        // Split utterances that grew too long at their quietest point.
        while let Some(start) = s.open {
            if s.end() < start + max {
                break;
            }
            let cut_at = s.quietest(start + max - search, start + max);
            spawn(s, start, cut_at, &mut commands);
            s.open = Some(cut_at);
        }
        // Keep only what a future utterance can still need: the open one, or a pre-roll's worth.
        let keep_from = s.open.unwrap_or_else(|| s.end().saturating_sub(secs_to_samples(2.0)));
        if keep_from > s.base {
            let n = ((keep_from - s.base) as usize).min(s.audio.len());
            s.audio.drain(..n);
            s.base += n as u64;
        }
        while s.vad.front().is_some_and(|f| f.0 + 256 <= s.base) {
            s.vad.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_core::HarkCorePlugin;

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, SegmentPlugin));
        app
    }

    fn chunk(app: &mut App, session: Entity, start: u64, samples: Vec<f32>) {
        app.world_mut().write_message(AudioChunk { session, start, samples: samples.into() });
    }

    fn utterances(app: &mut App) -> Vec<(Utterance, usize)> {
        let mut q = app.world_mut().query::<(&Utterance, &UtteranceAudio)>();
        let mut v: Vec<_> = q.iter(app.world()).map(|(u, a)| (*u, a.0.len())).collect();
        v.sort_by_key(|(u, _)| u.index);
        v
    }

    #[test]
    fn a_region_becomes_an_utterance_with_exactly_its_audio() {
        let mut app = app();
        let s = app.world_mut().spawn_empty().id();
        // Samples carry their own index so the cut can be checked exactly.
        chunk(&mut app, s, 0, (0..48_000).map(|i| i as f32).collect());
        app.world_mut().write_message(SpeechEdge::Start { session: s, at: 8_000 });
        app.world_mut().write_message(SpeechEdge::End { session: s, at: 40_000 });
        app.update();
        let mut q = app.world_mut().query::<(&Utterance, &UtteranceAudio)>();
        let (u, a) = q.single(app.world()).unwrap();
        assert_eq!((u.start, u.end, u.index), (8_000, 40_000, 0));
        assert_eq!(a.0.len(), 32_000);
        assert_eq!(a.0[0], 8_000.0);
        assert_eq!(a.0[31_999], 39_999.0);
    }

    #[test]
    fn blips_are_dropped() {
        let mut app = app();
        let s = app.world_mut().spawn_empty().id();
        chunk(&mut app, s, 0, vec![0.1; 16_000]);
        app.world_mut().write_message(SpeechEdge::Start { session: s, at: 1_000 });
        app.world_mut().write_message(SpeechEdge::End { session: s, at: 3_000 });
        app.update();
        assert!(utterances(&mut app).is_empty());
    }

    #[test]
    fn long_speech_is_split_at_the_quietest_point_before_the_limit() {
        let mut app = app();
        let s = app.world_mut().spawn_empty().id();
        // 60 s of loud signal with one quiet 50 ms dip at 22.0 s.
        let mut x: Vec<f32> = (0..60 * 16_000).map(|i| ((i as f32) * 0.05).sin() * 0.5).collect();
        for v in &mut x[22 * 16_000..22 * 16_000 + 800] {
            *v *= 0.01;
        }
        app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
        // Feed one second per update, as live capture does.
        for (i, c) in x.chunks(16_000).enumerate() {
            chunk(&mut app, s, (i * 16_000) as u64, c.to_vec());
            app.update();
        }
        app.world_mut().write_message(CaptureEnded { session: s, samples: x.len() as u64 });
        app.update();
        let u = utterances(&mut app);
        assert!(u.len() >= 3, "{u:?}");
        let first = u[0].0;
        assert!((22 * 16_000..22 * 16_000 + 800).contains(&first.end), "cut at the dip, got {}", first.end);
        // Contiguous, none over the limit, all audio accounted for.
        for w in u.windows(2) {
            assert_eq!(w[0].0.end, w[1].0.start);
        }
        assert!(u.iter().all(|(u, n)| u.end - u.start <= 25 * 16_000 && *n as u64 == u.end - u.start));
        assert_eq!(u.last().unwrap().0.end, x.len() as u64);
        assert!(app.world().resource::<Segmenters>().is_done(s));
    }

    #[test]
    fn capture_end_closes_an_open_utterance() {
        let mut app = app();
        let s = app.world_mut().spawn_empty().id();
        chunk(&mut app, s, 0, vec![0.1; 32_000]);
        app.world_mut().write_message(SpeechEdge::Start { session: s, at: 16_000 });
        app.world_mut().write_message(CaptureEnded { session: s, samples: 32_000 });
        app.update();
        let u = utterances(&mut app);
        assert_eq!((u[0].0.start, u[0].0.end), (16_000, 32_000));
    }
}
