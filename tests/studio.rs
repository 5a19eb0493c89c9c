//! The desktop studio end to end: a real window on Xvfb rendered by lavapipe, a PulseAudio null
//! sink as the microphone, the global hotkeys pressed with xdotool while the window is unfocused.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::{Pulse, corpus, hark, one_live_capture_at_a_time, test_model};

/// The window's stdout, followed on a thread: tests wait for the lines they need.
struct Output {
    lines: mpsc::Receiver<String>,
    launched: std::time::Instant,
    /// Every line read so far, for the message when an awaited one does not come.
    seen: std::cell::RefCell<Vec<String>>,
}

impl Output {
    fn follow(app: &mut Child) -> Self {
        let (tx, lines) = mpsc::channel::<String>();
        let out = app.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Self { lines, launched: std::time::Instant::now(), seen: Default::default() }
    }

    /// The next line; panics with what came so far if none comes within 90 s.
    fn next(&self, what: &str) -> String {
        let Ok(l) = self.lines.recv_timeout(std::time::Duration::from_secs(90)) else {
            panic!(
                "no {what} {:.0} s after launch; the window printed:\n{}",
                self.launched.elapsed().as_secs_f64(),
                self.seen.borrow().join("\n")
            )
        };
        self.seen.borrow_mut().push(l.clone());
        l
    }

    /// The next line starting with `prefix`.
    fn wait_for(&self, prefix: &str) -> String {
        loop {
            let l = self.next(&format!("{prefix:?} line"));
            if l.starts_with(prefix) {
                return l;
            }
        }
    }

    /// The first line starting with `prefix`, among those already read or the next ones.
    fn seen_or_wait_for(&self, prefix: &str) -> String {
        let seen = self.seen.borrow().iter().find(|l| l.starts_with(prefix)).cloned();
        seen.unwrap_or_else(|| self.wait_for(prefix))
    }

    /// The next line starting with `prefix` within `secs`, if one comes.
    fn within(&self, prefix: &str, secs: f64) -> Option<String> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            let Ok(l) = self.lines.recv_timeout(left) else { return None };
            self.seen.borrow_mut().push(l.clone());
            if l.starts_with(prefix) {
                return Some(l);
            }
        }
        None
    }

    fn since_launch(&self) -> f64 {
        self.launched.elapsed().as_secs_f64()
    }
}

/// One window at a time: lavapipe renders on the CPU and each window runs whisper, so two on
/// this 2-core machine starve each other (a capture loses audio, a hotkey test waits minutes
/// for text). Live captures are serialised this way too.
fn one_window_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    one_live_capture_at_a_time()
}
use hark_core::text::wer;

