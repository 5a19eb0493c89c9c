//! VAD accuracy on the annotated recordings of the shared corpus.

use std::path::{Path, PathBuf};

use hark_vad::{VadSettings, analyse_regions, analyse_samples};

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
    assert!(f1 >= 0.95, "frame F1 {f1:.3} (precision {p:.3}, recall {r:.3})");
}

/// The two views of a region: where someone speaks (what `speech` in the JSON and the window's
/// green band show) lies inside what the segmenter cuts (pre-roll and end pad added), and
/// is the more precise of the two against the annotations.
#[test]
fn speech_decision_lies_inside_the_cut_and_is_more_precise() {
    let Some(c) = corpus() else { return };
    let manifest = std::fs::read_to_string(c.join("vad/vad_manifest.tsv")).unwrap();
    let settings = VadSettings::default();
    let (mut cut, mut speech) = ((0, 0, 0), (0, 0, 0));
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let samples = hark_capture::read_16k_mono(&c.join("vad").join(f[0])).unwrap();
        let truth = read_regions(&c.join("vad").join(f[2]));
        let (_, regions) = analyse_regions(&samples, &settings);
        for r in &regions {
            assert!(r.cut.0 <= r.speech.0 && r.speech.0 < r.speech.1 && r.speech.1 <= r.cut.1, "{r:?}");
        }
        let secs = |v: Vec<(u64, u64)>| v.iter().map(|&(s, e)| (s as f64 / 16e3, e as f64 / 16e3)).collect::<Vec<_>>();
        let dur = samples.len() as f64 / 16e3;
        let a = score(&truth, &secs(regions.iter().map(|r| r.cut).collect()), dur);
        let b = score(&truth, &secs(regions.iter().map(|r| r.speech).collect()), dur);
        cut = (cut.0 + a.0, cut.1 + a.1, cut.2 + a.2);
        speech = (speech.0 + b.0, speech.1 + b.1, speech.2 + b.2);
    }
    let pr = |(tp, fp, fn_): (u32, u32, u32)| (tp as f64 / (tp + fp) as f64, tp as f64 / (tp + fn_) as f64);
    let ((pc, rc), (ps, rs)) = (pr(cut), pr(speech));
    eprintln!("cut:    precision {pc:.3} recall {rc:.3}\nspeech: precision {ps:.3} recall {rs:.3}");
    assert!(ps >= pc, "the speech decision is less precise than the padded cut");
}
