//! A second-order Butterworth high-pass at 100 Hz in front of the energy and band features
//! (the neural network gets the unfiltered audio it was trained on).
//!
//! Recordings carry rumble, handling bumps and DC below the voice (one test recording has 30 dB
//! more energy under 100 Hz than in the whole speech band). Left in, that energy lifts the noise
//! floor the gate and the band tracker learn and hides a quiet voice from them; voices have
//! next to nothing below 100 Hz, so removing it costs the features nothing.

/// Biquad state for one stream.
#[derive(Debug, Clone)]
pub struct HighPass {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl HighPass {
    /// A Butterworth high-pass at `cutoff_hz` for audio at `rate` Hz.
    pub fn new(cutoff_hz: f32, rate: f32) -> Self {
        let w0 = 2.0 * std::f32::consts::PI * cutoff_hz / rate;
        let alpha = w0.sin() / std::f32::consts::SQRT_2;
        let c = w0.cos();
        let a0 = 1.0 + alpha;
        let b = [(1.0 + c) / 2.0 / a0, -(1.0 + c) / a0, (1.0 + c) / 2.0 / a0];
        Self { b, a: [-2.0 * c / a0, (1.0 - alpha) / a0], x: [0.0; 2], y: [0.0; 2] }
    }

    /// Filters `input` into `out` (cleared first).
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend(input.iter().map(|&v| {
            let o = self.b[0] * v + self.b[1] * self.x[0] + self.b[2] * self.x[1]
                - self.a[0] * self.y[0]
                - self.a[1] * self.y[1];
            self.x = [v, self.x[0]];
            self.y = [o, self.y[0]];
            o
        }));
    }
}

impl Default for HighPass {
    fn default() -> Self {
        Self::new(100.0, hark_core::SAMPLE_RATE as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain(hz: f32) -> f32 {
        let x: Vec<f32> = (0..16_000).map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 16_000.0).sin()).collect();
        let mut y = Vec::new();
        HighPass::default().process(&x, &mut y);
        let rms = |v: &[f32]| (v.iter().map(|a| a * a).sum::<f32>() / v.len() as f32).sqrt();
        rms(&y[8000..]) / rms(&x[8000..])
    }

    #[test]
    fn rumble_goes_and_the_voice_stays() {
        assert!(gain(20.0) < 0.05, "20 Hz passes {}", gain(20.0));
        assert!((gain(100.0) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.05);
        assert!(gain(300.0) > 0.95 && gain(1000.0) > 0.99);
    }
}
