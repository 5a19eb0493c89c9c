//! Sessions as entities from start to finish, headless, with a stand-in recogniser (no model):
//! a long-running app that captures session after session holds no more entities or
//! per-session state than when it started, every session is saved complete, and a recogniser
//! that fails on some utterances leaves those marked without stopping the rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use hark::pipeline::{Pipeline, PipelineOptions};
use hark_capture::{Pace, Source};
use hark_core::{ReleaseFinishedSessions, SessionState, SourceKind};
use hark_transcribe::engine::{Segment, Token};
use hark_transcribe::{Engine, EngineError, EngineOutput, Recognizer};

/// A recogniser that needs no model: each utterance is "word N" (N counting its calls), after
/// `delay` of pretend work; every `fail_every`-th call fails.
struct StandIn {
    calls: u32,
    delay: Duration,
    fail_every: Option<u32>,
}

impl Engine for StandIn {
    fn transcribe(&mut self, audio: &[f32], prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
        self.calls += 1;
        std::thread::sleep(self.delay); // the work a recogniser would do, on its own thread
        if self.fail_every.is_some_and(|n| self.calls.is_multiple_of(n)) {
            return Err(EngineError::Other(format!("stand-in failure on call {}", self.calls)));
        }
        Ok(said_by_call(self.calls, audio, prompt))
    }
}

/// What the stand-ins say on their `call`-th decode of `audio`: "word N", the words spread over
/// the audio.
fn said_by_call(call: u32, audio: &[f32], prompt: Option<&str>) -> EngineOutput {
    let end = (audio.len() / 160) as i64; // centiseconds
    // With a prompt, the text says which: "word 4 after 2" was prompted with "word 2 …".
    let mut said = vec![" word".to_owned(), format!(" {call}")];
    if let Some(before) = prompt.and_then(|p| p.split_whitespace().nth(1)) {
        said.extend([" after".to_owned(), format!(" {before}")]);
    }
    // Words spread over the audio but at most 2.5 s apart, the last running to the end: as
    // whisper places them, so the second hearings see no speech passed over (between two
    // words 3 s apart, or more than 1.5 s after the last word starts).
    let n = said.len() as i64;
    let start = |i: i64| if i == n { end } else { (end * i / n).min(250 * i) };
    let tokens = said
        .iter()
        .enumerate()
        .map(|(i, t)| Token { bytes: t.as_bytes().to_vec(), p: 0.9, t0: start(i as i64), t1: start(i as i64 + 1) })
        .collect();
    EngineOutput {
        segments: vec![Segment { text: said.concat(), no_speech: 0.0, tokens }],
        attempts: 1,
        storm: false,
        unheard: Vec::new(),
    }
}

/// A recogniser whose every decode lasts until the test lets it go (one message on `go`): a
/// decode's length counted in frames of virtual time, the same on any machine.
struct Gated {
    calls: u32,
    go: std::sync::mpsc::Receiver<()>,
}

impl Engine for Gated {
    fn transcribe(&mut self, audio: &[f32], prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
        self.calls += 1;
        // Bounded, so that a decode the test does not expect (a second hearing) cannot hang it.
        let _ = self.go.recv_timeout(Duration::from_secs(5));
        // A word every 0.4 s, so that no second hearing looks for speech passed over.
        let mut out = said_by_call(self.calls, audio, prompt);
        let end = (audio.len() / 160) as i64;
        let s = &mut out.segments[0];
        s.tokens.truncate(1);
        s.tokens[0].t1 = 40.min(end);
        let mut t = s.tokens[0].t1;
        while t < end {
            s.tokens.push(Token { bytes: b" and".to_vec(), p: 0.9, t0: t, t1: (t + 40).min(end) });
            t += 40;
        }
        s.tokens[0].bytes = format!(" word{}", self.calls).into_bytes();
        s.text = s.tokens.iter().map(|t| String::from_utf8_lossy(&t.bytes).into_owned()).collect();
        Ok(out)
    }
}

/// 0.6 s of faint noise, 1.2 s of a loud buzz (a voice-like harmonic stack), 0.6 s of faint noise.
fn utterance_audio() -> Vec<f32> {
    let mut seed = 7u32;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let sr = 16_000.0;
    (0..(2.4 * sr) as usize)
        .map(|i| {
            let t = i as f32 / sr;
            let voiced = (0.6..1.8).contains(&t);
            let buzz: f32 = (1..12).map(|h| (std::f32::consts::TAU * 140.0 * h as f32 * t).sin() / h as f32).sum();
            0.002 * noise() + if voiced { 0.25 * buzz } else { 0.0 }
        })
        .collect()
}

