//! The transcript panel: one row per utterance (its start time and text, or what is happening to
//! it), in a scroll area that follows the newest row.
//!
//! A meeting of an hour has some 700 utterances. Laying all of them out every frame costs about
//! a millisecond, and more the longer the session runs, so [`TranscriptView`] keeps each row's
//! height (measured once, and again when its text, the panel width or the zoom changes) and lays
//! out only the rows in view; what is left per row and frame is a hash and an addition.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;

use bevy::platform::hash::FixedHasher;
use bevy_egui::egui;
use hark_core::samples_to_secs;

/// What a row shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowText<'a> {
    /// Recognised text, under its start time.
    Said(Cow<'a, str>),
    /// An utterance not recognised yet: "waiting…", "recognising…".
    Waiting(&'static str),
    /// A title line (an opened saved session).
    Heading(Cow<'a, str>),
    /// A note under the rows ("listening…").
    Note(&'static str),
    /// A replayed utterance: its words (clickable), the one being heard highlighted.
    Spoken { segment: usize, words: Vec<Cow<'a, str>>, current: Option<usize> },
    /// What is being said now: the committed words, then the tentative ones (lighter).
    Partial { committed: Cow<'a, str>, tentative: Cow<'a, str> },
    /// An utterance of an earlier capture of this run, under the clock time it was said.
    Earlier { time: Cow<'a, str>, text: Cow<'a, str> },
    /// Speech the VAD heard that came out without text (or only with text judged made up, or
    /// heard again inside an utterance without words being found): shown, so a person the
    /// recogniser could not follow is not silently left out. Its seconds of speech in tenths;
    /// in a replay where it starts (session samples), and a click plays it from there.
    Unheard { at: Option<u64>, tenths: u32 },
}

/// What a click in the transcript asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Click {
    /// A replayed word, as (segment, word).
    Word(usize, usize),
    /// A replayed row of speech not recognised: the session sample it starts at.
    At(u64),
}

/// The rows of speech not recognised in an utterance spanning `span` (session samples), by
/// [`hark_core::unrecognised::in_utterance`]: its whole when it has no text to show, else its
/// stretches heard again without words. `replay`: rows a click plays.
pub fn unheard_rows(
    text: &str,
    suspect: bool,
    speech_fraction: f32,
    span: (u64, u64),
    unheard: &[(u64, u64)],
    replay: bool,
) -> Vec<Row<'static>> {
    hark_core::unrecognised::in_utterance(text, suspect, speech_fraction, span, unheard)
        .into_iter()
        .map(|(at, _, speech)| Row {
            start_s: samples_to_secs(at),
            text: RowText::Unheard { at: replay.then_some(at), tenths: tenths(speech) },
        })
        .collect()
}

/// Seconds of speech as an [`RowText::Unheard`] row holds them.
pub fn tenths(secs: f64) -> u32 {
    (secs * 10.0).round() as u32
}

/// What an [`RowText::Unheard`] row says.
pub fn unheard_label(replay: bool, tenths: u32) -> String {
    let secs = f64::from(tenths) / 10.0;
    if replay {
        format!("speech not recognised ({secs:.1} s): click to hear it")
    } else {
        format!("speech not recognised ({secs:.1} s)")
    }
}

/// One row of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// Session time of the row, seconds.
    pub start_s: f64,
    pub text: RowText<'a>,
}

/// A row's time: the clock time it was said when the session's start is known (`origin`), else
/// its offset into the session.
pub fn row_time(start_s: f64, origin: Option<&jiff::Zoned>) -> String {
    match origin.and_then(|o| o.checked_add(jiff::SignedDuration::from_secs_f64(start_s.max(0.0))).ok()) {
        Some(t) => t.strftime("%H:%M:%S").to_string(),
        None => format!("{start_s:>6.1}s"),
    }
}

impl Row<'_> {
    /// The labels the row is made of, top to bottom.
    fn labels(&self, ui: &egui::Ui, origin: Option<&jiff::Zoned>) -> Vec<egui::WidgetText> {
        let time = || row_time(self.start_s, origin);
        match &self.text {
            RowText::Said(t) => {
                vec![egui::RichText::new(time()).small().weak().into(), egui::RichText::new(t.as_ref()).into()]
            }
            RowText::Waiting(what) => vec![egui::RichText::new(format!("{}  {what}", time())).italics().weak().into()],
            RowText::Heading(t) => vec![egui::RichText::new(t.as_ref()).strong().into()],
            RowText::Earlier { time, text } => vec![
                egui::RichText::new(time.as_ref()).small().weak().into(),
                egui::RichText::new(text.as_ref()).weak().into(),
            ],
            RowText::Note(t) => vec![egui::RichText::new(*t).italics().weak().into()],
            RowText::Unheard { at, tenths } => vec![
                egui::RichText::new(time()).small().weak().into(),
                egui::RichText::new(unheard_label(at.is_some(), *tenths)).italics().weak().into(),
            ],
            RowText::Spoken { words, current, .. } => {
                vec![egui::RichText::new(time()).small().weak().into(), spoken_job(ui, words, *current).0.into()]
            }
            RowText::Partial { committed, tentative } => {
                vec![egui::RichText::new(time()).small().weak().into(), partial_job(ui, committed, tentative).into()]
            }
        }
    }

    fn key(&self) -> u64 {
        let mut h = FixedHasher.build_hasher();
        self.start_s.to_bits().hash(&mut h);
        self.text.hash(&mut h);
        h.finish()
    }

    /// Draws the row; returns what was clicked: a spoken row's word, or a replayed row of
    /// speech not recognised.
    fn draw(&self, ui: &mut egui::Ui, origin: Option<&jiff::Zoned>) -> Option<Click> {
        // The clock time's label tells the offset into the session on hover.
        let timed = matches!(self.text, RowText::Said(_) | RowText::Partial { .. } | RowText::Unheard { .. });
        let offset = || format!("{:.1} s into the session", self.start_s);
        if let RowText::Unheard { at: Some(at), tenths } = &self.text {
            let r = ui.label(egui::RichText::new(row_time(self.start_s, origin)).small().weak());
            if origin.is_some() {
                r.on_hover_text(offset());
            }
            let text = egui::RichText::new(unheard_label(true, *tenths)).italics().weak();
            let clicked = ui
                .add(egui::Label::new(text).sense(egui::Sense::click()).selectable(false))
                .on_hover_cursor(egui::CursorIcon::PointingHand)
                .clicked();
            return clicked.then_some(Click::At(*at));
        }
        let RowText::Spoken { segment, words, current } = &self.text else {
            for (i, label) in self.labels(ui, origin).into_iter().enumerate() {
                let r = ui.label(label);
                if i == 0 && timed && origin.is_some() {
                    r.on_hover_text(offset());
                }
            }
            return None;
        };
        let r = ui.label(egui::RichText::new(row_time(self.start_s, origin)).small().weak());
        if origin.is_some() {
            r.on_hover_text(offset());
        }
        let (job, starts) = spoken_job(ui, words, *current);
        let (pos, galley, response) =
            egui::Label::new(job).sense(egui::Sense::click()).selectable(false).layout_in_ui(ui);
        let hovered = response.hover_pos();
        ui.painter().galley(pos, galley.clone(), ui.visuals().text_color());
        let response = response.on_hover_cursor(egui::CursorIcon::PointingHand);
        if response.clicked()
            && let Some(at) = response.interact_pointer_pos().or(hovered)
        {
            let index = galley.cursor_from_pos(at - pos).index.0;
            let word = starts.partition_point(|&s| s <= index).saturating_sub(1);
            return Some(Click::Word(*segment, word));
        }
        None
    }

    /// The height the row takes in `ui` (its labels and the spacing after each), from the same
    /// text layout the labels use.
    fn measure(&self, ui: &egui::Ui, width: f32, origin: Option<&jiff::Zoned>) -> f32 {
        let spacing = ui.spacing().item_spacing.y;
        self.labels(ui, origin)
            .into_iter()
            .map(|l| {
                // As `Label` lays itself out: the ui's wrap mode and default font.
                let galley = l.into_galley(ui, None, width, egui::FontSelection::Default);
                galley.size().y + spacing
            })
            .sum()
    }
}

