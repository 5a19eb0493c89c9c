//! The pipeline end to end: real audio from the shared corpus, the real tiny.en model, the ECS
//! stepped with `app.update()`.

mod common;

use std::path::Path;
use std::time::Duration;

use bevy::time::TimeUpdateStrategy;
use common::{corpus, hark, test_model};
use hark::format::{Format, render};
use hark::longform::{self, LongForm};
use hark::pipeline::{Pipeline, PipelineOptions, SessionTranscript};
use hark_capture::{FileSource, Pace, Source};
use hark_core::SourceKind;
use hark_core::text::{WerCount, normalize_words, wer};

/// The pipeline as `hark transcribe` sets it up: one worker with every core for its threads.
fn options(model: &Path) -> PipelineOptions {
    let mut o = PipelineOptions::new(model.to_path_buf());
    o.workers = 1;
    o.whisper.threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    o
}

fn transcribe_samples(p: &mut Pipeline, samples: &[f32]) -> SessionTranscript {
    let s = p.start(SourceKind::Memory, Source::Samples { samples: samples.into(), pos: 0 }, "test".into(), Pace::Fast);
    p.run_until_done(s, |_| {}).unwrap();
    p.take_transcript(s)
}

/// Hypothesis words whose start lies in `start..end` (seconds).
fn words_in(t: &SessionTranscript, start: f64, end: f64) -> String {
    t.segments
        .iter()
        .filter(|s| !s.suspect)
        .flat_map(|s| s.words.iter())
        .filter(|w| w.start_s >= start - 0.3 && w.start_s < end + 0.3)
        .map(|w| w.word.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn corpus_word_error_rate_meets_the_target() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let rows = std::fs::read_to_string(c.join("manifest.tsv")).unwrap();
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let mut total = WerCount::default();
    for line in rows.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let t = p.transcribe_file(&c.join(f[0]), Pace::Fast, |_| {}).unwrap();
        let w = wer(f[2], &t.text());
        eprintln!("{:<42} {}/{}  {}", f[0], w.edits, w.words, t.text());
        total += w;
    }
    eprintln!("total WER {:.2}%", total.rate() * 100.0);
    // Whole-file whisper.cpp (greedy, tiny.en) scores 5.37 % on this corpus.
    assert!(total.rate() <= 0.054, "WER {:.2}%", total.rate() * 100.0);
}

#[test]
fn jfk_is_transcribed_with_words_in_session_time() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = p.transcribe_file(&c.join("jfk.wav"), Pace::Fast, |_| {}).unwrap();
    let want =
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert_eq!(normalize_words(&t.text()), normalize_words(want), "{}", t.text());
    let words: Vec<_> = t.segments.iter().flat_map(|s| s.words.iter()).collect();
    assert_eq!(words.len(), 22);
    assert!(words.windows(2).all(|w| w[0].start_s <= w[1].start_s && w[0].start_s <= w[0].end_s));
    assert!(words[0].start_s < 0.6 && words[21].end_s > 9.5 && words[21].end_s <= 11.0, "{words:?}");
    // Where he speaks: from the first word to the last, split at most at his long pause after
    // "ask not" (0.8 s), and every word in it (give or take whisper's word times, which put
    // "what" 0.4 s early).
    let sp = &t.speech;
    assert!(sp.len() <= 2 && sp[0][0] < 0.4 && sp[sp.len() - 1][1] > 10.4, "{sp:?}");
    for w in &words {
        assert!(sp.iter().any(|r| w.end_s >= r[0] - 0.3 && w.start_s <= r[1] + 0.3), "{w:?} outside {sp:?}");
    }
}

/// A 16 kHz, 16-bit stereo WAV of two channels.
fn stereo_wav(l: &[f32], r: &[f32]) -> Vec<u8> {
    let data_len = (l.len() * 4) as u32;
    let mut b = Vec::new();
    for part in [&b"RIFF"[..], &(36 + data_len).to_le_bytes(), b"WAVEfmt ", &16u32.to_le_bytes(), &1u16.to_le_bytes()] {
        b.extend_from_slice(part);
    }
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16_000u32.to_le_bytes());
    b.extend_from_slice(&64_000u32.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for (a, c) in l.iter().zip(r) {
        for s in [a, c] {
            b.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
        }
    }
    b
}

