//! Sessions in SQLite, as a user meets them: `hark transcribe` saves, `hark sessions …` reads.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{corpus, hark, test_model};
use hark_core::text::normalize_words;
use hark_store::{Command, Reader, Writer};

fn run(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let o = hark().args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn transcribe_saves_and_export_returns_the_same_text_words_and_samples() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let d = tempfile::tempdir().unwrap();
    let dd = d.path().as_os_str();
    let jfk = c.join("jfk.wav");
    let (ok, json, err) = run(&[
        os("transcribe"),
        jfk.as_os_str(),
        os("--format"),
        os("json"),
        os("--model"),
        m.as_os_str(),
        os("--data-dir"),
        dd,
    ]);
    assert!(ok && err.contains("saved as session 1"), "{err}");
    let live: serde_json::Value = serde_json::from_str(&json).unwrap();
    let out = d.path().join("export.json");
    let (ok, _, err) = run(&[
        os("sessions"),
        os("export"),
        os("1"),
        os("--format"),
        os("json"),
        os("-o"),
        out.as_os_str(),
        os("--data-dir"),
        dd,
    ]);
    assert!(ok, "{err}");
    let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(live["segments"], stored["segments"]);
    assert_eq!(live["audio_s"], stored["audio_s"]);
    let (ok, show, _) = run(&[os("sessions"), os("show"), os("1"), os("--data-dir"), dd]);
    assert!(ok && show.contains("ask not what your country can do for you"), "{show}");
    // The audio comes back sample for sample.
    let wav = d.path().join("audio.wav");
    let (ok, _, err) = run(&[
        os("sessions"),
        os("export"),
        os("1"),
        os("--format"),
        os("wav"),
        os("-o"),
        wav.as_os_str(),
        os("--data-dir"),
        dd,
    ]);
    assert!(ok, "{err}");
    let original = hark_capture::read_16k_mono(&jfk).unwrap();
    let exported = hark_capture::read_16k_mono(&wav).unwrap();
    assert_eq!(original.len(), exported.len());
    assert!(original == exported, "exported samples differ from the captured ones");
    // The utterance row carries the VAD's view of it.
    let r = Reader::open(&d.path().join("hark.db")).unwrap();
    let (vad_mean, vad_speech): (f64, f64) = r
        .conn
        .query_row("SELECT vad_mean, vad_speech FROM segments WHERE session_id = 1", [], |x| Ok((x.get(0)?, x.get(1)?)))
        .unwrap();
    // Most of the utterance is speech; his pauses (0.8 s after "ask not") are not.
    assert!(vad_mean > 0.5 && (0.7..0.95).contains(&vad_speech), "vad mean {vad_mean}, speech {vad_speech}");
    // Rename and delete from the command line.
    let (ok, _, err) = run(&[os("sessions"), os("rename"), os("1"), os("Inaugural address"), os("--data-dir"), dd]);
    assert!(ok, "{err}");
    let (_, list, _) = run(&[os("sessions"), os("list"), os("--data-dir"), dd]);
    assert!(list.contains("Inaugural address") && list.contains("complete"), "{list}");
    // The database is private to the user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.path().join("hark.db")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (ok, _, err) = run(&[os("sessions"), os("delete"), os("1"), os("--data-dir"), dd]);
    assert!(ok && err.contains("deleted session 1"), "{err}");
    let (_, list, _) = run(&[os("sessions"), os("list"), os("--data-dir"), dd]);
    assert!(list.trim().is_empty(), "{list}");
    let (ok, _, err) = run(&[os("sessions"), os("delete"), os("1"), os("--data-dir"), dd]);
    assert!(!ok && err.contains("no session 1"), "{err}");
}

