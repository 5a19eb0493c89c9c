//! The studio's window: an egui overlay over the GPU views, in rooms.
//!
//! - [`panels::controls`] (left): record, input device (with refresh), level meter with a
//!   clipping light, model picker, speech threshold (VAD); [`panels::sessions`] below it: the saved
//!   sessions and full-text search.
//! - [`panels::transcript`] (right): the shown session's utterances as they arrive (those on
//!   their way greyed), or a saved session's text.
//! - [`views`] (centre): the spectrogram and waveform meshes (`hark_viz`), and the recognised
//!   words pinned over the spectrogram at their times.
//! - [`panels::status`] (bottom): source, model, real-time factor, queue, end-of-speech → text
//!   latency, and anything lost or not saved.
//! - [`hotkeys`]: toggle, push-to-talk and recall, in the window and globally on X11.
//! - [`quit`]: closing finishes the capture and saves it before the app exits.
//!
//! The window opens no device, model or database itself: it asks with messages and reads
//! resources of `hark_capture` (capture control, devices, recall), `hark_transcribe` (models)
//! and `hark_store` (browsing).

pub mod files;
pub mod history;
pub mod hotkeys;
pub mod layout;
pub mod panels;
pub mod quit;
pub mod recovery;
pub mod settings;
pub mod transcript;
pub mod typing;
pub mod views;

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::winit::{UpdateMode, WinitSettings};
use bevy_egui::{EguiPrimaryContextPass, egui};
use hark_capture::{CaptureControl, CaptureNotice, CaptureStarted, RefreshInputs};
pub use hark_capture::{CaptureRequest, Recall};
use hark_core::{
    AudioChunk, CaptureFailed, PipelineSystems, Transcript, TranscriptReady, TranscriptionPending, Utterance,
};
use hark_transcribe::ModelLoaded;
use hark_vad::{SpeechRegions, VadSettings};

pub use layout::PanelLayout;
pub use settings::Settings;

/// Layout of the window (logical pixels): the side panels' widths in a window 1024 wide or
/// more (the right one grows with wider windows, see [`panel_widths`]).
pub const LEFT_PANEL: f32 = 250.0;
pub const RIGHT_PANEL: f32 = 320.0;
pub const STATUS_BAR: f32 = 26.0;

/// The left and right panels' widths in a window `width` wide: as designed from 1024 up (the
/// transcript widening in wide windows, to 420), narrower below so that the spectrogram and
/// waveform between them keep at least 40 % of the width (at 640 × 480: 170, 200 and 270).
pub fn panel_widths(width: f32) -> (f32, f32) {
    let left = (width * 0.245).clamp(170.0, LEFT_PANEL);
    let right = (width * 0.3125).clamp(200.0, 420.0);
    (left, right)
}

/// The settings file and what it holds.
#[derive(Resource, Debug, Clone)]
pub struct UiSettings {
    pub settings: Settings,
    pub path: PathBuf,
    /// Whether saving may write the file (false after it could not be read: never overwrite
    /// what the person wrote).
    pub writable: bool,
}

impl UiSettings {
    /// Reads the settings file; a problem with it comes back for the status line.
    pub fn load(path: PathBuf) -> (Self, Option<String>) {
        let loaded = settings::load(&path);
        (Self { settings: loaded.settings, path, writable: loaded.writable }, loaded.problem)
    }

    /// Writes the settings file (when it may be written).
    pub fn save(&self) -> Result<(), String> {
        if !self.writable {
            return Ok(());
        }
        settings::save(&self.path, &self.settings)
            .map_err(|e| format!("settings file {} cannot be written: {e}", self.path.display()))
    }
}

/// The status line's message for the person: settings problems, device errors, what is going on.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice(pub Option<String>);

impl Notice {
    pub fn set(&mut self, text: String) {
        self.0 = Some(text);
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }
}

