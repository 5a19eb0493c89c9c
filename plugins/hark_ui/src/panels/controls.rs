//! The left panel's controls: record, input device, level meter, the recall buffer (whether the
//! microphone is listened to in the background, with its level and a one-click off), model, VAD
//! sensitivity (the sessions list follows below them, from [`super::sessions`]). The first time
//! the window opens it asks whether to turn the recall buffer on; it is off until then.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use hark_capture::{CaptureControl, CaptureRequest, Recall, RefreshInputs, SelectInput, SetRecall};
use hark_transcribe::{LoadModel, Models, RefreshModels};
use hark_vad::VadSettings;

use super::UtteranceRow;
use super::sessions::Sessions;
use crate::layout::{Contents, PanelLayout, Side};
use crate::settings::RECALL_SECONDS;
use crate::{LevelMeter, Notice, UiSettings};

#[derive(SystemParam)]
pub struct Controls<'w, 's> {
    control: Res<'w, CaptureControl>,
    models: Res<'w, Models>,
    level: Res<'w, LevelMeter>,
    settings: ResMut<'w, UiSettings>,
    notice: ResMut<'w, Notice>,
    vad: ResMut<'w, VadSettings>,
    capture: MessageWriter<'w, CaptureRequest>,
    select: MessageWriter<'w, SelectInput>,
    refresh: MessageWriter<'w, RefreshInputs>,
    refresh_models: MessageWriter<'w, RefreshModels>,
    load: MessageWriter<'w, LoadModel>,
    fetch: MessageWriter<'w, hark_transcribe::loader::FetchModel>,
    import: MessageWriter<'w, hark_transcribe::loader::ImportModel>,
    /// What is typed in the import field.
    import_path: Local<'s, String>,
    recall: Res<'w, Recall>,
    set_recall: MessageWriter<'w, SetRecall>,
    utterances: Query<'w, 's, UtteranceRow>,
}

impl Controls<'_, '_> {
    fn save(&mut self) {
        if let Err(e) = self.settings.save() {
            self.notice.set(e);
        }
    }

    /// The record button, as the strip of the hidden panel shows it, and below it the recall
    /// buffer's red light while it listens (a microphone that listens says so, panel or not).
    fn strip(&mut self, ui: &mut egui::Ui) {
        let capturing = self.control.active.is_some();
        let (icon, says) =
            if capturing { ("⏹", "Stop capturing") } else { ("⏺", "Start capturing from the input device") };
        if ui.button(icon).on_hover_text(says).clicked() {
            self.capture.write(CaptureRequest::Toggle);
        }
        if self.recall.level().is_some() {
            let (dot, r) = ui.allocate_exact_size(egui::vec2(18.0, 14.0), egui::Sense::hover());
            ui.painter().circle_filled(dot.center(), 4.0, egui::Color32::from_rgb(230, 70, 70));
            r.on_hover_text(format!(
                "Recall is listening: the last {} s of the microphone are kept in memory (show the panel to turn it off)",
                self.settings.settings.recall_seconds
            ));
        }
    }