#[test]
fn a_stereo_recording_with_one_side_inverted_is_heard_whole() {
    // A miswired microphone or a "widened" stereo file: the right channel is the left one
    // upside down. Averaged as they came, the two made silence and the file an empty transcript.
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let jfk = hark_capture::read_16k_mono(&c.join("jfk.wav")).unwrap();
    let inverted: Vec<f32> = jfk.iter().map(|s| -s).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("antiphase.wav");
    std::fs::write(&path, stereo_wav(&jfk, &inverted)).unwrap();
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = p.transcribe_file(&path, Pace::Fast, |_| {}).unwrap();
    let want =
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert_eq!(normalize_words(&t.text()), normalize_words(want), "{}", t.text());
}

fn per_clip_wer(p: &mut Pipeline, lf: &LongForm, samples_of: impl Fn(&str) -> Vec<f32>) -> WerCount {
    let mut total = WerCount::default();
    for (file, reference, _, _) in &lf.clips {
        let t = transcribe_samples(p, &samples_of(file));
        total += wer(reference, &t.text());
    }
    total
}

#[test]
fn long_form_with_pauses_keeps_per_clip_accuracy() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let lf = longform::build(&c, None).unwrap();
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = transcribe_samples(&mut p, &lf.samples);
    let long = wer(&lf.reference, &t.text());
    let clips = per_clip_wer(&mut p, &lf, |f| hark_capture::read_16k_mono(&c.join(f)).unwrap());
    eprintln!(
        "long-form WER {:.2}% ({}/{}), per-clip {:.2}% ({}/{})",
        long.rate() * 100.0,
        long.edits,
        long.words,
        clips.rate() * 100.0,
        clips.edits,
        clips.words
    );
    assert!(long.rate() <= clips.rate() + 0.01, "long-form {:.3} vs per-clip {:.3}", long.rate(), clips.rate());
    // No clip is lost: each clip's words are found at its place in the recording.
    for (file, reference, a, b) in &lf.clips {
        let hyp = words_in(&t, *a as f64 / 16_000.0, *b as f64 / 16_000.0);
        let w = wer(reference, &hyp);
        assert!(w.rate() < 0.3, "{file}: {hyp:?}");
    }
    // Pauses are joined into longer utterances (whisper hears sentences), none over 25 s.
    assert!(t.segments.len() < t.speech.len(), "{} utterances from {} regions", t.segments.len(), t.speech.len());
    assert!(t.segments.iter().all(|s| s.end_s - s.start_s <= 25.0));
    // The VAD found a region for every clip and nothing in the silent pauses.
    for (file, _, a, b) in &lf.clips {
        let (a, b) = (*a as f64 / 16_000.0, *b as f64 / 16_000.0);
        assert!(t.speech.iter().any(|r| r[0] < b && r[1] > a), "{file} has no speech region");
    }
    assert!(t.speech.iter().all(|r| {
        lf.clips.iter().any(|(_, _, a, b)| r[0] < *b as f64 / 16e3 + 0.5 && r[1] > *a as f64 / 16e3 - 0.5)
    }));
}

