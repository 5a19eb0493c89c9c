//! Whisper models for Hark: the catalogue of known ggml models, download with checksum,
//! conversion from CTranslate2 (faster-whisper) directories, quantisation into ggml's block
//! formats, and verification of ggml files.
//!
//! Nothing here loads whisper.cpp; the crate is pure Rust and builds in seconds.

pub mod catalog;
pub mod convert;
pub mod ct2;
pub mod fetch;
pub mod ggml;
pub mod mel;
pub mod quantize;
pub mod synth;
pub mod vocab;

use std::path::{Path, PathBuf};

pub use catalog::{KNOWN_MODELS, KnownModel, find_known, resolve_model};
pub use convert::{ImportReport, import_ct2, sha256_file};
pub use ggml::{FType, GgmlInfo, Hparams, verify};
pub use quantize::{QuantizeReport, quantize_file};

/// Everything that can go wrong with a model file, always naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The input is missing, malformed or of the wrong kind.
    #[error("{} {msg}", path.display())]
    Input { path: PathBuf, msg: String },
    /// The output cannot be written where asked.
    #[error("{} {msg}", path.display())]
    Output { path: PathBuf, msg: String },
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A download failed.
    #[error("{0}")]
    Network(String),
    /// A downloaded or existing file does not match the catalogue.
    #[error("{} {msg}", path.display())]
    Checksum { path: PathBuf, msg: String },
}

impl ModelError {
    pub fn input(path: &Path, msg: impl Into<String>) -> Self {
        Self::Input { path: path.to_path_buf(), msg: msg.into() }
    }

    pub fn output(path: &Path, msg: impl Into<String>) -> Self {
        Self::Output { path: path.to_path_buf(), msg: msg.into() }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