fn pipeline(db: PathBuf, engine: StandIn) -> Pipeline {
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.segment.merge_gap_secs = 0.0;
    opts.extend = Some(|app| {
        app.add_plugins(ReleaseFinishedSessions);
    });
    let mut p = Pipeline::with_engines(&opts, vec![Box::new(engine)]);
    p.app.insert_resource(hark_store::Writer::open(&db).unwrap());
    p
}

/// Runs one session from memory until it has left the world.
fn run_session(p: &mut Pipeline, audio: &[f32]) {
    let s = p.start(SourceKind::Memory, Source::Samples { samples: audio.into(), pos: 0 }, "test".into(), Pace::Fast);
    for _ in 0..10_000 {
        p.app.update();
        if p.app.world().get_entity(s).is_err() {
            return;
        }
    }
    panic!("session {s} never finished: {:?}", p.app.world().get::<SessionState>(s));
}

#[test]
fn five_hundred_sessions_leave_the_world_as_they_found_it_and_are_all_saved() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut p = pipeline(db.clone(), StandIn { calls: 0, delay: Duration::ZERO, fail_every: None });
    p.app.update();
    let baseline = p.app.world().entities().count_spawned();
    let audio = utterance_audio();
    run_session(&mut p, &audio);
    let after_one = p.app.world().entities().count_spawned();
    for _ in 1..500 {
        run_session(&mut p, &audio);
    }
    let world = p.app.world();
    assert_eq!(world.entities().count_spawned(), baseline, "entities left behind (after one session: {after_one})");
    assert_eq!(world.resource::<Recognizer>().in_flight(), 0);
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let rows = r.sessions().unwrap();
    assert_eq!(rows.len(), 500);
    assert!(rows.iter().all(|s| s.state == SessionState::Complete && s.kind == SourceKind::Memory), "{:?}", rows[0]);
    // Each session has its one utterance and its text, in the order the recogniser saw them.
    let first = rows.iter().min_by_key(|s| s.id).unwrap().id;
    let segs = r.segments(first).unwrap();
    assert_eq!(segs.iter().map(|g| g.text.as_str()).collect::<Vec<_>>(), vec!["word 1"]);
    let last = r.segments(first + 499).unwrap();
    assert_eq!(last.iter().map(|g| g.text.as_str()).collect::<Vec<_>>(), vec!["word 500"]);
}

#[test]
fn a_recogniser_that_fails_on_some_utterances_marks_them_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut p = pipeline(db.clone(), StandIn { calls: 0, delay: Duration::from_millis(30), fail_every: Some(2) });
    // Four utterances in one session.
    let one = utterance_audio();
    let audio: Vec<f32> = (0..4).flat_map(|_| one.iter().copied()).collect();
    run_session(&mut p, &audio);
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let rows = r.sessions().unwrap();
    assert_eq!(rows[0].state, SessionState::Complete);
    let segs = r.segments(rows[0].id).unwrap();
    let got: Vec<(&str, bool)> = segs.iter().map(|g| (g.text.as_str(), g.suspect)).collect();
    assert_eq!(got, vec![("word 1", false), ("", true), ("word 3", false), ("", true)]);
    assert_eq!(r.audio(rows[0].id).unwrap().len(), audio.len(), "every sample is kept");
    // The two without text are shown (window, `sessions show`, JSON) as speech not recognised,
    // where they were said, with the 1.2 s of voice in each.
    let t = hark::pipeline::SessionTranscript::from_store(&segs, rows[0].duration_s);
    assert_eq!(t.unrecognised.len(), 2, "{:?}", t.unrecognised);
    for (u, g) in t.unrecognised.iter().zip([&segs[1], &segs[3]]) {
        assert!((u.start_s - hark_core::samples_to_secs(g.start_sample)).abs() < 1e-3, "{u:?} {g:?}");
        assert!((1.0..=1.4).contains(&u.speech_s), "the buzz is 1.2 s: {u:?}");
    }
    assert!(t.unrecognised_note().is_some_and(|n| n.contains("in 2 places")), "{:?}", t.unrecognised_note());
}

