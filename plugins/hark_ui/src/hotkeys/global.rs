//! Global hotkeys (the window need not have focus) through the `global-hotkey` crate on X11.
//!
//! The crate's event handler runs on its own thread: it forwards each event over a channel and
//! wakes the (possibly idle) winit loop, so a hotkey acts at once even when the window sleeps.

use std::str::FromStr;

use bevy::prelude::*;
use bevy::winit::{EventLoopProxyWrapper, WinitUserEvent};
use crossbeam_channel::Receiver;
use global_hotkey::hotkey::{Code, HotKey, Modifiers};
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};
use hark_capture::CaptureRequest;

use super::{Hotkeys, KeyCombo};
use crate::Notice;

/// The global hotkey for a parsed key (Bevy's key codes and the crate's share the W3C names).
pub fn global_hotkey(combo: KeyCombo) -> Result<HotKey, String> {
    let code = Code::from_str(&format!("{:?}", combo.key)).map_err(|_| format!("{:?} has no global key", combo.key))?;
    let mut mods = Modifiers::empty();
    mods.set(Modifiers::CONTROL, combo.ctrl);
    mods.set(Modifiers::SHIFT, combo.shift);
    mods.set(Modifiers::ALT, combo.alt);
    mods.set(Modifiers::META, combo.logo);
    Ok(HotKey::new(Some(mods).filter(|m| !m.is_empty()), code))
}

/// The registered hotkeys (the manager must stay alive on the main thread).
pub struct GlobalKeys {
    _manager: GlobalHotKeyManager,
    toggle: Option<u32>,
    push_to_talk: Option<u32>,
    recall: Option<u32>,
}

/// Events from the hotkey thread.
#[derive(Resource)]
pub struct GlobalKeyEvents(Receiver<GlobalHotKeyEvent>);

/// Registers the settings' hotkeys globally. Without an X display nothing would ever fire, so
/// the studio says global hotkeys are unavailable instead.
pub fn register(world: &mut World) {
    if std::env::var_os("DISPLAY").is_none() {
        world.resource_mut::<Notice>().set("global hotkeys are unavailable (no X11 display)".into());
        return;
    }
    let manager = match GlobalHotKeyManager::new() {
        Ok(m) => m,
        Err(e) => {
            world.resource_mut::<Notice>().set(format!("global hotkeys are unavailable: {e}"));
            return;
        }
    };
    let hk = world.resource::<Hotkeys>().clone();
    let mut problems = Vec::new();
    let mut reg = |combo: Option<KeyCombo>| -> Option<u32> {
        let combo = combo?;
        let key = global_hotkey(combo).map_err(|e| problems.push(e)).ok()?;
        manager.register(key).map_err(|e| problems.push(format!("{:?}: {e}", combo.key))).ok()?;
        Some(key.id())
    };
    let keys = GlobalKeys {
        toggle: reg(hk.toggle),
        push_to_talk: reg(hk.push_to_talk),
        recall: reg(hk.recall),
        _manager: manager,
    };
    if !problems.is_empty() {
        world
            .resource_mut::<Notice>()
            .set(format!("some global hotkeys could not be registered ({})", problems.join("; ")));
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let proxy = world.get_resource::<EventLoopProxyWrapper>().map(|p| (**p).clone());
    GlobalHotKeyEvent::set_event_handler(Some(move |e: GlobalHotKeyEvent| {
        let _ = tx.send(e);
        if let Some(p) = &proxy {
            let _ = p.send_event(WinitUserEvent::WakeUp);
        }
    }));
    world.insert_non_send(keys);
    world.insert_resource(GlobalKeyEvents(rx));
    let names = &world.resource::<crate::UiSettings>().settings.hotkeys;
    println!("global hotkeys ready: {}, {}, {}", names.toggle, names.push_to_talk, names.recall);
}

/// Turns global hotkey events into capture requests.
pub fn poll(
    keys: Option<NonSend<GlobalKeys>>,
    events: Option<Res<GlobalKeyEvents>>,
    mut req: MessageWriter<CaptureRequest>,
) {
    let (Some(keys), Some(events)) = (keys, events) else { return };
    for e in events.0.try_iter() {
        let pressed = e.state() == HotKeyState::Pressed;
        let id = Some(e.id());
        if id == keys.toggle && pressed {
            req.write(CaptureRequest::Toggle);
        } else if id == keys.recall && pressed {
            req.write(CaptureRequest::Recall);
        } else if id == keys.push_to_talk {
            req.write(if pressed { CaptureRequest::Start } else { CaptureRequest::Stop });
        }
    }
}
