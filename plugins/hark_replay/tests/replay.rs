//! Replay, headless: a real SQLite file written by the store's writer, the app stepped in
//! virtual time, the reader thread waited for before each step.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use hark_core::{AudioChunk, CaptureEnded, HarkCorePlugin, SessionState, SourceKind, Word};
use hark_replay::{Replay, ReplayPlugin, ReplayRequest, Replaying, feed::Feed};
use hark_store::{Command, Writer};

const SR: u64 = 16_000;

/// A recognisable signal: every sample different.
fn signal(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.013).sin() * 0.5 + (i % 997) as f32 * 1e-4).collect()
}

/// Writes a session of `audio` stored in 0.5 s rows (rows starting in `skip` left out), with
/// one segment per second holding two words; returns its id.
fn store(db: &Path, audio: &[f32], skip: &[u64], state: SessionState) -> i64 {
    let w = Writer::open(db).unwrap();
    let id = w.create_session("replayed", SourceKind::Memory, "memory", "tiny.en", "{}").unwrap();
    for (i, block) in audio.chunks(8_000).enumerate() {
        let start = i as u64 * 8_000;
        if !skip.contains(&start) {
            w.send(Command::Audio { session: id, start, samples: Arc::from(block) });
        }
    }
    for idx in 0..(audio.len() as u64 / SR) as u32 {
        let s = idx as u64 * SR;
        w.send(Command::Segment { session: id, idx, start: s, end: s + SR, vad_mean: 0.9, vad_speech: 1.0 });
        let words = vec![
            Word { start: s + 1_000, end: s + 6_000, text: format!("word{idx}a"), probability: 0.9 },
            Word { start: s + 7_000, end: s + 14_000, text: format!("word{idx}b"), probability: 0.9 },
        ];
        w.send(Command::Transcript {
            session: id,
            idx,
            text: format!("word{idx}a word{idx}b"),
            words,
            no_speech: 0.0,
            suspect: false,
            unheard: Vec::new(),
            model: "tiny.en".into(),
            settings: "{}".into(),
        });
    }
    w.send(Command::SetState { session: id, state });
    w.close().unwrap();
    id
}

fn app(db: &Path) -> App {
    let mut app = App::new();
    app.add_plugins((HarkCorePlugin, ReplayPlugin { database: Some(db.to_path_buf()), sound: false, output: None }))
        .init_resource::<Time>();
    app
}

fn sent<M: Message + Clone>(app: &App) -> Vec<M> {
    app.world().resource::<Messages<M>>().iter_current_update_messages().cloned().collect()
}

/// One frame `step` later, after the reader has answered everything asked.
fn frame(app: &mut App, step: Duration) -> Vec<AudioChunk> {
    app.world_mut().resource_mut::<Feed>().wait();
    app.world_mut().resource_mut::<Time>().advance_by(step);
    app.update();
    sent::<AudioChunk>(app)
}

fn open(app: &mut App, id: i64) {
    app.world_mut().write_message(ReplayRequest::Open(id));
    frame(app, Duration::ZERO); // asked
    frame(app, Duration::ZERO); // read: the session is open, paused at 0
}

/// Plays to the end in steps of `step`; returns the chunks and the frames it took.
fn play_through(app: &mut App, step: Duration) -> (Vec<AudioChunk>, usize) {
    app.world_mut().write_message(ReplayRequest::Play);
    let mut chunks = Vec::new();
    for n in 1..10_000 {
        chunks.extend(frame(app, step));
        if !app.world().resource::<Replay>().playing {
            return (chunks, n);
        }
    }
    panic!("replay never reached the end");
}

fn joined(chunks: &[AudioChunk]) -> Vec<f32> {
    let mut next = chunks[0].start;
    for c in chunks {
        assert_eq!(c.start, next, "chunks follow each other");
        next += c.samples.len() as u64;
    }
    chunks.iter().flat_map(|c| c.samples.iter().copied()).collect()
}

