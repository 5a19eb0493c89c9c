//! `hark model import` of a CTranslate2 directory whose model.bin is arbitrary bytes (beside a
//! valid vocabulary): a clear error or a model that verifies, never a panic, and nothing left
//! at the output path on failure.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hark_model::synth::{SynthOptions, write_model};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        // A synthetic model (its model.bin is the seed) and a copy whose model.bin is replaced.
        let d = std::env::temp_dir().join(format!("hark-fuzz-ct2-{}", std::process::id()));
        write_model(&d.join("synthetic"), &SynthOptions::default()).expect("synthetic model");
        std::fs::create_dir_all(d.join("model")).expect("model directory");
        std::fs::copy(d.join("synthetic/vocabulary.txt"), d.join("model/vocabulary.txt")).expect("vocabulary");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let model = dir().join("model");
    let out = dir().join("out.bin");
    std::fs::write(model.join("model.bin"), data).expect("temporary file");
    match hark_model::import_ct2(&model, &out, hark_model::FType::F16) {
        Ok(_) => {
            hark_model::verify(&out).expect("an imported model verifies");
            std::fs::remove_file(&out).expect("remove the output");
        }
        Err(_) => assert!(!out.exists(), "a failed import left its output behind"),
    }
});
