//! Streaming conversion of any sample rate to the pipeline's 16 kHz (capture), and back from it
//! to a device's rate (replay's sound).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use hark_core::SAMPLE_RATE;

/// Resamples a mono stream in chunks of any size, by default to 16 kHz. The resampler's start-up
/// delay is trimmed and its tail flushed by [`RateConverter::finish`], so `n` input samples give
/// exactly `ceil(n * rate_out / rate_in)` output samples, aligned with the input.
pub struct RateConverter {
    inner: Option<Inner>,
}

struct Inner {
    rs: Fft<f32>,
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    to_trim: usize,
    total_in: u64,
    total_out: u64,
}

impl std::fmt::Debug for RateConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateConverter").field("passthrough", &self.inner.is_none()).finish()
    }
}

/// A rate the resampler cannot convert from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    #[error("sample rate 0")]
    ZeroRate,
    #[error("cannot resample {rate} Hz audio: {msg}")]
    Unsupported { rate: u32, msg: String },
}

impl RateConverter {
    /// From `rate_in` to the pipeline's 16 kHz.
    pub fn to_16k(rate_in: u32) -> Result<Self, ResampleError> {
        Self::new(rate_in, SAMPLE_RATE)
    }

    pub fn new(rate_in: u32, rate_out: u32) -> Result<Self, ResampleError> {
        if rate_in == rate_out {
            return Ok(Self { inner: None });
        }
        if rate_in == 0 || rate_out == 0 {
            return Err(ResampleError::ZeroRate);
        }
        let rs = Fft::<f32>::new(rate_in as usize, rate_out as usize, 1024, 1, FixedSync::Input)
            .map_err(|e| ResampleError::Unsupported { rate: rate_in.max(rate_out), msg: e.to_string() })?;
        Ok(Self {
            inner: Some(Inner {
                out_buf: vec![0.0; rs.output_frames_max()],
                to_trim: rs.output_delay(),
                pending: Vec::with_capacity(8192),
                total_in: 0,
                total_out: 0,
                rs,
            }),
        })
    }

    /// Appends the 16 kHz version of `input` (as far as it can be computed yet) to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(s) = &mut self.inner else {
            out.extend_from_slice(input);
            return;
        };
        s.total_in += input.len() as u64;
        s.pending.extend_from_slice(input);
        let mut used = 0;
        while s.pending.len() - used >= s.rs.input_frames_next() {
            let need = s.rs.input_frames_next();
            let olen = s.out_buf.len();
            let (Ok(inp), Ok(mut outp)) = (
                InterleavedSlice::new(&s.pending[used..used + need], 1, need),
                InterleavedSlice::new_mut(&mut s.out_buf, 1, olen),
            ) else {
                break;
            };
            let Ok((n_in, n_out)) = s.rs.process_into_buffer(&inp, &mut outp, None) else {
                break;
            };
            used += n_in;
            s.emit(n_out, usize::MAX, out);
        }
        s.pending.drain(..used);
    }

    /// End of stream: flushes the tail so the output has its full length.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let Some(s) = &mut self.inner else { return };
        let expected = (s.total_in as f64 * s.rs.resample_ratio()).ceil() as u64;
        let mut rest = std::mem::take(&mut s.pending);
        let mut guard = 0;
        while s.total_out < expected && guard < 64 {
            guard += 1;
            let n = rest.len();
            let olen = s.out_buf.len();
            let (Ok(inp), Ok(mut outp)) =
                (InterleavedSlice::new(&rest[..], 1, n), InterleavedSlice::new_mut(&mut s.out_buf, 1, olen))
            else {
                break;
            };
            let idx = Indexing::new().partial_len(n);
            let Ok((_, n_out)) = s.rs.process_into_buffer(&inp, &mut outp, Some(&idx)) else {
                break;
            };
            rest.clear();
            let cap = (expected - s.total_out) as usize;
            s.emit(n_out, cap, out);
        }
        s.rs.reset();
        s.to_trim = s.rs.output_delay();
        s.total_in = 0;
        s.total_out = 0;
    }
}

