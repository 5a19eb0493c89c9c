//! The side panels. Each is dragged wider or narrower by its inner edge, hidden with the arrow
//! in its heading (or by dragging it shut, or double-clicking the edge) and shown again from the
//! thin strip it leaves. Where the person left them is kept in the settings file; a panel never
//! dragged follows the window's width ([`crate::panel_widths`]). The views between the panels are
//! laid out from the panels as drawn ([`PanelLayout`]), so they are never under one, and the
//! panels cannot be dragged so wide that the views get less than [`MIN_VIEWS`].

use bevy::prelude::*;
use bevy_egui::egui;

use crate::settings::PanelPlace;

/// Width of a hidden panel's strip (its "show" button).
pub const STRIP: f32 = 28.0;
/// The narrowest the controls can be dragged (logical pixels).
pub const MIN_LEFT: f32 = 160.0;
/// The narrowest the transcript can be dragged.
pub const MIN_RIGHT: f32 = 190.0;
/// The views between the panels keep at least this width, however the panels are dragged.
pub const MIN_VIEWS: f32 = 200.0;

/// The side panels' widths as drawn in the last frame (a hidden one's strip included).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct PanelLayout {
    pub left: f32,
    pub right: f32,
}

impl Default for PanelLayout {
    fn default() -> Self {
        let (left, right) = crate::panel_widths(1024.0);
        Self { left, right }
    }
}

/// Which side panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Controls and sessions.
    Left,
    /// The transcript.
    Right,
}

impl Side {
    fn id(self) -> egui::Id {
        egui::Id::new(self.name())
    }

    /// The panel's name as the window prints it.
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "controls",
            Side::Right => "transcript",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Side::Left => "controls and sessions",
            Side::Right => "transcript",
        }
    }

    fn panel(self, id: egui::Id) -> egui::Panel {
        match self {
            Side::Left => egui::Panel::left(id),
            Side::Right => egui::Panel::right(id),
        }
    }

    /// Arrows pointing the way the panel goes: toward its edge to hide, away to show. (From
    /// the icon font egui ships, like the record and stop symbols.)
    fn arrow(self, hide: bool) -> &'static str {
        match (self, hide) {
            (Side::Left, true) | (Side::Right, false) => "⏴",
            (Side::Left, false) | (Side::Right, true) => "⏵",
        }
    }
}

/// What the person asked of a panel from its heading (see [`hide_button`]).
#[derive(Debug, Default)]
pub struct Asks {
    /// Hide it.
    pub hide: bool,
    /// Forget the width it was dragged to: follow the window's again.
    pub follow_window: bool,
}

/// What a side panel's contents are drawn as.
pub enum Contents<'a> {
    /// The whole panel, with what its heading asks (see [`hide_button`]).
    Full { hide: &'a mut Asks },
    /// The strip a hidden panel leaves, below its "show" button.
    Strip,
}

/// A side panel as drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    /// The width it takes (a hidden panel's strip).
    pub width: f32,
    /// Whether the person changed it this frame (shown, hidden, or an edge dragged and let
    /// go): the settings are to be saved.
    pub changed: bool,
}

/// The widths a panel may be dragged to in a window `window` wide beside the other panel
/// `other` wide.
pub fn width_range(side: Side, window: f32, other: f32) -> egui::Rangef {
    let min = match side {
        Side::Left => MIN_LEFT,
        Side::Right => MIN_RIGHT,
    };
    egui::Rangef::new(min, (window - other - MIN_VIEWS).max(min))
}

/// The width a panel is drawn at when shown: where it was dragged to, else what suits the
/// window, within [`width_range`].
pub fn width_for(side: Side, place: &PanelPlace, window: f32, other: f32) -> f32 {
    let (left, right) = crate::panel_widths(window);
    let fits = match side {
        Side::Left => left,
        Side::Right => right,
    };
    let range = width_range(side, window, other);
    place.width.unwrap_or(fits).clamp(range.min, range.max)
}

