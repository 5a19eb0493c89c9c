//! The status line: what is captured, the model, the real-time factor, the queue, the latency
//! from end of speech to text, and anything lost or not saved.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use hark_capture::{CaptureControl, CaptureHealth};
use hark_core::{EngineTime, LatencySummary, LiveLatency, Quantiles, SessionClock, samples_to_secs};
use hark_transcribe::Models;

use super::UtteranceRow;
use crate::{Notice, STATUS_BAR, Shown};

#[derive(SystemParam)]
pub struct Status<'w, 's> {
    control: Res<'w, CaptureControl>,
    shown: Res<'w, Shown>,
    notice: Res<'w, Notice>,
    models: Res<'w, Models>,
    writer: Option<Res<'w, hark_store::Writer>>,
    clocks: Query<'w, 's, &'static SessionClock>,
    latency: Query<'w, 's, &'static LiveLatency>,
    engine_time: Query<'w, 's, &'static EngineTime>,
    health: Query<'w, 's, &'static CaptureHealth>,
    utterances: Query<'w, 's, UtteranceRow>,
    sessions: Query<'w, 's, &'static hark_core::Session>,
}

const LOST: egui::Color32 = egui::Color32::from_rgb(240, 110, 60);
const NOT_SAVED: egui::Color32 = egui::Color32::from_rgb(240, 90, 60);
const NOTICE: egui::Color32 = egui::Color32::from_rgb(240, 170, 60);

impl Status<'_, '_> {
    /// The line's text: source · model · RTF · queue · latency from the end of speech to its
    /// final text (the shown live session's median so far), and how far transcription is
    /// behind when it cannot keep up. Every figure is the shown live session's.
    pub fn summary(&self) -> String {
        let shown = self.shown.live();
        let captured = shown.and_then(|s| self.clocks.get(s).ok()).map_or(0, |c| c.captured);
        let audio = samples_to_secs(captured);
        let busy = shown.and_then(|s| self.engine_time.get(s).ok()).map_or(0.0, |t| t.0.as_secs_f64());
        let rtf = if audio > 0.0 { busy / audio } else { 0.0 };
        let latency = self
            .latency_summary()
            .and_then(|l| l.final_ms)
            .map(|q| format!("{:.0} ms", q.p50))
            .unwrap_or_else(|| "–".into());
        // Utterances of the shown session without text yet, and where the oldest ended (its
        // text has been due since then).
        let untranscribed: Vec<u64> = self
            .utterances
            .iter()
            .filter(|(u, t, ..)| Some(u.session) == shown && t.is_none())
            .map(|(u, ..)| u.end)
            .collect();
        let oldest = untranscribed.iter().min().copied();
        let source = match self.control.source_label.as_str() {
            "" => "no capture yet",
            s => s,
        };
        let model = match self.models.loading() {
            Some(p) => format!("loading {}…", hark_transcribe::loader::file_name(p)),
            None => self.models.current_name(),
        };
        // A file being transcribed (dropped on the window): how much of it has been read; the
        // time from speech to text means nothing for audio read faster than it was said.
        if let Some(file) =
            shown.and_then(|s| self.sessions.get(s).ok()).filter(|s| s.kind == hark_core::SourceKind::File)
        {
            let name = std::path::Path::new(&file.source)
                .file_name()
                .map_or(file.source.clone(), |n| n.to_string_lossy().into_owned());
            return file_status_line(
                &source_line(&format!("file {name}, {audio:.0} s read"), &model),
                rtf,
                untranscribed.len(),
            );
        }
        status_line(&source_line(source, &model), rtf, untranscribed.len(), &latency, behind(captured, oldest))
    }

    /// The shown live session's latency figures so far.
    pub fn latency_summary(&self) -> Option<LatencySummary> {
        self.shown.live().and_then(|s| self.latency.get(s).ok()).map(LiveLatency::summary)
    }