#[test]
fn replay_plays_exactly_the_stored_samples_in_order_at_1x_and_2x() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 6 + 1234);
    let id = store(&db, &audio, &[], SessionState::Complete);
    let mut app = app(&db);
    open(&mut app, id);
    {
        let r = app.world().resource::<Replay>();
        let s = r.session.as_ref().expect("opened");
        assert_eq!((s.id, s.samples, s.state, s.segments.len()), (id, audio.len() as u64, SessionState::Complete, 6));
        assert!(s.gaps.is_empty());
        assert!(!r.playing && r.position == 0);
    }
    let (chunks, frames) = play_through(&mut app, Duration::from_millis(100));
    assert_eq!(joined(&chunks), audio);
    assert_eq!(chunks[0].start, 0);
    // 0.1 s of virtual time is 1 600 samples at 1×.
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.samples.len() == 1_600));
    assert_eq!(frames, audio.len().div_ceil(1_600));
    let entity = chunks[0].session;
    assert_eq!(app.world().get::<Replaying>(entity), Some(&Replaying(id)));

    // Again from the start at 2×: the same samples in half the frames.
    app.world_mut().write_message(ReplayRequest::Speed(2.0));
    app.world_mut().write_message(ReplayRequest::Seek(0));
    frame(&mut app, Duration::ZERO);
    let (chunks, frames2) = play_through(&mut app, Duration::from_millis(100));
    assert_eq!(joined(&chunks), audio);
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.samples.len() == 3_200));
    assert_eq!(frames2, audio.len().div_ceil(3_200));
    assert_ne!(chunks[0].session, entity, "a seek starts a new stretch of playback");
    assert!(app.world().get_entity(entity).is_err(), "the old stretch is gone");
}

#[test]
fn seeking_to_a_word_plays_from_its_first_sample_and_the_word_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 5);
    let id = store(&db, &audio, &[], SessionState::Complete);
    let mut app = app(&db);
    open(&mut app, id);
    let word = app.world().resource::<Replay>().session.as_ref().unwrap().segments[3].words[1].clone();
    assert_eq!(word.text, "word3b");
    let before = app.world().resource::<Replay>().entity.unwrap();
    app.world_mut().write_message(ReplayRequest::Seek(word.start));
    app.world_mut().write_message(ReplayRequest::Play);
    let first = frame(&mut app, Duration::from_millis(50));
    assert!(sent::<CaptureEnded>(&app).iter().any(|e| e.session == before), "the view is told the old stretch ended");
    // The frame that seeks asks the reader; the audio is there by the next one.
    let chunks: Vec<_> = first.into_iter().chain(frame(&mut app, Duration::from_millis(50))).collect();
    assert_eq!(chunks[0].start, word.start);
    let played = joined(&chunks);
    assert_eq!(&played[..], &audio[word.start as usize..word.start as usize + played.len()]);
    let r = app.world().resource::<Replay>();
    let s = r.session.as_ref().unwrap();
    assert_eq!(s.word_at(word.start), Some((3, 1)));
    assert_eq!(s.word_at(r.position), Some((3, 1)), "still inside the word 0.1 s later");
    // Steps of 5 s stop at the ends.
    app.world_mut().write_message(ReplayRequest::Step(5.0));
    frame(&mut app, Duration::ZERO);
    assert_eq!(app.world().resource::<Replay>().position, audio.len() as u64);
    app.world_mut().write_message(ReplayRequest::Step(-60.0));
    frame(&mut app, Duration::ZERO);
    assert_eq!(app.world().resource::<Replay>().position, 0);
}