/// Draws a side panel over `ui`'s whole width (the other panel taking `other`), its contents
/// from `add`; `place` changes when the person hides, shows or drags it.
pub(crate) fn side_panel(
    ui: &mut egui::Ui,
    side: Side,
    place: &mut PanelPlace,
    other: f32,
    add: impl FnOnce(&mut egui::Ui, Contents),
) -> Drawn {
    let area = ui.max_rect();
    let range = width_range(side, area.width(), other);
    let want = width_for(side, place, area.width(), other);
    let id = side.id();
    let ctx = ui.ctx().clone();
    // The settings hold the width: egui's own memory of it only lasts through a drag of the edge.
    ctx.data_mut(|d| d.remove::<egui::containers::panel::PanelState>(id));
    // Whether the press going on began on this panel's inner edge as drawn last frame (a drag
    // of it, or of a hidden panel's strip to open it).
    let drawn_key = id.with("hark-drawn");
    let last = ctx.data(|d| d.get_temp::<f32>(drawn_key)).unwrap_or(if place.shown { want } else { STRIP });
    let edge = match side {
        Side::Left => area.min.x + last,
        Side::Right => area.max.x - last,
    };
    let grab = id.with("hark-edge-press");
    let (pressed, released, origin, at) = ctx.input(|i| {
        (i.pointer.primary_pressed(), i.pointer.primary_released(), i.pointer.press_origin(), i.pointer.interact_pos())
    });
    if pressed {
        let on_edge = origin.is_some_and(|p| area.contains(p) && (p.x - edge).abs() <= 6.0);
        // And whether the panel showed then (a drag from the strip opens it on the way).
        ctx.data_mut(|d| d.insert_temp(grab, (on_edge, place.shown)));
    }
    let before = place.shown;
    let (mut asks, mut show) = (Asks::default(), false);
    let full = side.panel(id).resizable(true).default_size(want).size_range(range);
    // Small margins: the strip's buttons fit its width, so it is drawn as wide as it is meant.
    let margins = egui::Frame::side_top_panel(ui.style()).inner_margin(4.0);
    let strip = side.panel(id.with("strip")).resizable(true).exact_size(STRIP).frame(margins);
    let drawn = egui::Panel::show_switched(ui, &mut place.shown, strip, full, |ui, expanded| {
        if expanded {
            add(ui, Contents::Full { hide: &mut asks });
        } else {
            let open = ui
                .button(side.arrow(false))
                .on_hover_text(format!("Show the {} (or drag this edge open)", side.what()));
            show = open.clicked();
            add(ui, Contents::Strip);
        }
        // A panel is as wide as what it holds: hold the whole width it was given.
        ui.take_available_width();
    });
    let width = drawn.response.rect.intersect(area).width();
    ctx.data_mut(|d| d.insert_temp(drawn_key, width));
    let mut changed = place.shown != before;
    if asks.hide || show {
        place.shown = show;
        changed = true;
    }
    if asks.follow_window && place.width.is_some() {
        place.width = None;
        changed = true;
    }
    if released && let Some((true, shown_then)) = ctx.data(|d| d.get_temp::<(bool, bool)>(grab)) {
        ctx.data_mut(|d| d.insert_temp(grab, (false, place.shown)));
        // Dragged to another width (egui drew it there), or dragged open from its strip: then
        // the width is where the edge was let go, as the panel may still be sliding open.
        let let_go = at.map(|p| match side {
            Side::Left => p.x - area.min.x,
            Side::Right => area.max.x - p.x,
        });
        let new = match (shown_then, place.shown) {
            (true, true) if (width - want).abs() > 0.5 => Some(width),
            (false, true) => let_go.map(|w| w.clamp(range.min, range.max)),
            _ => None,
        };
        if let Some(w) = new {
            place.width = Some(w.round());
            changed = true;
        }
    }
    Drawn { width, changed }
}

/// The small arrow in a panel's heading that hides it; its context menu (right click) lets a
/// dragged panel follow the window's width again.
pub(crate) fn hide_button(ui: &mut egui::Ui, side: Side, asks: &mut Asks) {
    let b = ui.small_button(side.arrow(true)).on_hover_text(format!(
        "Hide the {} (a strip stays at the edge to show it again; its edge can also be dragged; \
         right-click for its width)",
        side.what()
    ));
    if b.clicked() {
        asks.hide = true;
    }
    b.context_menu(|ui| {
        if ui.button("Width: follow the window").clicked() {
            asks.follow_window = true;
            ui.close();
        }
    });
}