impl Inner {
    fn emit(&mut self, n_out: usize, cap: usize, out: &mut Vec<f32>) {
        let skip = self.to_trim.min(n_out);
        self.to_trim -= skip;
        let take = (n_out - skip).min(cap);
        out.extend_from_slice(&self.out_buf[skip..skip + take]);
        self.total_out += take as u64;
    }
}

/// Folds the channels of a recording into one without letting them cancel.
///
/// Channels are averaged, but a channel whose polarity is inverted against the first (a
/// miswired microphone cable or adapter, a stereo file "widened" by inverting one side) is
/// turned back first: averaged as it comes, a voice recorded that way is silence, and a whole
/// recording was transcribed as nothing. Each channel's correlation with the first is tracked
/// over about a fifth of a second; a channel flips once it is clearly against it (correlation
/// below -0.5) and back once clearly with it (above +0.5). Independent channels (two
/// microphones, two people) stay near 0 and are averaged as they are. Holds no locks and does
/// not allocate after [`Downmix::new`], so the audio callback can run it.
#[derive(Debug, Clone)]
pub struct Downmix {
    channels: usize,
    /// Per channel: smoothed product with the first channel (the first's own power at 0).
    cross: Vec<f32>,
    /// Per channel: smoothed power.
    power: Vec<f32>,
    /// Per channel: taken with its polarity inverted.
    flipped: Vec<bool>,
    /// Smoothing per frame (a time constant of 0.2 s at the stream's rate).
    alpha: f32,
}

/// Below this smoothed power (-80 dBFS) a channel is too quiet to judge.
const JUDGE_POWER: f32 = 1e-8;