#[test]
fn a_slow_recogniser_holds_a_fast_file_back_and_every_utterance_gets_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut p = pipeline(db.clone(), StandIn { calls: 0, delay: Duration::from_millis(40), fail_every: None });
    let max_queue = p.app.world().resource::<hark_transcribe::TranscribeSettings>().max_queue;
    // Sixty utterances (2.4 min), read as fast as the pipeline takes them.
    let one = utterance_audio();
    let audio: Vec<f32> = (0..60).flat_map(|_| one.iter().copied()).collect();
    // What one read of a fast source can cut before the hold takes effect.
    let per_read = p.app.world().resource::<hark_capture::CaptureSettings>().fast_chunk.div_ceil(one.len());
    let s = p.start(
        SourceKind::Memory,
        Source::Samples { samples: audio.clone().into(), pos: 0 },
        "file".into(),
        Pace::Fast,
    );
    let mut held = false;
    let mut most_waiting = 0;
    while p.app.world().get_entity(s).is_ok() {
        p.app.update();
        held |= p.app.world().resource::<hark_core::PipelineBackpressure>().0;
        let world = p.app.world_mut();
        let waiting = world
            .query_filtered::<(), (With<hark_core::Utterance>, Without<hark_core::Transcript>)>()
            .iter(world)
            .count();
        most_waiting = most_waiting.max(waiting);
    }
    assert!(held, "the source was never held back");
    // The queue is bounded by its limit and one read, not by the length of the file.
    assert!(most_waiting <= max_queue + per_read + 1, "{most_waiting} utterances waited at once");
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let segs = r.segments(r.sessions().unwrap()[0].id).unwrap();
    assert_eq!(segs.len(), 60);
    assert!(segs.iter().all(|g| !g.text.is_empty() && !g.suspect));
    assert_eq!(r.audio(r.sessions().unwrap()[0].id).unwrap().len(), audio.len());
}

/// Utterances of the file read beside a capture: its decodes (30 ms of real time each, 12 s in
/// all) must outlast the capture's frames (some 200) even when the machine is busy with other
/// tests, so that the file is still being read when the capture ends.
const BESIDE: usize = 400;

/// A live capture of `live_audio` (a partial every `partial_interval_secs`, or none for 0) and,
/// started after it as a file dropped on the window while it captures, a file of [`BESIDE`]
/// utterances read as fast as a stand-in recogniser (30 ms a decode, one worker) takes them.
/// The newer session comes first in entity order, which the recogniser once went by.
fn capture_beside_a_file(db: &Path, partial_interval_secs: f64, live_audio: Vec<f32>) -> (Pipeline, Entity, Entity) {
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.segment.merge_gap_secs = 0.0;
    opts.segment.partial_interval_secs = partial_interval_secs;
    let engine = StandIn { calls: 0, delay: Duration::from_millis(30), fail_every: None };
    let mut p = virtual_time_pipeline(&opts, db, Box::new(engine));
    let live = p.start(
        SourceKind::Microphone,
        Source::Samples { samples: live_audio.into(), pos: 0 },
        "mic".into(),
        Pace::RealTime,
    );
    let one = utterance_audio();
    let file_audio: Vec<f32> = (0..BESIDE).flat_map(|_| one.iter().copied()).collect();
    let file = p.start(
        SourceKind::File,
        Source::Samples { samples: file_audio.into(), pos: 0 },
        "long.wav".into(),
        Pace::Fast,
    );
    (p, live, file)
}

/// Sessions stay in the world when complete, so the last text of each is seen.
fn complete(p: &Pipeline, session: Entity) -> bool {
    p.app.world().get::<SessionState>(session) == Some(&SessionState::Complete)
}

/// Checks that the file was still being read when the capture ended, reads it to its end and
/// checks that both are saved complete with every utterance's text.
fn finish_beside_a_file(mut p: Pipeline, db: &Path, file: Entity, live_utterances: usize) {
    assert!(file_texts_left(&mut p, file) > 0, "the file was still being read when the capture ended");
    while !complete(&p, file) {
        p.app.update();
    }
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(db).unwrap();
    for row in r.sessions().unwrap() {
        let n = if row.source.contains("long") { BESIDE } else { live_utterances };
        let segs = r.segments(row.id).unwrap();
        assert_eq!((row.state, segs.len()), (SessionState::Complete, n), "{row:?}");
        assert!(segs.iter().all(|g| g.text.starts_with("word ")), "{segs:?}");
    }
}

