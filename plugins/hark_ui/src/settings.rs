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
    /// The model last picked in the window (its path); empty for the default model.
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
    /// The side panels as the person left them (shown or hidden, dragged widths).
    pub panels: Panels,
}

/// Where the person left the window's two side panels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Panels {
    /// Controls and sessions.
    pub left: PanelPlace,
    /// The transcript.
    pub right: PanelPlace,
}

/// One side panel: whether it shows, and the width it was dragged to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PanelPlace {
    pub shown: bool,
    /// Logical pixels; `None` until dragged (the width then follows the window's).
    pub width: Option<f32>,
}

impl Default for PanelPlace {
    fn default() -> Self {
        Self { shown: true, width: None }
    }
}

/// Panel widths a settings file may hold (logical pixels).
pub const PANEL_WIDTHS: std::ops::RangeInclusive<f32> = 100.0..=4000.0;

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: SETTINGS_VERSION,
            input_device: None,
            output_device: None,
            model: String::new(),
            vad_threshold: 0.5,
            hotkeys: Hotkeys::default(),
            recall_seconds: 0,
            recall_asked: false,
            type_into_focused: false,
            panels: Panels::default(),
        }
    }
}

/// How much the recall buffer keeps when it is turned on from the window.
pub const RECALL_SECONDS: u32 = 30;

/// The most a settings file may ask the recall buffer to keep (10 min: 38 MB of audio).
pub const MAX_RECALL_SECONDS: u32 = 600;

/// The VAD thresholds the window offers.
pub const VAD_THRESHOLDS: std::ops::RangeInclusive<f32> = 0.05..=0.95;

impl Settings {
    /// Values a hand-edited file can hold that the app cannot use (a NaN threshold would hear
    /// no speech at all; an hour of recall would hold hundreds of MB) are replaced: by the
    /// nearest usable value, or the default. Returns what was replaced.
    pub fn sanitize(&mut self) -> Vec<String> {
        let mut fixed = Vec::new();
        let t = self.vad_threshold;
        if !VAD_THRESHOLDS.contains(&t) {
            self.vad_threshold = if t.is_finite() {
                t.clamp(*VAD_THRESHOLDS.start(), *VAD_THRESHOLDS.end())
            } else {
                Settings::default().vad_threshold
            };
            fixed.push(format!(
                "vad_threshold {t} is outside {}–{}: using {}",
                VAD_THRESHOLDS.start(),
                VAD_THRESHOLDS.end(),
                self.vad_threshold
            ));
        }
        if self.recall_seconds > MAX_RECALL_SECONDS {
            fixed.push(format!(
                "recall_seconds {} is more than {MAX_RECALL_SECONDS}: using {MAX_RECALL_SECONDS}",
                self.recall_seconds
            ));
            self.recall_seconds = MAX_RECALL_SECONDS;
        }
        for (name, place) in [("left", &mut self.panels.left), ("right", &mut self.panels.right)] {
            if let Some(w) = place.width.filter(|w| !PANEL_WIDTHS.contains(w)) {
                fixed.push(format!("the {name} panel's width {w} is not a usable width: it follows the window"));
                place.width = None;
            }
        }
        fixed
    }
}

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
        Ok(mut s) => {
            let fixed = s.sanitize();
            if fixed.is_empty() {
                Loaded { settings: s, problem: None, writable: true }
            } else {
                Loaded {
                    settings: s,
                    problem: Some(format!(
                        "settings file {}: {} (the file was left as it is)",
                        path.display(),
                        fixed.join("; ")
                    )),
                    writable: false,
                }
            }
        }
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
        assert_eq!(load(&p).settings.model, "");
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

    #[test]
    fn values_the_app_cannot_use_are_replaced_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.ron");
        for (text, threshold, recall, says) in [
            ("(version: 1, vad_threshold: NaN)", 0.5, 0, "vad_threshold NaN"),
            ("(version: 1, vad_threshold: -3.0)", 0.05, 0, "vad_threshold -3"),
            ("(version: 1, vad_threshold: 1e30)", 0.95, 0, "outside 0.05–0.95"),
            ("(version: 1, recall_seconds: 4000000000)", 0.5, MAX_RECALL_SECONDS, "recall_seconds 4000000000"),
        ] {
            std::fs::write(&p, text).unwrap();
            let l = load(&p);
            assert_eq!((l.settings.vad_threshold, l.settings.recall_seconds), (threshold, recall), "{text}");
            let problem = l.problem.unwrap_or_default();
            assert!(problem.contains(says) && problem.contains("settings.ron"), "{text}: {problem}");
            assert!(!l.writable, "{text}: the file is not overwritten");
        }
    }

    #[test]
    fn panels_are_kept_as_left_and_a_width_no_window_can_use_follows_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.ron");
        let mut s = Settings::default();
        assert_eq!(s.panels.left, PanelPlace { shown: true, width: None }, "shown, following the window");
        s.panels.left.width = Some(330.0);
        s.panels.right.shown = false;
        save(&p, &s).unwrap();
        let l = load(&p);
        assert_eq!(l.settings.panels, s.panels);
        assert!(l.problem.is_none() && l.writable);
        for bad in ["-5.0", "NaN", "1e9", "3.0"] {
            std::fs::write(&p, format!("(version: 1, panels: (left: (width: Some({bad}))))")).unwrap();
            let l = load(&p);
            assert_eq!(l.settings.panels.left, PanelPlace { shown: true, width: None }, "{bad}");
            assert!(l.problem.unwrap_or_default().contains("left panel's width"), "{bad}");
        }
    }

    /// Seeded damage to a whole settings file (bytes flipped, cut, replaced, repeated): every
    /// load gives usable settings, and a problem names the file; none panics.
    #[test]
    fn damaged_settings_files_load_as_usable_settings_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.ron");
        let mut full = Settings { input_device: Some("pulseaudio:vmic.monitor".into()), ..Default::default() };
        full.output_device = Some("alsa:default".into());
        save(&p, &full).unwrap();
        let good = std::fs::read(&p).unwrap();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rng = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        let tokens: [&[u8]; 8] = [b"NaN", b"inf", b"-1", b"99999999999", b"\"", b"(", b")", b"\x00\xff"];
        for i in 0..3_000 {
            let mut d = good.clone();
            for _ in 0..1 + rng(3) {
                if d.is_empty() {
                    break;
                }
                let at = rng(d.len());
                match rng(4) {
                    0 => d[at] ^= 1 << rng(8),
                    1 => d.truncate(at),
                    2 => {
                        let t = tokens[rng(tokens.len())];
                        let end = (at + rng(6)).min(d.len());
                        d.splice(at..end, t.iter().copied());
                    }
                    _ => {
                        let n = rng(40).min(d.len() - at);
                        let span = d[at..at + n].to_vec();
                        let to = rng(d.len());
                        d.splice(to..to, span);
                    }
                }
            }
            std::fs::write(&p, &d).unwrap();
            let l = std::panic::catch_unwind(|| load(&p))
                .unwrap_or_else(|_| panic!("#{i} panicked: {:?}", String::from_utf8_lossy(&d)));
            let s = &l.settings;
            assert!(VAD_THRESHOLDS.contains(&s.vad_threshold) && s.recall_seconds <= MAX_RECALL_SECONDS, "#{i}: {s:?}");
            if let Some(problem) = &l.problem {
                assert!(problem.contains("settings.ron") && !l.writable, "#{i}: {problem}");
            }
        }
    }
}
