//! The replay room: the controls over an opened session's transcript (play/pause, the time,
//! speed, an A–B loop, the output device or why there is no sound, a timeline to drag with the
//! gaps and the loop marked) and its keys (Space plays or pauses, ←/→ step
//! 5 s). The transcript panel draws the words, with the one being heard highlighted; clicking
//! one seeks there. What it asks goes to `hark_replay` as `ReplayRequest`s.

use bevy::prelude::*;
use bevy_egui::egui;
use hark_core::{SAMPLE_RATE, samples_to_secs};
use hark_replay::sound::SoundState;
use hark_replay::{Replay, ReplayRequest, Replayed};

/// Speeds offered in the picker.
const SPEEDS: [f32; 6] = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0];

/// `m:ss.s`
pub fn clock(secs: f64) -> String {
    let m = (secs / 60.0).floor();
    format!("{m:.0}:{:04.1}", secs - m * 60.0)
}

/// The output device: what is heard through (or why nothing is), and a picker. The list is
/// read off the frame when the picker is first opened.
fn output_picker(ui: &mut egui::Ui, replay: &Replay, ask: &mut MessageWriter<ReplayRequest>) {
    let Some(sound) = &replay.sound else { return };
    let named = |id: &str| replay.outputs.iter().find(|d| d.id == id).map_or_else(|| id.to_owned(), |d| d.name.clone());
    let shown = match (sound, &replay.output) {
        (SoundState::On { device }, _) => device.clone(),
        (_, Some(id)) => named(id),
        (_, None) => "System default".to_owned(),
    };
    ui.horizontal(|ui| {
        ui.label("🔊");
        let combo = egui::ComboBox::from_id_salt("replay-output").width(200.0).selected_text(shown).show_ui(ui, |ui| {
            if ui.selectable_label(replay.output.is_none(), "System default").clicked() {
                ask.write(ReplayRequest::Output(None));
            }
            for d in &replay.outputs {
                if ui
                    .selectable_label(replay.output.as_deref() == Some(d.id.as_str()), &d.name)
                    .on_hover_text(&d.id)
                    .clicked()
                {
                    ask.write(ReplayRequest::Output(Some(d.id.clone())));
                }
            }
            if replay.outputs.is_empty() {
                ui.weak("looking for output devices…");
            }
        });
        if combo.response.on_hover_text("The output device the replay is heard on").clicked() {
            ask.write(ReplayRequest::ListOutputs);
        }
    });
    match sound {
        SoundState::Off(why) => {
            ui.colored_label(ui.visuals().warn_fg_color, format!("no sound: {why}"));
        }
        SoundState::Opening => {
            ui.small("opening the output device…");
        }
        SoundState::On { .. } => {}
    }
}

