//! Quitting the window mid-capture (title-bar ✕, Ctrl+Q) loses nothing: the capture stops,
//! its tail is transcribed, the session is saved `complete` with every sample heard, and only
//! then does the app exit. Headless: the pipeline, the store and the window's quit plugin,
//! stepped with virtual time.

mod common;

use std::time::Duration;

use bevy::app::AppExit;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use common::{corpus, test_model};
use hark::pipeline::{Pipeline, PipelineOptions};
use hark_capture::{Pace, Source};
use hark_core::{SessionClock, SessionState, SourceKind, text::wer};
use hark_ui::quit::{QuitPlugin, QuitRequest};

#[test]
fn quitting_mid_capture_finishes_and_saves_the_session() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let mut opts = PipelineOptions::new(m);
    opts.database = Some(db.clone());
    opts.extend = Some(|app| {
        app.add_plugins(QuitPlugin);
    });
    let mut p = Pipeline::new(&opts).unwrap();
    // A live-like capture: 50 ms of audio per update, in virtual time.
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    let jfk = hark_capture::read_16k_mono(&c.join("jfk.wav")).unwrap();
    let s =
        p.start(SourceKind::Microphone, Source::Samples { samples: jfk.into(), pos: 0 }, "mic".into(), Pace::RealTime);
    // 5.5 s in, mid-sentence ("… ask not what your country …").
    for _ in 0..110 {
        p.app.update();
    }
    let heard = p.app.world().get::<SessionClock>(s).unwrap().captured;
    assert!(heard >= 5 * 16_000, "{heard} samples captured");
    p.app.world_mut().write_message(QuitRequest);
    let mut exits = p.app.world().resource::<Messages<AppExit>>().get_cursor();
    let mut exit = None;
    for _ in 0..20_000 {
        p.app.update();
        if let Some(e) = exits.read(p.app.world().resource::<Messages<AppExit>>()).next() {
            exit = Some(e.clone());
            break;
        }
    }
    assert_eq!(exit, Some(AppExit::Success), "the app did not exit");
    assert_eq!(p.app.world().get::<SessionState>(s), Some(&SessionState::Complete));
    let captured = p.app.world().get::<SessionClock>(s).unwrap().captured;
    let r = hark_store::Reader::open(&db).unwrap();
    let rows = r.sessions().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, SessionState::Complete);
    let audio = r.audio(rows[0].id).unwrap();
    assert_eq!(audio.len() as u64, captured, "every sample heard is stored");
    assert_eq!(&audio[..], &hark_capture::read_16k_mono(&c.join("jfk.wav")).unwrap()[..audio.len()]);
    let text: Vec<String> = r.segments(rows[0].id).unwrap().into_iter().map(|g| g.text).collect();
    let w = wer("and so my fellow americans ask not", &text.join(" "));
    assert!(w.rate() <= 0.3, "{text:?}");
}

#[test]
fn a_second_quit_request_exits_at_once() {
    let Some(m) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut opts = PipelineOptions::new(m);
    opts.database = Some(dir.path().join("hark.db"));
    opts.extend = Some(|app| {
        app.add_plugins(QuitPlugin);
    });
    let mut p = Pipeline::new(&opts).unwrap();
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    // Speech-like noise for 30 s, so there is work left when quitting.
    let noise: Vec<f32> =
        (0..30 * 16_000).map(|i| 0.3 * ((i as f32 * 0.07).sin() * (i as f32 * 0.0013).sin())).collect();
    let s = p.start(
        SourceKind::Microphone,
        Source::Samples { samples: noise.into(), pos: 0 },
        "mic".into(),
        Pace::RealTime,
    );
    for _ in 0..40 {
        p.app.update();
    }
    p.app.world_mut().write_message(QuitRequest);
    p.app.update();
    p.app.world_mut().write_message(QuitRequest);
    p.app.update();
    let exits = p.app.world().resource::<Messages<AppExit>>();
    assert!(!exits.is_empty(), "a second request must exit without waiting");
    assert_ne!(p.app.world().get::<SessionState>(s), Some(&SessionState::Recording));
}
