//! CTranslate2 (faster-whisper) → whisper.cpp ggml conversion.
//!
//! Follows `shared/docs/whisper-model-formats.md`: an fp16 CTranslate2 model converts to a file
//! byte-identical to the official ggml file; int8/int16 inputs are dequantized first.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ct2::{Ct2Model, DType, Variable};
use crate::ggml::{self, FType, Hparams, TensorType};
use crate::vocab;
use crate::{ModelError, mel};

/// What a conversion produced.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub output: PathBuf,
    pub hparams: Hparams,
    pub bytes: u64,
    pub sha256: String,
    pub tensors: usize,
}

/// Converts the CTranslate2 Whisper model in `dir` to a ggml file at `output`.
///
/// The file is written to a temporary file beside `output` and renamed at the end, so a failure
/// never leaves a partial file behind.
pub fn import_ct2(dir: &Path, output: &Path, ftype: FType) -> Result<ImportReport, ModelError> {
    if ftype.is_quantized() {
        return Err(ModelError::output(
            output,
            format!("cannot be written as {} by import: import to f16, then `hark model quantize`", ftype.name()),
        ));
    }
    if dir.is_file() {
        if ggml::has_ggml_magic(dir) {
            return Err(ModelError::input(
                dir,
                "is already a whisper.cpp ggml model: use it directly (--model), or check it with `hark model verify`",
            ));
        }
        return Err(ModelError::input(
            dir,
            "is a file: give the CTranslate2 (faster-whisper) model directory that holds model.bin and vocabulary.txt",
        ));
    }
    if let Ok(files) = crate::ct2::model_files(dir)
        && files.len() == 1
        && ggml::has_ggml_magic(&files[0])
    {
        return Err(ModelError::input(
            &files[0],
            "is a whisper.cpp ggml model, not a CTranslate2 one: use it directly (--model), or check it with `hark model verify`",
        ));
    }
    let mut model = Ct2Model::open_dir(dir)?;
    let tokens = vocab::read_ct2_vocabulary(dir)?;
    let hp = hparams(&mut model, ftype)?;
    if tokens.len() != hp.n_vocab as usize {
        return Err(ModelError::input(
            dir,
            format!(
                "has a vocabulary of {} tokens but the model's embedding has {} rows: the vocabulary belongs to another model",
                tokens.len(),
                hp.n_vocab
            ),
        ));
    }
    let vocab_block = vocab::ggml_vocab_block(&tokens, dir)?;

    if output.is_dir() {
        return Err(ModelError::output(output, "is a directory; give a file name such as models/ggml-tiny.en.bin"));
    }
    let mut out = ModelFile::create(output, ".hark-import-")?;
    let w = &mut out.w;

    let io = |e| ModelError::io(output, e);
    ggml::write_header(&mut *w, &hp).map_err(io)?;
    w.write_all(&mel::filter_block(hp.n_mels as usize)).map_err(io)?;
    w.write_all(&vocab_block).map_err(io)?;
    let plan = tensor_plan(&hp);
    for t in &plan {
        write_tensor(&mut model, w, t, ftype, output)?;
    }
    let (digest, bytes) = out.finish()?;
    Ok(ImportReport { output: output.to_path_buf(), hparams: hp, bytes, sha256: digest, tensors: plan.len() })
}

fn hparams(model: &mut Ct2Model, ftype: FType) -> Result<Hparams, ModelError> {
    let dims = |m: &Ct2Model, name: &str, rank: usize| -> Result<Vec<usize>, ModelError> {
        let v = m.require(name)?;
        if v.dims.len() != rank {
            return Err(ModelError::input(
                &m.path,
                format!("has {name:?} of shape {:?}; expected {rank} dimensions", v.dims),
            ));
        }
        Ok(v.dims.clone())
    };
    let emb = dims(model, "decoder/embeddings/weight", 2)?;
    let enc_pos = dims(model, "encoder/position_encodings/encodings", 2)?;
    let dec_pos = dims(model, "decoder/position_encodings/encodings", 2)?;
    let conv1 = dims(model, "encoder/conv1/weight", 3)?;
    let n_layers = |m: &Ct2Model, prefix: &str| {
        (0..).take_while(|i| m.get(&format!("{prefix}/layer_{i}/ffn/linear_0/weight")).is_some()).count()
    };
    let hp = Hparams {
        n_vocab: emb[0] as i32,
        n_audio_ctx: enc_pos[0] as i32,
        n_audio_state: conv1[0] as i32,
        n_audio_head: model.scalar_int("encoder/num_heads")? as i32,
        n_audio_layer: n_layers(model, "encoder") as i32,
        n_text_ctx: dec_pos[0] as i32,
        n_text_state: emb[1] as i32,
        n_text_head: model.scalar_int("decoder/num_heads")? as i32,
        n_text_layer: n_layers(model, "decoder") as i32,
        n_mels: conv1[1] as i32,
        ftype,
    };
    if hp.n_audio_state != hp.n_text_state {
        return Err(ModelError::input(
            &model.path,
            format!(
                "has encoder width {} but decoder width {}; whisper.cpp needs them equal",
                hp.n_audio_state, hp.n_text_state
            ),
        ));
    }
    if hp.n_audio_layer == 0 || hp.n_text_layer == 0 || hp.n_audio_head <= 0 || hp.n_text_head <= 0 {
        return Err(ModelError::input(&model.path, "has no encoder or decoder layers: not a usable Whisper model"));
    }
    if hp.n_vocab < vocab::GGML_VOCAB_TOKENS as i32 {
        return Err(ModelError::input(
            &model.path,
            format!("has only {} vocabulary rows; Whisper needs at least {}", hp.n_vocab, vocab::GGML_VOCAB_TOKENS),
        ));
    }
    Ok(hp)
}

