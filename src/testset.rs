//! Test material made from real recordings, reproducible from a seed (nothing generated is
//! committed): short utterances cut out of word-aligned clips, and clips mixed with pink, white
//! or babble noise at a *local* SNR (the SNR of that clip's speech, not of a whole file).
//!
//! Recordings are split once, by name, into a tuning part and a held-out part
//! ([`is_holdout`]): settings are chosen on the tuning part and the held-out part is only
//! reported, so a setting that helps only the clips we looked at shows up as a gap between the
//! two.

use std::path::Path;

use anyhow::Context;
use hark_capture::read_16k_mono;
use hark_core::SAMPLE_RATE;

use crate::longform::{Noise, pink_noise};

/// A recording with its reference text and, where the source has them, word times.
#[derive(Debug, Clone)]
pub struct Recording {
    pub name: String,
    pub samples: Vec<f32>,
    pub reference: String,
    /// `(start_s, end_s, word)` from a `.words.tsv` beside the file.
    pub words: Option<Vec<(f64, f64, String)>>,
}

/// One piece of test audio.
#[derive(Debug, Clone)]
pub struct TestClip {
    pub name: String,
    pub samples: Vec<f32>,
    pub reference: String,
    /// Where someone speaks, `[start, end)` in samples.
    pub speech: Vec<(u64, u64)>,
    /// Held out of tuning.
    pub holdout: bool,
}

/// Recordings never used to choose settings: one reader's third LibriVox clip, three corpus
/// speakers, and every clip of `tests/voices` (other people's recordings, added for this).
pub const HOLDOUT: &[&str] = &[
    "librivox_sense_and_sensibility_0920",
    "cmu_cards_005",
    "harvard_spk1_snt5",
    "mfa_surround",
    "cheetah_test_en_norm",
];

/// Whether a recording (file stem) is held out of tuning.
pub fn is_holdout(name: &str, from_voices: bool) -> bool {
    from_voices || HOLDOUT.contains(&name)
}

/// Reads every clip of a manifest (`file`, `transcript` columns) with its word times.
pub fn load_recordings(dir: &Path) -> anyhow::Result<Vec<Recording>> {
    let manifest = dir.join("manifest.tsv");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("manifest {} cannot be read", manifest.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = |n: &str| {
        header.iter().position(|h| *h == n).with_context(|| format!("{} has no {n} column", manifest.display()))
    };
    let (fc, tc) = (col("file")?, col("transcript")?);
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(reference)) = (f.get(fc), f.get(tc)) else { continue };
        let path = dir.join(file);
        let samples = read_16k_mono(&path).with_context(|| format!("{} cannot be read", path.display()))?;
        let stem = file.trim_end_matches(".wav").to_owned();
        let words_path = dir.join(format!("{stem}.words.tsv"));
        let words = std::fs::read_to_string(&words_path).ok().map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| {
                    let c: Vec<&str> = l.split('\t').collect();
                    Some((c.first()?.parse().ok()?, c.get(1)?.parse().ok()?, c.get(2)?.to_string()))
                })
                .collect()
        });
        out.push(Recording { name: stem, samples, reference: (*reference).to_owned(), words });
    }
    Ok(out)
}

fn s(secs: f64) -> u64 {
    (secs * SAMPLE_RATE as f64).round().max(0.0) as u64
}

/// `x` without what lies under 100 Hz (rumble, bumps, DC): levels are measured on the voice.
pub fn voice_band(x: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    hark_vad::highpass::HighPass::default().process(x, &mut out);
    out
}

/// Frame energies (16 ms frames) in dB.
fn frame_db(x: &[f32]) -> Vec<f32> {
    x.chunks(256).map(|f| 10.0 * ((f.iter().map(|v| v * v).sum::<f32>() / f.len() as f32).max(1e-12)).log10()).collect()
}

