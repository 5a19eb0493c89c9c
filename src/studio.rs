//! The desktop studio: the pipeline plugins plus the window, GPU views and egui overlay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::WindowResolution;
use bevy::winit::WinitSettings;
use bevy_egui::EguiPlugin;
use hark_capture::{CaptureControl, CaptureControlPlugin, CaptureRequest};
use hark_core::{PartialTranscript, Transcript, Utterance};
use hark_transcribe::{Engine, WhisperEngine};
use hark_ui::{Notice, UiPlugin};
use hark_viz::{VizPlugin, VizRing};

use crate::pipeline::{PipelineOptions, add_pipeline};

/// How the studio is started.
#[derive(Debug, Clone, Default)]
pub struct StudioOptions {
    /// Play this file as the microphone, starting at once.
    pub demo: Option<PathBuf>,
    /// Transcribe this file at start (as dropping it on the window does).
    pub open: Option<PathBuf>,
    /// Open this saved session and play it.
    pub replay: Option<i64>,
    /// At this speed.
    pub replay_speed: f32,
    /// Save a screenshot here just before exiting.
    pub screenshot: Option<PathBuf>,
    /// Exit after this many seconds.
    pub exit_after: Option<f64>,
    /// Write the app's state (transcript, spectrogram band energies, VAD) here on exit.
    pub state_json: Option<PathBuf>,
    /// The window's size (logical pixels); 1024 × 640 when not given.
    pub window_size: Option<(u32, u32)>,
}

/// A file transcribed in the window is cut as `hark transcribe` cuts it, not as the live
/// capture is (at every pause, for latency): pauses joined into sentences, a file's VAD
/// hangover, no text-being-said decodes. The rest (the speech threshold, the model) is the
/// window's.
fn hear_files_as_files(
    mut commands: Commands,
    mut started: MessageReader<hark_capture::CaptureStarted>,
    vad: Res<hark_vad::VadSettings>,
    segment: Res<hark_segment::SegmentSettings>,
) {
    for s in started.read().filter(|s| s.kind == hark_core::SourceKind::File) {
        let (v, seg) = PipelineOptions::file_settings(&vad, &segment);
        commands.entity(s.session).insert((hark_vad::SessionVadSettings(v), hark_segment::SessionSegmentSettings(seg)));
    }
}

/// Main-thread CPU time of each frame while capturing (`HARK_FRAME_STATS=FILE` writes a summary
/// on exit; used by `scripts/bench-studio`).
#[derive(Resource, Debug, Default)]
struct FrameStats {
    path: PathBuf,
    frame_start: Duration,
    capturing_ms: Vec<f64>,
}

// Exclusive systems run on the thread that runs the schedule (the main thread), so both ends
// of the measurement read the same thread's CPU clock.
fn frame_begin(world: &mut World) {
    world.resource_mut::<FrameStats>().frame_start = crate::procstat::thread_cpu();
}

fn frame_end(world: &mut World) {
    if world.resource::<CaptureControl>().active.is_some() {
        let mut stats = world.resource_mut::<FrameStats>();
        let ms = (crate::procstat::thread_cpu().saturating_sub(stats.frame_start)).as_secs_f64() * 1000.0;
        stats.capturing_ms.push(ms);
    }
}

fn write_frame_stats(stats: &FrameStats) {
    let mut v = stats.capturing_ms.clone();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let json = serde_json::json!({"frames": v.len(), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0)});
    let _ = std::fs::write(&stats.path, json.to_string());
}

#[derive(Resource, Debug, Clone)]
struct Exit {
    opts: StudioOptions,
    shot_taken: Option<f64>,
    /// The longest partial text seen while its session was still being captured.
    partial_seen: String,
}