/// A file transcribed beside a live capture (dropped on the window while it captures) always
/// has an utterance waiting for the recogniser; the capture's utterances go first, so its text
/// waits at most for the file's decode already under way, and the file still gets all of its.
#[test]
fn a_live_capture_is_transcribed_ahead_of_a_file_read_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let one = utterance_audio();
    let (mut p, live, file) = capture_beside_a_file(&db, 0.0, (0..4).flat_map(|_| one.iter().copied()).collect());
    // For each utterance of the capture: how many of the file's texts had come when it was cut,
    // and, once its own came, how many more had come by then. Two texts can come in one frame,
    // and the query need not give them in the order they were cut.
    let mut cut: Vec<(Entity, usize, Option<usize>)> = Vec::new();
    while !complete(&p, live) {
        p.app.update();
        let done = file_texts(&mut p, file);
        let world = p.app.world_mut();
        let mut q = world.query::<(Entity, &hark_core::Utterance, Has<hark_core::Transcript>)>();
        for (e, u, has_text) in q.iter(world) {
            if u.session != live {
                continue;
            }
            match cut.iter_mut().find(|(c, _, _)| *c == e) {
                None => cut.push((e, done, has_text.then_some(0))),
                Some((_, at_cut, waited @ None)) if has_text => *waited = Some(done - *at_cut),
                _ => {}
            }
        }
    }
    assert_eq!(cut.len(), 4, "the capture's four utterances were cut");
    let waited: Vec<Option<usize>> = cut.iter().map(|c| c.2).collect();
    assert!(
        waited.iter().all(|w| w.is_some_and(|n| n <= 1)),
        "file texts that came before each of the capture's: {waited:?}"
    );
    finish_beside_a_file(p, &db, file, 4);
}

/// A file read beside a live capture always has a final waiting; the capture's partials (its
/// text while the speaker is still talking) go before the file's finals, not after all of them.
#[test]
fn a_live_capture_shows_partials_while_a_file_is_read_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    // Two utterances of 4 s of voice each: partials every 0.5 s while each is spoken.
    let one = long_utterance_audio(4.0);
    let (mut p, live, file) = capture_beside_a_file(&db, 0.5, (0..2).flat_map(|_| one.iter().copied()).collect());
    let mut passes = 0;
    while !complete(&p, live) {
        p.app.update();
        if let Some(pt) = p.app.world().get::<hark_core::PartialTranscript>(live) {
            passes = passes.max(pt.passes.min(1000));
        }
    }
    // About seven partial passes an utterance; at least a few must have been shown.
    assert!(passes >= 3, "the capture showed {passes} partial passes while the file was read");
    finish_beside_a_file(p, &db, file, 2);
}

/// Utterances of `session` with their text.
fn file_texts(p: &mut Pipeline, session: Entity) -> usize {
    let world = p.app.world_mut();
    let mut q = world.query_filtered::<&hark_core::Utterance, With<hark_core::Transcript>>();
    q.iter(world).filter(|u| u.session == session).count()
}

/// Utterances of `session` still without their text, or its audio still being read.
fn file_texts_left(p: &mut Pipeline, session: Entity) -> usize {
    let world = p.app.world_mut();
    let mut q = world.query_filtered::<&hark_core::Utterance, Without<hark_core::Transcript>>();
    let waiting = q.iter(world).filter(|u| u.session == session).count();
    waiting + usize::from(world.get::<hark_core::CaptureFinished>(session).is_none())
}

/// The most utterances the world held at the end of a frame.
#[derive(Resource, Default)]
struct MostUtterances(usize);

fn count_utterances(q: Query<(), With<hark_core::Utterance>>, mut most: ResMut<MostUtterances>) {
    most.0 = most.0.max(q.iter().count());
}

#[test]
fn a_long_file_hands_over_each_utterance_in_order_as_it_is_transcribed_and_lets_it_go() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.segment.merge_gap_secs = 0.0;
    opts.extend = Some(|app| {
        app.init_resource::<MostUtterances>().add_systems(Last, count_utterances);
    });
    let engine = StandIn { calls: 0, delay: Duration::from_millis(5), fail_every: None };
    let mut p = Pipeline::with_engines(&opts, vec![Box::new(engine)]);
    p.app.insert_resource(hark_store::Writer::open(&db).unwrap());
    let max_queue = p.app.world().resource::<hark_transcribe::TranscribeSettings>().max_queue;
    let one = utterance_audio();
    let per_read = p.app.world().resource::<hark_capture::CaptureSettings>().fast_chunk.div_ceil(one.len());
    // Sixty utterances (2.4 min) in a file.
    let audio: Vec<f32> = (0..60).flat_map(|_| one.iter().copied()).collect();
    let file = dir.path().join("sixty.wav");
    std::fs::write(&file, hark_capture::wav_16k(&audio, hark_capture::WavFormat::Float32)).unwrap();
    let mut handed = Vec::new();
    let end = p.transcribe_file_as_it_goes(&file, Pace::Fast, |_| {}, |u| handed.push(u)).unwrap();
    assert_eq!(end.failure, None);
    assert_eq!(end.save_error, None);
    // Every utterance, in order ("word N" counts the recogniser's calls), each once.
    let texts: Vec<String> =
        handed.iter().map(|u| u.segment.as_ref().map_or(String::new(), |s| s.text.clone())).collect();
    let expected: Vec<String> = (1..=60).map(|n| format!("word {n}")).collect();
    assert_eq!(texts, expected);
    assert!(handed.windows(2).all(|w| w[0].segment.as_ref().unwrap().end_s <= w[1].segment.as_ref().unwrap().start_s));
    // They left the world as they were handed over: it never held more than the queue's
    // worth, not the whole file's.
    let most = p.app.world().resource::<MostUtterances>().0;
    assert!(most <= max_queue + per_read + 2, "{most} utterances in the world at once");
    assert_eq!(p.app.world_mut().query::<&hark_core::Utterance>().iter(p.app.world()).count(), 0);
    // And the store has all of them.
    let r = hark_store::Reader::open(&db).unwrap();
    let id = end.session_id.unwrap();
    let segs = r.segments(id).unwrap();
    assert_eq!(segs.iter().map(|g| g.text.trim().to_owned()).collect::<Vec<_>>(), expected);
    assert_eq!(r.audio(id).unwrap().len(), audio.len());
}

