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
pub mod spectral;

use std::collections::HashMap;

use bevy::prelude::*;
use hark_core::{AudioChunk, CaptureEnded, PipelineSystems, SpeechEdge, VadFrame};

pub use detector::{EarshotDetector, EnergyDetector, VoiceDetector};
pub use gate::{GateSettings, SpeechGate};

/// Which detector new sessions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DetectorKind {
    /// earshot's neural network (pure Rust).
    #[default]
    Neural,
    /// Frame energy against an adaptive noise floor.
    Energy,
}

impl DetectorKind {
    pub fn make(self) -> Box<dyn VoiceDetector> {
        match self {
            Self::Neural => Box::new(EarshotDetector::default()),
            Self::Energy => Box::new(EnergyDetector::default()),
        }
    }
}

/// VAD settings; changes apply to the next frame (sensitivity is live-adjustable).
#[derive(Resource, Debug, Clone, Default)]
pub struct VadSettings {
    pub detector: DetectorKind,
    pub gate: GateSettings,
}

/// Where someone speaks, per session, for the UI and the JSON output: the VAD's decision (first
/// onset frame to last speech-like frame), not the padded audio the segmenter cuts.
#[derive(Resource, Debug, Default)]
pub struct VadHistory {
    /// Closed and open speech regions, `(start, end)` in samples; an open region has `end == None`.
    pub regions: HashMap<Entity, Vec<(u64, Option<u64>)>>,
}

impl VadHistory {
    /// Closed regions of a session in seconds.
    pub fn regions_secs(&self, session: Entity) -> Vec<[f64; 2]> {
        self.regions
            .get(&session)
            .map(|r| {
                r.iter()
                    .filter_map(|&(s, e)| e.map(|e| [hark_core::samples_to_secs(s), hark_core::samples_to_secs(e)]))
                    .collect()
            })
            .unwrap_or_default()
    }
}

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

#[derive(Resource, Default)]
struct VadStreams(HashMap<Entity, Stream>);

#[derive(Debug, Default)]
pub struct VadPlugin;

impl Plugin for VadPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<VadSettings>()
            .init_resource::<VadHistory>()
            .init_resource::<VadStreams>()
            .add_systems(Update, analyse.in_set(PipelineSystems::Vad));
    }
}

fn analyse(
    mut streams: ResMut<VadStreams>,
    settings: Res<VadSettings>,
    mut history: ResMut<VadHistory>,
    mut chunks: MessageReader<AudioChunk>,
    mut ended: MessageReader<CaptureEnded>,
    mut frames: MessageWriter<VadFrame>,
    mut edges: MessageWriter<SpeechEdge>,
) {
    for chunk in chunks.read() {
        let s = streams.0.entry(chunk.session).or_insert_with(|| Stream {
            detector: settings.detector.make(),
            highpass: highpass::HighPass::default(),
            filtered: Vec::new(),
            raw: Vec::new(),
            bands: spectral::BandSnr::default(),
            gate: SpeechGate::new(settings.gate.clone()),
            pending: Vec::new(),
            pending_start: chunk.start,
        });
        s.gate.settings = settings.gate.clone();
        s.highpass.process(&chunk.samples, &mut s.filtered);
        s.pending.extend_from_slice(&s.filtered);
        s.raw.extend_from_slice(&chunk.samples);
        let fl = s.detector.frame_len();
        let mut used = 0;
        while s.pending.len() - used >= fl {
            let frame = &s.pending[used..used + fl];
            let start = s.pending_start + used as u64;
            let p = s.detector.probability(&s.raw[used..used + fl]);
            let f = gate::Frame {
                p,
                energy_db: detector::frame_db(&s.raw[used..used + fl]),
                band_snr_db: s.bands.push(frame),
            };
            let speech = s.gate.push_frame(start, fl as u64, f, |e| {
                record(&mut history, chunk.session, e);
                edges.write(e.with_session(chunk.session));
            });
            frames.write(VadFrame { session: chunk.session, start, probability: p, speech });
            used += fl;
        }
        s.pending.drain(..used);
        s.raw.drain(..used);
        s.pending_start += used as u64;
    }
    for e in ended.read() {
        if let Some(mut s) = streams.0.remove(&e.session) {
            s.gate.finish(e.samples, |edge| {
                record(&mut history, e.session, edge);
                edges.write(edge.with_session(e.session));
            });
        }
    }
}

fn record(history: &mut VadHistory, session: Entity, edge: gate::Edge) {
    let r = history.regions.entry(session).or_default();
    match edge {
        gate::Edge::Start { speech, .. } => r.push((speech, None)),
        gate::Edge::End { speech, .. } => {
            if let Some(last) = r.last_mut() {
                last.1 = Some(speech);
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
        let p = det.probability(raw);
        probs.push(p);
        let f = gate::Frame { p, energy_db: detector::frame_db(raw), band_snr_db: bands.push(frame) };
        gate.push_frame((i * fl) as u64, fl as u64, f, &mut on_edge);
    }
    gate.finish(samples.len() as u64, &mut on_edge);
    (probs, regions)
}
