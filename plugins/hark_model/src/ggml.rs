//! The whisper.cpp legacy ggml model format: writing headers, and verifying a file without
//! loading whisper.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use crate::ModelError;
use crate::convert::{TensorKind, tensor_plan};

/// `"ggml"` as a little-endian u32 (bytes `lmgg` on disk).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// ggml's quantisation format version (`GGML_QNT_VERSION`), stored in a quantised file's ftype
/// as `ftype + 1000 × version`; version 2 is the block layout written and read here.
pub const QNT_VERSION: i32 = 2;
const QNT_VERSION_FACTOR: i32 = 1000;

/// Element type of the big weights (whisper.cpp's `ftype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FType {
    /// Everything f32 (ftype 0).
    F32,
    /// Linear/conv weights and the token embedding f16, the rest f32 (ftype 1).
    F16,
    /// Linear weights and the token embedding in 4-bit blocks with one f16 scale (ftype 2).
    Q4_0,
    /// 5-bit blocks with one f16 scale (ftype 8).
    Q5_0,
    /// 5-bit blocks with an f16 scale and minimum (ftype 9).
    Q5_1,
    /// 8-bit blocks with one f16 scale (ftype 7).
    Q8_0,
}

impl FType {
    /// The quantised types, most precise first.
    pub const QUANTIZED: [FType; 4] = [FType::Q8_0, FType::Q5_1, FType::Q5_0, FType::Q4_0];

    /// ggml's `ggml_ftype` number.
    pub fn id(self) -> i32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q8_0 => 7,
            Self::Q5_0 => 8,
            Self::Q5_1 => 9,
        }
    }

    /// The number stored in the file's header (quantised types carry the format version).
    pub fn file_id(self) -> i32 {
        if self.is_quantized() { self.id() + QNT_VERSION * QNT_VERSION_FACTOR } else { self.id() }
    }

    pub fn is_quantized(self) -> bool {
        !matches!(self, Self::F32 | Self::F16)
    }

    /// The type of the linear weights and the token embedding.
    pub fn weight_type(self) -> TensorType {
        match self {
            Self::F32 => TensorType::F32,
            Self::F16 => TensorType::F16,
            Self::Q4_0 => TensorType::Q4_0,
            Self::Q5_0 => TensorType::Q5_0,
            Self::Q5_1 => TensorType::Q5_1,
            Self::Q8_0 => TensorType::Q8_0,
        }
    }

    /// The lower-case name used on the command line and in file names (`q8_0`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q4_0 => "q4_0",
            Self::Q5_0 => "q5_0",
            Self::Q5_1 => "q5_1",
            Self::Q8_0 => "q8_0",
        }
    }

    /// Parses a name as written by [`FType::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::F32, Self::F16, Self::Q4_0, Self::Q5_0, Self::Q5_1, Self::Q8_0]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

/// Type of one tensor in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32,
    F16,
    Q4_0,
    Q5_0,
    Q5_1,
    Q8_0,
}

impl TensorType {
    /// ggml's `ggml_type` number.
    pub fn id(self) -> i32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
        }
    }

    pub fn from_id(id: i32) -> Option<Self> {
        [Self::F32, Self::F16, Self::Q4_0, Self::Q5_0, Self::Q5_1, Self::Q8_0].into_iter().find(|t| t.id() == id)
    }

    /// Values per block and bytes per block (a block of one for the float types).
    pub fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q8_0 => (32, 34),
        }
    }

    /// Bytes of `n` values (`n` a whole number of blocks).
    pub fn bytes(self, n: usize) -> usize {
        let (values, bytes) = self.block();
        n / values * bytes
    }
}

/// Model hyper-parameters as whisper.cpp stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: FType,
}

impl Hparams {
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }

    /// whisper.cpp's name for the size, from the layer count.
    pub fn size_name(&self) -> &'static str {
        match self.n_audio_layer {
            4 => "tiny",
            6 => "base",
            12 => "small",
            24 => "medium",
            32 => "large",
            _ => "unknown",
        }
    }
}

pub fn write_header(w: &mut impl Write, hp: &Hparams) -> io::Result<()> {
    w.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
        hp.ftype.file_id(),
    ] {
        w.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

/// Writes a tensor header; `shape` is in PyTorch order and is written reversed.
pub fn write_tensor_header(w: &mut impl Write, name: &str, shape: &[usize], ttype: TensorType) -> io::Result<()> {
    w.write_all(&(shape.len() as i32).to_le_bytes())?;
    w.write_all(&(name.len() as i32).to_le_bytes())?;
    w.write_all(&ttype.id().to_le_bytes())?;
    for &d in shape.iter().rev() {
        w.write_all(&(d as i32).to_le_bytes())?;
    }
    w.write_all(name.as_bytes())
}

/// True when `path` is a file starting with the ggml magic.
pub fn has_ggml_magic(path: &Path) -> bool {
    let mut b = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut b)).is_ok() && u32::from_le_bytes(b) == GGML_MAGIC
}

