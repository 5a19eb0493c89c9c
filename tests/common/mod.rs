//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::process::Command;

/// The `hark` binary under test.
pub fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env_remove("HARK_MODELS_DIR");
    c
}

/// A directory named by an environment variable (set by `scripts/test`). When it is missing the
/// test is skipped with a message, unless `HARK_REQUIRE_MODELS=1`, where it fails.
pub fn require_env_dir(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => {
            let msg = format!("SKIPPED: {var} is not set to an existing path ({what}); run ./scripts/test to fetch it");
            assert!(std::env::var("HARK_REQUIRE_MODELS").is_err(), "{msg}");
            eprintln!("{msg}");
            None
        }
    }
}

/// The shared corpus, or `None` (with a message) when it is absent.
pub fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.join("manifest.tsv").is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: the shared corpus is absent at {}", p.display());
        None
    }
}

/// The whisper model the tests use (`HARK_TEST_MODEL`, default models/ggml-tiny.en.bin).
pub fn test_model() -> Option<PathBuf> {
    if std::env::var_os("HARK_TEST_MODEL").is_none() {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/ggml-tiny.en.bin");
        if p.is_file() {
            return Some(p);
        }
    }
    require_env_dir("HARK_TEST_MODEL", "the tiny.en ggml model")
}