/// Checks SRT or VTT text against the format: numbering (SRT), `HH:MM:SS,mmm --> HH:MM:SS,mmm`
/// (`.` for VTT), start < end, cues in order and not overlapping, a text line per cue.
fn check_subtitles(text: &str, vtt: bool) -> usize {
    let sep = if vtt { '.' } else { ',' };
    let mut body = text;
    if vtt {
        body = text.strip_prefix("WEBVTT\n\n").expect("VTT starts with the WEBVTT header and a blank line");
    }
    let ts = |s: &str| -> f64 {
        let b = s.as_bytes();
        assert!(s.len() == 12 && b[2] == b':' && b[5] == b':' && b[8] == sep as u8, "bad timestamp {s:?}");
        let n =
            |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or_else(|_| panic!("bad timestamp {s:?}")) as f64;
        n(0..2) * 3600.0 + n(3..5) * 60.0 + n(6..8) + n(9..12) / 1000.0
    };
    let mut last_end = 0.0;
    let mut cues = 0;
    for (i, block) in body.split("\n\n").filter(|b| !b.trim().is_empty()).enumerate() {
        let mut lines = block.lines();
        if !vtt {
            assert_eq!(lines.next().unwrap().parse::<usize>().unwrap(), i + 1, "SRT cue numbers count from 1");
        }
        let timing = lines.next().unwrap();
        let (a, b) = timing.split_once(" --> ").unwrap_or_else(|| panic!("bad timing line {timing:?}"));
        let (a, b) = (ts(a), ts(b));
        assert!(a < b, "cue ends before it starts: {timing}");
        assert!(a >= last_end, "cues overlap or go back: {timing}");
        last_end = b;
        assert!(lines.next().is_some_and(|t| !t.trim().is_empty()), "cue without text");
        cues += 1;
    }
    assert!(text.ends_with("\n\n"));
    cues
}

#[test]
fn srt_and_vtt_exports_are_valid() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let d = tempfile::tempdir().unwrap();
    let dd = d.path().as_os_str();
    let wav = d.path().join("long.wav");
    hark_capture::write_wav_16k(&wav, &hark::longform::build(&c, None).unwrap().samples).unwrap();
    let (ok, _, err) = run(&[os("transcribe"), wav.as_os_str(), os("--model"), m.as_os_str(), os("--data-dir"), dd]);
    assert!(ok, "{err}");
    for (fmt, vtt) in [("srt", false), ("vtt", true)] {
        let out = d.path().join(format!("out.{fmt}"));
        let (ok, _, err) = run(&[
            os("sessions"),
            os("export"),
            os("1"),
            os("--format"),
            os(fmt),
            os("-o"),
            out.as_os_str(),
            os("--data-dir"),
            dd,
        ]);
        assert!(ok, "{err}");
        let cues = check_subtitles(&std::fs::read_to_string(&out).unwrap(), vtt);
        assert!(cues >= 8, "{fmt}: {cues} cues");
    }
}