/// What `verify` found in a ggml file.
#[derive(Debug, Clone)]
pub struct GgmlInfo {
    pub hparams: Hparams,
    pub n_tokens: usize,
    pub tensors: usize,
    pub bytes: u64,
    /// Number of f16 tensors.
    pub f16_tensors: usize,
    /// Number of tensors in a quantised block format.
    pub quantized_tensors: usize,
    /// Every tensor, in file order.
    pub index: Vec<TensorEntry>,
}

/// One tensor of a ggml file.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub name: String,
    /// ggml order (fastest dimension first).
    pub ne: Vec<usize>,
    pub ttype: TensorType,
    /// Byte offset of the data.
    pub offset: u64,
}

/// Checks header, hparams, mel filters, vocabulary and the whole tensor table of a ggml file
/// against what whisper.cpp expects, without loading whisper.
pub fn verify(path: &Path) -> Result<GgmlInfo, ModelError> {
    let f = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let len = f.metadata().map_err(|e| ModelError::io(path, e))?.len();
    let mut r = Reader { r: BufReader::with_capacity(1 << 16, f), pos: 0, len, path };
    let magic = r.u32("the magic number")?;
    if magic != GGML_MAGIC {
        let hint = if magic <= crate::ct2::MAX_BINARY_VERSION {
            " (it looks like a CTranslate2 model.bin: convert its directory with `hark model import`)"
        } else {
            ""
        };
        return Err(ModelError::input(path, format!("is not a whisper.cpp ggml model: bad magic {magic:#010x}{hint}")));
    }
    let mut v = [0i32; 11];
    for (i, x) in v.iter_mut().enumerate() {
        *x = r.i32(&format!("hparam {i}"))?;
    }
    let ftype = parse_ftype(v[10]).map_err(|msg| ModelError::input(path, msg))?;
    let hp = Hparams {
        n_vocab: v[0],
        n_audio_ctx: v[1],
        n_audio_state: v[2],
        n_audio_head: v[3],
        n_audio_layer: v[4],
        n_text_ctx: v[5],
        n_text_state: v[6],
        n_text_head: v[7],
        n_text_layer: v[8],
        n_mels: v[9],
        ftype,
    };
    let sane = hp.n_vocab > 0
        && hp.n_vocab < 1_000_000
        && (1..=4096).contains(&hp.n_audio_ctx)
        && (1..=8192).contains(&hp.n_audio_state)
        && hp.n_audio_head > 0
        && (1..=256).contains(&hp.n_audio_layer)
        && (1..=4096).contains(&hp.n_text_ctx)
        && hp.n_text_state == hp.n_audio_state
        && hp.n_text_head > 0
        && (1..=256).contains(&hp.n_text_layer)
        && (1..=512).contains(&hp.n_mels);
    if !sane {
        return Err(ModelError::input(path, format!("has implausible hyper-parameters {hp:?}")));
    }
    let n_mel = r.i32("the mel filter count")?;
    let n_fft = r.i32("the mel filter width")?;
    if n_mel != hp.n_mels || n_fft != 201 {
        return Err(ModelError::input(
            path,
            format!("has a {n_mel}×{n_fft} mel filterbank; expected {}×201", hp.n_mels),
        ));
    }
    r.skip(n_mel as u64 * n_fft as u64 * 4, "the mel filterbank")?;
    let n_tokens = r.i32("the vocabulary size")?;
    if n_tokens < 0 || n_tokens > hp.n_vocab {
        return Err(ModelError::input(
            path,
            format!("has {n_tokens} vocabulary entries for {} embedding rows", hp.n_vocab),
        ));
    }
    for i in 0..n_tokens {
        let l = r.u32(&format!("token {i}"))?;
        if l > 1024 {
            return Err(ModelError::input(path, format!("is corrupt: token {i} claims {l} bytes")));
        }
        r.skip(l as u64, &format!("token {i}"))?;
    }
    let mut expected: HashMap<String, (Vec<usize>, TensorType)> = tensor_plan(&hp)
        .into_iter()
        .map(|t| {
            let ty = expected_type(t.kind, t.shape.len(), ftype);
            (t.name, (t.shape.into_iter().rev().collect(), ty))
        })
        .collect();
    let total = expected.len();
    let mut f16_tensors = 0;
    let mut quantized_tensors = 0;
    let mut index = Vec::with_capacity(total);
    while r.pos < len {
        let n_dims = r.i32("a tensor header")?;
        let name_len = r.i32("a tensor header")?;
        let ttype = r.i32("a tensor header")?;
        if !(0..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(ModelError::input(path, format!("is corrupt: bad tensor header at byte {}", r.pos - 12)));
        }
        let mut ne = Vec::new();
        for _ in 0..n_dims {
            ne.push(r.i32("a tensor shape")? as usize);
        }
        let mut name = vec![0u8; name_len as usize];
        r.read(&mut name, "a tensor name")?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some((shape, ty)) = expected.remove(&name) else {
            return Err(ModelError::input(path, format!("has an unknown or repeated tensor {name:?}")));
        };
        if ne != shape {
            return Err(ModelError::input(path, format!("has tensor {name} of shape {ne:?}; expected {shape:?}")));
        }
        if ttype != ty.id() {
            return Err(ModelError::input(path, format!("has tensor {name} of type {ttype}; expected {}", ty.id())));
        }
        match ty {
            TensorType::F16 => f16_tensors += 1,
            TensorType::F32 => {}
            _ => quantized_tensors += 1,
        }
        let bytes = ty.bytes(ne.iter().product::<usize>()) as u64;
        index.push(TensorEntry { name, ne, ttype: ty, offset: r.pos });
        let name = &index[index.len() - 1].name;
        r.skip(bytes, &format!("the data of tensor {name}"))?;
    }
    if !expected.is_empty() {
        let mut missing: Vec<_> = expected.into_keys().collect();
        missing.sort();
        return Err(ModelError::input(
            path,
            format!("is incomplete: {} of {total} tensors missing (first: {})", missing.len(), missing[0]),
        ));
    }
    Ok(GgmlInfo {
        hparams: hp,
        n_tokens: n_tokens as usize,
        tensors: total,
        bytes: len,
        f16_tensors,
        quantized_tensors,
        index,
    })
}