/// Where someone speaks in a recording: its word times when it has them, else an energy
/// decision on the clean audio (above 100 Hz) after ITU-T P.56's activity threshold: the level
/// `t` such that the frames above it average 15.9 dB over it. Frames above `t` and 15 dB over
/// the recording's own quiet floor are speech; islands under 50 ms (clicks) are dropped before
/// pauses under 0.3 s are bridged. Independent of the VAD under test.
pub fn reference_speech(r: &Recording) -> Vec<(u64, u64)> {
    let frame = |i: usize, n: usize| (i as u64 * 256, ((i as u64 + 1) * 256).min(n as u64));
    let mut spans: Vec<(u64, u64)> = match &r.words {
        Some(w) => w.iter().map(|(a, b, _)| (s(*a), s(*b))).collect(),
        None => {
            let db = frame_db(&voice_band(&r.samples));
            let mut sorted = db.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let floor = sorted.get(sorted.len() * 9 / 10).copied().unwrap_or(-120.0);
            // P.56: walk down from the loudest frame until the mean of the frames so far falls
            // to 15.9 dB over the next one.
            let mut sum = 0.0f64;
            let mut t = f32::NEG_INFINITY;
            for (k, &d) in sorted.iter().enumerate() {
                sum += 10f64.powf(d as f64 / 10.0);
                let mean_db = 10.0 * (sum / (k + 1) as f64).log10();
                if mean_db - d as f64 >= 15.9 {
                    t = d;
                    break;
                }
            }
            let thr = t.max(floor + 15.0);
            let on: Vec<bool> = db.iter().map(|&d| d >= thr).collect();
            let mut spans = Vec::new();
            let mut i = 0;
            while i < on.len() {
                if !on[i] {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < on.len() && on[i] {
                    i += 1;
                }
                // Drop clicks: runs shorter than 50 ms (four frames).
                if i - start >= 4 {
                    spans.push((frame(start, r.samples.len()).0, frame(i - 1, r.samples.len()).1));
                }
            }
            spans
        }
    };
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 + s(0.3) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Short utterances: for each word-aligned recording and n = 1, 2, 3, `per_length` spans of n
/// words chosen with `seed`, each with the recording's own pause around it (up to 0.4 s a
/// side, never reaching into a neighbouring word); plus every whole recording of at most
/// `whole_max_s` seconds (digits, commands, single words).
pub fn short_utterances(recs: &[Recording], seed: u64, per_length: usize, whole_max_s: f64) -> Vec<TestClip> {
    let mut rng = Noise(seed | 1);
    let mut out = Vec::new();
    for r in recs {
        let holdout = is_holdout(&r.name, false);
        if let Some(words) = r.words.as_ref().filter(|w| w.len() > 4) {
            for n in 1..=3 {
                for k in 0..per_length {
                    let i = ((rng.next() * 0.5 + 0.5) * (words.len() - n) as f32) as usize;
                    let (first, last) = (&words[i], &words[i + n - 1]);
                    let prev_end = if i == 0 { 0.0 } else { words[i - 1].1 };
                    let next_start =
                        words.get(i + n).map_or(hark_core::samples_to_secs(r.samples.len() as u64), |w| w.0);
                    let a = s(first.0 - (first.0 - prev_end).clamp(0.0, 0.4));
                    let b = s(last.1 + (next_start - last.1).clamp(0.0, 0.4)).min(r.samples.len() as u64);
                    let text = words[i..i + n].iter().map(|w| w.2.as_str()).collect::<Vec<_>>().join(" ");
                    out.push(TestClip {
                        name: format!("{}#{n}w{k}@{:.2}", r.name, first.0),
                        samples: r.samples[a as usize..b as usize].to_vec(),
                        reference: text,
                        speech: vec![(s(first.0) - a, s(last.1).min(b) - a)],
                        holdout,
                    });
                }
            }
        } else if hark_core::samples_to_secs(r.samples.len() as u64) <= whole_max_s {
            out.push(TestClip {
                name: r.name.clone(),
                samples: r.samples.clone(),
                reference: r.reference.clone(),
                speech: reference_speech(r),
                holdout,
            });
        }
    }
    out
}

/// Kinds of added noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseKind {
    Pink,
    White,
    /// Several other recordings talking at once.
    Babble,
}

impl NoiseKind {
    pub const ALL: [NoiseKind; 3] = [NoiseKind::Pink, NoiseKind::White, NoiseKind::Babble];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pink => "pink",
            Self::White => "white",
            Self::Babble => "babble",
        }
    }
}

/// Two recordings of one speaker are named alike but for a number glued to the end
/// (`mfa_cold_corpus`, `mfa_cold_corpus3`).
fn same_speaker(a: &str, b: &str) -> bool {
    fn stem(x: &str) -> &str {
        let t = x.trim_end_matches(|c: char| c.is_ascii_digit());
        if t.ends_with(|c: char| c.is_ascii_alphabetic()) { t } else { x }
    }
    stem(a) == stem(b)
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len().max(1) as f64
}

/// Mean power over the speech spans, above 100 Hz: the active speech level the SNR is
/// measured against (rumble under the voice does not count as voice).
fn active_power(x: &[f32], speech: &[(u64, u64)]) -> f64 {
    let x = &voice_band(x)[..];
    let (mut e, mut n) = (0.0, 0usize);
    for &(a, b) in speech {
        let piece = &x[a as usize..(b as usize).min(x.len())];
        e += power(piece) * piece.len() as f64;
        n += piece.len();
    }
    if n == 0 { power(x) } else { e / n as f64 }
}

