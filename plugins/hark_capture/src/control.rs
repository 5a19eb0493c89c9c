//! Starting and stopping captures, choosing the input device, and the always-on recall buffer:
//! what the window (or any front end) asks for with messages. [`session_bundle`] is the one
//! place a session entity is made, whoever starts it.

use std::path::PathBuf;

use bevy::prelude::*;
use hark_core::{CaptureEnded, PipelineSystems, Session, SessionClock, SourceKind, StopCapture, samples_to_secs};

use crate::{CaptureSource, FileSource, InputDevice, MicSource, Pace, Recall, Source, list_input_devices};

/// What a new session is made of: the session, its clock and its source.
pub fn session_bundle(kind: SourceKind, description: String, source: Source, pace: Pace) -> impl Bundle {
    (Session { kind, source: description }, SessionClock::default(), CaptureSource::new(source, pace))
}

/// Start or stop the live capture (the chosen input device, or the demo file).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureRequest {
    Start,
    Stop,
    Toggle,
    /// Turn what the recall buffer holds (the last seconds of microphone audio) into a session.
    Recall,
}

/// Transcribe this audio file as a session of its own, as fast as the recogniser goes (a file
/// dropped on the window, `hark --open FILE`). It runs beside a live capture; a file that
/// cannot be read is said in a [`CaptureNotice`] naming it, and leaves no session.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct TranscribeFile(pub PathBuf);

/// Capture from this input device from now on (`None`: the system default). The recall buffer
/// moves there too; a running capture stays where it is.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct SelectInput(pub Option<String>);

/// List the input devices again (one was plugged in), and reopen the recall buffer if its
/// stream had failed.
#[derive(Message, Debug, Clone, Copy, Default)]
pub struct RefreshInputs;

/// Keep this many seconds of the microphone in the recall buffer from now on; 0 turns it off and
/// forgets what it held.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetRecall(pub u32);

/// A capture began: `session` is its entity.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct CaptureStarted {
    pub session: Entity,
    pub kind: SourceKind,
    pub description: String,
}

/// Something the person asking should read: why a capture could not start, why the recall
/// buffer is off.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct CaptureNotice(pub String);

/// What capture control knows and was told.
#[derive(Resource, Debug, Clone, Default)]
pub struct CaptureControl {
    /// The input device to open (`None`: the system default).
    pub device: Option<String>,
    /// Play this file as the microphone instead of opening a device (`hark --demo`).
    pub demo: Option<PathBuf>,
    /// Seconds the recall buffer keeps (0: off).
    pub recall_seconds: u32,
    /// The live session being captured (one at a time).
    pub active: Option<Entity>,
    /// What the last live capture was from, for people.
    pub source_label: String,
    /// The input devices found at the last refresh.
    pub devices: Vec<InputDevice>,
    /// New captures are refused (the app is closing).
    pub closed: bool,
}

/// Capture control for an interactive front end: handles [`CaptureRequest`], [`SelectInput`]
/// and [`RefreshInputs`], and keeps the recall buffer open on the chosen device.
#[derive(Debug, Default)]
pub struct CaptureControlPlugin;

impl Plugin for CaptureControlPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CaptureControl>()
            .init_resource::<Recall>()
            .add_message::<CaptureRequest>()
            .add_message::<SelectInput>()
            .add_message::<RefreshInputs>()
            .add_message::<SetRecall>()
            .add_message::<TranscribeFile>()
            .add_message::<CaptureStarted>()
            .add_message::<CaptureNotice>()
            .add_systems(
                Update,
                (select_input, handle_requests, transcribe_files).chain().in_set(PipelineSystems::Control),
            )
            .add_systems(Update, follow_ends.in_set(PipelineSystems::Output));
    }
}

/// Points the recall stream at the chosen device (off in demo mode; with no device yet, it
/// waits for one).
fn reopen_recall(control: &CaptureControl, recall: &mut Recall) -> Result<(), String> {
    if control.demo.is_some() {
        recall.stop();
        return Ok(());
    }
    recall.open(control.device.as_deref(), control.recall_seconds).map_err(|e| format!("recall buffer: {e}"))
}

fn select_input(
    mut control: ResMut<CaptureControl>,
    mut recall: ResMut<Recall>,
    mut select: MessageReader<SelectInput>,
    mut refresh: MessageReader<RefreshInputs>,
    mut set_recall: MessageReader<SetRecall>,
    mut notice: MessageWriter<CaptureNotice>,
) {
    let refreshed = refresh.read().count() > 0;
    let mut reopen_for_recall = false;
    for SetRecall(seconds) in set_recall.read() {
        if control.recall_seconds != *seconds {
            control.recall_seconds = *seconds;
            reopen_for_recall = true;
        }
        if *seconds == 0 {
            // Off means nothing is kept.
            recall.stop();
            recall.clear();
        }
    }
    if refreshed {
        control.devices = list_input_devices();
    }
    let mut reopen = (refreshed && !recall.is_running()) || reopen_for_recall;
    for SelectInput(device) in select.read() {
        if control.device != *device {
            control.device = device.clone();
            reopen = true;
        }
    }
    if reopen && let Err(e) = reopen_recall(&control, &mut recall) {
        notice.write(CaptureNotice(e));
    }
}