/// The ftype in a file's header: the float types, or a quantised type of ggml's current block
/// layout (older layouts stored their scales differently and would load as garbage).
fn parse_ftype(v: i32) -> Result<FType, String> {
    let version = v / QNT_VERSION_FACTOR;
    let t = match v % QNT_VERSION_FACTOR {
        0 => FType::F32,
        1 => FType::F16,
        2 => FType::Q4_0,
        7 => FType::Q8_0,
        8 => FType::Q5_0,
        9 => FType::Q5_1,
        t => {
            return Err(format!(
                "has ftype {t}, a weight type whisper.cpp models do not use (f32, f16, q4_0, q5_0, q5_1, q8_0)"
            ));
        }
    };
    if t.is_quantized() && version != QNT_VERSION {
        return Err(format!(
            "is quantised ({}) in ggml's format version {version}, not {QNT_VERSION}: quantise the f16 model again with `hark model quantize`",
            t.name()
        ));
    }
    if !t.is_quantized() && version != 0 {
        return Err(format!("has an invalid ftype {v}"));
    }
    Ok(t)
}

/// The type whisper.cpp expects for a tensor in a file of `ftype`: the linear weights and the
/// token embedding (2-D `Weight`s) follow the ftype, the convolutions stay f16 in quantised
/// files, and the rest (biases, norms, positional embeddings) is f32.
pub fn expected_type(kind: TensorKind, dims: usize, ftype: FType) -> TensorType {
    match kind {
        TensorKind::AlwaysF32 => TensorType::F32,
        TensorKind::Weight if ftype.is_quantized() && dims != 2 => TensorType::F16,
        TensorKind::Weight => ftype.weight_type(),
    }
}

struct Reader<'a> {
    r: BufReader<File>,
    pos: u64,
    len: u64,
    path: &'a Path,
}

impl Reader<'_> {
    fn read(&mut self, buf: &mut [u8], what: &str) -> Result<(), ModelError> {
        self.r.read_exact(buf).map_err(|_| {
            ModelError::input(
                self.path,
                format!("is truncated: ran out of data reading {what} at byte {} of {}", self.pos, self.len),
            )
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let mut b = [0u8; 4];
        self.read(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn i32(&mut self, what: &str) -> Result<i32, ModelError> {
        Ok(self.u32(what)? as i32)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ModelError> {
        if self.pos + n > self.len {
            return Err(ModelError::input(
                self.path,
                format!("is truncated: {what} needs {n} bytes at byte {} but the file has {}", self.pos, self.len),
            ));
        }
        self.r.seek_relative(n as i64).map_err(|e| ModelError::io(self.path, e))?;
        self.pos += n;
        Ok(())
    }
}
