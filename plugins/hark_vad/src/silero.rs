//! Silero VAD v5, run in plain Rust.
//!
//! Silero's detector (MIT, `assets/silero_vad.LICENSE`) is the one faster-whisper and most live
//! transcription tools use.
//! It hears voices earshot does not: in `hark bench robust`'s noise set, a hoarse speaker with
//! a cold in white noise at 1.1 dB (noise and voice measured above 100 Hz) had all of its
//! speech found where earshot's gate found 0.37, and a breathy voice 1.00 where it found none.
//! It misses others that earshot hears (on its own it called no chunk of a creaky voice
//! speech, and lost a sentence earshot found in a long noisy mix), so Hark fuses the two
//! ([`FusedDetector`]); docs/PERFORMANCE.md has the figures.
//!
//! The network is small (about 310 000 weights): a short-time Fourier transform written as a
//! convolution (computed here with an FFT), four convolutions, one LSTM cell and a sigmoid,
//! over 32 ms chunks (512 samples and the 64 before them), about 34 µs a chunk on this
//! machine. It is written out here rather than run through an ONNX runtime; the weights are
//! read from the upstream ONNX file (`assets/silero_vad_16k_op15.onnx`, from the `silero-vad`
//! 6.2.3 wheel on PyPI), built into the binary. A test compares every output with
//! onnxruntime's on a recording.

use realfft::{RealFftPlanner, RealToComplex, num_complex::Complex};

use crate::detector::{EarshotDetector, FRAME, VoiceDetector};

/// Samples per chunk.
pub const CHUNK: usize = 512;
/// Samples of the previous chunk the network sees with each.
const CONTEXT: usize = 64;
const INPUT: usize = CHUNK + CONTEXT;
/// The transform: 256-sample windows every 128 samples over the input and 64 reflected samples.
const WINDOW: usize = 256;
const HOP: usize = 128;
const PADDED: usize = INPUT + 64;
const STEPS: usize = (PADDED - WINDOW) / HOP + 1;
const BINS: usize = 129;
const HIDDEN: usize = 128;

static MODEL: &[u8] = include_bytes!("../assets/silero_vad_16k_op15.onnx");

struct Conv {
    /// `[out][k][in]` (rearranged from ONNX's `[out][in][k]` so that each tap is one dot
    /// product over contiguous inputs).
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    stride: usize,
}

impl Conv {
    fn new(onnx_w: Vec<f32>, b: Vec<f32>, inputs: usize, stride: usize) -> Self {
        let outputs = b.len();
        let mut w = vec![0.0; onnx_w.len()];
        for o in 0..outputs {
            for i in 0..inputs {
                for k in 0..3 {
                    w[(o * 3 + k) * inputs + i] = onnx_w[(o * inputs + i) * 3 + k];
                }
            }
        }
        Self { w, b, inputs, stride }
    }

    fn outputs(&self) -> usize {
        self.b.len()
    }

    /// Kernel 3, padding 1, then ReLU. `x` is time-major, `[len][in]`; so is the result,
    /// `[out_len][out]`, whose length is returned.
    fn forward(&self, x: &[f32], len: usize, out: &mut Vec<f32>) -> usize {
        let (n_in, n_out) = (self.inputs, self.outputs());
        let out_len = (len + 2 - 3) / self.stride + 1;
        out.clear();
        out.resize(out_len * n_out, 0.0);
        for t in 0..out_len {
            for o in 0..n_out {
                let mut acc = self.b[o];
                for k in 0..3 {
                    // Input position t * stride + k - 1; outside is padding.
                    let Some(at) = (t * self.stride + k).checked_sub(1).filter(|&a| a < len) else { continue };
                    let w = &self.w[(o * 3 + k) * n_in..(o * 3 + k + 1) * n_in];
                    acc += dot(w, &x[at * n_in..(at + 1) * n_in]);
                }
                out[t * n_out + o] = acc.max(0.0);
            }
        }
        out_len
    }
}

