//! Opening and decoding an audio file Hark is given (`hark transcribe FILE`, the window's file
//! picker) on arbitrary bytes: the first byte picks the file name's extension, which steers
//! the container probe (wav, flac, mp3, ogg, none); the rest is the file. It must decode or
//! give an error, never panic, and never make more audio than such a small file can hold.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "audio"];

/// More 16 kHz audio than any input the fuzzer makes can hold (libFuzzer's inputs are
/// kilobytes; a minute of 1 kHz 8-bit audio is 60 KB).
const MOST_SAMPLES: usize = 600 * 16_000;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("hark-fuzz-audio-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temporary directory");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let path = dir().join(format!("input.{}", EXTENSIONS[pick as usize % EXTENSIONS.len()]));
    std::fs::write(&path, bytes).expect("temporary file");
    let Ok(mut source) = hark_capture::FileSource::open(&path) else { return };
    // Pulled a chunk at a time and dropped, as the pipeline streams a file.
    let (mut chunk, mut total) = (Vec::new(), 0usize);
    loop {
        chunk.clear();
        match source.pull(16_000, &mut chunk) {
            Ok(more) => {
                total += chunk.len();
                assert!(total <= MOST_SAMPLES, "{} bytes became over {} s of audio", bytes.len(), total / 16_000);
                assert!(chunk.iter().all(|s| s.is_finite()), "a sample that is not a number");
                if !more {
                    break;
                }
            }
            Err(e) => {
                // The error names the file.
                assert!(e.to_string().contains("input."), "{e}");
                break;
            }
        }
    }
});
