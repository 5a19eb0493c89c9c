//! A capture cut short (the process gone mid-sentence) is offered for transcription when the
//! window next opens, and finished there: headless, the window's recovery plugin on the real
//! pipeline, model and SQLite file, stepped with virtual time.

mod common;

use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use common::{corpus, test_model};
use hark::pipeline::{Pipeline, PipelineOptions};
use hark::recover::RecoverPlugin;
use hark_capture::{Pace, Source};
use hark_core::{SessionClock, SessionState, SourceKind, text::wer};
use hark_ui::quit::{QuitPlugin, QuitRequest};
use hark_ui::recovery::Recovery;

/// A pipeline on `db` as the window has it: recovery and quitting included.
fn window_pipeline(m: &std::path::Path, db: &std::path::Path) -> Pipeline {
    let mut opts = PipelineOptions::new(m.to_path_buf());
    opts.database = Some(db.to_path_buf());
    opts.extend = Some(|app| {
        app.add_plugins((RecoverPlugin, QuitPlugin));
    });
    let mut p = Pipeline::new(&opts).unwrap();
    p.app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(50)));
    p
}

/// Captures `clip` from a microphone-like source for `secs` and then "crashes": the app is
/// dropped without finishing, as a killed process would leave it.
fn cut_short(m: &std::path::Path, db: &std::path::Path, clip: &[f32], secs: f64) -> u64 {
    let mut p = window_pipeline(m, db);
    let s = p.start(
        SourceKind::Microphone,
        Source::Samples { samples: clip.to_vec().into(), pos: 0 },
        "mic".into(),
        Pace::RealTime,
    );
    for _ in 0..(secs * 20.0) as usize {
        p.app.update();
    }
    let heard = p.app.world().get::<SessionClock>(s).unwrap().captured;
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    drop(p);
    heard
}

#[test]
fn a_capture_cut_short_is_offered_at_start_and_finished_when_accepted() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hark.db");
    let jfk = hark_capture::read_16k_mono(&c.join("jfk.wav")).unwrap();
    // 6 s in: "… ask not what your country can do for you", mid-sentence, nothing transcribed.
    let heard = cut_short(&m, &db, &jfk, 6.0);
    assert!(heard >= 5 * 16_000, "{heard} samples");

    let mut p = window_pipeline(&m, &db);
    p.app.update();
    let offered = p.app.world().resource::<Recovery>().offered.clone();
    assert_eq!(offered.len(), 1, "{offered:?}");
    let secs = hark_core::samples_to_secs(heard);
    assert!((offered[0].untranscribed_s - secs).abs() < 0.6, "{offered:?} against {secs} s heard");
    // Nothing happens until the user agrees.
    for _ in 0..20 {
        p.app.update();
    }
    assert!(p.app.world().resource::<Recovery>().running.is_empty());
    let r = hark_store::Reader::open(&db).unwrap();
    assert_eq!(r.sessions().unwrap()[0].state, SessionState::Interrupted);

    p.app.world_mut().resource_mut::<Recovery>().requested = true;
    p.app.update();
    assert_eq!(p.app.world().resource::<Recovery>().running.len(), 1);
    // A close while it runs waits for it instead of cutting it short again.
    p.app.world_mut().write_message(QuitRequest);
    for _ in 0..20_000 {
        p.app.update();
        if p.app.world().resource::<Recovery>().running.is_empty() {
            break;
        }
    }
    let rec = p.app.world().resource::<Recovery>();
    assert!(rec.running.is_empty() && rec.finished == 1, "{rec:?}");
    p.app.world().resource::<hark_store::Writer>().flush().unwrap();
    let row = &r.sessions().unwrap()[0];
    assert_eq!(row.state, SessionState::Complete);
    // Audio is committed every half second: a crash loses at most the last one, and the
    // recovery stores nothing twice.
    assert!(row.duration_s > secs - 0.55 && row.duration_s <= secs, "{row:?} against {secs} s heard");
    let stored = r.audio(row.id).unwrap().len() as u64;
    assert!((hark_core::samples_to_secs(stored) - row.duration_s).abs() < 1e-3, "{stored} samples, {row:?}");
    let text: Vec<String> = r.segments(row.id).unwrap().into_iter().map(|g| g.text).collect();
    let w = wer("and so my fellow americans ask not what your country", &text.join(" "));
    assert!(w.rate() <= 0.3, "{text:?}");

    // The next start has nothing to offer.
    drop(p);
    let mut p = window_pipeline(&m, &db);
    p.app.update();
    assert!(p.app.world().resource::<Recovery>().offered.is_empty());
}
