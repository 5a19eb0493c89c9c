//! Text where you need it: each final utterance of a live capture typed into the application
//! that has the keyboard focus, as if it were typed on the keyboard (X11, through the XTEST
//! extension). Off by default (`type_into_focused` in settings.ron, or the checkbox under the
//! controls). Nothing is typed while Hark's own window has the focus, nor for files, recoveries
//! or suspect text.
//!
//! The X connection is owned by a thread of its own (a round trip to the server must never hold
//! up a frame); the window hands it text over a channel and reads back what happened.

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use hark_core::{Session, Transcript, TranscriptReady, Utterance};
use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, Keycode, Keysym};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::wrapper::ConnectionExt as _;

use crate::{Notice, UiSettings};

/// The typing thread and what it last reported.
#[derive(Resource)]
pub struct Typist {
    to_thread: Option<Sender<String>>,
    from_thread: Receiver<Result<usize, String>>,
    /// Characters typed so far in this run.
    pub typed: usize,
    /// The last problem, shown once in the status line.
    pub problem: Option<String>,
}

impl Default for Typist {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<String>();
        let (report, from_thread) = crossbeam_channel::unbounded();
        let spawned = std::thread::Builder::new().name("hark-typist".into()).spawn(move || {
            let mut keyboard: Option<Keyboard> = None;
            for text in rx {
                let r = match keyboard.as_mut() {
                    Some(k) => k.type_text(&text),
                    None => match Keyboard::connect() {
                        Ok(k) => keyboard.insert(k).type_text(&text),
                        Err(e) => Err(e),
                    },
                };
                if r.is_err() {
                    // Connect again next time (the display may have come back).
                    keyboard = None;
                }
                if report.send(r).is_err() {
                    break;
                }
            }
        });
        Self { to_thread: spawned.ok().map(|_| tx), from_thread, typed: 0, problem: None }
    }
}

impl Typist {
    /// Hands `text` to the typing thread.
    pub fn send(&mut self, text: String) {
        match &self.to_thread {
            Some(tx) if tx.send(text).is_ok() => {}
            _ => self.problem = Some("text cannot be typed: the typing thread did not start".into()),
        }
    }
}

/// Types each final utterance of a live capture into the focused application, when asked to.
pub fn type_finals(
    mut ready: MessageReader<TranscriptReady>,
    utterances: Query<(&Utterance, &Transcript)>,
    sessions: Query<&Session, Without<hark_core::Resumed>>,
    windows: Query<&Window>,
    settings: Res<UiSettings>,
    mut typist: ResMut<Typist>,
    mut notice: ResMut<Notice>,
) {
    for r in typist.from_thread.try_iter().collect::<Vec<_>>() {
        match r {
            Ok(n) => typist.typed += n,
            Err(e) => {
                notice.set(format!("Could not type the text into the focused application: {e}"));
                typist.problem = Some(e);
            }
        }
    }
    let on = settings.settings.type_into_focused;
    let ours = windows.iter().any(|w| w.focused);
    for r in ready.read() {
        let Ok((u, t)) = utterances.get(r.utterance) else {
            continue;
        };
        let live = sessions.get(u.session).is_ok_and(|s| s.kind.is_live());
        if !on || !live || t.suspect || t.text.trim().is_empty() {
            continue;
        }
        if ours {
            // Typing into Hark's own window would send its hotkeys and fields the text.
            notice.set("Not typed: Hark's own window has the keyboard focus (the text is in the transcript)".into());
            continue;
        }
        // A space after each utterance keeps the next one from running into it.
        typist.send(format!("{} ", t.text.trim()));
    }
}

/// The X server, the keyboard's keysym table, and a spare keycode for characters it lacks.
struct Keyboard {
    conn: x11rb::rust_connection::RustConnection,
    root: xproto::Window,
    min: Keycode,
    per: usize,
    /// Keysyms by keycode (`per` each, from `min`).
    map: Vec<Keysym>,
    shift: Keycode,
    /// A keycode with no keysyms, borrowed for a character that is on no key.
    spare: Option<Keycode>,
}

const NO_SYMBOL: Keysym = 0;
const SHIFT_L: Keysym = 0xffe1;

