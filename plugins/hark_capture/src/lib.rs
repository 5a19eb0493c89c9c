//! Capture: audio sources that feed the pipeline 16 kHz mono [`AudioChunk`]s.
//!
//! A session entity with a [`CaptureSource`] component is captured from: a microphone (cpal),
//! a file (symphonia) fed as fast as the pipeline takes it or paced at real time, or samples
//! already in memory (replay, tests). When the source ends the session gets
//! [`CaptureFinished`] and a [`CaptureEnded`] message goes out.

pub mod control;
pub mod file;
pub mod mic;
pub mod recall;
pub mod resample;

use std::path::PathBuf;
use std::sync::Arc;

use bevy::platform::cell::SyncCell;
use bevy::prelude::*;
use hark_core::{
    AudioChunk, CaptureEnded, CaptureFailed, CaptureFinished, PipelineBackpressure, PipelineSystems, SAMPLE_RATE,
    SessionClock, StopCapture,
};

pub use control::{
    CaptureControl, CaptureControlPlugin, CaptureNotice, CaptureRequest, CaptureStarted, RefreshInputs, SelectInput,
    session_bundle,
};
pub use file::{FileSource, WavFormat, read_16k_mono, wav_16k, write_wav_16k};
pub use mic::{InputDevice, MicSource, list_input_devices};
pub use recall::Recall;

/// What can go wrong opening or reading a source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaptureError {
    #[error("{} {msg}", path.display())]
    File { path: PathBuf, msg: String },
    #[error("{0}")]
    NoDevice(String),
    #[error("lost input device {device}: {cause}")]
    DeviceLost { device: String, cause: String },
}

/// How a file is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// As fast as the pipeline takes it.
    #[default]
    Fast,
    /// At real time, by the app's clock (virtual time in tests).
    RealTime,
}

/// Where a session's audio comes from.
pub enum Source {
    File(FileSource),
    Mic(MicSource),
    /// 16 kHz mono samples already in memory.
    Samples {
        samples: Arc<[f32]>,
        pos: usize,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(s) => s.fmt(f),
            Self::Mic(s) => s.fmt(f),
            Self::Samples { samples, pos } => write!(f, "Samples({pos}/{})", samples.len()),
        }
    }
}

/// The source of a session being captured.
#[derive(Component)]
pub struct CaptureSource {
    source: SyncCell<Source>,
    pub pace: Pace,
    /// Seconds of audio due so far in paced mode.
    due_secs: f64,
    /// Reused output buffer.
    buf: Vec<f32>,
}

impl std::fmt::Debug for CaptureSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureSource").field("pace", &self.pace).finish()
    }
}

impl CaptureSource {
    pub fn new(source: Source, pace: Pace) -> Self {
        Self { source: SyncCell::new(source), pace, due_secs: 0.0, buf: Vec::new() }
    }
}

/// What went wrong with a session's capture, kept on the session after the capture ends so
/// the window and the CLI can say it.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct CaptureHealth {
    /// Seconds a microphone's ring had to drop (the pipeline fell behind the device).
    pub dropped_secs: f64,
    /// Seconds the audio host lost (a device moved, a server stalled), filled with silence so
    /// later audio keeps its time.
    pub filled_secs: f64,
    /// Why the capture stopped, when it was not asked to.
    pub failure: Option<String>,
}

impl CaptureHealth {
    /// One line for the user when something was lost, or `None`.
    pub fn losses(&self) -> Option<String> {
        let mut parts = Vec::new();
        let secs = |s: f64| if s < 0.1 { format!("{s:.3} s") } else { format!("{s:.1} s") };
        if self.filled_secs > 0.0 {
            parts.push(format!(
                "{} the audio system did not deliver (a silent gap in the recording)",
                secs(self.filled_secs)
            ));
        }
        if self.dropped_secs > 0.0 {
            parts.push(format!("{} dropped because Hark fell behind the microphone", secs(self.dropped_secs)));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Capture settings.
#[derive(Resource, Debug, Clone)]
pub struct CaptureSettings {
    /// Most audio a fast file source hands out per update (samples).
    pub fast_chunk: usize,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self { fast_chunk: SAMPLE_RATE as usize * 20 }
    }
}

#[derive(Debug, Default)]
pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CaptureSettings>().add_systems(Update, pull_sources.in_set(PipelineSystems::Capture));
    }
}

#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
fn pull_sources(
    mut commands: Commands,
    mut sessions: Query<(Entity, &mut CaptureSource, &mut SessionClock, Option<&mut CaptureHealth>)>,
    settings: Res<CaptureSettings>,
    backpressure: Option<Res<PipelineBackpressure>>,
    time: Res<Time>,
    mut chunks: MessageWriter<AudioChunk>,
    mut ended: MessageWriter<CaptureEnded>,
    mut failed: MessageWriter<CaptureFailed>,
    mut stop: MessageReader<StopCapture>,
) {
    let stopping: Vec<Entity> = stop.read().map(|s| s.session).collect();
    let held = backpressure.is_some_and(|b| b.0);
    for (session, mut cap, mut clock, health) in &mut sessions {
        let cap = &mut *cap;
        cap.buf.clear();
        let pace = cap.pace;
        let want = match pace {
            Pace::Fast if held && !stopping.contains(&session) => continue,
            Pace::Fast => settings.fast_chunk,
            Pace::RealTime => {
                cap.due_secs += time.delta_secs_f64();
                let due = (cap.due_secs * SAMPLE_RATE as f64) as u64;
                due.saturating_sub(clock.captured) as usize
            }
        };
        let result = match cap.source.get() {
            Source::File(f) => {
                if want == 0 {
                    Ok(true)
                } else {
                    f.pull(want, &mut cap.buf)
                }
            }
            Source::Mic(m) => {
                let r = m.pull(&mut cap.buf);
                if r.is_ok() && stopping.contains(&session) {
                    // The resampler holds the last few ms: they are part of what was said.
                    m.finish(&mut cap.buf);
                }
                r.map(|()| true)
            }
            Source::Samples { samples, pos } => {
                let n = want.min(samples.len() - *pos);
                cap.buf.extend_from_slice(&samples[*pos..*pos + n]);
                *pos += n;
                Ok(*pos < samples.len())
            }
        };
        if !cap.buf.is_empty() {
            let start = clock.captured;
            clock.captured += cap.buf.len() as u64;
            chunks.write(AudioChunk { session, start, samples: Arc::from(&cap.buf[..]) });
        }
        let mut now = match &health {
            Some(h) => (*h).clone(),
            None => CaptureHealth::default(),
        };
        if let Source::Mic(m) = cap.source.get() {
            let rate = m.device_rate.max(1) as f64;
            now.dropped_secs = m.overruns() as f64 / rate;
            now.filled_secs = m.lost() as f64 / rate;
        }
        let more = match result {
            Ok(more) => more && !stopping.contains(&session),
            Err(e) => {
                error!("{e}");
                now.failure = Some(e.to_string());
                failed.write(CaptureFailed { session, message: e.to_string() });
                false
            }
        };
        match health {
            Some(mut h) => h.set_if_neq(now),
            None if now != CaptureHealth::default() => {
                commands.entity(session).insert(now);
                true
            }
            None => false,
        };
        if !more {
            commands.entity(session).remove::<CaptureSource>().insert(CaptureFinished);
            ended.write(CaptureEnded { session, samples: clock.captured });
        }
    }
}
