//! Saved sessions and full-text search, below the controls. The list and the hits come from
//! `hark_store`'s browser thread; sessions of this run show their live state and length.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui;
use hark_core::{SessionClock, SessionState, samples_to_secs};
use hark_store::{BrowseRequest, Browsing, StoredSession};

use crate::Shown;

#[derive(SystemParam)]
pub struct Sessions<'w, 's> {
    browsing: Res<'w, Browsing>,
    shown: ResMut<'w, Shown>,
    browse: MessageWriter<'w, BrowseRequest>,
    replay: MessageWriter<'w, hark_replay::ReplayRequest>,
    /// What is typed in the search field.
    search: Local<'s, String>,
    stored: Query<'w, 's, (Entity, &'static StoredSession, &'static SessionState)>,
    clocks: Query<'w, 's, &'static SessionClock>,
}

/// A line of the sessions list: the state only when it is news, the title last, where
/// truncation hurts least.
pub fn session_line(id: i64, title: &str, state: SessionState, secs: f64) -> String {
    let state = match state {
        SessionState::Complete => String::new(),
        SessionState::Captured => " · transcribing".to_owned(),
        s => format!(" · {s}"),
    };
    format!("#{id} · {secs:.0} s{state} · {title}")
}

/// A search snippet as the store marks it (`[hit]`), cut into (text, is a hit) parts without the
/// marks.
pub fn snippet_parts(snippet: &str) -> Vec<(String, bool)> {
    let mut parts: Vec<(String, bool)> = Vec::new();
    let mut hit = false;
    let mut cur = String::new();
    for c in snippet.chars() {
        match c {
            '[' if !hit => {
                if !cur.is_empty() {
                    parts.push((std::mem::take(&mut cur), false));
                }
                hit = true;
            }
            ']' if hit => {
                parts.push((std::mem::take(&mut cur), true));
                hit = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        // An unclosed mark (a cut snippet) is shown as it is.
        parts.push((if hit { format!("[{cur}") } else { cur }, false));
    }
    parts
}

impl Sessions<'_, '_> {
    /// The state and length of a session: live for one of this run (the database catches up
    /// when the writer thread gets to it), as saved otherwise.
    fn live(&self, id: i64, state: SessionState, secs: f64) -> (SessionState, f64) {
        match self.stored.iter().find(|(_, s, _)| s.0 == id) {
            Some((e, _, state)) => (*state, self.clocks.get(e).map_or(secs, |c| samples_to_secs(c.captured))),
            None => (state, secs),
        }
    }

    pub(crate) fn show(&mut self, ui: &mut egui::Ui) {
        ui.label("Sessions");
        let resp = ui.text_edit_singleline(&mut *self.search);
        if resp.changed() {
            self.browse.write(BrowseRequest::Search(self.search.clone()));
        }
        if ui.small_button("Refresh").clicked() {
            self.browse.write(BrowseRequest::Refresh);
        }
        if !self.browsing.saving {
            ui.small("(not saving sessions)");
        }
        if let Some(p) = &self.browsing.problem {
            ui.colored_label(egui::Color32::from_rgb(240, 170, 60), p);
        }
        // One line a row, so only the rows in view are laid out however many sessions there are.
        let searching = !self.browsing.query.trim().is_empty();
        let count = if searching { self.browsing.hits.len() } else { self.browsing.sessions.len() };
        let row_height = ui.spacing().interact_size.y.max(ui.text_style_height(&egui::TextStyle::Small));
        let mut open = None;
        egui::ScrollArea::vertical().id_salt("sessions").max_height(180.0).show_rows(
            ui,
            row_height,
            count,
            |ui, range| {
                for i in range {
                    let (id, label, text): (i64, String, egui::WidgetText) = if searching {
                        // The words that matched, highlighted (the store marks them with [ ]).
                        let h = &self.browsing.hits[i];
                        let parts = snippet_parts(&h.snippet);
                        let plain: String = parts.iter().map(|(t, _)| t.as_str()).collect();
                        let font = egui::TextStyle::Small.resolve(ui.style());
                        let normal = egui::TextFormat::simple(font.clone(), ui.visuals().text_color());
                        let hit = egui::TextFormat {
                            background: ui.visuals().selection.bg_fill,
                            color: ui.visuals().strong_text_color(),
                            ..egui::TextFormat::simple(font, ui.visuals().text_color())
                        };
                        let mut job = egui::text::LayoutJob::default();
                        job.append(&format!("#{} {:.1} s: ", h.session_id, h.start_s), 0.0, normal.clone());
                        for (t, is_hit) in &parts {
                            job.append(t, 0.0, if *is_hit { hit.clone() } else { normal.clone() });
                        }
                        (h.session_id, format!("#{} {:.1} s: {plain}", h.session_id, h.start_s), job.into())
                    } else {
                        let s = &self.browsing.sessions[i];
                        let (state, secs) = self.live(s.id, s.state, s.duration_s);
                        let line = session_line(s.id, &s.title, state, secs);
                        (s.id, line.clone(), egui::RichText::new(line).small().into())
                    };
                    let button = egui::Button::new(text).frame(false).truncate();
                    if ui.add(button).on_hover_text(&label).clicked() {
                        open = Some(id);
                    }
                }
            },
        );
        if searching && self.browsing.hits.is_empty() && self.browsing.problem.is_none() {
            ui.small(format!("No saved session mentions “{}”.", self.browsing.query.trim()));
        }
        if let Some(id) = open {
            *self.shown = Shown::Saved(id);
            self.browse.write(BrowseRequest::Open(id));
            self.replay.write(hark_replay::ReplayRequest::Open(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_hits_are_highlighted_without_their_marks() {
        let parts = snippet_parts("…so my [fellow] [Americans], ask not…");
        assert_eq!(
            parts,
            vec![
                ("…so my ".to_owned(), false),
                ("fellow".to_owned(), true),
                (" ".to_owned(), false),
                ("Americans".to_owned(), true),
                (", ask not…".to_owned(), false),
            ]
        );
        assert_eq!(snippet_parts("no hits here"), vec![("no hits here".to_owned(), false)]);
        assert_eq!(snippet_parts("cut [short"), vec![("cut ".to_owned(), false), ("[short".to_owned(), false)]);
    }

    #[test]
    fn session_lines_lead_with_length_and_news() {
        assert_eq!(session_line(3, "standup", SessionState::Complete, 61.4), "#3 · 61 s · standup");
        assert_eq!(session_line(4, "call", SessionState::Interrupted, 5.0), "#4 · 5 s · interrupted · call");
        assert_eq!(session_line(5, "mic", SessionState::Captured, 0.4), "#5 · 0 s · transcribing · mic");
        assert_eq!(session_line(6, "mic", SessionState::Recording, 0.4), "#6 · 0 s · recording · mic");
    }
}