/// What the transcript panel shows.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shown {
    #[default]
    Nothing,
    /// A session of this run (being captured, or captured earlier).
    Live(Entity),
    /// A saved session opened from the list (its text is in `hark_store::Browsing::opened`).
    Saved(i64),
}

impl Shown {
    pub fn live(self) -> Option<Entity> {
        match self {
            Self::Live(e) => Some(e),
            _ => None,
        }
    }
}

/// Level of the shown session's latest audio, for the meter.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct LevelMeter {
    pub rms: f32,
    pub peak: f32,
    /// Frames since the audio last clipped.
    pub clipped_frames: u32,
}

impl Default for LevelMeter {
    fn default() -> Self {
        Self { rms: 0.0, peak: 0.0, clipped_frames: u32::MAX }
    }
}

/// The window's overlay, hotkeys and quitting. The app adds the plugins it talks to:
/// `hark_capture::CaptureControlPlugin`, `hark_transcribe::ModelsPlugin` and
/// `hark_store::BrowsePlugin` and `hark_replay::ReplayPlugin`.
#[derive(Debug, Clone)]
pub struct UiPlugin {
    /// The settings file (RON).
    pub settings_path: PathBuf,
}

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        let (settings, problem) = UiSettings::load(self.settings_path.clone());
        app.insert_resource(settings)
            .insert_resource(Notice(problem))
            .init_resource::<Shown>()
            .init_resource::<LevelMeter>()
            .init_resource::<recovery::Recovery>()
            .init_resource::<PanelLayout>()
            .init_resource::<history::RunHistory>()
            .init_resource::<typing::Typist>()
            .add_plugins((quit::QuitPlugin, hotkeys::HotkeysPlugin))
            .add_systems(Startup, (apply_settings, wake_on_answers))
            // After the viz plugin's Startup has created the ring textures.
            .add_systems(PostStartup, views::spawn_views)
            .add_systems(
                Update,
                (
                    follow_captures,
                    history::remember_captures,
                    remember_output,
                    announce_replay,
                    announce_input,
                    announce_search,
                    retain_shown,
                    follow_models,
                    meter,
                    print_transcripts,
                    typing::type_finals,
                    history::let_go_of_transcribed,
                    update_mode,
                    views::layout_views,
                )
                    .chain()
                    .in_set(PipelineSystems::Output),
            )
            .add_systems(Update, files::transcribe_dropped_files.before(PipelineSystems::Control))
            .add_systems(
                PreUpdate,
                drop_unchanged_modifiers
                    .after(bevy_egui::EguiPreUpdateSet::ProcessInput)
                    .before(bevy_egui::EguiPreUpdateSet::BeginPass),
            )
            .add_systems(
                EguiPrimaryContextPass,
                (panels::status::draw, panels::controls::draw, panels::transcript::draw, views::draw_words).chain(),
            );
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

/// The settings file's choices go to the plugins that act on them; the device list is read
/// and the recall buffer opened.
fn apply_settings(
    settings: Res<UiSettings>,
    mut control: ResMut<CaptureControl>,
    mut vad: ResMut<VadSettings>,
    mut refresh: MessageWriter<RefreshInputs>,
) {
    control.device = settings.settings.input_device.clone();
    control.recall_seconds = settings.settings.recall_seconds;
    vad.gate.threshold = settings.settings.vad_threshold;
    refresh.write(RefreshInputs);
}

/// The replay's news on standard output, as the capture's are (the window's tests read them):
/// a session opened, and each seek with where the playhead was.
fn announce_replay(
    replay: Res<hark_replay::Replay>,
    mut asked: MessageReader<hark_replay::ReplayRequest>,
    mut opened: Local<Option<i64>>,
    // Where the playhead was last frame: the seek has moved it by now.
    mut was_at: Local<u64>,
) {
    for r in asked.read() {
        if let hark_replay::ReplayRequest::Seek(at) = r {
            println!(
                "replay: seek from {:.3} s to {:.3} s",
                hark_core::samples_to_secs(*was_at),
                hark_core::samples_to_secs(*at)
            );
        }
    }
    *was_at = replay.position;
    let now = replay.session.as_ref().map(|s| (s.id, s.samples));
    if now.map(|s| s.0) != *opened {
        *opened = now.map(|s| s.0);
        if let Some((id, samples)) = now {
            println!("replay opened: session {id}, {:.3} s", hark_core::samples_to_secs(samples));
        }
    }
}

