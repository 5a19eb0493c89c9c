//! Hotkeys: toggle, push-to-talk and recall, in the window and globally on X11. Key names from
//! the settings file are parsed once, by [`parse_key`], for both.

pub mod global;

use bevy::prelude::*;
use hark_capture::CaptureRequest;

use crate::UiSettings;

/// A key with the modifiers that must be held with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCombo {
    pub key: KeyCode,
    pub ctrl: bool,
    pub shift: bool,
    pub alt: bool,
    pub logo: bool,
}

/// Parses a key name from the settings file: `F1`..`F12`, `Space`, `Pause`, `ScrollLock`,
/// `A`..`Z` or `0`..`9`, optionally after `Ctrl+`, `Shift+`, `Alt+` or `Super+`.
pub fn parse_key(name: &str) -> Result<KeyCombo, String> {
    let mut combo = KeyCombo { key: KeyCode::F1, ctrl: false, shift: false, alt: false, logo: false };
    let mut parts: Vec<&str> = name.split('+').map(str::trim).collect();
    let key = parts.pop().filter(|k| !k.is_empty()).ok_or_else(|| format!("{name:?} names no key"))?;
    for m in parts {
        match m.to_ascii_lowercase().as_str() {
            "ctrl" | "control" => combo.ctrl = true,
            "shift" => combo.shift = true,
            "alt" => combo.alt = true,
            "super" | "logo" | "meta" => combo.logo = true,
            _ => return Err(format!("{name:?}: {m:?} is not a modifier (Ctrl, Shift, Alt, Super)")),
        }
    }
    combo.key = key_code(key).ok_or_else(|| {
        format!("{name:?}: {key:?} is not a key Hark knows (F1–F12, Space, Pause, ScrollLock, A–Z, 0–9)")
    })?;
    Ok(combo)
}

const LETTERS: [KeyCode; 26] = [
    KeyCode::KeyA,
    KeyCode::KeyB,
    KeyCode::KeyC,
    KeyCode::KeyD,
    KeyCode::KeyE,
    KeyCode::KeyF,
    KeyCode::KeyG,
    KeyCode::KeyH,
    KeyCode::KeyI,
    KeyCode::KeyJ,
    KeyCode::KeyK,
    KeyCode::KeyL,
    KeyCode::KeyM,
    KeyCode::KeyN,
    KeyCode::KeyO,
    KeyCode::KeyP,
    KeyCode::KeyQ,
    KeyCode::KeyR,
    KeyCode::KeyS,
    KeyCode::KeyT,
    KeyCode::KeyU,
    KeyCode::KeyV,
    KeyCode::KeyW,
    KeyCode::KeyX,
    KeyCode::KeyY,
    KeyCode::KeyZ,
];

const DIGITS: [KeyCode; 10] = [
    KeyCode::Digit0,
    KeyCode::Digit1,
    KeyCode::Digit2,
    KeyCode::Digit3,
    KeyCode::Digit4,
    KeyCode::Digit5,
    KeyCode::Digit6,
    KeyCode::Digit7,
    KeyCode::Digit8,
    KeyCode::Digit9,
];

const FUNCTION: [KeyCode; 12] = [
    KeyCode::F1,
    KeyCode::F2,
    KeyCode::F3,
    KeyCode::F4,
    KeyCode::F5,
    KeyCode::F6,
    KeyCode::F7,
    KeyCode::F8,
    KeyCode::F9,
    KeyCode::F10,
    KeyCode::F11,
    KeyCode::F12,
];

fn key_code(name: &str) -> Option<KeyCode> {
    let b = name.as_bytes();
    match name {
        "Space" | "space" => Some(KeyCode::Space),
        "Pause" | "pause" => Some(KeyCode::Pause),
        "ScrollLock" => Some(KeyCode::ScrollLock),
        _ if b.len() == 1 && b[0].is_ascii_alphabetic() => Some(LETTERS[(b[0].to_ascii_uppercase() - b'A') as usize]),
        _ if b.len() == 1 && b[0].is_ascii_digit() => Some(DIGITS[(b[0] - b'0') as usize]),
        _ if (name.starts_with('F') || name.starts_with('f')) && name.len() > 1 => {
            let n: usize = name[1..].parse().ok()?;
            (1..=12).contains(&n).then(|| FUNCTION[n - 1])
        }
        _ => None,
    }
}

impl KeyCombo {
    /// Whether the modifiers held now are exactly this combination's.
    fn modifiers_held(&self, keys: &ButtonInput<KeyCode>) -> bool {
        let held = |a, b| keys.pressed(a) || keys.pressed(b);
        held(KeyCode::ControlLeft, KeyCode::ControlRight) == self.ctrl
            && held(KeyCode::ShiftLeft, KeyCode::ShiftRight) == self.shift
            && held(KeyCode::AltLeft, KeyCode::AltRight) == self.alt
            && held(KeyCode::SuperLeft, KeyCode::SuperRight) == self.logo
    }

