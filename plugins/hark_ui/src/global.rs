//! Global hotkeys (the window need not have focus) through the `global-hotkey` crate on X11.
//!
//! The crate's event handler runs on its own thread: it forwards each event over a channel and
//! wakes the (possibly idle) winit loop, so a hotkey acts at once even when the window sleeps.

use std::str::FromStr;

use bevy::prelude::*;
use bevy::winit::{EventLoopProxyWrapper, WinitUserEvent};
use crossbeam_channel::Receiver;
use global_hotkey::hotkey::HotKey;
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};

use crate::{CaptureRequest, Studio};

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
        world.resource_mut::<Studio>().notice = Some("global hotkeys are unavailable (no X11 display)".into());
        return;
    }
    let manager = match GlobalHotKeyManager::new() {
        Ok(m) => m,
        Err(e) => {
            world.resource_mut::<Studio>().notice = Some(format!("global hotkeys are unavailable: {e}"));
            return;
        }
    };
    let hk = world.resource::<Studio>().settings.hotkeys.clone();
    let mut problems = Vec::new();
    let mut reg = |name: &str| -> Option<u32> {
        let key = HotKey::from_str(name).map_err(|e| problems.push(format!("{name}: {e}"))).ok()?;
        manager.register(key).map_err(|e| problems.push(format!("{name}: {e}"))).ok()?;
        Some(key.id())
    };
    let keys = GlobalKeys {
        toggle: reg(&hk.toggle),
        push_to_talk: reg(&hk.push_to_talk),
        recall: reg(&hk.recall),
        _manager: manager,
    };
    if !problems.is_empty() {
        world.resource_mut::<Studio>().notice =
            Some(format!("some global hotkeys could not be registered ({})", problems.join("; ")));
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
    println!("global hotkeys ready: {}, {}, {}", hk.toggle, hk.push_to_talk, hk.recall);
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
