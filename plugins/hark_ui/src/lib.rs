//! The studio's egui overlay, capture control, hotkeys and settings.
//!
//! - Controls (left): start/stop, input device picker (refreshable), level meter with clipping
//!   indicator, VAD sensitivity, sessions list and search.
//! - Transcript (right): each utterance as it arrives; utterances still being recognised are
//!   shown greyed; auto-scroll; copy.
//! - Centre: the GPU spectrogram and waveform (`hark_viz`) with recognised words pinned at
//!   their time spans.
//! - Status line: device, model, real-time factor, queue depth, end-of-speech → text latency.
//! - Hotkeys: toggle, push-to-talk and recall, in the window and globally on X11 (rebindable in
//!   the settings file). A global hotkey grabs its key, so one press never fires twice.

pub mod global;
pub mod quit;
pub mod settings;
pub mod transcript;

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy::winit::{UpdateMode, WinitSettings};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
pub use hark_capture::Recall;
use hark_capture::{CaptureHealth, CaptureSource, InputDevice, MicSource, Pace, Source, list_input_devices};
use hark_core::{
    AudioChunk, CaptureEnded, CaptureFailed, Session, SessionClock, SessionState, StopCapture, Transcript,
    TranscriptReady, TranscriptionPending, Utterance, UtteranceAudio, samples_to_secs,
};
use hark_store::Reader;
use hark_vad::{VadHistory, VadSettings};
use hark_viz::{RING, VizRing};

pub use settings::Settings;
use transcript::{Row, RowText, TranscriptView};

/// Layout of the window (logical pixels).
pub const LEFT_PANEL: f32 = 250.0;
pub const RIGHT_PANEL: f32 = 320.0;
pub const STATUS_BAR: f32 = 26.0;

/// Start or stop capturing from the selected input device.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureRequest {
    Start,
    Stop,
    Toggle,
    /// Turn the last `recall_seconds` of microphone audio into a session.
    Recall,
}

/// A saved session opened from the sessions list: (id, title, [(start s, text)]).
pub type OpenedSession = (i64, String, Vec<(f64, String)>);

/// What the panels read of each utterance: its text, and whether it is on its way.
type UtteranceRow = (&'static Utterance, Option<&'static Transcript>, Has<TranscriptionPending>, Has<UtteranceAudio>);

/// What the studio shows and remembers.
#[derive(Resource, Debug)]
pub struct Studio {
    pub settings: Settings,
    pub settings_path: PathBuf,
    pub settings_writable: bool,
    /// A message for the status line (settings problems, device errors).
    pub notice: Option<String>,
    pub devices: Vec<InputDevice>,
    /// The session being captured.
    pub active: Option<Entity>,
    /// The session whose transcript is shown.
    pub shown: Option<Entity>,
    pub model_name: String,
    pub database: Option<PathBuf>,
    pub search: String,
    pub sessions: Vec<hark_store::SessionRow>,
    pub hits: Vec<hark_store::SearchHit>,
    /// Level of the latest audio: (rms, peak) and when the last clip happened (frames ago).
    pub level: (f32, f32),
    pub clipped_frames: u32,
    /// Audio seconds captured and recogniser time spent (for the real-time factor).
    pub source_label: String,
    /// Play this file as the microphone (demo mode) instead of opening a device.
    pub demo: Option<PathBuf>,
    /// A saved session opened from the sessions list: (id, title, [(start s, text)]).
    pub opened: Option<OpenedSession>,
    /// Where the model picker looks for ggml files, and the settings the recogniser runs with.
    pub models_dir: Option<PathBuf>,
    /// The model files found there (refreshed with the device list, not every frame).
    pub models: Vec<PathBuf>,
    pub whisper: hark_transcribe::WhisperSettings,
}

/// Load another model into the recogniser.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ModelRequest(pub PathBuf);

impl Studio {
    pub fn new(settings_path: PathBuf, model_name: String, database: Option<PathBuf>) -> Self {
        let loaded = settings::load(&settings_path);
        Self {
            settings: loaded.settings,
            settings_path,
            settings_writable: loaded.writable,
            notice: loaded.problem,
            devices: Vec::new(),
            active: None,
            shown: None,
            model_name,
            database,
            search: String::new(),
            sessions: Vec::new(),
            hits: Vec::new(),
            level: (0.0, 0.0),
            clipped_frames: u32::MAX,
            source_label: String::new(),
            demo: None,
            opened: None,
            models_dir: None,
            models: Vec::new(),
            whisper: hark_transcribe::WhisperSettings::default(),
        }
    }

    fn save_settings(&mut self) {
        if self.settings_writable
            && let Err(e) = settings::save(&self.settings_path, &self.settings)
        {
            self.notice = Some(format!("settings file {} cannot be written: {e}", self.settings_path.display()));
        }
    }

