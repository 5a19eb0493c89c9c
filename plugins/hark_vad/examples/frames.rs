//! What the VAD sees in each 16 ms frame of a 16 kHz mono 16-bit WAV, for tracing why a
//! stretch was (or was not) taken for speech: the network's probability, the frame's energy
//! and the tracked floor, the speech-band SNR and level, the gate's decision and its edges.
//!
//! `cargo run --release -p hark_vad --example frames -- FILE.wav [FROM_S [TO_S]]`

use hark_vad::{VadSettings, gate, highpass, spectral};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: frames FILE.wav [FROM_S [TO_S]] (16 kHz mono 16-bit PCM)");
        std::process::exit(2);
    };
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path} cannot be read: {e}"));
    let secs = |i: usize, default: f64| args.get(i).map_or(default, |s| s.parse().expect("times are seconds"));
    let (from, to) = (secs(2, 0.0), secs(3, f64::INFINITY));
    let i = bytes.windows(4).position(|w| w == b"data").expect("a WAV file with a data chunk") + 8;
    let samples: Vec<f32> =
        bytes[i..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect();
    let settings = VadSettings::default();
    let mut det = settings.detector.make();
    let mut bands = spectral::BandSnr::default();
    let mut g = gate::SpeechGate::new(settings.gate.clone());
    let mut filtered = Vec::new();
    highpass::HighPass::default().process(&samples, &mut filtered);
    let fl = det.frame_len();
    for (i, (frame, raw)) in filtered.chunks_exact(fl).zip(samples.chunks_exact(fl)).enumerate() {
        let f = hark_vad::frame_features(det.as_mut(), &mut bands, raw, frame);
        let (p, energy_db, band_snr_db, level) = (f.p, f.energy_db, f.band_snr_db, bands.level_db());
        let mut edges = String::new();
        let sp = g.push_frame((i * fl) as u64, fl as u64, f, |e| edges.push_str(&format!(" {e:?}")));
        let t = (i * fl) as f64 / 16000.0;
        if t >= from && t < to {
            println!(
                "{t:7.3} p {p:.2} e {energy_db:6.1} floor {:6.1} band {band_snr_db:5.1} lvl {level:6.1} {}{}",
                g.noise_floor_db().unwrap_or(0.0),
                if sp { "S" } else { "." },
                edges
            );
        }
    }
}