/// Corpus clips (file, from second, reference of that part or `None` for the manifest's, pause
/// after) joined with faint hiss, transcribed by a file pipeline: the transcript, the reference
/// and where each part starts (seconds).
fn transcribe_joined(
    c: &Path,
    m: &Path,
    parts: &[(&str, f64, Option<&str>, f64)],
) -> (SessionTranscript, String, Vec<f64>) {
    let manifest = std::fs::read_to_string(c.join("manifest.tsv")).unwrap();
    let reference_of =
        |file: &str| manifest.lines().find(|l| l.starts_with(file)).unwrap().split('\t').nth(2).unwrap().to_string();
    let mut samples = Vec::new();
    let (mut references, mut starts) = (Vec::new(), Vec::new());
    let mut hiss = 0x2545_f491_u64;
    for &(file, from, reference, pause) in parts {
        let audio = hark_capture::read_16k_mono(&c.join(file)).unwrap();
        references.push(reference.map_or_else(|| reference_of(file), str::to_string));
        starts.push(samples.len() as f64 / 16_000.0);
        samples.extend_from_slice(&audio[(from * 16_000.0) as usize..]);
        samples.extend((0..(pause * 16_000.0) as usize).map(|_| {
            hiss = hiss.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((hiss >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.001
        }));
    }
    let mut p = Pipeline::new(&options(m)).unwrap();
    (transcribe_samples(&mut p, &samples), references.join(" "), starts)
}

/// The end of one corpus clip ("… and that should be all. Thanks.") and two other speakers
/// after short pauses (joined into one utterance in file mode). Whisper took that ending for
/// the end of everything and said nothing of the next 10 s of speech.
#[test]
fn speech_after_a_sentence_that_sounds_final_is_not_lost() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let (t, reference, starts) = transcribe_joined(
        &c,
        &m,
        &[
            ("mfa_acoustic_corpus.wav", 23.8, Some("and that should be all thanks"), 0.85),
            ("librivox_sense_and_sensibility_0920.wav", 0.0, None, 0.49),
            ("mfa_falsetto2.wav", 0.0, None, 0.0),
        ],
    );
    let w = wer(&reference, &t.text());
    eprintln!("WER {:.2}% ({}/{}): {}", w.rate() * 100.0, w.edits, w.words, t.text());
    // Without the second hearing: "And that should be all. Thanks." and nothing more (28 of
    // 34 words missing).
    assert!(w.rate() < 0.25, "{}", t.text());
    // The text reaches the last speaker (word times at a pause can be a few tenths early).
    let last = t.segments.iter().flat_map(|s| &s.words).map(|w| w.start_s).fold(0.0, f64::max);
    assert!(last > starts[2], "the last word starts at {last:.2} s, the last speaker at {:.2} s", starts[2]);
}

/// A 12-year-old reading "She must be made to stay." (speechocean762, Mandarin L1;
/// `tests/voices/not_recognised/`): tiny.en hears no word of it, in any window. Whatever the
/// model makes of a voice, its speaker is never left out unremarked: their words are in the
/// text, or the transcript says that speech there was not recognised, where it was said. On
/// their own, and between two corpus readers with 1 s pauses (one utterance in file mode,
/// where the reader before and the one after are recognised around them).
#[test]
fn a_speaker_the_recogniser_cannot_follow_is_reported_not_silently_lost() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let kid_path = common::root().join("tests/voices/not_recognised/speechocean762_069020075.wav");
    let kid = hark_capture::read_16k_mono(&kid_path).unwrap();
    let said = normalize_words("SHE MUST BE MADE TO STAY");
    // The speaker from `start` to `end` (seconds) is in the text (half their words or more) or
    // reported, with at least a second of speech, and nothing is reported elsewhere.
    let check = |t: &SessionTranscript, start: f64, end: f64| {
        let heard = normalize_words(&words_in(t, start, end));
        let found = said.iter().filter(|w| heard.contains(w)).count();
        let reported: Vec<_> = t.unrecognised.iter().filter(|u| u.end_s > start && u.start_s < end).collect();
        eprintln!("heard {heard:?}, reported {:?}", t.unrecognised);
        assert!(
            found * 2 >= said.len() || reported.iter().any(|u| u.speech_s >= 1.0),
            "the speaker at {start:.1}-{end:.1} s is neither in the text nor reported: {} / {:?}",
            t.text(),
            t.unrecognised
        );
        assert_eq!(reported.len(), t.unrecognised.len(), "reported elsewhere: {:?}", t.unrecognised);
        assert_eq!(t.unrecognised_note().is_some(), !reported.is_empty(), "the note says it when there is any");
        // The text exports say it where it was, and a scorer does not count it as words.
        for format in [Format::Txt, Format::Srt, Format::Vtt] {
            let out = render(t, format);
            assert_eq!(out.matches("[speech not recognised").count(), reported.len(), "{format:?}: {out}");
        }
        assert_eq!(normalize_words(&render(t, Format::Txt)), normalize_words(&t.text()));
    };
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = transcribe_samples(&mut p, &kid);
    check(&t, 0.0, 3.8);
    // Between two readers.
    let before = hark_capture::read_16k_mono(&c.join("harvard_spk1_snt1.wav")).unwrap();
    let after = hark_capture::read_16k_mono(&c.join("cmu_goforward.wav")).unwrap();
    let pause = vec![0.0005_f32; 16_000];
    let samples: Vec<f32> = [&before[..], &pause, &kid, &pause, &after, &pause].concat();
    let kid_at = (before.len() + pause.len()) as f64 / 16_000.0;
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = transcribe_samples(&mut p, &samples);
    check(&t, kid_at, kid_at + 3.8);
    let others = normalize_words(&t.text()).join(" ");
    assert!(others.contains("small dog") && others.contains("forward"), "the readers around them: {}", t.text());
}