/// Finds `assets/`: `$HARK_ASSETS`, `./assets`, or beside the executable's checkout.
pub fn assets_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HARK_ASSETS") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from("assets");
    if local.join("shaders").is_dir() {
        return std::fs::canonicalize(&local).unwrap_or(local);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// The model the window starts with: the one asked for on the command line, else the one last
/// picked in the window (kept in the settings) while it still exists, else the default model.
/// Versions before the q8_0 default wrote their default, "tiny.en", into the settings; that was
/// never picked, so it gives the default too.
pub fn pick_model(asked: Option<&str>, saved: &str, models_dir: &Path) -> String {
    if let Some(m) = asked {
        return m.to_owned();
    }
    if !saved.is_empty() && saved != "tiny.en" && hark_model::resolve_model(saved, models_dir).is_file() {
        return saved.to_owned();
    }
    hark_model::catalog::DEFAULT_MODEL.to_owned()
}

/// Whether a window can be opened at all (winit would panic without a display).
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"].iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

pub fn run(pipeline: &PipelineOptions, opts: StudioOptions) -> anyhow::Result<()> {
    // Refused before anything opens: a database that cannot be written (a read-only data
    // directory), no display, a model that cannot be loaded.
    let writer = pipeline.database.as_deref().map(hark_store::Writer::open).transpose()?;
    if !has_display() {
        anyhow::bail!(
            "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); \
             `hark transcribe FILE` and `hark listen` work without one"
        );
    }
    let engine = WhisperEngine::load(&pipeline.model, pipeline.whisper.clone()).map_err(anyhow::Error::msg)?;
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            // Termination signals quit the way the close button does (`stop_signals`).
            .build()
            .disable::<bevy::app::TerminalCtrlCHandlerPlugin>()
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Hark".into(),
                    resolution: {
                        let (w, h) = opts.window_size.unwrap_or((1024, 640));
                        WindowResolution::new(w, h)
                    },
                    ..default()
                }),
                // Closing finishes the sessions first (hark_ui::quit).
                close_when_requested: false,
                ..default()
            })
            .set(AssetPlugin { file_path: assets_dir().to_string_lossy().into_owned(), ..default() }),
    )
    .add_plugins(EguiPlugin::default())
    .insert_resource(WinitSettings::desktop_app())
    .insert_resource(ClearColor(Color::srgb(0.06, 0.06, 0.08)))
    // The window asks the VAD only whether someone is speaking: a session left capturing all
    // day keeps its last speech region, not every one (the store keeps each utterance's VAD
    // figures).
    .insert_resource(hark_vad::KeepSpeechRegions(false))
    .add_plugins(VizPlugin);
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(engine)];
    add_pipeline(&mut app, pipeline, engines);
    if let Some(w) = writer {
        app.insert_resource(w);
    }
    app.insert_resource(CaptureControl { demo: opts.demo.clone(), ..default() }).add_plugins((
        hark_core::ReleaseFinishedSessions,
        CaptureControlPlugin,
        hark_transcribe::ModelsPlugin {
            current: pipeline.model.clone(),
            settings: pipeline.whisper.clone(),
            workers: pipeline.workers,
        },
        hark_store::BrowsePlugin { database: pipeline.database.clone() },
        hark_replay::ReplayPlugin {
            database: pipeline.database.clone(),
            sound: true,
            output: hark_ui::settings::load(&hark_ui::settings::default_path()).settings.output_device,
        },
        UiPlugin { settings_path: hark_ui::settings::default_path() },
    ));
    if pipeline.database.is_some() {
        // Re-runs start from the window's own options and look model names up beside its model.
        let models_dir = pipeline.model.parent().map(Path::to_path_buf).unwrap_or_default();
        app.add_plugins((
            crate::rerun::RerunPlugin { opts: pipeline.clone(), models_dir },
            crate::actions::SessionActionsPlugin,
            crate::recover::RecoverPlugin,
        ));
    }
    if opts.demo.is_some() {
        app.add_systems(PostStartup, |mut req: MessageWriter<CaptureRequest>| {
            req.write(CaptureRequest::Start);
        });
    }
    app.add_systems(
        Update,
        hear_files_as_files.after(hark_core::PipelineSystems::Control).before(hark_core::PipelineSystems::Capture),
    );
    if let Some(file) = opts.open.clone() {
        app.add_systems(PostStartup, move |mut files: MessageWriter<hark_capture::TranscribeFile>| {
            files.write(hark_capture::TranscribeFile(file.clone()));
        });
    }
    if let Some(id) = opts.replay {
        let speed = opts.replay_speed;
        app.add_systems(
            PostStartup,
            move |mut shown: ResMut<hark_ui::Shown>,
                  mut browse: MessageWriter<hark_store::BrowseRequest>,
                  mut replay: MessageWriter<hark_replay::ReplayRequest>| {
                *shown = hark_ui::Shown::Saved(id);
                browse.write(hark_store::BrowseRequest::Open(id));
                replay.write_batch([
                    hark_replay::ReplayRequest::Speed(speed),
                    hark_replay::ReplayRequest::Open(id),
                    hark_replay::ReplayRequest::Play,
                ]);
            },
        );
    }
    if let Some(path) = std::env::var_os("HARK_FRAME_STATS") {
        app.insert_resource(FrameStats { path: path.into(), ..default() })
            .add_systems(First, frame_begin)
            .add_systems(Last, frame_end);
    }
    if let Some(secs) = opts.exit_after {
        app.insert_resource(Exit { opts, shot_taken: None, partial_seen: String::new() })
            .add_systems(Last, exit_after)
            .add_systems(Startup, move |proxy: Option<Res<bevy::winit::EventLoopProxyWrapper>>| {
                // An idle window sleeps until input arrives: wake it at the deadline (and keep
                // waking it while the screenshot is taken and the app exits).
                let Some(proxy) = proxy.map(|p| (**p).clone()) else { return };
                let _ = std::thread::Builder::new().name("hark-exit-timer".into()).spawn(move || {
                    std::thread::sleep(Duration::from_secs_f64(secs));
                    for _ in 0..200 {
                        if proxy.send_event(bevy::winit::WinitUserEvent::WakeUp).is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                });
            });
    }
    install_stop_signals(&mut app);
    println!("window ready");
    app.run();
    Ok(())
}