/// 0.6 s of faint noise, `voiced` s of the buzz, 0.6 s of faint noise.
fn long_utterance_audio(voiced: f32) -> Vec<f32> {
    let one = utterance_audio();
    let sr = 16_000usize;
    let buzz = &one[(0.6 * sr as f32) as usize..(1.8 * sr as f32) as usize];
    let quiet = &one[..(0.6 * sr as f32) as usize];
    let mut out = quiet.to_vec();
    while out.len() < quiet.len() + (voiced * sr as f32) as usize {
        out.extend_from_slice(buzz);
    }
    out.extend_from_slice(quiet);
    out
}

/// A pipeline over `opts` with the stand-in recogniser (each decode taking `delay`), saving to
/// `db`, whose virtual clock brings 50 ms of audio a frame.
fn stand_in_pipeline(mut opts: PipelineOptions, db: &Path, delay: Duration) -> Pipeline {
    opts.extend = Some(|app| {
        app.add_plugins(ReleaseFinishedSessions);
    });
    virtual_time_pipeline(&opts, db, Box::new(StandIn { calls: 0, delay, fail_every: None }))
}

/// A pipeline over `opts` with `engine`, saving to `db`, whose virtual clock brings 50 ms of
/// audio a frame.
fn virtual_time_pipeline(opts: &PipelineOptions, db: &Path, engine: Box<dyn Engine>) -> Pipeline {
    let mut p = Pipeline::with_engines(opts, vec![engine]);
    p.app.insert_resource(hark_store::Writer::open(db).unwrap());
    p.app.insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    p
}

#[test]
fn a_slow_recogniser_thins_out_partials_and_never_drops_a_final() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.segment.merge_gap_secs = 0.0;
    opts.segment.partial_interval_secs = 0.5;
    // Each decode takes 150 ms of real time, while virtual time brings 50 ms of audio a frame
    // and the frames come as fast as the machine runs them: the recogniser cannot keep up.
    let mut p = stand_in_pipeline(opts, &db, Duration::from_millis(150));
    let one = long_utterance_audio(4.0);
    let audio: Vec<f32> = (0..5).flat_map(|_| one.iter().copied()).collect();
    let s =
        p.start(SourceKind::Memory, Source::Samples { samples: audio.into(), pos: 0 }, "live".into(), Pace::RealTime);
    let mut partial_passes = 0;
    while p.app.world().get_entity(s).is_ok() {
        p.app.update();
        if let Some(pt) = p.app.world().get::<hark_core::PartialTranscript>(s) {
            partial_passes = partial_passes.max(pt.passes.min(1000));
        }
    }
    let rec = p.app.world().resource::<Recognizer>();
    assert!(rec.partials_decoded > 0, "no partial was decoded");
    assert!(rec.partials_skipped > 0, "no partial was overtaken: {} decoded", rec.partials_decoded);
    assert!(partial_passes > 0, "no partial was shown");
    assert_eq!(rec.in_flight(), 0);
    // Every utterance has its final text, and partials are never stored.
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let row = &r.sessions().unwrap()[0];
    assert_eq!(row.state, SessionState::Complete);
    let segs = r.segments(row.id).unwrap();
    assert_eq!(segs.len(), 5, "{segs:?}");
    assert!(segs.iter().all(|g| !g.suspect && g.text.starts_with("word ")), "{segs:?}");
}