/// A whisper (30 dB below the voices around it) between two readers after a minute's talk,
/// pauses of 0.4-1.4 s: joined into one utterance with the readers, whisper skipped it and
/// stretched the first reader's last words over it ("… to do for them. Had he married …").
#[test]
fn a_whisper_between_two_louder_voices_is_heard() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let (t, reference, _) = transcribe_joined(
        &c,
        &m,
        &[
            ("sr_one_two_three.wav", 0.0, None, 1.4),
            ("cheetah_test_en_norm.wav", 0.0, None, 0.4),
            ("mfa_thoughts.wav", 0.0, None, 1.3),
            ("harvard_spk1_snt1.wav", 0.0, None, 1.4),
            ("librivox_sense_and_sensibility_0870.wav", 0.0, None, 0.4),
            ("mfa_whisper2.wav", 0.0, None, 0.4),
            ("librivox_sense_and_sensibility_0920.wav", 0.0, None, 0.0),
        ],
    );
    let w = wer(&reference, &t.text());
    eprintln!("WER {:.2}% ({}/{}): {}", w.rate() * 100.0, w.edits, w.words, t.text());
    let heard = normalize_words(&t.text()).join(" ");
    assert!(heard.contains("speech whatsoever here"), "the whisper is missing: {}", t.text());
    assert!(w.rate() < 0.15, "{}", t.text());
}

#[test]
fn long_form_in_pink_noise_at_10_db_loses_no_utterance() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let lf = longform::build(&c, Some(10.0)).unwrap();
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = transcribe_samples(&mut p, &lf.samples);
    let w = wer(&lf.reference, &t.text());
    eprintln!("noisy long-form WER {:.2}% ({}/{}): {}", w.rate() * 100.0, w.edits, w.words, t.text());
    for (file, reference, a, b) in &lf.clips {
        let hyp = words_in(&t, *a as f64 / 16_000.0, *b as f64 / 16_000.0);
        let cw = wer(reference, &hyp);
        eprintln!("  {file}: {:.0}% {hyp}", cw.rate() * 100.0);
        // Not lost: part of every clip comes through (the quietest, mfa_thoughts, is at ~3 dB).
        assert!(cw.rate() < 0.8, "{file} lost in noise: {hyp:?}");
    }
    // The goal is 12 %; this guards what the pipeline reaches today (see PERFORMANCE.md:
    // 14.46 %, and 15.06 % since steady hiss is no longer speech, one word: "dog" -> "God").
    // The q8_0 default makes 28 errors here against f16's 25 ("with vanish" for "who had
    // vanished", …), and fewer than f16 on 48 held-out recordings (1 229 against 1 253 of about
    // 4 000 words): this file is built from the clips Hark was tuned on, so the held-out count
    // decided, and the guard moved with it. Windows in whole steps of 16 positions (1.2x faster)
    // make 31 here. That is within what any small change of window does to this file: the
    // 16-bit version of it made 26-32 errors with the margin moved 16 positions either way.
    // On recordings no setting was chosen on, rounding made as many errors or fewer (held-out
    // mixes 667 against 669, monologues 162 against 165, in noise 710 against 711;
    // docs/PERFORMANCE.md, 2026-12-04), so the held-out counts decided again.
    assert!(w.rate() <= 0.19, "noisy WER {:.2}%", w.rate() * 100.0);
}