/// The controls of an open replay; requests go to `ask`.
pub fn controls(ui: &mut egui::Ui, replay: &Replay, session: &Replayed, ask: &mut MessageWriter<ReplayRequest>) {
    let total = samples_to_secs(session.samples);
    ui.horizontal(|ui| {
        let label = if replay.playing { "⏸ Pause" } else { "▶ Play" };
        if ui.button(label).on_hover_text("Space").clicked() {
            ask.write(ReplayRequest::Toggle);
        }
        ui.label(format!("{} / {}", clock(replay.position_secs()), clock(total)));
    });
    ui.horizontal(|ui| {
        ui.label("speed");
        egui::ComboBox::from_id_salt("replay-speed")
            .width(64.0)
            .selected_text(format!("{}×", replay.speed))
            .show_ui(ui, |ui| {
                for s in SPEEDS {
                    if ui.selectable_label(replay.speed == s, format!("{s}×")).clicked() {
                        ask.write(ReplayRequest::Speed(s));
                    }
                }
            })
            .response
            .on_hover_text("Replay speed; the voice keeps its pitch");
        // A loop: the first click marks where it starts, the second where it ends.
        let start_id = egui::Id::new("replay-loop-start");
        let marked: Option<u64> = ui.data(|d| d.get_temp(start_id));
        match (replay.looping, marked) {
            (Some((a, b)), _) => {
                let label = format!("loop {}–{} ×", clock(samples_to_secs(a)), clock(samples_to_secs(b)));
                if ui.button(label).on_hover_text("Stop looping").clicked() {
                    ask.write(ReplayRequest::Loop(None));
                }
            }
            (None, None) => {
                if ui.button("Loop from here").on_hover_text("Mark where a loop starts, then where it ends").clicked() {
                    ui.data_mut(|d| d.insert_temp(start_id, replay.position));
                }
            }
            (None, Some(a)) => {
                if ui.button("…to here").on_hover_text("Loop from the mark to here").clicked() {
                    ask.write(ReplayRequest::Loop(Some((a.min(replay.position), a.max(replay.position)))));
                    ui.data_mut(|d| d.remove::<u64>(start_id));
                }
            }
        }
    });
    output_picker(ui, replay, ask);
    // The timeline: drag (or click) to move the playhead; spans with no stored audio in red.
    let mut at = replay.position_secs();
    let slider = egui::Slider::new(&mut at, 0.0..=total.max(0.01)).show_value(false).trailing_fill(true);
    ui.spacing_mut().slider_width = ui.available_width();
    let r = ui.add(slider);
    for &(a, b) in &session.gaps {
        let x = |s: u64| r.rect.left() + r.rect.width() * (samples_to_secs(s) / total.max(0.01)) as f32;
        let gap =
            egui::Rect::from_x_y_ranges(x(a)..=x(b).max(x(a) + 1.0), r.rect.center().y - 2.0..=r.rect.center().y + 2.0);
        ui.painter().rect_filled(gap, 0.0, egui::Color32::from_rgb(200, 60, 60));
    }
    if let Some((a, b)) = replay.looping {
        let x = |s: u64| r.rect.left() + r.rect.width() * (samples_to_secs(s) / total.max(0.01)) as f32;
        let span = egui::Rect::from_x_y_ranges(x(a)..=x(b), r.rect.bottom() - 3.0..=r.rect.bottom());
        ui.painter().rect_filled(span, 0.0, egui::Color32::from_rgb(80, 140, 220));
    }
    if !session.gaps.is_empty() {
        let lost: u64 = session.gaps.iter().map(|(a, b)| b - a).sum();
        ui.small(format!("red: {:.1} s not saved (silence here)", samples_to_secs(lost)));
    }
    // Shift+drag selects a span to loop instead of moving the playhead.
    let r = r.on_hover_text("Drag to move the playhead; Shift+drag to loop a span");
    let sel = egui::Id::new("replay-loop-drag");
    let sample_at = |x: f32| {
        let f = ((x - r.rect.left()) / r.rect.width().max(1.0)).clamp(0.0, 1.0) as f64;
        (f * session.samples as f64) as u64
    };
    let pointer = ui.input(|i| i.pointer.latest_pos()).map(|p| sample_at(p.x));
    if r.drag_started()
        && ui.input(|i| i.modifiers.shift)
        && let Some(a) = pointer
    {
        ui.data_mut(|d| d.insert_temp(sel, a));
    }
    let selecting: Option<u64> = ui.data(|d| d.get_temp(sel));
    match (selecting, pointer) {
        (Some(a), Some(b)) => {
            let x = |s: u64| r.rect.left() + r.rect.width() * (s as f64 / session.samples.max(1) as f64) as f32;
            let span = egui::Rect::from_x_y_ranges(x(a.min(b))..=x(a.max(b)), r.rect.top()..=r.rect.bottom());
            ui.painter().rect_filled(span, 0.0, egui::Color32::from_rgba_unmultiplied(80, 140, 220, 90));
            if r.drag_stopped() {
                ui.data_mut(|d| d.remove::<u64>(sel));
                // A click with Shift is not a span.
                if a.abs_diff(b) >= SAMPLE_RATE as u64 / 5 {
                    ask.write(ReplayRequest::Loop(Some((a.min(b), a.max(b)))));
                }
            }
        }
        (Some(_), None) => ui.data_mut(|d| d.remove::<u64>(sel)),
        (None, _) => {
            if r.changed() {
                ask.write(ReplayRequest::Seek((at * SAMPLE_RATE as f64) as u64));
            }
        }
    }
}

/// Space, ← and → while no text field has the keyboard.
pub fn keys(ctx: &egui::Context, ask: &mut MessageWriter<ReplayRequest>) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    ctx.input(|i| {
        if i.key_pressed(egui::Key::Space) {
            ask.write(ReplayRequest::Toggle);
        }
        if i.key_pressed(egui::Key::ArrowLeft) {
            ask.write(ReplayRequest::Step(-5.0));
        }
        if i.key_pressed(egui::Key::ArrowRight) {
            ask.write(ReplayRequest::Step(5.0));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_minutes_and_tenths() {
        assert_eq!(clock(0.0), "0:00.0");
        assert_eq!(clock(75.25), "1:15.2");
        assert_eq!(clock(3599.9), "59:59.9");
    }
}
