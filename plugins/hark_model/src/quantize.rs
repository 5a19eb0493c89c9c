//! Quantising a whisper.cpp ggml model into ggml's block formats (q8_0, q5_1, q5_0, q4_0).
//!
//! A block holds 32 consecutive values of a row with one f16 scale `d` (and for q5_1 an f16
//! minimum `m`); each value is stored as a small integer `q`:
//!
//! | type | bytes | layout | value |
//! |---|---|---|---|
//! | q8_0 | 34 | `d`, 32 × i8 | `d·q`, `d = max|x| / 127` |
//! | q5_1 | 24 | `d`, `m`, 4 bytes of high bits, 16 bytes of nibbles | `d·q + m`, `d = (max − min) / 31` |
//! | q5_0 | 22 | `d`, 4 bytes of high bits, 16 bytes of nibbles | `d·(q − 16)`, `d = x_absmax / −16` |
//! | q4_0 | 18 | `d`, 16 bytes of nibbles | `d·(q − 8)`, `d = x_absmax / −8` |
//!
//! (`x_absmax` is the value of largest magnitude, with its sign.) Nibble `j` of byte `k` holds
//! value `k` (low) and `k + 16` (high); in the 5-bit types bit `k` of the 32-bit high-bit word is
//! the fifth bit of value `k`. Scales are computed from the f32 values as ggml's reference
//! quantiser does, so a file quantised here is the file whisper.cpp's own tool would write.
//!
//! Which tensors are quantised follows whisper.cpp's loader: the 2-D weights (every linear layer
//! and the token embedding) take the new type; the convolutions stay f16, and biases, norms and
//! positional embeddings stay f32.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::ModelError;
use crate::convert::{ModelFile, tensor_plan};
use crate::ggml::{self, FType, Hparams, TensorType, expected_type};

/// Values per block in every quantised format.
pub const BLOCK: usize = 32;

/// What a quantisation produced.
#[derive(Debug, Clone)]
pub struct QuantizeReport {
    pub output: PathBuf,
    pub hparams: Hparams,
    pub input_bytes: u64,
    pub bytes: u64,
    pub sha256: String,
    pub tensors: usize,
    /// Tensors written in the block format.
    pub quantized: usize,
}

/// Quantises `x` (a whole number of blocks) into `t`'s blocks, appended to `out`.
///
/// # Panics
/// When `t` is not a block type or `x.len()` is not a multiple of [`BLOCK`].
pub fn quantize_blocks(t: TensorType, x: &[f32], out: &mut Vec<u8>) {
    assert!(x.len().is_multiple_of(BLOCK), "{} values are not whole blocks of {BLOCK}", x.len());
    out.reserve(t.bytes(x.len()));
    for b in x.chunks_exact(BLOCK) {
        match t {
            TensorType::Q8_0 => {
                let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                push_f16(out, d);
                out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
            }
            TensorType::Q4_0 | TensorType::Q5_0 => {
                let (levels, top) = if t == TensorType::Q4_0 { (8.0, 15) } else { (16.0, 31) };
                let signed_max = signed_absmax(b);
                let d = signed_max / -levels;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                // Truncation toward zero of a non-negative value, as ggml's `(int8_t)` cast.
                let q: Vec<u8> = b.iter().map(|v| ((v * id + levels + 0.5) as i8).min(top) as u8).collect();
                push_f16(out, d);
                if t == TensorType::Q5_0 {
                    out.extend_from_slice(&high_bits(&q).to_le_bytes());
                }
                push_nibbles(out, &q);
            }
            TensorType::Q5_1 => {
                let min = b.iter().fold(f32::MAX, |m, v| m.min(*v));
                let max = b.iter().fold(f32::MIN, |m, v| m.max(*v));
                let d = (max - min) / 31.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let q: Vec<u8> = b.iter().map(|v| ((v - min) * id + 0.5) as u8).collect();
                push_f16(out, d);
                push_f16(out, min);
                out.extend_from_slice(&high_bits(&q).to_le_bytes());
                push_nibbles(out, &q);
            }
            TensorType::F32 | TensorType::F16 => panic!("{t:?} is not a block format"),
        }
    }
}