#[test]
fn paced_capture_in_virtual_time_gives_the_same_transcript_as_fast() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let file = c.join("mfa_surround.wav");
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let fast = p.transcribe_file(&file, Pace::Fast, |_| {}).unwrap();
    // Real-time pacing driven by virtual time: 50 ms of audio per update, no sleeping.
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    let s = p.start(SourceKind::File, Source::File(FileSource::open(&file).unwrap()), "paced".into(), Pace::RealTime);
    let mut updates = 0;
    p.run_until_done(s, |_| updates += 1).unwrap();
    let paced = p.take_transcript(s);
    assert!(updates >= 13_000 / 50, "paced capture took {updates} updates");
    assert_eq!(fast, paced);
    assert!(!fast.text().is_empty());
}

#[test]
fn the_same_file_twice_gives_identical_json() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("long.wav");
    hark_capture::write_wav_16k(&wav, &longform::build(&c, Some(10.0)).unwrap().samples).unwrap();
    let run = || {
        let o = hark().args(["transcribe", "--format", "json", "--model"]).arg(&m).arg(&wav).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let (a, b) = (run(), run());
    let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert!(v["segments"].as_array().unwrap().len() >= 4);
    assert!(v["speech"].as_array().unwrap().len() >= 8);
    assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
}

#[test]
fn word_times_match_the_reference_alignment() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let lf = longform::build(&c, None).unwrap();
    let mut p = Pipeline::new(&options(&m)).unwrap();
    let t = transcribe_samples(&mut p, &lf.samples);
    let (_, _, offset, _) = lf.clips.iter().find(|c| c.0 == "librivox_sense_and_sensibility_0870.wav").unwrap();
    let offset = *offset as f64 / 16_000.0;
    let refs: Vec<(f64, String)> = std::fs::read_to_string(c.join("librivox_sense_and_sensibility_0870.words.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse::<f64>().unwrap() + offset, f[2].to_lowercase())
        })
        .collect();
    let hyp: Vec<(f64, String)> = t
        .segments
        .iter()
        .flat_map(|s| s.words.iter())
        .map(|w| (w.start_s, normalize_words(&w.word).join(" ")))
        .collect();
    // Match each reference word to the nearest hypothesis word with the same text.
    let mut errs: Vec<f64> = refs
        .iter()
        .filter_map(|(rt, rw)| {
            hyp.iter().filter(|(_, hw)| hw == rw).map(|(ht, _)| (ht - rt).abs()).min_by(|a, b| a.total_cmp(b))
        })
        .collect();
    errs.sort_by(|a, b| a.total_cmp(b));
    assert!(errs.len() >= refs.len() * 8 / 10, "matched {} of {}", errs.len(), refs.len());
    let median = errs[errs.len() / 2];
    eprintln!("word start error: median {median:.3} s, max {:.3} s", errs.last().unwrap());
    assert!(median < 0.3, "median word start error {median:.3} s");
}

// ---- bad input on the command line --------------------------------------------------------

fn assert_clean_failure(args: &[&std::ffi::OsStr], expect: &[&str]) {
    let o = hark().args(args).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "should fail: {e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(!e.contains("panicked"), "{e}");
    for x in expect {
        assert!(e.contains(x), "{x:?} not in {e:?}");
    }
}

