//! The Silero network written out in Rust gives what the upstream runtime gives.

use hark_vad::silero::{CHUNK, Silero};

/// Every chunk of a held-out hoarse voice (`tests/voices/mfa_cold_corpus.wav`) against the
/// probabilities onnxruntime computed from the same model file (`silero_reference.txt`).
#[test]
fn probabilities_match_onnxruntime_on_a_recording() {
    let dir = hark_core::manifest_dir!();
    let samples = hark_capture::read_16k_mono(&dir.join("../../tests/voices/mfa_cold_corpus.wav")).unwrap();
    let expected: Vec<f32> = std::fs::read_to_string(dir.join("tests/silero_reference.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(expected.len(), samples.len() / CHUNK);
    let mut net = Silero::default();
    let mut worst = (0.0f32, 0);
    for (i, (chunk, want)) in samples.chunks_exact(CHUNK).zip(&expected).enumerate() {
        let got = net.process(chunk.try_into().unwrap());
        if (got - want).abs() > worst.0 {
            worst = ((got - want).abs(), i);
        }
    }
    eprintln!("largest difference {:.2e} at chunk {}", worst.0, worst.1);
    assert!(worst.0 < 1e-3, "chunk {} differs by {}", worst.1, worst.0);
    // The voice is there: most chunks are speech.
    assert!(expected.iter().filter(|&&p| p > 0.5).count() > expected.len() / 2);
}