#[test]
fn a_seek_asked_with_the_open_starts_the_session_there() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 5);
    let id = store(&db, &audio, &[], SessionState::Complete);
    let mut app = app(&db);
    // As a search hit is opened: the session and, in the same frame, where its words are.
    let at = 3 * SR + 1234;
    app.world_mut().write_message(ReplayRequest::Open(id));
    app.world_mut().write_message(ReplayRequest::Seek(at));
    frame(&mut app, Duration::ZERO);
    // The reader thread may already have answered within that frame (then the seek is done).
    let r = app.world().resource::<Replay>();
    if r.session.is_none() {
        assert_eq!(r.open_at, Some(at), "kept while the session is read");
    }
    frame(&mut app, Duration::ZERO);
    let r = app.world().resource::<Replay>();
    assert!(r.session.is_some() && r.open_at.is_none());
    assert_eq!(r.position, at);
    let s = r.session.as_ref().unwrap();
    assert_eq!(
        s.word_at(at).map(|(seg, _)| seg),
        s.segments.iter().position(|g| (g.start_sample..g.end_sample).contains(&at))
    );
    // Opening another session starts it at its beginning again.
    app.world_mut().write_message(ReplayRequest::Open(id));
    frame(&mut app, Duration::ZERO);
    frame(&mut app, Duration::ZERO);
    assert_eq!(app.world().resource::<Replay>().position, 0);
}

#[test]
fn an_interrupted_session_replays_what_exists_and_reports_its_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 4);
    // The rows at 1.0 s and 1.5 s never reached the database.
    let id = store(&db, &audio, &[16_000, 24_000], SessionState::Interrupted);
    let mut app = app(&db);
    open(&mut app, id);
    let s = app.world().resource::<Replay>().session.clone().unwrap();
    assert_eq!(
        (s.state, s.gaps.clone(), s.samples),
        (SessionState::Interrupted, vec![(16_000, 32_000)], audio.len() as u64)
    );
    let (chunks, _) = play_through(&mut app, Duration::from_millis(100));
    let played = joined(&chunks);
    let mut expected = audio.clone();
    expected[16_000..32_000].fill(0.0);
    assert_eq!(played, expected, "what exists, in its place; the gap as silence");
}

#[test]
fn a_missing_session_no_audio_or_a_damaged_row_says_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 3);
    let id = store(&db, &audio, &[], SessionState::Complete);
    let silent = {
        let w = Writer::open(&db).unwrap();
        let silent = w.create_session("empty", SourceKind::Memory, "memory", "tiny.en", "{}").unwrap();
        w.close().unwrap();
        silent
    };
    {
        // A damaged row: text where the samples should be.
        let c = rusqlite_open(&db);
        c.execute("UPDATE audio SET samples = 'not audio' WHERE session_id = ?1 AND start_sample = 16000", [id])
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let mut app = app(&db);
    open(&mut app, 999);
    let r = app.world().resource::<Replay>();
    assert!(r.session.is_none());
    assert!(r.problem.as_deref().unwrap_or("").contains("there is no session 999"), "{:?}", r.problem);
    open(&mut app, silent);
    let r = app.world().resource::<Replay>();
    assert_eq!(r.problem.as_deref(), Some(format!("session {silent} has no audio to replay").as_str()));
    open(&mut app, id);
    // It opens. Reading ahead may already have met the damaged row (the reader can answer the
    // open within the frame that asked it): then that, and only that, is the problem.
    let r = app.world().resource::<Replay>();
    assert_eq!(r.session.as_ref().map(|s| s.id), Some(id), "{:?}", r.problem);
    assert!(r.problem.as_deref().is_none_or(|p| p.contains("could not read the session's audio")), "{:?}", r.problem);
    app.world_mut().write_message(ReplayRequest::Play);
    for _ in 0..40 {
        frame(&mut app, Duration::from_millis(100));
    }
    let r = app.world().resource::<Replay>();
    assert!(!r.playing, "playback stops at the damaged row");
    assert!(r.position <= 16_000, "nothing past it is played: {}", r.position);
    assert!(r.problem.as_deref().unwrap_or("").contains("could not read the session's audio"), "{:?}", r.problem);
    drop(app);
    assert!(std::fs::read(&db).unwrap() == before, "replay wrote nothing");
}

fn rusqlite_open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