    /// Shows a saved session's transcript in the transcript panel.
    pub fn open_session(&mut self, id: i64) {
        let Some(db) = &self.database else { return };
        match Reader::open(db).and_then(|r| Ok((r.session(id)?, r.segments(id)?))) {
            Ok((s, segs)) => {
                let lines = segs
                    .into_iter()
                    .filter(|g| !g.suspect && !g.text.is_empty())
                    .map(|g| (samples_to_secs(g.start_sample), g.text))
                    .collect();
                self.opened = Some((id, s.title, lines));
                self.shown = None;
            }
            Err(e) => self.notice = Some(e.to_string()),
        }
    }

    /// Points the always-on recall stream at the chosen input device (none in demo mode or
    /// when there is no device).
    fn reopen_recall(&mut self, recall: &mut Recall) -> Result<(), String> {
        if self.demo.is_some() || self.devices.is_empty() {
            recall.stop();
            return Ok(());
        }
        recall.open(self.settings.input_device.as_deref(), self.settings.recall_seconds)
    }

    fn refresh_devices(&mut self) {
        self.devices = list_input_devices();
        self.models = self.models_dir.as_deref().map(list_models).unwrap_or_default();
    }

    fn refresh_sessions(&mut self) {
        let Some(db) = &self.database else { return };
        if !db.exists() {
            return;
        }
        match Reader::open(db) {
            Ok(r) => {
                self.sessions = r.sessions().unwrap_or_default();
                self.hits = if self.search.trim().is_empty() {
                    Vec::new()
                } else {
                    r.search(&self.search, 20).unwrap_or_default()
                };
            }
            Err(e) => self.notice = Some(e.to_string()),
        }
    }
}

#[derive(Debug, Default)]
pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(quit::QuitPlugin)
            .add_message::<CaptureRequest>()
            .add_message::<ModelRequest>()
            .init_resource::<Recall>()
            .add_systems(Startup, (startup, global::register))
            // After the viz plugin's Startup has created the ring textures.
            .add_systems(PostStartup, spawn_views)
            .add_systems(
                Update,
                (
                    hotkeys,
                    global::poll,
                    handle_requests,
                    follow_captures,
                    switch_model,
                    meter,
                    print_transcripts,
                    update_mode,
                    layout_views,
                )
                    .chain()
                    .in_set(hark_core::PipelineSystems::Output),
            )
            .add_systems(
                PreUpdate,
                drop_unchanged_modifiers
                    .after(bevy_egui::EguiPreUpdateSet::ProcessInput)
                    .before(bevy_egui::EguiPreUpdateSet::BeginPass),
            )
            .add_systems(EguiPrimaryContextPass, draw_ui);
    }
}

/// bevy_egui reports the modifier keys to egui on every frame, and egui answers any input event
/// with an immediate repaint, so an idle window would redraw forever. Only changes are passed on.
fn drop_unchanged_modifiers(mut inputs: Query<&mut bevy_egui::EguiInput>, mut last: Local<Option<egui::Modifiers>>) {
    for mut input in &mut inputs {
        input.events.retain(|e| match e {
            egui::Event::ModifiersChanged(m) => {
                let changed = *last != Some(*m);
                *last = Some(*m);
                changed
            }
            _ => true,
        });
    }
}

fn startup(mut studio: ResMut<Studio>, mut vad: ResMut<VadSettings>, mut recall: ResMut<Recall>) {
    studio.refresh_devices();
    studio.refresh_sessions();
    vad.gate.threshold = studio.settings.vad_threshold;
    if let Err(e) = studio.reopen_recall(&mut recall) {
        // A settings problem found while loading is the more useful message.
        studio.notice.get_or_insert(e);
    }
}

