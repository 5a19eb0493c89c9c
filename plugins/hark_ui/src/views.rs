//! The centre of the window: the GPU spectrogram and waveform (`hark_viz`'s ring textures on
//! two quads) and the recognised words pinned over the spectrogram at their times (of the live session, or
//! of the replayed one as it plays).

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, egui};
use hark_core::{Transcript, Utterance, Word};
use hark_viz::{RING, VizRing};

use crate::{PanelLayout, STATUS_BAR, Shown};

#[derive(Component)]
pub struct SpectrogramView;

#[derive(Component)]
pub struct WaveformView;

pub(crate) fn spawn_views(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, ring: Res<VizRing>) {
    commands.spawn(Camera2d);
    let quad = meshes.add(Rectangle::new(1.0, 1.0));
    commands.spawn((
        Mesh2d(quad.clone()),
        bevy::sprite_render::MeshMaterial2d(ring.spectrogram_material.clone()),
        Transform::default(),
        SpectrogramView,
    ));
    commands.spawn((
        Mesh2d(quad),
        bevy::sprite_render::MeshMaterial2d(ring.waveform_material.clone()),
        Transform::default(),
        WaveformView,
    ));
}

/// The central area between the panels as drawn, in logical pixels: (left, top, width, height).
fn central(window: &Window, panels: &PanelLayout) -> (f32, f32, f32, f32) {
    let (left, right) = (panels.left, panels.right);
    let w = (window.width() - left - right).max(50.0);
    let h = (window.height() - STATUS_BAR).max(50.0);
    (left, 0.0, w, h)
}

/// Spectrogram on the top 64 % of the centre, waveform below it.
pub fn view_rects(window: &Window, panels: &PanelLayout) -> (egui::Rect, egui::Rect) {
    let (x, y, w, h) = central(window, panels);
    let spec = egui::Rect::from_min_size(egui::pos2(x, y + 24.0), egui::vec2(w, h * 0.64 - 24.0));
    let wave = egui::Rect::from_min_size(egui::pos2(x, y + h * 0.66), egui::vec2(w, h * 0.30));
    (spec, wave)
}

type ViewTransform<'w, 's, A, B> = Single<'w, 's, &'static mut Transform, (With<A>, Without<B>)>;

pub(crate) fn layout_views(
    window: Single<&Window, With<PrimaryWindow>>,
    mut spec: ViewTransform<SpectrogramView, WaveformView>,
    mut wave: ViewTransform<WaveformView, SpectrogramView>,
    panels: Res<PanelLayout>,
) {
    let (s, w) = view_rects(&window, &panels);
    let place = |t: &mut Transform, r: egui::Rect| {
        // Camera2d: origin at the window centre, y up.
        let cx = r.center().x - window.width() / 2.0;
        let cy = window.height() / 2.0 - r.center().y;
        let new = Transform::from_xyz(cx, cy, 0.0).with_scale(Vec3::new(r.width(), r.height(), 1.0));
        if *t != new {
            *t = new;
        }
    };
    place(&mut spec, s);
    place(&mut wave, w);
}

/// The spectrogram's caption, and the shown session's words over it: three staggered lines; a
/// word that would overlap the previous one on its line waits for the next line, or is left
/// out when all three are taken.
pub(crate) fn draw_words(
    mut contexts: EguiContexts,
    window: Single<&Window, With<PrimaryWindow>>,
    ring: Res<VizRing>,
    shown: Res<Shown>,
    replay: Res<hark_replay::Replay>,
    utterances: Query<(&Utterance, &Transcript)>,
    panels: Res<PanelLayout>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let (spec, _) = view_rects(&window, &panels);
    // Kept to the centre (caption and words), so a narrow window does not draw them over the
    // transcript panel.
    let painter = ctx
        .layer_painter(egui::LayerId::new(egui::Order::Foreground, "words".into()))
        .with_clip_rect(egui::Rect::from_min_max(spec.min - egui::vec2(0.0, 24.0), spec.max));
    painter.text(
        spec.left_top() + egui::vec2(4.0, -20.0),
        egui::Align2::LEFT_TOP,
        "spectrogram · 60 Hz – 8 kHz · last 10 s · green: speech",
        egui::FontId::proportional(12.0),
        egui::Color32::from_gray(170),
    );
    if ring.written == 0 {
        return Ok(());
    }
    let newest = ring.written as f64 - 1.0;
    let oldest = newest - RING as f64;
    let px_per_col = spec.width() as f64 / RING as f64;
    // The words of what the view is showing: the live session's, or the replayed one's.
    let mut words: Vec<&Word> = Vec::new();
    match *shown {
        Shown::Live(session) if ring.session == Some(session) => {
            let mut items: Vec<_> = utterances
                .iter()
                .filter(|(u, t)| u.session == session && !t.suspect && ring.column_of(u.end) >= oldest)
                .collect();
            items.sort_by_key(|(u, _)| u.index);
            words.extend(items.into_iter().flat_map(|(_, t)| t.words.iter()));
        }
        Shown::Saved(id) if ring.session.is_some() && ring.session == replay.entity => {
            if let Some(s) = replay.session.as_ref().filter(|s| s.id == id) {
                words.extend(
                    s.segments
                        .iter()
                        .filter(|g| !g.suspect && ring.column_of(g.end_sample) >= oldest)
                        .flat_map(|g| g.words.iter())
                        .filter(|w| ring.column_of(w.start) <= newest),
                );
            }
        }
        _ => return Ok(()),
    }
    let mut line_end = [f32::MIN; 3];
    let font = egui::FontId::proportional(13.0);
    {
        for w in words {
            let col = ring.column_of(w.start);
            let x = (spec.right() as f64 - (newest - col) * px_per_col) as f32;
            if x < spec.left() || x > spec.right() - 10.0 {
                continue;
            }
            let width =
                ctx.fonts_mut(|f| f.layout_no_wrap(w.text.clone(), font.clone(), egui::Color32::WHITE).size().x);
            // A word that would run past the view's right edge waits until it has scrolled in.
            if x + width > spec.right() {
                continue;
            }
            let Some(line) = (0..3).find(|&l| line_end[l] + 4.0 <= x) else { continue };
            line_end[line] = x + width;
            painter.text(
                egui::pos2(x, spec.top() + 8.0 + line as f32 * 16.0),
                egui::Align2::LEFT_TOP,
                &w.text,
                font.clone(),
                egui::Color32::WHITE,
            );
        }
    }
    Ok(())
}
