//! Voice activity detection: a per-frame speech probability from a [`VoiceDetector`]
//! (the neural `earshot` model by default, or an energy detector), then a [`SpeechGate`] that
//! smooths it into speech regions with onset, hangover and pre-roll.
//!
//! The plugin reads [`AudioChunk`]s and writes one [`VadFrame`] per 16 ms frame and a
//! [`SpeechEdge`] at each region boundary. Frame boundaries are sample-exact and independent of
//! how the audio was chunked, so the output is deterministic.

pub mod detector;
pub mod gate;
pub mod highpass;
pub mod silero;
pub mod spectral;

use bevy::prelude::*;
use hark_core::{AudioChunk, CaptureEnded, PipelineSystems, Session, SpeechEdge, VadFrame};

pub use detector::{EarshotDetector, EnergyDetector, VoiceDetector};
pub use gate::{GateSettings, SpeechGate};
pub use silero::{FusedDetector, SileroDetector};

/// Which detector new sessions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DetectorKind {
    /// earshot's neural network (pure Rust).
    Neural,
    /// Frame energy against an adaptive noise floor.
    Energy,
    /// Silero VAD v5 ([`silero`]).
    Silero,
    /// The higher of earshot's and Silero's probabilities ([`FusedDetector`]).
    #[default]
    Fused,
}

impl DetectorKind {
    pub fn make(self) -> Box<dyn VoiceDetector> {
        match self {
            Self::Neural => Box::new(EarshotDetector::default()),
            Self::Energy => Box::new(EnergyDetector::default()),
            Self::Silero => Box::new(SileroDetector::default()),
            Self::Fused => Box::new(FusedDetector::default()),
        }
    }
}

/// A session heard with VAD settings of its own instead of the app's [`VadSettings`] (a file
/// transcribed in the window, whose regions close after a file's hangover, not a live one's).
#[derive(Component, Debug, Clone)]
pub struct SessionVadSettings(pub VadSettings);

/// VAD settings; changes apply to the next frame (sensitivity is live-adjustable).
#[derive(Resource, Debug, Clone, Default)]
pub struct VadSettings {
    pub detector: DetectorKind,
    pub gate: GateSettings,
}

/// Where someone speaks in a session, for the window and the JSON output: the VAD's decision
/// (first onset frame to last speech-like frame), not the padded audio the segmenter cuts. On
/// the session entity; it leaves with the session.
#[derive(Component, Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeechRegions(
    /// Closed and open speech regions, `(start, end)` in samples; an open region has `end == None`.
    pub Vec<(u64, Option<u64>)>,
);

/// Whether a session keeps every speech region (`hark transcribe`'s JSON lists them all) or
/// only the last one: the window asks only whether someone is speaking, and a capture left
/// running all day would otherwise add a region per phrase for as long as it runs. Every one,
/// unless set.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepSpeechRegions(pub bool);

impl Default for KeepSpeechRegions {
    fn default() -> Self {
        Self(true)
    }
}

impl SpeechRegions {
    /// Forgets all but the last region (closed or still open).
    fn keep_last(&mut self) {
        let n = self.0.len();
        if n > 1 {
            self.0.drain(..n - 1);
        }
    }

    /// Closed regions in seconds.
    pub fn secs(&self) -> Vec<[f64; 2]> {
        self.0
            .iter()
            .filter_map(|&(s, e)| e.map(|e| [hark_core::samples_to_secs(s), hark_core::samples_to_secs(e)]))
            .collect()
    }

    /// Whether someone is speaking now (the last region is open).
    pub fn speaking(&self) -> bool {
        self.0.last().is_some_and(|&(_, end)| end.is_none())
    }

    fn record(&mut self, edge: gate::Edge) {
        match edge {
            gate::Edge::Start { speech, .. } => self.0.push((speech, None)),
            gate::Edge::End { speech, .. } => {
                if let Some(last) = self.0.last_mut() {
                    last.1 = Some(speech);
                }
            }
        }
    }
}

/// A session's detector, filter and gate while its capture runs (emptied when it ends). Every
/// session gets one (a required component), and it leaves with the session.
#[derive(Component, Default)]
pub struct VadStream(Option<Stream>);

