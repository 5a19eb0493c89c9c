//! Robustness on audio the pipeline was not tuned on: short utterances cut out of aligned
//! recordings (no repetition storms), and recordings in pink, white and babble noise (nobody
//! lost). The material is generated from the shared corpus and `tests/voices` with a fixed
//! seed; `hark bench robust` prints the same figures per condition.

mod common;

use std::path::{Path, PathBuf};

use common::{corpus, test_model};
use hark::pipeline::{Pipeline, PipelineOptions};
use hark::robust::{longest_run, run_short, transcribe};
use hark::testset::{self, NoiseKind, Recording, TestClip};
use hark_core::text::normalize_words;
use hark_vad::VadSettings;

const SEED: u64 = 7;

fn voices() -> PathBuf {
    common::root().join("tests/voices")
}

fn recordings(c: &Path) -> (Vec<Recording>, Vec<Recording>) {
    let corpus = testset::load_recordings(c).unwrap();
    let voices = testset::load_recordings(&voices()).expect("tests/voices is part of the repository");
    (corpus, voices)
}

fn options(model: &Path) -> PipelineOptions {
    let mut o = PipelineOptions::new(model.to_path_buf());
    o.whisper.threads = 2;
    o
}

#[test]
fn short_utterances_never_storm() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let (corpus, voices) = recordings(&c);
    let mut clips = testset::short_utterances(&corpus, SEED, 4, 5.0);
    clips.extend(testset::short_utterances(&voices, SEED, 4, 5.0));
    // As at the end of a long recording: faint hiss before and after.
    let clips: Vec<TestClip> = clips.iter().map(|c| testset::in_quiet(c, 1.5, 1.0, SEED)).collect();
    assert!(clips.len() >= 60, "{} short clips", clips.len());
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let results = run_short(&mut p, &clips);
    let mut failures = Vec::new();
    for r in &results {
        let spoken_run = longest_run(&normalize_words(&r.reference));
        eprintln!("{:<50} {:>4.1}s dec {:>4.2}s | {} | {}", r.name, r.audio_s, r.decode_s, r.reference, r.hypothesis);
        if r.hyp_words > r.ref_words + 2 || r.max_run > spoken_run.max(2) {
            failures.push(format!("{}: {:?} → {:?}", r.name, r.reference, r.hypothesis));
        }
    }
    let ins: usize = results.iter().map(|r| r.insertions).sum();
    eprintln!("{} clips, {:.2} inserted words per utterance", results.len(), ins as f64 / results.len() as f64);
    assert!(failures.is_empty(), "storms:\n{}", failures.join("\n"));
}

/// The recordings the noise test mixes: every corpus clip and every voice of 2 s or more.
fn noise_set(c: &Path) -> Vec<Recording> {
    let (corpus, voices) = recordings(c);
    corpus.into_iter().chain(voices.into_iter().filter(|r| r.samples.len() >= 32_000)).collect()
}

