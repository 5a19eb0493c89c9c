//! The transcript panel (right): the shown session's utterances as they arrive, or a saved
//! session's text; copy puts it on the clipboard. Rows are laid out by
//! [`crate::transcript::TranscriptView`] (only those in view).

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::EguiContexts;
use hark_capture::CaptureControl;
use hark_core::{PartialTranscript, samples_to_secs};
use hark_replay::versions::{ActionOutcome, RerunStatus, SessionAction, VersionRequest};
use hark_replay::{Replay, ReplayRequest};
use hark_store::Browsing;

use super::UtteranceRow;
use crate::layout::{Contents, PanelLayout, Side};
use crate::transcript::{Click, Row, RowText, TranscriptView, tenths, unheard_rows};
use crate::{Notice, Shown, UiSettings};

#[derive(SystemParam)]
pub struct TranscriptPanel<'w, 's> {
    shown: ResMut<'w, Shown>,
    control: Res<'w, CaptureControl>,
    browsing: Res<'w, Browsing>,
    replay: Res<'w, Replay>,
    ask: MessageWriter<'w, ReplayRequest>,
    utterances: Query<'w, 's, UtteranceRow>,
    partials: Query<'w, 's, &'static PartialTranscript>,
    started: Query<'w, 's, (&'static hark_core::StartedAt, &'static hark_core::Session)>,
    view: Local<'s, TranscriptView>,
    status: Res<'w, RerunStatus>,
    models: Option<Res<'w, hark_transcribe::Models>>,
    versions: MessageWriter<'w, VersionRequest>,
    form: Local<'s, super::versions::RerunForm>,
    outcome: Res<'w, ActionOutcome>,
    actions: MessageWriter<'w, SessionAction>,
    session_form: Local<'s, super::session::SessionForm>,
    history: Res<'w, crate::history::RunHistory>,
    settings: ResMut<'w, UiSettings>,
    layout: ResMut<'w, PanelLayout>,
    notice: ResMut<'w, Notice>,
}

/// The rows of what is shown, in order, and the row of the word being heard in a replay.
fn rows<'a>(
    shown: Shown,
    history: &'a crate::history::RunHistory,
    control: &CaptureControl,
    browsing: &'a Browsing,
    replay: &'a Replay,
    utterances: &'a Query<UtteranceRow>,
    partials: &'a Query<&PartialTranscript>,
) -> (Vec<Row<'a>>, Option<usize>) {
    let mut rows = Vec::new();
    let mut current_row = None;
    match shown {
        Shown::Nothing => {}
        Shown::Saved(id) if replay.session.as_ref().is_some_and(|s| s.id == id) => {
            let s = replay.session.as_ref().expect("checked");
            // The title is in the session room above (where it is renamed).
            let current = s.word_at(replay.position);
            // Between words (a search hit opens at its utterance's start, before its first
            // word), the row of the utterance around the playhead is still the one followed.
            let around = s
                .segments
                .partition_point(|g| g.start_sample <= replay.position)
                .checked_sub(1)
                .filter(|&i| replay.position < s.segments[i].end_sample);
            let followed = current.map(|c| c.0).or(around);
            for (i, seg) in s.segments.iter().enumerate() {
                let start_s = samples_to_secs(seg.start_sample);
                // Speech without text: the utterance's own row when it has none, else rows after it.
                let unheard = unheard_rows(
                    &seg.text,
                    seg.suspect,
                    seg.vad_speech,
                    (seg.start_sample, seg.end_sample),
                    &seg.unheard,
                    true,
                );
                if seg.suspect || seg.text.trim().is_empty() {
                    if followed == Some(i) && !unheard.is_empty() {
                        current_row = Some(rows.len());
                    }
                    rows.extend(unheard);
                    continue;
                }
                if followed == Some(i) {
                    current_row = Some(rows.len());
                }
                let text = if seg.words.is_empty() {
                    RowText::Said(seg.text.as_str().into())
                } else {
                    RowText::Spoken {
                        segment: i,
                        words: seg.words.iter().map(|w| w.text.as_str().into()).collect(),
                        current: current.filter(|c| c.0 == i).map(|c| c.1),
                    }
                };
                rows.push(Row { start_s, text });
                rows.extend(unheard);
            }
        }
        Shown::Saved(id) => {
            if replay.opening == Some(id) {
                rows.push(Row { start_s: 0.0, text: RowText::Note("opening…") });
            }
            if let Some(o) = browsing.opened.as_ref().filter(|o| o.id == id) {
                rows.push(Row { start_s: 0.0, text: RowText::Heading(format!("Session #{id}: {}", o.title).into()) });
                let mut said: Vec<Row> =
                    o.lines.iter().map(|(s, t)| Row { start_s: *s, text: RowText::Said(t.into()) }).collect();
                said.extend(o.unrecognised.iter().map(|&(s, speech)| Row {
                    start_s: s,
                    text: RowText::Unheard { at: None, tenths: tenths(speech) },
                }));
                // Stable: a stretch inside an utterance stays after its text.
                said.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
                rows.extend(said);
            }
        }
        Shown::Live(session) => {
            // This run's earlier captures stay above the current one.
            rows.extend(history.rows_before(session));
            let mut items: Vec<_> = utterances.iter().filter(|(u, ..)| u.session == session).collect();
            items.sort_by_key(|(u, ..)| u.index);
            // What was let go of the world is in the history (`history::let_go_of_transcribed`).
            rows.extend(history.rows_of(session, items.first().map_or(u64::MAX, |(u, ..)| u.start)));
            // What is being said, or what was said of an utterance whose final text is on its way.
            let partial = partials.get(session).ok().filter(|p| !p.text().is_empty());
            let as_partial = |p: &'a PartialTranscript| RowText::Partial {
                committed: p.committed.as_str().into(),
                tentative: p.tentative.as_str().into(),
            };
            let mut shown_partial = false;
            for (u, t, pending, _, vad) in items {
                let text = match t {
                    Some(t) => {
                        // Speech without text: the utterance's own row when it has none, else
                        // rows after its text.
                        let fraction = vad.map_or(0.0, |v| v.speech_fraction);
                        let unheard = unheard_rows(&t.text, t.suspect, fraction, (u.start, u.end), &t.unheard, false);
                        if !t.suspect && !t.text.is_empty() {
                            rows.push(Row {
                                start_s: samples_to_secs(u.start),
                                text: RowText::Said(t.text.as_str().into()),
                            });
                        }
                        rows.extend(unheard);
                        continue;
                    }
                    None if partial.is_some_and(|p| p.start == u.start) => {
                        shown_partial = true;
                        as_partial(partial.expect("checked"))
                    }
                    None => RowText::Waiting(if pending { "recognising…" } else { "waiting…" }),
                };
                rows.push(Row { start_s: samples_to_secs(u.start), text });
            }
            if let Some(p) = partial.filter(|_| !shown_partial) {
                rows.push(Row { start_s: samples_to_secs(p.start), text: as_partial(p) });
            }
            if control.active == Some(session) {
                rows.push(Row { start_s: f64::MAX, text: RowText::Note("listening…") });
            }
        }
    }
    (rows, current_row)
}