    fn just_pressed(&self, keys: &ButtonInput<KeyCode>) -> bool {
        keys.just_pressed(self.key) && self.modifiers_held(keys)
    }
}

/// The settings' hotkeys, parsed (a name that does not parse is left out and said once).
#[derive(Resource, Debug, Clone, Default)]
pub struct Hotkeys {
    pub toggle: Option<KeyCombo>,
    pub push_to_talk: Option<KeyCombo>,
    pub recall: Option<KeyCombo>,
    /// Names that could not be parsed, with why.
    pub problems: Vec<String>,
}

impl Hotkeys {
    pub fn from_settings(hk: &crate::settings::Hotkeys) -> Self {
        let mut problems = Vec::new();
        let mut parse = |name: &str| parse_key(name).map_err(|e| problems.push(e)).ok();
        let (toggle, push_to_talk, recall) = (parse(&hk.toggle), parse(&hk.push_to_talk), parse(&hk.recall));
        Self { toggle, push_to_talk, recall, problems }
    }
}

/// In-window and global hotkeys turned into [`CaptureRequest`]s.
#[derive(Debug, Default)]
pub struct HotkeysPlugin;

impl Plugin for HotkeysPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Hotkeys>().add_systems(Startup, (parse_settings, global::register).chain()).add_systems(
            Update,
            (window_keys.run_if(resource_exists::<ButtonInput<KeyCode>>), global::poll)
                .in_set(hark_core::PipelineSystems::Control)
                .before(hark_capture::control::handle_requests),
        );
    }
}

fn parse_settings(settings: Res<UiSettings>, mut keys: ResMut<Hotkeys>, mut notice: ResMut<crate::Notice>) {
    *keys = Hotkeys::from_settings(&settings.settings.hotkeys);
    if !keys.problems.is_empty() {
        notice.set(format!("hotkeys left out: {}", keys.problems.join("; ")));
    }
}

fn window_keys(keys: Res<ButtonInput<KeyCode>>, hotkeys: Res<Hotkeys>, mut req: MessageWriter<CaptureRequest>) {
    if hotkeys.toggle.is_some_and(|k| k.just_pressed(&keys)) {
        req.write(CaptureRequest::Toggle);
    }
    if hotkeys.recall.is_some_and(|k| k.just_pressed(&keys)) {
        req.write(CaptureRequest::Recall);
    }
    if let Some(k) = hotkeys.push_to_talk {
        if k.just_pressed(&keys) {
            req.write(CaptureRequest::Start);
        }
        if keys.just_released(k.key) {
            req.write(CaptureRequest::Stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_parse_with_modifiers_and_bad_names_say_why() {
        assert_eq!(parse_key("F9").map(|k| k.key), Ok(KeyCode::F9));
        assert_eq!(parse_key("f12").map(|k| k.key), Ok(KeyCode::F12));
        assert_eq!(parse_key("r").map(|k| k.key), Ok(KeyCode::KeyR));
        assert_eq!(parse_key("7").map(|k| k.key), Ok(KeyCode::Digit7));
        let c = parse_key("Ctrl+Shift+Space").unwrap();
        assert_eq!((c.key, c.ctrl, c.shift, c.alt, c.logo), (KeyCode::Space, true, true, false, false));
        assert!(parse_key("F13").unwrap_err().contains("F13"));
        assert!(parse_key("Hyper+F1").unwrap_err().contains("not a modifier"));
        assert!(parse_key("Ctrl+").unwrap_err().contains("names no key"));
    }

    #[test]
    fn a_hotkey_fires_only_with_its_own_modifiers() {
        let mut app = App::new();
        app.add_message::<CaptureRequest>()
            .init_resource::<ButtonInput<KeyCode>>()
            .insert_resource(Hotkeys {
                toggle: parse_key("Ctrl+F9").ok(),
                push_to_talk: parse_key("F8").ok(),
                recall: None,
                problems: vec![],
            })
            .add_systems(Update, window_keys);
        let press = |app: &mut App, keys: &[KeyCode]| -> Vec<CaptureRequest> {
            {
                let mut input = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
                input.reset_all();
                input.clear();
                for &k in keys {
                    input.press(k);
                }
            }
            app.update();
            let msgs = app.world().resource::<Messages<CaptureRequest>>();
            msgs.iter_current_update_messages().copied().collect()
        };
        assert_eq!(press(&mut app, &[KeyCode::F9]), vec![], "F9 alone is not Ctrl+F9");
        assert_eq!(press(&mut app, &[KeyCode::ControlLeft, KeyCode::F9]), vec![CaptureRequest::Toggle]);
        assert_eq!(press(&mut app, &[KeyCode::F8]), vec![CaptureRequest::Start]);
    }
}