/// Starts and stops captures as asked (the system hotkeys are ordered before).
#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
pub fn handle_requests(
    mut commands: Commands,
    mut control: ResMut<CaptureControl>,
    mut req: MessageReader<CaptureRequest>,
    clocks: Query<&SessionClock>,
    mut stop: MessageWriter<StopCapture>,
    recall: Res<Recall>,
    mut started: MessageWriter<CaptureStarted>,
    mut notice: MessageWriter<CaptureNotice>,
) {
    if control.closed {
        req.clear();
        return;
    }
    for r in req.read() {
        let start = match r {
            CaptureRequest::Start if control.active.is_some() => continue,
            CaptureRequest::Start => true,
            CaptureRequest::Toggle => control.active.is_none(),
            CaptureRequest::Stop => false,
            CaptureRequest::Recall => {
                if control.active.is_some() {
                    notice.write(CaptureNotice("recording: what was just said is in this session already".into()));
                    continue;
                }
                // After a failure the buffer holds whatever came before it, however long ago.
                if let Some(e) = recall.failure() {
                    notice.write(CaptureNotice(format!(
                        "nothing to recall: the recall buffer stopped ({e}); choose a device or press Refresh devices"
                    )));
                    continue;
                }
                // Turned on before any microphone was there: it holds only the silence kept
                // while it looked for one.
                if !recall.heard() {
                    notice.write(CaptureNotice(
                        "nothing to recall: no microphone has been heard yet (the recall buffer is waiting for one)"
                            .into(),
                    ));
                    continue;
                }
                let samples = recall.snapshot();
                if samples.is_empty() {
                    notice.write(CaptureNotice("nothing to recall: the always-on buffer is off or empty".into()));
                    continue;
                }
                let label = format!("the last {:.0} s of microphone audio", samples_to_secs(samples.len() as u64));
                println!("capture started: recall, {label}");
                let source = Source::Samples { samples: samples.into(), pos: 0 };
                let session =
                    commands.spawn(session_bundle(SourceKind::Recall, label.clone(), source, Pace::Fast)).id();
                started.write(CaptureStarted { session, kind: SourceKind::Recall, description: label });
                continue;
            }
        };
        if start {
            let opened = match control.demo.clone() {
                Some(demo) => FileSource::open(&demo)
                    .map(|f| (SourceKind::Demo, Source::File(f), demo.display().to_string()))
                    .map_err(|e| e.to_string()),
                None => MicSource::open(control.device.as_deref())
                    .map(|m| (SourceKind::Microphone, m.description.clone(), m))
                    .map(|(k, label, m)| (k, Source::Mic(m), label))
                    .map_err(|e| {
                        if control.devices.is_empty() {
                            "no input device was found (connect one and press Refresh devices)".to_owned()
                        } else {
                            e.to_string()
                        }
                    }),
            };
            match opened {
                Ok((kind, source, label)) => {
                    let session = commands.spawn(session_bundle(kind, label.clone(), source, Pace::RealTime)).id();
                    println!("capture started: {label}");
                    control.source_label = label.clone();
                    control.active = Some(session);
                    started.write(CaptureStarted { session, kind, description: label });
                }
                Err(e) => {
                    notice.write(CaptureNotice(format!("{e}; file transcription and sessions still work")));
                }
            }
        } else if let Some(e) = control.active.take() {
            let captured = clocks.get(e).map(|c| c.captured).unwrap_or(0);
            stop.write(StopCapture { session: e });
            println!("capture stopped after {:.1} s", samples_to_secs(captured));
        }
    }
}

/// Starts a session for each file asked for.
fn transcribe_files(
    mut commands: Commands,
    control: Res<CaptureControl>,
    mut files: MessageReader<TranscribeFile>,
    mut started: MessageWriter<CaptureStarted>,
    mut notice: MessageWriter<CaptureNotice>,
) {
    for TranscribeFile(path) in files.read() {
        if control.closed {
            continue;
        }
        match FileSource::open(path) {
            Ok(f) => {
                let label = path.display().to_string();
                println!("transcribing a file: {label}");
                let session =
                    commands.spawn(session_bundle(SourceKind::File, label.clone(), Source::File(f), Pace::Fast)).id();
                started.write(CaptureStarted { session, kind: SourceKind::File, description: label });
            }
            Err(e) => {
                notice.write(CaptureNotice(format!("{e}; nothing was transcribed")));
            }
        }
    }
}