/// The recognised text of `rows`, one utterance a line: the capture or session shown (an
/// earlier capture's rows above it are not copied).
fn plain_text(rows: &[Row]) -> String {
    let said: Vec<String> = rows
        .iter()
        .filter_map(|r| match &r.text {
            RowText::Said(t) => Some(t.to_string()),
            RowText::Spoken { words, .. } => Some(words.iter().map(|w| w.trim()).collect::<Vec<_>>().join(" ")),
            RowText::Partial { .. } => None,
            _ => None,
        })
        .collect();
    said.join("\n")
}

/// What an empty panel says will appear in it.
pub fn empty_hint(shown: Shown, empty: bool) -> Option<&'static str> {
    match shown {
        _ if !empty => None,
        Shown::Nothing => Some(
            "Press Record (or F9) and speak: the text appears here as it is said. \
             Drop an audio file on the window to transcribe it. \
             A saved session opened on the left shows here too.",
        ),
        // While it captures, a "listening…" row is there: empty, it has ended without speech.
        Shown::Live(_) => Some("No speech was heard in this capture."),
        Shown::Saved(_) => None,
    }
}

/// How long "copied" stays beside the Copy button.
const COPIED_FOR_SECS: f64 = 2.0;

/// What the Copy button's click said, `now` seconds into the window's life: "copied" (or that
/// there was nothing to copy) for [`COPIED_FOR_SECS`] after it.
pub fn copy_feedback(clicked: Option<(f64, bool)>, now: f64) -> Option<&'static str> {
    let (at, copied) = clicked?;
    (now - at < COPIED_FOR_SECS).then_some(if copied { "copied" } else { "nothing to copy" })
}

