//! Speech-band SNR: how far a frame stands above the tracked noise in the bands where voices
//! carry their energy (250 Hz – 7.5 kHz: voicing and formants, and the hiss of fricatives such
//! as the f of "four" and the s of "six"), independent of the neural detector.
//!
//! Each 16 ms frame is analysed with a 512-point Hann window over the last 32 ms, its power
//! summed into log-spaced bands, each band smoothed over two frames and compared with that
//! band's noise estimate. The noise estimate follows frames that are near it (within 5 dB
//! above, 6 dB below) with a 0.3 s time constant, so it sits at the noise's typical level
//! rather than at its dips; falls at once to anything much quieter; and rises into anything
//! louder only slowly; but never stays under the band's minimum over the last 0.8 s (a voice
//! dips between syllables within that time, a fan that starts does not, so a louder room is
//! learnt in 0.8 s while a talker's syllables do not lift the estimate).
//! The score is the mean of the band SNRs (dB, each clipped to 0–30) of the loudest half of
//! the bands, averaged over the last three frames (48 ms): a voice lifts the bands of its
//! harmonics and formants well above the noise for syllables at a time, even when it adds
//! little to the broadband level, while steady noise of any colour stays near 0–3 dB and its
//! single-frame flukes (which would otherwise hold a region open through a pause) average out.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex, num_complex::Complex};

const N: usize = 512;
const BANDS: usize = 16;
const LO_HZ: f32 = 250.0;
const HI_HZ: f32 = 7500.0;

/// Speech-band SNR tracker for one stream.
pub struct BandSnr {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// The last `N` samples.
    history: Vec<f32>,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Bin range of each band.
    bands: Vec<(usize, usize)>,
    smooth: [f32; BANDS],
    noise_db: [f32; BANDS],
    started: bool,
    snr: [f32; BANDS],
    /// The last three frame scores.
    recent: [f32; 3],
    /// Each band's level over the last `WINDOW` frames (a ring).
    levels: Vec<[f32; BANDS]>,
    pos: usize,
    /// The last frame's level over all the bands, dB (see [`Self::level_db`]).
    level: f32,
}

/// The level given to digital silence.
const SILENT_DB: f32 = -120.0;

/// Frames over which a band's minimum bounds its noise estimate from below (0.8 s).
const WINDOW: usize = 50;

impl Default for BandSnr {
    fn default() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N);
        let window = (0..N).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N as f32).cos()).collect();
        let hz_per_bin = hark_core::SAMPLE_RATE as f32 / N as f32;
        let mut bands = Vec::with_capacity(BANDS);
        let ratio = (HI_HZ / LO_HZ).powf(1.0 / BANDS as f32);
        for b in 0..BANDS {
            let lo = (LO_HZ * ratio.powi(b as i32) / hz_per_bin).round() as usize;
            let hi = ((LO_HZ * ratio.powi(b as i32 + 1) / hz_per_bin).round() as usize).max(lo + 1);
            bands.push((lo, hi));
        }
        Self {
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            history: vec![0.0; N],
            bands,
            smooth: [0.0; BANDS],
            noise_db: [0.0; BANDS],
            started: false,
            snr: [0.0; BANDS],
            recent: [0.0; 3],
            levels: Vec::with_capacity(WINDOW),
            pos: 0,
            level: SILENT_DB,
        }
    }
}

impl std::fmt::Debug for BandSnr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BandSnr").field("noise_db", &self.noise_db).finish()
    }
}

impl BandSnr {
    /// The level of the last frame pushed, over all the speech bands together (each band's
    /// mean power per bin, smoothed over two frames, summed), in dB. Syllables move it by
    /// several dB within a fifth of a second; steady noise of any colour does not (see
    /// [`crate::gate`]). Digital silence is -120 dB.
    pub fn level_db(&self) -> f32 {
        self.level
    }

