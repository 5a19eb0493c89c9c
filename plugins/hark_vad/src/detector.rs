//! Per-frame speech probability.

/// Frame length of every detector: 16 ms at 16 kHz.
pub const FRAME: usize = 256;

/// Gives a speech probability (0..1) for each frame of 16 kHz mono audio.
pub trait VoiceDetector: Send + Sync {
    /// Samples per frame.
    fn frame_len(&self) -> usize {
        FRAME
    }
    fn probability(&mut self, frame: &[f32]) -> f32;
    fn reset(&mut self);
}

/// earshot's neural detector.
pub struct EarshotDetector(Box<earshot::Detector>);

impl Default for EarshotDetector {
    fn default() -> Self {
        Self(earshot::Detector::default_boxed())
    }
}

impl VoiceDetector for EarshotDetector {
    fn probability(&mut self, frame: &[f32]) -> f32 {
        self.0.predict_f32(frame)
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Energy in dBFS of a frame (mean square; -100 for digital silence).
pub fn frame_db(frame: &[f32]) -> f32 {
    let ms = frame.iter().map(|x| x * x).sum::<f32>() / frame.len().max(1) as f32;
    if ms <= 1e-10 { -100.0 } else { 10.0 * ms.log10() }
}

/// Energy above an adaptive noise floor, mapped to 0..1 (0.5 at `margin_db` above the floor).
#[derive(Debug, Clone)]
pub struct EnergyDetector {
    floor_db: f32,
    pub margin_db: f32,
    started: bool,
}

impl Default for EnergyDetector {
    fn default() -> Self {
        Self { floor_db: -60.0, margin_db: 12.0, started: false }
    }
}

impl VoiceDetector for EnergyDetector {
    fn probability(&mut self, frame: &[f32]) -> f32 {
        let db = frame_db(frame);
        if !self.started {
            self.floor_db = db;
            self.started = true;
        }
        // The floor follows quiet frames quickly and loud ones very slowly (~30 s to rise 10 dB).
        if db < self.floor_db {
            self.floor_db += (db - self.floor_db) * 0.3;
        } else {
            self.floor_db += (db - self.floor_db).min(20.0) * 0.0005;
        }
        let above = db - self.floor_db - self.margin_db;
        1.0 / (1.0 + (-above / 2.0).exp())
    }

    fn reset(&mut self) {
        self.started = false;
    }
}
