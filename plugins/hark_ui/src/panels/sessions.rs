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
    recovery: ResMut<'w, crate::recovery::Recovery>,
}

/// When a session started, as a person reads it: minutes ago within the hour, the time today
/// and yesterday, the day and time this year, the date before. `created_at` is the store's UTC
/// time; it is shown in `now`'s time zone.
pub fn started(created_at: &str, now: &jiff::Zoned) -> String {
    let Ok(ts) = created_at.parse::<jiff::Timestamp>() else { return created_at.to_owned() };
    let t = ts.to_zoned(now.time_zone().clone());
    let mins = (now.timestamp().as_second() - ts.as_second()) / 60;
    match mins {
        0 => return "just now".to_owned(),
        1..60 => return format!("{mins} min ago"),
        _ => {}
    }
    let (day, today) = (t.date(), now.date());
    let hm = t.strftime("%H:%M");
    if day == today {
        format!("today {hm}")
    } else if today.yesterday().is_ok_and(|y| y == day) {
        format!("yesterday {hm}")
    } else if day.year() == today.year() {
        t.strftime("%-d %b %H:%M").to_string()
    } else {
        t.strftime("%Y-%m-%d").to_string()
    }
}

/// A length as a person reads it: seconds, minutes and seconds, hours and minutes.
pub fn length(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s / 60 % 60),
    }
}