/// A private X server on a free display number.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Self> {
        Self::start_sized("1280x800x24")
    }

    fn start_sized(screen: &str) -> Option<Self> {
        if Command::new("Xvfb").arg("-help").stderr(Stdio::null()).status().is_err() {
            let msg = "SKIPPED: Xvfb is not installed (./scripts/test installs it)";
            assert!(std::env::var("HARK_REQUIRE_MODELS").is_err(), "{msg}");
            eprintln!("{msg}");
            return None;
        }
        // Xvfb writes the display number it picked to the given fd once it accepts clients.
        let mut child = Command::new("sh")
            .args(["-c", &format!("exec Xvfb -displayfd 1 -screen 0 {screen} -nolisten tcp 2>/dev/null")])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Some(Self { child, display: format!(":{}", line.trim()) })
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let o = Command::new("xdotool").args(args).env("DISPLAY", &self.display).output().unwrap();
        assert!(o.status.success(), "xdotool {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    }
}

/// `hark` on the display `x` with no sound server, its database in `data` and its settings under
/// `data/hark/` (XDG_CONFIG_HOME), its runtime directory `rt`.
fn window_without_sound(x: &Xvfb, data: &std::path::Path, rt: &std::path::Path) -> Command {
    let mut c = hark();
    c.arg("--data-dir")
        .arg(data)
        .env("DISPLAY", &x.display)
        .env("XDG_RUNTIME_DIR", rt)
        .env("PULSE_SERVER", "unix:/nonexistent")
        .env("XDG_CONFIG_HOME", data);
    c
}

/// The window on `x` with no sound server and the recall buffer off, capturing `clip` as a
/// demo in real time and told to stay 150 s, writing `state` if given (stdout piped for
/// [`Output`]); its database and settings under `data`. For the ways of ending a capture.
fn demo_window(
    x: &Xvfb,
    data: &std::path::Path,
    rt: &std::path::Path,
    clip: &std::path::Path,
    m: &std::path::Path,
    state: Option<&std::path::Path>,
) -> Child {
    write_settings(data, "(version: 1, recall_seconds: 0, recall_asked: true)");
    let mut c = window_without_sound(x, data, rt);
    c.arg("--demo").arg(clip).args(["--exit-after", "150", "--model"]).arg(m);
    if let Some(state) = state {
        c.arg("--state-json").arg(state);
    }
    c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap()
}

/// `hark` on the display `x` with the test sound server `pulse` (its virtual microphone), its
/// database in `data` and its settings under `data/hark/`; stdout piped for [`Output`].
fn window_with_sound(x: &Xvfb, pulse: &Pulse, data: &std::path::Path) -> Command {
    let mut c = hark();
    c.arg("--data-dir")
        .arg(data)
        .env("DISPLAY", &x.display)
        .env("XDG_RUNTIME_DIR", pulse.dir())
        .env("HOME", pulse.dir())
        .env("XDG_CONFIG_HOME", data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// The settings file the window will read (RON), under `dir` as its XDG_CONFIG_HOME.
fn write_settings(dir: &std::path::Path, ron: &str) {
    std::fs::create_dir_all(dir.join("hark")).unwrap();
    std::fs::write(dir.join("hark/settings.ron"), ron).unwrap();
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hotkey_capture_from_the_virtual_microphone_shows_and_saves_the_transcript() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let _one = one_window_at_a_time();
    let Some(pulse) = Pulse::start() else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    let state = dir.path().join("state.json");
    // The recall buffer is off until the person turns it on; this person did.
    write_settings(dir.path(), "(version: 1, recall_seconds: 30, recall_asked: true)");
    let mut app = window_with_sound(&x, &pulse, dir.path())
        // Long enough for the three captures below on a loaded 2-core machine (about 44 s on an
        // idle one): the Copy press must come before the window exits.
        .args(["--exit-after", "75", "--model"])
        .arg(&m)
        .arg("--screenshot")
        .arg(&shot)
        .arg("--state-json")
        .arg(&state)
        .spawn()
        .unwrap();
    let out = Output::follow(&mut app);
    let wait_for = |prefix: &str| out.wait_for(prefix);
    wait_for("window ready");
    wait_for("global hotkeys ready");
    x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    // The window is never focused (Xvfb has no window manager): F9 and F10 reach Hark only
    // through its global hotkeys.
    x.xdotool(&["key", "--clearmodifiers", "F9"]);
    let started = wait_for("capture started");
    assert!(started.contains("Monitor of"), "{started}");
    assert!(pulse.cmd("paplay").arg("--device=vmic").arg(c.join("jfk.wav")).status().unwrap().success());
    let first = wait_for("[");
    x.xdotool(&["key", "--clearmodifiers", "F9"]);
    // Live capture closes an utterance at each pause: gather the capture's lines until it has
    // stopped and its last words are in ("your country" alone is also in the first half, whose
    // line can come before the stop while the second half's is still being decoded).
    let mut line = first.split_once("] ").map(|(_, t)| t.to_owned()).unwrap_or_default();
    let mut stopped = false;
    while !(stopped && line.to_lowercase().contains("for your country")) {
        let l = out.next("the capture's transcript");
        stopped |= l.starts_with("capture stopped");
        if let Some((_, t)) = l.split_once("] ").filter(|_| l.starts_with('[')) {
            line.push(' ');
            line.push_str(t);
        }
    }
    // "Transcribe what I just said": the always-on buffer heard the same speech.
    x.xdotool(&["key", "--clearmodifiers", "F10"]);
    let recall = wait_for("capture started: recall");
    // A capture can print several utterances (and a previous capture's last ones may still
    // arrive): wait for the transcript line that should come.
    let said = |needle: &str| -> String {
        loop {
            let l = wait_for("[");
            if l.to_lowercase().contains(needle) {
                return l;
            }
        }
    };
    let recalled = said("country");
    assert!(recalled.contains("country"), "{recall}: {recalled}");
    // Push to talk: capture while F8 is held.
    x.xdotool(&["keydown", "F8"]);
    wait_for("capture started");
    assert!(pulse.cmd("paplay").arg("--device=vmic").arg(c.join("cmu_goforward.wav")).status().unwrap().success());
    x.xdotool(&["keyup", "F8"]);
    wait_for("capture stopped");
    let ptt = said("forward");
    assert!(ptt.to_lowercase().contains("forward"), "{ptt}");
    // The Copy button (top of the transcript panel, after its hide arrow and heading) puts the
    // shown transcript on the clipboard.
    eprintln!("copy pressed {:.1} s after launch", out.since_launch());
    x.xdotool(&["mousemove", "--sync", "848", "13"]);
    x.xdotool(&["click", "1"]);
    let mut clip = String::new();
    for _ in 0..50 {
        let o =
            Command::new("xclip").args(["-selection", "clipboard", "-o"]).env("DISPLAY", &x.display).output().unwrap();
        clip = String::from_utf8_lossy(&o.stdout).to_lowercase();
        if clip.contains("forward") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100)); // waiting on another process
    }
    assert!(clip.contains("forward"), "clipboard: {clip:?}");
    // The button says so (beside it for two seconds, and on standard output).
    let copied = wait_for("transcript copied: ");
    assert!(copied.starts_with("transcript copied: 1 lines"), "{copied}");
    assert!(app.wait().unwrap().success());

    let w = wer(
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        &line,
    );
    assert!(w.rate() <= 0.1, "{line}");

    // The spectrogram saw more energy in the speech band during speech than in silence.
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    // The device picker offers the sound server's source by its own name, and not ALSA's routes
    // into that server besides.
    let devices = s["devices"].to_string();
    let routes = ["through the PulseAudio sound server", "PulseAudio Sound Server"];
    assert!(devices.contains("Monitor of Null Output (PulseAudio)"), "{devices}");
    assert!(!routes.iter().any(|r| devices.contains(r)), "{devices}");
    // The columns of the first session (the JFK capture); later ones are the recall and F8 ones.
    let cols: Vec<&serde_json::Value> = s["columns"].as_array().unwrap().iter().filter(|c| c["session"] == 0).collect();
    let mean = |speech: bool| {
        let v: Vec<f64> =
            cols.iter().filter(|c| c["speech"] == speech).map(|c| c["speech_band"].as_f64().unwrap()).collect();
        (v.iter().sum::<f64>() / v.len().max(1) as f64, v.len())
    };
    let ((sp, ns), (si, ni)) = (mean(true), mean(false));
    eprintln!("speech band: {sp:.1} over {ns} speech columns, {si:.1} over {ni} other columns");
    assert!(ns > 500 && ni > 40, "{ns} speech, {ni} other columns");
    assert!(sp > si + 20.0, "speech {sp:.1} vs silence {si:.1}");
    // Finished sessions leave the world; the shown one (push-to-talk, the last) stays.
    assert!(s["transcript"].as_array().unwrap().iter().any(|t| t.as_str().unwrap_or("").contains("forward")));
    assert!(!s["transcript"].as_array().unwrap().iter().any(|t| t.as_str().unwrap_or("").contains("country")));
    assert_eq!(s["sessions_in_world"], 1);
    // The transcript panel keeps this run's earlier captures above the last one (the toggled
    // capture and the recall both heard "country").
    let earlier: Vec<String> =
        s["earlier_captures"].as_array().unwrap().iter().map(|t| t.as_str().unwrap_or("").to_lowercase()).collect();
    assert!(earlier.iter().filter(|t| t.contains("country")).count() >= 2, "{earlier:?}");
    assert!(!earlier.iter().any(|t| t.contains("forward")), "{earlier:?}");
    // The status line gives the wait from the end of speech to the shown capture's final text.
    let status = s["status"].as_str().unwrap();
    let latency = status.split("speech end to text ").nth(1).unwrap_or("").split("  ·").next().unwrap_or("");
    assert!(latency.ends_with(" ms") && latency.trim_end_matches(" ms").parse::<f64>().is_ok(), "{status}");

    // The screenshot is a real picture, not a blank frame.
    eprintln!("screenshot (look at it): {}", std::env::temp_dir().join("hark-hotkeys.png").display());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("hark-hotkeys.png"));
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1024, 640));
    let px = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        colours.insert([p[0] / 8, p[1] / 8, p[2] / 8]);
    }
    // A blank or single-colour frame has a handful; panels, text and spectrogram give hundreds.
    assert!(colours.len() > 50, "only {} colours: a blank frame?", colours.len());
    // All three sessions were saved.
    let r = hark_store::Reader::open(&dir.path().join("hark.db")).unwrap();
    assert_eq!(r.sessions().unwrap().len(), 3);
}