/// Parses a key name from the settings file.
pub fn key_code(name: &str) -> Option<KeyCode> {
    let k = match name {
        "F1" => KeyCode::F1,
        "F2" => KeyCode::F2,
        "F3" => KeyCode::F3,
        "F4" => KeyCode::F4,
        "F5" => KeyCode::F5,
        "F6" => KeyCode::F6,
        "F7" => KeyCode::F7,
        "F8" => KeyCode::F8,
        "F9" => KeyCode::F9,
        "F10" => KeyCode::F10,
        "F11" => KeyCode::F11,
        "F12" => KeyCode::F12,
        "Space" => KeyCode::Space,
        "Pause" => KeyCode::Pause,
        "ScrollLock" => KeyCode::ScrollLock,
        s if s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic() => {
            const LETTERS: [KeyCode; 26] = [
                KeyCode::KeyA,
                KeyCode::KeyB,
                KeyCode::KeyC,
                KeyCode::KeyD,
                KeyCode::KeyE,
                KeyCode::KeyF,
                KeyCode::KeyG,
                KeyCode::KeyH,
                KeyCode::KeyI,
                KeyCode::KeyJ,
                KeyCode::KeyK,
                KeyCode::KeyL,
                KeyCode::KeyM,
                KeyCode::KeyN,
                KeyCode::KeyO,
                KeyCode::KeyP,
                KeyCode::KeyQ,
                KeyCode::KeyR,
                KeyCode::KeyS,
                KeyCode::KeyT,
                KeyCode::KeyU,
                KeyCode::KeyV,
                KeyCode::KeyW,
                KeyCode::KeyX,
                KeyCode::KeyY,
                KeyCode::KeyZ,
            ];
            LETTERS[(s.as_bytes()[0].to_ascii_uppercase() - b'A') as usize]
        }
        _ => return None,
    };
    Some(k)
}

fn hotkeys(keys: Res<ButtonInput<KeyCode>>, studio: Res<Studio>, mut req: MessageWriter<CaptureRequest>) {
    let hk = &studio.settings.hotkeys;
    if let Some(k) = key_code(&hk.toggle)
        && keys.just_pressed(k)
    {
        req.write(CaptureRequest::Toggle);
    }
    if let Some(k) = key_code(&hk.recall)
        && keys.just_pressed(k)
    {
        req.write(CaptureRequest::Recall);
    }
    if let Some(k) = key_code(&hk.push_to_talk) {
        if keys.just_pressed(k) {
            req.write(CaptureRequest::Start);
        }
        if keys.just_released(k) {
            req.write(CaptureRequest::Stop);
        }
    }
}

fn handle_requests(
    mut commands: Commands,
    mut studio: ResMut<Studio>,
    mut req: MessageReader<CaptureRequest>,
    clocks: Query<&SessionClock>,
    mut stop: MessageWriter<StopCapture>,
    recall: Res<Recall>,
    quitting: Option<Res<quit::Quitting>>,
) {
    if quitting.is_some() {
        // Closing: no new captures (the quit plugin stops the running ones).
        req.clear();
        return;
    }
    for r in req.read() {
        let start = match r {
            CaptureRequest::Start => studio.active.is_none(),
            CaptureRequest::Stop => false,
            CaptureRequest::Toggle => studio.active.is_none(),
            CaptureRequest::Recall => {
                if studio.active.is_some() {
                    studio.notice = Some("recording: what was just said is in this session already".into());
                    continue;
                }
                // After a failure the buffer holds whatever came before it, however long ago.
                if let Some(e) = recall.failure() {
                    studio.notice = Some(format!("nothing to recall: {e}; choose a device or press Refresh devices"));
                    continue;
                }
                let samples = recall.snapshot();
                if samples.is_empty() {
                    studio.notice = Some("nothing to recall: the always-on buffer is off or empty".into());
                    continue;
                }
                let label = format!("recall: the last {:.0} s", samples_to_secs(samples.len() as u64));
                println!("capture started: {label}");
                let e = commands
                    .spawn((
                        Session { source: label },
                        SessionClock::default(),
                        CaptureSource::new(Source::Samples { samples: samples.into(), pos: 0 }, Pace::Fast),
                    ))
                    .id();
                studio.shown = Some(e);
                continue;
            }
        };
        if start && studio.active.is_none() {
            let (source, label) = if let Some(demo) = studio.demo.clone() {
                match hark_capture::FileSource::open(&demo) {
                    Ok(f) => (Source::File(f), format!("demo: {}", demo.display())),
                    Err(e) => {
                        studio.notice = Some(e.to_string());
                        continue;
                    }
                }
            } else {
                match MicSource::open(studio.settings.input_device.as_deref()) {
                    Ok(m) => {
                        let label = m.description.clone();
                        (Source::Mic(m), label)
                    }
                    Err(e) => {
                        studio.notice = Some(if studio.devices.is_empty() {
                            "no input device was found (connect one and press Refresh devices); file transcription and sessions still work".into()
                        } else {
                            format!("{e}; file transcription and sessions still work")
                        });
                        continue;
                    }
                }
            };
            let e = commands
                .spawn((
                    Session { source: label.clone() },
                    SessionClock::default(),
                    CaptureSource::new(source, Pace::RealTime),
                ))
                .id();
            println!("capture started: {label}");
            studio.source_label = label;
            studio.active = Some(e);
            studio.shown = Some(e);
            studio.opened = None;
            studio.notice = None;
        } else if !start && let Some(e) = studio.active.take() {
            let captured = clocks.get(e).map(|c| c.captured).unwrap_or(0);
            stop.write(StopCapture { session: e });
            println!("capture stopped after {:.1} s", samples_to_secs(captured));
        }
    }
}