/// One tensor to write: its ggml name and PyTorch-order shape, and where its data comes from.
#[derive(Debug, Clone)]
pub struct PlannedTensor {
    pub name: String,
    /// PyTorch/numpy order (outermost first); written reversed.
    pub shape: Vec<usize>,
    pub kind: TensorKind,
    pub source: String,
    /// Rows of the source taken (a Q/K/V slice of a fused matrix), all rows when `None`.
    pub rows: Option<Range<usize>>,
}

/// Whether a tensor follows the model's ftype (big weights) or is always f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    Weight,
    AlwaysF32,
}

/// The official tensor list, in the official order (§4, §7 of the format spec).
pub fn tensor_plan(hp: &Hparams) -> Vec<PlannedTensor> {
    let n = hp.n_audio_state as usize;
    let m = hp.n_mels as usize;
    let mut out = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, kind, source: String, rows: Option<Range<usize>>| {
        out.push(PlannedTensor { name, shape, kind, source, rows });
    };
    use TensorKind::{AlwaysF32 as F32, Weight as W};
    add(
        "decoder.positional_embedding".into(),
        vec![hp.n_text_ctx as usize, n],
        F32,
        "decoder/position_encodings/encodings".into(),
        None,
    );
    add(
        "encoder.positional_embedding".into(),
        vec![hp.n_audio_ctx as usize, n],
        F32,
        "encoder/position_encodings/encodings".into(),
        None,
    );
    add(
        "decoder.token_embedding.weight".into(),
        vec![hp.n_vocab as usize, n],
        W,
        "decoder/embeddings/weight".into(),
        None,
    );

    let block = |add: &mut dyn FnMut(String, Vec<usize>, TensorKind, String, Option<Range<usize>>),
                 b: String,
                 p: String,
                 cross: bool| {
        add(format!("{b}.mlp_ln.weight"), vec![n], F32, format!("{p}/ffn/layer_norm/gamma"), None);
        add(format!("{b}.mlp_ln.bias"), vec![n], F32, format!("{p}/ffn/layer_norm/beta"), None);
        add(format!("{b}.mlp.0.weight"), vec![4 * n, n], W, format!("{p}/ffn/linear_0/weight"), None);
        add(format!("{b}.mlp.0.bias"), vec![4 * n], F32, format!("{p}/ffn/linear_0/bias"), None);
        add(format!("{b}.mlp.2.weight"), vec![n, 4 * n], W, format!("{p}/ffn/linear_1/weight"), None);
        add(format!("{b}.mlp.2.bias"), vec![n], F32, format!("{p}/ffn/linear_1/bias"), None);
        add(format!("{b}.attn_ln.weight"), vec![n], F32, format!("{p}/self_attention/layer_norm/gamma"), None);
        add(format!("{b}.attn_ln.bias"), vec![n], F32, format!("{p}/self_attention/layer_norm/beta"), None);
        let qkv = format!("{p}/self_attention/linear_0");
        add(format!("{b}.attn.query.weight"), vec![n, n], W, format!("{qkv}/weight"), Some(0..n));
        add(format!("{b}.attn.query.bias"), vec![n], F32, format!("{qkv}/bias"), Some(0..n));
        add(format!("{b}.attn.key.weight"), vec![n, n], W, format!("{qkv}/weight"), Some(n..2 * n));
        add(format!("{b}.attn.value.weight"), vec![n, n], W, format!("{qkv}/weight"), Some(2 * n..3 * n));
        add(format!("{b}.attn.value.bias"), vec![n], F32, format!("{qkv}/bias"), Some(2 * n..3 * n));
        add(format!("{b}.attn.out.weight"), vec![n, n], W, format!("{p}/self_attention/linear_1/weight"), None);
        add(format!("{b}.attn.out.bias"), vec![n], F32, format!("{p}/self_attention/linear_1/bias"), None);
        if cross {
            add(format!("{b}.cross_attn_ln.weight"), vec![n], F32, format!("{p}/attention/layer_norm/gamma"), None);
            add(format!("{b}.cross_attn_ln.bias"), vec![n], F32, format!("{p}/attention/layer_norm/beta"), None);
            add(format!("{b}.cross_attn.query.weight"), vec![n, n], W, format!("{p}/attention/linear_0/weight"), None);
            add(format!("{b}.cross_attn.query.bias"), vec![n], F32, format!("{p}/attention/linear_0/bias"), None);
            let kv = format!("{p}/attention/linear_1");
            add(format!("{b}.cross_attn.key.weight"), vec![n, n], W, format!("{kv}/weight"), Some(0..n));
            add(format!("{b}.cross_attn.value.weight"), vec![n, n], W, format!("{kv}/weight"), Some(n..2 * n));
            add(format!("{b}.cross_attn.value.bias"), vec![n], F32, format!("{kv}/bias"), Some(n..2 * n));
            add(format!("{b}.cross_attn.out.weight"), vec![n, n], W, format!("{p}/attention/linear_2/weight"), None);
            add(format!("{b}.cross_attn.out.bias"), vec![n], F32, format!("{p}/attention/linear_2/bias"), None);
        }
    };
    for i in 0..hp.n_text_layer {
        block(&mut add, format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"), true);
    }
    add("decoder.ln.weight".into(), vec![n], F32, "decoder/layer_norm/gamma".into(), None);
    add("decoder.ln.bias".into(), vec![n], F32, "decoder/layer_norm/beta".into(), None);
    add("encoder.conv1.weight".into(), vec![n, m, 3], W, "encoder/conv1/weight".into(), None);
    add("encoder.conv1.bias".into(), vec![n, 1], F32, "encoder/conv1/bias".into(), None);
    add("encoder.conv2.weight".into(), vec![n, n, 3], W, "encoder/conv2/weight".into(), None);
    add("encoder.conv2.bias".into(), vec![n, 1], F32, "encoder/conv2/bias".into(), None);
    for i in 0..hp.n_audio_layer {
        block(&mut add, format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"), false);
    }
    add("encoder.ln_post.weight".into(), vec![n], F32, "encoder/layer_norm/gamma".into(), None);
    add("encoder.ln_post.bias".into(), vec![n], F32, "encoder/layer_norm/beta".into(), None);
    out
}

/// How a quantized variable's values are scaled back to floats.
enum Scale {
    None,
    PerRow(Vec<f32>),
    Scalar(f32),
}

fn write_tensor(
    model: &mut Ct2Model,
    w: &mut impl Write,
    t: &PlannedTensor,
    ftype: FType,
    out_path: &Path,
) -> Result<(), ModelError> {
    let var = model.require(&t.source)?.clone();
    let rows = t.rows.clone().unwrap_or(0..var.rows());
    let out_elems: usize = t.shape.iter().product();
    let row_len = var.row_len();
    if rows.end > var.rows() || rows.len() * row_len != out_elems {
        return Err(ModelError::input(
            &model.path,
            format!(
                "has {:?} of shape {:?}, which does not fit ggml tensor {} of shape {:?}",
                t.source, var.dims, t.name, t.shape
            ),
        ));
    }
    let ttype = match (t.kind, ftype) {
        (TensorKind::Weight, FType::F16) => TensorType::F16,
        _ => TensorType::F32,
    };
    ggml::write_tensor_header(w, &t.name, &t.shape, ttype).map_err(|e| ModelError::io(out_path, e))?;
    let scale = read_scale(model, &t.source, &var)?;
    // Convert a block of rows at a time so memory stays bounded by the block, not the tensor.
    let block_rows = ((1usize << 22) / (row_len * var.dtype.size()).max(1)).max(1);
    let mut r = rows.start;
    while r < rows.end {
        let end = (r + block_rows).min(rows.end);
        let esz = var.dtype.size() as u64;
        let bytes = model.read_bytes(&var, (r * row_len) as u64 * esz, ((end - r) * row_len) as u64 * esz)?;
        convert_rows(&bytes, var.dtype, &scale, r, row_len, ttype, w).map_err(|e| match e {
            ConvertError::Io(e) => ModelError::io(out_path, e),
            ConvertError::Unsupported(d) => ModelError::input(
                &model.path,
                format!("stores {:?} as {d:?} without a scale; cannot convert it to floats", t.source),
            ),
        })?;
        r = end;
    }
    Ok(())
}

fn read_scale(model: &mut Ct2Model, name: &str, var: &Variable) -> Result<Scale, ModelError> {
    if model.get(&format!("{name}_zero")).is_some() {
        return Err(ModelError::input(
            &model.path,
            format!("has {name}_zero (AWQ zero points), which Whisper models never use"),
        ));
    }
    let Some(sv) = model.get(&format!("{name}_scale")).cloned() else {
        return Ok(Scale::None);
    };
    if sv.dtype != DType::F32 {
        return Err(ModelError::input(&model.path, format!("has {name}_scale of type {:?}; expected f32", sv.dtype)));
    }
    let raw = model.read_bytes(&sv, 0, sv.num_bytes)?;
    let vals: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    match (var.dtype, vals.len()) {
        (DType::I16, 1) => Ok(Scale::Scalar(vals[0])),
        (_, n) if n == var.rows() => Ok(Scale::PerRow(vals)),
        (_, 1) => Ok(Scale::Scalar(vals[0])),
        (_, n) => {
            Err(ModelError::input(&model.path, format!("has {name}_scale with {n} values for {} rows", var.rows())))
        }
    }
}

enum ConvertError {
    Io(std::io::Error),
    Unsupported(DType),
}

/// Converts `bytes` (whole rows, the first being `first_row`) to `out` and writes them.
fn convert_rows(
    bytes: &[u8],
    dtype: DType,
    scale: &Scale,
    first_row: usize,
    row_len: usize,
    out: TensorType,
    w: &mut impl Write,
) -> Result<(), ConvertError> {
    let io = ConvertError::Io;
    let unscaled = matches!(scale, Scale::None);
    match (dtype, out) {
        (DType::F16, TensorType::F16) | (DType::F32, TensorType::F32) if unscaled => {
            return w.write_all(bytes).map_err(io);
        }
        _ => {}
    }
    let row_len = row_len.max(1);
    let value = |i: usize| -> Result<f32, ConvertError> {
        let s = match scale {
            Scale::None => 1.0,
            Scale::Scalar(s) => *s,
            Scale::PerRow(v) => v[first_row + i / row_len],
        };
        let x = match dtype {
            DType::F32 => f32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]),
            DType::F16 => half::f16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
            DType::Bf16 => half::bf16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
            DType::I8 if !unscaled => return Ok(bytes[i] as i8 as f32 / s),
            DType::I16 if !unscaled => {
                return Ok(i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]) as f32 / s);
            }
            d => return Err(ConvertError::Unsupported(d)),
        };
        Ok(if unscaled { x } else { x / s })
    };
    let n = bytes.len() / dtype.size();
    let mut buf = Vec::with_capacity(out.bytes(n));
    // Import writes floats only (quantising is `quantize`'s job, from the f16 file).
    debug_assert!(matches!(out, TensorType::F32 | TensorType::F16));
    let f16 = out == TensorType::F16;
    for i in 0..n {
        let x = value(i)?;
        if f16 {
            buf.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
        } else {
            buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    w.write_all(&buf).map_err(io)
}

/// A model file being written: a temporary file beside the output, hashed as it is written and
/// renamed onto the output by [`ModelFile::finish`], so a failure never leaves a partial file.
pub(crate) struct ModelFile {
    pub w: HashingWriter<BufWriter<File>>,
    tmp: tempfile::NamedTempFile,
    output: PathBuf,
}

impl ModelFile {
    pub fn create(output: &Path, prefix: &str) -> Result<Self, ModelError> {
        let out_dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&out_dir).map_err(|e| ModelError::io(&out_dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".tmp")
            .tempfile_in(&out_dir)
            .map_err(|e| ModelError::io(&out_dir, e))?;
        let file = tmp.as_file().try_clone().map_err(|e| ModelError::io(&out_dir, e))?;
        Ok(Self { w: HashingWriter::new(BufWriter::with_capacity(1 << 20, file)), tmp, output: output.to_path_buf() })
    }

    /// Syncs and renames the file onto the output; returns its sha256 and size.
    pub fn finish(self) -> Result<(String, u64), ModelError> {
        let output = self.output;
        let (inner, digest, bytes) = self.w.finish();
        let file = inner.into_inner().map_err(|e| ModelError::io(&output, e.into_error()))?;
        file.sync_all().map_err(|e| ModelError::io(&output, e))?;
        drop(file);
        self.tmp.persist(&output).map_err(|e| ModelError::io(&output, e.error))?;
        Ok((digest, bytes))
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Returns the inner writer, the hex sha256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