#[test]
fn bad_audio_and_model_files_fail_with_one_clear_line() {
    let Some(m) = test_model() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    let m = m.as_os_str();
    let t = std::ffi::OsStr::new("transcribe");
    let mo = std::ffi::OsStr::new("--model");

    assert_clean_failure(&[t, p("missing.wav").as_os_str(), mo, m], &["missing.wav", "does not exist"]);
    std::fs::write(p("notes.wav"), "these are not audio samples, just words in a text file\n".repeat(20)).unwrap();
    assert_clean_failure(&[t, p("notes.wav").as_os_str(), mo, m], &["notes.wav", "not a supported audio file"]);
    std::fs::write(p("empty.wav"), b"").unwrap();
    assert_clean_failure(&[t, p("empty.wav").as_os_str(), mo, m], &["empty.wav", "empty"]);
    hark_capture::write_wav_16k(&p("zero.wav"), &[]).unwrap();
    assert_clean_failure(&[t, p("zero.wav").as_os_str(), mo, m], &["zero.wav", "no audio"]);
    // Refused input leaves no session behind.
    let data = tmp.path().join("data");
    let o = hark().args([t, p("zero.wav").as_os_str(), mo, m]).arg("--data-dir").arg(&data).output().unwrap();
    assert!(!o.status.success());
    let o = hark().args(["sessions", "list", "--data-dir"]).arg(&data).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).trim().is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    // A WAV whose header promises more than the file holds, then garbage.
    let mut w = std::fs::read(p("zero.wav")).unwrap();
    w[4..8].copy_from_slice(&1_000_000u32.to_le_bytes());
    w[40..44].copy_from_slice(&999_999u32.to_le_bytes());
    w.extend(std::iter::repeat_n(0x7fu8, 33));
    std::fs::write(p("cut.wav"), &w).unwrap();
    let o = hark().args([t, p("cut.wav").as_os_str(), mo, m]).output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    // Sample rates no recording has: 0 (symphonia panicked on it), 1 Hz (a 3 KB file became a
    // 1 600 s session), 10 MHz.
    let mut one_second = Vec::new();
    hark_capture::write_wav_16k(&p("ok.wav"), &vec![0.1; 16_000]).unwrap();
    one_second.extend(std::fs::read(p("ok.wav")).unwrap());
    for rate in [0u32, 1, 10_000_000] {
        let mut w = one_second.clone();
        w[24..28].copy_from_slice(&rate.to_le_bytes());
        w[28..32].copy_from_slice(&rate.wrapping_mul(2).to_le_bytes());
        let name = format!("rate{rate}.wav");
        std::fs::write(p(&name), &w).unwrap();
        assert_clean_failure(&[t, p(&name).as_os_str(), mo, m], &[&name, &format!("sample rate of {rate} Hz")]);
    }

    // A model that is not a ggml file.
    std::fs::write(p("model.bin"), vec![7u8; 4096]).unwrap();
    let corpus_wav = corpus().map(|c| c.join("jfk.wav")).unwrap_or_else(|| p("zero.wav"));
    if corpus_wav.exists() {
        assert_clean_failure(
            &[t, corpus_wav.as_os_str(), mo, p("model.bin").as_os_str()],
            &["model.bin", "not a whisper.cpp ggml model"],
        );
        assert_clean_failure(
            &[t, corpus_wav.as_os_str(), mo, p("none.bin").as_os_str()],
            &["none.bin", "does not exist"],
        );
    }
    assert_clean_failure(&[std::ffi::OsStr::new("eval"), p("nope.tsv").as_os_str()], &["nope.tsv"]);
    // Settings out of range are refused by the argument parser, naming the option.
    for (opt, value) in [("--merge-pauses", "inf"), ("--merge-pauses", "-1"), ("--temperature-inc", "1e-9")] {
        let o = hark().args(["transcribe", "x.wav", &format!("{opt}={value}")]).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains(opt) && !e.contains("panicked"), "{e}");
    }
}