/// The microphone is unplugged while the window captures, and plugged in again: the window says
/// it is waiting, resumes by itself in the same session, and the session keeps both halves with
/// the time between marked.
#[test]
fn a_microphone_lost_while_the_window_captures_is_waited_for_and_the_capture_resumes() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let _one = one_window_at_a_time();
    let Some(pulse) = Pulse::start() else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    write_settings(dir.path(), "(version: 1, recall_seconds: 0, recall_asked: true)");
    let mut app = window_with_sound(&x, &pulse, dir.path())
        .args(["--exit-after", "50", "--model"])
        .arg(&m)
        .arg("--screenshot")
        .arg(&shot)
        .spawn()
        .unwrap();
    let out = Output::follow(&mut app);
    out.wait_for("window ready");
    out.wait_for("global hotkeys ready");
    x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    x.xdotool(&["key", "--clearmodifiers", "F9"]);
    out.wait_for("capture started");
    let play = |clip: &str| {
        let played = pulse.cmd("paplay").arg("--device=vmic").arg(c.join(clip)).status().unwrap();
        assert!(played.success());
    };
    play("mfa_thoughts.wav");
    assert!(pulse.cmd("pactl").args(["unload-module", "module-null-sink"]).status().unwrap().success());
    let lost = out.wait_for("input lost: ");
    assert!(lost.contains("waiting for it to come back"), "{lost}");
    plug_in_microphone(&pulse);
    out.wait_for("input back");
    play("cmu_goforward.wav");
    loop {
        let l = out.wait_for("[");
        if l.to_lowercase().contains("forward") {
            break;
        }
    }
    x.xdotool(&["key", "--clearmodifiers", "F9"]);
    out.wait_for("capture stopped");
    assert!(app.wait().unwrap().success());
    let said: String = out.seen.borrow().iter().filter(|l| l.starts_with('[')).cloned().collect::<Vec<_>>().join(" ");
    assert!(said.to_lowercase().contains("thousand"), "{said}");
    // One session, both halves, the time between marked.
    let r = hark_store::Reader::open(&dir.path().join("hark.db")).unwrap();
    let sessions = r.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    let text: String = r.segments(sessions[0].id).unwrap().iter().map(|s| s.text.to_lowercase()).collect();
    assert!(text.contains("thousand") && text.contains("forward"), "{text}");
    let gaps = r.gaps(sessions[0].id).unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].secs >= 0.5 && gaps[0].cause.starts_with("lost input device"), "{gaps:?}");
    let first_after = r
        .segments(sessions[0].id)
        .unwrap()
        .iter()
        .find(|s| s.text.to_lowercase().contains("forward"))
        .map(|s| s.start_sample)
        .unwrap();
    // (An utterance starts a little before its first speech frame: the VAD's start pad.)
    let starts = first_after as f64 / 16e3;
    assert!(starts >= gaps[0].start_s + gaps[0].secs - 0.5, "{gaps:?}: \"forward\" from {starts:.2} s");
    eprintln!("screenshot (look at it): {}", std::env::temp_dir().join("hark-mic-lost.png").display());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("hark-mic-lost.png"));
}

/// The test server's microphone plugged (back) in: its null sink loaded again, and its monitor
/// the default source.
fn plug_in_microphone(pulse: &Pulse) {
    let load =
        pulse.cmd("pactl").args(["load-module", "module-null-sink", "sink_name=vmic"]).stdout(Stdio::null()).status();
    assert!(load.unwrap().success());
    assert!(pulse.cmd("pactl").args(["set-default-source", "vmic.monitor"]).status().unwrap().success());
}

/// "Go forward ten meters" said into the microphone, then F10: the recall's transcript has it.
fn recall_hears_go_forward(x: &Xvfb, pulse: &Pulse, c: &std::path::Path, out: &Output) {
    let played = pulse.cmd("paplay").arg("--device=vmic").arg(c.join("cmu_goforward.wav")).status().unwrap();
    assert!(played.success());
    x.xdotool(&["key", "--clearmodifiers", "F10"]);
    out.wait_for("capture started: recall");
    while !out.wait_for("[").to_lowercase().contains("forward") {}
}

/// The recall buffer turned on while no microphone is there (none plugged in yet) starts
/// listening by itself once one is, and F10 then returns what was just said.
#[test]
fn the_recall_buffer_without_a_microphone_at_start_listens_once_one_is_plugged_in() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let _one = one_window_at_a_time();
    let Some(pulse) = Pulse::start() else { return };
    let Some(x) = Xvfb::start() else { return };
    // The server runs with no source at all.
    assert!(pulse.cmd("pactl").args(["unload-module", "module-null-sink"]).status().unwrap().success());
    let dir = tempfile::tempdir().unwrap();
    write_settings(dir.path(), "(version: 1, recall_seconds: 30, recall_asked: true)");
    let mut app =
        window_with_sound(&x, &pulse, dir.path()).args(["--exit-after", "40", "--model"]).arg(&m).spawn().unwrap();
    let out = Output::follow(&mut app);
    out.wait_for("window ready");
    out.wait_for("global hotkeys ready");
    x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    let waiting = out.wait_for("recall: ");
    assert!(waiting.contains("no input device") && waiting.contains("looking for one"), "{waiting}");
    plug_in_microphone(&pulse);
    let listening = out.wait_for("recall: ");
    assert!(listening.starts_with("recall: listening on Monitor of"), "{listening}");
    recall_hears_go_forward(&x, &pulse, &c, &out);
    assert!(app.wait().unwrap().success());
}

/// The always-on recall buffer loses its microphone and gets it back: F10 afterwards still
/// returns what was just said.
#[test]
fn the_recall_buffer_looks_for_its_lost_microphone_and_recalls_after_it_is_back() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let _one = one_window_at_a_time();
    let Some(pulse) = Pulse::start() else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_settings(dir.path(), "(version: 1, recall_seconds: 30, recall_asked: true)");
    let mut app =
        window_with_sound(&x, &pulse, dir.path()).args(["--exit-after", "40", "--model"]).arg(&m).spawn().unwrap();
    let out = Output::follow(&mut app);
    out.wait_for("window ready");
    out.wait_for("global hotkeys ready");
    x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    out.wait_for("recall: listening on");
    assert!(pulse.cmd("pactl").args(["unload-module", "module-null-sink"]).status().unwrap().success());
    let lost = out.wait_for("recall: ");
    assert!(lost.contains("lost input device") && lost.contains("looking for it again"), "{lost}");
    plug_in_microphone(&pulse);
    out.wait_for("recall: the input device is back");
    recall_hears_go_forward(&x, &pulse, &c, &out);
    assert!(app.wait().unwrap().success());
}

/// Without any display the window cannot open: one clear line and exit 1, not winit's panic.
#[test]
fn without_a_display_the_window_says_so() {
    let _one = one_window_at_a_time();
    let Some(m) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = hark()
        .arg("--model")
        .arg(&m)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no display") && err.contains("hark transcribe") && !err.contains("panicked"), "{err}");
}

#[test]
fn without_any_input_device_the_window_opens_and_says_so() {
    let _one = one_window_at_a_time();
    let Some(m) = test_model() else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut app = window_without_sound(&x, dir.path(), rt.path())
        .args(["--exit-after", "6", "--model"])
        .arg(&m)
        .arg("--state-json")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(app.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "window ready");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("global hotkeys ready"), "{line}");
    let id = x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    x.xdotool(&["windowfocus", "--sync", id.lines().next().unwrap()]);
    x.xdotool(&["key", "--clearmodifiers", "F9"]);
    assert!(app.wait().unwrap().success());
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(s["devices"].as_array().map(Vec::len), Some(0));
    let notice = s["notice"].as_str().unwrap_or("");
    assert!(notice.contains("no input device") && notice.contains("file transcription"), "{notice}");
}

#[test]
fn a_saved_session_replays_in_the_window_following_its_words() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let o = hark()
        .arg("transcribe")
        .arg(c.join("jfk.wav"))
        .arg("--model")
        .arg(&m)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = dir.path().join("state.json");
    let shot = dir.path().join("replay.png");
    let o = window_without_sound(&x, dir.path(), rt.path())
        .args(["--replay", "1", "--exit-after", "5", "--model"])
        .arg(&m)
        .arg("--state-json")
        .arg(&state)
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let r = &s["replay"];
    assert_eq!(r["session"], 1, "{s}");
    // Opened and played for most of the five seconds the window was up (lavapipe is slow to start).
    let position = r["position"].as_u64().unwrap();
    assert!((16_000..=176_000).contains(&position), "{r}");
    assert_eq!(r["in_view"], true, "the views show the replay: {r}");
    let columns = r["view_columns"].as_u64().unwrap();
    assert!(
        columns * 160 + 1_600 >= position && columns * 160 <= position,
        "one 10 ms column per 160 samples played: {r}"
    );
    let word = r["current_word"].as_str().unwrap_or("");
    let said =
        "And so my fellow Americans ask not what your country can do for you ask what you can do for your country";
    assert!(!word.trim().is_empty() && said.contains(word.trim().trim_matches(|c: char| !c.is_alphanumeric())), "{r}");
    assert!(shot.exists());
    eprintln!("screenshot (look at it): {}", shot.display());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("hark-replay.png"));
}

