//! Quitting without losing what was said. Closing the window (title-bar ✕), Ctrl+Q or a
//! [`QuitRequest`] stops every capture; the tail is cut and transcribed, the store writes
//! everything, then the app exits. A second request while finishing exits at once: the audio
//! is already stored, and what is not transcribed stays `captured` for `hark sessions recover`.

use bevy::input::keyboard::KeyboardInput;
use bevy::prelude::*;
use bevy::window::{RequestRedraw, WindowCloseRequested};
use hark_core::{PipelineSystems, Resumed, Session, SessionState, StopCapture};

use hark_capture::{CaptureControl, CaptureSource, Recall};

use crate::Notice;

/// Ask the app to finish its sessions and exit.
#[derive(Message, Debug, Clone, Copy, Default)]
pub struct QuitRequest;

/// Present while the app is finishing before it exits.
#[derive(Resource, Debug, Default)]
pub struct Quitting {
    /// Requests so far: a second one exits without waiting.
    pub requests: u32,
}

/// Quitting that finishes sessions first; the window's close button and Ctrl+Q lead here.
/// (The window must be made with `close_when_requested: false`.)
#[derive(Debug, Default)]
pub struct QuitPlugin;

impl Plugin for QuitPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<QuitRequest>()
            .add_systems(
                Update,
                (
                    close_requests.run_if(resource_exists::<Messages<WindowCloseRequested>>),
                    quit_key.run_if(resource_exists::<Messages<KeyboardInput>>),
                    begin_quit,
                )
                    .chain()
                    .in_set(PipelineSystems::Output),
            )
            // After every `Update` system (the store's included) has sent what this frame
            // produced, so the flush covers it.
            .add_systems(Last, finish_quit.run_if(resource_exists::<Quitting>));
    }
}

fn close_requests(mut close: MessageReader<WindowCloseRequested>, mut quit: MessageWriter<QuitRequest>) {
    if close.read().count() > 0 {
        quit.write(QuitRequest);
    }
}

/// Ctrl+Q, read key by key in the order typed: an idle window wakes for a whole keystroke at
/// once, Ctrl already up again by the frame that sees Q, so the keys' state in that frame
/// does not tell.
/// Q is the key that types a q in the keyboard's layout (on AZERTY the key in QWERTY's A place,
/// whose Ctrl+A would otherwise quit).
fn quit_key(mut keys: MessageReader<KeyboardInput>, mut ctrl: Local<[bool; 2]>, mut quit: MessageWriter<QuitRequest>) {
    use bevy::input::keyboard::Key;
    for k in keys.read() {
        match (&k.key_code, &k.logical_key) {
            (KeyCode::ControlLeft, _) => ctrl[0] = k.state.is_pressed(),
            (KeyCode::ControlRight, _) => ctrl[1] = k.state.is_pressed(),
            (_, Key::Character(c))
                if c.eq_ignore_ascii_case("q") && ctrl.iter().any(|c| *c) && k.state.is_pressed() && !k.repeat =>
            {
                quit.write(QuitRequest);
            }
            _ => {}
        }
    }
}

/// Sessions taking audio from a source that quitting stops (not the saved audio of a capture
/// cut short being finished: [`Resumed`]).
type Capturing = (With<Session>, With<CaptureSource>, Without<Resumed>);

/// What stops taking new audio when the app closes (each there only in the window).
#[derive(bevy::ecs::system::SystemParam)]
struct Closing<'w> {
    recall: Option<ResMut<'w, Recall>>,
    control: Option<ResMut<'w, CaptureControl>>,
    notice: Option<ResMut<'w, Notice>>,
}

fn begin_quit(
    mut commands: Commands,
    mut requests: MessageReader<QuitRequest>,
    quitting: Option<ResMut<Quitting>>,
    capturing: Query<Entity, Capturing>,
    mut stop: MessageWriter<StopCapture>,
    closing: Closing,
) {
    let Closing { recall, control, notice } = closing;
    let n = requests.read().count() as u32;
    if n == 0 {
        return;
    }
    match quitting {
        Some(mut q) => q.requests += n,
        None => {
            commands.insert_resource(Quitting { requests: n });
            for session in &capturing {
                stop.write(StopCapture { session });
            }
            if let Some(mut r) = recall {
                r.stop();
            }
            if let Some(mut c) = control {
                // No new captures while closing.
                c.closed = true;
                c.active = None;
            }
            if let Some(mut n) = notice {
                n.set(
                    "Finishing: the last words are being transcribed and saved, then Hark closes. Close again to quit now \
                     (what is not transcribed yet stays saved for `hark sessions recover`)."
                        .into(),
                );
            }
        }
    }
}