/// A capture that ended by itself (device unplugged, demo file over) leaves the window ready
/// for the next one; a failure is shown; the sessions list picks up what was just captured.
fn follow_captures(
    mut studio: ResMut<Studio>,
    mut ended: MessageReader<CaptureEnded>,
    mut failed: MessageReader<CaptureFailed>,
    new_sessions: Query<(), Added<hark_store::StoredSession>>,
) {
    for f in failed.read() {
        studio.notice = Some(format!("capture failed: {}; what was captured before is saved", f.message));
    }
    // A new session appears in the list as soon as it has a database row.
    let mut any = !new_sessions.is_empty();
    for e in ended.read() {
        any = true;
        if studio.active == Some(e.session) {
            studio.active = None;
            println!("capture stopped after {:.1} s", samples_to_secs(e.samples));
        }
    }
    if any {
        studio.refresh_sessions();
    }
}

/// Loads the chosen model (a fresh recogniser replaces the old one; only while nothing is being
/// captured or transcribed, which the picker enforces).
fn switch_model(
    mut commands: Commands,
    mut studio: ResMut<Studio>,
    mut req: MessageReader<ModelRequest>,
    store: Option<ResMut<hark_store::StoreContext>>,
) {
    let mut store = store;
    for ModelRequest(path) in req.read() {
        match hark_transcribe::WhisperEngine::load(path, studio.whisper.clone()) {
            Ok(engine) => {
                commands.insert_resource(hark_transcribe::Recognizer::spawn(vec![Box::new(engine)]));
                // New sessions are saved under the model that transcribes them.
                if let Some(ctx) = store.as_mut() {
                    ctx.model = path.display().to_string();
                }
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                println!("model loaded: {name}");
                studio.model_name = name;
                studio.settings.model = path.display().to_string();
                studio.save_settings();
                studio.notice = None;
            }
            Err(e) => studio.notice = Some(e),
        }
    }
}

/// A line of the sessions list: the state only when it is news, the title last, where
/// truncation hurts least.
fn session_line(id: i64, title: &str, state: SessionState, secs: f64) -> String {
    let state = match state {
        SessionState::Complete => String::new(),
        SessionState::Captured => " · transcribing".to_owned(),
        s => format!(" · {s}"),
    };
    format!("#{id} · {secs:.0} s{state} · {title}")
}

/// ggml model files in `dir`, sorted.
pub fn list_models(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "bin")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Level meter from the audio of the shown session.
fn meter(mut studio: ResMut<Studio>, mut chunks: MessageReader<AudioChunk>) {
    let mut any = false;
    for c in chunks.read() {
        if Some(c.session) != studio.shown || c.samples.is_empty() {
            continue;
        }
        any = true;
        let peak = c.samples.iter().fold(0.0f32, |a, &x| a.max(x.abs()));
        let rms = (c.samples.iter().map(|x| x * x).sum::<f32>() / c.samples.len() as f32).sqrt();
        studio.level = (rms, peak);
        if peak >= 0.99 {
            studio.clipped_frames = 0;
        }
    }
    if any {
        studio.clipped_frames = studio.clipped_frames.saturating_add(1);
    }
}

/// Final transcripts also go to stdout, so a terminal (or a test) can follow along.
fn print_transcripts(mut ready: MessageReader<TranscriptReady>, q: Query<(&Utterance, &Transcript)>) {
    for r in ready.read() {
        if let Ok((u, t)) = q.get(r.utterance)
            && !t.suspect
            && !t.text.is_empty()
        {
            println!("[{:>7.2} – {:>7.2}] {}", samples_to_secs(u.start), samples_to_secs(u.end), t.text);
        }
    }
}

/// 20 frames a second while someone speaks or text is on its way; 10 while capturing silence
/// (the views scroll a noise floor, and half the frames halve the window's CPU); otherwise
/// frames only on input (global hotkeys wake the loop themselves).
fn update_mode(
    studio: Res<Studio>,
    vad: Res<VadHistory>,
    mut winit: ResMut<WinitSettings>,
    pending: Query<(), With<TranscriptionPending>>,
) {
    let speaking = studio
        .active
        .is_some_and(|s| vad.regions.get(&s).and_then(|r| r.last()).is_some_and(|&(_, end)| end.is_none()));
    let want = if speaking || !pending.is_empty() {
        UpdateMode::reactive(Duration::from_millis(50))
    } else if studio.active.is_some() {
        UpdateMode::reactive(Duration::from_millis(100))
    } else {
        UpdateMode::reactive_low_power(Duration::from_secs(60))
    };
    if winit.focused_mode != want {
        winit.focused_mode = want;
        winit.unfocused_mode = want;
    }
}

