//! Small synthetic CTranslate2 Whisper models for tests: the real layout and file format with a
//! tiny width, so every conversion rule can be checked on values with known answers.

use std::io::Write;
use std::path::Path;

/// How to store the big weights of the synthetic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightStorage {
    F16,
    F32,
    /// int8 with a per-row f32 scale (`int8_float16`: biases stay f16).
    Int8,
    /// int16 with a scalar f32 scale.
    Int16,
}

/// Options for [`write_model`].
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// d_model.
    pub n: usize,
    pub layers: usize,
    pub multilingual: bool,
    pub storage: WeightStorage,
    pub spec_name: String,
    /// Vocabulary rows written to vocabulary.txt (default: the embedding rows).
    pub vocab_len: Option<usize>,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            n: 4,
            layers: 1,
            multilingual: false,
            storage: WeightStorage::F16,
            spec_name: "WhisperSpec".into(),
            vocab_len: None,
        }
    }
}

impl SynthOptions {
    pub fn n_vocab(&self) -> usize {
        if self.multilingual { 51865 } else { 51864 }
    }
}

/// The value stored at element `i` of variable `name`: distinct per variable and position, and
/// exactly representable in f16 (multiples of 1/64 below 32).
pub fn value(name: &str, i: usize) -> f32 {
    let h = name.bytes().fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    (((h as usize + i * 13) % 2048) as f32 - 1024.0) / 64.0
}

struct Var {
    name: String,
    dims: Vec<usize>,
    dtype: u8,
    data: Vec<u8>,
}

fn float_var(name: &str, dims: &[usize], f16: bool) -> Var {
    let count: usize = dims.iter().product();
    let mut data = Vec::new();
    for i in 0..count {
        let v = value(name, i);
        if f16 {
            data.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
        } else {
            data.extend_from_slice(&v.to_le_bytes());
        }
    }
    Var { name: name.into(), dims: dims.to_vec(), dtype: if f16 { 4 } else { 0 }, data }
}

/// The quantized form of a weight: returns the weight and its scale variable.
fn quantized(name: &str, dims: &[usize], storage: WeightStorage) -> [Var; 2] {
    let rows = dims[0];
    let row_len: usize = dims[1..].iter().product();
    match storage {
        WeightStorage::Int8 => {
            let mut q = Vec::new();
            let mut scales = Vec::new();
            for r in 0..rows {
                let row: Vec<f32> = (0..row_len).map(|c| value(name, r * row_len + c)).collect();
                let amax = row.iter().fold(0f32, |a, &b| a.max(b.abs())).max(1e-6);
                let scale = 127.0 / amax;
                scales.extend_from_slice(&scale.to_le_bytes());
                q.extend(row.iter().map(|&x| (x * scale).round_ties_even() as i8 as u8));
            }
            [
                Var { name: name.into(), dims: dims.to_vec(), dtype: 1, data: q },
                Var { name: format!("{name}_scale"), dims: vec![rows], dtype: 0, data: scales },
            ]
        }
        WeightStorage::Int16 => {
            let count = rows * row_len;
            let amax = (0..count).fold(0f32, |a, i| a.max(value(name, i).abs())).max(1e-6);
            let scale = 32767.0 / amax;
            let mut q = Vec::new();
            for i in 0..count {
                q.extend_from_slice(&((value(name, i) * scale).round_ties_even() as i16).to_le_bytes());
            }
            [
                Var { name: name.into(), dims: dims.to_vec(), dtype: 2, data: q },
                Var { name: format!("{name}_scale"), dims: vec![], dtype: 0, data: scale.to_le_bytes().to_vec() },
            ]
        }
        _ => unreachable!("not a quantized storage"),
    }
}

/// Token `i` of the synthetic vocabulary, in byte-level unicode form.
pub fn token(i: usize, multilingual: bool) -> String {
    match i {
        0 => "!".into(),
        1 => "Ġ".into(), // a space
        2 => "Ċ".into(), // a newline
        3 => "Ġthe".into(),
        4 => "åľº".into(), // e5 9c ba
        50256 if multilingual => String::new(),
        50256 => "<|endoftext|>".into(),
        _ => format!("t{i}"),
    }
}

