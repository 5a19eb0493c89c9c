//! Captures cut short (the app killed or crashed, the power gone) are offered for transcription
//! when the window opens. Their audio was saved as it came; what is missing is the text after
//! the last saved utterance. The app fills [`Recovery`] at start and finishes the sessions the
//! user agrees to (as `hark sessions recover` does); this module only asks and reports.

use bevy::prelude::*;
use bevy_egui::egui;

/// A saved session whose capture ended before all of it was transcribed.
#[derive(Debug, Clone, PartialEq)]
pub struct CutShort {
    pub id: i64,
    pub title: String,
    /// Seconds of its stored audio after the last transcribed utterance.
    pub untranscribed_s: f64,
}

/// What the window offers to recover, and how far it has got.
#[derive(Resource, Debug, Default)]
pub struct Recovery {
    /// Found when the window opened.
    pub offered: Vec<CutShort>,
    /// The user asked for them to be transcribed (the app starts them and clears this).
    pub requested: bool,
    /// The user said "later": asked again at the next start.
    pub dismissed: bool,
    /// Being transcribed: the saved session and its entity.
    pub running: Vec<(i64, Entity)>,
    /// Finished this run.
    pub finished: usize,
}

impl Recovery {
    /// The question or the progress, at the top of the sessions panel; nothing when there is
    /// nothing to recover.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        if !self.running.is_empty() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.small(format!(
                    "Transcribing {} capture{} that {} cut short…",
                    self.running.len(),
                    plural(self.running.len()),
                    if self.running.len() == 1 { "was" } else { "were" }
                ));
            });
            return;
        }
        if self.offered.is_empty() || self.dismissed {
            return;
        }
        let n = self.offered.len();
        let secs: f64 = self.offered.iter().map(|c| c.untranscribed_s).sum();
        let names: Vec<String> = self.offered.iter().map(|c| format!("#{} {}", c.id, c.title)).collect();
        egui::Frame::group(ui.style()).fill(egui::Color32::from_rgb(60, 48, 20)).show(ui, |ui| {
            ui.small(format!(
                "{n} capture{} ended before {} was transcribed ({} of audio, saved).",
                plural(n),
                if n == 1 { "all of it" } else { "all of them" },
                crate::panels::sessions::length(secs)
            ))
            .on_hover_text(names.join("\n"));
            ui.horizontal(|ui| {
                if ui
                    .small_button("Transcribe now")
                    .on_hover_text(
                        "The audio is in the database; Hark transcribes what was said after the last saved text, \
                         as `hark sessions recover` does.",
                    )
                    .clicked()
                {
                    self.requested = true;
                }
                if ui.small_button("Later").on_hover_text("Asked again when Hark next starts.").clicked() {
                    self.dismissed = true;
                }
            });
        });
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