/// Stopping a capture in the middle of a word keeps the word: the open utterance is closed at
/// the stop, transcribed, and the clock holds exactly what was captured.
#[test]
fn stopping_mid_word_keeps_the_word() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    // "… still more respectable than he was": "respectable" spans 4.25–5.00 s.
    let samples = hark_capture::read_16k_mono(&c.join("librivox_sense_and_sensibility_0920.wav")).unwrap();
    let stop_at = (4.55 * 16_000.0) as u64;
    let mut p = Pipeline::new(&options(&m)).unwrap();
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(10)));
    let s =
        p.start(SourceKind::Memory, Source::Samples { samples: samples.into(), pos: 0 }, "mic".into(), Pace::RealTime);
    while p.app.world().get::<hark_core::SessionClock>(s).unwrap().captured < stop_at {
        p.app.update();
    }
    p.app.world_mut().write_message(hark_core::StopCapture { session: s });
    p.run_until_done(s, |_| {}).unwrap();
    let captured = p.app.world().get::<hark_core::SessionClock>(s).unwrap().captured;
    // The stop takes what the source delivered up to the update that reads it (10 ms each).
    assert!((stop_at..stop_at + 480).contains(&captured), "captured {captured} samples, stop at {stop_at}");
    let t = p.take_transcript(s);
    let words = normalize_words(&t.text());
    assert!(words.iter().any(|w| w.starts_with("respect")), "the word spoken at the stop is lost: {words:?}");
    assert!(words.iter().any(|w| w == "married"), "{words:?}");
}

#[test]
fn live_partials_come_before_the_final_and_what_is_committed_is_never_rewritten() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let file = c.join("jfk.wav");
    let mut o = options(&m);
    o.segment.merge_gap_secs = 0.0;
    let offline = Pipeline::new(&o).unwrap().transcribe_file(&file, Pace::Fast, |_| {}).unwrap();
    o.segment.partial_interval_secs = 0.5;
    let mut p = Pipeline::new(&o).unwrap();
    // Paced in virtual time, each decode finished before the next 50 ms of audio arrives.
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    let s = p.start(SourceKind::File, Source::File(FileSource::open(&file).unwrap()), "live".into(), Pace::RealTime);
    #[derive(Debug)]
    enum Seen {
        Partial { start: u64, committed: String, tentative: String },
        Final { start: u64, text: String },
    }
    let mut seen = Vec::new();
    let mut partials = p.app.world().resource::<bevy::prelude::Messages<hark_core::PartialReady>>().get_cursor();
    let mut finals = p.app.world().resource::<bevy::prelude::Messages<hark_core::TranscriptReady>>().get_cursor();
    let mut observe = |world: &bevy::prelude::World, seen: &mut Vec<Seen>| {
        for _ in partials.read(world.resource::<bevy::prelude::Messages<hark_core::PartialReady>>()) {
            if let Some(pt) = world.get::<hark_core::PartialTranscript>(s) {
                seen.push(Seen::Partial {
                    start: pt.start,
                    committed: pt.committed.clone(),
                    tentative: pt.tentative.clone(),
                });
            }
        }
        for r in finals.read(world.resource::<bevy::prelude::Messages<hark_core::TranscriptReady>>()) {
            if let (Some(u), Some(t)) =
                (world.get::<hark_core::Utterance>(r.utterance), world.get::<hark_core::Transcript>(r.utterance))
            {
                seen.push(Seen::Final { start: u.start, text: t.text.clone() });
            }
        }
    };
    p.run_until_done(s, |app| {
        app.world_mut().resource_mut::<hark_transcribe::Recognizer>().wait();
        observe(app.world(), &mut seen);
    })
    .unwrap();
    // What the last update sent.
    observe(p.app.world(), &mut seen);
    let live = p.take_transcript(s);
    // The finals are what the same cut gives offline: partials change nothing that is kept.
    assert_eq!(
        live.segments.iter().map(|g| g.text.clone()).collect::<Vec<_>>(),
        offline.segments.iter().map(|g| g.text.clone()).collect::<Vec<_>>()
    );
    let finals: Vec<(u64, &str)> = seen
        .iter()
        .filter_map(|e| if let Seen::Final { start, text } = e { Some((*start, text.as_str())) } else { None })
        .collect();
    assert!(!finals.is_empty());
    for (i, &(start, text)) in finals.iter().enumerate() {
        let at = seen.iter().position(|e| matches!(e, Seen::Final { start: s, .. } if *s == start)).unwrap();
        let before: Vec<(&String, &String)> = seen[..at]
            .iter()
            .filter_map(|e| match e {
                Seen::Partial { start: s, committed, tentative } if *s == start => Some((committed, tentative)),
                _ => None,
            })
            .collect();
        let after = seen[at..].iter().any(|e| matches!(e, Seen::Partial { start: s, .. } if *s == start));
        assert!(!after, "a partial of utterance {i} came after its final");
        if text.split_whitespace().count() >= 4 {
            assert!(!before.is_empty(), "utterance {i} ({text:?}) had no partial before its final: {seen:?}");
        }
        // Committed words only grow.
        for w in before.windows(2) {
            assert!(w[1].0.starts_with(w[0].0.as_str()), "committed {:?} became {:?}", w[0].0, w[1].0);
        }
        eprintln!("utterance {i}: {} partials, then {text:?}; last partial {:?}", before.len(), before.last());
    }
}