/// What a session is called in the list: its title, unless that is only the microphone's name
/// (never renamed), then its first words.
pub fn display_title(row: &hark_store::SessionRow) -> String {
    let words = row.first_words.trim();
    if row.kind.is_file() || row.title != row.source || words.is_empty() {
        return row.title.clone();
    }
    let mut out = String::new();
    for w in words.split_whitespace() {
        if out.chars().count() + w.chars().count() > 48 {
            out.push('…');
            return out;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// A line of the sessions list: when, how long, the state only when it is news, and the title
/// last, where truncation hurts least.
pub fn session_line(started: &str, title: &str, state: SessionState, secs: f64) -> String {
    let state = match state {
        SessionState::Complete => String::new(),
        SessionState::Captured => " · transcribing".to_owned(),
        s => format!(" · {s}"),
    };
    format!("{started} · {}{state} · {title}", length(secs))
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

/// The words before the first hit cut to the last `keep` (after "…"), so that in a narrow
/// panel the row shows the words that matched rather than ending before them.
pub fn lead_to_first_hit(mut parts: Vec<(String, bool)>, keep: usize) -> Vec<(String, bool)> {
    let more = parts.len() > 1;
    if let Some((before, false)) = parts.first_mut()
        && more
    {
        let words: Vec<&str> = before.split_whitespace().collect();
        if words.len() > keep {
            let tail = if before.ends_with(char::is_whitespace) { " " } else { "" };
            *before = format!("…{}{tail}", words[words.len() - keep..].join(" "));
        }
    }
    parts
}

impl Sessions<'_, '_> {
    /// Whether captures cut short are offered for transcription, or being transcribed.
    pub(crate) fn offers_recovery(&self) -> bool {
        let r = &self.recovery;
        !r.running.is_empty() || (!r.offered.is_empty() && !r.dismissed)
    }

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
        self.recovery.show(ui);
        let resp =
            ui.add(egui::TextEdit::singleline(&mut *self.search).hint_text("Search what was said")).on_hover_text(
                "Words said in any saved session; the sessions that hold them are listed with the words marked",
            );
        if resp.changed() {
            self.browse.write(BrowseRequest::Search(self.search.clone()));
        }
        if ui
            .small_button("Refresh")
            .on_hover_text("Read the saved sessions again (another Hark may have added some)")
            .clicked()
        {
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
        // The session to open, and for a search hit where its words are.
        let mut open: Option<(i64, Option<f64>)> = None;
        let now = jiff::Zoned::now();
        egui::ScrollArea::vertical().id_salt("sessions").max_height(180.0).show_rows(
            ui,
            row_height,
            count,
            |ui, range| {
                for i in range {
                    let at = searching.then(|| self.browsing.hits[i].start_s);
                    let (id, label, text): (i64, String, egui::WidgetText) = if searching {
                        // The words that matched, highlighted (the store marks them with [ ]).
                        let h = &self.browsing.hits[i];
                        let parts = lead_to_first_hit(snippet_parts(&h.snippet), 3);
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
                        let line = session_line(&started(&s.created_at, &now), &display_title(s), state, secs);
                        let hover = format!(
                            "#{} · {} · {} ({}) · started {}",
                            s.id,
                            s.title,
                            s.source,
                            s.kind,
                            s.created_at.parse::<jiff::Timestamp>().map_or(s.created_at.clone(), |t| t
                                .to_zoned(now.time_zone().clone())
                                .strftime("%Y-%m-%d %H:%M:%S %Z")
                                .to_string())
                        );
                        (s.id, hover, egui::RichText::new(line).small().into())
                    };
                    let button = egui::Button::new(text).frame(false).truncate();
                    if ui.add(button).on_hover_text(&label).clicked() {
                        open = Some((id, at));
                    }
                }
            },
        );
        if !searching && self.browsing.sessions.is_empty() && self.browsing.saving {
            ui.small("No sessions yet: each capture (Record, F9) is saved here.");
        }
        if searching && self.browsing.hits.is_empty() && self.browsing.problem.is_none() {
            ui.small(format!("No saved session mentions “{}”.", self.browsing.query.trim()));
        }
        if let Some((id, at)) = open {
            *self.shown = Shown::Saved(id);
            self.browse.write(BrowseRequest::Open(id));
            self.replay.write(hark_replay::ReplayRequest::Open(id));
            // A hit opens at the utterance that matched: the playhead is there, so its row is
            // the current one (lit) and the transcript scrolls to it.
            if let Some(secs) = at {
                self.replay.write(hark_replay::ReplayRequest::Seek(hark_core::secs_to_samples(secs)));
            }
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
        // A hit far into its line is led to, so a narrow panel still shows it.
        let led = lead_to_first_hit(snippet_parts("And so my fellow Americans ask not what your [country] can do"), 3);
        assert_eq!(led[0], ("…not what your ".to_owned(), false));
        assert_eq!(led[1], ("country".to_owned(), true));
        let near = snippet_parts("ask not [what] your");
        assert_eq!(lead_to_first_hit(near.clone(), 3), near, "a short lead is kept whole");
        assert_eq!(snippet_parts("cut [short"), vec![("cut ".to_owned(), false), ("[short".to_owned(), false)]);
    }

    #[test]
    fn session_lines_lead_with_when_length_and_news() {
        assert_eq!(
            session_line("today 09:12", "standup", SessionState::Complete, 61.4),
            "today 09:12 · 1 min 01 s · standup"
        );
        assert_eq!(
            session_line("yesterday 17:40", "call", SessionState::Interrupted, 5.0),
            "yesterday 17:40 · 5 s · interrupted · call"
        );
        assert_eq!(session_line("just now", "mic", SessionState::Captured, 0.4), "just now · 0 s · transcribing · mic");
        assert_eq!(
            session_line("just now", "mic", SessionState::Recording, 7322.0),
            "just now · 2 h 02 min · recording · mic"
        );
    }

    #[test]
    fn start_times_read_as_a_person_says_them_in_local_time() {
        // 2026-11-30 14:30 in Berlin (UTC+1).
        let now = jiff::Timestamp::from_second(1_796_045_400).unwrap().to_zoned(
            jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::fixed(jiff::tz::offset(1))),
        );
        assert_eq!(now.strftime("%Y-%m-%d %H:%M").to_string(), "2026-11-30 14:30");
        assert_eq!(started("2026-11-30T13:29:50Z", &now), "just now");
        assert_eq!(started("2026-11-30T13:05:00Z", &now), "25 min ago");
        assert_eq!(started("2026-11-30T07:15:00Z", &now), "today 08:15");
        assert_eq!(started("2026-11-29T22:59:00Z", &now), "yesterday 23:59");
        // Midnight local is 23:00 UTC the day before: that is today here.
        assert_eq!(started("2026-11-29T23:10:00Z", &now), "today 00:10");
        assert_eq!(started("2026-03-04T10:00:00Z", &now), "4 Mar 11:00");
        assert_eq!(started("2025-12-31T10:00:00Z", &now), "2025-12-31");
        assert_eq!(started("not a time", &now), "not a time");
    }

    #[test]
    fn a_microphone_capture_is_called_by_its_first_words_until_renamed() {
        let row = |title: &str, kind: hark_core::SourceKind, words: &str| hark_store::SessionRow {
            id: 1,
            title: title.into(),
            created_at: "2026-11-30T13:00:00Z".into(),
            source: "Default Audio Device".into(),
            kind,
            model: "tiny.en".into(),
            state: SessionState::Complete,
            duration_s: 9.0,
            segments: 1,
            latency: None,
            first_words: words.into(),
        };
        use hark_core::SourceKind::{File, Microphone};
        let said = "And so my fellow Americans, ask not what your country can do for you, ask what you can do";
        assert_eq!(
            display_title(&row("Default Audio Device", Microphone, said)),
            "And so my fellow Americans, ask not what your…"
        );
        assert_eq!(display_title(&row("Default Audio Device", Microphone, "")), "Default Audio Device");
        assert_eq!(display_title(&row("standup notes", Microphone, said)), "standup notes");
        assert_eq!(display_title(&row("talk.wav", File, said)), "talk.wav");
    }
}