/// Plays `audio` through `p` as a live capture, in virtual real time, until its session ends.
fn run_live(p: &mut Pipeline, audio: Vec<f32>) {
    let s =
        p.start(SourceKind::Memory, Source::Samples { samples: audio.into(), pos: 0 }, "live".into(), Pace::RealTime);
    while p.app.world().get_entity(s).is_ok() {
        p.app.update();
        p.app.world_mut().resource_mut::<Recognizer>().wait();
    }
}

/// Live segmenting (speculative finals) with no partials, the energy VAD and the stand-in.
fn live_finals_only() -> PipelineOptions {
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.segment =
        hark_segment::SegmentSettings { partial_interval_secs: 0.0, ..hark_segment::SegmentSettings::live() };
    opts
}

#[test]
fn a_final_decoded_as_the_speaker_stops_is_the_final_unless_they_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let opts = live_finals_only();
    let mut p = stand_in_pipeline(opts, &db, Duration::ZERO);
    // Five utterances; the third has a 0.3 s pause inside it (shorter than the hangover), so
    // its first speculation is wrong and dropped.
    let one = long_utterance_audio(2.0);
    let quiet = &one[..9_600];
    let mut audio = Vec::new();
    for i in 0..5 {
        if i == 2 {
            audio.extend_from_slice(&one[..one.len() - 9_600]);
            audio.extend_from_slice(&quiet[..4_800]);
            audio.extend_from_slice(&one[9_600..]);
        } else {
            audio.extend_from_slice(&one);
        }
    }
    run_live(&mut p, audio);
    let rec = p.app.world().resource::<Recognizer>();
    // Each utterance's final is its last speculation: no decode of its own.
    assert_eq!(rec.speculative_used, 5, "{} speculations decoded", rec.speculative_decoded);
    assert_eq!(rec.speculative_decoded, 6, "one speculation at each pause");
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let row = &r.sessions().unwrap()[0];
    assert_eq!(row.state, SessionState::Complete);
    let segs = r.segments(row.id).unwrap();
    // The stand-in numbers its calls: the dropped speculation was the third call.
    let texts: Vec<&str> = segs.iter().map(|g| g.text.as_str()).collect();
    assert_eq!(texts, ["word 1", "word 2", "word 4", "word 5", "word 6"], "{segs:?}");
    // What the person waited is stored with the session.
    let latency = row.latency.expect("latency figures stored");
    assert_eq!(latency.final_ms.map(|q| q.n), Some(5));
}

/// With prompts (`--prompt`), live finals are still decoded as the speaker stops: each waits
/// for the text before it, which is then the prompt its final would get.
#[test]
fn with_prompts_a_final_decoded_as_the_speaker_stops_carries_the_text_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut opts = live_finals_only();
    opts.transcribe.use_prompt = true;
    let mut p = stand_in_pipeline(opts, &db, Duration::ZERO);
    let one = long_utterance_audio(2.0);
    let audio: Vec<f32> = (0..4).flat_map(|_| one.iter().copied()).collect();
    run_live(&mut p, audio);
    let rec = p.app.world().resource::<Recognizer>();
    assert_eq!((rec.speculative_decoded, rec.speculative_used), (4, 4), "each final is its speculation");
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let row = &r.sessions().unwrap()[0];
    let texts: Vec<String> = r.segments(row.id).unwrap().into_iter().map(|g| g.text).collect();
    assert_eq!(texts, ["word 1", "word 2 after 1", "word 3 after 2", "word 4 after 3"]);
}

/// Live capture closes an utterance at a 0.3 s pause (its final can be shown that soon after
/// the speaker stops); a file's 0.6 s hangover keeps a 0.45 s pause inside the utterance.
#[test]
fn live_capture_closes_an_utterance_at_a_shorter_pause_than_a_file() {
    let one = long_utterance_audio(2.0);
    let quiet = &one[..9_600];
    let mut audio = one[..one.len() - 9_600].to_vec();
    audio.extend_from_slice(&quiet[..7_200]);
    audio.extend_from_slice(&one[9_600..]);
    let audio: std::sync::Arc<[f32]> = audio.into();
    let utterances = |live: bool| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hark.db");
        let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
        opts.vad.detector = hark_vad::DetectorKind::Energy;
        if live {
            opts.live(false);
        } else {
            opts.segment.merge_gap_secs = 0.0;
        }
        let mut p = stand_in_pipeline(opts, &db, Duration::ZERO);
        let s = p.start(
            SourceKind::Memory,
            Source::Samples { samples: audio.clone(), pos: 0 },
            "pause".into(),
            Pace::RealTime,
        );
        while p.app.world().get_entity(s).is_ok() {
            p.app.update();
            p.app.world_mut().resource_mut::<Recognizer>().wait();
        }
        p.app.world().resource::<hark_store::Writer>().flush().unwrap();
        let r = hark_store::Reader::open(&db).unwrap();
        let row = &r.sessions().unwrap()[0];
        assert_eq!(row.state, SessionState::Complete);
        r.segments(row.id).unwrap().len()
    };
    assert_eq!(utterances(true), 2);
    assert_eq!(utterances(false), 1);
}

