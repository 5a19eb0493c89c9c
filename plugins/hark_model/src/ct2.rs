//! Reader for CTranslate2 `model.bin` files (binary versions 1–6).
//!
//! The reader walks the file once and records where each variable's bytes are, without keeping
//! them: tensors are read later, one at a time, so converting a model needs memory for the largest
//! tensor only. A model may be split into `model.bin.part1`, `model.bin.part2`, … (as some packages
//! ship it); [`PartedFile`] joins the parts transparently.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::ModelError;

/// Highest CTranslate2 binary version this reader understands.
pub const MAX_BINARY_VERSION: u32 = 6;

/// Element type of a CTranslate2 variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    fn from_item_size(size: u8) -> Option<Self> {
        Some(match size {
            4 => Self::F32,
            2 => Self::I16,
            1 => Self::I8,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// Where one variable's data lies in the file.
#[derive(Clone, Debug)]
pub struct Variable {
    pub dtype: DType,
    pub dims: Vec<usize>,
    /// Absolute byte offset of the data.
    pub offset: u64,
    pub num_bytes: u64,
}

impl Variable {
    pub fn num_elements(&self) -> usize {
        self.dims.iter().product()
    }

    /// Rows of a matrix-like variable (the outermost dimension; 1 for scalars).
    pub fn rows(&self) -> usize {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.dims.iter().skip(1).product()
    }
}

/// The parsed index of a CTranslate2 model file.
#[derive(Debug)]
pub struct Ct2Model {
    pub path: PathBuf,
    pub binary_version: u32,
    pub spec_name: String,
    pub spec_revision: u32,
    pub variables: HashMap<String, Variable>,
    /// alias name → target name
    pub aliases: HashMap<String, String>,
    file: PartedFile,
}

/// One or more files read as if they were concatenated.
#[derive(Debug)]
pub struct PartedFile {
    parts: Vec<(File, u64)>,
    pos: u64,
    len: u64,
}

impl PartedFile {
    pub fn open(paths: &[PathBuf]) -> io::Result<Self> {
        let mut parts = Vec::with_capacity(paths.len());
        let mut len = 0;
        for p in paths {
            let f = File::open(p)?;
            let l = f.metadata()?.len();
            len += l;
            parts.push((f, l));
        }
        Ok(Self { parts, pos: 0, len })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for PartedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut start = 0u64;
        for (f, l) in &mut self.parts {
            if self.pos < start + *l {
                let within = self.pos - start;
                f.seek(SeekFrom::Start(within))?;
                let max = ((*l - within) as usize).min(buf.len());
                let n = f.read(&mut buf[..max])?;
                self.pos += n as u64;
                return Ok(n);
            }
            start += *l;
        }
        Ok(0)
    }
}

impl Seek for PartedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if new < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before start"));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}

/// Finds the weight file(s) of a CTranslate2 directory: `model.bin`, or `model.bin.part1`,
/// `model.bin.part2`, … in order.
pub fn model_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    if !dir.exists() {
        return Err(ModelError::input(dir, "does not exist"));
    }
    if !dir.is_dir() {
        return Err(ModelError::input(
            dir,
            "is not a directory: give the CTranslate2 (faster-whisper) model directory that holds model.bin and vocabulary.txt",
        ));
    }
    let single = dir.join("model.bin");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut parts = Vec::new();
    for i in 1.. {
        let p = dir.join(format!("model.bin.part{i}"));
        if !p.is_file() {
            break;
        }
        parts.push(p);
    }
    if parts.is_empty() {
        return Err(ModelError::input(
            dir,
            "holds no model.bin (nor model.bin.part1, part2, …): is this a CTranslate2 model directory?",
        ));
    }
    Ok(parts)
}

struct Cursor<'a> {
    r: &'a mut BufReader<PartedFile>,
    pos: u64,
    len: u64,
    path: &'a Path,
}

impl Cursor<'_> {
    fn truncated(&self, what: &str) -> ModelError {
        ModelError::input(
            self.path,
            format!("is truncated or corrupt: ran out of data reading {what} at byte {} of {}", self.pos, self.len),
        )
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ModelError> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(|_| self.truncated(what))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.bytes::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(self.bytes(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.bytes(what)?))
    }

    /// `u16 len; u8 bytes[len]` where the last byte is a NUL that is not part of the text.
    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let len = self.u16(what)? as usize;
        if len == 0 {
            return Err(ModelError::input(
                self.path,
                format!("is corrupt: {what} at byte {} has length 0 (no NUL terminator)", self.pos),
            ));
        }
        let mut b = vec![0u8; len];
        self.r.read_exact(&mut b).map_err(|_| self.truncated(what))?;
        self.pos += len as u64;
        if b.pop() != Some(0) {
            return Err(ModelError::input(
                self.path,
                format!("is corrupt: {what} ending at byte {} is not NUL-terminated", self.pos),
            ));
        }
        String::from_utf8(b).map_err(|_| ModelError::input(self.path, format!("is corrupt: {what} is not UTF-8")))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ModelError> {
        if self.pos + n > self.len {
            return Err(self.truncated(what));
        }
        self.r.seek_relative(n as i64).map_err(|e| ModelError::io(self.path, e))?;
        self.pos += n;
        Ok(())
    }
}