fn finish_quit(
    quitting: Res<Quitting>,
    sessions: Query<&SessionState>,
    capturing: Query<Entity, Capturing>,
    writer: Option<Res<hark_store::Writer>>,
    mut exit: MessageWriter<AppExit>,
    mut stop: MessageWriter<StopCapture>,
    redraw: Option<ResMut<Messages<RequestRedraw>>>,
) {
    // A capture that began as the quit did (spawned the same frame) is stopped too.
    for session in &capturing {
        stop.write(StopCapture { session });
    }
    let busy = sessions.iter().any(|s| matches!(s, SessionState::Recording | SessionState::Captured));
    if busy && quitting.requests < 2 {
        // Keep frames coming while the workers finish (an idle window waits for input).
        if let Some(mut r) = redraw {
            r.write(RequestRedraw);
        }
        return;
    }
    let code = match writer.map(|w| w.flush()) {
        Some(Err(e)) => {
            error!("not everything was saved: {e}");
            AppExit::error()
        }
        _ => AppExit::Success,
    };
    exit.write(code);
}

#[cfg(test)]
mod tests {
    use bevy::input::ButtonState;
    use bevy::input::keyboard::Key;

    use super::*;

    fn key(key_code: KeyCode, pressed: bool) -> KeyboardInput {
        // Physical Q types a q (QWERTY), and so does physical A here (as AZERTY's key there does).
        let logical_key = match key_code {
            KeyCode::KeyQ => Key::Character("q".into()),
            KeyCode::KeyA => Key::Character("q".into()),
            KeyCode::KeyW => Key::Character("w".into()),
            _ => Key::Unidentified(bevy::input::keyboard::NativeKey::Unidentified),
        };
        KeyboardInput {
            key_code,
            logical_key,
            state: if pressed { ButtonState::Pressed } else { ButtonState::Released },
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        }
    }

    /// Quit requests after one update that saw `keys`.
    fn quits(
        app: &mut App,
        seen: &mut bevy::ecs::message::MessageCursor<QuitRequest>,
        keys: &[(KeyCode, bool)],
    ) -> usize {
        for &(k, down) in keys {
            app.world_mut().write_message(key(k, down));
        }
        app.update();
        seen.read(app.world().resource::<Messages<QuitRequest>>()).count()
    }

    #[test]
    fn ctrl_q_quits_even_when_the_whole_keystroke_arrives_in_one_frame() {
        let mut app = App::new();
        app.add_message::<KeyboardInput>().add_message::<QuitRequest>().add_systems(Update, quit_key);
        use KeyCode::{ControlLeft as Ctrl, KeyQ as Q};
        let mut seen = Default::default();
        let mut quits = |keys: &[(KeyCode, bool)]| quits(&mut app, &mut seen, keys);
        // xdotool's `key ctrl+q`, or a quick hand on an idle window: all four in one frame.
        assert_eq!(quits(&[(Ctrl, true), (Q, true), (Q, false), (Ctrl, false)]), 1);
        assert_eq!(quits(&[(Q, true), (Q, false)]), 0, "Q alone types a q");
        // Ctrl held over frames.
        assert_eq!(quits(&[(Ctrl, true)]), 0);
        assert_eq!(quits(&[(Q, true)]), 1);
        assert_eq!(quits(&[(Q, false), (Ctrl, false)]), 0);
        assert_eq!(quits(&[(Q, true)]), 0, "after Ctrl is let go");
        // The layout decides: on AZERTY the q is where QWERTY has its A.
        use KeyCode::{ControlRight, KeyA, KeyW};
        assert_eq!(quits(&[(Ctrl, true), (KeyA, true), (KeyA, false), (Ctrl, false)]), 1);
        assert_eq!(quits(&[(Ctrl, true), (KeyW, true), (KeyW, false), (Ctrl, false)]), 0);
        // Either Ctrl: letting go of one while the other is held keeps Ctrl down.
        assert_eq!(quits(&[(Ctrl, true), (ControlRight, true), (Ctrl, false), (Q, true)]), 1);
    }
}