struct Stream {
    detector: Box<dyn VoiceDetector>,
    highpass: highpass::HighPass,
    filtered: Vec<f32>,
    /// The unfiltered audio of `pending` (the network was trained on unfiltered audio).
    raw: Vec<f32>,
    bands: spectral::BandSnr,
    gate: SpeechGate,
    pending: Vec<f32>,
    /// Sample index of `pending[0]`.
    pending_start: u64,
}

impl Stream {
    fn new(settings: &VadSettings, start: u64) -> Self {
        Self {
            detector: settings.detector.make(),
            highpass: highpass::HighPass::default(),
            filtered: Vec::new(),
            raw: Vec::new(),
            bands: spectral::BandSnr::default(),
            gate: SpeechGate::new(settings.gate.clone()),
            pending: Vec::new(),
            pending_start: start,
        }
    }

    /// Runs the chunk's whole frames through detector and gate (the rest waits for more audio).
    fn push(
        &mut self,
        settings: &VadSettings,
        chunk: &AudioChunk,
        regions: &mut SpeechRegions,
        frames: &mut MessageWriter<VadFrame>,
        edges: &mut MessageWriter<SpeechEdge>,
    ) {
        let s = self;
        s.gate.settings = settings.gate.clone();
        s.highpass.process(&chunk.samples, &mut s.filtered);
        s.pending.extend_from_slice(&s.filtered);
        s.raw.extend_from_slice(&chunk.samples);
        let fl = s.detector.frame_len();
        let mut used = 0;
        while s.pending.len() - used >= fl {
            let frame = &s.pending[used..used + fl];
            let start = s.pending_start + used as u64;
            let raw = &s.raw[used..used + fl];
            let f = frame_features(s.detector.as_mut(), &mut s.bands, raw, frame);
            let p = f.p;
            let speech = s.gate.push_frame(start, fl as u64, f, |e| {
                regions.record(e);
                edges.write(e.with_session(chunk.session));
            });
            frames.write(VadFrame { session: chunk.session, start, probability: p, speech });
            used += fl;
        }
        s.pending.drain(..used);
        s.raw.drain(..used);
        s.pending_start += used as u64;
    }

    fn finish(
        &mut self,
        session: Entity,
        samples: u64,
        regions: &mut SpeechRegions,
        edges: &mut MessageWriter<SpeechEdge>,
    ) {
        self.gate.finish(samples, |edge| {
            regions.record(edge);
            edges.write(edge.with_session(session));
        });
    }
}

#[derive(Debug, Default)]
pub struct VadPlugin;

impl Plugin for VadPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<VadSettings>()
            .init_resource::<KeepSpeechRegions>()
            .register_required_components::<Session, VadStream>()
            .register_required_components::<Session, SpeechRegions>()
            .add_systems(Update, analyse.in_set(PipelineSystems::Vad));
    }
}

fn analyse(
    app_settings: Res<VadSettings>,
    keep: Res<KeepSpeechRegions>,
    mut sessions: Query<(&mut VadStream, &mut SpeechRegions, Option<&SessionVadSettings>)>,
    mut chunks: MessageReader<AudioChunk>,
    mut ended: MessageReader<CaptureEnded>,
    mut frames: MessageWriter<VadFrame>,
    mut edges: MessageWriter<SpeechEdge>,
) {
    for chunk in chunks.read() {
        let Ok((mut stream, mut regions, own)) = sessions.get_mut(chunk.session) else { continue };
        let settings = own.map_or(&*app_settings, |o| &o.0);
        let s = stream.0.get_or_insert_with(|| Stream::new(settings, chunk.start));
        s.push(settings, chunk, &mut regions, &mut frames, &mut edges);
        if !keep.0 {
            regions.keep_last();
        }
    }
    for e in ended.read() {
        if let Ok((mut stream, mut regions, _)) = sessions.get_mut(e.session)
            && let Some(mut s) = stream.0.take()
        {
            s.finish(e.session, e.samples, &mut regions, &mut edges);
            if !keep.0 {
                regions.keep_last();
            }
        }
    }
}

impl gate::Edge {
    fn with_session(self, session: Entity) -> SpeechEdge {
        match self {
            Self::Start { at, .. } => SpeechEdge::Start { session, at },
            Self::End { at, .. } => SpeechEdge::End { session, at },
        }
    }
}

