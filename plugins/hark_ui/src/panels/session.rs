//! The saved-session room, at the top of a replay: rename the session in place, export its
//! transcript or audio to a file, delete it (after a confirmation). What it asks goes to the app
//! as [`SessionAction`]s; how the last one went is shown under the buttons.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::egui;
use hark_replay::Replayed;
use hark_replay::versions::{ActionOutcome, ExportKind, SessionAction};

/// The room's state between frames.
#[derive(Debug, Default)]
pub struct SessionForm {
    /// The title being edited, for this session.
    renaming: Option<(i64, String)>,
    /// The folder exports go to (empty: not chosen yet; the documents folder or home).
    folder: String,
    /// The session a delete waits to be confirmed for.
    confirm_delete: Option<i64>,
}

/// Where exports go unless the person says otherwise: `~/Documents` when there is one, else home.
pub fn default_export_folder() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let docs = home.join("Documents");
    if docs.is_dir() { docs } else { home }
}

/// A file name from a session's title: letters, digits, spaces, `-` and `_` kept, the rest
/// dropped; the id keeps two sessions of the same title apart.
pub fn export_file_name(id: i64, title: &str, kind: ExportKind) -> String {
    let clean: String = title
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .collect::<String>()
        .trim()
        .to_owned();
    let stem = if clean.is_empty() { "session".to_owned() } else { clean.chars().take(60).collect() };
    format!("{stem} (#{id}).{}", kind.extension())
}

/// Draws the room; returns true when the session was asked to be deleted (the panel then stops
/// showing it).
pub fn row(
    ui: &mut egui::Ui,
    session: &Replayed,
    outcome: &ActionOutcome,
    form: &mut SessionForm,
    actions: &mut MessageWriter<SessionAction>,
) -> bool {
    let mut deleted = false;
    if form.folder.is_empty() {
        form.folder = default_export_folder().display().to_string();
    }
    match &mut form.renaming {
        Some((id, title)) if *id == session.id => {
            let mut done = None;
            ui.horizontal(|ui| {
                let edit = ui
                    .add(egui::TextEdit::singleline(title).desired_width(200.0))
                    .on_hover_text("The session's new title (Enter saves, Escape cancels)");
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.small_button("Save").on_hover_text("Keep this title").clicked() || enter {
                    done = Some(true);
                }
                let cancel = ui.small_button("Cancel").on_hover_text("Leave the title as it was");
                if cancel.clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    done = Some(false);
                }
            });
            if let Some(save) = done {
                if save {
                    actions.write(SessionAction::Rename { session: session.id, title: title.clone() });
                }
                form.renaming = None;
            }
        }
        _ => {
            ui.horizontal(|ui| {
                ui.strong(format!("#{} {}", session.id, session.title));
                if ui.small_button("Rename").on_hover_text("Give this session a title of your own").clicked() {
                    form.renaming = Some((session.id, session.title.clone()));
                }
            });
        }
    }
    ui.horizontal(|ui| {
        let export = ui.menu_button("Export…", |ui| {
            ui.label("to the folder");
            ui.add(egui::TextEdit::singleline(&mut form.folder).desired_width(220.0))
                .on_hover_text("The folder the file is written to (never over the session database)");
            for kind in ExportKind::ALL {
                let name = export_file_name(session.id, &session.title, kind);
                if ui.button(kind.label()).on_hover_text(&name).clicked() {
                    let path = PathBuf::from(&form.folder).join(name);
                    actions.write(SessionAction::Export { session: session.id, kind, path });
                    ui.close();
                }
            }
        });
        export.response.on_hover_text("Save the transcript (text, subtitles, JSON) or the audio (WAV) as a file");
        if form.confirm_delete == Some(session.id) {
            ui.label("delete it?");
            let gone = "Delete it for good: its audio, transcript and versions";
            if ui.small_button("Delete").on_hover_text(gone).clicked() {
                actions.write(SessionAction::Delete { session: session.id });
                form.confirm_delete = None;
                deleted = true;
            }
            if ui.small_button("Keep").on_hover_text("Do not delete it").clicked() {
                form.confirm_delete = None;
            }
        } else if ui.small_button("Delete…").on_hover_text("The session, its audio and every version").clicked() {
            form.confirm_delete = Some(session.id);
        }
    });
    match &outcome.0 {
        Some(Ok(done)) => {
            ui.small(done);
        }
        Some(Err(why)) => {
            ui.colored_label(ui.visuals().warn_fg_color, why);
        }
        None => {}
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_come_from_the_title_without_path_characters() {
        assert_eq!(export_file_name(3, "Budget meeting", ExportKind::Srt), "Budget meeting (#3).srt");
        assert_eq!(export_file_name(4, "../../etc/passwd", ExportKind::Txt), "etcpasswd (#4).txt");
        assert_eq!(export_file_name(5, "/// ***", ExportKind::Wav), "session (#5).wav");
        assert_eq!(export_file_name(6, "Réunion à 9h", ExportKind::Json), "Réunion à 9h (#6).json");
    }
}
