//! Where Hark keeps its files: the XDG base directories, each overridable (tests give every
//! run its own; a portable install points them elsewhere).

use std::path::PathBuf;

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home_join(rel: &str) -> Option<PathBuf> {
    env_dir("HOME").map(|h| h.join(rel))
}

/// `$XDG_DATA_HOME/hark` (`~/.local/share/hark`).
fn xdg_data() -> PathBuf {
    env_dir("XDG_DATA_HOME").or_else(|| home_join(".local/share")).unwrap_or_else(|| PathBuf::from(".")).join("hark")
}

/// The sessions' directory: `$HARK_DATA_DIR`, else `$XDG_DATA_HOME/hark` (`~/.local/share/hark`).
pub fn data_dir() -> PathBuf {
    env_dir("HARK_DATA_DIR").unwrap_or_else(xdg_data)
}

/// The settings' directory: `$XDG_CONFIG_HOME/hark` (`~/.config/hark`).
pub fn config_dir() -> PathBuf {
    env_dir("XDG_CONFIG_HOME").or_else(|| home_join(".config")).unwrap_or_else(|| PathBuf::from(".")).join("hark")
}

/// Where models are kept: `$HARK_MODELS_DIR`, else `./models` when it exists (a checkout), else
/// `$XDG_DATA_HOME/hark/models` (`~/.local/share/hark/models`).
pub fn models_dir() -> PathBuf {
    if let Some(d) = env_dir("HARK_MODELS_DIR") {
        return d;
    }
    let local = PathBuf::from("models");
    if local.is_dir() {
        return local;
    }
    xdg_data().join("models")
}

/// The calling crate's directory as cargo gives it to the running test or tool, else where it
/// was built. Not `env!` first: every checkout on a machine shares one target directory, and
/// cargo reuses a test binary built in another checkout (same sources, older files), whose
/// compiled-in path may be gone or hold other files.
#[macro_export]
macro_rules! manifest_dir {
    () => {
        ::std::env::var_os("CARGO_MANIFEST_DIR")
            .map(::std::path::PathBuf::from)
            .unwrap_or_else(|| ::std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
    };
}