#[test]
fn live_finals_decoded_as_the_speaker_stops_match_the_text_offline() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    // Three clips with pauses between them, as someone would speak to the window.
    let mut audio = Vec::new();
    let mut reference = Vec::new();
    let manifest = std::fs::read_to_string(c.join("manifest.tsv")).unwrap();
    for f in ["jfk.wav", "cmu_goforward.wav", "harvard_spk1_snt1.wav"] {
        audio.extend(hark_capture::read_16k_mono(&c.join(f)).unwrap());
        audio.extend(std::iter::repeat_n(0.0, 24_000));
        let row = manifest.lines().find(|l| l.starts_with(&format!("{f}\t"))).unwrap();
        reference.push(row.split('\t').nth(2).unwrap().to_owned());
    }
    let reference = reference.join(" ");
    let mut o = options(&m);
    o.segment = hark_segment::SegmentSettings::live();
    let mut p = Pipeline::new(&o).unwrap();
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    let s =
        p.start(SourceKind::Memory, Source::Samples { samples: audio.into(), pos: 0 }, "live".into(), Pace::RealTime);
    p.run_until_done(s, |app| app.world_mut().resource_mut::<hark_transcribe::Recognizer>().wait()).unwrap();
    let rec = p.app.world().resource::<hark_transcribe::Recognizer>();
    let (decoded, used) = (rec.speculative_decoded, rec.speculative_used);
    let live = p.take_transcript(s);
    let text = live.text();
    let w = wer(&reference, &text);
    eprintln!(
        "{used} of {} finals from {decoded} speculations; WER {:.1} %: {text}",
        live.segments.len(),
        w.rate() * 100.0
    );
    // Every utterance ended in a pause with nothing after it: each final is its speculation.
    assert_eq!(used as usize, live.segments.len(), "{decoded} speculations");
    assert!(w.rate() <= 0.08, "{text}");
}

/// A file without speech (two minutes of digital silence) says so, and is saved as what it
/// is; before, the output was empty and "saved as session 1" was all that was said.
#[test]
fn a_file_without_speech_says_so() {
    let Some(m) = test_model() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("quiet.wav");
    hark_capture::write_wav_16k(&wav, &vec![0.0; 120 * 16_000]).unwrap();
    let data = tmp.path().join("data");
    let o = hark().arg("transcribe").arg(&wav).arg("--model").arg(&m).arg("--data-dir").arg(&data).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(err.contains(&format!("note: no speech was heard in {} (120.0 s of audio)", wav.display())), "{err}");
    assert!(err.contains("saved as session 1"), "{err}");
    let o = hark().args(["sessions", "list", "--data-dir"]).arg(&data).output().unwrap();
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(list.contains("120.0 s") && list.contains("complete") && list.contains("0 utterances"), "{list}");
}