/// An audio file dropped on the window is transcribed as a session of its own, as fast as the
/// recogniser goes and cut as `hark transcribe` cuts it, shown in the views and the transcript
/// and saved whole. `--open FILE` makes the same request the drop does (a drop cannot be made
/// under Xvfb without a file manager). The file is four sentences with pauses between them:
/// those transcribed and scrolled off the views leave the world, and the panel still shows
/// every one of them.
#[test]
fn a_file_dropped_on_the_window_is_transcribed_shown_and_saved() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let shot = dir.path().join("file.png");
    // The JFK sentence four times, 3 s apart (longer than a file's pauses that are joined).
    let jfk = hark_capture::read_16k_mono(&c.join("jfk.wav")).unwrap();
    let mut four = Vec::new();
    for _ in 0..4 {
        four.extend_from_slice(&jfk);
        four.extend(std::iter::repeat_n(0.0f32, 48_000));
    }
    let file = dir.path().join("jfk4.wav");
    hark_capture::write_wav_16k(&file, &four).unwrap();
    let mut app = window_without_sound(&x, dir.path(), rt.path())
        .arg("--open")
        .arg(&file)
        .args(["--exit-after", "30", "--model"])
        .arg(&m)
        .arg("--state-json")
        .arg(&state)
        .arg("--screenshot")
        .arg(&shot)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Output::follow(&mut app);
    let started = out.wait_for("transcribing a file: ");
    assert_eq!(started, format!("transcribing a file: {}", file.display()));
    let first = out.wait_for("[");
    let opened = out.since_launch();
    let last = (1..4).map(|_| out.wait_for("[")).last().unwrap();
    let done = out.since_launch();
    assert!(app.wait().unwrap().success());
    let words =
        "and so my fellow americans ask not what your country can do for you ask what you can do for your country";
    // Cut as a file is (pauses joined), not at every pause as the microphone is: one sentence.
    let text = first.split_once("] ").map_or("", |(_, t)| t);
    assert!(first.starts_with("[   0.00 –") && wer(words, text).rate() <= 0.1, "{first}");
    // The fourth, 42 s in (where its speech starts, less the little kept before it).
    let at: f64 = last[1..].split('–').next().unwrap().trim().parse().unwrap();
    assert!((41.0..43.5).contains(&at) && wer(words, last.split_once("] ").unwrap().1).rate() <= 0.1, "{last}");
    // Its text came well before the window's 30 s were up: the 56 s file was not played at a
    // microphone's pace after a start of several seconds.
    assert!(opened < 25.0 && done < 30.0, "{opened:.1} s, {done:.1} s");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let shown: Vec<&str> = s["transcript"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert_eq!(shown.len(), 4, "the transcript panel shows every sentence: {s}");
    assert!(shown.iter().all(|t| wer(words, t).rate() <= 0.1), "{shown:?}");
    // The first three were let go of the world (their text is in the run's history); the last
    // is still on the spectrogram, whose words are drawn from it.
    assert!(s["utterances_in_world"].as_u64().unwrap() <= 1, "{s}");
    assert!(s["columns"].as_array().is_some_and(|c| !c.is_empty()), "the views show it");
    let status = s["status"].as_str().unwrap_or("");
    assert!(status.starts_with("file jfk4.wav, 56 s read") && !status.contains("speech end to text"), "{status}");
    // Saved: one complete session of the whole file, its source the file.
    let o = hark().arg("--data-dir").arg(dir.path()).args(["sessions", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&o.stdout);
    assert_eq!(list.lines().filter(|l| l.contains("jfk4.wav") && l.contains("complete")).count(), 1, "{list}");
    let o =
        hark().arg("--data-dir").arg(dir.path()).args(["sessions", "export", "1", "--format", "txt"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let saved = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(saved.lines().count(), 4, "{saved}");
    let trimmed = |l: &[&str]| l.iter().map(|t| t.trim().to_owned()).collect::<Vec<_>>();
    assert_eq!(trimmed(&saved.lines().collect::<Vec<_>>()), trimmed(&shown), "the panel shows what was saved");
    let o = hark()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["sessions", "export", "1", "--format", "wav", "-o"])
        .arg(dir.path().join("back.wav"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = hark_capture::read_16k_mono(&dir.path().join("back.wav")).unwrap();
    assert_eq!(back.len(), four.len(), "every sample of the file is stored");
    assert!(shot.exists());
    eprintln!("screenshot (look at it): {}", shot.display());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("hark-file.png"));
}

/// 10 ms RMS envelope.
fn envelope(x: &[f32]) -> Vec<f32> {
    x.chunks(160).map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt()).collect()
}

/// The 10 ms frames from the first to the last one within 30 dB of the loudest.
fn active_span(x: &[f32]) -> (usize, usize) {
    let e = envelope(x);
    let top = e.iter().copied().fold(0.0, f32::max);
    let on: Vec<usize> = e.iter().enumerate().filter(|(_, v)| **v > top * 0.03).map(|(i, _)| i).collect();
    (on[0], *on.last().unwrap())
}

/// Where `part` best matches inside `whole` (samples), and the normalised correlation there.
fn best_match(whole: &[f32], part: &[f32]) -> (usize, f32) {
    let (ew, ep) = (envelope(whole), envelope(part));
    let corr = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = (a.iter().map(|x| x * x).sum::<f32>() * b.iter().map(|y| y * y).sum::<f32>()).sqrt();
        dot / n.max(1e-12)
    };
    // Coarse on the envelopes, then to the sample around the best frame.
    let coarse = (0..ew.len().saturating_sub(ep.len()))
        .max_by(|&a, &b| corr(&ew[a..a + ep.len()], &ep).total_cmp(&corr(&ew[b..b + ep.len()], &ep)))
        .unwrap_or(0)
        * 160;
    let lo = coarse.saturating_sub(320);
    let hi = (coarse + 320).min(whole.len().saturating_sub(part.len()));
    (lo..=hi).map(|lag| (lag, corr(&whole[lag..lag + part.len()], part))).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap()
}

/// Median pitch (Hz) of the clearly voiced 40 ms frames: the autocorrelation's highest peak over
/// 80–800 Hz, refined between lags by a parabola, in frames that repeat strongly (r > 0.7).
fn median_pitch(x: &[f32]) -> f32 {
    let top = envelope(x).iter().copied().fold(0.0, f32::max);
    let mut f0s: Vec<f32> = x
        .chunks_exact(640)
        .filter(|f| (f.iter().map(|s| s * s).sum::<f32>() / 640.0).sqrt() > top * 0.2)
        .filter_map(|f| {
            let energy: f32 = f.iter().map(|s| s * s).sum();
            let r: Vec<f32> =
                (19..=201).map(|lag| f[lag..].iter().zip(f).map(|(a, b)| a * b).sum::<f32>() / energy).collect();
            let best = (1..r.len() - 1).max_by(|&a, &b| r[a].total_cmp(&r[b]))?;
            let (a, b, c) = (r[best - 1], r[best], r[best + 1]);
            let shift = 0.5 * (a - c) / (a - 2.0 * b + c).min(-1e-6);
            (b > 0.7).then_some(16_000.0 / (best as f32 + 19.0 + shift))
        })
        .collect();
    f0s.sort_by(f32::total_cmp);
    f0s[f0s.len() / 2]
}

#[test]
fn replay_is_heard_on_the_output_device_whole_and_at_2x_with_its_pitch() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let _one = one_window_at_a_time();
    let Some(pulse) = Pulse::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let jfk = c.join("jfk.wav");
    let o =
        hark().arg("transcribe").arg(&jfk).arg("--model").arg(&m).arg("--data-dir").arg(dir.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let original = hark_capture::read_16k_mono(&jfk).unwrap();
    let (a, b) = active_span(&original);
    let mut heard = Vec::new();
    for (speed, exit_after) in [("1", "16"), ("2", "11")] {
        let raw = dir.path().join(format!("heard-{speed}.raw"));
        // The null sink is the only sink, so the default output; its monitor is what was played.
        let mut rec = pulse
            .cmd("parec")
            .args(["-d", "vmic.monitor", "--rate=16000", "--channels=1", "--format=float32le"])
            .stdout(std::fs::File::create(&raw).unwrap())
            .spawn()
            .unwrap();
        let state = dir.path().join("state.json");
        let o = hark()
            .args(["--replay", "1", "--replay-speed", speed, "--exit-after", exit_after, "--model"])
            .arg(&m)
            .arg("--state-json")
            .arg(&state)
            .arg("--data-dir")
            .arg(dir.path())
            .env("DISPLAY", &x.display)
            .env("XDG_RUNTIME_DIR", pulse.dir())
            .env("HOME", pulse.dir())
            .output()
            .unwrap();
        let _ = rec.kill();
        let _ = rec.wait();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        let r = &s["replay"];
        assert_eq!(r["position"], original.len() as u64, "played to the end at {speed}×: {r}");
        assert_eq!(r["playing"], false, "{r}");
        assert!(s["replay_problem"].is_null(), "{}", s["replay_problem"]);
        let bytes = std::fs::read(&raw).unwrap();
        heard.push(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vec<f32>>());
    }
    // At 1× the recording is the stored audio (through the server's resampling).
    let (lag, r) = best_match(&heard[0], &original);
    assert!(r > 0.9, "correlation {r} at {lag}");
    // At 2× the speech takes half the time, at the same pitch.
    let (c0, c1) = active_span(&heard[1]);
    let ratio = (c1 - c0) as f32 / (b - a) as f32;
    assert!((0.45..=0.55).contains(&ratio), "2× took {ratio} of the time");
    let (p1, p2) = (median_pitch(&original), median_pitch(&heard[1][c0 * 160..c1 * 160]));
    // The measure sees a pitch change: played twice as fast without stretching, the voice is an
    // octave up.
    let naive: Vec<f32> = original.iter().step_by(2).copied().collect();
    let pn = median_pitch(&naive);
    eprintln!(
        "heard: correlation {r:.3} at 1×; at 2× {ratio:.3} of the time, pitch {p1:.0} → {p2:.0} Hz (unstretched: {pn:.0} Hz)"
    );
    assert!(pn / p1 > 1.5, "the pitch measure is blind: {p1:.0} → {pn:.0} Hz");
    assert!((p2 / p1 - 1.0).abs() < 0.05, "pitch {p1:.0} Hz became {p2:.0} Hz");
}

#[test]
fn the_first_start_asks_before_the_microphone_is_listened_to_in_the_background() {
    let _one = one_window_at_a_time();
    let Some(m) = test_model() else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let settings = dir.path().join("hark/settings.ron");
    let mut app = window_without_sound(&x, dir.path(), rt.path())
        // Room for a slow first frame under lavapipe on a loaded machine before the question can
        // be answered (CI once needed more than 15 s).
        .args(["--exit-after", "30", "--model"])
        .arg(&m)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(app.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "window ready");
    x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    assert!(!settings.exists(), "nothing is decided, or listened to, before the person answers");
    // The question sits in the middle of the 1024×640 window; "Turn it on" is its first button.
    let mut decided = String::new();
    // Up to 25 s: lavapipe draws the first frames slowly on a loaded machine.
    for _ in 0..250 {
        x.xdotool(&["mousemove", "--sync", "380", "369"]);
        x.xdotool(&["click", "1"]);
        decided = std::fs::read_to_string(&settings).unwrap_or_default();
        if !decided.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100)); // the window draws in its own process
    }
    assert!(decided.contains("recall_seconds: 30") && decided.contains("recall_asked: true"), "{decided}");
    assert!(app.wait().unwrap().success());
}