/// Talkers summed into babble.
pub const BABBLE_TALKERS: usize = 6;
/// Only recordings at least this long talk in the babble (a looped one-word clip is a chant,
/// not a crowd).
pub const BABBLE_MIN_SECS: f64 = 10.0;

/// Unit-power noise of `kind`, `n` samples long. Babble sums [`BABBLE_TALKERS`] different
/// recordings of at least [`BABBLE_MIN_SECS`] other than `exclude` (and other than its
/// speaker's other recordings), each at the same active level, from seeded offsets.
pub fn noise(kind: NoiseKind, n: usize, seed: u64, recs: &[Recording], exclude: &str) -> Vec<f32> {
    let mut out = match kind {
        NoiseKind::Pink => pink_noise(n, seed),
        NoiseKind::White => {
            let mut w = Noise(seed | 1);
            (0..n).map(|_| w.next()).collect()
        }
        NoiseKind::Babble => {
            let mut rng = Noise(seed | 1);
            let mut others: Vec<&Recording> = recs
                .iter()
                .filter(|r| !same_speaker(&r.name, exclude) && r.samples.len() as f64 >= s(BABBLE_MIN_SECS) as f64)
                .collect();
            let mut sum = vec![0f32; n];
            for _ in 0..BABBLE_TALKERS.min(others.len()) {
                let k = ((rng.next() * 0.5 + 0.5) * others.len() as f32) as usize % others.len();
                let r = others.swap_remove(k);
                let gain = (1.0 / active_power(&r.samples, &reference_speech(r)).max(1e-12)).sqrt() as f32;
                let off = ((rng.next() * 0.5 + 0.5) * r.samples.len() as f32) as usize;
                for (i, x) in sum.iter_mut().enumerate() {
                    *x += r.samples[(off + i) % r.samples.len()] * gain;
                }
            }
            sum
        }
    };
    let g = (1.0 / power(&out).max(1e-12)).sqrt() as f32;
    out.iter_mut().for_each(|x| *x *= g);
    out
}