/// The weights, read once.
struct Weights {
    convs: [Conv; 4],
    /// `[4 * HIDDEN][HIDDEN]`, gates in PyTorch's order: input, forget, cell, output.
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// Both biases summed.
    bias: Vec<f32>,
    out_w: Vec<f32>,
    out_b: f32,
}

impl Weights {
    fn load() -> Result<Self, String> {
        let tensors = onnx_initializers(MODEL)?;
        let get = |name: &str, len: usize| -> Result<Vec<f32>, String> {
            let raw = tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, raw)| raw)
                .ok_or_else(|| format!("the Silero model has no tensor {name}"))?;
            if raw.len() != len * 4 {
                return Err(format!("Silero tensor {name}: {} bytes, expected {}", raw.len(), len * 4));
            }
            Ok(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let conv = |i: usize, inputs: usize, outputs: usize, stride: usize| -> Result<Conv, String> {
            let w = get(&format!("model.encoder.{i}.reparam_conv.weight"), outputs * inputs * 3)?;
            Ok(Conv::new(w, get(&format!("model.encoder.{i}.reparam_conv.bias"), outputs)?, inputs, stride))
        };
        // The model's transform is a convolution with a periodic-Hann-windowed DFT basis (its
        // real rows, then its imaginary rows); [`Silero::process`] computes the same with an
        // FFT. Check that the file's basis is that.
        let basis = get("model.stft.forward_basis_buffer", 2 * BINS * WINDOW)?;
        let hann = hann();
        for f in 0..BINS {
            for k in 0..WINDOW {
                let phase = std::f64::consts::TAU * (f * k % WINDOW) as f64 / WINDOW as f64;
                let (re, im) = (hann[k] * phase.cos() as f32, hann[k] * phase.sin() as f32);
                if (basis[f * WINDOW + k] - re).abs() > 1e-5 || (basis[(BINS + f) * WINDOW + k] + im).abs() > 1e-5 {
                    return Err("the Silero model's transform is not a Hann-windowed DFT".into());
                }
            }
        }
        let b_ih = get("model.decoder.rnn.bias_ih", 4 * HIDDEN)?;
        let b_hh = get("model.decoder.rnn.bias_hh", 4 * HIDDEN)?;
        Ok(Self {
            convs: [conv(0, BINS, 128, 1)?, conv(1, 128, 64, 2)?, conv(2, 64, 64, 2)?, conv(3, 64, HIDDEN, 1)?],
            w_ih: get("model.decoder.rnn.weight_ih", 4 * HIDDEN * HIDDEN)?,
            w_hh: get("model.decoder.rnn.weight_hh", 4 * HIDDEN * HIDDEN)?,
            bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
            out_w: get("model.decoder.decoder.2.weight", HIDDEN)?,
            out_b: get("model.decoder.decoder.2.bias", 1)?[0],
        })
    }
}

/// The periodic Hann window of the model's transform.
fn hann() -> Vec<f32> {
    (0..WINDOW).map(|k| (0.5 - 0.5 * (std::f64::consts::TAU * k as f64 / WINDOW as f64).cos()) as f32).collect()
}

fn weights() -> &'static Weights {
    static W: std::sync::OnceLock<Weights> = std::sync::OnceLock::new();
    // The file is built in and checked by the tests: failing to read it is a build defect.
    W.get_or_init(|| Weights::load().expect("the built-in Silero VAD model"))
}

/// Dot product in eight lanes (the compiler keeps float sums in order; lanes let it vectorise).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Silero's probability for each 512-sample chunk of 16 kHz audio, carrying its state from one
/// to the next.
pub struct Silero {
    w: &'static Weights,
    fft: std::sync::Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: [f32; PADDED],
    h: [f32; HIDDEN],
    c: [f32; HIDDEN],
    // Scratch, sized once.
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    a: Vec<f32>,
    b: Vec<f32>,
    gates: Vec<f32>,
}