#[test]
fn clicking_a_word_of_a_replayed_transcript_moves_the_playhead_to_it() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let o = hark()
        .arg("transcribe")
        .arg(c.join("jfk.wav"))
        .arg("--model")
        .arg(&m)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let words: Vec<(f64, String)> = hark_store::Reader::open(&dir.path().join("hark.db"))
        .unwrap()
        .segments(1)
        .unwrap()
        .iter()
        .flat_map(|g| g.words.iter().map(|w| (hark_core::samples_to_secs(w.start), w.text.trim().to_owned())))
        .collect();
    write_settings(dir.path(), "(version: 1, recall_seconds: 0, recall_asked: true)");
    let state = dir.path().join("state.json");
    let mut app = window_without_sound(&x, dir.path(), rt.path())
        .args(["--replay", "1", "--replay-speed", "0.5", "--exit-after", "30", "--model"])
        .arg(&m)
        .arg("--state-json")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Output::follow(&mut app);
    let wait_for = |prefix: &str| out.wait_for(prefix);
    wait_for("replay opened: session 1");
    x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    // Below the session's room and the replay controls, the transcript's third line ends with
    // "country." (the last word said, at about 10 s), clicked while the half-speed replay is
    // still well before it. Clicked again until the window has drawn the transcript there:
    // under CI's load lavapipe's first frames can come seconds after the replay opened, and
    // one early click was lost.
    x.xdotool(&["mousemove", "--sync", "738", "281"]);
    let mut seek = None;
    while seek.is_none() && out.since_launch() < 26.0 {
        x.xdotool(&["click", "1"]);
        seek = out.within("replay: seek", 0.7);
    }
    let seek = seek.unwrap_or_else(|| wait_for("replay: seek"));
    let secs = |s: &str| s.trim_end_matches(" s").parse::<f64>().unwrap();
    let (from, to) = seek.trim_start_matches("replay: seek from ").split_once(" s to ").unwrap();
    let (from, to) = (secs(from), secs(to));
    let clicked = words.iter().find(|(start, _)| (start - to).abs() < 0.001);
    assert!(clicked.is_some_and(|(_, w)| w.contains("country")), "{seek}: not the start of \"country\" in {words:?}");
    // A jump forward, from wherever the half-speed replay had got to.
    assert!(to > 9.0 && from < to - 2.0, "{seek}");
    assert!(app.wait().unwrap().success());
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let position = s["replay"]["position"].as_u64().unwrap() as f64 / 16_000.0;
    assert!(position >= to, "the playhead went on from the word: {s}");
}