pub(crate) fn draw(
    mut contexts: EguiContexts,
    panel: TranscriptPanel,
    mut copied: Local<Option<(f64, bool)>>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = crate::room(ctx, "hark-right", crate::above_status(ctx));
    let TranscriptPanel {
        mut shown,
        control,
        browsing,
        replay,
        mut ask,
        utterances,
        partials,
        started,
        mut view,
        status,
        models,
        mut versions,
        mut form,
        outcome,
        mut actions,
        mut session_form,
        history,
        mut settings,
        mut layout,
        mut notice,
    } = panel;
    let (rows, current_row) = rows(*shown, &history, &control, &browsing, &replay, &utterances, &partials);
    // Rows show the clock time they were said: from the live session's start, or the saved
    // session's. A file's rows show where they are in it (it was not said when it was read).
    let began = match *shown {
        Shown::Live(e) => started
            .get(e)
            .ok()
            .filter(|(_, s)| s.kind != hark_core::SourceKind::File)
            .and_then(|(t, _)| jiff::Timestamp::try_from(t.0).ok()),
        Shown::Saved(id) => browsing
            .sessions
            .iter()
            .find(|s| s.id == id && s.kind != hark_core::SourceKind::File)
            .and_then(|s| s.created_at.parse::<jiff::Timestamp>().ok()),
        Shown::Nothing => None,
    };
    if view.origin.as_ref().map(jiff::Zoned::timestamp) != began {
        view.origin = began.map(|t| t.to_zoned(jiff::tz::TimeZone::system()));
    }
    let replayed = match *shown {
        Shown::Saved(id) => replay.session.as_ref().filter(|s| s.id == id),
        _ => None,
    };
    let mut deleted = false;
    let mut place = settings.settings.panels.right;
    let drawn = crate::layout::side_panel(&mut root, Side::Right, &mut place, layout.left, |ui, contents| {
        let Contents::Full { hide } = contents else { return };
        ui.horizontal(|ui| {
            crate::layout::hide_button(ui, Side::Right, hide);
            ui.heading("Transcript");
            let now = ui.input(|i| i.time);
            if ui
                .small_button("Copy")
                .on_hover_text("Copy the transcript of the capture or session shown, one utterance a line")
                .clicked()
            {
                let text = plain_text(&rows);
                *copied = Some((now, !text.trim().is_empty()));
                // On standard output too, as the capture's news are (the window's tests read them).
                println!("transcript copied: {} lines at {now:.2} s", text.lines().count());
                ui.ctx().copy_text(text);
            }
            if let Some(said) = copy_feedback(*copied, now) {
                ui.small(said);
                // Frames come on input only when idle: one more to take the word away.
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(COPIED_FOR_SECS));
            }
        });
        match replayed {
            Some(s) => {
                if super::session::row(ui, s, &outcome, &mut session_form, &mut actions) {
                    deleted = true;
                }
                super::replay::controls(ui, &replay, s, &mut ask);
                super::replay::keys(ui.ctx(), &mut ask);
                let available = models.as_ref().map_or(&[][..], |m| m.available.as_slice());
                super::versions::section(ui, &replay, s, &status, available, &mut form, &mut ask, &mut versions);
                ui.separator();
                view.show_following(ui, &rows, current_row);
                match view.clicked {
                    Some(Click::Word(seg, word)) => {
                        if let Some(w) = s.segments.get(seg).and_then(|g| g.words.get(word)) {
                            ask.write(ReplayRequest::Seek(w.start));
                        }
                    }
                    Some(Click::At(at)) => {
                        ask.write(ReplayRequest::Seek(at));
                    }
                    None => {}
                }
            }
            None => {
                if let (Shown::Saved(_), Some(problem)) = (*shown, replay.problem.as_deref()) {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("cannot replay: {problem}"));
                }
                if let Some(hint) = empty_hint(*shown, rows.is_empty()) {
                    ui.weak(hint);
                }
                view.show(ui, &rows);
            }
        }
    });
    layout.right = drawn.width;
    if drawn.changed {
        settings.settings.panels.right = place;
        if let Err(e) = settings.save() {
            notice.set(e);
        }
        println!("{}", crate::layout::describe(Side::Right, &place));
    }
    if deleted {
        *shown = Shown::Nothing;
    }
    if let Some(s) = replayed
        && let Some(c) = replay.comparison.as_ref().filter(|c| c.session == s.id)
    {
        let current = s.versions.iter().find(|v| v.current).map_or(1, |v| v.version);
        super::versions::comparison(ctx, c, current, &mut ask, &mut versions);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_panel_says_what_will_appear_in_it() {
        assert!(empty_hint(Shown::Nothing, true).is_some_and(|h| h.contains("Record")));
        assert!(empty_hint(Shown::Live(Entity::PLACEHOLDER), true).is_some());
        assert_eq!(empty_hint(Shown::Live(Entity::PLACEHOLDER), false), None);
        // A saved session being opened says "opening…" itself.
        assert_eq!(empty_hint(Shown::Saved(3), true), None);
    }

    #[test]
    fn copy_says_copied_for_two_seconds_or_that_there_was_nothing() {
        assert_eq!(copy_feedback(None, 5.0), None);
        assert_eq!(copy_feedback(Some((5.0, true)), 5.0), Some("copied"));
        assert_eq!(copy_feedback(Some((5.0, true)), 6.9), Some("copied"));
        assert_eq!(copy_feedback(Some((5.0, true)), 7.0), None);
        assert_eq!(copy_feedback(Some((5.0, false)), 5.5), Some("nothing to copy"));
    }
}