    fn show(&mut self, ui: &mut egui::Ui, hide: &mut crate::layout::Asks) {
        let capturing = self.control.active.is_some();
        ui.horizontal(|ui| {
            ui.heading("Hark");
            // At the panel's inner edge, the way it goes.
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                crate::layout::hide_button(ui, Side::Left, hide);
            });
        });
        // ⏹ and ⏺ are in egui's built-in icon font; ● and ■ are not (they showed as boxes).
        let label = if capturing { "⏹ Stop" } else { "⏺ Record" };
        let record = ui.add_sized([ui.available_width(), 32.0], egui::Button::new(label)).on_hover_text(
            "Start or stop capturing from the input device below; each capture is saved as a session and transcribed as you speak",
        );
        if record.clicked() {
            self.capture.write(CaptureRequest::Toggle);
        }
        let s = &self.settings.settings;
        let recall = match s.recall_seconds {
            0 => format!("{} recalls (off)", s.hotkeys.recall),
            n => format!("{} transcribes the last {n} s", s.hotkeys.recall),
        };
        ui.small(format!("{} toggles, hold {} to talk, {recall}", s.hotkeys.toggle, s.hotkeys.push_to_talk));
        ui.separator();
        self.device_picker(ui);
        // Level meter with clipping indicator.
        let (rms, peak) = if capturing { (self.level.rms, self.level.peak) } else { (0.0, 0.0) };
        let db = 20.0 * rms.max(1e-5).log10();
        ui.add(
            egui::ProgressBar::new(((db + 60.0) / 60.0).clamp(0.0, 1.0)).text(format!("{db:.0} dBFS  peak {peak:.2}")),
        );
        if capturing && self.level.clipped_frames < 60 {
            ui.colored_label(egui::Color32::RED, "CLIPPING");
        }
        self.recall_row(ui);
        let mut typing = self.settings.settings.type_into_focused;
        let b = ui.checkbox(&mut typing, "Type text into the focused app").on_hover_text(
            "Each final sentence of a capture is typed, as if on the keyboard, into the application that has the \
             keyboard focus (X11), with a space after it. Not while Hark's own window has the focus.",
        );
        if b.changed() {
            self.settings.settings.type_into_focused = typing;
            self.save();
        }
        ui.separator();
        self.model_picker(ui, capturing);
        ui.separator();
        // The detector's own threshold, shown and stored as the same number (`vad_threshold`).
        ui.label("Speech threshold (VAD)");
        let mut threshold = self.vad.gate.threshold;
        let slider = ui.add(egui::Slider::new(&mut threshold, 0.05..=0.95).step_by(0.05)).on_hover_text(
            "How sure the voice detector must be that a moment is speech (default 0.5). Lower finds fainter and \
             hoarser voices and lets more noise through; higher ignores more noise and may miss quiet speech. \
             Saved as vad_threshold in settings.ron.",
        );
        if slider.changed() {
            self.vad.gate.threshold = threshold;
            self.settings.settings.vad_threshold = threshold;
            self.save();
        }
    }

    /// Turns the recall buffer on (`seconds`) or off (0), remembers it, and stops asking.
    fn set_recall(&mut self, seconds: u32) {
        self.settings.settings.recall_seconds = seconds;
        self.settings.settings.recall_asked = true;
        self.save();
        self.set_recall.write(SetRecall(seconds));
    }

    /// Whether the microphone is being listened to in the background: said, with its level,
    /// and one click from off.
    fn recall_row(&mut self, ui: &mut egui::Ui) {
        let seconds = self.settings.settings.recall_seconds;
        let mut turn = None;
        // Wrapped: in a narrow window "Turn off" goes under the words instead of off the edge.
        ui.horizontal_wrapped(|ui| {
            if seconds == 0 {
                ui.label("Recall: off");
                let b = ui.small_button(format!("Turn on ({RECALL_SECONDS} s)")).on_hover_text(
                    "Keep the last seconds of the microphone in memory (never saved unless you recall them), so the recall key transcribes what was just said",
                );
                if b.clicked() {
                    turn = Some(RECALL_SECONDS);
                }
                return;
            }
            match self.recall.level() {
                Some((rms, _)) => {
                    // A red light (drawn: the window's fonts have no "●").
                    let (dot, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                    ui.painter().circle_filled(dot.center(), 4.0, egui::Color32::from_rgb(230, 70, 70));
                    let db = 20.0 * rms.max(1e-5).log10();
                    ui.label(format!("Recall listening: last {seconds} s ({db:.0} dBFS)"))
                        .on_hover_text("The microphone is heard in the background and its last seconds kept in memory only");
                }
                None => {
                    ui.label(format!("Recall on ({seconds} s), waiting for a microphone")).on_hover_text(
                        "No microphone is open for it (none there yet, or it was lost): it listens as soon as one is",
                    );
                }
            }
            if ui.small_button("Turn off").on_hover_text("Stop listening and forget what it holds").clicked() {
                turn = Some(0);
            }
        });
        if let Some(s) = turn {
            self.set_recall(s);
        }
    }

    /// The first time the window opens: ask, rather than listen by default.
    fn ask_about_recall(&mut self, ctx: &egui::Context) {
        if self.settings.settings.recall_asked {
            return;
        }
        let listening = self.settings.settings.recall_seconds > 0;
        let mut turn = None;
        egui::Window::new("Recall: transcribe what was just said?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                ui.label(format!(
                    "Hark can keep the last {RECALL_SECONDS} s of your microphone in memory, so that {} turns what \
                     was just said into a session. Nothing is saved unless you press it; turning it off forgets it.",
                    self.settings.settings.hotkeys.recall
                ));
                if listening {
                    ui.label(format!("It is on now ({} s).", self.settings.settings.recall_seconds));
                }
                ui.horizontal(|ui| {
                    let on = ui.button(if listening { "Keep it on" } else { "Turn it on" });
                    if on
                        .on_hover_text("The microphone is listened to in the background, kept in memory only")
                        .clicked()
                    {
                        turn = Some(if listening { self.settings.settings.recall_seconds } else { RECALL_SECONDS });
                    }
                    let off = ui.button(if listening { "Turn it off" } else { "Keep it off" });
                    if off.on_hover_text("Nothing is listened to until you press Record or a hotkey").clicked() {
                        turn = Some(0);
                    }
                });
            });
        if let Some(s) = turn {
            self.set_recall(s);
        }
    }

    fn device_picker(&mut self, ui: &mut egui::Ui) {
        ui.label("Input device");
        let devices = &self.control.devices;
        if devices.is_empty() {
            ui.colored_label(egui::Color32::from_rgb(240, 170, 60), "No input device was found");
        }
        let current = self.settings.settings.input_device.clone();
        let current_name = current
            .as_ref()
            .map(|id| devices.iter().find(|d| &d.id == id).map_or_else(|| id.clone(), |d| d.name.clone()))
            .unwrap_or_else(|| "System default".into());
        let mut chosen = current.clone();
        egui::ComboBox::from_id_salt("device")
            .width(ui.available_width() - 8.0)
            .selected_text(current_name)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut chosen, None, "System default");
                for d in devices {
                    ui.selectable_value(&mut chosen, Some(d.id.clone()), format!("{} ({})", d.name, d.host));
                }
            })
            .response
            .on_hover_text("The microphone captures come from; System default follows the sound server's choice");
        if chosen != current {
            self.settings.settings.input_device = chosen.clone();
            self.save();
            self.select.write(SelectInput(chosen));
        }
        if ui
            .button("Refresh devices and models")
            .on_hover_text("Look again for microphones, and for model files in the models directory")
            .clicked()
        {
            self.refresh.write(RefreshInputs);
            self.refresh_models.write(RefreshModels);
        }
    }

    /// A model from elsewhere: its path typed or pasted, imported into the models directory on a
    /// thread of its own (with how long it has taken), then used.
    fn import_row(&mut self, ui: &mut egui::Ui, busy: bool) {
        if let Some((from, secs)) = self.models.importing() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("importing {}… {secs:.0} s", hark_transcribe::loader::file_name(from)));
            });
            // Frames come on input only when idle: keep the seconds moving.
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(250));
            return;
        }
        ui.horizontal(|ui| {
            let field = egui::TextEdit::singleline(&mut *self.import_path)
                .hint_text("Import: model folder or .bin")
                .desired_width(ui.available_width() - 56.0);
            ui.add(field).on_hover_text(
                "The path of a faster-whisper (CTranslate2) model folder, converted to a whisper.cpp file, \
                 or of a whisper.cpp .bin file, copied: it goes into the models directory and is used from then on",
            );
            let path = self.import_path.trim().to_owned();
            let go = ui.add_enabled(!path.is_empty() && !busy, egui::Button::new("Import"));
            let says = "Import the model at this path, then use it (while nothing is captured or transcribed)";
            if go.on_hover_text(says).on_disabled_hover_text(says).clicked() {
                self.notice.set(format!("importing {path}…"));
                self.import.write(hark_transcribe::loader::ImportModel(path.into()));
                self.import_path.clear();
            }
        });
    }

    /// Only while nothing is captured or transcribed: a model switch replaces the recogniser.
    fn model_picker(&mut self, ui: &mut egui::Ui, capturing: bool) {
        ui.label("Model");
        let busy = capturing || self.models.loading().is_some() || self.utterances.iter().any(|(_, t, ..)| t.is_none());
        let current = self.models.current_name();
        let mut pick = None;
        let mut get = None;
        // One change of model at a time: not while a download or an import is going on.
        let changing = self.models.fetching().is_some() || self.models.importing().is_some();
        ui.add_enabled_ui(!busy && !changing, |ui| {
            egui::ComboBox::from_id_salt("model")
                .width(ui.available_width() - 8.0)
                .selected_text(&current)
                .show_ui(ui, |ui| {
                    for m in &self.models.available {
                        let name = hark_transcribe::loader::file_name(m);
                        // Read only while the list is open.
                        let label = match std::fs::metadata(m) {
                            Ok(meta) => format!("{name} · {:.0} MB", meta.len() as f64 / 1e6),
                            Err(_) => name.clone(),
                        };
                        if ui.selectable_label(name == current, label).clicked() && name != current {
                            pick = Some(m.clone());
                        }
                    }
                    // The catalogue's other models, to download (then switch to).
                    let missing = self.models.not_installed();
                    if !missing.is_empty() {
                        ui.separator();
                        ui.weak("Not installed (click to download):");
                    }
                    for k in missing {
                        let label = format!("{} · {:.0} MB", k.name, k.size as f64 / 1e6);
                        let hover = format!(
                            "Download {} from the whisper.cpp hub (sha256-checked) into the models directory, then use it{}",
                            k.file_name(),
                            if k.multilingual { "; it transcribes many languages" } else { "; English only" }
                        );
                        if ui.selectable_label(false, label).on_hover_text(hover).clicked() {
                            get = Some(k.name);
                        }
                    }
                })
                .response
                .on_hover_text(
                    "The whisper model that transcribes (files in the models directory: `hark model list`, \
                     `hark model quantize`); it can be changed while nothing is captured or transcribed",
                );
        });
        if let Some((name, done, total)) = self.models.fetching() {
            let part = if total > 0 { done as f32 / total as f32 } else { 0.0 };
            ui.add(egui::ProgressBar::new(part).text(format!("downloading {name}: {:.0} %", part * 100.0)));
        }
        self.import_row(ui, busy || changing);
        if let Some(name) = get {
            self.notice.set(format!("downloading {name}…"));
            self.fetch.write(hark_transcribe::loader::FetchModel(name.to_owned()));
        }
        if let Some(m) = pick {
            self.notice.set(format!("loading {}…", hark_transcribe::loader::file_name(&m)));
            self.load.write(LoadModel(m));
        }
    }
}

pub(crate) fn draw(
    mut contexts: EguiContexts,
    mut controls: Controls,
    mut sessions: Sessions,
    mut layout: ResMut<PanelLayout>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = crate::room(ctx, "hark-left", crate::above_status(ctx));
    let mut place = controls.settings.settings.panels.left;
    // Captures cut short are offered at the top of the sessions list: the panel shows while the
    // offer stands, whatever it was left as (not saved).
    if sessions.offers_recovery() {
        place.shown = true;
    }
    let drawn =
        crate::layout::side_panel(&mut root, Side::Left, &mut place, layout.right, |ui, contents| match contents {
            Contents::Full { hide } => {
                controls.show(ui, hide);
                ui.separator();
                sessions.show(ui);
            }
            Contents::Strip => controls.strip(ui),
        });
    layout.left = drawn.width;
    if drawn.changed {
        controls.settings.settings.panels.left = place;
        controls.save();
        println!("{}", crate::layout::describe(Side::Left, &place));
    }
    controls.ask_about_recall(ctx);
    Ok(())
}