/// Speech like quick talk: `words` bursts of the buzz (0.35 s) each followed by a 0.27 s pause
/// (shorter than the live hangover), then 1.2 s of faint noise.
fn quick_talk(words: usize) -> Vec<f32> {
    let one = utterance_audio();
    let sr = 16_000.0;
    let at = |s: f32| (s * sr) as usize;
    let (buzz, quiet) = (&one[at(0.6)..at(0.95)], &one[..at(0.6)]);
    let mut out = quiet.to_vec();
    for _ in 0..words {
        out.extend_from_slice(buzz);
        out.extend_from_slice(&quiet[..at(0.27)]);
    }
    out.extend_from_slice(quiet);
    out.extend_from_slice(quiet);
    out
}

#[test]
fn text_being_said_keeps_coming_when_every_decode_takes_most_of_a_words_length() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.live(true);
    opts.extend = Some(|app| {
        app.add_plugins(ReleaseFinishedSessions);
    });
    let (go, gate) = std::sync::mpsc::channel();
    let mut p = virtual_time_pipeline(&opts, &db, Box::new(Gated { calls: 0, go: gate }));
    // Two utterances of 16 quick words (about 10 s each); every decode takes 0.4 s of audio
    // time (8 frames), longer than the pause after each word: a slower machine than ours.
    let audio: Vec<f32> = (0..2).flat_map(|_| quick_talk(16)).collect();
    let s =
        p.start(SourceKind::Memory, Source::Samples { samples: audio.into(), pos: 0 }, "live".into(), Pace::RealTime);
    const DECODE_FRAMES: u32 = 8;
    let (mut frames, mut cancelled) = (0, 0);
    // Partial texts shown, by utterance start, and the session sample each appeared at.
    let mut shown: Vec<(u64, u64, String)> = Vec::new();
    while p.app.world().get_entity(s).is_ok() {
        p.app.update();
        let world = p.app.world();
        if let (Some(pt), Some(clock)) =
            (world.get::<hark_core::PartialTranscript>(s), world.get::<hark_core::SessionClock>(s))
        {
            let text = format!("{} {}", pt.committed, pt.tentative);
            if shown.last().is_none_or(|l| l.2 != text) {
                shown.push((pt.start, clock.captured, text));
            }
        }
        let mut rec = p.app.world_mut().resource_mut::<Recognizer>();
        if rec.decoding() > 0 {
            frames += 1;
            // A cancelled decode stops at once (whisper.cpp checks between tokens).
            if frames >= DECODE_FRAMES || rec.cancelled > cancelled {
                go.send(()).unwrap();
                rec.wait();
                frames = 0;
            }
        } else {
            frames = 0;
        }
        cancelled = rec.cancelled;
    }
    // Each utterance's text grew while it was said: a new text at least every 1.5 s of it
    // (a decode every 0.48 s of audio asked for, each taking 0.4 s).
    let mut starts: Vec<u64> = shown.iter().map(|s| s.0).collect();
    starts.dedup();
    assert_eq!(starts.len(), 2, "{shown:?}");
    for start in starts {
        let at: Vec<u64> = shown.iter().filter(|s| s.0 == start).map(|s| s.1).collect();
        assert!(at.len() >= 6, "{} texts of the utterance at {start}: {shown:?}", at.len());
        let gaps = at.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(gaps <= 24_000, "{gaps} samples without new text: {shown:?}");
    }
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let segs = r.segments(r.sessions().unwrap()[0].id).unwrap();
    assert_eq!(segs.len(), 2, "{segs:?}");
}

/// A recogniser that says what it was given: each text is the audio's length and a hash of its
/// samples' bits, so audio read back from the store must be the very samples that were cut.
/// Each decode lasts until the test lets it go (one message on `go`).
struct Fingerprint {
    go: std::sync::mpsc::Receiver<()>,
}