/// What the window prints when the person changes a panel (the tests read it).
pub fn describe(side: Side, place: &PanelPlace) -> String {
    match (place.shown, place.width) {
        (false, _) => format!("panel {}: hidden", side.name()),
        (true, Some(w)) => format!("panel {}: shown, {w:.0} px", side.name()),
        (true, None) => format!("panel {}: shown, following the window", side.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1024 × 600 screen with the left panel drawn over it, its clock advancing 1/60 s a frame.
    struct Screen {
        ctx: egui::Context,
        t: f64,
        place: PanelPlace,
    }

    impl Screen {
        /// One frame with `events`: the panel as drawn, and whether its strip was drawn.
        fn frame(&mut self, events: Vec<egui::Event>) -> (Drawn, bool) {
            self.t += 1.0 / 60.0;
            let input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1024.0, 600.0))),
                time: Some(self.t),
                predicted_dt: 1.0 / 60.0,
                events,
                ..Default::default()
            };
            let (mut out, mut strip) = (None, false);
            let place = &mut self.place;
            let _ = self.ctx.run_ui(input, |ui| {
                let mut root = ui.new_child(egui::UiBuilder::new().max_rect(ui.max_rect()));
                out = Some(side_panel(&mut root, Side::Left, place, 320.0, |ui, c| match c {
                    Contents::Full { hide } => {
                        ui.horizontal(|ui| {
                            ui.heading("Hark");
                            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                                hide_button(ui, Side::Left, hide);
                            });
                        });
                        ui.label("contents");
                    }
                    // As the transcript's strip: nothing below the button.
                    Contents::Strip => strip = true,
                }));
            });
            (out.unwrap(), strip)
        }

        fn at(&mut self, kind: &str, x: f32, y: f32) -> Drawn {
            let pos = egui::pos2(x, y);
            let press = |pressed| egui::Event::PointerButton {
                pos,
                button: egui::PointerButton::Primary,
                pressed,
                modifiers: Default::default(),
            };
            let mut events = vec![egui::Event::PointerMoved(pos)];
            match kind {
                "down" => events.push(press(true)),
                "up" => events.push(press(false)),
                _ => {}
            }
            self.frame(events).0
        }

        fn click(&mut self, x: f32, y: f32) -> Drawn {
            self.at("move", x, y);
            self.at("down", x, y);
            self.at("up", x, y)
        }

        /// Drags from `from` to `to` at height `y` over a few frames and lets go: that frame.
        fn drag(&mut self, from: f32, to: f32, y: f32) -> Drawn {
            self.at("move", from, y);
            let mut changed = self.at("down", from, y).changed;
            for k in 1..=4 {
                changed |= self.at("move", from + (to - from) * k as f32 / 4.0, y).changed;
            }
            assert!(!changed, "nothing is saved in the middle of a drag");
            let d = self.at("up", to, y);
            assert!(!self.frame(vec![]).0.changed, "a change is reported once");
            d
        }
    }

    #[test]
    fn a_panel_is_dragged_wider_hidden_shown_and_kept_where_it_was_left() {
        let mut s = Screen { ctx: egui::Context::default(), t: 0.0, place: PanelPlace::default() };
        let (d, _) = s.frame(vec![]);
        assert_eq!((d.width, d.changed), (250.0, false), "following the window at first");

        assert!(s.drag(250.0, 330.0, 400.0).changed);
        assert_eq!(s.place, PanelPlace { shown: true, width: Some(330.0) });
        assert_eq!(s.frame(vec![]).0.width, 330.0, "it stays where it was let go");

        // Not wider than leaves the views their room.
        assert!(s.drag(330.0, 900.0, 400.0).changed);
        let widest = 1024.0 - 320.0 - MIN_VIEWS;
        assert_eq!(s.place.width, Some(widest));

        // A press elsewhere (a button, the views) changes nothing.
        s.at("down", 600.0, 300.0);
        assert!(!s.at("up", 700.0, 300.0).changed);
        assert_eq!(s.place.width, Some(widest));

        // The arrow at the end of the heading hides it.
        let hidden = (0..40).step_by(6).any(|dx| s.click(widest - dx as f32, 18.0).changed);
        assert!(hidden && !s.place.shown, "the hide arrow is at the heading's end, by the edge");
        // The slide takes egui's animation time.
        let strip = (0..60).map(|_| s.frame(vec![])).last().unwrap();
        assert!(strip.1, "a hidden panel leaves its strip");
        assert_eq!(strip.0.width, STRIP);

        // The strip's button shows it again, at the width it had.
        assert!(s.click(12.0, 14.0).changed);
        assert_eq!(s.place, PanelPlace { shown: true, width: Some(widest) });
        let shown = (0..60).map(|_| s.frame(vec![])).last().unwrap();
        assert_eq!((shown.0.width, shown.1), (widest, false));

        // Hidden again, its strip's edge is dragged open: it opens at the width let go at.
        assert!((0..40).step_by(6).any(|dx| s.click(widest - dx as f32, 18.0).changed));
        for _ in 0..60 {
            s.frame(vec![]);
        }
        assert!(!s.place.shown);
        s.at("move", STRIP, 300.0);
        s.at("down", STRIP, 300.0);
        for k in 1..=8 {
            s.at("move", STRIP + (300.0 - STRIP) * k as f32 / 8.0, 300.0);
        }
        let opened = s.at("up", 300.0, 300.0);
        assert!(opened.changed && s.place.shown, "{opened:?} {:?}", s.place);
        assert_eq!(s.place.width, Some(300.0));
    }

    #[test]
    fn narrow_windows_shrink_a_dragged_panel_without_forgetting_its_width() {
        let place = PanelPlace { shown: true, width: Some(500.0) };
        assert_eq!(width_for(Side::Left, &place, 1920.0, 420.0), 500.0);
        assert_eq!(width_for(Side::Left, &place, 640.0, 200.0), MIN_LEFT.max(640.0 - 200.0 - MIN_VIEWS));
        assert_eq!(width_for(Side::Right, &PanelPlace::default(), 640.0, 170.0), 200.0, "follows the window");
        assert_eq!(width_range(Side::Right, 300.0, 200.0).min, MIN_RIGHT, "never below its minimum");
        assert_eq!(describe(Side::Right, &PanelPlace { shown: false, width: None }), "panel transcript: hidden");
    }
}
