//! The transcript panel (right): the shown session's utterances as they arrive, or a saved
//! session's text; copy puts it on the clipboard. Rows are laid out by
//! [`crate::transcript::TranscriptView`] (only those in view).

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use hark_capture::CaptureControl;
use hark_core::samples_to_secs;
use hark_store::Browsing;

use super::UtteranceRow;
use crate::transcript::{Row, RowText, TranscriptView};
use crate::{RIGHT_PANEL, Shown};

#[derive(SystemParam)]
pub struct TranscriptPanel<'w, 's> {
    shown: Res<'w, Shown>,
    control: Res<'w, CaptureControl>,
    browsing: Res<'w, Browsing>,
    utterances: Query<'w, 's, UtteranceRow>,
    view: Local<'s, TranscriptView>,
}

/// The rows of what is shown, in order.
fn rows<'a>(
    shown: Shown,
    control: &CaptureControl,
    browsing: &'a Browsing,
    utterances: &'a Query<UtteranceRow>,
) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    match shown {
        Shown::Nothing => {}
        Shown::Saved(id) => {
            if let Some(o) = browsing.opened.as_ref().filter(|o| o.id == id) {
                rows.push(Row { start_s: 0.0, text: RowText::Heading(format!("Session #{id}: {}", o.title).into()) });
                rows.extend(o.lines.iter().map(|(s, t)| Row { start_s: *s, text: RowText::Said(t.into()) }));
            }
        }
        Shown::Live(session) => {
            let mut items: Vec<_> = utterances.iter().filter(|(u, ..)| u.session == session).collect();
            items.sort_by_key(|(u, ..)| u.index);
            for (u, t, pending, _) in items {
                let text = match t {
                    Some(t) if t.suspect || t.text.is_empty() => continue,
                    Some(t) => RowText::Said(t.text.as_str().into()),
                    None => RowText::Waiting(if pending { "recognising…" } else { "waiting…" }),
                };
                rows.push(Row { start_s: samples_to_secs(u.start), text });
            }
            if control.active == Some(session) {
                rows.push(Row { start_s: f64::MAX, text: RowText::Note("listening…") });
            }
        }
    }
    rows
}

/// The recognised text of `rows`, one utterance a line.
fn plain_text(rows: &[Row]) -> String {
    let said: Vec<&str> = rows
        .iter()
        .filter_map(|r| match &r.text {
            RowText::Said(t) => Some(t.as_ref()),
            _ => None,
        })
        .collect();
    said.join("\n")
}

pub(crate) fn draw(mut contexts: EguiContexts, panel: TranscriptPanel) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = crate::room(ctx, "hark-right", crate::above_status(ctx));
    let TranscriptPanel { shown, control, browsing, utterances, mut view } = panel;
    let rows = rows(*shown, &control, &browsing, &utterances);
    egui::Panel::right("transcript").exact_size(RIGHT_PANEL).show(&mut root, |ui| {
        ui.horizontal(|ui| {
            ui.heading("Transcript");
            if ui.small_button("Copy").clicked() {
                ui.ctx().copy_text(plain_text(&rows));
            }
        });
        view.show(ui, &rows);
    });
    Ok(())
}