impl Ct2Model {
    /// Parses the index of the model in `dir` (see [`model_files`]).
    pub fn open_dir(dir: &Path) -> Result<Self, ModelError> {
        let files = model_files(dir)?;
        let path = files[0].clone();
        let file = PartedFile::open(&files).map_err(|e| ModelError::io(&path, e))?;
        Self::parse(path, file)
    }

    fn parse(path: PathBuf, file: PartedFile) -> Result<Self, ModelError> {
        let len = file.len();
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut c = Cursor { r: &mut reader, pos: 0, len, path: &path };
        let binary_version = c.u32("the binary version")?;
        if binary_version == 0 || binary_version > MAX_BINARY_VERSION {
            return Err(ModelError::input(
                &path,
                format!(
                    "is not a CTranslate2 model this version of Hark can read (binary version {binary_version}, supported 1..={MAX_BINARY_VERSION})"
                ),
            ));
        }
        let (spec_name, spec_revision) = if binary_version >= 2 {
            (c.string("the spec name")?, c.u32("the spec revision")?)
        } else {
            (String::new(), 0)
        };
        if spec_name != "WhisperSpec" {
            return Err(ModelError::input(
                &path,
                format!("is a CTranslate2 model of spec {spec_name:?}, not a Whisper model (expected \"WhisperSpec\")"),
            ));
        }
        let count = c.u32("the variable count")?;
        let mut variables = HashMap::with_capacity(count as usize);
        for i in 0..count {
            let what = format!("variable {i} of {count}");
            let name = c.string(&what)?;
            let rank = c.u8(&what)?;
            let mut dims = Vec::with_capacity(rank as usize);
            for _ in 0..rank {
                dims.push(c.u32(&what)? as usize);
            }
            let elements: u64 = dims.iter().map(|&d| d as u64).product();
            let (dtype, num_bytes) = if binary_version >= 4 {
                let id = c.u8(&what)?;
                let dtype = DType::from_id(id).ok_or_else(|| {
                    ModelError::input(&path, format!("is corrupt: variable {name:?} has unknown dtype {id}"))
                })?;
                (dtype, c.u32(&what)? as u64)
            } else {
                let size = c.u8(&what)?;
                let dtype = DType::from_item_size(size).ok_or_else(|| {
                    ModelError::input(&path, format!("is corrupt: variable {name:?} has item size {size}"))
                })?;
                (dtype, c.u32(&what)? as u64 * size as u64)
            };
            if num_bytes != elements * dtype.size() as u64 {
                return Err(ModelError::input(
                    &path,
                    format!("is corrupt: variable {name:?} with shape {dims:?} ({dtype:?}) claims {num_bytes} bytes"),
                ));
            }
            let offset = c.pos;
            c.skip(num_bytes, &format!("the data of {name:?}"))?;
            variables.insert(name, Variable { dtype, dims, offset, num_bytes });
        }
        let mut aliases = HashMap::new();
        if binary_version >= 3 {
            let n = c.u32("the alias count")?;
            for _ in 0..n {
                let alias = c.string("an alias name")?;
                let target = c.string("an alias target")?;
                aliases.insert(alias, target);
            }
        }
        if c.pos != len {
            return Err(ModelError::input(
                &path,
                format!("is corrupt: {} unexpected bytes after the last record", len - c.pos),
            ));
        }
        let file = reader.into_inner();
        Ok(Self { path, binary_version, spec_name, spec_revision, variables, aliases, file })
    }

    /// Looks a variable up by name, following aliases (also for `<alias>_scale`).
    pub fn get(&self, name: &str) -> Option<&Variable> {
        if let Some(v) = self.variables.get(name) {
            return Some(v);
        }
        if let Some(t) = self.aliases.get(name) {
            return self.variables.get(t);
        }
        let base = name.strip_suffix("_scale")?;
        let t = self.aliases.get(base)?;
        self.variables.get(&format!("{t}_scale"))
    }

    /// Like [`Self::get`] but an error naming the file when missing.
    pub fn require(&self, name: &str) -> Result<&Variable, ModelError> {
        self.get(name).ok_or_else(|| ModelError::input(&self.path, format!("is missing the Whisper variable {name:?}")))
    }

    /// Reads the raw bytes of `len` bytes starting `skip` bytes into the variable.
    pub fn read_bytes(&mut self, var: &Variable, skip: u64, len: u64) -> Result<Vec<u8>, ModelError> {
        let mut buf = vec![0u8; len as usize];
        self.file
            .seek(SeekFrom::Start(var.offset + skip))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| ModelError::io(&self.path, e))?;
        Ok(buf)
    }

    /// Reads a scalar integer (any integer or float dtype) such as `encoder/num_heads`.
    pub fn scalar_int(&mut self, name: &str) -> Result<i64, ModelError> {
        let v = self.require(name)?.clone();
        if v.num_elements() != 1 {
            return Err(ModelError::input(
                &self.path,
                format!("has {name:?} with shape {:?}; expected a scalar", v.dims),
            ));
        }
        let b = self.read_bytes(&v, 0, v.num_bytes)?;
        Ok(match v.dtype {
            DType::I8 => b[0] as i8 as i64,
            DType::I16 => i16::from_le_bytes([b[0], b[1]]) as i64,
            DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32() as i64,
            DType::Bf16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32() as i64,
        })
    }
}