impl Downmix {
    pub fn new(channels: usize, rate: f64) -> Self {
        let channels = channels.max(1);
        Self {
            channels,
            cross: vec![0.0; channels],
            power: vec![0.0; channels],
            flipped: vec![false; channels],
            alpha: (1.0 / (0.2 * rate.max(1.0))) as f32,
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Whether channel `c` is being taken with its polarity inverted.
    pub fn is_flipped(&self, c: usize) -> bool {
        self.flipped.get(c).copied().unwrap_or(false)
    }

    /// One frame, its channels given by `sample(c)`, as one mono sample.
    #[inline]
    pub fn frame(&mut self, mut sample: impl FnMut(usize) -> f32) -> f32 {
        let x0 = sample(0);
        if self.channels == 1 {
            return x0;
        }
        let a = self.alpha;
        self.power[0] += a * (x0 * x0 - self.power[0]);
        let p0 = self.power[0];
        let mut sum = x0;
        for c in 1..self.channels {
            let x = sample(c);
            self.cross[c] += a * (x0 * x - self.cross[c]);
            self.power[c] += a * (x * x - self.power[c]);
            let (k, pc) = (self.cross[c], self.power[c]);
            // |correlation| > 0.5, without a square root.
            if p0 > JUDGE_POWER && pc > JUDGE_POWER && k * k > 0.25 * p0 * pc {
                self.flipped[c] = k < 0.0;
            }
            sum += if self.flipped[c] { -x } else { x };
        }
        sum / self.channels as f32
    }

    /// Appends the mono of `interleaved` frames to `out`.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let ch = self.channels;
        out.reserve(interleaved.len() / ch);
        for f in interleaved.chunks_exact(ch) {
            let m = self.frame(|c| f[c]);
            out.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn any_rate_becomes_16k_with_exact_length_and_alignment() {
        for rate in [8_000u32, 22_050, 44_100, 48_000] {
            let input = sine(rate, 440.0, 1.3);
            let mut rs = RateConverter::to_16k(rate).unwrap();
            let mut out = Vec::new();
            // Uneven chunks, as a device delivers them.
            for c in input.chunks(333) {
                rs.push(c, &mut out);
            }
            rs.finish(&mut out);
            let expected = (input.len() as f64 * 16_000.0 / rate as f64).ceil() as usize;
            assert_eq!(out.len(), expected, "rate {rate}");
            // The tone is preserved in phase: compare with a 16 kHz sine away from the edges.
            let want = sine(16_000, 440.0, 1.3);
            let err: f32 = (2000..18000).map(|i| (out[i] - want[i]).abs()).fold(0.0, f32::max);
            // One sample of misalignment would show as ~0.09 here.
            assert!(err < 0.05, "rate {rate}: max error {err}");
        }
    }

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        Downmix::new(2, 16_000.0).push(&[1.0, 0.0, 0.5, 0.5], &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
    }

    /// Seeded noise in -0.5..0.5.
    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn power(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32
    }

    fn stereo(l: &[f32], r: &[f32]) -> Vec<f32> {
        l.iter().zip(r).flat_map(|(a, b)| [*a, *b]).collect()
    }

    #[test]
    fn a_channel_with_its_polarity_inverted_does_not_cancel_the_other() {
        let voice: Vec<f32> = noise(1, 48_000).iter().zip(sine(48_000, 220.0, 1.0)).map(|(n, s)| 0.3 * n + s).collect();
        let inverted: Vec<f32> = voice.iter().map(|v| -v).collect();
        let mut out = Vec::new();
        let mut mix = Downmix::new(2, 48_000.0);
        mix.push(&stereo(&voice, &inverted), &mut out);
        assert!(mix.is_flipped(1));
        // After the first 10 ms the mono is the voice itself (a plain average is silence).
        assert!(out[480..].iter().zip(&voice[480..]).all(|(o, v)| (o - v).abs() < 1e-5));
        let mut plain = Vec::new();
        Downmix::new(2, 48_000.0).push(&stereo(&voice, &voice), &mut plain);
        assert!(plain.iter().zip(&voice).all(|(o, v)| (o - v).abs() < 1e-5), "in phase: the average");
    }

    #[test]
    fn independent_channels_are_averaged_as_they_are() {
        // Two microphones, two sources: never flipped, over 10 s of audio in 50 ms blocks.
        let (l, r) = (noise(2, 160_000), noise(3, 160_000));
        let mut mix = Downmix::new(2, 16_000.0);
        let mut out = Vec::new();
        for block in stereo(&l, &r).chunks(1_600) {
            mix.push(block, &mut out);
            assert!(!mix.is_flipped(1));
        }
        assert!(out.iter().enumerate().all(|(i, o)| (o - (l[i] + r[i]) / 2.0).abs() < 1e-6));
        // One silent channel: the other at half its level, as before.
        let mut out = Vec::new();
        Downmix::new(2, 16_000.0).push(&stereo(&l, &vec![0.0; l.len()]), &mut out);
        assert!((power(&out) / power(&l) - 0.25).abs() < 1e-3);
    }

    #[test]
    fn polarity_is_followed_when_it_changes_and_other_channels_are_judged_apart() {
        // Four channels: the second inverted, the third independent, the fourth in phase; the
        // second turns to in phase halfway.
        let n = 32_000;
        let v = noise(4, n);
        let other = noise(5, n);
        let frames: Vec<f32> = (0..n)
            .flat_map(|i| {
                let second = if i < n / 2 { -v[i] } else { v[i] };
                [v[i], second, other[i], v[i]]
            })
            .collect();
        let mut mix = Downmix::new(4, 16_000.0);
        let mut out = Vec::new();
        mix.push(&frames[..4 * n / 2], &mut out);
        assert!(mix.is_flipped(1) && !mix.is_flipped(2) && !mix.is_flipped(3));
        mix.push(&frames[4 * n / 2..], &mut out);
        assert!(!mix.is_flipped(1) && !mix.is_flipped(2) && !mix.is_flipped(3));
        // Three copies of the voice and the other, from the first 10 ms on, except for the
        // 0.3 s it takes to follow the change (the smoothed correlation has to cross +0.5).
        let ok = |i: usize| (out[i] - (3.0 * v[i] + other[i]) / 4.0).abs() < 1e-5;
        let wrong: Vec<usize> = (160..n).filter(|&i| !ok(i)).collect();
        assert!(wrong.iter().all(|&i| (n / 2..n / 2 + 4_800).contains(&i)), "{} wrong", wrong.len());
    }
}
