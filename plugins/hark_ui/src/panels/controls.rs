//! The left panel's controls: record, input device, level meter, model, VAD sensitivity (the
//! sessions list follows below them, from [`super::sessions`]).

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use hark_capture::{CaptureControl, CaptureRequest, RefreshInputs, SelectInput};
use hark_transcribe::{LoadModel, Models, RefreshModels};
use hark_vad::VadSettings;

use super::UtteranceRow;
use super::sessions::Sessions;
use crate::{LEFT_PANEL, LevelMeter, Notice, UiSettings};

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
    utterances: Query<'w, 's, UtteranceRow>,
}

impl Controls<'_, '_> {
    fn save(&mut self) {
        if let Err(e) = self.settings.save() {
            self.notice.set(e);
        }
    }

    fn show(&mut self, ui: &mut egui::Ui) {
        let capturing = self.control.active.is_some();
        ui.heading("Hark");
        let label = if capturing { "■ Stop" } else { "● Record" };
        if ui.add_sized([LEFT_PANEL - 20.0, 32.0], egui::Button::new(label)).clicked() {
            self.capture.write(CaptureRequest::Toggle);
        }
        let s = &self.settings.settings;
        ui.small(format!(
            "{} toggles, hold {} to talk, {} transcribes the last {} s",
            s.hotkeys.toggle, s.hotkeys.push_to_talk, s.hotkeys.recall, s.recall_seconds
        ));
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
        ui.separator();
        self.model_picker(ui, capturing);
        ui.separator();
        ui.label("VAD sensitivity");
        let mut sens = 1.0 - self.vad.gate.threshold;
        if ui.add(egui::Slider::new(&mut sens, 0.1..=0.8)).changed() {
            self.vad.gate.threshold = 1.0 - sens;
            self.settings.settings.vad_threshold = self.vad.gate.threshold;
            self.save();
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
            .and_then(|id| devices.iter().find(|d| &d.id == id).map(|d| d.name.clone()))
            .unwrap_or_else(|| "System default".into());
        let mut chosen = current.clone();
        egui::ComboBox::from_id_salt("device").width(LEFT_PANEL - 20.0).selected_text(current_name).show_ui(ui, |ui| {
            ui.selectable_value(&mut chosen, None, "System default");
            for d in devices {
                ui.selectable_value(&mut chosen, Some(d.id.clone()), format!("{} ({})", d.name, d.host));
            }
        });
        if chosen != current {
            self.settings.settings.input_device = chosen.clone();
            self.save();
            self.select.write(SelectInput(chosen));
        }
        if ui.button("Refresh devices and models").clicked() {
            self.refresh.write(RefreshInputs);
            self.refresh_models.write(RefreshModels);
        }
    }

    /// Only while nothing is captured or transcribed: a model switch replaces the recogniser.
    fn model_picker(&mut self, ui: &mut egui::Ui, capturing: bool) {
        ui.label("Model");
        let busy = capturing || self.models.loading().is_some() || self.utterances.iter().any(|(_, t, ..)| t.is_none());
        let current = self.models.current_name();
        let mut pick = None;
        ui.add_enabled_ui(!busy, |ui| {
            egui::ComboBox::from_id_salt("model").width(LEFT_PANEL - 20.0).selected_text(&current).show_ui(ui, |ui| {
                for m in &self.models.available {
                    let name = hark_transcribe::loader::file_name(m);
                    if ui.selectable_label(name == current, &name).clicked() && name != current {
                        pick = Some(m.clone());
                    }
                }
            });
        });
        if let Some(m) = pick {
            self.notice.set(format!("loading {}…", hark_transcribe::loader::file_name(&m)));
            self.load.write(LoadModel(m));
        }
    }
}

pub(crate) fn draw(mut contexts: EguiContexts, mut controls: Controls, mut sessions: Sessions) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = crate::room(ctx, "hark-left", crate::above_status(ctx));
    egui::Panel::left("controls").exact_size(LEFT_PANEL).show(&mut root, |ui| {
        controls.show(ui);
        ui.separator();
        sessions.show(ui);
    });
    Ok(())
}