/// A spoken row's text as one layout: the words with single spaces, the current one on a
/// highlight. Returns it with the character index each word starts at.
/// Committed words in the text colour, tentative ones weaker and in italics.
fn partial_job(ui: &egui::Ui, committed: &str, tentative: &str) -> egui::text::LayoutJob {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let mut job = egui::text::LayoutJob::default();
    job.append(committed, 0.0, egui::TextFormat::simple(font.clone(), ui.visuals().text_color()));
    if !tentative.is_empty() {
        let weak = egui::TextFormat { italics: true, ..egui::TextFormat::simple(font, ui.visuals().weak_text_color()) };
        job.append(if committed.is_empty() { "" } else { " " }, 0.0, weak.clone());
        job.append(tentative, 0.0, weak);
    }
    job.wrap.max_width = ui.available_width();
    job
}

fn spoken_job(ui: &egui::Ui, words: &[Cow<'_, str>], current: Option<usize>) -> (egui::text::LayoutJob, Vec<usize>) {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let plain = egui::TextFormat::simple(font.clone(), ui.visuals().text_color());
    let lit = egui::TextFormat {
        background: ui.visuals().selection.bg_fill,
        color: ui.visuals().strong_text_color(),
        ..egui::TextFormat::simple(font, ui.visuals().text_color())
    };
    let mut job = egui::text::LayoutJob::default();
    let mut starts = Vec::with_capacity(words.len());
    let mut chars = 0;
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            job.append(" ", 0.0, plain.clone());
            chars += 1;
        }
        starts.push(chars);
        let w = w.trim();
        job.append(w, 0.0, if Some(i) == current { lit.clone() } else { plain.clone() });
        chars += w.chars().count();
    }
    job.wrap.max_width = ui.available_width();
    (job, starts)
}

