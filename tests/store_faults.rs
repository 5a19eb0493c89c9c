//! The store when the disk, the database or the user works against it: a bad command fails
//! alone, a full disk loses nothing and says so, a removed write-ahead log is noticed, a
//! read-only archive can be read, and an export never lands on the database.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use common::{corpus, hark, test_model};
use hark_store::{Command, Reader, Writer};

/// A small tmpfs, unmounted on drop. `None` (with a message) where mounting is not allowed.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Proc::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); the full-disk cases were not run");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opts: &str) {
        let st = Proc::new("mount").args(["-o", &format!("remount,{opts}")]).arg(self.path()).status().unwrap();
        assert!(st.success(), "remount {opts}");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Proc::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn session(w: &Writer, title: &str) -> i64 {
    w.create_session(title, hark_core::SourceKind::File, title, "tiny.en", "{}").unwrap()
}

/// Deterministic audio that does not compress (noise, as a microphone's float audio nearly is):
/// sample i of piece k.
fn piece(k: u64, n: usize) -> Vec<f32> {
    let mut x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

#[test]
fn a_command_that_fails_on_its_data_fails_alone() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let a = session(&w, "a");
    let b = session(&w, "b");
    // One batch: audio of both sessions around a transcript for a segment that does not exist.
    w.send(Command::Audio { session: a, start: 0, samples: piece(0, 8000).into() });
    w.send(Command::text_transcript(a, 42, "no such segment".into(), "m"));
    w.send(Command::Audio { session: b, start: 0, samples: piece(1, 8000).into() });
    w.flush().unwrap();
    let r = Reader::open(&db).unwrap();
    assert_eq!(r.audio(a).unwrap(), piece(0, 8000));
    assert_eq!(r.audio(b).unwrap(), piece(1, 8000));
    assert!(w.health().is_none());
}

#[test]
fn a_full_disk_keeps_audio_in_memory_says_so_and_saves_it_when_space_returns() {
    let Some(fs) = SmallFs::mount("600k") else { return };
    let db = fs.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = session(&w, "long");
    // 40 pieces of 0.5 s (1.3 MB of samples) do not fit in 600 kB.
    for k in 0..40u64 {
        w.send(Command::Audio { session: id, start: k * 8000, samples: piece(k, 8000).into() });
    }
    let e = w.flush().expect_err("a full disk must be reported").to_string();
    assert!(e.contains("hark.db") && (e.contains("full") || e.contains("disk")), "{e}");
    let (problem, unsaved) = w.health().expect("health names the problem");
    assert!(unsaved > 0.0, "{problem}");
    // Space returns: the writer tries again by itself and everything lands, in order.
    fs.remount("size=20m");
    w.send(Command::Audio { session: id, start: 40 * 8000, samples: piece(40, 8000).into() });
    w.flush().unwrap();
    assert!(w.health().is_none());
    let r = Reader::open(&db).unwrap();
    let want: Vec<f32> = (0..41).flat_map(|k| piece(k, 8000)).collect();
    assert_eq!(r.audio(id).unwrap(), want);
    w.close().unwrap();
}

#[test]
fn transcribe_onto_a_full_disk_fails_loudly() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(fs) = SmallFs::mount("300k") else { return };
    let o = hark()
        .args(["transcribe"])
        .arg(c.join("mfa_acoustic_corpus.wav"))
        .arg("--model")
        .arg(&m)
        .arg("--data-dir")
        .arg(fs.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "exit 0 on a full disk: {err}");
    assert!(err.contains("not saved") && !err.contains("saved as session"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The transcript itself still reached the user.
    assert!(String::from_utf8_lossy(&o.stdout).to_lowercase().contains("acoustic corpus"));
}

#[test]
fn a_removed_write_ahead_log_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = session(&w, "wal");
    w.send(Command::Audio { session: id, start: 0, samples: piece(0, 8000).into() });
    w.flush().unwrap();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::remove_file(PathBuf::from(&wal)).unwrap();
    w.send(Command::Audio { session: id, start: 8000, samples: piece(1, 8000).into() });
    w.flush().unwrap();
    w.send(Command::Audio { session: id, start: 16_000, samples: piece(2, 8000).into() });
    w.close().unwrap();
    let r = Reader::open(&db).unwrap();
    let want: Vec<f32> = (0..3).flat_map(|k| piece(k, 8000)).collect();
    assert_eq!(r.audio(id).unwrap(), want);
}

#[test]
fn a_database_locked_by_another_program_keeps_audio_in_memory_and_saves_it_when_released() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = session(&w, "locked");
    w.send(Command::Audio { session: id, start: 0, samples: piece(0, 8000).into() });
    w.flush().unwrap();
    // Another program (a backup tool, a second SQLite client) holds the write lock for longer
    // than the writer's 5 s busy timeout.
    let other = rusqlite::Connection::open(&db).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for k in 1..4u64 {
        w.send(Command::Audio { session: id, start: k * 8000, samples: piece(k, 8000).into() });
    }
    let e = w.flush().expect_err("a locked database must be reported").to_string();
    assert!(e.contains("hark.db") && e.contains("locked"), "{e}");
    let (problem, unsaved) = w.health().expect("health names the problem");
    assert!(unsaved >= 1.5, "{unsaved} s unsaved: {problem}");
    // Released: the writer saves what it held, in order, by itself.
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    w.send(Command::Audio { session: id, start: 4 * 8000, samples: piece(4, 8000).into() });
    w.flush().unwrap();
    assert!(w.health().is_none());
    let want: Vec<f32> = (0..5).flat_map(|k| piece(k, 8000)).collect();
    assert_eq!(Reader::open(&db).unwrap().audio(id).unwrap(), want);
    w.close().unwrap();
}

