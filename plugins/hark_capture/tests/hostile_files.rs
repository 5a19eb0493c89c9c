//! Damaged audio files of every container Hark reads (wav, flac, mp3, ogg/vorbis): seeded
//! mutations of small valid files (bit flips, overwritten header fields, cuts, repeated and
//! zeroed spans) must each give audio or a clear error — never a panic, never unbounded output.
//! A poor man's fuzzer that runs with the test suite; `./scripts/fuzz` runs the real ones.

use std::path::PathBuf;

/// The committed seeds: a 0.4 s stereo chirp at 22.05 kHz in each container (synthetic).
fn seeds() -> Vec<PathBuf> {
    let dir = hark_core::manifest_dir!().join("../../fuzz/seeds/audio");
    ["chirp.wav", "chirp.flac", "chirp.mp3", "chirp.ogg"].iter().map(|f| dir.join(f)).collect()
}

/// xorshift64*: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to three mutations of `data`, half of them in its first 256 bytes (the headers).
fn mutate(data: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut d = data.to_vec();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let len = d.len().max(1);
        let at = if rng.below(2) == 0 { rng.below(len.min(256)) } else { rng.below(len) };
        match rng.below(6) {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(d.len());
                    if let Some(b) = d.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
                what.push("bit flips".to_owned());
            }
            1 => {
                let v: u32 = [0, u32::MAX, i32::MAX as u32, 0x8000_0000, rng.next() as u32][rng.below(5)];
                for (k, b) in v.to_le_bytes().iter().enumerate() {
                    if let Some(x) = d.get_mut(at + k) {
                        *x = *b;
                    }
                }
                what.push(format!("{v:#x} at {at}"));
            }
            2 => {
                d.truncate(at);
                what.push(format!("cut at {at}"));
            }
            3 => {
                let n = rng.below(512).min(d.len().saturating_sub(at));
                let span = d[at..at + n].to_vec();
                let to = rng.below(d.len());
                d.splice(to..to, span);
                what.push(format!("{n} bytes from {at} repeated at {to}"));
            }
            4 => {
                let n = rng.below(256).min(d.len().saturating_sub(at));
                d[at..at + n].fill(0);
                what.push(format!("{n} bytes zeroed at {at}"));
            }
            _ => {
                let n = rng.below(64).min(d.len().saturating_sub(at));
                for b in &mut d[at..at + n] {
                    *b = rng.next() as u8;
                }
                what.push(format!("{n} random bytes at {at}"));
            }
        }
    }
    (d, what.join(", "))
}

#[test]
fn damaged_files_of_every_container_give_audio_or_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A panic inside a decode is caught and counted below, and its message would only clutter
    // the output; any other panic (a missing seed) keeps its message.
    thread_local!(static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !DECODING.with(|d| d.get()) {
            default_hook(info);
        }
    }));
    let mut failures = Vec::new();
    let (mut decoded, mut refused) = (0, 0);
    for seed in seeds() {
        let data = std::fs::read(&seed).unwrap_or_else(|e| panic!("seed {}: {e}", seed.display()));
        let whole = hark_capture::read_16k_mono(&seed).unwrap();
        assert!(whole.len() > 6_000, "{}: the seed itself decodes", seed.display());
        let name = seed.file_name().unwrap().to_str().unwrap();
        let path = dir.path().join(name);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ data.len() as u64);
        for i in 0..2_500 {
            let (bytes, what) = mutate(&data, &mut rng);
            std::fs::write(&path, &bytes).unwrap();
            DECODING.with(|d| d.set(true));
            let result = std::panic::catch_unwind(|| hark_capture::read_16k_mono(&path));
            DECODING.with(|d| d.set(false));
            match result {
                // A file this small cannot hold more than a few seconds, whatever its header says.
                Ok(Ok(audio)) if audio.len() > 16_000 * 60 => {
                    failures.push(format!("{name} #{i} ({what}): {} s of audio", audio.len() / 16_000))
                }
                Ok(Ok(_)) => decoded += 1,
                Ok(Err(e)) => {
                    let msg = e.to_string();
                    if !msg.contains(name) {
                        failures.push(format!("{name} #{i} ({what}): the error does not name the file: {msg}"));
                    }
                    refused += 1;
                }
                Err(_) => failures.push(format!("{name} #{i} ({what}): panicked")),
            }
        }
    }
    let _ = std::panic::take_hook();
    eprintln!("{decoded} damaged files decoded, {refused} refused");
    assert!(failures.is_empty(), "{} of 10 000:\n{}", failures.len(), failures.join("\n"));
}

/// A WAV whose header claims 4 GB of samples but holds one second (as a recorder that never
/// finished its header leaves it) gives the second it holds: nothing is sized from the claim.
#[test]
fn a_wav_claiming_four_gigabytes_gives_the_second_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("claims.wav");
    hark_capture::write_wav_16k(&p, &vec![0.25f32; 16_000]).unwrap();
    let mut w = std::fs::read(&p).unwrap();
    w[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let data = w.windows(4).position(|x| x == b"data").unwrap();
    w[data + 4..data + 8].copy_from_slice(&(u32::MAX - 64).to_le_bytes());
    std::fs::write(&p, &w).unwrap();
    let samples = hark_capture::read_16k_mono(&p).unwrap();
    assert_eq!(samples.len(), 16_000);
    assert!(samples.iter().all(|s| (s - 0.25).abs() < 1e-3));
}