/// A search's answer on standard output, as the window's other news are (the tests read them):
/// the words searched for and how many sessions hold them.
fn announce_search(browsing: Option<Res<hark_store::Browsing>>, mut said: Local<Option<String>>) {
    let Some(b) = browsing.filter(|b| b.is_changed()) else { return };
    let query = b.query.trim();
    if query.is_empty() {
        // Cleared: the same words searched again are news again.
        *said = None;
        return;
    }
    if said.as_deref() == Some(query) {
        return;
    }
    *said = Some(query.to_owned());
    println!("search: \u{201c}{query}\u{201d}: {} sessions", b.hits.len());
}

/// What happens to a capture's input (lost and waited for, back, the default changed) also goes
/// to stdout, as captures starting and stopping do; the status line shows it.
fn announce_input(
    health: Query<(Entity, &hark_capture::CaptureHealth), Changed<hark_capture::CaptureHealth>>,
    mut said: Local<bevy::platform::collections::HashMap<Entity, (bool, u32, usize)>>,
) {
    for (e, h) in &health {
        let (waiting, resumed, events) = said.entry(e).or_default();
        for ev in &h.events[*events..] {
            println!("input: {ev}");
        }
        *events = h.events.len();
        if let (Some(w), false) = (&h.waiting, *waiting) {
            println!("input lost: {w}; waiting for it to come back");
        }
        *waiting = h.waiting.is_some();
        if h.resumed > *resumed {
            println!("input back: capture resumed");
            *resumed = h.resumed;
        }
    }
}

/// The output device picked for replay is kept for the next start.
fn remember_output(
    mut asked: MessageReader<hark_replay::ReplayRequest>,
    mut settings: ResMut<UiSettings>,
    mut notice: ResMut<Notice>,
) {
    for r in asked.read() {
        if let hark_replay::ReplayRequest::Output(device) = r
            && settings.settings.output_device != *device
        {
            settings.settings.output_device = device.clone();
            if let Err(e) = settings.save() {
                notice.set(e);
            }
        }
    }
}

/// The sessions list's answers come from a thread: each wakes the (possibly sleeping) window.
fn wake_on_answers(browser: Option<Res<hark_store::Browser>>, proxy: Option<Res<bevy::winit::EventLoopProxyWrapper>>) {
    if let (Some(browser), Some(proxy)) = (browser, proxy) {
        let proxy = (**proxy).clone();
        browser.set_waker(move || {
            let _ = proxy.send_event(bevy::winit::WinitUserEvent::WakeUp);
        });
    }
}

/// A new capture is shown; why one could not start (or ended by itself) is said.
fn follow_captures(
    mut shown: ResMut<Shown>,
    mut notice: ResMut<Notice>,
    mut started: MessageReader<CaptureStarted>,
    mut notices: MessageReader<CaptureNotice>,
    mut failed: MessageReader<CaptureFailed>,
    mut replay: MessageWriter<hark_replay::ReplayRequest>,
) {
    for s in started.read() {
        *shown = Shown::Live(s.session);
        notice.clear();
        // The views follow the capture, not a replay.
        replay.write(hark_replay::ReplayRequest::Close);
    }
    for CaptureNotice(text) in notices.read() {
        notice.set(text.clone());
    }
    for f in failed.read() {
        notice.set(format!("capture failed: {}; what was captured before is saved", f.message));
    }
}