/// Per recording, the share of its speech the VAD hands to the recogniser (the cut regions):
/// at least 0.9 at 10 dB and 0.8 at 5 dB local SNR, in pink, white and babble noise. The VAD's
/// own decision (first to last speech-like frame) is printed beside it; its figures per
/// condition are in docs/PERFORMANCE.md.
#[test]
fn speech_in_noise_is_found_at_10_and_5_db() {
    let Some(c) = corpus() else { return };
    let recs = noise_set(&c);
    let vad = VadSettings::default();
    let mut failures = Vec::new();
    for kind in NoiseKind::ALL {
        for (snr, need) in [(10.0, 0.9), (5.0, 0.8)] {
            for clip in testset::noisy(&recs, kind, snr, 1.0, SEED) {
                let (_, regions) = hark_vad::analyse_regions(&clip.samples, &vad);
                let total = clip.samples.len() as u64;
                let cut: Vec<(u64, u64)> = regions.iter().map(|r| r.cut).collect();
                let speech: Vec<(u64, u64)> = regions.iter().map(|r| r.speech).collect();
                let (recall, precision) = testset::frame_scores(&clip.speech, &cut, total);
                let (decided, decided_precision) = testset::frame_scores(&clip.speech, &speech, total);
                eprintln!(
                    "{:<52} cut recall {recall:.3} precision {precision:.3} | decision {decided:.3} {decided_precision:.3}",
                    clip.name
                );
                if recall < need {
                    failures.push(format!("{}: recall {recall:.3} < {need}", clip.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "speech lost in noise:\n{}", failures.join("\n"));
}

/// Every recording in pink and white noise at 10 and 5 dB, and every corpus recording in
/// six-talker babble at 10 and 5 dB, gets text a user would see (a phrase whisper invents for
/// silence, marked suspect, does not count). The voices of `tests/voices` in babble are
/// printed, not asserted: at 5 dB tiny.en hears only "Thank you" in the breathy voice, in every
/// encoder window; `hark bench robust` reports them.
#[test]
fn no_recording_at_5_db_or_more_goes_untranscribed() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let recs = noise_set(&c);
    let (corpus_recs, _) = recordings(&c);
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let mut silent = Vec::new();
    for kind in NoiseKind::ALL {
        for snr in [10.0, 5.0] {
            for (clip, rec) in testset::noisy(&recs, kind, snr, 1.0, SEED).iter().zip(&recs) {
                let (t, _) = transcribe(&mut p, &clip.samples);
                let text = t.text();
                let asserted = kind != NoiseKind::Babble || corpus_recs.iter().any(|r| r.name == rec.name);
                eprintln!("{:<52} {} {text}", clip.name, if asserted { ' ' } else { '~' });
                if asserted && normalize_words(&text).is_empty() {
                    silent.push(clip.name.clone());
                }
            }
        }
    }
    assert!(silent.is_empty(), "untranscribed: {silent:?}");
}

#[test]
fn steady_quiet_noise_between_utterances_is_not_speech() {
    // Two recordings separated by 2.5 s of low noise of several colours: the VAD's regions must
    // close between them (within the hangover of the last word).
    let Some(c) = corpus() else { return };
    let (corpus, _) = recordings(&c);
    let a = corpus.iter().find(|r| r.name == "jfk").unwrap();
    let b = corpus.iter().find(|r| r.name == "mfa_acoustic_corpus").unwrap();
    for kind in [NoiseKind::Pink, NoiseKind::White] {
        for level_db in [-60.0, -50.0, -45.0] {
            let gap = 40_000;
            let mut samples = a.samples.clone();
            samples.extend(std::iter::repeat_n(0.0, gap));
            let b_start = samples.len() as u64;
            samples.extend_from_slice(&b.samples);
            let noise = testset::noise(kind, samples.len(), SEED, &corpus, "");
            let g = 10f32.powf(level_db / 20.0);
            samples.iter_mut().zip(noise).for_each(|(x, n)| *x += n * g);
            let (_, speech) = hark_vad::analyse_speech(&samples, &VadSettings::default());
            let a_end = testset::reference_speech(a).last().unwrap().1;
            let across = speech.iter().find(|(s, e)| *s < a_end && *e > b_start);
            assert!(
                across.is_none(),
                "{kind:?} at {level_db} dBFS: one region across the pause: {across:?} ({speech:?})"
            );
        }
    }
}

#[test]
fn hiss_that_starts_as_a_voice_stops_is_not_speech() {
    // Each recording with steady hiss at -60 dBFS for 1 s before it and 3 s after (a fan, a
    // preamp, a recorder raising its gain in the quiet): the hiss stands far above the noise
    // learnt in the voice's pauses, and the network gives it a middling probability, but it is
    // not speech. The VAD's speech may run a little past the voice's end, never far into the
    // hiss. (Before the level had to move: 31 of these 100 cases held speech past a second of
    // hiss, most of them to its end.)
    let Some(c) = corpus() else { return };
    let (corpus, voices) = recordings(&c);
    let mut held = Vec::new();
    let mut cases = 0;
    for r in corpus.iter().chain(&voices) {
        for kind in [NoiseKind::White, NoiseKind::Pink] {
            let (lead, tail) = (16_000, 48_000);
            let noise = testset::noise(kind, lead + tail, SEED, &corpus, "");
            let g = 10f32.powf(-60.0 / 20.0);
            let mut samples: Vec<f32> = noise[..lead].iter().map(|n| n * g).collect();
            samples.extend_from_slice(&r.samples);
            let hiss_at = samples.len() as u64;
            samples.extend(noise[lead..].iter().map(|n| n * g));
            let (_, speech) = hark_vad::analyse_speech(&samples, &VadSettings::default());
            cases += 1;
            let past = speech.iter().map(|&(_, e)| e.saturating_sub(hiss_at)).max().unwrap_or(0);
            if past > 24_000 {
                held.push(format!("{} in {kind:?}: {:.2} s", r.name, past as f64 / 16_000.0));
            }
        }
    }
    assert!(cases >= 60, "only {cases} cases");
    assert!(held.is_empty(), "speech more than 1.5 s into the hiss: {held:?}");
}