    /// Feeds one frame (any length up to `N`) and returns its speech-band SNR in dB.
    pub fn push(&mut self, frame: &[f32]) -> f32 {
        // Digital silence (files that start or pause with exact zeros) says nothing about the
        // room's noise: learning from it would put the floor 100 dB down and every later frame
        // far above it for the half minute the floor takes to rise.
        let silent = frame.iter().map(|x| x * x).sum::<f32>() / frame.len().max(1) as f32 <= 1e-9;
        let n = frame.len().min(N);
        self.history.copy_within(n.., 0);
        self.history[N - n..].copy_from_slice(&frame[frame.len() - n..]);
        for ((x, h), w) in self.input.iter_mut().zip(&self.history).zip(&self.window) {
            *x = h * w;
        }
        if silent || self.fft.process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch).is_err() {
            self.level = SILENT_DB;
            self.recent = [self.recent[1], self.recent[2], 0.0];
            return self.recent.iter().sum::<f32>() / 3.0;
        }
        let mut levels = [0f32; BANDS];
        for (b, &(lo, hi)) in self.bands.iter().enumerate() {
            let p: f32 = self.spectrum[lo..hi.min(self.spectrum.len())].iter().map(|c| c.norm_sqr()).sum::<f32>()
                / (hi - lo) as f32;
            self.smooth[b] = if self.started { 0.5 * self.smooth[b] + 0.5 * p } else { p };
            levels[b] = 10.0 * self.smooth[b].max(1e-14).log10();
        }
        self.level = 10.0 * self.smooth.iter().sum::<f32>().max(1e-14).log10();
        if self.levels.len() < WINDOW {
            self.levels.push(levels);
        } else {
            self.levels[self.pos] = levels;
        }
        self.pos = (self.pos + 1) % WINDOW;
        for (b, &db) in levels.iter().enumerate() {
            let window_min = self.levels.iter().map(|l| l[b]).fold(f32::INFINITY, f32::min);
            let nf = &mut self.noise_db[b];
            if !self.started || db < *nf - 6.0 {
                *nf = db;
            } else if db < *nf + 5.0 {
                *nf += (db - *nf) * 0.05;
            } else {
                *nf += (db - *nf).min(30.0) * 0.0015;
            }
            if self.levels.len() == WINDOW && window_min > *nf {
                *nf = window_min;
            }
            self.snr[b] = (db - *nf).clamp(0.0, 30.0);
        }
        self.started = true;
        let mut s = self.snr;
        s.sort_by(|a, b| b.total_cmp(a));
        let score = s[..BANDS / 2].iter().sum::<f32>() / (BANDS / 2) as f32;
        self.recent = [self.recent[1], self.recent[2], score];
        self.recent.iter().sum::<f32>() / 3.0
    }

    pub fn reset(&mut self) {
        self.history.iter_mut().for_each(|x| *x = 0.0);
        self.recent = [0.0; 3];
        self.levels.clear();
        self.pos = 0;
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic white noise.
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn steady_noise_scores_low_and_a_tone_complex_in_it_scores_high() {
        let mut b = BandSnr::default();
        let bg: Vec<f32> = noise(16_000 * 3, 9).iter().map(|x| x * 0.05).collect();
        let mut last = 0.0;
        for f in bg.chunks(256).skip(60) {
            last = b.push(f);
        }
        assert!(last < 4.0, "steady noise scores {last}");
        // Voiced-like syllables: 150 Hz and its harmonics up to 3.9 kHz, equally strong, 200 ms on
        // and 100 ms off, 10 dB over the noise (broadband).
        let voice: Vec<f32> = (0..16_000)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let on = (i % 4800) < 3200;
                let v: f32 = (1..=26).map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin()).sum();
                if on { v * 0.025 } else { 0.0 }
            })
            .collect();
        let mixed: Vec<f32> = voice.iter().zip(&bg).map(|(v, n)| v + n).collect();
        let scores: Vec<f32> = mixed.chunks(256).map(|f| b.push(f)).collect();
        // Frames well inside a syllable.
        let inside: Vec<f32> = scores
            .iter()
            .enumerate()
            .filter(|(i, _)| (i * 256 % 4800) >= 512 && (i * 256 % 4800) < 2900)
            .map(|(_, s)| *s)
            .collect();
        let mean = inside.iter().sum::<f32>() / inside.len() as f32;
        assert!(mean > 8.0, "voice in noise scores {mean}");
    }

    /// The largest movement of the speech-band level within each window of
    /// [`crate::gate::LEVEL_WINDOW`] frames, sorted.
    fn movements(x: &[f32]) -> Vec<f32> {
        let mut b = BandSnr::default();
        let levels: Vec<f32> = x
            .chunks(256)
            .map(|f| {
                b.push(f);
                b.level_db()
            })
            .collect();
        let mut m: Vec<f32> = levels[4..]
            .windows(crate::gate::LEVEL_WINDOW)
            .map(|w| {
                w.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x)) - w.iter().fold(f32::INFINITY, |a, &x| a.min(x))
            })
            .collect();
        m.sort_by(f32::total_cmp);
        m
    }

    /// Steady white and pink noise move the speech-band level by less than the gate's
    /// [`crate::gate::MOD_DB`] over its window, in at least 99.5 % of windows; syllables do.
    #[test]
    fn steady_noise_does_not_move_the_level_as_syllables_do() {
        let white = noise(16_000 * 20, 3);
        // Pink: white noise through Paul Kellet's economy filter.
        let (mut b0, mut b1, mut b2) = (0f32, 0f32, 0f32);
        let pink: Vec<f32> = white
            .iter()
            .map(|&w| {
                b0 = 0.99765 * b0 + w * 0.0990460;
                b1 = 0.96300 * b1 + w * 0.2965164;
                b2 = 0.57000 * b2 + w * 1.0526913;
                (b0 + b1 + b2 + w * 0.1848) * 0.1
            })
            .collect();
        for (name, x) in [("white", &white), ("pink", &pink)] {
            let m = movements(x);
            let at = |q: f64| m[((m.len() - 1) as f64 * q) as usize];
            eprintln!(
                "{name}: median {:.2} dB, 99th {:.2} dB, 99.5th {:.2} dB, max {:.2} dB",
                at(0.5),
                at(0.99),
                at(0.995),
                at(1.0)
            );
            assert!(at(0.995) < crate::gate::MOD_DB, "{name} moves the level by {:.2} dB", at(0.995));
        }
        // Syllables 15 dB over white noise: 200 ms of a harmonic complex, 100 ms off.
        let voiced: Vec<f32> = (0..16_000 * 3)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let on = (t * 1000.0) as u32 % 300 < 200;
                let v: f32 = (1..=20).map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin()).sum();
                white[i] * 0.05 + if on { v * 0.05 } else { 0.0 }
            })
            .collect();
        let m = movements(&voiced);
        // Most windows take in a syllable's start or end (those that fall inside one do not).
        let median = m[m.len() / 2];
        assert!(median >= 2.0 * crate::gate::MOD_DB, "syllables move the level by {median:.2} dB (median)");
    }
}