#[derive(Component)]
struct SpectrogramView;

#[derive(Component)]
struct WaveformView;

fn spawn_views(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, ring: Res<VizRing>) {
    commands.spawn(Camera2d);
    let quad = meshes.add(Rectangle::new(1.0, 1.0));
    commands.spawn((
        Mesh2d(quad.clone()),
        bevy::sprite_render::MeshMaterial2d(ring.spectrogram_material.clone()),
        Transform::default(),
        SpectrogramView,
    ));
    commands.spawn((
        Mesh2d(quad),
        bevy::sprite_render::MeshMaterial2d(ring.waveform_material.clone()),
        Transform::default(),
        WaveformView,
    ));
}

/// The central area between the panels, in logical pixels: (left, top, width, height).
fn central(window: &Window) -> (f32, f32, f32, f32) {
    let w = (window.width() - LEFT_PANEL - RIGHT_PANEL).max(50.0);
    let h = (window.height() - STATUS_BAR).max(50.0);
    (LEFT_PANEL, 0.0, w, h)
}

/// Spectrogram on the top 64 % of the centre, waveform below it.
fn view_rects(window: &Window) -> (egui::Rect, egui::Rect) {
    let (x, y, w, h) = central(window);
    let spec = egui::Rect::from_min_size(egui::pos2(x, y + 24.0), egui::vec2(w, h * 0.64 - 24.0));
    let wave = egui::Rect::from_min_size(egui::pos2(x, y + h * 0.66), egui::vec2(w, h * 0.30));
    (spec, wave)
}

#[allow(clippy::type_complexity)]
fn layout_views(
    window: Single<&Window, With<PrimaryWindow>>,
    mut spec: Single<&mut Transform, (With<SpectrogramView>, Without<WaveformView>)>,
    mut wave: Single<&mut Transform, (With<WaveformView>, Without<SpectrogramView>)>,
) {
    let (s, w) = view_rects(&window);
    let place = |t: &mut Transform, r: egui::Rect| {
        // Camera2d: origin at the window centre, y up.
        let cx = r.center().x - window.width() / 2.0;
        let cy = window.height() / 2.0 - r.center().y;
        let new = Transform::from_xyz(cx, cy, 0.0).with_scale(Vec3::new(r.width(), r.height(), 1.0));
        if *t != new {
            *t = new;
        }
    };
    place(&mut spec, s);
    place(&mut wave, w);
}