/// The shown session stays in the world after it is complete (its transcript and words are
/// drawn from its entities); every other finished session leaves it
/// (`hark_core::ReleaseFinishedSessions`), so a window left open all day holds one.
fn retain_shown(mut commands: Commands, shown: Res<Shown>, mut kept: Local<Option<Entity>>) {
    if !shown.is_changed() || *kept == shown.live() {
        return;
    }
    if let Some(old) = kept.take() {
        commands.entity(old).try_remove::<hark_core::Retained>();
    }
    if let Some(new) = shown.live() {
        commands.entity(new).try_insert(hark_core::Retained);
        *kept = Some(new);
    }
}

/// A model switched in the window is saved with new sessions and restored at the next start.
fn follow_models(
    mut loaded: MessageReader<ModelLoaded>,
    mut settings: ResMut<UiSettings>,
    mut notice: ResMut<Notice>,
    store: Option<ResMut<hark_store::StoreContext>>,
    fetched: Option<MessageReader<hark_transcribe::loader::ModelFetched>>,
    imported: Option<MessageReader<hark_transcribe::loader::ModelImported>>,
) {
    // An import that failed says why; one that worked loads next.
    for i in imported.into_iter().flat_map(|mut r| r.read().cloned().collect::<Vec<_>>()) {
        match i.result {
            Ok(path) => notice.set(format!("imported as {}; loading it…", hark_transcribe::loader::file_name(&path))),
            Err(e) => notice.set(format!("{} could not be imported: {e}", i.from.display())),
        }
    }
    // A download that failed says why (and the offline route); one that worked loads next.
    for f in fetched.into_iter().flat_map(|mut r| r.read().cloned().collect::<Vec<_>>()) {
        match f.result {
            Ok(path) => notice.set(format!("{} downloaded; loading it…", hark_transcribe::loader::file_name(&path))),
            Err(e) => notice.set(format!("{} could not be downloaded: {e}", f.name)),
        }
    }
    let mut store = store;
    for m in loaded.read() {
        match &m.result {
            Ok(()) => {
                if let Some(ctx) = store.as_mut() {
                    ctx.model = m.path.display().to_string();
                }
                settings.settings.model = m.path.display().to_string();
                match settings.save() {
                    Ok(()) => notice.clear(),
                    Err(e) => notice.set(e),
                }
            }
            Err(e) => notice.set(e.clone()),
        }
    }
}

/// Level meter from the audio of the shown session.
fn meter(shown: Res<Shown>, mut level: ResMut<LevelMeter>, mut chunks: MessageReader<AudioChunk>) {
    let mut any = false;
    for c in chunks.read() {
        if Some(c.session) != shown.live() || c.samples.is_empty() {
            continue;
        }
        any = true;
        level.peak = c.samples.iter().fold(0.0f32, |a, &x| a.max(x.abs()));
        level.rms = (c.samples.iter().map(|x| x * x).sum::<f32>() / c.samples.len() as f32).sqrt();
        if level.peak >= 0.99 {
            level.clipped_frames = 0;
        }
    }
    if any {
        level.clipped_frames = level.clipped_frames.saturating_add(1);
    }
}

/// Final transcripts also go to stdout, so a terminal (or a test) can follow along.
fn print_transcripts(mut ready: MessageReader<TranscriptReady>, q: Query<(&Utterance, &Transcript)>) {
    for r in ready.read() {
        if let Ok((u, t)) = q.get(r.utterance)
            && !t.suspect
            && !t.text.is_empty()
        {
            println!(
                "[{:>7.2} – {:>7.2}] {}",
                hark_core::samples_to_secs(u.start),
                hark_core::samples_to_secs(u.end),
                t.text
            );
        }
    }
}

