//! Audio files (wav, flac, mp3, ogg/vorbis) decoded with symphonia, converted to 16 kHz mono.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::CaptureError;
use crate::resample::{Downmix, RateConverter};

/// A decoder that yields the file's audio as 16 kHz mono, a piece at a time.
pub struct FileSource {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    channels: usize,
    rate: u32,
    resampler: RateConverter,
    sample_buf: Option<SampleBuffer<f32>>,
    downmix: Downmix,
    mono: Vec<f32>,
    /// Decoded 16 kHz samples not yet handed out.
    ready: Vec<f32>,
    ended: bool,
    produced: u64,
    /// Frames in the file as its header says, when it says.
    pub n_frames: Option<u64>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource").field("path", &self.path).field("rate", &self.rate).finish()
    }
}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let err = |msg: String| CaptureError::File { path: path.to_path_buf(), msg };
        let file = File::open(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => err("does not exist".into()),
            _ => err(format!("cannot be opened: {e}")),
        })?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(err("is a directory, not an audio file".into()));
        }
        if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(err("is empty (0 bytes)".into()));
        }
        // symphonia panics on a WAV header stating a sample rate of 0: read it first.
        if let Some(rate) = wav_header_rate(path) {
            check_rate(rate).map_err(err)?;
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            symphonia::default::get_probe().format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
        }))
        .map_err(|_| err("is damaged: its header could not be read".into()))?
        .map_err(|e| err(format!("is not a supported audio file (wav, flac, mp3, ogg/vorbis): {}", describe(&e))))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| err("has no audio track".into()))?;
        let track_id = track.id;
        let rate = track.codec_params.sample_rate.ok_or_else(|| err("does not state its sample rate".into()))?;
        check_rate(rate).map_err(err)?;
        let channels = track.codec_params.channels.map(|c| c.count()).unwrap_or(1).max(1);
        let n_frames = track.codec_params.n_frames;
        let decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .map_err(|e| err(format!("uses an unsupported codec: {}", describe(&e))))?;
        let resampler = RateConverter::to_16k(rate).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            channels,
            rate,
            resampler,
            sample_buf: None,
            downmix: Downmix::new(channels, f64::from(rate)),
            mono: Vec::new(),
            ready: Vec::new(),
            ended: false,
            produced: 0,
            n_frames,
        })
    }

    /// Length in seconds if the header says.
    pub fn duration_secs(&self) -> Option<f64> {
        self.n_frames.map(|n| n as f64 / self.rate as f64)
    }

    /// Appends up to `max` samples of 16 kHz mono to `out`. Returns `Ok(false)` once the file is
    /// exhausted and everything has been handed out.
    pub fn pull(&mut self, max: usize, out: &mut Vec<f32>) -> Result<bool, CaptureError> {
        while self.ready.len() < max && !self.ended {
            self.decode_packet()?;
        }
        let n = max.min(self.ready.len());
        out.extend_from_slice(&self.ready[..n]);
        self.ready.drain(..n);
        self.produced += n as u64;
        if self.ended && self.ready.is_empty() && self.produced == 0 {
            return Err(CaptureError::File { path: self.path.clone(), msg: "contains no audio (zero length)".into() });
        }
        Ok(!(self.ended && self.ready.is_empty()))
    }

    fn decode_packet(&mut self) -> Result<(), CaptureError> {
        let packet = match self.format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                self.resampler.finish(&mut self.ready);
                self.ended = true;
                return Ok(());
            }
            Err(SymError::ResetRequired) => {
                self.decoder.reset();
                return Ok(());
            }
            Err(e) => {
                return Err(CaptureError::File {
                    path: self.path.clone(),
                    msg: format!("is corrupt: {}", describe(&e)),
                });
            }
        };
        if packet.track_id() != self.track_id {
            return Ok(());
        }
        match self.decoder.decode(&packet) {
            Ok(decoded) => {
                let spec = *decoded.spec();
                let ch = spec.channels.count().max(1);
                let need = decoded.capacity() * ch;
                if self.sample_buf.as_ref().is_none_or(|b| b.capacity() < need) {
                    self.sample_buf = Some(SampleBuffer::new(decoded.capacity() as u64, spec));
                }
                let Some(buf) = self.sample_buf.as_mut() else {
                    return Ok(());
                };
                buf.copy_interleaved_ref(decoded);
                self.mono.clear();
                if self.downmix.channels() != ch {
                    self.downmix = Downmix::new(ch, f64::from(self.rate));
                }
                self.downmix.push(buf.samples(), &mut self.mono);
                self.channels = ch;
                self.resampler.push(&self.mono, &mut self.ready);
            }
            // A damaged packet is skipped, as players do; the rest of the file still counts.
            Err(SymError::DecodeError(msg)) => {
                log::warn!("{}: skipping a damaged packet: {msg}", self.path.display())
            }
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                self.resampler.finish(&mut self.ready);
                self.ended = true;
            }
            Err(e) => {
                return Err(CaptureError::File {
                    path: self.path.clone(),
                    msg: format!("is corrupt: {}", describe(&e)),
                });
            }
        }
        Ok(())
    }
}

