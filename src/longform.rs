//! The long-form test recording: corpus clips joined by 1.5–6 s pauses of low noise, optionally
//! with pink noise over everything at a given SNR. Deterministic, so tests and benchmarks use
//! the same audio.

use std::path::Path;

use hark_capture::read_16k_mono;

/// Clips (from the shared corpus) in the order they are joined, and the pauses after each.
pub const CLIPS: &[(&str, f64)] = &[
    ("jfk.wav", 1.5),
    ("mfa_acoustic_corpus.wav", 3.0),
    ("librispeech_61-70968-0000.wav", 6.0),
    ("librivox_sense_and_sensibility_0870.wav", 2.0),
    ("librivox_sense_and_sensibility_0890.wav", 4.5),
    ("librivox_sense_and_sensibility_0920.wav", 2.5),
    ("harvard_spk1_snt1.wav", 5.0),
    ("mfa_thoughts.wav", 0.0),
];

/// The built recording and its reference text.
#[derive(Debug, Clone)]
pub struct LongForm {
    pub samples: Vec<f32>,
    pub reference: String,
    /// Per clip: (file, reference, start sample, end sample).
    pub clips: Vec<(String, String, usize, usize)>,
}

/// A small deterministic generator (xorshift64*), uniform in [-1, 1).
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (v >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Pink (1/f) noise with unit variance, Paul Kellet's filter over white noise.
pub fn pink_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut w = Noise(seed | 1);
    let (mut b0, mut b1, mut b2, mut b3, mut b4, mut b5, mut b6) = (0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
    let mut out: Vec<f32> = (0..n)
        .map(|_| {
            let x = w.next();
            b0 = 0.99886 * b0 + x * 0.0555179;
            b1 = 0.99332 * b1 + x * 0.0750759;
            b2 = 0.96900 * b2 + x * 0.153_852;
            b3 = 0.86650 * b3 + x * 0.3104856;
            b4 = 0.55000 * b4 + x * 0.5329522;
            b5 = -0.7616 * b5 - x * 0.0168980;
            let y = b0 + b1 + b2 + b3 + b4 + b5 + b6 + x * 0.5362;
            b6 = x * 0.115926;
            y
        })
        .collect();
    let rms = (out.iter().map(|x| x * x).sum::<f32>() / n.max(1) as f32).sqrt().max(1e-9);
    out.iter_mut().for_each(|x| *x /= rms);
    out
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64
}

/// Builds the recording from `corpus` (the shared corpus directory). With `snr_db`, pink noise
/// is added over the whole recording at that ratio of speech power (the clips' mean power) to
/// noise power; the pauses always hold low white noise at about -60 dBFS.
pub fn build(corpus: &Path, snr_db: Option<f64>) -> anyhow::Result<LongForm> {
    let manifest = std::fs::read_to_string(corpus.join("manifest.tsv"))?;
    let reference_of = |file: &str| {
        manifest.lines().find_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.first() == Some(&file)).then(|| f.get(2).unwrap_or(&"").to_string())
        })
    };
    let mut samples = Vec::new();
    let mut clips = Vec::new();
    let mut speech = Vec::new();
    let mut hiss = Noise(0x5eed);
    for &(file, pause) in CLIPS {
        let audio = read_16k_mono(&corpus.join(file))?;
        let reference = reference_of(file).ok_or_else(|| anyhow::anyhow!("{file} is not in the manifest"))?;
        let start = samples.len();
        samples.extend_from_slice(&audio);
        speech.extend_from_slice(&audio);
        clips.push((file.to_owned(), reference, start, samples.len()));
        let gap = (pause * hark_core::SAMPLE_RATE as f64) as usize;
        samples.extend((0..gap).map(|_| hiss.next() * 0.001));
    }
    if let Some(snr) = snr_db {
        let noise = pink_noise(samples.len(), 0xc0ffee);
        let gain = (power(&speech) / 10f64.powf(snr / 10.0)).sqrt() as f32;
        for (s, n) in samples.iter_mut().zip(noise) {
            *s += n * gain;
        }
    }
    let reference = clips.iter().map(|c| c.1.as_str()).collect::<Vec<_>>().join(" ");
    Ok(LongForm { samples, reference, clips })
}