/// The values `blocks` of type `t` stand for, appended to `out` (the inverse of
/// [`quantize_blocks`] up to the format's rounding).
///
/// # Panics
/// When `t` is not a block type or `blocks` is not a whole number of blocks.
pub fn dequantize_blocks(t: TensorType, blocks: &[u8], out: &mut Vec<f32>) {
    let (_, size) = t.block();
    assert!(blocks.len().is_multiple_of(size), "{} bytes are not whole {t:?} blocks", blocks.len());
    for b in blocks.chunks_exact(size) {
        let d = read_f16(&b[0..2]);
        match t {
            TensorType::Q8_0 => out.extend(b[2..].iter().map(|&q| d * (q as i8) as f32)),
            TensorType::Q4_0 => {
                let q = nibbles(&b[2..18], 0);
                out.extend(q.iter().map(|&q| d * (q as f32 - 8.0)));
            }
            TensorType::Q5_0 => {
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                let q = nibbles(&b[6..22], qh);
                out.extend(q.iter().map(|&q| d * (q as f32 - 16.0)));
            }
            TensorType::Q5_1 => {
                let m = read_f16(&b[2..4]);
                let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                let q = nibbles(&b[8..24], qh);
                out.extend(q.iter().map(|&q| d * q as f32 + m));
            }
            TensorType::F32 | TensorType::F16 => panic!("{t:?} is not a block format"),
        }
    }
}