impl Engine for Fingerprint {
    fn transcribe(&mut self, audio: &[f32], _prompt: Option<&str>) -> Result<EngineOutput, EngineError> {
        use std::hash::{Hash, Hasher};
        // Bounded, so that a decode the test does not expect cannot hang it for good.
        let _ = self.go.recv_timeout(Duration::from_secs(60));
        let mut h = std::hash::DefaultHasher::new();
        audio.iter().for_each(|x| x.to_bits().hash(&mut h));
        let mut out = said_by_call(0, audio, None);
        let s = &mut out.segments[0];
        s.tokens[0].bytes = format!(" n{}", audio.len()).into_bytes();
        s.tokens[1].bytes = format!(" h{:016x}", h.finish()).into_bytes();
        s.text = s.tokens.iter().map(|t| String::from_utf8_lossy(&t.bytes).into_owned()).collect();
        Ok(out)
    }
}

/// A live capture of twelve utterances that transcription falls behind on, each waiting
/// utterance's audio kept in memory up to `keep_secs` a session: the saved texts, how many
/// utterances had their audio let go at once at most, and the most waiting audio held in
/// memory (samples).
fn live_backlog(keep_secs: f64) -> (Vec<String>, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut opts = PipelineOptions::new(PathBuf::from("stand-in"));
    opts.vad.detector = hark_vad::DetectorKind::Energy;
    opts.segment.merge_gap_secs = 0.0;
    // Frames as fast as the machine runs them, not held while a backlog waits.
    opts.transcribe.block_when_idle = false;
    opts.extend = Some(|app| {
        app.add_plugins(ReleaseFinishedSessions);
    });
    // The first decode lasts until the whole capture has been heard, so every utterance waits.
    let (go, gate) = std::sync::mpsc::channel();
    let mut p = virtual_time_pipeline(&opts, &db, Box::new(Fingerprint { go: gate }));
    p.app.insert_resource(hark_store::WaitingAudio { keep_secs });
    // Utterances of different lengths and levels, so that a span read from the wrong place shows.
    let audio: Vec<f32> = (0..12)
        .flat_map(|i| long_utterance_audio(0.8 + 0.15 * i as f32).into_iter().map(move |x| x * (1.0 - 0.04 * i as f32)))
        .collect();
    let played = audio.len();
    let s = p.start(
        SourceKind::Microphone,
        Source::Samples { samples: audio.into(), pos: 0 },
        "mic".into(),
        Pace::RealTime,
    );
    let (mut most_spilled, mut most_in_memory) = (0, 0);
    let mut waiting = p.app.world_mut().query_filtered::<(Option<&hark_core::UtteranceAudio>, Has<hark_core::SpilledAudio>), (
        Without<hark_core::TranscriptionPending>,
        Without<hark_core::Transcript>,
    )>();
    while p.app.world().get_entity(s).is_ok() {
        p.app.update();
        if p.app.world().get::<hark_core::SessionClock>(s).is_some_and(|c| c.captured >= played as u64) {
            let _ = go.send(());
        }
        let (mut spilled, mut in_memory) = (0, 0);
        for (audio, out) in waiting.iter(p.app.world()) {
            spilled += usize::from(out);
            in_memory += audio.map_or(0, |a| a.0.len() as u64);
        }
        most_spilled = most_spilled.max(spilled);
        most_in_memory = most_in_memory.max(in_memory);
    }
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let r = hark_store::Reader::open(&db).unwrap();
    let row = &r.sessions().unwrap()[0];
    assert_eq!(row.state, SessionState::Complete);
    assert_eq!(r.audio(row.id).unwrap().len(), played, "every sample is stored");
    let segs = r.segments(row.id).unwrap();
    assert!(segs.iter().all(|g| !g.suspect), "{segs:?}");
    (segs.iter().map(|g| g.text.trim().to_owned()).collect(), most_spilled, most_in_memory)
}

#[test]
fn a_live_backlog_holds_only_the_oldest_waiting_audio_and_reads_the_rest_back_from_the_database() {
    let secs = |n: u64| n as f64 / 16_000.0;
    let (kept, spilled, all_in_memory) = live_backlog(1000.0);
    assert_eq!(spilled, 0, "nothing is let go under the limit");
    assert_eq!(kept.len(), 12, "{kept:?}");
    assert!(all_in_memory > 20 * 16_000, "only {:.1} s waited: no backlog", secs(all_in_memory));
    let (texts, spilled, in_memory) = live_backlog(3.0);
    assert!(spilled >= 6, "at most {spilled} utterances had their audio let go at once");
    // At most the limit, and the newest utterance while its audio is not yet with the writer
    // (the longest is under 5 s here).
    assert!(in_memory <= 8 * 16_000, "{:.1} s of waiting audio in memory", secs(in_memory));
    // The recogniser heard exactly the audio it would have heard from memory.
    assert_eq!(texts, kept);
}
