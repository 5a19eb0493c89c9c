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
    // Three phrases whose pauses a file's defaults join into one utterance.
    let t = p.transcribe_file(&c.join("mfa_surround.wav"), Pace::Fast, |_| {}).unwrap();
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
    let settings =
        RerunSettings { model: None, merge_pauses_s: 0.0, beam_size: 1, temperature_inc: 0.0, vad_threshold: 0.5 };
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

/// Frames until the session actions, the replay reader and the sessions list have answered.
fn settle_actions(app: &mut App) {
    for _ in 0..4 {
        app.world_mut().resource_mut::<hark::actions::Actions>().wait();
        app.world_mut().resource_mut::<Feed>().wait();
        app.world_mut().resource_scope(|world, mut browser: Mut<hark_store::Browser>| {
            browser.wait(&mut world.resource_mut::<hark_store::Browsing>());
        });
        app.update();
    }
}

fn outcome(app: &App) -> Result<String, String> {
    app.world().resource::<hark_replay::versions::ActionOutcome>().0.clone().expect("an outcome")
}

#[test]
fn a_replayed_session_is_renamed_exported_and_deleted_from_the_window() {
    use hark_core::{SourceKind, Word};
    use hark_replay::versions::{ExportKind, SessionAction};
    use hark_store::Command;
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("hark.db");
    let audio: Vec<f32> = (0..32_000).map(|i| ((i as f32 * 0.01).sin() * 8_000.0).round() / 32_768.0).collect();
    {
        let w = Writer::open(&db).unwrap();
        let id = w.create_session("Default Audio Device", SourceKind::Microphone, "mic", "tiny.en", "{}").unwrap();
        w.send(Command::Audio { session: id, start: 0, samples: audio.clone().into() });
        w.send(Command::Segment { session: id, idx: 0, start: 1_000, end: 30_000, vad_mean: 0.9, vad_speech: 1.0 });
        let words = vec![
            Word { start: 2_000, end: 9_000, text: " Budget".into(), probability: 0.9 },
            Word { start: 10_000, end: 20_000, text: " approved.".into(), probability: 0.9 },
        ];
        w.send(Command::Transcript {
            session: id,
            idx: 0,
            text: "Budget approved.".into(),
            words,
            no_speech: 0.0,
            suspect: false,
            unheard: Vec::new(),
            model: "tiny.en".into(),
            settings: "{}".into(),
        });
        w.send(Command::SetState { session: id, state: hark_core::SessionState::Complete });
        w.close().unwrap();
    }
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, hark_core::HarkCorePlugin));
    app.insert_resource(Writer::open(&db).unwrap()).add_plugins((
        hark_store::BrowsePlugin { database: Some(db.clone()) },
        ReplayPlugin { database: Some(db.clone()), sound: false, output: None },
        hark::actions::SessionActionsPlugin,
    ));
    app.finish();
    app.cleanup();
    app.world_mut().write_message(ReplayRequest::Open(1));
    settle_actions(&mut app);

    // Renamed in place: the replay and the sessions list show the new title.
    app.world_mut().write_message(SessionAction::Rename { session: 1, title: "  Budget meeting ".into() });
    settle_actions(&mut app);
    assert_eq!(outcome(&app), Ok("renamed session 1 to \"Budget meeting\"".into()));
    assert_eq!(app.world().resource::<Replay>().session.as_ref().unwrap().title, "Budget meeting");
    assert_eq!(app.world().resource::<hark_store::Browsing>().sessions[0].title, "Budget meeting");
    app.world_mut().write_message(SessionAction::Rename { session: 1, title: " ".into() });
    settle_actions(&mut app);
    assert_eq!(outcome(&app), Err("a session needs a title".into()));

    // Exported: the text and the samples as stored.
    let txt = d.path().join("budget.txt");
    app.world_mut().write_message(SessionAction::Export { session: 1, kind: ExportKind::Txt, path: txt.clone() });
    settle_actions(&mut app);
    assert_eq!(outcome(&app), Ok(format!("wrote {}", txt.display())));
    assert_eq!(std::fs::read_to_string(&txt).unwrap(), "Budget approved.\n");
    let wav = d.path().join("budget.wav");
    app.world_mut().write_message(SessionAction::Export { session: 1, kind: ExportKind::Wav, path: wav.clone() });
    settle_actions(&mut app);
    assert_eq!(hark_capture::read_16k_mono(&wav).unwrap(), audio);
    // Not onto the database, whatever the path.
    let sneaky = d.path().join(".").join("hark.db");
    app.world_mut().write_message(SessionAction::Export { session: 1, kind: ExportKind::Json, path: sneaky });
    settle_actions(&mut app);
    let e = outcome(&app).unwrap_err();
    assert!(e.contains("session database"), "{e}");
    assert_eq!(Reader::open(&db).unwrap().session(1).unwrap().title, "Budget meeting");

    // Deleted: gone from the database, the list and the replay.
    app.world_mut().write_message(SessionAction::Delete { session: 1 });
    settle_actions(&mut app);
    assert_eq!(outcome(&app), Ok("deleted session 1".into()));
    assert!(app.world().resource::<Replay>().session.is_none());
    assert!(app.world().resource::<hark_store::Browsing>().sessions.is_empty());
    assert!(matches!(Reader::open(&db).unwrap().session(1), Err(hark_store::StoreError::NoSession(1))));
    app.world_mut().write_message(SessionAction::Delete { session: 1 });
    settle_actions(&mut app);
    assert!(outcome(&app).unwrap_err().contains("no session 1"));
}