impl Default for Silero {
    fn default() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(WINDOW);
        Self {
            w: weights(),
            window: hann(),
            input: [0.0; PADDED],
            h: [0.0; HIDDEN],
            c: [0.0; HIDDEN],
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            a: Vec::with_capacity(BINS * STEPS),
            b: Vec::with_capacity(128 * STEPS),
            gates: vec![0.0; 4 * HIDDEN],
        }
    }
}

impl Silero {
    pub fn reset(&mut self) {
        self.input = [0.0; PADDED];
        self.forget();
    }

    /// Clears the network's memory, keeping the samples it has just heard.
    pub fn forget(&mut self) {
        self.h = [0.0; HIDDEN];
        self.c = [0.0; HIDDEN];
    }

    /// The probability that `chunk` (512 samples) holds speech.
    pub fn process(&mut self, chunk: &[f32; CHUNK]) -> f32 {
        let w = self.w;
        // The last 64 samples of the previous input, this chunk, then 64 reflected samples.
        self.input.copy_within(INPUT - CONTEXT..INPUT, 0);
        self.input[CONTEXT..INPUT].copy_from_slice(chunk);
        for i in 0..PADDED - INPUT {
            self.input[INPUT + i] = self.input[INPUT - 2 - i];
        }
        // Magnitude spectrum, time-major `[STEPS][BINS]`.
        self.a.clear();
        for t in 0..STEPS {
            let x = &self.input[t * HOP..t * HOP + WINDOW];
            for ((f, x), w) in self.frame.iter_mut().zip(x).zip(&self.window) {
                *f = x * w;
            }
            // The lengths are the plan's own: this cannot fail.
            let _ = self.fft.process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch);
            self.a.extend(self.spectrum.iter().map(|c| c.norm()));
        }
        let mut len = STEPS;
        for (i, conv) in w.convs.iter().enumerate() {
            let (x, out) = if i % 2 == 0 { (&self.a, &mut self.b) } else { (&self.b, &mut self.a) };
            len = conv.forward(x, len, out);
        }
        // Four convolutions: the result is back in `a`, one step of HIDDEN channels.
        debug_assert_eq!(len, 1);
        let x = &self.a[..HIDDEN];
        for (g, gate) in self.gates.iter_mut().enumerate() {
            let row = g * HIDDEN..(g + 1) * HIDDEN;
            *gate = w.bias[g] + dot(&w.w_ih[row.clone()], x) + dot(&w.w_hh[row], &self.h);
        }
        for j in 0..HIDDEN {
            let i = sigmoid(self.gates[j]);
            let f = sigmoid(self.gates[HIDDEN + j]);
            let g = self.gates[2 * HIDDEN + j].tanh();
            let o = sigmoid(self.gates[3 * HIDDEN + j]);
            self.c[j] = f * self.c[j] + i * g;
            self.h[j] = o * self.c[j].tanh();
        }
        let logit: f32 = w.out_b + self.h.iter().zip(&w.out_w).map(|(h, w)| h.max(0.0) * w).sum::<f32>();
        sigmoid(logit)
    }
}

/// Chunks without speech after which [`SileroDetector`] clears the network's memory: 4 s.
pub const FORGET_AFTER: u32 = 125;

/// Silero as a per-frame detector: two 16 ms frames make a chunk. The first frame of a chunk
/// gets the previous chunk's probability (16 ms late), the second its own.
///
/// After [`FORGET_AFTER`] chunks in which nothing reached 0.5, the network's memory is cleared.
/// Over a long noisy recording its state drifts to where it no longer hears a quiet voice
/// that a fresh state hears plainly: a sentence at about -4 dB in pink noise, 58 s into a mix,
/// got no chunk over 0.5, and all of it with the state cleared 2 s before. On twelve seeded
/// mixes (`scripts/mixes`, seeds 124-135, noisy versions, frames the clean version calls
/// speech), recall rose from 0.54 to 0.61 and precision went from 0.979 to 0.976; on twelve
/// fresh ones (seeds 136-147), from 0.725 to 0.767, and from 0.988 to 0.983.
pub struct SileroDetector {
    net: Silero,
    chunk: [f32; CHUNK],
    filled: usize,
    last: f32,
    quiet: u32,
}