/// 20 frames a second while someone speaks or text is on its way; 10 while capturing silence
/// (the views scroll a noise floor, and half the frames halve the window's CPU) or while a
/// model loads (its thread is polled each frame); otherwise
/// frames only on input (global hotkeys wake the loop themselves). Drawn by the CPU (no GPU:
/// a virtual machine, Mesa's lavapipe), a frame of the views costs ~0.17 s of CPU across the
/// rasterizer threads, and 20 of them a second took both cores of a 2-core machine: the
/// recogniser (at a lower priority, so that capture never waits) got so little that no partial
/// text came while someone spoke. There every wait is three times as long.
#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or query it uses")]
fn update_mode(
    control: Res<CaptureControl>,
    models: Res<hark_transcribe::Models>,
    regions: Query<&SpeechRegions>,
    mut winit: ResMut<WinitSettings>,
    pending: Query<(), With<TranscriptionPending>>,
    replay: Res<hark_replay::Replay>,
    sessions: Query<(Entity, &hark_core::SessionState), With<hark_core::Session>>,
    adapter: Option<Res<bevy::render::renderer::RenderAdapterInfo>>,
    mut software: Local<Option<bool>>,
) {
    if software.is_none()
        && let Some(a) = &adapter
    {
        // bevy does not re-export wgpu's `DeviceType`; its name is stable.
        let cpu = format!("{:?}", a.device_type) == "Cpu";
        if cpu {
            info!("the window is drawn by the CPU ({}): fewer frames, to leave it to transcription", a.name);
        }
        *software = Some(cpu);
    }
    let slow = if *software == Some(true) { 3 } else { 1 };
    let speaking = control.active.and_then(|s| regions.get(s).ok()).is_some_and(SpeechRegions::speaking);
    // A capture that has stopped but is not complete still has text on its way: its last
    // utterance may be waiting to be cut, or queued behind a partial for a free worker (not
    // yet `TranscriptionPending`). Without frames the window would sleep on it until the next
    // input, and the last words would not appear.
    // (The capture going on is not finishing: silence it captures keeps 10 frames a second.)
    let finishing = sessions.iter().any(|(e, s)| match s {
        hark_core::SessionState::Captured => true,
        hark_core::SessionState::Recording => control.active != Some(e),
        _ => false,
    });
    let want = if replay.playing {
        // The playhead, the highlighted word and the views move at 30 frames a second.
        UpdateMode::reactive(Duration::from_millis(33) * slow)
    } else if speaking || finishing || !pending.is_empty() || replay.opening.is_some() {
        UpdateMode::reactive(Duration::from_millis(50) * slow)
    } else if control.active.is_some() || models.loading().is_some() {
        UpdateMode::reactive(Duration::from_millis(100) * slow)
    } else {
        UpdateMode::reactive_low_power(Duration::from_secs(60))
    };
    if winit.focused_mode != want {
        winit.focused_mode = want;
        winit.unfocused_mode = want;
    }
}

/// A root `Ui` over `rect` of the window, for one room to lay its panel out in.
pub(crate) fn room(ctx: &egui::Context, name: &'static str, rect: egui::Rect) -> egui::Ui {
    egui::Ui::new(ctx.clone(), name.into(), egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(rect))
}