#[test]
fn a_killed_paced_capture_keeps_its_audio_and_recovers() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let wav = d.path().join("long.wav");
    hark_capture::write_wav_16k(&wav, &hark::longform::build(&c, None).unwrap().samples).unwrap();
    let mut child = hark()
        .args([
            os("transcribe"),
            wav.as_os_str(),
            os("--paced"),
            os("--model"),
            m.as_os_str(),
            os("--data-dir"),
            d.path().as_os_str(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) for the session to appear, then for 6 s of wall time of capture.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first_seen = loop {
        assert!(Instant::now() < deadline, "no session appeared");
        if db.exists() && Reader::open(&db).ok().and_then(|r| r.sessions().ok()).is_some_and(|s| !s.is_empty()) {
            break Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while first_seen.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let killed_after = first_seen.elapsed().as_secs_f64() + 0.02;
    child.wait().unwrap();
    let dd = d.path().as_os_str();
    let (ok, list, err) = run(&[os("sessions"), os("list"), os("--json"), os("--data-dir"), dd]);
    assert!(ok, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(rows[0]["state"], "interrupted");
    let kept = rows[0]["duration_s"].as_f64().unwrap();
    eprintln!("killed after {killed_after:.2} s of capture; {kept:.2} s of audio saved");
    assert!(kept >= killed_after - 1.0, "only {kept:.2} s of {killed_after:.2} s saved");
    assert!(kept <= killed_after + 0.5);
    // The saved audio is the file's audio, sample for sample.
    let original = hark_capture::read_16k_mono(&wav).unwrap();
    let saved = Reader::open(&db).unwrap().audio(1).unwrap();
    assert!(saved.len() > 16_000 * 4 && saved[..] == original[..saved.len()]);
    let (ok, out, err) = run(&[os("sessions"), os("recover"), os("--model"), m.as_os_str(), os("--data-dir"), dd]);
    assert!(ok, "{err}");
    assert!(out.contains("session 1"), "{out}");
    let r = Reader::open(&db).unwrap();
    assert_eq!(r.session(1).unwrap().state, hark_core::SessionState::Complete);
    let text: String = r.segments(1).unwrap().iter().map(|g| g.text.clone()).collect::<Vec<_>>().join(" ");
    let words = normalize_words(&text).join(" ");
    assert!(words.contains("my fellow americans"), "{text}");
}

fn store_session(w: &Writer, title: &str, texts: &[&str]) -> i64 {
    let id = w.create_session(title, hark_core::SourceKind::File, title, "test", "{}").unwrap();
    for (i, t) in texts.iter().enumerate() {
        let idx = i as u32;
        w.send(Command::Segment {
            session: id,
            idx,
            start: i as u64 * 48_000,
            end: i as u64 * 48_000 + 32_000,
            vad_mean: 0.9,
            vad_speech: 1.0,
        });
        w.send(Command::text_transcript(id, idx, t.to_string(), "test"));
    }
    w.send(Command::SetState { session: id, state: hark_core::SessionState::Complete });
    id
}

/// Deterministic filler sentences.
fn filler(i: usize) -> String {
    let mut s = hark::filler::sentence(i, 24);
    // Every tenth filler mentions the country once, in a longer text.
    if i % 10 == 3 {
        s.push_str(" and the country");
    }
    s
}

#[test]
fn search_ranks_the_session_that_says_it_first() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let mut target = 0;
    for i in 0..100 {
        if i == 57 {
            target = store_session(
                &w,
                "inaugural",
                &["And so my fellow Americans", "ask not what your country can do for you"],
            );
        } else {
            let a = filler(i);
            let b = filler(i + 1000);
            store_session(&w, &format!("filler {i}"), &[&a, &b]);
        }
    }
    w.flush().unwrap();
    let r = Reader::open(&db).unwrap();
    let hits = r.search("fellow Americans", 5).unwrap();
    assert_eq!(hits[0].session_id, target);
    assert_eq!(hits.len(), 1);
    assert!(hits[0].snippet.contains("[fellow] [Americans]"), "{}", hits[0].snippet);
    // "country" appears in filler too; the session that says it in a short utterance ranks first.
    let hits = r.search("country", 10).unwrap();
    assert!(hits.len() > 1);
    assert_eq!(hits[0].session_id, target);
    // Hostile input is searched for, not executed as FTS syntax.
    assert!(r.search("\"unbalanced OR NEAR(", 5).unwrap().is_empty());
    // Deleting a session removes it from search.
    w.delete(target).unwrap();
    w.flush().unwrap();
    assert!(r.search("fellow Americans", 5).unwrap().is_empty());
}

#[test]
fn a_transcript_is_versioned_not_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = store_session(&w, "v", &["first try"]);
    store_session(&w, "other", &["x"]);
    w.send(Command::text_transcript(id, 0, "second try".into(), "base"));
    w.flush().unwrap();
    let r = Reader::open(&db).unwrap();
    let segs = r.segments(id).unwrap();
    assert_eq!((segs[0].version, segs[0].text.as_str()), (2, "second try"));
    let versions: i64 = r
        .conn
        .query_row(
            "SELECT count(*) FROM transcripts t JOIN segments g ON g.id = t.segment_id WHERE g.session_id = ?1",
            [id],
            |x| x.get(0),
        )
        .unwrap();
    assert_eq!(versions, 2);
    assert!(r.search("first", 5).unwrap().is_empty(), "only the latest version is searched");
}

fn assert_refused(dir: &Path, expect: &str) {
    let db = dir.join("hark.db");
    let before = std::fs::read(&db).unwrap();
    let (ok, _, err) = run(&[os("sessions"), os("list"), os("--data-dir"), dir.as_os_str()]);
    assert!(!ok);
    assert!(err.contains(&db.display().to_string()) && err.contains(expect), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file was changed");
}

#[test]
fn corrupt_foreign_and_newer_databases_are_refused_untouched() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("hark.db"), b"this is a shopping list, not a database\n".repeat(100)).unwrap();
    assert_refused(d.path(), "not SQLite");

    let d = tempfile::tempdir().unwrap();
    let c = rusqlite::Connection::open(d.path().join("hark.db")).unwrap();
    c.execute_batch("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');").unwrap();
    drop(c);
    assert_refused(d.path(), "another program");

    let d = tempfile::tempdir().unwrap();
    Writer::open(&d.path().join("hark.db")).unwrap().close().unwrap();
    let c = rusqlite::Connection::open(d.path().join("hark.db")).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(c);
    assert_refused(d.path(), "newer Hark");

    // A damaged Hark database: valid header, garbage after it.
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    Writer::open(&db).unwrap().close().unwrap();
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(c);
    let mut b = std::fs::read(&db).unwrap();
    for x in b.iter_mut().skip(100) {
        *x ^= 0x5a;
    }
    std::fs::write(&db, &b).unwrap();
    let (ok, _, err) = run(&[os("sessions"), os("list"), os("--data-dir"), d.path().as_os_str()]);
    assert!(!ok && err.contains("hark.db") && !err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), b);
}