/// What the gate is given for one frame: the detector's probability and the frame's energy (of
/// the `raw` samples), the speech-band SNR and level (of the high-passed `filtered` ones), and
/// whether it is a click. Both the ECS system and [`analyse_regions`] use it.
pub fn frame_features(
    det: &mut dyn VoiceDetector,
    bands: &mut spectral::BandSnr,
    raw: &[f32],
    filtered: &[f32],
) -> gate::Frame {
    gate::Frame {
        p: det.probability(raw),
        energy_db: detector::frame_db(raw),
        band_snr_db: bands.push(filtered),
        band_db: Some(bands.level_db()),
        impulsive: gate::is_click(raw),
    }
}

/// Runs detector and gate over a whole signal outside the ECS (benchmarks, tests, tools).
/// Returns the per-frame probabilities and the closed regions as the segmenter cuts them (pre-roll
/// and end pad included), in samples.
pub fn analyse_samples(samples: &[f32], settings: &VadSettings) -> (Vec<f32>, Vec<(u64, u64)>) {
    let (probs, regions) = analyse_regions(samples, settings);
    (probs, regions.into_iter().map(|r| r.cut).collect())
}

/// Like [`analyse_samples`], with the VAD's own decision: where someone speaks (first onset
/// frame to last speech-like frame of each region).
pub fn analyse_speech(samples: &[f32], settings: &VadSettings) -> (Vec<f32>, Vec<(u64, u64)>) {
    let (probs, regions) = analyse_regions(samples, settings);
    (probs, regions.into_iter().map(|r| r.speech).collect())
}

/// One closed region both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// What the segmenter cuts (pads included).
    pub cut: (u64, u64),
    /// Where someone speaks.
    pub speech: (u64, u64),
}

