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

/// Milliseconds counted in buckets 2 % wide, from 1 ms up: the p50 and p95 of a session's
/// waits, in memory that does not grow with the session (a list of every wait grew by some
/// 30 KB an hour of live speech and was sorted again for each frame of the window's status line).
/// Quantiles are read to within 1 % (the middle of their bucket).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Waits {
    counts: Vec<u32>,
    n: usize,
}

impl Waits {
    /// Width of a bucket: each one's upper bound is this times its lower.
    const RATIO: f64 = 1.02;
    /// Waits past this (about 19 minutes) are counted in the last bucket.
    const BUCKETS: usize = 720;

    fn bucket(ms: f32) -> usize {
        let ms = f64::from(ms);
        // Zero, negative and NaN (a clock that went back) count as the shortest.
        if ms.is_nan() || ms <= 1.0 {
            return 0;
        }
        ((ms.ln() / Self::RATIO.ln()) as usize).saturating_add(1).min(Self::BUCKETS - 1)
    }

    /// The middle of a bucket (its geometric mean), as a wait.
    fn value(bucket: usize) -> f32 {
        if bucket == 0 {
            return 1.0;
        }
        Self::RATIO.powf(bucket as f64 - 0.5) as f32
    }

    /// Counts one wait of `ms`.
    pub fn push(&mut self, ms: f32) {
        let b = Self::bucket(ms);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.n += 1;
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Nearest-rank quantiles, as [`Quantiles::of`] takes them of every wait (`None` when empty).
    pub fn quantiles(&self) -> Option<Quantiles> {
        if self.n == 0 {
            return None;
        }
        let at = |q: f32| {
            let rank = ((self.n - 1) as f32 * q).round() as usize;
            let mut seen = 0;
            for (b, &c) in self.counts.iter().enumerate() {
                seen += c as usize;
                if seen > rank {
                    return Self::value(b);
                }
            }
            Self::value(self.counts.len() - 1)
        };
        Some(Quantiles { p50: at(0.5), p95: at(0.95), n: self.n })
    }
}

impl FromIterator<f32> for Waits {
    fn from_iter<I: IntoIterator<Item = f32>>(iter: I) -> Self {
        let mut w = Self::default();
        for ms in iter {
            w.push(ms);
        }
        w
    }
}

/// What a person watching a live session waited, measured as it happens (on the session
/// entity): from the end of each utterance's speech to its final text, and between updates of
/// the text being said.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct LiveLatency {
    pub finals_ms: Waits,
    pub partial_intervals_ms: Waits,
    /// When the last partial text of the open utterance was shown, and that utterance's start.
    pub last_partial: Option<(u64, std::time::Instant)>,
}

impl LiveLatency {
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            final_ms: self.finals_ms.quantiles(),
            partial_interval_ms: self.partial_intervals_ms.quantiles(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_give_the_quantiles_of_every_wait_within_one_percent_in_memory_that_stays_put() {
        // A day of live speech's worth of partial updates and finals: waits from 80 ms to 30 s,
        // skewed as real ones are (most short, a tail of long ones). Seeded.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let all: Vec<f32> = (0..200_000).map(|_| (80.0 * (30_000.0f64 / 80.0).powf(next().powi(3))) as f32).collect();
        let mut waits = Waits::default();
        for (i, &ms) in all.iter().enumerate() {
            waits.push(ms);
            if [1, 2, 3, 10, 99, 1_000, 199_999].contains(&i) {
                let exact = Quantiles::of(&all[..=i]).unwrap();
                let got = waits.quantiles().unwrap();
                assert_eq!(got.n, exact.n);
                for (g, e) in [(got.p50, exact.p50), (got.p95, exact.p95)] {
                    assert!((g / e - 1.0).abs() <= 0.01, "after {}: {g} against {e}", i + 1);
                }
            }
        }
        // Its memory is its buckets: a few hundred counters, however many waits.
        assert!(waits.counts.len() <= Waits::BUCKETS && waits.counts.len() < 600, "{}", waits.counts.len());
        // Nothing a clock can give breaks it: zero, negative, NaN, hours.
        let odd: Waits = [0.0, -5.0, f32::NAN, f32::INFINITY, 3.6e6].into_iter().collect();
        assert_eq!(odd.len(), 5);
        assert_eq!(odd.counts.len(), Waits::BUCKETS);
        assert_eq!(odd.quantiles().unwrap().p50, 1.0);
        assert!(Waits::default().quantiles().is_none());
    }
}