#[test]
fn exports_write_only_the_path_given() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = store_session(&w, "x", &["hello there"]);
    w.rename(id, "../../escape/../../etc/passwd").unwrap();
    w.close().unwrap();
    let out_dir = d.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("t.txt");
    let (ok, _, err) = run(&[
        os("sessions"),
        os("export"),
        os(&id.to_string()),
        os("--format"),
        os("txt"),
        os("-o"),
        out.as_os_str(),
        os("--data-dir"),
        d.path().as_os_str(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello there\n");
    let names: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("t.txt")]);
    let (ok, _, err) = run(&[os("sessions"), os("show"), os("999"), os("--data-dir"), d.path().as_os_str()]);
    assert!(!ok && err.contains("no session 999"), "{err}");
}

fn json_of(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let (ok, out, err) = run(args);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_rerun_is_a_new_version_beside_the_old_one_and_use_switches_what_is_exported() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let d = tempfile::tempdir().unwrap();
    let dd = d.path().as_os_str();
    let wav = c.join("mfa_acoustic_corpus.wav");
    let (ok, _, err) = run(&[os("transcribe"), wav.as_os_str(), os("--model"), m.as_os_str(), os("--data-dir"), dd]);
    assert!(ok, "{err}");
    let export = |what: &str| {
        let (ok, out, err) =
            run(&[os("sessions"), os("export"), os("1"), os("--format"), os(what), os("--data-dir"), dd]);
        assert!(ok, "{err}");
        out
    };
    let before = export("json");

    // Whole session, pauses not joined: another cut of the same audio.
    let (ok, out, err) = run(&[
        os("sessions"),
        os("rerun"),
        os("1"),
        os("--merge-pauses"),
        os("0"),
        os("--model"),
        m.as_os_str(),
        os("--data-dir"),
        dd,
    ]);
    assert!(ok && out.contains("version 2 re-ran the whole session"), "{out}{err}");
    // A span, with beam search: what lies outside it is carried over.
    let (ok, out, err) = run(&[
        os("sessions"),
        os("rerun"),
        os("1"),
        os("--from"),
        os("18"),
        os("--to"),
        os("20"),
        os("--beam-size"),
        os("3"),
        os("--vad-threshold"),
        os("0.3"),
        os("--model"),
        m.as_os_str(),
        os("--data-dir"),
        dd,
    ]);
    assert!(ok && out.contains("version 3 re-ran"), "{out}{err}");
    assert_eq!(export("json"), before, "the current version is untouched by a re-run");

    let v = json_of(&[os("sessions"), os("versions"), os("1"), os("--json"), os("--data-dir"), dd]);
    let list = v.as_array().unwrap();
    let numbers: Vec<i64> = list.iter().map(|x| x["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let current: Vec<bool> = list.iter().map(|x| x["current"].as_bool().unwrap()).collect();
    assert_eq!(current, [true, false, false]);
    let settings = |i: usize| list[i]["settings"].as_str().unwrap().to_owned();
    assert!(settings(0).contains("\"merge_pauses_s\":2.2") && settings(1).contains("\"merge_pauses_s\":0.0"));
    assert!(settings(2).contains("\"beam_size\":3"), "{}", settings(2));
    assert!(settings(2).contains("\"vad_threshold\":0.3"), "{}", settings(2));
    assert!(list[0]["from_s"].is_null() && list[2]["from_s"].as_f64().unwrap() <= 18.0);

    // The diff lists exactly the changed words: applied to version 1 it gives version 3.
    let db = d.path().join("hark.db");
    let r = Reader::open(&db).unwrap();
    let words = |v: i64| -> Vec<String> {
        hark_store::db::diff_words(&r.segments_of(1, v).unwrap()).into_iter().map(|w| w.text).collect()
    };
    for (a, b) in [(1, 2), (1, 3), (3, 2)] {
        let diff = json_of(&[
            os("sessions"),
            os("diff"),
            os("1"),
            os(&a.to_string()),
            os(&b.to_string()),
            os("--json"),
            os("--data-dir"),
            dd,
        ]);
        assert_eq!((diff["from"].as_i64(), diff["to"].as_i64()), (Some(a), Some(b)));
        let changes = r.diff(1, a, b).unwrap();
        assert_eq!(diff["changes"].as_array().unwrap().len(), changes.len());
        // Same spoken words (case and punctuation are not changes).
        let applied = hark_core::diff::apply_changes(&words(a), &changes);
        assert_eq!(normalize_words(&applied.join(" ")), normalize_words(&words(b).join(" ")), "{a} → {b}");
        for ch in &changes {
            assert_ne!(normalize_words(&ch.old.join(" ")), normalize_words(&ch.new.join(" ")), "{ch:?} is no change");
        }
    }

    // `use` switches what is shown and exported; the old version is still there.
    let (ok, _, err) = run(&[os("sessions"), os("use"), os("1"), os("3"), os("--data-dir"), dd]);
    assert!(ok && err.contains("now shows version 3"), "{err}");
    let v3: String = r.segments_of(1, 3).unwrap().iter().map(|g| g.text.as_str()).collect::<Vec<_>>().join(" ");
    assert_eq!(normalize_words(&export("txt")), normalize_words(&v3));
    let (ok, _, _) = run(&[os("sessions"), os("use"), os("1"), os("1"), os("--data-dir"), dd]);
    assert!(ok);
    assert_eq!(export("json"), before, "version 1 comes back as it was");

    // What is not there is named, and nothing changes.
    let (ok, _, err) = run(&[os("sessions"), os("use"), os("1"), os("9"), os("--data-dir"), dd]);
    assert!(!ok && err.contains("session 1 has no transcript version 9"), "{err}");
    let (ok, _, err) =
        run(&[os("sessions"), os("rerun"), os("77"), os("--model"), m.as_os_str(), os("--data-dir"), dd]);
    assert!(!ok && err.contains("no session 77"), "{err}");
    let (ok, _, err) = run(&[
        os("sessions"),
        os("rerun"),
        os("1"),
        os("--from"),
        os("500"),
        os("--model"),
        m.as_os_str(),
        os("--data-dir"),
        dd,
    ]);
    assert!(!ok && err.contains("nothing to re-run"), "{err}");
    assert_eq!(r.versions(1).unwrap().len(), 3);
}

#[test]
fn sessions_play_prints_each_word_as_it_is_heard_through_the_output_device() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(pulse) = common::Pulse::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let dd = d.path().as_os_str();
    let (ok, _, err) =
        run(&[os("transcribe"), c.join("jfk.wav").as_os_str(), os("--model"), m.as_os_str(), os("--data-dir"), dd]);
    assert!(ok, "{err}");
    let stored: Vec<String> = Reader::open(&d.path().join("hark.db"))
        .unwrap()
        .segments(1)
        .unwrap()
        .iter()
        .flat_map(|g| g.words.iter())
        .filter(|w| w.start >= 5 * 16_000)
        .map(|w| format!("{:>8.2}  {}", hark_core::samples_to_secs(w.start), w.text.trim()))
        .collect();
    assert!(stored.len() > 10, "{stored:?}");
    let o = hark()
        .args(["sessions", "play", "1", "--from", "5", "--speed", "2", "--data-dir"])
        .arg(d.path())
        .env("XDG_RUNTIME_DIR", pulse.dir())
        .env("HOME", pulse.dir())
        .env_remove("PULSE_SERVER")
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    assert!(err.contains("playing session 1 (jfk.wav) through") && err.contains("at 2×"), "{err}");
    let printed: Vec<&str> = out.lines().filter(|l| !l.starts_with("replay")).collect();
    assert_eq!(printed, stored, "every word from 5 s on, in order, at its time");
    // Asked for a device that is not there: said, and a failure.
    let o = hark()
        .args(["sessions", "play", "1", "--device", "pulseaudio:no-such-sink", "--data-dir"])
        .arg(d.path())
        .env("XDG_RUNTIME_DIR", pulse.dir())
        .env("HOME", pulse.dir())
        .env_remove("PULSE_SERVER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no-such-sink"), "{err}");
}
