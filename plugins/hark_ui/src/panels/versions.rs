//! The versions room, under the replay controls: an opened session's transcript versions (which
//! one is current, each one's model, date and words), a re-run with other settings (of the
//! whole session or of the loop) with its progress, and two versions compared side by side
//! with the changed words marked; clicking a word there seeks to it.

use std::path::Path;

use bevy::prelude::*;
use bevy_egui::egui;
use hark_core::diff::DiffWord;
use hark_replay::versions::{Comparison, RerunSettings, RerunStatus, VersionRequest};
use hark_replay::{Replay, ReplayRequest, Replayed};
use hark_segment::SegmentSettings;

/// The re-run form's choices, kept between frames.
#[derive(Debug, Clone, PartialEq)]
pub struct RerunForm {
    /// A model path from the models directory; `None`: the one in use.
    pub model: Option<String>,
    pub merge_pauses_s: f64,
    pub beam_size: usize,
    pub fallback: bool,
    /// The VAD's threshold (the left panel's "Speech threshold (VAD)").
    pub vad_threshold: f32,
    /// Only the loop's span.
    pub loop_only: bool,
}

impl Default for RerunForm {
    fn default() -> Self {
        // A saved session is transcribed like a file: pauses joined into sentences.
        Self {
            model: None,
            merge_pauses_s: SegmentSettings::FILE_MERGE_GAP_SECS,
            beam_size: 1,
            fallback: false,
            vad_threshold: hark_vad::GateSettings::default().threshold,
            loop_only: false,
        }
    }
}

/// A model's short name: its file name without `ggml-` and `.bin`.
pub fn model_name(path: &str) -> String {
    let file = Path::new(path).file_name().map_or_else(|| path.to_owned(), |f| f.to_string_lossy().into_owned());
    file.trim_start_matches("ggml-").trim_end_matches(".bin").to_owned()
}

/// `2026-11-30T10:08:54Z` → `2026-11-30 10:08`
fn short_date(rfc3339: &str) -> String {
    rfc3339.get(..16).map_or_else(|| rfc3339.to_owned(), |s| s.replace('T', " "))
}

/// The section: the versions, then the re-run form or its progress.
#[allow(clippy::too_many_arguments, reason = "the room's state, its requests and what it reads")]
pub fn section(
    ui: &mut egui::Ui,
    replay: &Replay,
    session: &Replayed,
    status: &RerunStatus,
    models: &[std::path::PathBuf],
    form: &mut RerunForm,
    ask: &mut MessageWriter<ReplayRequest>,
    versions: &mut MessageWriter<VersionRequest>,
) {
    let n = session.versions.len();
    egui::CollapsingHeader::new(format!("Versions ({n})")).id_salt("versions").default_open(n > 1).show(ui, |ui| {
        let current = session.versions.iter().find(|v| v.current).map_or(1, |v| v.version);
        for v in &session.versions {
            ui.horizontal(|ui| {
                let label = format!("v{} · {} · {} words", v.version, model_name(&v.model), v.words);
                let span = match (v.from_s, v.to_s) {
                    (Some(a), Some(b)) => format!("{a:.1}–{b:.1} s re-run, the rest as before\n"),
                    _ => String::new(),
                };
                let tip = format!("made {}\n{span}{}", short_date(&v.created_at), v.settings);
                if v.current {
                    ui.strong(label).on_hover_text(tip);
                    ui.small("current");
                } else {
                    ui.label(label).on_hover_text(tip);
                    if ui.small_button("Use").on_hover_text("Show, search and export this version").clicked() {
                        versions.write(VersionRequest::Use { session: session.id, version: v.version });
                    }
                    if ui.small_button("Compare").on_hover_text("Side by side with the current version").clicked() {
                        ask.write(ReplayRequest::Compare(Some((current, v.version))));
                    }
                }
            });
        }
        ui.separator();
        match status {
            RerunStatus::Running { session: s, fraction } if *s == session.id => {
                ui.add(
                    egui::ProgressBar::new(*fraction)
                        .show_percentage()
                        .text(format!("re-running… {:.0} %", fraction * 100.0)),
                );
            }
            _ => rerun_form(ui, replay, session, status, models, form, versions),
        }
    });
}

