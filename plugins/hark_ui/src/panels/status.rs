//! The status line: what is captured, the model, the real-time factor, the queue, the latency
//! from end of speech to text, and anything lost or not saved.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use hark_capture::{CaptureControl, CaptureHealth};
use hark_core::{LatencySummary, LiveLatency, Quantiles, SessionClock, samples_to_secs};
use hark_transcribe::{Models, Recognizer};

use super::UtteranceRow;
use crate::{Notice, STATUS_BAR, Shown};

#[derive(SystemParam)]
pub struct Status<'w, 's> {
    control: Res<'w, CaptureControl>,
    shown: Res<'w, Shown>,
    notice: Res<'w, Notice>,
    models: Res<'w, Models>,
    recognizer: Option<Res<'w, Recognizer>>,
    writer: Option<Res<'w, hark_store::Writer>>,
    clocks: Query<'w, 's, &'static SessionClock>,
    latency: Query<'w, 's, &'static LiveLatency>,
    health: Query<'w, 's, &'static CaptureHealth>,
    utterances: Query<'w, 's, UtteranceRow>,
}

const LOST: egui::Color32 = egui::Color32::from_rgb(240, 110, 60);
const NOT_SAVED: egui::Color32 = egui::Color32::from_rgb(240, 90, 60);
const NOTICE: egui::Color32 = egui::Color32::from_rgb(240, 170, 60);

impl Status<'_, '_> {
    /// The line's text: source · model · RTF · queue · latency from the end of speech to its
    /// final text (the shown live session's median so far).
    pub fn summary(&self) -> String {
        let shown = self.shown.live();
        let audio = shown.and_then(|s| self.clocks.get(s).ok()).map(|c| samples_to_secs(c.captured)).unwrap_or(0.0);
        let (rtf, queue) = match &self.recognizer {
            Some(r) => (if audio > 0.0 { r.busy.as_secs_f64() / audio } else { 0.0 }, r.in_flight()),
            None => (0.0, 0),
        };
        let latency = self
            .latency_summary()
            .and_then(|l| l.final_ms)
            .map(|q| format!("{:.0} ms", q.p50))
            .unwrap_or_else(|| "–".into());
        let waiting =
            self.utterances.iter().filter(|(u, t, p, _)| Some(u.session) == shown && t.is_none() && !p).count();
        let source = match self.control.source_label.as_str() {
            "" => "no capture yet",
            s => s,
        };
        let model = match self.models.loading() {
            Some(p) => format!("loading {}…", hark_transcribe::loader::file_name(p)),
            None => self.models.current_name(),
        };
        format!(
            "{source}  ·  model {model}  ·  RTF {rtf:.2}  ·  queue {}  ·  speech end to text {latency}",
            queue + waiting
        )
    }

    /// The shown live session's latency figures so far.
    pub fn latency_summary(&self) -> Option<LatencySummary> {
        self.shown.live().and_then(|s| self.latency.get(s).ok()).map(LiveLatency::summary)
    }

    /// The hover text of the line: the latency figures in full.
    pub fn latency_details(&self) -> String {
        let q = |q: Option<Quantiles>| {
            q.map_or("none yet".to_owned(), |q| {
                format!("median {:.0} ms, 95th percentile {:.0} ms over {}", q.p50, q.p95, q.n)
            })
        };
        let l = self.latency_summary().unwrap_or_default();
        format!(
            "From the end of each utterance's speech (the VAD's last speech frame) to its final text: {}.\nBetween updates of the text being said: {}.",
            q(l.final_ms),
            q(l.partial_interval_ms)
        )
    }
}

pub(crate) fn draw(mut contexts: EguiContexts, status: Status) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = crate::room(ctx, "hark-status", ctx.viewport_rect());
    egui::Panel::bottom("status").exact_size(STATUS_BAR).show(&mut root, |ui| {
        ui.horizontal_centered(|ui| {
            ui.label(status.summary()).on_hover_text(status.latency_details());
            if let Some(losses) =
                status.shown.live().and_then(|s| status.health.get(s).ok()).and_then(CaptureHealth::losses)
            {
                ui.colored_label(LOST, format!("microphone audio lost: {losses}"));
            }
            if let Some((problem, unsaved)) = status.writer.as_ref().and_then(|w| w.health()) {
                ui.colored_label(
                    NOT_SAVED,
                    format!("not saved: {unsaved:.1} s of audio held in memory, tried again every 0.5 s"),
                )
                .on_hover_text(problem);
            }
            if let Some(n) = &status.notice.0 {
                ui.colored_label(NOTICE, n);
            }
        });
    });
    Ok(())
}