/// Writes `input` (an f16 or f32 ggml model) as `output` with its weights in `to`.
///
/// The file is written beside `output` and renamed at the end, so a failure leaves nothing
/// behind; `output` may not be `input`.
pub fn quantize_file(input: &Path, output: &Path, to: FType) -> Result<QuantizeReport, ModelError> {
    if !to.is_quantized() {
        return Err(ModelError::output(
            output,
            format!("cannot be quantised to {}: choose q8_0, q5_1, q5_0 or q4_0", to.name()),
        ));
    }
    let info = ggml::verify(input)?;
    if info.hparams.ftype.is_quantized() {
        return Err(ModelError::input(
            input,
            format!(
                "is already quantised ({}): quantise the f16 model instead (quantising twice adds the errors of both)",
                info.hparams.ftype.name()
            ),
        ));
    }
    if output.is_dir() {
        return Err(ModelError::output(
            output,
            "is a directory; give a file name such as models/ggml-tiny.en-q8_0.bin",
        ));
    }
    if same_file(input, output) {
        return Err(ModelError::output(output, "is the input model: write the quantised model to another file"));
    }
    let kinds: HashMap<String, crate::convert::TensorKind> =
        tensor_plan(&info.hparams).into_iter().map(|t| (t.name, t.kind)).collect();
    let mut src = File::open(input).map_err(|e| ModelError::io(input, e))?;

    let mut out = ModelFile::create(output, ".hark-quantize-")?;
    let w = &mut out.w;
    let out_io = |e| ModelError::io(output, e);
    let in_io = |e| ModelError::io(input, e);

    // Header, mel filters and vocabulary are copied; only the ftype changes.
    let hp = Hparams { ftype: to, ..info.hparams };
    let first = &info.index[0];
    let tensors_start = first.offset - (12 + 4 * first.ne.len() + first.name.len()) as u64;
    ggml::write_header(&mut *w, &hp).map_err(out_io)?;
    const HEADER: u64 = 4 + 11 * 4;
    src.seek(SeekFrom::Start(HEADER)).map_err(in_io)?;
    std::io::copy(&mut (&mut src).take(tensors_start - HEADER), &mut *w).map_err(out_io)?;

    let mut quantized = 0;
    let mut data = Vec::new();
    let mut values = Vec::new();
    let mut packed = Vec::new();
    for t in &info.index {
        let n: usize = t.ne.iter().product();
        data.resize(t.ttype.bytes(n), 0);
        src.seek(SeekFrom::Start(t.offset)).map_err(in_io)?;
        src.read_exact(&mut data).map_err(in_io)?;
        let kind = kinds[&t.name];
        let ty = expected_type(kind, t.ne.len(), to);
        let shape: Vec<usize> = t.ne.iter().rev().copied().collect();
        ggml::write_tensor_header(&mut *w, &t.name, &shape, ty).map_err(out_io)?;
        if ty == t.ttype {
            w.write_all(&data).map_err(out_io)?;
            continue;
        }
        values.clear();
        match t.ttype {
            TensorType::F16 => values.extend(data.chunks_exact(2).map(read_f16)),
            _ => values.extend(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        }
        packed.clear();
        match ty {
            TensorType::F16 => {
                for v in &values {
                    push_f16(&mut packed, *v);
                }
            }
            _ => {
                if !t.ne[0].is_multiple_of(BLOCK) {
                    return Err(ModelError::input(
                        input,
                        format!("has tensor {} with rows of {} values, not whole blocks of {BLOCK}", t.name, t.ne[0]),
                    ));
                }
                quantize_blocks(ty, &values, &mut packed);
                quantized += 1;
            }
        }
        w.write_all(&packed).map_err(out_io)?;
    }
    let (sha256, bytes) = out.finish()?;
    Ok(QuantizeReport {
        output: output.to_path_buf(),
        hparams: hp,
        input_bytes: info.bytes,
        bytes,
        sha256,
        tensors: info.index.len(),
        quantized,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The value of largest magnitude, with its sign (the first one when several tie).
fn signed_absmax(b: &[f32]) -> f32 {
    let mut amax = 0f32;
    let mut max = 0f32;
    for &v in b {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn push_f16(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
}

fn read_f16(b: &[u8]) -> f32 {
    half::f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// Fifth bits of 32 five-bit values: bit `k` is value `k`'s.
fn high_bits(q: &[u8]) -> u32 {
    q.iter().enumerate().fold(0u32, |h, (k, &v)| h | (u32::from(v >> 4 & 1) << k))
}

/// Low nibbles of 32 values: byte `k` holds value `k` low and `k + 16` high.
fn push_nibbles(out: &mut Vec<u8>, q: &[u8]) {
    let half = q.len() / 2;
    out.extend((0..half).map(|k| (q[k] & 0x0f) | (q[k + half] & 0x0f) << 4));
}

/// The 32 values of 16 nibble bytes, with fifth bits from `qh` (0 for the 4-bit type).
fn nibbles(qs: &[u8], qh: u32) -> [u8; BLOCK] {
    let mut q = [0u8; BLOCK];
    for (k, &byte) in qs.iter().enumerate() {
        q[k] = byte & 0x0f | ((qh >> k & 1) as u8) << 4;
        q[k + 16] = byte >> 4 | ((qh >> (k + 16) & 1) as u8) << 4;
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded values like trained weights: mostly small, a few large.
    fn weights(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
                if i % 97 == 0 { u * 0.8 } else { u * 0.05 }
            })
            .collect()
    }

    /// Largest error each format allows in a block: half a step where the grid is symmetric
    /// around the values, a whole step for the types whose top level is clipped (the value of
    /// largest magnitude maps to −8/−16, its opposite can need +8/+16 and gets +7/+15), plus
    /// the f16 rounding of the scale.
    fn bound(t: TensorType, block: &[f32]) -> f32 {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let min = block.iter().fold(f32::MAX, |m, v| m.min(*v));
        let max = block.iter().fold(f32::MIN, |m, v| m.max(*v));
        let f16_slack = amax * 2e-3 + 1e-7;
        match t {
            TensorType::Q8_0 => amax / 127.0 * 0.5 + f16_slack,
            TensorType::Q5_1 => (max - min) / 31.0 * 0.5 + f16_slack,
            TensorType::Q5_0 => amax / 16.0 + f16_slack,
            TensorType::Q4_0 => amax / 8.0 + f16_slack,
            _ => unreachable!(),
        }
    }

    const TYPES: [TensorType; 4] = [TensorType::Q8_0, TensorType::Q5_1, TensorType::Q5_0, TensorType::Q4_0];

    #[test]
    fn every_format_round_trips_within_its_error_bound() {
        for t in TYPES {
            let x = weights(BLOCK * 300, 7);
            let mut packed = Vec::new();
            quantize_blocks(t, &x, &mut packed);
            assert_eq!(packed.len(), t.bytes(x.len()), "{t:?} block size");
            let mut y = Vec::new();
            dequantize_blocks(t, &packed, &mut y);
            assert_eq!(y.len(), x.len());
            let mut worst = 0f32;
            for (xb, yb) in x.chunks(BLOCK).zip(y.chunks(BLOCK)) {
                let b = bound(t, xb);
                for (a, q) in xb.iter().zip(yb) {
                    assert!((a - q).abs() <= b, "{t:?}: {a} came back as {q} (bound {b})");
                    worst = worst.max((a - q).abs() / b);
                }
            }
            // The bound is tight: some value uses at least a third of it.
            assert!(worst > 0.3, "{t:?}: largest error only {worst} of the bound");
        }
    }

    #[test]
    fn more_bits_mean_smaller_errors() {
        let x = weights(BLOCK * 500, 11);
        let rms = |t: TensorType| {
            let mut p = Vec::new();
            quantize_blocks(t, &x, &mut p);
            let mut y = Vec::new();
            dequantize_blocks(t, &p, &mut y);
            (x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / x.len() as f32).sqrt()
        };
        let (q8, q51, q50, q4) =
            (rms(TensorType::Q8_0), rms(TensorType::Q5_1), rms(TensorType::Q5_0), rms(TensorType::Q4_0));
        assert!(q8 < q51 && q51 < q4 && q50 < q4, "rms errors q8_0 {q8} q5_1 {q51} q5_0 {q50} q4_0 {q4}");
        assert!(q8 * 8.0 < q4, "q8_0 {q8} should be far below q4_0 {q4}");
    }

    #[test]
    fn blocks_are_laid_out_as_ggml_reads_them() {
        // Values k/16 - 1 for k = 0..32: the largest magnitude is -1 (k = 0).
        let x: Vec<f32> = (0..32).map(|k| k as f32 / 16.0 - 1.0).collect();
        let mut p = Vec::new();
        quantize_blocks(TensorType::Q4_0, &x, &mut p);
        assert_eq!(read_f16(&p[0..2]), 0.125, "d = -1 / -8");
        // Value 0 (-1.0) is level 0, value 16 (0.0) is level 8: byte 0 = 0 | 8 << 4.
        assert_eq!(p[2], 0x80);
        // Value 15 (-0.0625 → -0.5 + 8.5 = 8) and value 31 (0.9375 → 7.5 + 8.5 = 16, clipped to 15).
        assert_eq!(p[17], 0xf8);

        let mut p = Vec::new();
        quantize_blocks(TensorType::Q5_0, &x, &mut p);
        assert_eq!(read_f16(&p[0..2]), 0.0625, "d = -1 / -16");
        let qh = u32::from_le_bytes([p[2], p[3], p[4], p[5]]);
        // Levels k + 0 for the first half stay under 16 (k < 16); the second half is ≥ 16.
        assert_eq!(qh, 0xffff_0000);

        let mut p = Vec::new();
        quantize_blocks(TensorType::Q8_0, &x, &mut p);
        assert_eq!(p.len(), 34);
        assert_eq!(p[2] as i8, -127);
        assert_eq!(p[2 + 16] as i8, 0);

        let mut p = Vec::new();
        quantize_blocks(TensorType::Q5_1, &x, &mut p);
        assert_eq!(read_f16(&p[2..4]), -1.0, "m is the block's minimum");
        let mut y = Vec::new();
        dequantize_blocks(TensorType::Q5_1, &p, &mut y);
        assert_eq!(y[0], -1.0);
    }

    #[test]
    fn a_block_of_zeros_stays_zero() {
        for t in TYPES {
            let mut p = Vec::new();
            quantize_blocks(t, &[0.0; BLOCK], &mut p);
            let mut y = Vec::new();
            dequantize_blocks(t, &p, &mut y);
            assert!(y.iter().all(|v| *v == 0.0), "{t:?}: {y:?}");
        }
    }
}