/// Termination signals received and not yet turned into quit requests.
static STOP_SIGNALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
/// Wakes the window's event loop from the signal handler's thread (an idle window sleeps).
static SIGNAL_WAKER: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>> = std::sync::OnceLock::new();

/// Ctrl+C in the terminal, `kill` (SIGTERM) and logout (SIGHUP) quit the window as its close
/// button does: captures stop, their tails are transcribed and saved, then it exits; a second
/// signal exits at once. (Bevy's own handler writes `AppExit` straight away, which left a
/// capture `recording` with its last words untranscribed.)
fn install_stop_signals(app: &mut App) {
    if let Err(e) = ctrlc::set_handler(|| {
        STOP_SIGNALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(wake) = SIGNAL_WAKER.get() {
            wake();
        }
    }) {
        warn!("Ctrl+C, SIGTERM and SIGHUP will not finish captures cleanly: {e}");
        return;
    }
    app.add_systems(Startup, |proxy: Option<Res<bevy::winit::EventLoopProxyWrapper>>| {
        if let Some(proxy) = proxy.map(|p| (**p).clone()) {
            let _ = SIGNAL_WAKER.set(Box::new(move || {
                let _ = proxy.send_event(bevy::winit::WinitUserEvent::WakeUp);
            }));
        }
    })
    .add_systems(Update, stop_signals.before(hark_core::PipelineSystems::Output));
}

fn stop_signals(mut seen: Local<u32>, mut quit: MessageWriter<hark_ui::quit::QuitRequest>) {
    let n = STOP_SIGNALS.load(std::sync::atomic::Ordering::SeqCst);
    while *seen < n {
        quit.write(hark_ui::quit::QuitRequest);
        *seen += 1;
    }
}

#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
fn exit_after(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut exit: ResMut<Exit>,
    mut app_exit: MessageWriter<AppExit>,
    mut req: MessageWriter<CaptureRequest>,
    mut redraw: MessageWriter<bevy::window::RequestRedraw>,
    ring: Res<VizRing>,
    utterances: Query<(&Utterance, &Transcript)>,
    (control, notice, sessions): (Res<CaptureControl>, Res<Notice>, Query<(), With<hark_core::Session>>),
    (stats, replay, history, panels): (
        Option<Res<FrameStats>>,
        Res<hark_replay::Replay>,
        Res<hark_ui::history::RunHistory>,
        Res<hark_ui::PanelLayout>,
    ),
    partials: Query<&PartialTranscript, Without<hark_core::CaptureFinished>>,
    status: hark_ui::panels::status::Status,
) {
    let t = time.elapsed_secs_f64();
    let Some(limit) = exit.opts.exit_after else { return };
    for p in &partials {
        let text = p.text();
        if text.len() > exit.partial_seen.len() {
            exit.partial_seen = text;
        }
    }
    if t < limit {
        return;
    }
    match (exit.shot_taken, &exit.opts.screenshot) {
        (None, Some(path)) => {
            // The file's appearance is the signal that the screenshot is done.
            let _ = std::fs::remove_file(path);
            commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path.clone()));
            exit.shot_taken = Some(t);
            redraw.write(bevy::window::RequestRedraw);
            req.write(CaptureRequest::Stop);
        }
        // Keep frames coming (the idle window would otherwise wait seconds for the next one)
        // until the screenshot has been written.
        (Some(at), Some(path)) if !path.exists() && t - at < 15.0 => {
            redraw.write(bevy::window::RequestRedraw);
        }
        _ => {
            if let Some(p) = &exit.opts.state_json {
                let partial = exit.partial_seen.clone();
                // The earlier captures of this run the transcript panel shows above the current one.
                let earlier = history
                    .captures
                    .iter()
                    .rev()
                    .skip(1)
                    .rev()
                    .flat_map(|c| c.lines.iter().map(|l| l.line.label().into_owned()))
                    .collect();
                // What the panel shows of the captures still in the world: their text is in the
                // history (their transcribed utterances leave the world as it goes); any other
                // session's (a recovery's) from its utterances.
                let mut items: Vec<_> = utterances.iter().filter(|(u, _)| history.of(u.session).is_none()).collect();
                items.sort_by_key(|(u, _)| (u.session, u.index));
                let transcript = history
                    .captures
                    .iter()
                    .filter(|c| sessions.contains(c.session))
                    .flat_map(|c| history.said(c.session).map(str::to_owned))
                    .chain(items.iter().filter(|(_, t)| !t.suspect).map(|(_, t)| t.text.clone()))
                    .collect();
                let extra = Extra {
                    replay: &replay,
                    partial: &partial,
                    status: status.summary(),
                    earlier,
                    transcript,
                    utterances_in_world: utterances.iter().count(),
                    panels: *panels,
                };
                write_state(p, &ring, &control, &notice, sessions.iter().count(), extra);
            }
            if let Some(s) = &stats {
                write_frame_stats(s);
            }
            req.write(CaptureRequest::Stop);
            app_exit.write(AppExit::Success);
        }
    }
}

