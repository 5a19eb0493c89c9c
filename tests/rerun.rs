//! Re-running a saved session from the window's side, headless: the replay, versions and
//! re-run plugins on a real SQLite file with the real model, the app stepped and the reader
//! and re-run threads waited for between frames.

mod common;

use std::path::Path;

use bevy::prelude::*;
use common::{corpus, test_model};
use hark::pipeline::{Pipeline, PipelineOptions, add_pipeline};
use hark::rerun::{RerunPlugin, Reruns};
use hark_capture::Pace;
use hark_replay::feed::Feed;
use hark_replay::versions::{RerunSettings, RerunStatus, VersionRequest};
use hark_replay::{Replay, ReplayPlugin, ReplayRequest};
use hark_store::{Reader, Writer};
use hark_transcribe::{Engine, WhisperEngine};

fn app(opts: &PipelineOptions, db: &Path) -> App {
    let engines: Vec<Box<dyn Engine>> = WhisperEngine::load_workers(&opts.model, opts.whisper.clone(), 1)
        .unwrap()
        .into_iter()
        .map(|e| Box::new(e) as Box<dyn Engine>)
        .collect();
    let mut app = App::new();
    app.add_plugins(MinimalPlugins);
    add_pipeline(&mut app, opts, engines);
    app.insert_resource(Writer::open(db).unwrap()).add_plugins((
        hark_store::BrowsePlugin { database: Some(db.to_path_buf()) },
        ReplayPlugin { database: Some(db.to_path_buf()), sound: false, output: None },
        RerunPlugin { opts: opts.clone(), models_dir: opts.model.parent().unwrap().to_path_buf() },
    ));
    app.finish();
    app.cleanup();
    app
}

/// Frames until the re-run threads and the replay reader have answered everything asked.
fn settle(app: &mut App) {
    for _ in 0..4 {
        app.world_mut().resource_mut::<Reruns>().wait();
        app.world_mut().resource_mut::<Feed>().wait();
        app.update();
    }
}

fn texts(app: &App) -> Vec<String> {
    let s = app.world().resource::<Replay>().session.clone().expect("a session is open");
    s.segments.iter().map(|g| g.text.clone()).collect()
}

#[test]
fn a_replayed_session_is_re_run_compared_and_switched_without_leaving_the_window() {
    let (Some(c), Some(m)) = (corpus(), test_model()) else { return };
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let mut opts = PipelineOptions::new(m);
    opts.database = Some(db.clone());
    let mut p = Pipeline::new(&opts).unwrap();
    let t = p.transcribe_file(&c.join("mfa_acoustic_corpus.wav"), Pace::Fast, |_| {}).unwrap();
    let id = t.session_id.unwrap();
    drop(p);

    opts.database = None;
    let mut app = app(&opts, &db);
    app.world_mut().write_message(ReplayRequest::Open(id));
    settle(&mut app);
    let reader = Reader::open(&db).unwrap();
    let v1: Vec<String> = reader.segments_of(id, 1).unwrap().into_iter().map(|g| g.text).collect();
    assert_eq!(texts(&app), v1);
    let versions = app.world().resource::<Replay>().session.as_ref().unwrap().versions.clone();
    assert_eq!((versions.len(), versions[0].current), (1, true));

    // Re-run with pauses not joined: the window goes on while it runs.
    let settings = RerunSettings { model: None, merge_pauses_s: 0.0, beam_size: 1, temperature_inc: 0.0 };
    app.world_mut().write_message(VersionRequest::Rerun { session: id, span: None, settings: settings.clone() });
    app.update();
    assert!(app.world().resource::<RerunStatus>().running(), "{:?}", app.world().resource::<RerunStatus>());
    settle(&mut app);
    assert_eq!(*app.world().resource::<RerunStatus>(), RerunStatus::Done { session: id, version: 2 });
    let s = app.world().resource::<Replay>().session.clone().unwrap();
    let listed: Vec<(i64, bool)> = s.versions.iter().map(|v| (v.version, v.current)).collect();
    assert_eq!(listed, [(1, true), (2, false)], "the new version is listed, the old one still shown");
    assert!(s.versions[1].settings.contains("\"merge_pauses_s\":0.0"), "{}", s.versions[1].settings);
    assert_eq!(texts(&app), v1);
    let v2: Vec<String> = reader.segments_of(id, 2).unwrap().into_iter().map(|g| g.text).collect();
    assert!(v2.len() > v1.len(), "pauses not joined cut more utterances: {v2:?}");

    // Compared side by side: the changes are the store's diff.
    app.world_mut().write_message(ReplayRequest::Compare(Some((1, 2))));
    settle(&mut app);
    let cmp = app.world().resource::<Replay>().comparison.clone().expect("compared");
    assert_eq!((cmp.a, cmp.b), (1, 2));
    assert_eq!(cmp.changes, reader.diff(id, 1, 2).unwrap());
    assert_eq!(
        cmp.changed_old().iter().filter(|c| **c).count(),
        cmp.changes.iter().map(|c| c.old.len()).sum::<usize>()
    );

    // Use: the replay shows version 2, search and the list follow.
    app.world_mut().write_message(VersionRequest::Use { session: id, version: 2 });
    settle(&mut app);
    assert_eq!(texts(&app), v2);
    let s = app.world().resource::<Replay>().session.clone().unwrap();
    assert!(s.versions[1].current && !s.versions[0].current);
    assert_eq!(reader.current_version(id).unwrap(), 2);
    app.world_mut().write_message(ReplayRequest::Compare(None));
    settle(&mut app);
    assert!(app.world().resource::<Replay>().comparison.is_none());

    // A re-run of a session that is not there says so; nothing is added.
    app.world_mut().write_message(VersionRequest::Rerun { session: 99, span: None, settings });
    settle(&mut app);
    match app.world().resource::<RerunStatus>() {
        RerunStatus::Failed(e) => assert!(e.contains("no session 99"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(reader.versions(id).unwrap().len(), 2);
}
