//! Speech-band SNR: how far a frame stands above the tracked noise in the bands where voices
//! carry their energy (250 Hz – 7.5 kHz: voicing and formants, and the hiss of fricatives such
//! as the f of "four" and the s of "six"), independent of the neural detector.
//!
//! Each 16 ms frame is analysed with a 512-point Hann window over the last 32 ms, its power
//! summed into log-spaced bands, each band smoothed over two frames and compared with that
//! band's noise estimate. The noise estimate follows frames that are near it (within 5 dB
//! above, 6 dB below) with a 0.3 s time constant, so it sits at the noise's typical level
//! rather than at its dips; falls at once to anything much quieter; and rises into anything
//! louder only slowly (a louder room is learnt in ~10 s; a talker's syllables do not lift it).
//! The score is the mean of the band SNRs (dB, each clipped to 0–30) of the loudest half of
//! the bands: a voice lifts the bands of its harmonics and formants well above the noise even
//! when it adds little to the broadband level, while steady noise of any colour stays near 0.

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
}

impl Default for BandSnr {
    fn default() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N);
        let window = (0..N).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N as f32).cos()).collect();
        let hz_per_bin = 16_000.0 / N as f32;
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
        }
    }
}

impl std::fmt::Debug for BandSnr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BandSnr").field("noise_db", &self.noise_db).finish()
    }
}

impl BandSnr {
    /// Feeds one frame (any length up to `N`) and returns its speech-band SNR in dB.
    pub fn push(&mut self, frame: &[f32]) -> f32 {
        let n = frame.len().min(N);
        self.history.copy_within(n.., 0);
        self.history[N - n..].copy_from_slice(&frame[frame.len() - n..]);
        for ((x, h), w) in self.input.iter_mut().zip(&self.history).zip(&self.window) {
            *x = h * w;
        }
        if self.fft.process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch).is_err() {
            return 0.0;
        }
        for (b, &(lo, hi)) in self.bands.iter().enumerate() {
            let p: f32 = self.spectrum[lo..hi.min(self.spectrum.len())].iter().map(|c| c.norm_sqr()).sum::<f32>()
                / (hi - lo) as f32;
            self.smooth[b] = if self.started { 0.5 * self.smooth[b] + 0.5 * p } else { p };
            let db = 10.0 * self.smooth[b].max(1e-14).log10();
            let nf = &mut self.noise_db[b];
            if !self.started || db < *nf - 6.0 {
                *nf = db;
            } else if db < *nf + 5.0 {
                *nf += (db - *nf) * 0.05;
            } else {
                *nf += (db - *nf).min(30.0) * 0.0015;
            }
            self.snr[b] = (db - *nf).clamp(0.0, 30.0);
        }
        self.started = true;
        let mut s = self.snr;
        s.sort_by(|a, b| b.total_cmp(a));
        s[..BANDS / 2].iter().sum::<f32>() / (BANDS / 2) as f32
    }

    pub fn reset(&mut self) {
        self.history.iter_mut().for_each(|x| *x = 0.0);
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
        // A voiced-like harmonic series at 150 Hz, at about the noise's broadband level.
        let voice: Vec<f32> = (0..16_000)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                (1..20).map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin() / k as f32).sum::<f32>() * 0.02
            })
            .collect();
        let mixed: Vec<f32> = voice.iter().zip(&bg).map(|(v, n)| v + n).collect();
        let scores: Vec<f32> = mixed.chunks(256).map(|f| b.push(f)).collect();
        let mean = scores[5..].iter().sum::<f32>() / (scores.len() - 5) as f32;
        assert!(mean > 8.0, "voice in noise scores {mean}");
    }
}
