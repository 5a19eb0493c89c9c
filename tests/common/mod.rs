//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Data and settings directories of this test process, so that no test reads or writes the
/// user's `~/.local/share/hark` or `~/.config/hark`.
pub fn private_dirs() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

/// The `hark` binary under test, with private data and settings directories.
pub fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env_remove("HARK_MODELS_DIR");
    let d = private_dirs();
    c.env("HARK_DATA_DIR", d.join("data"))
        .env("XDG_DATA_HOME", d.join("xdg-data"))
        .env("XDG_CONFIG_HOME", d.join("config"));
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

/// This checkout's root, as cargo gives it to the running test ([`hark_core::manifest_dir`]).
pub fn root() -> PathBuf {
    hark_core::manifest_dir!()
}

/// The shared corpus, or `None` (with a message) when it is absent.
pub fn corpus() -> Option<PathBuf> {
    let p = root().join("../shared/corpus");
    if p.join("manifest.tsv").is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: the shared corpus is absent at {}", p.display());
        None
    }
}

/// The whisper model the tests use, the default model (`HARK_TEST_MODEL`, default
/// models/ggml-tiny.en-q8_0.bin).
pub fn test_model() -> Option<PathBuf> {
    if std::env::var_os("HARK_TEST_MODEL").is_none() {
        let p = root().join("models/ggml-tiny.en-q8_0.bin");
        if p.is_file() {
            return Some(p);
        }
    }
    require_env_dir("HARK_TEST_MODEL", "the default model, tiny.en in q8_0")
}

/// The f16 tiny.en the default model is quantised from (`HARK_TEST_MODEL_F16`, default
/// models/ggml-tiny.en.bin).
pub fn test_model_f16() -> Option<PathBuf> {
    if std::env::var_os("HARK_TEST_MODEL_F16").is_none() {
        let p = root().join("models/ggml-tiny.en.bin");
        if p.is_file() {
            return Some(p);
        }
    }
    require_env_dir("HARK_TEST_MODEL_F16", "the f16 tiny.en ggml model")
}

/// A private PulseAudio server with a null sink `vmic` whose monitor is the default source.
pub struct Pulse {
    runtime: tempfile::TempDir,
}

impl Pulse {
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// With more modules loaded at start (`"module-always-sink"`, …).
    pub fn start_with(modules: &[&str]) -> Option<Self> {
        if Command::new("pulseaudio").arg("--version").output().is_err() {
            let msg = "SKIPPED: pulseaudio is not installed (./scripts/test installs it)";
            assert!(std::env::var("HARK_REQUIRE_MODELS").is_err(), "{msg}");
            eprintln!("{msg}");
            return None;
        }
        let runtime = tempfile::tempdir().unwrap();
        let p = Self { runtime };
        let ok = p
            .cmd("pulseaudio")
            .args(["--daemonize=yes", "--exit-idle-time=-1", "--disallow-exit", "--log-target=stderr", "-n"])
            .args(["--load=module-native-protocol-unix", "--load=module-null-sink sink_name=vmic"])
            .args(modules.iter().map(|m| format!("--load={m}")))
            .status()
            .unwrap()
            .success();
        assert!(ok, "pulseaudio did not start");
        // `pactl` waits for the server to answer, so this also synchronises with its start-up.
        assert!(p.cmd("pactl").args(["set-default-source", "vmic.monitor"]).status().unwrap().success());
        Some(p)
    }

    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("XDG_RUNTIME_DIR", self.runtime.path()).env("HOME", self.runtime.path()).env_remove("PULSE_SERVER");
        c
    }

    pub fn dir(&self) -> &Path {
        self.runtime.path()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.cmd("pulseaudio").arg("--kill").status();
    }
}

/// Live captures one at a time. PulseAudio's host keeps one 250 ms period of record buffer, so
/// a capture thread starved for longer by tests running beside it (each a Hark transcribing
/// with whisper on this 2-core machine) really loses audio; Hark then says so, and the checks
/// that every sample was stored fail on a loss the test machine caused.
pub fn one_live_capture_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