#[test]
fn what_is_being_said_shows_in_the_window_before_its_utterance_ends() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let shot = dir.path().join("partial.png");
    write_settings(dir.path(), "(version: 1, recall_seconds: 0, recall_asked: true)");
    // Each of jfk.wav's sentences is an utterance to a live capture (it closes at a 0.3 s
    // pause): its text can only be partial until the speaker stops (the window keeps the
    // longest partial seen while capturing). Beside
    // another window test on 2 cores, partial decodes come slowly: the whole clip is given.
    let o = window_without_sound(&x, dir.path(), rt.path())
        .arg("--demo")
        .arg(c.join("jfk.wav"))
        .args(["--exit-after", "14", "--model"])
        .arg(&m)
        .arg("--state-json")
        .arg(&state)
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let tail: String =
        err.lines().filter(|l| !l.contains("INFO") && !l.starts_with("ALSA")).collect::<Vec<_>>().join("\n");
    assert!(o.status.success(), "{:?}: {tail}", o.status);
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let partial = s["partial_seen_while_capturing"].as_str().unwrap_or("").to_lowercase();
    assert!(
        ["fellow", "americans", "country", "ask"].iter().any(|w| partial.contains(w)),
        "no partial text while the clip played: {:?}",
        s["partial_seen_while_capturing"]
    );
    eprintln!("partial text while capturing: {partial:?}; screenshot (look at it): {}", shot.display());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("hark-partial.png"));
}

#[test]
fn a_termination_signal_finishes_the_capture_before_the_window_exits() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    // 26.7 s of someone speaking almost without a pause: when the first utterance's text is
    // out, the capture is in the middle of the next one.
    let mut app = demo_window(&x, dir.path(), rt.path(), &c.join("mfa_acoustic_corpus.wav"), &m, None);
    let out = Output::follow(&mut app);
    let first = out.wait_for("[");
    let first_end = end_of(&first);
    // What `kill`, a service manager or logout sends.
    let killed = Command::new("kill").args(["-TERM", &app.id().to_string()]).status().unwrap();
    assert!(killed.success());
    eprintln!("SIGTERM {:.1} s after launch, after {first:?}", out.since_launch());
    let status = app.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let r = hark_store::Reader::open(&dir.path().join("hark.db")).unwrap();
    let sessions = r.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    // Finished, not left `recording` (to be found `interrupted` with its tail untranscribed).
    assert_eq!(s.state, hark_core::SessionState::Complete, "{s:?}");
    assert!(s.duration_s > first_end && s.duration_s < 26.8, "{s:?}");
    let segs = r.segments(s.id).unwrap();
    let tail: Vec<&str> = segs
        .iter()
        .filter(|g| hark_core::samples_to_secs(g.start_sample) >= first_end - 0.5)
        .map(|g| g.text.as_str())
        .collect();
    eprintln!("stored after the first utterance: {tail:?}");
    // What was said between the first text and the signal was transcribed before the exit
    // (`segments` lists only utterances with a transcript)...
    assert!(!tail.is_empty(), "{segs:?}");
    // ...into words, once it is more than a fragment: a slow run once signalled 1.2 s after the
    // first text, mid-word, and whisper rightly heard nothing in that second.
    let tail_secs = s.duration_s - first_end;
    if tail_secs >= 2.5 {
        assert!(tail.iter().any(|t| !t.trim().is_empty()), "{tail_secs:.1} s after the first text: {segs:?}");
    }
}

/// The window killed outright mid-capture (SIGKILL: a crash, the OOM killer, a power button held
/// down): what it heard up to the last half-second commit is in the database, sample for
/// sample, the session is found `interrupted`, and `hark sessions recover` transcribes it up to
/// where the capture was cut.
#[test]
fn a_window_killed_mid_capture_keeps_its_audio_and_the_session_is_recovered() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let clip = c.join("mfa_acoustic_corpus.wav");
    let mut app = demo_window(&x, dir.path(), rt.path(), &clip, &m, None);
    let out = Output::follow(&mut app);
    out.wait_for("capture started");
    let started = std::time::Instant::now();
    // 12 s into the 26.7 s clip, mid-sentence ("… slightly lower in intensity"), whatever text
    // the window has shown by then (on a loaded machine, none); lines read meanwhile are kept.
    let _ = out.within("(no line starts so)", 12.0);
    app.kill().unwrap(); // SIGKILL
    let killed_after = started.elapsed().as_secs_f64();
    app.wait().unwrap();
    let shown: Vec<String> = out.seen.borrow().iter().filter(|l| l.starts_with('[')).cloned().collect();
    eprintln!("SIGKILL {killed_after:.2} s into the capture; the window had shown {shown:?}");

    let data = dir.path().as_os_str();
    let list = hark()
        .args([std::ffi::OsStr::new("sessions"), "list".as_ref(), "--json".as_ref(), "--data-dir".as_ref(), data])
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["state"], "interrupted", "{rows}");
    // Committed every half second, and read from the source once a frame (3-7 frames a second
    // drawn by the CPU): 11.1 s of 12.0 here with another transcription running beside it. The
    // capture's clock started a moment before its line was read.
    let kept = rows[0]["duration_s"].as_f64().unwrap();
    eprintln!("{kept:.2} s of audio kept");
    assert!(kept >= killed_after - 1.5 && kept <= killed_after + 0.5, "{kept:.2} s kept of {killed_after:.2} s");
    let id = rows[0]["id"].as_i64().unwrap();
    let original = hark_capture::read_16k_mono(&clip).unwrap();
    let saved = hark_store::Reader::open(&dir.path().join("hark.db")).unwrap().audio(id).unwrap();
    assert!(saved.len() >= 10 * 16_000, "{} samples", saved.len());
    assert!(saved[..] == original[..saved.len()], "the stored audio is not the clip's");

    let rec = hark()
        .args([
            std::ffi::OsStr::new("sessions"),
            "recover".as_ref(),
            "--model".as_ref(),
            m.as_os_str(),
            "--data-dir".as_ref(),
            data,
        ])
        .output()
        .unwrap();
    assert!(rec.status.success(), "{}", String::from_utf8_lossy(&rec.stderr));
    let r = hark_store::Reader::open(&dir.path().join("hark.db")).unwrap();
    assert_eq!(r.session(id).unwrap().state, hark_core::SessionState::Complete);
    let segs = r.segments(id).unwrap();
    let text: Vec<&str> = segs.iter().map(|g| g.text.as_str()).collect();
    eprintln!("recovered: {text:?}");
    // Its words from the start, up to the last seconds before the kill.
    let words = hark_core::text::normalize_words(&text.join(" ")).join(" ");
    assert!(words.contains("acoustic corpus"), "{text:?}");
    let last = segs.iter().filter(|g| !g.text.trim().is_empty()).map(|g| g.end_sample).max().unwrap_or(0);
    assert!(hark_core::samples_to_secs(last) >= kept - 3.0, "the text ends at {last} samples of {kept:.2} s: {segs:?}");
    assert!(segs.iter().all(|g| g.end_sample <= saved.len() as u64), "{segs:?}");
}