/// Each recording with `pad_s` of lead-in and tail, and noise of `kind` over everything at
/// `snr_db` below the recording's active speech level.
pub fn noisy(recs: &[Recording], kind: NoiseKind, snr_db: f64, pad_s: f64, seed: u64) -> Vec<TestClip> {
    recs.iter()
        .enumerate()
        .map(|(i, r)| {
            let speech = reference_speech(r);
            let level = active_power(&r.samples, &speech);
            let pad = s(pad_s) as usize;
            let n = r.samples.len() + 2 * pad;
            let seed = seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (snr_db.to_bits() >> 7);
            let nz = noise(kind, n, seed, recs, &r.name);
            let gain = (level / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
            let mut samples = vec![0f32; n];
            samples[pad..pad + r.samples.len()].copy_from_slice(&r.samples);
            for (x, v) in samples.iter_mut().zip(nz) {
                *x = (*x + v * gain).clamp(-1.0, 1.0);
            }
            TestClip {
                name: format!("{}+{}@{snr_db}dB", r.name, kind.name()),
                samples,
                reference: r.reference.clone(),
                speech: speech.iter().map(|&(a, b)| (a + pad as u64, b + pad as u64)).collect(),
                holdout: is_holdout(&r.name, false),
            }
        })
        .collect()
}

/// No-score collar around each reference boundary, as speech-activity evaluations use: word
/// and energy boundaries are only known to a few frames, so frames this close to one are not
/// counted either way.
pub const COLLAR: u64 = 1_600;

/// Frames (16 ms) of `reference` that `detected` covers, and frames of `detected` inside
/// `reference`: `(recall, precision)`, frames within [`COLLAR`] of a reference boundary left out.
pub fn frame_scores(reference: &[(u64, u64)], detected: &[(u64, u64)], total: u64) -> (f64, f64) {
    let frames = total.div_ceil(256) as usize;
    let mark = |spans: &[(u64, u64)]| {
        let mut v = vec![false; frames];
        for &(a, b) in spans {
            let (from, to) = (((a / 256) as usize).min(frames), (b.div_ceil(256) as usize).min(frames));
            v[from..to.max(from)].iter_mut().for_each(|x| *x = true);
        }
        v
    };
    let (r, d) = (mark(reference), mark(detected));
    let near_edge = |f: usize| {
        let t = f as u64 * 256 + 128;
        reference.iter().any(|&(a, b)| t.abs_diff(a) < COLLAR || t.abs_diff(b) < COLLAR)
    };
    let (mut both, mut nr, mut nd) = (0.0, 0.0, 0.0);
    for f in (0..frames).filter(|&f| !near_edge(f)) {
        both += f64::from(u8::from(r[f] && d[f]));
        nr += f64::from(u8::from(r[f]));
        nd += f64::from(u8::from(d[f]));
    }
    (if nr == 0.0 { 1.0 } else { both / nr }, if nd == 0.0 { 1.0 } else { both / nd })
}

/// Puts `clip` in a recording: `lead_s` of faint hiss before it and `tail_s` after, as the
/// silence between utterances of a long recording sounds.
pub fn in_quiet(clip: &TestClip, lead_s: f64, tail_s: f64, seed: u64) -> TestClip {
    let mut hiss = Noise(seed | 1);
    let lead = s(lead_s) as usize;
    let mut samples: Vec<f32> = (0..lead).map(|_| hiss.next() * 0.001).collect();
    samples.extend_from_slice(&clip.samples);
    samples.extend((0..s(tail_s) as usize).map(|_| hiss.next() * 0.001));
    TestClip {
        samples,
        speech: clip.speech.iter().map(|&(a, b)| (a + lead as u64, b + lead as u64)).collect(),
        ..clip.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(words: Option<Vec<(f64, f64, String)>>) -> Recording {
        let mut samples = vec![0.0001f32; 48_000];
        for (i, x) in samples.iter_mut().enumerate().skip(16_000).take(16_000) {
            *x = 0.3 * (i as f32 * 0.1).sin();
        }
        Recording { name: "r".into(), samples, reference: "a b c d e f".into(), words }
    }

    #[test]
    fn reference_speech_follows_the_words_or_the_energy() {
        let r = reference_speech(&rec(None));
        assert_eq!(r.len(), 1);
        assert!(r[0].0.abs_diff(16_000) <= 256 && r[0].1.abs_diff(32_000) <= 256, "{r:?}");
        let w = vec![(1.0, 1.2, "a".into()), (1.3, 1.5, "b".into()), (2.0, 2.1, "c".into())];
        assert_eq!(reference_speech(&rec(Some(w))), vec![(16_000, 24_000), (32_000, 33_600)]);
    }

    #[test]
    fn noise_is_mixed_at_the_local_snr() {
        let r = rec(None);
        for kind in [NoiseKind::Pink, NoiseKind::White] {
            let c = &noisy(std::slice::from_ref(&r), kind, 5.0, 1.0, 7)[0];
            // The noise alone, in the lead-in, is 5 dB under the speech's active level.
            let noise = power(&c.samples[..16_000]);
            let speech = active_power(&r.samples, &reference_speech(&r));
            assert!(((speech / noise).log10() * 10.0 - 5.0).abs() < 0.5, "{kind:?}");
            assert_eq!(c.speech.len(), 1);
            assert!(c.speech[0].0.abs_diff(32_000) <= 256 && c.speech[0].1.abs_diff(48_000) <= 256, "{:?}", c.speech);
        }
        // 0.2 s of speech at 1 s: the collar leaves its middle frames to score.
        let (r, p) = frame_scores(&[(16_000, 35_200)], &[(16_000, 25_600)], 64_000);
        assert!((r - 0.5).abs() < 0.1 && p == 1.0, "{r} {p}");
    }

    #[test]
    fn babble_is_six_other_long_talkers() {
        // A number glued to a name marks the same speaker; after an underscore it is an id.
        assert!(same_speaker("mfa_cold_corpus", "mfa_cold_corpus3"));
        assert!(!same_speaker("speechocean762_001450116", "speechocean762_055470152"));
        let long = |k: usize| Recording {
            name: format!("talker_{k}"),
            samples: (0..s(BABBLE_MIN_SECS) as usize).map(|i| 0.1 * (i as f32 * 0.01 * (k + 1) as f32).sin()).collect(),
            reference: "x".into(),
            words: None,
        };
        let mut recs: Vec<Recording> = (0..12).map(long).collect();
        recs.push(Recording { name: "short".into(), samples: vec![0.5; 16_000], reference: "x".into(), words: None });
        let b = noise(NoiseKind::Babble, 32_000, 3, &recs, "talker_0");
        assert!((power(&b) - 1.0).abs() < 1e-3);
        // Twelve long talkers, each a tone of its own, and a short clip: the babble for
        // talker 0 holds six of the eleven other tones, not its own, and not the short clip.
        let tone = |k: usize| {
            let w = 0.01 * (k + 1) as f64;
            let (mut c, mut q) = (0.0, 0.0);
            for (i, &x) in b.iter().enumerate() {
                c += x as f64 * (w * i as f64).cos();
                q += x as f64 * (w * i as f64).sin();
            }
            (c * c + q * q).sqrt() / b.len() as f64
        };
        let present: Vec<usize> = (0..12).filter(|&k| tone(k) > 0.05).collect();
        assert_eq!(present.len(), BABBLE_TALKERS, "{present:?}");
        assert!(!present.contains(&0), "{present:?}");
    }
}