/// The window less the status bar: where the side panels and the views go.
pub(crate) fn above_status(ctx: &egui::Context) -> egui::Rect {
    let mut r = ctx.viewport_rect();
    r.max.y -= STATUS_BAR;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_capture_keeps_frames_coming_until_its_last_text_is_in() {
        use hark_core::SessionState;
        let mut app = App::new();
        app.init_resource::<CaptureControl>()
            .init_resource::<hark_transcribe::Models>()
            .init_resource::<hark_replay::Replay>()
            .init_resource::<WinitSettings>()
            .add_systems(Update, update_mode);
        let mode = |app: &mut App| {
            app.update();
            app.world().resource::<WinitSettings>().focused_mode
        };
        let idle = UpdateMode::reactive_low_power(Duration::from_secs(60));
        assert_eq!(mode(&mut app), idle);
        // Stopped, its last utterance not cut or queued behind a partial yet: nothing is
        // `TranscriptionPending`, and still the window must not sleep.
        let s = app
            .world_mut()
            .spawn((hark_core::Session { kind: hark_core::SourceKind::Microphone, source: "mic".into() },))
            .id();
        assert_eq!(mode(&mut app), UpdateMode::reactive(Duration::from_millis(50)), "a capture draining");
        *app.world_mut().get_mut::<SessionState>(s).unwrap() = SessionState::Captured;
        assert_eq!(mode(&mut app), UpdateMode::reactive(Duration::from_millis(50)), "text on its way");
        *app.world_mut().get_mut::<SessionState>(s).unwrap() = SessionState::Complete;
        assert_eq!(mode(&mut app), idle);
        // The capture going on, in silence: 10 frames a second, as before.
        *app.world_mut().get_mut::<SessionState>(s).unwrap() = SessionState::Recording;
        app.world_mut().resource_mut::<CaptureControl>().active = Some(s);
        assert_eq!(mode(&mut app), UpdateMode::reactive(Duration::from_millis(100)));
    }

    #[test]
    fn side_panels_narrow_with_the_window_and_leave_the_views_room() {
        assert_eq!(panel_widths(1024.0), (LEFT_PANEL, RIGHT_PANEL));
        for w in [640.0, 800.0, 1024.0, 1280.0, 1920.0, 3840.0] {
            let (l, r) = panel_widths(w);
            let centre = w - l - r;
            assert!(centre >= 0.4 * w, "{w}: {l} + {r} leave {centre}");
            assert!(l >= 170.0 && r >= 200.0, "{w}: panels {l}, {r} too narrow for their controls");
        }
        assert_eq!(panel_widths(1920.0).1, 420.0, "the transcript widens, to a readable line length");
    }

    #[test]
    fn a_model_picked_in_the_window_loads_off_the_frame_is_saved_and_a_bad_file_is_refused() {
        let model = std::env::var_os("HARK_TEST_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| hark_core::manifest_dir!().join("../../models/ggml-tiny.en-q8_0.bin"));
        if !model.is_file() {
            assert!(std::env::var("HARK_REQUIRE_MODELS").is_err(), "no model at {}", model.display());
            eprintln!("SKIPPED: no model at {}", model.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let settings_path = dir.path().join("settings.ron");
        let mut app = App::new();
        app.add_plugins(hark_transcribe::ModelsPlugin {
            current: "/old/model.bin".into(),
            settings: hark_transcribe::WhisperSettings::default(),
            workers: 2,
        })
        .insert_resource(UiSettings::load(settings_path.clone()).0)
        .init_resource::<Notice>()
        .insert_resource(hark_store::StoreContext { model: "/old/model.bin".into(), settings: String::new() })
        .add_systems(Update, follow_models.after(PipelineSystems::Control));
        let load = |app: &mut App, path: PathBuf| {
            app.world_mut().write_message(hark_transcribe::LoadModel(path));
            app.update(); // the loading thread starts
            app.world_mut().resource_mut::<hark_transcribe::Models>().wait();
            app.update(); // the recogniser is swapped, the window follows
        };
        load(&mut app, model.clone());
        assert!(app.world().get_resource::<hark_transcribe::Recognizer>().is_some());
        assert_eq!(app.world().resource::<hark_transcribe::Models>().current, model);
        assert_eq!(app.world().resource::<hark_store::StoreContext>().model, model.display().to_string());
        // The choice is saved, and the next start reads it back.
        assert_eq!(settings::load(&settings_path).settings.model, model.display().to_string());
        let bad = dir.path().join("not-a-model.bin");
        std::fs::write(&bad, b"nope").unwrap();
        load(&mut app, bad);
        let notice = app.world().resource::<Notice>().0.clone().unwrap_or_default();
        assert!(notice.contains("not-a-model.bin"), "{notice}");
        assert_eq!(app.world().resource::<hark_transcribe::Models>().current, model, "the working model stays");
        assert_eq!(app.world().resource::<hark_store::StoreContext>().model, model.display().to_string());
    }
}