#[test]
fn a_loop_plays_its_span_over_and_over_until_it_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 5);
    let id = store(&db, &audio, &[], SessionState::Complete);
    let mut app = app(&db);
    open(&mut app, id);
    let (a, b) = (16_000u64, 24_000u64);
    app.world_mut().write_message(ReplayRequest::Loop(Some((a, b))));
    app.world_mut().write_message(ReplayRequest::Play);
    let mut chunks = Vec::new();
    for _ in 0..30 {
        chunks.extend(frame(&mut app, Duration::from_millis(100)));
    }
    assert!(!chunks.is_empty());
    for c in &chunks {
        let end = c.start + c.samples.len() as u64;
        assert!(c.start >= a && end <= b, "{}..{end} is outside the loop", c.start);
        assert_eq!(&c.samples[..], &audio[c.start as usize..end as usize]);
    }
    let rounds = chunks.iter().filter(|c| c.start == a).count();
    assert!(rounds >= 4, "3 s of playing a 0.5 s loop went round {rounds} times");
    // Cleared: playback goes on past the loop's end.
    app.world_mut().write_message(ReplayRequest::Loop(None));
    let mut after = Vec::new();
    for _ in 0..15 {
        after.extend(frame(&mut app, Duration::from_millis(100)));
    }
    assert!(after.iter().any(|c| c.start >= b), "the loop was not cleared");
}

#[test]
fn a_session_still_recording_replays_from_its_start_while_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let audio = signal(SR as usize * 4);
    let w = Writer::open(&db).unwrap();
    let id = w.create_session("live", SourceKind::Microphone, "mic", "tiny.en", "{}").unwrap();
    let send = |from: usize, to: usize| {
        for start in (from..to).step_by(8_000) {
            w.send(Command::Audio {
                session: id,
                start: start as u64,
                samples: Arc::from(&audio[start..start + 8_000]),
            });
        }
        w.flush().unwrap();
    };
    send(0, 32_000);
    let mut app = app(&db);
    open(&mut app, id);
    assert_eq!(app.world().resource::<Replay>().session.as_ref().unwrap().state, SessionState::Recording);
    app.world_mut().write_message(ReplayRequest::Play);
    let mut chunks = Vec::new();
    for _ in 0..30 {
        chunks.extend(frame(&mut app, Duration::from_millis(100)));
    }
    let r = app.world().resource::<Replay>();
    assert_eq!(r.position, 32_000, "played what there is");
    assert!(r.playing, "and waits at the end for more while it records");
    // The capture goes on: the replay reads the new length and plays on.
    send(32_000, 64_000);
    // (It reads the session again once a second.)
    for _ in 0..35 {
        chunks.extend(frame(&mut app, Duration::from_millis(100)));
    }
    let played = joined(&chunks);
    let first_wrong = played.iter().zip(&audio).position(|(a, b)| a != b);
    assert_eq!((played.len(), first_wrong), (audio.len(), None), "everything, in order, as it arrived");
    w.send(Command::SetState { session: id, state: SessionState::Complete });
    w.close().unwrap();
    for _ in 0..15 {
        frame(&mut app, Duration::from_millis(100));
    }
    let r = app.world().resource::<Replay>();
    assert_eq!(r.session.as_ref().unwrap().state, SessionState::Complete);
    assert!(!r.playing, "a finished session stops at its end");
}

#[test]
fn the_output_device_chosen_is_kept_from_one_session_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let first = store(&db, &signal(32_000), &[], SessionState::Complete);
    let second = store(&db, &signal(16_000), &[], SessionState::Complete);
    let mut app = app(&db);
    app.world_mut().write_message(ReplayRequest::Output(Some("pulseaudio:vmic".into())));
    open(&mut app, first);
    assert_eq!(app.world().resource::<Replay>().output.as_deref(), Some("pulseaudio:vmic"));
    open(&mut app, second);
    app.world_mut().write_message(ReplayRequest::Close);
    frame(&mut app, Duration::ZERO);
    let r = app.world().resource::<Replay>();
    assert_eq!((r.session.as_ref(), r.output.as_deref()), (None, Some("pulseaudio:vmic")));
}