/// More of what the state file reports.
struct Extra<'a> {
    replay: &'a hark_replay::Replay,
    /// The longest partial text seen while capturing.
    partial: &'a str,
    /// The status line.
    status: String,
    /// The text of this run's captures before the last one.
    earlier: Vec<String>,
    /// The text the transcript panel shows of the sessions in the world, a line per utterance.
    transcript: Vec<String>,
    /// Utterances still in the world (a capture's transcribed ones leave it as it goes).
    utterances_in_world: usize,
    /// The side panels' widths as drawn.
    panels: hark_ui::PanelLayout,
}

fn write_state(
    path: &Path,
    ring: &VizRing,
    control: &CaptureControl,
    notice: &Notice,
    sessions_in_world: usize,
    extra: Extra,
) {
    let Extra { replay, partial, status, earlier, transcript, utterances_in_world, panels } = extra;
    // Sessions numbered in the order their columns appear.
    let mut order: Vec<Entity> = Vec::new();
    let columns: Vec<serde_json::Value> = ring
        .recent
        .iter()
        .map(|c| {
            let n = order.iter().position(|x| *x == c.session).unwrap_or_else(|| {
                order.push(c.session);
                order.len() - 1
            });
            serde_json::json!({"session": n, "speech_band": c.speech_band, "vad": c.vad, "speech": c.speech})
        })
        .collect();
    let state = serde_json::json!({
        "transcript": transcript,
        "utterances_in_world": utterances_in_world,
        "earlier_captures": earlier,
        "columns": columns,
        "devices": control.devices.iter().map(|d| format!("{} ({})", d.name, d.host)).collect::<Vec<_>>(),
        "notice": notice.0,
        "sessions_in_world": sessions_in_world,
        "replay": replay.session.as_ref().map(|s| serde_json::json!({
            "session": s.id,
            "position": replay.position,
            "playing": replay.playing,
            "current_word": s.word_at(replay.position).map(|(g, w)| s.segments[g].words[w].text.clone()),
            "in_view": replay.entity.is_some() && ring.session == replay.entity,
            "view_columns": ring.recent.iter().filter(|c| Some(c.session) == replay.entity).count(),
        })),
        "replay_problem": replay.problem,
        "partial_seen_while_capturing": partial,
        "status": status,
        "panels": {"left": panels.left, "right": panels.right},
    });
    let _ = std::fs::write(path, serde_json::to_string(&state).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_starts_with_the_model_last_picked() {
        let dir = tempfile::tempdir().unwrap();
        let picked = dir.path().join("ggml-base.bin");
        std::fs::write(&picked, b"x").unwrap();
        let saved = picked.display().to_string();
        assert_eq!(pick_model(None, &saved, dir.path()), saved);
        assert_eq!(pick_model(Some("tiny.en"), &saved, dir.path()), "tiny.en", "the command line wins");
        assert_eq!(pick_model(None, "/gone/model.bin", dir.path()), "tiny.en-q8_0", "a model since removed");
        assert_eq!(pick_model(None, "", dir.path()), "tiny.en-q8_0");
        // What earlier versions saved as their default is not a pick, even where it exists.
        std::fs::write(dir.path().join("ggml-tiny.en.bin"), b"x").unwrap();
        assert_eq!(pick_model(None, "tiny.en", dir.path()), "tiny.en-q8_0");
    }
}