/// Detector and gate over a whole signal: per-frame probabilities and closed regions.
pub fn analyse_regions(samples: &[f32], settings: &VadSettings) -> (Vec<f32>, Vec<Region>) {
    let mut det = settings.detector.make();
    let mut bands = spectral::BandSnr::default();
    let mut gate = SpeechGate::new(settings.gate.clone());
    let mut filtered = Vec::with_capacity(samples.len());
    highpass::HighPass::default().process(samples, &mut filtered);
    let fl = det.frame_len();
    let mut probs = Vec::with_capacity(samples.len() / fl);
    let mut regions = Vec::new();
    let mut open = None;
    let mut on_edge = |e: gate::Edge| match e {
        gate::Edge::Start { at, speech } => open = Some((at, speech)),
        gate::Edge::End { at, speech } => {
            if let Some((a, s)) = open.take() {
                regions.push(Region { cut: (a, at), speech: (s, speech.max(s)) });
            }
        }
    };
    for (i, (frame, raw)) in filtered.chunks_exact(fl).zip(samples.chunks_exact(fl)).enumerate() {
        let f = frame_features(det.as_mut(), &mut bands, raw, frame);
        probs.push(f.p);
        gate.push_frame((i * fl) as u64, fl as u64, f, &mut on_edge);
    }
    gate.finish(samples.len() as u64, &mut on_edge);
    (probs, regions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_core::{HarkCorePlugin, SourceKind};

    #[derive(Resource, Default)]
    struct Seen(Vec<VadFrame>, Vec<SpeechEdge>);

    fn gather(mut seen: ResMut<Seen>, mut frames: MessageReader<VadFrame>, mut edges: MessageReader<SpeechEdge>) {
        seen.0.extend(frames.read().copied());
        seen.1.extend(edges.read().copied());
    }

    /// Frames (start, probability bits, speech), edges and regions.
    type Output = (Vec<(u64, u32, bool)>, Vec<SpeechEdge>, Vec<(u64, Option<u64>)>);

    /// Frames and edges for `signal` fed in chunks of `chunk` samples.
    fn run(signal: &[f32], chunk: usize) -> Output {
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, VadPlugin))
            .init_resource::<Seen>()
            .add_systems(Update, gather.after(PipelineSystems::Vad));
        let s = app.world_mut().spawn(Session { kind: SourceKind::Memory, source: "test".into() }).id();
        for (i, c) in signal.chunks(chunk).enumerate() {
            let start = (i * chunk) as u64;
            app.world_mut().write_message(AudioChunk { session: s, start, samples: c.into() });
            app.update();
        }
        app.world_mut().write_message(CaptureEnded { session: s, samples: signal.len() as u64 });
        app.update();
        let seen = app.world_mut().remove_resource::<Seen>().unwrap();
        let regions = app.world().get::<SpeechRegions>(s).unwrap().0.clone();
        assert!(app.world().get::<VadStream>(s).unwrap().0.is_none(), "the stream is dropped at the end");
        // Probabilities compared as bits: the same frames must give the very same numbers.
        let frames = seen.0.iter().map(|f| (f.start, f.probability.to_bits(), f.speech)).collect();
        let edges = seen.1.into_iter().map(|e| match e {
            SpeechEdge::Start { at, .. } => SpeechEdge::Start { session: Entity::PLACEHOLDER, at },
            SpeechEdge::End { at, .. } => SpeechEdge::End { session: Entity::PLACEHOLDER, at },
        });
        (frames, edges.collect(), regions)
    }

    /// Faint noise, two bursts of a voice-like buzz a second apart, faint noise (6 s).
    fn two_bursts() -> Vec<f32> {
        let mut seed = 11u32;
        (0..16_000 * 6)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let t = i as f32 / 16_000.0;
                let voiced = (1.0..2.5).contains(&t) || (3.5..4.2).contains(&t);
                let buzz: f32 = (1..10).map(|h| (std::f32::consts::TAU * 130.0 * h as f32 * t).sin() / h as f32).sum();
                0.003 * ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) + if voiced { 0.3 * buzz } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn a_session_with_vad_settings_of_its_own_is_heard_by_them_and_the_others_by_the_apps() {
        let signal = two_bursts();
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, VadPlugin));
        let session =
            |app: &mut App| app.world_mut().spawn(Session { kind: SourceKind::Memory, source: "t".into() }).id();
        let app_default = session(&mut app);
        // A hangover longer than the second between the bursts joins them.
        let own = session(&mut app);
        let long =
            VadSettings { gate: GateSettings { hangover_ms: 1_500, ..Default::default() }, ..Default::default() };
        app.world_mut().entity_mut(own).insert(SessionVadSettings(long));
        for (i, c) in signal.chunks(1_600).enumerate() {
            for s in [app_default, own] {
                app.world_mut().write_message(AudioChunk { session: s, start: (i * 1_600) as u64, samples: c.into() });
            }
            app.update();
        }
        for s in [app_default, own] {
            app.world_mut().write_message(CaptureEnded { session: s, samples: signal.len() as u64 });
        }
        app.update();
        let closed = |s: Entity| app.world().get::<SpeechRegions>(s).unwrap().secs().len();
        assert_eq!((closed(app_default), closed(own)), (2, 1));
    }

    #[test]
    fn a_session_asked_to_keep_only_its_last_speech_region_still_says_whether_someone_speaks() {
        let signal = two_bursts();
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, VadPlugin)).insert_resource(KeepSpeechRegions(false));
        let s = app.world_mut().spawn(Session { kind: SourceKind::Memory, source: "t".into() }).id();
        let mut most = 0;
        let mut spoke = Vec::new();
        for (i, c) in signal.chunks(1_600).enumerate() {
            app.world_mut().write_message(AudioChunk { session: s, start: (i * 1_600) as u64, samples: c.into() });
            app.update();
            let r = app.world().get::<SpeechRegions>(s).unwrap();
            most = most.max(r.0.len());
            if spoke.last() != Some(&r.speaking()) {
                spoke.push(r.speaking());
            }
        }
        // Both bursts were heard as they came (silent, speaking, silent, speaking, silent) with
        // never more than one region held; the app's default keeps both.
        assert_eq!(spoke, [false, true, false, true, false]);
        assert_eq!(most, 1);
        assert_eq!(run(&signal, 1_600).2.len(), 2);
    }

    #[test]
    fn vad_output_does_not_depend_on_how_the_audio_was_chunked() {
        let signal = two_bursts();
        let reference = run(&signal, 16_000);
        assert!(reference.1.len() >= 2, "the bursts are found: {:?}", reference.1);
        assert_eq!(reference.2.iter().filter(|r| r.1.is_some()).count(), reference.1.len() / 2);
        for chunk in [160, 256, 800, 4_999] {
            assert_eq!(run(&signal, chunk), reference, "chunks of {chunk} samples");
        }
    }
}