/// The window at `size` (WxH) capturing jfk.wav: the screenshot's size, how many colours the
/// centre strip between the panels (the spectrogram) has, the panels' widths as drawn, and the
/// transcript.
fn window_at(size: &str, c: &std::path::Path, m: &std::path::Path) -> ((u32, u32), usize, (f32, f32), String) {
    let x = Xvfb::start_sized("2000x1200x24").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let (state, shot) = (dir.path().join("state.json"), dir.path().join(format!("{size}.png")));
    write_settings(dir.path(), "(version: 1, recall_seconds: 0, recall_asked: true)");
    let o = window_without_sound(&x, dir.path(), rt.path())
        .arg("--demo")
        .arg(c.join("jfk.wav"))
        // Beside other work on 2 cores a first frame under lavapipe can take seconds: room
        // for the 11 s clip and its final text.
        .args(["--exit-after", "24", "--window-size", size, "--model"])
        .arg(m)
        .arg("--state-json")
        .arg(&state)
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{size}: {:?}\n{stdout}", o.status);
    let keep = std::env::temp_dir().join(format!("hark-{size}.png"));
    let _ = std::fs::copy(&shot, &keep);
    eprintln!("screenshot at {size} (look at it): {}", keep.display());
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let text: Vec<String> =
        s["transcript"].as_array().unwrap().iter().map(|t| t.as_str().unwrap_or("").to_owned()).collect();
    let panels = (s["panels"]["left"].as_f64().unwrap() as f32, s["panels"]["right"].as_f64().unwrap() as f32);
    let (w, h, colours) = centre_colours(&shot, panels);
    if text.is_empty() {
        eprintln!("{size}: no transcript; the window printed:\n{stdout}");
    }
    // The capture was saved (at 1920x1080 lavapipe's frames are slow and the demo, fed each
    // frame, may not have played to its end by the exit).
    let r = hark_store::Reader::open(&dir.path().join("hark.db")).unwrap();
    let rows = r.sessions().unwrap();
    assert_eq!(rows.len(), 1, "{size}");
    assert!(rows[0].duration_s > 1.0 && rows[0].duration_s < 11.1, "{size}: {:?}", rows[0]);
    let stored: Vec<String> = r.segments(rows[0].id).unwrap().into_iter().map(|g| g.text).collect();
    eprintln!("{size}: stored {:?}, {stored:?}", rows[0].state);
    ((w, h), colours, panels, text.join(" "))
}

/// A screenshot's size and how many colours the strip between panels `left` and `right` wide
/// has in the upper half (the spectrogram; a blank strip has a handful).
fn centre_colours(shot: &std::path::Path, (left, right): (f32, f32)) -> (u32, u32, usize) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(shot).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width, info.height);
    let px = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    for y in (h / 10)..(h / 2) {
        for x in (left as u32 + 10)..(w - right as u32 - 10) {
            let p = &buf[(y * w + x) as usize * px..][..3];
            colours.insert([p[0] / 8, p[1] / 8, p[2] / 8]);
        }
    }
    (w, h, colours.len())
}

#[test]
fn the_window_is_usable_from_640_by_480_to_1920_by_1080() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    if Xvfb::start().is_none() {
        return;
    }
    for (size, want) in [("640x480", (640, 480)), ("1024x640", (1024, 640)), ("1920x1080", (1920, 1080))] {
        let (got, colours, panels, text) = window_at(size, &c, &m);
        eprintln!("{size}: panels {panels:?}, {colours} colours in the views, transcript {text:?}");
        assert_eq!(got, want);
        // Panels never dragged follow the window's width, and leave the views their share.
        assert_eq!(panels, hark_ui::panel_widths(want.0 as f32), "{size}");
        assert!(want.0 as f32 - panels.0 - panels.1 >= 0.4 * want.0 as f32, "{size}: {panels:?}");
        // The spectrogram fills the centre between the panels.
        assert!(colours > 40, "{size}: only {colours} colours where the spectrogram should be");
        // Whether the final text arrives is the other window tests' to check (the layout is
        // what this test is about). It twice did not within 24 s at 640x480: the stopped
        // capture's last utterance was still queued, and the window slept until the next
        // input (fixed in `update_mode`, `a_stopped_capture_keeps_frames_coming_until_its_last_text_is_in`);
        // warned about here until runs show it no longer happens.
        if !text.to_lowercase().contains("country") {
            eprintln!("WARNING: {size}: the final text did not arrive before the window closed: {text:?}");
        }
    }
}

/// Asks window `id` on `display` to close, as a window manager's close button (✕) does: a
/// WM_DELETE_WINDOW client message.
fn close_button(display: &str, id: u32) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask};
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let atom = |name: &[u8]| conn.intern_atom(false, name).unwrap().reply().unwrap().atom;
    let (protocols, delete) = (atom(b"WM_PROTOCOLS"), atom(b"WM_DELETE_WINDOW"));
    let event = ClientMessageEvent::new(32, id, protocols, [delete, x11rb::CURRENT_TIME, 0, 0, 0]);
    conn.send_event(false, id, EventMask::NO_EVENT, event).unwrap().check().unwrap();
    conn.flush().unwrap();
}

/// The session the window saved in `dir`: finished (not left `recording`), shorter than the
/// clip, and the audio after `first_end` transcribed.
fn finished_session(dir: &std::path::Path, clip_secs: f64, first_end: f64) {
    let r = hark_store::Reader::open(&dir.join("hark.db")).unwrap();
    let sessions = r.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.state, hark_core::SessionState::Complete, "{s:?}");
    assert!(s.duration_s < clip_secs + 0.1, "{s:?}");
    let segs = r.segments(s.id).unwrap();
    assert!(segs.iter().any(|g| hark_core::samples_to_secs(g.start_sample) >= first_end - 0.5), "{segs:?}");
}

/// The first final line's end time (s), from a window line like "[1.2 – 3.4] text".
fn end_of(line: &str) -> f64 {
    line.split('–').nth(1).unwrap().split(']').next().unwrap().trim().parse().unwrap()
}