#[test]
fn a_read_only_archive_can_be_listed_shown_and_exported() {
    let Some(fs) = SmallFs::mount("20m") else { return };
    let db = fs.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = session(&w, "archived");
    w.send(Command::Audio { session: id, start: 0, samples: piece(0, 16_000).into() });
    w.send(Command::Segment { session: id, idx: 0, start: 0, end: 16_000, vad_mean: 0.9, vad_speech: 1.0 });
    w.send(Command::text_transcript(id, 0, "kept on read-only media".into(), "m"));
    w.send(Command::SetState { session: id, state: hark_core::SessionState::Complete });
    w.close().unwrap();
    fs.remount("ro");
    let run = |args: &[&str]| {
        let o = hark().args(args).arg("--data-dir").arg(fs.path()).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["sessions", "list"]);
    assert!(ok && out.contains("archived"), "{out}{err}");
    let (ok, out, err) = run(&["sessions", "show", &id.to_string()]);
    assert!(ok && out.contains("kept on read-only media"), "{out}{err}");
    let (ok, out, err) = run(&["sessions", "export", &id.to_string(), "--format", "txt", "-o", "-"]);
    assert!(ok && out.contains("kept on read-only media"), "{out}{err}");
}

#[test]
fn export_refuses_the_database_and_writes_standard_output() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let w = Writer::open(&db).unwrap();
    let id = session(&w, "precious");
    w.send(Command::Segment { session: id, idx: 0, start: 0, end: 16_000, vad_mean: 0.9, vad_speech: 1.0 });
    w.send(Command::text_transcript(id, 0, "do not lose me".into(), "m"));
    w.close().unwrap();
    let before = std::fs::read(&db).unwrap();
    let dd = d.path().as_os_str();
    for target in ["hark.db", "hark.db-wal", "./hark.db"] {
        let o = hark()
            .current_dir(d.path())
            .args(["sessions", "export", &id.to_string(), "--format", "txt", "-o", target, "--data-dir"])
            .arg(dd)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("session database"), "{target}: {err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    for args in [&["-o", "-"][..], &[][..]] {
        let o = hark()
            .args(["sessions", "export", &id.to_string(), "--format", "txt"])
            .args(args)
            .arg("--data-dir")
            .arg(dd)
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("do not lose me"));
    }
    assert!(!d.path().join("-").exists());
}

/// Two Hark processes on one database (a window capturing while `hark transcribe` runs, or two
/// transcriptions at once): both save, neither takes the other's live session for an
/// interrupted one, and search finds what each saved. Once the live session's process is gone,
/// the next start marks it interrupted.
#[test]
fn two_processes_share_one_database() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    // A session being recorded by another running process.
    let mut other = Proc::new("sleep").arg("600").spawn().unwrap();
    let live = {
        let w = Writer::open(&db).unwrap();
        let id = session(&w, "live elsewhere");
        w.close().unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE sessions SET pid = ?1 WHERE id = ?2", rusqlite::params![other.id() as i64, id]).unwrap();
        id
    };
    let transcribe = |clip: &str| {
        hark()
            .args(["transcribe"])
            .arg(c.join(clip))
            .arg("--model")
            .arg(&m)
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (transcribe("jfk.wav"), transcribe("cmu_goforward.wav"));
    for p in [a, b] {
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let r = Reader::open(&db).unwrap();
    let rows = r.sessions().unwrap();
    assert_eq!(rows.len(), 3);
    let state = |id: i64| rows.iter().find(|s| s.id == id).unwrap().state;
    assert_eq!(state(live), hark_core::SessionState::Recording, "the other process's session was left alone");
    assert!(rows.iter().filter(|s| s.id != live).all(|s| s.state == hark_core::SessionState::Complete));
    let titles = |q: &str| r.search(q, 10).unwrap().into_iter().map(|h| h.title).collect::<Vec<_>>();
    assert_eq!(titles("country"), vec!["jfk.wav"]);
    assert_eq!(titles("forward"), vec!["cmu_goforward.wav"]);
    // The other process ends without finishing: the next start marks its session interrupted.
    other.kill().unwrap();
    other.wait().unwrap();
    drop(Writer::open(&db).unwrap());
    let rows = Reader::open(&db).unwrap().sessions().unwrap();
    assert_eq!(rows.iter().find(|s| s.id == live).unwrap().state, hark_core::SessionState::Interrupted);
}

/// A data directory that cannot be written is refused at start, with the path named and
/// nothing started: the CLI and the window alike.
#[test]
fn a_read_only_data_directory_is_refused_at_start() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let Some(fs) = SmallFs::mount("1m") else { return };
    fs.remount("ro");
    let data = fs.path().join("data");
    let expect_refusal = |o: std::process::Output, what: &str| {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(&data.join("hark.db").display().to_string()) && err.contains("Read-only"),
            "{what}: {err}"
        );
    };
    let run = |args: &[&std::ffi::OsStr]| {
        hark().args(args).arg("--model").arg(&m).arg("--data-dir").arg(&data).output().unwrap()
    };
    let jfk = c.join("jfk.wav");
    expect_refusal(run(&["transcribe".as_ref(), jfk.as_os_str()]), "transcribe");
    expect_refusal(run(&["listen".as_ref(), "--duration".as_ref(), "1".as_ref()]), "listen");
    expect_refusal(run(&["--exit-after".as_ref(), "1".as_ref()]), "window");
}
