//! `hark model verify` (and every model load, which verifies first) on arbitrary bytes: it
//! must answer Ok or a clear error, never panic, and never allocate what the header claims
//! before checking it against the file's length.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("hark-fuzz-ggml-{}.bin", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(path(), data).expect("temporary file");
    let _ = hark_model::verify(path());
});