#[test]
fn panels_are_dragged_and_hidden_kept_for_the_next_start_and_ctrl_q_quits_finishing_the_capture() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut app = demo_window(&x, dir.path(), rt.path(), &c.join("mfa_acoustic_corpus.wav"), &m, Some(&state));
    let out = Output::follow(&mut app);
    out.wait_for("window ready");
    let id = x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
    // The 1024-wide window's controls end at 250 px: drag that edge to 330. (Again until the
    // window has drawn its first frames: lavapipe is slow to start on a loaded machine.) egui
    // sees a drag only when the press, the moves and the release reach it in different frames;
    // a press and release drawn in one frame are a click. Under load a frame can take longer
    // than a few moves, so each attempt moves in more steps than the one before: the drag
    // lasts longer until it spans frames, however slow they are.
    let mut dragged = None;
    // Up to about a minute: under CI's load lavapipe's first frames came after 30 s once.
    for attempt in 0..40 {
        x.xdotool(&["mousemove", "--sync", "250", "300"]);
        x.xdotool(&["mousedown", "1"]);
        let steps = 4 + 2 * attempt;
        for i in 1..=steps {
            let to = (250 + 80 * i / steps).to_string();
            x.xdotool(&["mousemove", "--sync", &to, "300"]);
        }
        x.xdotool(&["mouseup", "1"]);
        dragged = out.within("panel controls:", 0.7);
        if dragged.is_some() {
            eprintln!("dragged on attempt {} ({steps} moves), {:.1} s after launch", attempt + 1, out.since_launch());
            break;
        }
    }
    assert_eq!(dragged.as_deref(), Some("panel controls: shown, 330 px"));
    // The transcript's arrow, at the start of its heading, hides it.
    let mut hidden = None;
    for _ in 0..20 {
        x.xdotool(&["mousemove", "--sync", "722", "13"]);
        x.xdotool(&["click", "1"]);
        hidden = out.within("panel transcript:", 0.5);
        if hidden.is_some() {
            break;
        }
    }
    assert_eq!(hidden.as_deref(), Some("panel transcript: hidden"));
    let settings = std::fs::read_to_string(dir.path().join("hark/settings.ron")).unwrap();
    assert!(settings.contains("width: Some(330.0)") && settings.contains("shown: false"), "{settings}");

    // Ctrl+Q in the middle of the capture: it is finished, then the window goes.
    let first_end = end_of(&out.seen_or_wait_for("["));
    x.xdotool(&["windowfocus", "--sync", &id]);
    x.xdotool(&["key", "ctrl+q"]);
    eprintln!("Ctrl+Q {:.1} s after launch", out.since_launch());
    assert!(app.wait().unwrap().success());
    assert!(!state.exists(), "the window left on Ctrl+Q, before its 150 s were up");
    finished_session(dir.path(), 26.7, first_end);

    // The next start has the panels where they were left.
    let shot = dir.path().join("panels.png");
    let o = window_without_sound(&x, dir.path(), rt.path())
        .args(["--exit-after", "8", "--model"])
        .arg(&m)
        .arg("--state-json")
        .arg(&state)
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .unwrap();
    assert!(o.status.success());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("hark-panels.png"));
    let kept = std::env::temp_dir().join("hark-panels.png");
    eprintln!("screenshot with the transcript hidden (look at it): {}", kept.display());
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let panels = (s["panels"]["left"].as_f64(), s["panels"]["right"].as_f64());
    assert_eq!(panels, (Some(330.0), Some(hark_ui::layout::STRIP as f64)));
}

#[test]
fn closing_the_window_mid_capture_finishes_the_session_before_it_goes() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut app = demo_window(&x, dir.path(), rt.path(), &c.join("mfa_acoustic_corpus.wav"), &m, Some(&state));
    let out = Output::follow(&mut app);
    let first_end = end_of(&out.wait_for("["));
    let id: u32 = x.xdotool(&["search", "--sync", "--name", "^Hark$"]).lines().next().unwrap().parse().unwrap();
    close_button(&x.display, id);
    eprintln!("close requested {:.1} s after launch", out.since_launch());
    assert!(app.wait().unwrap().success());
    assert!(!state.exists(), "the window left on the close request, before its 150 s were up");
    finished_session(dir.path(), 26.7, first_end);
}

#[test]
fn a_search_typed_in_the_window_marks_its_hits_and_says_when_there_are_none() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    let o = hark()
        .arg("transcribe")
        .arg(c.join("jfk.wav"))
        .arg("--model")
        .arg(&m)
        .arg("--data-dir")
        .arg(dir.path())
        .output();
    assert!(o.unwrap().status.success());
    write_settings(dir.path(), "(version: 1, recall_seconds: 0, recall_asked: true)");
    for (query, found) in [("country", 1), ("zebra", 0)] {
        let shot = dir.path().join(format!("search-{query}.png"));
        let mut app = window_without_sound(&x, dir.path(), rt.path())
            .args(["--exit-after", "25", "--model"])
            .arg(&m)
            .arg("--screenshot")
            .arg(&shot)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = Output::follow(&mut app);
        out.wait_for("window ready");
        let id = x.xdotool(&["search", "--sync", "--name", "^Hark$"]);
        x.xdotool(&["windowfocus", "--sync", &id]);
        // The search box is under "Sessions" in the 1024×640 window with no input device. (Again until the first
        // frames are drawn, replacing what an earlier try typed.)
        let mut answer = None;
        for _ in 0..10 {
            x.xdotool(&["mousemove", "--sync", "120", "378"]);
            x.xdotool(&["click", "1"]);
            // Emptied with backspaces rather than Ctrl+A: a quick Ctrl+A can reach the window in
            // one frame with Ctrl already up, and the letters after it then miss the box.
            x.xdotool(&["key", "--repeat", "12", "BackSpace"]);
            x.xdotool(&["type", "--delay", "40", query]);
            answer = out.within(&format!("search: \u{201c}{query}\u{201d}"), 1.5);
            if answer.is_some() {
                break;
            }
        }
        assert_eq!(answer, Some(format!("search: \u{201c}{query}\u{201d}: {found} sessions")));
        assert!(app.wait().unwrap().success());
        let keep = std::env::temp_dir().join(format!("hark-search-{query}.png"));
        let _ = std::fs::copy(&shot, &keep);
        eprintln!(
            "screenshot of the search for {query:?} (look at it: the hit marked, or that none was found): {}",
            keep.display()
        );
    }
}

#[test]
fn final_text_is_typed_into_the_focused_application_when_asked() {
    let _one = one_window_at_a_time();
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    if Command::new("xterm").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        let msg = "SKIPPED: xterm is not installed (./scripts/test installs it)";
        assert!(std::env::var("HARK_REQUIRE_MODELS").is_err(), "{msg}");
        eprintln!("{msg}");
        return;
    }
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tempfile::tempdir().unwrap();
    write_settings(dir.path(), "(version: 1, recall_seconds: 0, recall_asked: true, type_into_focused: true)");
    // A real text field: a terminal whose keystrokes go, unechoed and unbuffered, to a file.
    let typed = dir.path().join("typed.txt");
    let mut term = Command::new("xterm")
        .args(["-fa", "Monospace", "-fs", "10", "-geometry", "80x10+600+500", "-e", "sh", "-c"])
        .arg(format!("stty -icanon -echo; exec cat > '{}'", typed.display()))
        .env("DISPLAY", &x.display)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Only once it is mapped can it take the focus (before, X answers BadMatch: seen once in CI).
    let window = x.xdotool(&["search", "--sync", "--onlyvisible", "--class", "xterm"]);
    let window = window.lines().next().unwrap().to_owned();
    x.xdotool(&["windowfocus", "--sync", &window]);
    let o = window_without_sound(&x, dir.path(), rt.path())
        .arg("--demo")
        .arg(c.join("jfk.wav"))
        .args(["--exit-after", "16", "--model"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let tail: String =
        err.lines().filter(|l| !l.contains("INFO") && !l.starts_with("ALSA")).collect::<Vec<_>>().join("\n");
    assert!(o.status.success(), "{:?}: {tail}", o.status);
    // Each final as the window printed it, a space after each.
    let finals: String = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| l.split_once("] ").map(|(_, t)| format!("{} ", t.trim())))
        .collect();
    assert!(finals.to_lowercase().contains("country"), "the clip was not transcribed: {finals:?}\n{tail}");
    // The terminal writes what it received on its own time: wait for it, up to 20 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut got = String::new();
    while std::time::Instant::now() < deadline {
        got = std::fs::read_to_string(&typed).unwrap_or_default();
        if got.len() >= finals.len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = term.kill();
    let _ = term.wait();
    assert_eq!(got, finals, "what the terminal received is not the final text");
}
