//! User settings in a versioned RON file in the XDG config directory. An invalid file is
//! reported (with line and column) and defaults are used; the file is never overwritten then.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The settings file's format version.
pub const SETTINGS_VERSION: u32 = 1;

/// Key names as written in the settings file: `F1`..`F12`, `Space`, `Pause`, `ScrollLock`,
/// `A`..`Z`, `0`..`9`, optionally after `Ctrl+`, `Shift+`, `Alt+`, `Super+` (see
/// [`crate::hotkeys::parse_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hotkeys {
    /// Press to start, press again to stop.
    pub toggle: String,
    /// Hold to capture, release to stop.
    pub push_to_talk: String,
    /// Transcribe what was said in the last `recall_seconds`.
    pub recall: String,
}

impl Default for Hotkeys {
    fn default() -> Self {
        Self { toggle: "F9".into(), push_to_talk: "F8".into(), recall: "F10".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub version: u32,
    /// Input device id (`host:id`); `None` is the system default.
    pub input_device: Option<String>,
    /// Output device replay plays through (`host:id`); `None` is the system default.
    pub output_device: Option<String>,
    /// Model name or path.
    pub model: String,
    /// VAD threshold (lower = more sensitive).
    pub vad_threshold: f32,
    pub hotkeys: Hotkeys,
    /// Seconds of microphone audio always kept for "transcribe what I just said" (0 turns the
    /// always-on buffer off). Off until the person turns it on: a microphone that listens in the
    /// background is their choice, not ours.
    pub recall_seconds: u32,
    /// Whether the person has been asked about the recall buffer (the window asks once).
    pub recall_asked: bool,
    /// Type each final utterance of a live capture into the focused application (X11).
    pub type_into_focused: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: SETTINGS_VERSION,
            input_device: None,
            output_device: None,
            model: "tiny.en".into(),
            vad_threshold: 0.5,
            hotkeys: Hotkeys::default(),
            recall_seconds: 0,
            recall_asked: false,
            type_into_focused: false,
        }
    }
}

/// How much the recall buffer keeps when it is turned on from the window.
pub const RECALL_SECONDS: u32 = 30;

/// `$XDG_CONFIG_HOME/hark/settings.ron` (or `~/.config/hark/settings.ron`).
pub fn default_path() -> PathBuf {
    hark_core::paths::config_dir().join("settings.ron")
}

/// The loaded settings and, when the file could not be used, why (for the status line).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub problem: Option<String>,
    /// Whether saving may write the file (false after a problem: never overwrite it).
    pub writable: bool,
}

pub fn load(path: &Path) -> Loaded {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Loaded { settings: Settings::default(), problem: None, writable: true };
        }
        Err(e) => {
            return Loaded {
                settings: Settings::default(),
                problem: Some(format!("settings file {} cannot be read ({e}); using defaults", path.display())),
                writable: false,
            };
        }
    };
    match ron::from_str::<Settings>(&text) {
        Ok(s) if s.version > SETTINGS_VERSION => Loaded {
            problem: Some(format!(
                "settings file {} is version {} (this Hark knows {SETTINGS_VERSION}); using defaults and leaving it as it is",
                path.display(),
                s.version
            )),
            settings: Settings::default(),
            writable: false,
        },
        Ok(s) => Loaded { settings: s, problem: None, writable: true },
        Err(e) => Loaded {
            settings: Settings::default(),
            problem: Some(format!(
                "settings file {} line {}, column {}: {}; using defaults (the file was left as it is)",
                path.display(),
                e.span.start.line,
                e.span.start.col,
                e.code
            )),
            writable: false,
        },
    }
}

/// Writes the settings atomically (temporary file + rename).
pub fn save(path: &Path, s: &Settings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = ron::ser::to_string_pretty(s, ron::ser::PrettyConfig::default()).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("ron.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_missing_and_invalid_files() {
        let d = std::env::temp_dir().join(format!("hark-settings-{}", std::process::id()));
        let p = d.join("settings.ron");
        let _ = std::fs::remove_dir_all(&d);
        let l = load(&p);
        assert!(l.problem.is_none() && l.writable && l.settings == Settings::default());
        // A first start listens to nothing in the background until the person says so.
        assert_eq!((l.settings.recall_seconds, l.settings.recall_asked), (0, false));
        let mut s = Settings { vad_threshold: 0.35, ..Default::default() };
        s.hotkeys.toggle = "F7".into();
        save(&p, &s).unwrap();
        assert_eq!(load(&p).settings, s);
        // A partial file fills in defaults.
        std::fs::write(&p, "(version: 1, vad_threshold: 0.4)").unwrap();
        assert_eq!(load(&p).settings.vad_threshold, 0.4);
        assert_eq!(load(&p).settings.model, "tiny.en");
        // Broken on line 2: reported with its position, defaults used, file kept.
        let bad = "(version: 1,\n  vad_threshold: \"loud\")";
        std::fs::write(&p, bad).unwrap();
        let l = load(&p);
        let msg = l.problem.unwrap();
        assert!(msg.contains("line 2") && msg.contains("settings.ron"), "{msg}");
        assert!(!l.writable);
        assert_eq!(l.settings, Settings::default());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), bad);
        let _ = std::fs::remove_dir_all(&d);
    }
}