/// A capture that ended by itself (device lost, demo file over) leaves control ready for the
/// next one.
fn follow_ends(mut control: ResMut<CaptureControl>, mut ended: MessageReader<CaptureEnded>) {
    for e in ended.read() {
        if control.active == Some(e.session) {
            control.active = None;
            println!("capture stopped after {:.1} s", samples_to_secs(e.samples));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_core::{CaptureFinished, HarkCorePlugin};

    fn app(demo: Option<PathBuf>) -> App {
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, crate::CapturePlugin, CaptureControlPlugin))
            .init_resource::<Time>()
            .insert_resource(CaptureControl { demo, ..default() });
        app
    }

    fn sent<M: Message + Clone>(app: &App) -> Vec<M> {
        app.world().resource::<Messages<M>>().iter_current_update_messages().cloned().collect()
    }

    #[test]
    fn one_live_capture_at_a_time_started_and_stopped_by_request() {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo.wav");
        crate::write_wav_16k(&demo, &vec![0.1; 16_000 * 3]).unwrap();
        let mut app = app(Some(demo.clone()));
        app.world_mut().write_message(CaptureRequest::Start);
        app.update();
        let started = sent::<CaptureStarted>(&app);
        assert_eq!(started.len(), 1);
        let s = started[0].session;
        assert_eq!(started[0].kind, SourceKind::Demo);
        let session = app.world().get::<Session>(s).unwrap();
        assert_eq!((session.kind, session.source.as_str()), (SourceKind::Demo, demo.to_str().unwrap()));
        assert_eq!(app.world().resource::<CaptureControl>().active, Some(s));
        // A second start while capturing, and a recall, start nothing.
        app.world_mut().write_message(CaptureRequest::Start);
        app.world_mut().write_message(CaptureRequest::Recall);
        app.update();
        assert!(sent::<CaptureStarted>(&app).is_empty());
        let notices = sent::<CaptureNotice>(&app);
        assert!(notices.iter().any(|n| n.0.contains("in this session already")), "{notices:?}");
        app.world_mut().write_message(CaptureRequest::Toggle);
        app.update();
        assert_eq!(sent::<StopCapture>(&app).iter().map(|m| m.session).collect::<Vec<_>>(), vec![s]);
        assert_eq!(app.world().resource::<CaptureControl>().active, None);
        app.update();
        assert!(app.world().get::<CaptureFinished>(s).is_some(), "the source is closed");
        // Closing: nothing new starts.
        app.world_mut().resource_mut::<CaptureControl>().closed = true;
        app.world_mut().write_message(CaptureRequest::Start);
        app.update();
        assert!(sent::<CaptureStarted>(&app).is_empty());
    }

    #[test]
    fn a_file_asked_for_is_transcribed_fast_beside_a_live_capture_or_said_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo.wav");
        let talk = dir.path().join("talk.wav");
        crate::write_wav_16k(&demo, &vec![0.1; 16_000 * 3]).unwrap();
        crate::write_wav_16k(&talk, &vec![0.1; 16_000 * 40]).unwrap();
        let mut app = app(Some(demo));
        app.world_mut().write_message(CaptureRequest::Start);
        app.update();
        let live = app.world().resource::<CaptureControl>().active;
        assert!(live.is_some());
        app.world_mut().write_message(TranscribeFile(talk.clone()));
        app.world_mut().write_message(TranscribeFile(dir.path().join("missing.wav")));
        app.update();
        let started = sent::<CaptureStarted>(&app);
        assert_eq!(started.len(), 1, "{started:?}");
        assert_eq!((started[0].kind, started[0].description.as_str()), (SourceKind::File, talk.to_str().unwrap()));
        let file = started[0].session;
        assert_eq!(app.world().get::<Session>(file).unwrap().kind, SourceKind::File);
        // The live capture goes on, still the one a stop request ends.
        assert_eq!(app.world().resource::<CaptureControl>().active, live);
        let notices = sent::<CaptureNotice>(&app);
        assert!(
            notices.iter().any(|n| n.0.contains("missing.wav") && n.0.contains("nothing was transcribed")),
            "{notices:?}"
        );
        assert_eq!(app.world_mut().query::<&Session>().iter(app.world()).count(), 2, "no session for the missing file");
        // Read as fast as it goes: the whole 40 s in a few frames, not in 40 s.
        for _ in 0..20 {
            app.update();
        }
        assert!(app.world().get::<CaptureFinished>(file).is_some(), "the file was read to its end");
        assert_eq!(app.world().get::<SessionClock>(file).unwrap().captured, 16_000 * 40);
        // Closing: no new file starts.
        app.world_mut().resource_mut::<CaptureControl>().closed = true;
        app.world_mut().write_message(TranscribeFile(talk));
        app.update();
        assert!(sent::<CaptureStarted>(&app).is_empty());
    }

    #[test]
    fn a_capture_that_cannot_start_says_why_and_leaves_no_session() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = app(Some(dir.path().join("missing.wav")));
        app.world_mut().write_message(CaptureRequest::Start);
        app.world_mut().write_message(CaptureRequest::Recall);
        app.update();
        let notices = sent::<CaptureNotice>(&app);
        assert!(notices.iter().any(|n| n.0.contains("missing.wav")), "{notices:?}");
        assert!(notices.iter().any(|n| n.0.contains("nothing to recall")), "{notices:?}");
        assert_eq!(app.world_mut().query::<&Session>().iter(app.world()).count(), 0);
        assert_eq!(app.world().resource::<CaptureControl>().active, None);
    }
}