/// Writes `model.bin` and `vocabulary.txt` of a synthetic Whisper model into `dir`.
pub fn write_model(dir: &Path, opt: &SynthOptions) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let n = opt.n;
    let v = opt.n_vocab();
    let mut vars: Vec<Var> = Vec::new();
    let big = |vars: &mut Vec<Var>, name: &str, dims: &[usize]| match opt.storage {
        WeightStorage::F16 => vars.push(float_var(name, dims, true)),
        WeightStorage::F32 => vars.push(float_var(name, dims, false)),
        s => vars.extend(quantized(name, dims, s)),
    };
    let small_f16 = opt.storage != WeightStorage::F32;
    let small = |vars: &mut Vec<Var>, name: &str, dims: &[usize]| vars.push(float_var(name, dims, small_f16));
    big(&mut vars, "encoder/conv1/weight", &[n, 80, 3]);
    small(&mut vars, "encoder/conv1/bias", &[n]);
    big(&mut vars, "encoder/conv2/weight", &[n, n, 3]);
    small(&mut vars, "encoder/conv2/bias", &[n]);
    small(&mut vars, "encoder/position_encodings/encodings", &[1500, n]);
    small(&mut vars, "decoder/position_encodings/encodings", &[448, n]);
    big(&mut vars, "decoder/embeddings/weight", &[v, n]);
    for side in ["encoder", "decoder"] {
        small(&mut vars, &format!("{side}/layer_norm/gamma"), &[n]);
        small(&mut vars, &format!("{side}/layer_norm/beta"), &[n]);
        for l in 0..opt.layers {
            let p = format!("{side}/layer_{l}");
            let mut attn = vec![("self_attention", vec![3 * n, n, n])];
            if side == "decoder" {
                attn.push(("attention", vec![n, 2 * n, n]));
            }
            for (a, outs) in attn {
                small(&mut vars, &format!("{p}/{a}/layer_norm/gamma"), &[n]);
                small(&mut vars, &format!("{p}/{a}/layer_norm/beta"), &[n]);
                for (k, rows) in outs.iter().enumerate() {
                    big(&mut vars, &format!("{p}/{a}/linear_{k}/weight"), &[*rows, n]);
                    small(&mut vars, &format!("{p}/{a}/linear_{k}/bias"), &[*rows]);
                }
            }
            small(&mut vars, &format!("{p}/ffn/layer_norm/gamma"), &[n]);
            small(&mut vars, &format!("{p}/ffn/layer_norm/beta"), &[n]);
            big(&mut vars, &format!("{p}/ffn/linear_0/weight"), &[4 * n, n]);
            small(&mut vars, &format!("{p}/ffn/linear_0/bias"), &[4 * n]);
            big(&mut vars, &format!("{p}/ffn/linear_1/weight"), &[n, 4 * n]);
            small(&mut vars, &format!("{p}/ffn/linear_1/bias"), &[n]);
        }
    }
    let heads = 2i16.to_le_bytes().to_vec();
    vars.push(Var { name: "encoder/num_heads".into(), dims: vec![], dtype: 2, data: heads.clone() });
    vars.push(Var { name: "decoder/num_heads".into(), dims: vec![], dtype: 2, data: heads });
    vars.push(Var { name: "decoder/activation".into(), dims: vec![], dtype: 1, data: vec![3] });
    vars.sort_by(|a, b| a.name.cmp(&b.name));

    let mut out = Vec::new();
    out.extend_from_slice(&6u32.to_le_bytes());
    put_str(&mut out, &opt.spec_name);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    for var in &vars {
        put_str(&mut out, &var.name);
        out.push(var.dims.len() as u8);
        for d in &var.dims {
            out.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        out.push(var.dtype);
        out.extend_from_slice(&(var.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&var.data);
    }
    out.extend_from_slice(&1u32.to_le_bytes());
    put_str(&mut out, "decoder/projection/weight");
    put_str(&mut out, "decoder/embeddings/weight");
    std::fs::write(dir.join("model.bin"), out)?;

    let mut vocab = std::fs::File::create(dir.join("vocabulary.txt"))?;
    for i in 0..opt.vocab_len.unwrap_or(v) {
        writeln!(vocab, "{}", token(i, opt.multilingual))?;
    }
    Ok(())
}

/// Appends a CTranslate2 string: u16 length including the NUL, bytes, NUL.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}
