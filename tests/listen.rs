//! Live capture through a real cpal stream: a PulseAudio null sink is the microphone, `paplay`
//! speaks into it, `hark listen` transcribes what it hears.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use common::{Pulse, corpus, hark, test_model};
use hark_core::text::wer;

#[test]
fn listen_transcribes_speech_from_the_virtual_microphone() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let Some(pulse) = Pulse::start() else { return };
    let mut child = hark()
        .args(["listen", "--duration", "15", "--model"])
        .arg(&m)
        .env("XDG_RUNTIME_DIR", pulse.dir())
        .env("HOME", pulse.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the stream runs before speaking into it.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut heard = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        heard.push_str(&line);
        if line.starts_with("listening on") {
            break;
        }
        line.clear();
    }
    assert!(heard.contains("listening on Monitor of"), "hark did not open the virtual microphone:\n{heard}");
    let jfk: PathBuf = c.join("jfk.wav");
    let played = pulse.cmd("paplay").arg("--device=vmic").arg(&jfk).status().unwrap();
    assert!(played.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(out.status.success(), "{heard}{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text: String = stdout.lines().filter_map(|l| l.split_once("] ").map(|(_, t)| t)).collect::<Vec<_>>().join(" ");
    let w = wer(
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        &text,
    );
    assert!(w.rate() <= 0.1, "heard {stdout:?}");
}

#[test]
fn listen_without_any_microphone_says_so() {
    let Some(m) = test_model() else { return };
    let runtime = tempfile::tempdir().unwrap();
    let o = hark()
        .args(["listen", "--model"])
        .arg(&m)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("PULSE_SERVER", "unix:/nonexistent")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    let last = e.trim().lines().last().unwrap_or("");
    assert!(last.starts_with("error: ") && last.contains("hark transcribe FILE"), "{e}");
}

/// SIGTERM and SIGHUP (a service manager, `timeout`, a logout) finish a capture as Ctrl+C
/// does: the tail is transcribed and the session saved complete — also when the process was
/// started with SIGINT ignored, as a non-interactive shell's `&` does.
#[test]
fn termination_signals_finish_and_save_the_capture() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else {
        return;
    };
    let Some(pulse) = Pulse::start() else { return };
    for signal in ["TERM", "HUP", "INT"] {
        let data = tempfile::tempdir().unwrap();
        // `trap '' INT` leaves SIGINT ignored for the exec'd hark, as `cmd &` in a script does.
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("trap '' INT; exec {} \"$@\"", env!("CARGO_BIN_EXE_hark")))
            .arg("hark")
            .args(["listen", "--model"])
            .arg(&m)
            .arg("--data-dir")
            .arg(data.path())
            .env("XDG_RUNTIME_DIR", pulse.dir())
            .env("HOME", pulse.dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while err.read_line(&mut line).unwrap() > 0 && !line.starts_with("listening on") {
            line.clear();
        }
        assert!(line.starts_with("listening on"), "{signal}: hark did not start listening");
        let played = pulse.cmd("paplay").arg("--device=vmic").arg(c.join("mfa_thoughts.wav")).status().unwrap();
        assert!(played.success());
        let st = std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        assert!(st.unwrap().success());
        let out = child.wait_with_output().unwrap();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        assert!(out.status.success(), "{signal}: exit {:?}: {rest}", out.status);
        assert!(rest.contains("saved as session"), "{signal}: {rest}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let text: String =
            stdout.lines().filter_map(|l| l.split_once("] ").map(|(_, t)| t)).collect::<Vec<_>>().join(" ");
        let w = wer("i have a thousand thoughts about that thing", &text);
        assert!(w.rate() < 0.5, "{signal}: heard {stdout:?}");
        let list = hark().args(["sessions", "list", "--data-dir"]).arg(data.path()).output().unwrap();
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(list.contains("complete"), "{signal}: {list}");
    }
}