fn describe(e: &SymError) -> String {
    match e {
        SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => "it ends unexpectedly".into(),
        SymError::IoError(io) => io.to_string(),
        SymError::Unsupported(what) => format!("unsupported {what}"),
        other => other.to_string(),
    }
}

/// Sample rates a recording can sensibly have.
pub const RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

fn check_rate(rate: u32) -> Result<(), String> {
    if RATES.contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "states a sample rate of {rate} Hz, outside {}–{} Hz: the header is damaged or the file is not audio",
            RATES.start(),
            RATES.end()
        ))
    }
}

/// The sample rate in a RIFF/WAVE file's `fmt ` chunk, if the file is one.
fn wav_header_rate(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    File::open(path).ok()?.take(4096).read_to_end(&mut head).ok()?;
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let mut i = 12;
    while i + 8 <= head.len() {
        let id = &head[i..i + 4];
        let len = u32::from_le_bytes(head[i + 4..i + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            return Some(u32::from_le_bytes(head.get(i + 12..i + 16)?.try_into().ok()?));
        }
        i = i.checked_add(8)?.checked_add(len + (len & 1))?;
    }
    None
}

/// Decodes a whole file to 16 kHz mono.
pub fn read_16k_mono(path: &Path) -> Result<Vec<f32>, CaptureError> {
    let mut src = FileSource::open(path)?;
    let mut out = Vec::new();
    while src.pull(1 << 20, &mut out)? {}
    Ok(out)
}

/// How a WAV file stores its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavFormat {
    /// 16-bit integers (what every player takes; rounding loses a little).
    Pcm16,
    /// 32-bit floats, exactly the samples Hark holds (exports).
    Float32,
}

/// A whole WAV file of 16 kHz mono samples.
pub fn wav_16k(samples: &[f32], format: WavFormat) -> Vec<u8> {
    let (tag, bytes): (u16, u32) = match format {
        WavFormat::Pcm16 => (1, 2),
        WavFormat::Float32 => (3, 4),
    };
    let data_len = samples.len() as u32 * bytes;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&hark_core::SAMPLE_RATE.to_le_bytes());
    b.extend_from_slice(&(hark_core::SAMPLE_RATE * bytes).to_le_bytes());
    b.extend_from_slice(&(bytes as u16).to_le_bytes());
    b.extend_from_slice(&(bytes as u16 * 8).to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        match format {
            WavFormat::Pcm16 => b.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()),
            WavFormat::Float32 => b.extend_from_slice(&s.to_le_bytes()),
        }
    }
    b
}

/// Writes 16 kHz mono samples as a 16-bit PCM WAV file.
pub fn write_wav_16k(path: &Path, samples: &[f32]) -> std::io::Result<()> {
    std::fs::write(path, wav_16k(samples, WavFormat::Pcm16))
}