impl Keyboard {
    fn connect() -> Result<Self, String> {
        let (conn, screen) = x11rb::connect(None)
            .map_err(|e| format!("no X display ({e}); typing needs X11 (under Wayland, XWayland apps only)"))?;
        let ext = conn.extension_information(xtest::X11_EXTENSION_NAME).map_err(|e| e.to_string())?;
        if ext.is_none() {
            return Err("the X server has no XTEST extension, which typing needs".into());
        }
        let root = conn.setup().roots[screen].root;
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let reply = conn
            .get_keyboard_mapping(min, max - min + 1)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let per = reply.keysyms_per_keycode as usize;
        let map = reply.keysyms;
        let find = |sym: Keysym| (0..map.len() / per.max(1)).find(|k| map[k * per] == sym).map(|k| min + k as u8);
        let shift = find(SHIFT_L).ok_or("the keyboard map has no Shift key")?;
        let spare = (0..map.len() / per.max(1))
            .rev()
            .find(|k| map[k * per..(k + 1) * per].iter().all(|&s| s == NO_SYMBOL))
            .map(|k| min + k as u8);
        Ok(Self { conn, root, min, per, map, shift, spare })
    }

    /// The key and whether Shift is held for `sym`.
    fn key_for(&self, sym: Keysym) -> Option<(Keycode, bool)> {
        for (k, syms) in self.map.chunks(self.per.max(1)).enumerate() {
            let code = self.min + k as u8;
            if syms.first() == Some(&sym) {
                return Some((code, false));
            }
            if syms.get(1) == Some(&sym) {
                return Some((code, true));
            }
        }
        // Keymaps that list only the lower case of a letter give the upper case with Shift.
        if let Some(c) = char::from_u32(sym).filter(char::is_ascii_uppercase) {
            return self.key_for(c.to_ascii_lowercase() as Keysym).map(|(k, _)| (k, true));
        }
        None
    }

    fn fake(&self, press: bool, key: Keycode) -> Result<(), String> {
        let kind = if press { xproto::KEY_PRESS_EVENT } else { xproto::KEY_RELEASE_EVENT };
        self.conn.xtest_fake_input(kind, key, x11rb::CURRENT_TIME, self.root, 0, 0, 0).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn tap(&self, key: Keycode, shifted: bool) -> Result<(), String> {
        if shifted {
            self.fake(true, self.shift)?;
        }
        self.fake(true, key)?;
        self.fake(false, key)?;
        if shifted {
            self.fake(false, self.shift)?;
        }
        Ok(())
    }

    /// Waits until the server has handled everything sent so far.
    fn sync(&self) -> Result<(), String> {
        self.conn.sync().map_err(|e| e.to_string())
    }

    /// Types `text`; returns the characters typed.
    fn type_text(&mut self, text: &str) -> Result<usize, String> {
        let mut n = 0;
        for c in text.chars() {
            let sym = keysym(c);
            match self.key_for(sym) {
                Some((key, shifted)) => self.tap(key, shifted)?,
                None => {
                    let Some(spare) = self.spare else {
                        return Err(format!("no key for {c:?} and no free keycode to put it on"));
                    };
                    // Put the character on the spare key for one press, then take it off.
                    let mut syms = vec![NO_SYMBOL; self.per];
                    syms[0] = sym;
                    self.conn.change_keyboard_mapping(1, spare, self.per as u8, &syms).map_err(|e| e.to_string())?;
                    self.sync()?;
                    self.tap(spare, false)?;
                    self.sync()?;
                    let none = vec![NO_SYMBOL; self.per];
                    self.conn.change_keyboard_mapping(1, spare, self.per as u8, &none).map_err(|e| e.to_string())?;
                }
            }
            n += 1;
        }
        self.sync()?;
        Ok(n)
    }
}

/// The X keysym of a character: Latin-1 is its own code, the rest of Unicode is offset.
fn keysym(c: char) -> Keysym {
    match c {
        '\n' => 0xff0d,
        '\t' => 0xff09,
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as Keysym,
        _ => 0x0100_0000 | c as Keysym,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms_are_latin1_codes_or_offset_unicode() {
        assert_eq!(keysym('a'), 0x61);
        assert_eq!(keysym('A'), 0x41);
        assert_eq!(keysym(' '), 0x20);
        assert_eq!(keysym('é'), 0xe9);
        assert_eq!(keysym('€'), 0x0100_20ac);
        assert_eq!(keysym('\n'), 0xff0d);
    }
}