#[allow(clippy::too_many_arguments)]
fn draw_ui(
    mut contexts: EguiContexts,
    mut studio: ResMut<Studio>,
    mut vad: ResMut<VadSettings>,
    mut req: MessageWriter<CaptureRequest>,
    mut model_req: MessageWriter<ModelRequest>,
    window: Single<&Window, With<PrimaryWindow>>,
    utterances: Query<UtteranceRow>,
    clocks: Query<&SessionClock>,
    health: Query<&CaptureHealth>,
    recognizer: Option<Res<hark_transcribe::Recognizer>>,
    ring: Res<VizRing>,
    mut recall: ResMut<Recall>,
    mut transcript_view: Local<TranscriptView>,
    stored: Query<(Entity, &hark_store::StoredSession, &SessionState)>,
    writer: Option<Res<hark_store::Writer>>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = egui::Ui::new(
        ctx.clone(),
        "hark-root".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    let studio = &mut *studio;
    let capturing = studio.active.is_some();

    // Status line.
    egui::Panel::bottom("status").exact_size(STATUS_BAR).show(&mut root, |ui| {
        ui.horizontal_centered(|ui| {
            let shown = studio.shown;
            let audio = shown.and_then(|s| clocks.get(s).ok()).map(|c| samples_to_secs(c.captured)).unwrap_or(0.0);
            let (rtf, latency, queue) = match &recognizer {
                Some(r) => (
                    if audio > 0.0 { r.busy.as_secs_f64() / audio } else { 0.0 },
                    r.last_latency.map(|l| format!("{:.0} ms", l.as_secs_f64() * 1000.0)).unwrap_or_else(|| "–".into()),
                    r.in_flight(),
                ),
                None => (0.0, "–".into(), 0),
            };
            let waiting =
                utterances.iter().filter(|(u, t, p, _)| Some(u.session) == shown && t.is_none() && !p).count();
            let device =
                if studio.source_label.is_empty() { "no capture yet".to_owned() } else { studio.source_label.clone() };
            ui.label(format!(
                "{device}  ·  model {}  ·  RTF {rtf:.2}  ·  queue {}  ·  speech-to-text {latency}",
                studio.model_name,
                queue + waiting
            ));
            if let Some(losses) = shown.and_then(|s| health.get(s).ok()).and_then(CaptureHealth::losses) {
                ui.colored_label(egui::Color32::from_rgb(240, 110, 60), format!("microphone audio lost: {losses}"));
            }
            if let Some((problem, unsaved)) = writer.as_ref().and_then(|w| w.health()) {
                ui.colored_label(
                    egui::Color32::from_rgb(240, 90, 60),
                    format!("not saved: {unsaved:.1} s of audio held in memory, tried again every 0.5 s"),
                )
                .on_hover_text(problem);
            }
            if let Some(n) = &studio.notice {
                ui.colored_label(egui::Color32::from_rgb(240, 170, 60), n);
            }
        });
    });

    // Controls.
    egui::Panel::left("controls").exact_size(LEFT_PANEL).show(&mut root, |ui| {
        ui.heading("Hark");
        let label = if capturing { "■ Stop" } else { "● Record" };
        if ui.add_sized([LEFT_PANEL - 20.0, 32.0], egui::Button::new(label)).clicked() {
            req.write(CaptureRequest::Toggle);
        }
        ui.small(format!(
            "{} toggles, hold {} to talk, {} transcribes the last {} s",
            studio.settings.hotkeys.toggle,
            studio.settings.hotkeys.push_to_talk,
            studio.settings.hotkeys.recall,
            studio.settings.recall_seconds
        ));
        ui.separator();
        ui.label("Input device");
        if studio.devices.is_empty() {
            ui.colored_label(egui::Color32::from_rgb(240, 170, 60), "No input device was found");
        }
        let current = studio.settings.input_device.clone();
        let current_name = current
            .as_ref()
            .and_then(|id| studio.devices.iter().find(|d| &d.id == id).map(|d| d.name.clone()))
            .unwrap_or_else(|| "System default".into());
        let mut chosen = current.clone();
        egui::ComboBox::from_id_salt("device").width(LEFT_PANEL - 20.0).selected_text(current_name).show_ui(ui, |ui| {
            ui.selectable_value(&mut chosen, None, "System default");
            for d in &studio.devices {
                ui.selectable_value(&mut chosen, Some(d.id.clone()), format!("{} ({})", d.name, d.host));
            }
        });
        if chosen != current {
            studio.settings.input_device = chosen;
            studio.save_settings();
            if let Err(e) = studio.reopen_recall(&mut recall) {
                studio.notice = Some(e);
            }
        }
        if ui.button("Refresh devices and models").clicked() {
            studio.refresh_devices();
            if !recall.is_running()
                && let Err(e) = studio.reopen_recall(&mut recall)
            {
                studio.notice = Some(e);
            }
        }
        // Level meter with clipping indicator.
        let (rms, peak) = if capturing { studio.level } else { (0.0, 0.0) };
        let db = 20.0 * rms.max(1e-5).log10();
        ui.add(
            egui::ProgressBar::new(((db + 60.0) / 60.0).clamp(0.0, 1.0)).text(format!("{db:.0} dBFS  peak {peak:.2}")),
        );
        if capturing && studio.clipped_frames < 60 {
            ui.colored_label(egui::Color32::RED, "CLIPPING");
        }
        ui.separator();
        ui.label("Model");
        let busy = capturing || utterances.iter().any(|(_, t, ..)| t.is_none());
        let models = studio.models.clone();
        ui.add_enabled_ui(!busy, |ui| {
            egui::ComboBox::from_id_salt("model")
                .width(LEFT_PANEL - 20.0)
                .selected_text(studio.model_name.clone())
                .show_ui(ui, |ui| {
                    for m in &models {
                        let name = m.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        if ui.selectable_label(name == studio.model_name, &name).clicked() && name != studio.model_name
                        {
                            model_req.write(ModelRequest(m.clone()));
                        }
                    }
                });
        });
        ui.separator();
        ui.label("VAD sensitivity");
        let mut sens = 1.0 - vad.gate.threshold;
        if ui.add(egui::Slider::new(&mut sens, 0.1..=0.8)).changed() {
            vad.gate.threshold = 1.0 - sens;
            studio.settings.vad_threshold = vad.gate.threshold;
            studio.save_settings();
        }
        ui.separator();
        ui.label("Sessions");
        let resp = ui.text_edit_singleline(&mut studio.search);
        if resp.changed() || ui.small_button("Refresh").clicked() {
            studio.refresh_sessions();
        }
        if studio.database.is_none() {
            ui.small("(not saving sessions)");
        }
        // Sessions of this run show their live state and length (the database catches up when
        // the writer thread gets to it).
        let live = |id: i64, state: SessionState, secs: f64| -> (SessionState, f64) {
            match stored.iter().find(|(_, s, _)| s.0 == id) {
                Some((e, _, state)) => (*state, clocks.get(e).map_or(secs, |c| samples_to_secs(c.captured))),
                None => (state, secs),
            }
        };
        // One line a row, so only the rows in view are laid out however many sessions there are.
        let searching = !studio.search.trim().is_empty();
        let count = if searching { studio.hits.len() } else { studio.sessions.len() };
        let row_height = ui.spacing().interact_size.y.max(ui.text_style_height(&egui::TextStyle::Small));
        let mut open = None;
        egui::ScrollArea::vertical().id_salt("sessions").max_height(180.0).show_rows(
            ui,
            row_height,
            count,
            |ui, range| {
                for i in range {
                    let (id, label) = if searching {
                        let h = &studio.hits[i];
                        (h.session_id, format!("#{} {:.1} s: {}", h.session_id, h.start_s, h.snippet))
                    } else {
                        let s = &studio.sessions[i];
                        let (state, secs) = live(s.id, s.state, s.duration_s);
                        (s.id, session_line(s.id, &s.title, state, secs))
                    };
                    let button = egui::Button::new(egui::RichText::new(&label).small()).frame(false).truncate();
                    if ui.add(button).on_hover_text(&label).clicked() {
                        open = Some(id);
                    }
                }
            },
        );
        if let Some(id) = open {
            studio.open_session(id);
        }
    });

    // Transcript.
    let shown = studio.shown;
    let mut items: Vec<_> = utterances.iter().filter(|(u, ..)| Some(u.session) == shown).collect();
    items.sort_by_key(|(u, ..)| u.index);
    egui::Panel::right("transcript").exact_size(RIGHT_PANEL).show(&mut root, |ui| {
        ui.horizontal(|ui| {
            ui.heading("Transcript");
            if ui.small_button("Copy").clicked() {
                let mut text: Vec<String> =
                    items.iter().filter_map(|(_, t, ..)| t.filter(|t| !t.suspect).map(|t| t.text.clone())).collect();
                if let (None, Some((_, _, lines))) = (shown, &studio.opened) {
                    text = lines.iter().map(|(_, t)| t.clone()).collect();
                }
                ui.ctx().copy_text(text.join("\n"));
            }
        });
        let mut rows = Vec::with_capacity(items.len() + 2);
        if let (None, Some((id, title, lines))) = (shown, &studio.opened) {
            rows.push(Row { start_s: 0.0, text: RowText::Heading(format!("Session #{id}: {title}").into()) });
            rows.extend(lines.iter().map(|(start, text)| Row { start_s: *start, text: RowText::Said(text.into()) }));
        }
        for (u, t, pending, _) in &items {
            let text = match t {
                Some(t) if t.suspect || t.text.is_empty() => continue,
                Some(t) => RowText::Said(t.text.as_str().into()),
                None => RowText::Waiting(if *pending { "recognising…" } else { "waiting…" }),
            };
            rows.push(Row { start_s: samples_to_secs(u.start), text });
        }
        if capturing {
            rows.push(Row { start_s: f64::MAX, text: RowText::Note("listening…") });
        }
        transcript_view.show(ui, &rows);
    });

    // Words pinned over the spectrogram at their time spans.
    let (spec, _) = view_rects(&window);
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, "words".into()));
    painter.text(
        spec.left_top() + egui::vec2(4.0, -20.0),
        egui::Align2::LEFT_TOP,
        "spectrogram · 60 Hz – 8 kHz · last 10 s · green: speech",
        egui::FontId::proportional(12.0),
        egui::Color32::from_gray(170),
    );
    if ring.written > 0 && Some(ring.session) == Some(shown) {
        let newest = ring.written as f64 - 1.0;
        let px_per_col = spec.width() as f64 / RING as f64;
        // Three staggered lines; a word that would overlap the previous one on its line waits
        // for the next line, or is left out when all three are taken.
        let mut line_end = [f32::MIN; 3];
        let font = egui::FontId::proportional(13.0);
        let oldest = newest - RING as f64;
        for (u, t, ..) in &items {
            let Some(t) = t.filter(|_| ring.column_of(u.end) >= oldest) else { continue };
            for w in &t.words {
                let col = ring.column_of(w.start);
                let x = (spec.right() as f64 - (newest - col) * px_per_col) as f32;
                if x < spec.left() || x > spec.right() - 10.0 {
                    continue;
                }
                let width =
                    ctx.fonts_mut(|f| f.layout_no_wrap(w.text.clone(), font.clone(), egui::Color32::WHITE).size().x);
                let Some(line) = (0..3).find(|&l| line_end[l] + 4.0 <= x) else { continue };
                line_end[line] = x + width;
                painter.text(
                    egui::pos2(x, spec.top() + 8.0 + line as f32 * 16.0),
                    egui::Align2::LEFT_TOP,
                    &w.text,
                    font.clone(),
                    egui::Color32::WHITE,
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_store::{Command, Writer};

    #[test]
    fn opening_a_saved_session_shows_its_transcript() {
        let dir = std::env::temp_dir().join(format!("hark-ui-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = dir.join("hark.db");
        let w = Writer::open(&db).unwrap();
        let id = w.create_session("standup", "mic", "tiny.en", "{}").unwrap();
        for (i, text) in ["first point", "second point"].iter().enumerate() {
            let idx = i as u32;
            let start = idx as u64 * 32_000;
            w.send(Command::Segment { session: id, idx, start, end: start + 16_000, vad_mean: 0.9, vad_speech: 1.0 });
            w.send(Command::text_transcript(id, idx, (*text).into(), "tiny.en"));
        }
        w.close().unwrap();
        let mut studio = Studio::new(dir.join("settings.ron"), "tiny.en".into(), Some(db));
        studio.refresh_sessions();
        assert_eq!(studio.sessions.len(), 1);
        studio.search = "second".into();
        studio.refresh_sessions();
        assert_eq!(studio.hits.len(), 1);
        studio.open_session(id);
        let (oid, title, lines) = studio.opened.clone().unwrap();
        assert_eq!((oid, title.as_str()), (id, "standup"));
        assert_eq!(lines, vec![(0.0, "first point".to_owned()), (2.0, "second point".to_owned())]);
        studio.open_session(999);
        assert!(studio.notice.as_deref().unwrap_or("").contains("no session 999"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_model_picker_loads_another_model_and_refuses_a_bad_file() {
        let model = std::env::var_os("HARK_TEST_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/ggml-tiny.en.bin"));
        if !model.is_file() {
            assert!(std::env::var("HARK_REQUIRE_MODELS").is_err(), "no model at {}", model.display());
            eprintln!("SKIPPED: no model at {}", model.display());
            return;
        }
        let dir = std::env::temp_dir().join(format!("hark-ui-model-{}", std::process::id()));
        let mut app = App::new();
        app.add_message::<ModelRequest>()
            .insert_resource(Studio::new(dir.join("settings.ron"), "none".into(), None))
            .insert_resource(hark_store::StoreContext { model: "/old/model.bin".into(), settings: String::new() })
            .add_systems(Update, switch_model);
        app.world_mut().write_message(ModelRequest(model.clone()));
        app.update();
        assert!(app.world().get_resource::<hark_transcribe::Recognizer>().is_some());
        assert_eq!(app.world().resource::<hark_store::StoreContext>().model, model.display().to_string());
        // The choice is saved, and the next start reads it back.
        let saved = settings::load(&dir.join("settings.ron")).settings.model;
        assert_eq!(saved, model.display().to_string());
        assert_eq!(app.world().resource::<Studio>().model_name, model.file_name().unwrap().to_string_lossy());
        let bad = dir.join("not-a-model.bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&bad, b"nope").unwrap();
        app.world_mut().write_message(ModelRequest(bad));
        app.update();
        let studio = app.world().resource::<Studio>();
        assert!(studio.notice.as_deref().unwrap_or("").contains("not-a-model.bin"), "{:?}", studio.notice);
        assert_eq!(studio.model_name, model.file_name().unwrap().to_string_lossy(), "the working model stays");
        assert_eq!(list_models(model.parent().unwrap()).iter().filter(|p| **p == model).count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A stand-in stream for the recall thread: each pull yields `n` samples of `value` (or
    /// fails from pull `fail_at` on) and reports the pull on a channel. The channel closes when
    /// the thread has ended and dropped its stream.
    #[test]
    fn session_lines_lead_with_length_and_news() {
        assert_eq!(session_line(3, "standup", SessionState::Complete, 61.4), "#3 · 61 s · standup");
        assert_eq!(session_line(4, "call", SessionState::Interrupted, 5.0), "#4 · 5 s · interrupted · call");
        assert_eq!(session_line(5, "mic", SessionState::Captured, 0.4), "#5 · 0 s · transcribing · mic");
        assert_eq!(session_line(6, "mic", SessionState::Recording, 0.4), "#6 · 0 s · recording · mic");
    }

    #[test]
    fn hotkey_names_parse() {
        assert_eq!(key_code("F9"), Some(KeyCode::F9));
        assert_eq!(key_code("r"), Some(KeyCode::KeyR));
        assert_eq!(key_code("Hyper"), None);
    }
}
