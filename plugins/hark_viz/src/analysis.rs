//! What the pictures show, computed on the ECS side: spectrogram columns (FFT, log-frequency
//! rows, dB scaled to 0..1) and waveform columns (min/max per 10 ms), one column per hop.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Samples per column: 10 ms at 16 kHz.
pub const HOP: usize = 160;
/// FFT length (32 ms window).
pub const FFT: usize = 512;
/// Rows of the spectrogram texture (log-spaced 60 Hz .. 8 kHz).
pub const ROWS: usize = 128;
/// Lowest frequency shown.
pub const F_MIN: f32 = 60.0;

/// Turns a stream of 16 kHz samples into spectrogram and waveform columns.
pub struct ColumnMaker {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    history: Vec<f32>,
    scratch_in: Vec<f32>,
    scratch_out: Vec<realfft::num_complex::Complex<f32>>,
    /// For each row, the FFT bins it covers, and its centre as a fractional bin.
    rows: Vec<(usize, usize)>,
    centres: Vec<f32>,
    /// Samples not yet making a full hop.
    pending: Vec<f32>,
}

impl std::fmt::Debug for ColumnMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnMaker").finish()
    }
}

/// One 10 ms column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// `ROWS` values in 0..1, row 0 the lowest frequency.
    pub spectrum: [u8; ROWS],
    /// Waveform minimum and maximum in -1..1.
    pub min: f32,
    pub max: f32,
}

impl Default for ColumnMaker {
    fn default() -> Self {
        Self::new()
    }
}

/// Frequency of row `r` (its lower edge), log-spaced.
pub fn row_hz(r: f32) -> f32 {
    F_MIN * (8000.0 / F_MIN).powf(r / ROWS as f32)
}

impl ColumnMaker {
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT);
        let window = (0..FFT).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / FFT as f32).cos()).collect();
        let bin_hz = hark_core::SAMPLE_RATE as f32 / FFT as f32;
        let rows = (0..ROWS)
            .map(|r| {
                let lo = (row_hz(r as f32) / bin_hz).floor() as usize;
                let hi = ((row_hz(r as f32 + 1.0) / bin_hz).ceil() as usize).max(lo + 1);
                (lo.min(FFT / 2), hi.min(FFT / 2 + 1))
            })
            .collect();
        let centres = (0..ROWS).map(|r| row_hz(r as f32 + 0.5) / bin_hz).collect();
        Self {
            centres,
            scratch_in: fft.make_input_vec(),
            scratch_out: fft.make_output_vec(),
            fft,
            window,
            history: vec![0.0; FFT],
            rows,
            pending: Vec::with_capacity(HOP),
        }
    }

    /// Feeds samples; calls `out` for each completed column.
    pub fn push(&mut self, samples: &[f32], mut out: impl FnMut(Column)) {
        for &s in samples {
            self.pending.push(s);
            if self.pending.len() == HOP {
                let col = self.column();
                out(col);
                self.pending.clear();
            }
        }
    }

    fn column(&mut self) -> Column {
        self.history.drain(..HOP);
        self.history.extend_from_slice(&self.pending);
        for ((d, s), w) in self.scratch_in.iter_mut().zip(&self.history).zip(&self.window) {
            *d = s * w;
        }
        let _ = self.fft.process(&mut self.scratch_in, &mut self.scratch_out);
        let mut spectrum = [0u8; ROWS];
        for (r, &(lo, hi)) in self.rows.iter().enumerate() {
            let power = if hi - lo > 2 {
                self.scratch_out[lo..hi].iter().map(|c| c.norm_sqr()).fold(0.0f32, f32::max)
            } else {
                // Rows narrower than a bin (low frequencies): interpolate between bins, so the
                // picture has no steps.
                let f = self.centres[r];
                let i = (f.floor() as usize).min(FFT / 2 - 1);
                let t = f - i as f32;
                self.scratch_out[i].norm_sqr() * (1.0 - t) + self.scratch_out[i + 1].norm_sqr() * t
            };
            // Full-scale sine ≈ (FFT/4)^2; show -90..0 dB.
            let db = 10.0 * (power / (FFT as f32 * FFT as f32 / 16.0)).max(1e-12).log10();
            spectrum[r] = (((db + 90.0) / 90.0).clamp(0.0, 1.0) * 255.0) as u8;
        }
        let (min, max) = self.pending.iter().fold((0.0f32, 0.0f32), |(a, b), &x| (a.min(x), b.max(x)));
        Column { spectrum, min, max }
    }
}

/// Mean spectrum value (0..255) of rows between `lo_hz` and `hi_hz`.
pub fn band_energy(col: &Column, lo_hz: f32, hi_hz: f32) -> f32 {
    let (sum, n) = (0..ROWS)
        .filter(|&r| row_hz(r as f32) >= lo_hz && row_hz(r as f32) < hi_hz)
        .fold((0.0, 0usize), |(sum, n), r| (sum + col.spectrum[r] as f32, n + 1));
    sum / n.max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_lights_its_row_and_silence_stays_dark() {
        let mut m = ColumnMaker::new();
        let tone: Vec<f32> =
            (0..16_000).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5).collect();
        let mut cols = Vec::new();
        m.push(&tone, |c| cols.push(c));
        assert_eq!(cols.len(), 100);
        let c = &cols[50];
        let peak = (0..ROWS).max_by_key(|&r| c.spectrum[r]).unwrap();
        assert!(
            row_hz(peak as f32) <= 1000.0 && row_hz(peak as f32 + 1.0) >= 1000.0 * 0.97,
            "peak row {peak} at {} Hz",
            row_hz(peak as f32)
        );
        assert!((c.max - 0.5).abs() < 0.01 && (c.min + 0.5).abs() < 0.01);
        let mut quiet = Vec::new();
        m.push(&vec![0.0; 16_000], |c| quiet.push(c));
        assert!(band_energy(&quiet[60], 300.0, 3400.0) < 5.0);
        assert!(c.spectrum[peak] > 200, "peak value {}", c.spectrum[peak]);
        assert!(band_energy(c, 800.0, 1200.0) > 2.0 * band_energy(c, 2000.0, 4000.0));
    }
}
