//! What a person watching a live session waits: when its audio arrived, the recogniser's time
//! on it, and end-of-speech-to-text and partial-update figures as measured and as stored.

use bevy::prelude::*;

use crate::SAMPLE_RATE;

/// When each part of a live session's audio entered the pipeline (wall clock), so latency can
/// be counted from the moment a sample was heard. On the session entity; the last minute kept.
#[derive(Component, Debug, Clone, Default)]
pub struct Arrivals(std::collections::VecDeque<(u64, std::time::Instant)>);

impl Arrivals {
    /// Notes that the session's audio reached `captured` samples now.
    pub fn record(&mut self, captured: u64, now: std::time::Instant) {
        if self.0.back().is_some_and(|l| l.0 >= captured) {
            return;
        }
        self.0.push_back((captured, now));
        while self.0.front().is_some_and(|f| f.0 + 60 * SAMPLE_RATE as u64 <= captured) {
            self.0.pop_front();
        }
    }

    /// When sample `at` had entered (the first moment the audio reached past it).
    pub fn when(&self, at: u64) -> Option<std::time::Instant> {
        let i = self.0.partition_point(|e| e.0 <= at);
        self.0.get(i).map(|e| e.1)
    }
}

/// The recogniser's time spent on a session (finals, partials and speculations), for its
/// real-time factor. On the session entity.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineTime(pub std::time::Duration);

/// p50 / p95 of a set of figures.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Quantiles {
    pub p50: f32,
    pub p95: f32,
    pub n: usize,
}

impl Quantiles {
    /// Nearest-rank quantiles of `v` (`None` when empty).
    pub fn of(v: &[f32]) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        let mut v = v.to_vec();
        v.sort_by(f32::total_cmp);
        let at = |q: f32| v[((v.len() - 1) as f32 * q).round() as usize];
        Some(Self { p50: at(0.5), p95: at(0.95), n: v.len() })
    }
}

/// What a person watching a live session waited, measured as it happens (on the session
/// entity): from the end of each utterance's speech to its final text, and between updates of
/// the text being said.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct LiveLatency {
    pub finals_ms: Vec<f32>,
    pub partial_intervals_ms: Vec<f32>,
    /// When the last partial text of the open utterance was shown, and that utterance's start.
    pub last_partial: Option<(u64, std::time::Instant)>,
}

impl LiveLatency {
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            final_ms: Quantiles::of(&self.finals_ms),
            partial_interval_ms: Quantiles::of(&self.partial_intervals_ms),
        }
    }
}

/// A session's live latency figures, as stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    /// End of speech to final text.
    pub final_ms: Option<Quantiles>,
    /// Between updates of the partial text.
    pub partial_interval_ms: Option<Quantiles>,
}