    /// The hover text of the line: what each figure means, the latency in full.
    pub fn latency_details(&self) -> String {
        let q = |q: Option<Quantiles>| {
            q.map_or("none yet".to_owned(), |q| {
                format!("median {:.0} ms, 95th percentile {:.0} ms over {}", q.p50, q.p95, q.n)
            })
        };
        let l = self.latency_summary().unwrap_or_default();
        format!(
            "RTF: the recogniser's time for this capture over its length (under 1 keeps up).\nQueue: utterances of this capture waiting for their text.\nSpeech end to text, from the end of each utterance's speech (the VAD's last speech frame) to its final text: {}.\nBetween updates of the text being said: {}.",
            q(l.final_ms),
            q(l.partial_interval_ms)
        )
    }
}

fn source_line(source: &str, model: &str) -> String {
    format!("{source}  ·  model {model}")
}

/// How far transcription is behind the capture: from the end of the oldest utterance still
/// without text (where its text became due) to now, when that is long enough to explain late
/// text (over 5 s). Counted from its start, a long utterance just cut was "behind" by its own
/// length while the recogniser was idle.
pub fn behind(captured: u64, oldest_untranscribed_end: Option<u64>) -> Option<f64> {
    let secs = samples_to_secs(captured.saturating_sub(oldest_untranscribed_end?));
    (secs > 5.0).then_some(secs)
}

/// The status line from its figures.
pub fn status_line(source: &str, rtf: f64, queue: usize, latency: &str, behind: Option<f64>) -> String {
    let mut line = format!("{source}  ·  RTF {rtf:.2}  ·  queue {queue}  ·  speech end to text {latency}");
    if let Some(b) = behind {
        line.push_str(&format!("  ·  {b:.0} s behind"));
    }
    line
}

/// The status line of a file being transcribed.
pub fn file_status_line(source: &str, rtf: f64, queue: usize) -> String {
    format!("{source}  ·  RTF {rtf:.2}  ·  queue {queue}")
}

pub(crate) fn draw(mut contexts: EguiContexts, status: Status) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = crate::room(ctx, "hark-status", ctx.viewport_rect());
    egui::Panel::bottom("status").exact_size(STATUS_BAR).show(&mut root, |ui| {
        ui.horizontal_centered(|ui| {
            ui.label(status.summary()).on_hover_text(status.latency_details());
            let health = status.shown.live().and_then(|s| status.health.get(s).ok());
            if let Some(w) = health.and_then(|h| h.waiting.as_ref()) {
                ui.colored_label(LOST, format!("{w}: waiting for it to come back"))
                    .on_hover_text("The capture goes on and resumes by itself when the device is back; the time without it is kept as silence. Stop ends it.");
            }
            if let Some(e) = health.and_then(|h| h.events.last()) {
                ui.colored_label(NOTICE, e);
            }
            if let Some(losses) = health.and_then(CaptureHealth::losses) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_far_behind_transcription_is_only_when_it_matters() {
        let s = hark_core::SAMPLE_RATE as u64;
        assert_eq!(behind(60 * s, None), None);
        assert_eq!(behind(60 * s, Some(57 * s)), None, "an utterance just cut is not news");
        assert_eq!(behind(60 * s, Some(48 * s)), Some(12.0));
        assert_eq!(
            status_line("mic  ·  model tiny.en", 0.45, 3, "950 ms", Some(12.0)),
            "mic  ·  model tiny.en  ·  RTF 0.45  ·  queue 3  ·  speech end to text 950 ms  ·  12 s behind"
        );
        assert_eq!(
            status_line("mic  ·  model tiny.en", 0.0, 0, "–", None),
            "mic  ·  model tiny.en  ·  RTF 0.00  ·  queue 0  ·  speech end to text –"
        );
        assert_eq!(
            file_status_line("file talk.wav, 42 s read  ·  model tiny.en", 0.31, 2),
            "file talk.wav, 42 s read  ·  model tiny.en  ·  RTF 0.31  ·  queue 2"
        );
    }
}