impl Default for SileroDetector {
    fn default() -> Self {
        Self { net: Silero::default(), chunk: [0.0; CHUNK], filled: 0, last: 0.0, quiet: 0 }
    }
}

impl VoiceDetector for SileroDetector {
    fn probability(&mut self, frame: &[f32]) -> f32 {
        let n = frame.len().min(CHUNK - self.filled);
        self.chunk[self.filled..self.filled + n].copy_from_slice(&frame[..n]);
        self.filled += n;
        if self.filled == CHUNK {
            self.last = self.net.process(&self.chunk);
            self.filled = 0;
            self.quiet = if self.last >= 0.5 { 0 } else { self.quiet + 1 };
            if self.quiet >= FORGET_AFTER {
                self.net.forget();
                self.quiet = 0;
            }
        }
        self.last
    }

    fn reset(&mut self) {
        self.net.reset();
        self.filled = 0;
        self.last = 0.0;
        self.quiet = 0;
    }
}

/// earshot and Silero together: a frame's probability is the higher of the two. Each hears
/// voices the other does not (see the module documentation); both seldom call steady noise
/// speech, and the gate's other evidence is unchanged.
#[derive(Default)]
pub struct FusedDetector {
    earshot: EarshotDetector,
    silero: SileroDetector,
}

impl VoiceDetector for FusedDetector {
    fn probability(&mut self, frame: &[f32]) -> f32 {
        debug_assert_eq!(frame.len(), FRAME);
        self.earshot.probability(frame).max(self.silero.probability(frame))
    }

    fn reset(&mut self) {
        self.earshot.reset();
        self.silero.reset();
    }
}

/// The float tensors stored in an ONNX file's graph, by name, as their raw little-endian bytes:
/// `ModelProto.graph` (field 7) → `GraphProto.initializer` (field 5) → `TensorProto.name` (8)
/// and `raw_data` (9). Only what the built-in model uses.
fn onnx_initializers(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let graph = fields(bytes)?.into_iter().find(|f| f.0 == 7).ok_or("ONNX file without a graph")?.1;
    let mut out = Vec::new();
    for (_, tensor) in fields(graph)?.into_iter().filter(|f| f.0 == 5) {
        let (mut name, mut raw) = (None, None);
        for (field, value) in fields(tensor)? {
            match field {
                8 => name = Some(String::from_utf8_lossy(value).into_owned()),
                9 => raw = Some(value),
                _ => {}
            }
        }
        if let (Some(n), Some(r)) = (name, raw) {
            out.push((n, r));
        }
    }
    Ok(out)
}

/// The length-delimited fields of one protobuf message, `(field number, bytes)`; other wire
/// types are skipped.
fn fields(mut b: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    fn varint(b: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("truncated ONNX file")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("bad varint in ONNX file".into())
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        match key & 7 {
            0 => {
                varint(&mut b)?;
            }
            1 => b = b.get(8..).ok_or("truncated ONNX file")?,
            5 => b = b.get(4..).ok_or("truncated ONNX file")?,
            2 => {
                let len = usize::try_from(varint(&mut b)?).map_err(|_| "bad length in ONNX file")?;
                if len > b.len() {
                    return Err("truncated ONNX file".into());
                }
                out.push((key >> 3, &b[..len]));
                b = &b[len..];
            }
            t => return Err(format!("unknown protobuf wire type {t} in ONNX file")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_model_loads() {
        let w = Weights::load().unwrap();
        assert_eq!(w.convs[0].outputs(), 128);
        assert_eq!(STEPS, 4);
    }

    #[test]
    fn silence_is_not_speech_and_state_resets() {
        let mut s = Silero::default();
        let zero = [0f32; CHUNK];
        let first = s.process(&zero);
        assert!(first < 0.1, "{first}");
        for _ in 0..20 {
            s.process(&zero);
        }
        s.reset();
        assert_eq!(s.process(&zero), first);
    }
}
