//! VAD accuracy on the annotated recordings of the shared corpus.

use std::path::{Path, PathBuf};

use hark_vad::{VadSettings, analyse_samples};

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if p.join("vad/vad_manifest.tsv").is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: the shared corpus is absent at {}", p.display());
        None
    }
}

fn read_regions(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect()
}

fn inside(r: &[(f64, f64)], t: f64) -> bool {
    r.iter().any(|&(s, e)| t >= s && t < e)
}

/// Frame-level (10 ms) counts: (true positives, false positives, false negatives).
fn score(truth: &[(f64, f64)], got: &[(f64, f64)], dur: f64) -> (u32, u32, u32) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let mut t = 0.005;
    while t < dur {
        match (inside(truth, t), inside(got, t)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            _ => {}
        }
        t += 0.01;
    }
    (tp, fp, fn_)
}

#[test]
fn frame_f1_against_annotations_is_at_least_0_90() {
    let Some(c) = corpus() else { return };
    let manifest = std::fs::read_to_string(c.join("vad/vad_manifest.tsv")).unwrap();
    let settings = VadSettings::default();
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let samples = hark_capture::read_16k_mono(&c.join("vad").join(f[0])).unwrap();
        let truth = read_regions(&c.join("vad").join(f[2]));
        let (_, regions) = analyse_samples(&samples, &settings);
        let got: Vec<(f64, f64)> = regions.iter().map(|&(s, e)| (s as f64 / 16000.0, e as f64 / 16000.0)).collect();
        let (a, b, d) = score(&truth, &got, samples.len() as f64 / 16000.0);
        let (p, r) = (a as f64 / (a + b).max(1) as f64, a as f64 / (a + d).max(1) as f64);
        eprintln!("{:<32} precision {p:.3} recall {r:.3} F1 {:.3}", f[0], 2.0 * p * r / (p + r));
        (tp, fp, fn_) = (tp + a, fp + b, fn_ + d);
    }
    // Clips with word timings: speech is the union of the words.
    for name in ["mfa_acoustic_corpus", "librivox_sense_and_sensibility_0870"] {
        let samples = hark_capture::read_16k_mono(&c.join(format!("{name}.wav"))).unwrap();
        let (_, regions) = analyse_samples(&samples, &settings);
        let words = read_regions(&c.join(format!("{name}.words.tsv")));
        let missed: Vec<_> = words
            .iter()
            .filter(|&&(s, e)| !regions.iter().any(|&(a, b)| (a as f64 / 16000.0) < e && (b as f64 / 16000.0) > s))
            .collect();
        eprintln!("{name}: {} of {} words outside every speech region: {missed:?}", missed.len(), words.len());
        assert!(missed.is_empty(), "{name}: words missed by the VAD: {missed:?}");
    }
    let (p, r) = (tp as f64 / (tp + fp) as f64, tp as f64 / (tp + fn_) as f64);
    let f1 = 2.0 * p * r / (p + r);
    eprintln!("total: precision {p:.3} recall {r:.3} F1 {f1:.3}");
    assert!(f1 >= 0.90, "frame F1 {f1:.3} (precision {p:.3}, recall {r:.3})");
}