fn rerun_form(
    ui: &mut egui::Ui,
    replay: &Replay,
    session: &Replayed,
    status: &RerunStatus,
    models: &[std::path::PathBuf],
    form: &mut RerunForm,
    versions: &mut MessageWriter<VersionRequest>,
) {
    ui.horizontal(|ui| {
        ui.label("model");
        let shown = form.model.as_deref().map_or_else(|| "as captured".to_owned(), model_name);
        egui::ComboBox::from_id_salt("rerun-model")
            .width(120.0)
            .selected_text(shown)
            .show_ui(ui, |ui| {
                if ui.selectable_label(form.model.is_none(), "as captured").clicked() {
                    form.model = None;
                }
                for m in models {
                    let path = m.display().to_string();
                    if ui.selectable_label(form.model.as_deref() == Some(path.as_str()), model_name(&path)).clicked() {
                        form.model = Some(path);
                    }
                }
            })
            .response
            .on_hover_text("The model to transcribe it again with");
    });
    ui.horizontal(|ui| {
        ui.label("join pauses");
        ui.spacing_mut().slider_width = 110.0;
        ui.add(egui::Slider::new(&mut form.merge_pauses_s, 0.0..=5.0).step_by(0.1).suffix(" s"))
            .on_hover_text("Pauses up to this long are kept inside one utterance");
    });
    ui.horizontal(|ui| {
        ui.label("VAD");
        ui.spacing_mut().slider_width = 110.0;
        ui.add(egui::Slider::new(&mut form.vad_threshold, 0.05..=0.95).step_by(0.05))
            .on_hover_text("Speech probability threshold: lower finds fainter voices (and more noise)");
    });
    ui.horizontal(|ui| {
        ui.label("beam");
        for b in [1, 3, 5] {
            ui.selectable_value(&mut form.beam_size, b, b.to_string())
                .on_hover_text("Beam width: wider weighs more candidate transcripts (slower; 1 is greedy)");
        }
        ui.checkbox(&mut form.fallback, "fallback").on_hover_text("Retry hard utterances at higher temperatures");
    });
    if replay.looping.is_some() {
        ui.checkbox(&mut form.loop_only, "only the loop")
            .on_hover_text("Transcribe again only the A-B loop's stretch, not the whole session");
    }
    let busy = status.running();
    let recording = session.growing();
    let button = ui.add_enabled(!busy && !recording, egui::Button::new("Re-run"));
    let button = if recording { button.on_disabled_hover_text("The session is still being captured") } else { button };
    if button.clicked() {
        let span = replay.looping.filter(|_| form.loop_only);
        versions.write(VersionRequest::Rerun {
            session: session.id,
            span,
            settings: RerunSettings {
                model: form.model.clone(),
                merge_pauses_s: form.merge_pauses_s,
                beam_size: form.beam_size,
                temperature_inc: if form.fallback { 0.2 } else { 0.0 },
                vad_threshold: form.vad_threshold,
            },
        });
    }
    match status {
        RerunStatus::Done { session: s, version } if *s == session.id => {
            ui.small(format!("version {version} added: compare it or use it above"));
        }
        RerunStatus::Failed(e) => {
            ui.colored_label(ui.visuals().warn_fg_color, format!("re-run failed: {e}"));
        }
        _ => {}
    }
}

/// The words of one side, the changed ones marked; returns the start of a clicked word.
fn side(ui: &mut egui::Ui, words: &[DiffWord], changed: &[bool], colour: egui::Color32) -> Option<u64> {
    let mut clicked = None;
    egui::ScrollArea::vertical().id_salt(colour.to_hex()).max_height(ui.available_height()).show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 3.0;
            for (w, &c) in words.iter().zip(changed) {
                let text = if c {
                    egui::RichText::new(&w.text).background_color(colour).color(egui::Color32::WHITE)
                } else {
                    egui::RichText::new(&w.text)
                };
                if ui.add(egui::Label::new(text).sense(egui::Sense::click())).clicked() {
                    clicked = w.start;
                }
            }
        });
    });
    clicked
}

/// Two versions side by side (a window over the views) while a comparison is open.
pub fn comparison(
    ctx: &egui::Context,
    c: &Comparison,
    current: i64,
    ask: &mut MessageWriter<ReplayRequest>,
    versions: &mut MessageWriter<VersionRequest>,
) {
    let mut open = true;
    let removed = egui::Color32::from_rgb(150, 40, 40);
    let added = egui::Color32::from_rgb(30, 120, 60);
    egui::Window::new(format!("Compare v{} and v{}", c.a, c.b))
        .id(egui::Id::new("compare-versions"))
        .open(&mut open)
        // Over the waveform, below the words pinned on the spectrogram.
        .default_pos([256.0, 330.0])
        .default_size([440.0, 260.0])
        .show(ctx, |ui| {
            let words_changed: usize = c.changes.iter().map(|ch| ch.old.len().max(ch.new.len())).sum();
            let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            ui.label(match c.changes.len() {
                0 => "the same words".to_owned(),
                n => format!("{} ({}); click a word to hear it", plural(n, "change"), plural(words_changed, "word")),
            });
            let mut seek = None;
            ui.columns(2, |cols| {
                for (col, (v, words, changed, colour)) in cols
                    .iter_mut()
                    .zip([(c.a, &c.old, c.changed_old(), removed), (c.b, &c.new, c.changed_new(), added)])
                {
                    col.horizontal(|ui| {
                        ui.strong(format!("v{v}"));
                        if v == current {
                            ui.small("current");
                        } else if ui
                            .small_button("Use")
                            .on_hover_text("Make this version the one shown, searched and exported")
                            .clicked()
                        {
                            versions.write(VersionRequest::Use { session: c.session, version: v });
                        }
                    });
                    seek = seek.or(side(col, words, &changed, colour));
                }
            });
            if let Some(at) = seek {
                ask.write(ReplayRequest::Seek(at));
            }
        });
    if !open {
        ask.write(ReplayRequest::Compare(None));
    }
}