/// The transcript panel's memory of row heights.
#[derive(Debug, Default)]
pub struct TranscriptView {
    /// The layout the heights were measured for: panel width and zoom.
    width: f32,
    pixels_per_point: f32,
    /// Per row: its content key and height with spacing.
    heights: Vec<(u64, f32)>,
    /// What was clicked in the last frame shown.
    pub clicked: Option<Click>,
    /// The row [`TranscriptView::show_following`] last followed, and whether the view has yet
    /// to reach it (a scroll is clamped to the content size egui knew from the frame before).
    followed: Option<usize>,
    reaching: bool,
    /// When the shown session started, in local time: rows then show the clock time they were
    /// said (their offset into the session on hover).
    pub origin: Option<jiff::Zoned>,
}

impl TranscriptView {
    /// Shows `rows` in a scroll area that sticks to the newest row, and returns the range of
    /// rows laid out this frame (those in view).
    pub fn show(&mut self, ui: &mut egui::Ui, rows: &[Row<'_>]) -> Range<usize> {
        self.clicked = None;
        (self.followed, self.reaching) = (None, false);
        egui::ScrollArea::vertical()
            .id_salt("transcript")
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_viewport(ui, |ui, viewport| self.rows_in_view(ui, viewport, rows, None))
            .inner
    }

    /// Shows `rows` (a replay) keeping row `follow` in view: the view scrolls to it whenever it
    /// changes, and otherwise stays where the user scrolled.
    pub fn show_following(&mut self, ui: &mut egui::Ui, rows: &[Row<'_>], follow: Option<usize>) -> Range<usize> {
        self.clicked = None;
        if follow.is_some() && follow != self.followed {
            (self.followed, self.reaching) = (follow, true);
        }
        let scroll = follow.filter(|_| self.reaching);
        let shown = egui::ScrollArea::vertical()
            .id_salt("replay-transcript")
            .auto_shrink([false, false])
            .show_viewport(ui, |ui, viewport| self.rows_in_view(ui, viewport, rows, scroll))
            .inner;
        if follow.is_some_and(|f| shown.contains(&f)) {
            self.reaching = false;
        }
        shown
    }

    fn rows_in_view(
        &mut self,
        ui: &mut egui::Ui,
        viewport: egui::Rect,
        rows: &[Row<'_>],
        scroll_to: Option<usize>,
    ) -> Range<usize> {
        let (width, ppp) = (ui.available_width(), ui.ctx().pixels_per_point());
        if (width - self.width).abs() > 0.5 || ppp != self.pixels_per_point {
            (self.width, self.pixels_per_point) = (width, ppp);
            self.heights.clear();
        }
        self.heights.truncate(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let key = row.key();
            match self.heights.get_mut(i) {
                Some(slot) if slot.0 == key => {}
                Some(slot) => *slot = (key, row.measure(ui, width, self.origin.as_ref())),
                None => self.heights.push((key, row.measure(ui, width, self.origin.as_ref()))),
            }
        }
        let total: f32 = self.heights.iter().map(|h| h.1).sum();
        ui.set_height(total);
        if let Some(row) = scroll_to.filter(|&r| r < rows.len()) {
            let top: f32 = self.heights[..row].iter().map(|h| h.1).sum();
            let area = ui.max_rect();
            let rect =
                egui::Rect::from_x_y_ranges(area.x_range(), area.top() + top..=area.top() + top + self.heights[row].1);
            ui.scroll_to_rect(rect, Some(egui::Align::Center));
        }
        // The first row reaching into the view, and the rows down to its bottom.
        let mut top = 0.0;
        let mut first = rows.len();
        for (i, &(_, h)) in self.heights.iter().enumerate() {
            if top + h > viewport.min.y {
                first = i;
                break;
            }
            top += h;
        }
        let (mut last, mut bottom) = (first, top);
        while last < rows.len() && bottom < viewport.max.y {
            bottom += self.heights[last].1;
            last += 1;
        }
        let area = ui.max_rect();
        let rect = egui::Rect::from_x_y_ranges(area.x_range(), area.top() + top..=area.top() + bottom);
        ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
            for (i, (row, slot)) in rows[first..last].iter().zip(&mut self.heights[first..last]).enumerate() {
                let before = ui.cursor().top();
                // Ids by row, so a row's labels (and a text selection in them) keep their ids
                // while the view scrolls.
                if let Some(w) = ui.push_id(first + i, |ui| row.draw(ui, self.origin.as_ref())).inner {
                    self.clicked = Some(w);
                }
                // What the labels really took, should the estimate ever be off.
                slot.1 = ui.cursor().top() - before;
            }
        });
        first..last
    }
}

/// Lays out every row every frame: what the panel did before [`TranscriptView`], kept as the
/// baseline of `hark bench transcript`.
pub fn show_all(ui: &mut egui::Ui, rows: &[Row<'_>]) {
    egui::ScrollArea::vertical().id_salt("transcript").stick_to_bottom(true).auto_shrink([false, false]).show(
        ui,
        |ui| {
            for r in rows {
                r.draw(ui, None);
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_the_clock_time_they_were_said_when_the_start_is_known() {
        let start = jiff::Timestamp::from_second(1_796_045_400)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(1)));
        assert_eq!(row_time(0.0, Some(&start)), "14:30:00");
        assert_eq!(row_time(75.4, Some(&start)), "14:31:15");
        assert_eq!(row_time(3600.0, Some(&start)), "15:30:00");
        assert_eq!(row_time(12.3, None), "  12.3s");
    }

    fn rows(n: usize) -> Vec<Row<'static>> {
        (0..n)
            .map(|i| Row {
                start_s: i as f64 * 5.0,
                text: if i % 50 == 49 {
                    RowText::Waiting("recognising…")
                } else {
                    // Lengths vary so rows wrap onto one to four lines.
                    RowText::Said(
                        format!("utterance {i}: {}", "so we agreed to ship it on friday ".repeat(i % 7)).into(),
                    )
                },
            })
            .collect()
    }

    /// Runs one frame (0.1 s later than the last) of a 1024×640 window holding the panel, with
    /// the mouse over the panel turning its wheel by `wheel` points (positive: towards the top);
    /// returns the rows laid out.
    fn frame(ctx: &egui::Context, view: &mut TranscriptView, rows: &[Row<'_>], wheel: f32) -> Range<usize> {
        let mut input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1024.0, 640.0))),
            time: Some(ctx.input(|i| i.time) + 0.1),
            ..Default::default()
        };
        input.events.push(egui::Event::PointerMoved(egui::pos2(900.0, 300.0)));
        if wheel != 0.0 {
            input.events.push(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, wheel),
                phase: egui::TouchPhase::Move,
                modifiers: egui::Modifiers::NONE,
            });
        }
        let mut shown = 0..0;
        let _ = ctx.run_ui(input, |root| {
            egui::Panel::right("panel").exact_size(320.0).show(root, |ui| shown = view.show(ui, rows));
        });
        shown
    }

    #[test]
    fn a_long_session_lays_out_only_the_rows_in_view_and_follows_the_newest() {
        let ctx = egui::Context::default();
        let mut view = TranscriptView::default();
        let all = rows(2000);
        let mut shown = 0..0;
        for _ in 0..3 {
            shown = frame(&ctx, &mut view, &all, 0.0);
        }
        assert_eq!(shown.end, 2000, "the newest row is in view: {shown:?}");
        assert!(shown.len() < 40, "only the rows in view are laid out: {shown:?}");
        // A new row arrives and the view follows it.
        let mut more = all.clone();
        more.push(Row { start_s: 10_000.0, text: RowText::Note("listening…") });
        for _ in 0..2 {
            shown = frame(&ctx, &mut view, &more, 0.0);
        }
        assert_eq!(shown.end, 2001, "{shown:?}");
    }

    #[test]
    fn a_replay_keeps_the_word_being_heard_in_view() {
        let ctx = egui::Context::default();
        let mut view = TranscriptView::default();
        let words: Vec<Cow<str>> = "so we agreed to ship it on friday".split(' ').map(Cow::from).collect();
        let spoken = |current: usize| -> Vec<Row<'_>> {
            (0..300)
                .map(|i| Row {
                    start_s: i as f64 * 4.0,
                    text: RowText::Spoken {
                        segment: i,
                        words: words.clone(),
                        current: (i == current).then_some(i % words.len()),
                    },
                })
                .collect()
        };
        let run = |ctx: &egui::Context, view: &mut TranscriptView, rows: &[Row<'_>], follow: Option<usize>| {
            let input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1024.0, 640.0))),
                time: Some(ctx.input(|i| i.time) + 0.1),
                ..Default::default()
            };
            let mut shown = 0..0;
            let _ = ctx.run_ui(input, |root| {
                egui::Panel::right("panel")
                    .exact_size(320.0)
                    .show(root, |ui| shown = view.show_following(ui, rows, follow));
            });
            shown
        };
        // The word being heard moves to segment 200, far below the view: the view goes there
        // (egui animates the scroll; each frame here is 0.1 s).
        let mut shown = 0..0;
        for _ in 0..10 {
            shown = run(&ctx, &mut view, &spoken(200), Some(200));
        }
        assert!(shown.contains(&200) && shown.len() < 60, "{shown:?}");
        // The user scrolls away while the same word is heard: the view stays where they put it.
        for _ in 0..3 {
            let input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1024.0, 640.0))),
                time: Some(ctx.input(|i| i.time) + 0.1),
                events: vec![
                    egui::Event::PointerMoved(egui::pos2(900.0, 300.0)),
                    egui::Event::MouseWheel {
                        unit: egui::MouseWheelUnit::Point,
                        delta: egui::vec2(0.0, 2_000.0),
                        phase: egui::TouchPhase::Move,
                        modifiers: egui::Modifiers::NONE,
                    },
                ],
                ..Default::default()
            };
            let rows = spoken(200);
            let _ = ctx.run_ui(input, |root| {
                egui::Panel::right("panel")
                    .exact_size(320.0)
                    .show(root, |ui| shown = view.show_following(ui, &rows, Some(200)));
            });
        }
        assert!(!shown.contains(&200), "the user's scroll is kept: {shown:?}");
        // The next segment is heard: the view follows again.
        for _ in 0..10 {
            shown = run(&ctx, &mut view, &spoken(201), Some(201));
        }
        assert!(shown.contains(&201), "{shown:?}");
    }

    #[test]
    fn speech_without_text_is_a_row_where_it_was_said_that_a_replay_can_play() {
        // Which speech counts is `hark_core::unrecognised`'s rule (tested there); the rows are
        // placed where it starts, say how much there was, and in a replay play from there.
        let texts = |rows: Vec<Row<'static>>| rows.into_iter().map(|r| (r.start_s, r.text)).collect::<Vec<_>>();
        assert_eq!(
            texts(unheard_rows("", false, 0.69, (160_000, 220_800), &[], false)),
            [(10.0, RowText::Unheard { at: None, tenths: 26 })]
        );
        let inside = [(68_640, 109_440), (150_000, 155_000)];
        assert_eq!(
            texts(unheard_rows("Go forward.", false, 0.8, (0, 200_000), &inside, true)),
            [(4.29, RowText::Unheard { at: Some(68_640), tenths: 26 })]
        );
        assert_eq!(unheard_label(true, 26), "speech not recognised (2.6 s): click to hear it");
        assert_eq!(unheard_label(false, 5), "speech not recognised (0.5 s)");
    }

    #[test]
    fn clicking_a_replayed_row_of_speech_not_recognised_plays_it_from_its_start() {
        let ctx = egui::Context::default();
        let mut view = TranscriptView::default();
        let all = vec![
            Row { start_s: 0.0, text: RowText::Said("before it".into()) },
            Row { start_s: 4.0, text: RowText::Unheard { at: Some(64_000), tenths: 26 } },
            Row { start_s: 9.0, text: RowText::Said("after it".into()) },
        ];
        let click = |ctx: &egui::Context, view: &mut TranscriptView, y: f32| {
            let at = egui::pos2(760.0, y);
            let mut got = None;
            for pressed in [true, false] {
                let input = egui::RawInput {
                    screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1024.0, 640.0))),
                    time: Some(ctx.input(|i| i.time) + 0.05),
                    events: vec![
                        egui::Event::PointerMoved(at),
                        egui::Event::PointerButton {
                            pos: at,
                            button: egui::PointerButton::Primary,
                            pressed,
                            modifiers: egui::Modifiers::NONE,
                        },
                    ],
                    ..Default::default()
                };
                let _ = ctx.run_ui(input, |root| {
                    egui::Panel::right("panel").exact_size(320.0).show(root, |ui| {
                        view.show_following(ui, &all, None);
                    });
                });
                got = got.or(view.clicked);
            }
            got
        };
        let clicks: Vec<Click> = (0..60).filter_map(|i| click(&ctx, &mut view, 2.0 + i as f32 * 3.0)).collect();
        assert!(!clicks.is_empty(), "the row can be clicked");
        assert!(clicks.iter().all(|&c| c == Click::At(64_000)), "only that row answers, with its start: {clicks:?}");
    }

    #[test]
    fn measured_heights_match_what_the_labels_take() {
        let ctx = egui::Context::default();
        let mut view = TranscriptView::default();
        let all = rows(60);
        frame(&ctx, &mut view, &all, 0.0);
        let estimated = view.heights.clone();
        // Scroll up through the whole transcript so every row is drawn (and re-measured).
        let mut drawn = vec![false; all.len()];
        for _ in 0..400 {
            let shown = frame(&ctx, &mut view, &all, 60.0);
            drawn[shown].iter_mut().for_each(|d| *d = true);
            if drawn.iter().all(|&d| d) {
                break;
            }
        }
        assert!(drawn.iter().all(|&d| d), "every row was drawn while scrolling: {drawn:?}");
        for (i, (e, m)) in estimated.iter().zip(&view.heights).enumerate() {
            assert!((e.1 - m.1).abs() < 0.5, "row {i}: estimated {} px, drawn {} px", e.1, m.1);
            assert!(m.1 > 10.0, "row {i} has a height: {}", m.1);
        }
        // A wrapped row is taller than a one-line one.
        assert!(view.heights[6].1 > view.heights[0].1 + 10.0);
    }

    #[test]
    fn scrolled_to_the_top_the_first_rows_show_and_new_rows_do_not_pull_the_view_away() {
        let ctx = egui::Context::default();
        let mut view = TranscriptView::default();
        let mut all = rows(500);
        frame(&ctx, &mut view, &all, 0.0);
        let mut shown = 0..0;
        for _ in 0..20 {
            shown = frame(&ctx, &mut view, &all, 1e6);
        }
        assert_eq!(shown.start, 0, "{shown:?}");
        assert!(shown.len() < 40, "{shown:?}");
        // Someone reading back is not yanked to the bottom by new text.
        all.push(Row { start_s: 2500.0, text: RowText::Said("a new utterance".into()) });
        shown = frame(&ctx, &mut view, &all, 0.0);
        assert_eq!(shown.start, 0, "{shown:?}");
    }
}
