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
    AudioChunk, CaptureEnded, CaptureFailed, CaptureFinished, CaptureGap, PipelineBackpressure, PipelineSystems,
    SAMPLE_RATE, SessionClock, StopCapture,
};

pub use control::{
    CaptureControl, CaptureControlPlugin, CaptureNotice, CaptureRequest, CaptureStarted, RefreshInputs, SelectInput,
    SetRecall, TranscribeFile, session_bundle,
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
    /// A microphone that was lost, looked for until it comes back; the time without it is
    /// kept as silence.
    Lost(mic::Reconnect),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(s) => s.fmt(f),
            Self::Mic(s) => s.fmt(f),
            Self::Lost(r) => r.fmt(f),
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
    /// Seconds dropped and filled by earlier streams of this capture (before a microphone was
    /// lost and came back).
    earlier_streams: (f64, f64),
}

impl std::fmt::Debug for CaptureSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureSource").field("pace", &self.pace).finish()
    }
}

impl CaptureSource {
    pub fn new(source: Source, pace: Pace) -> Self {
        Self { source: SyncCell::new(source), pace, due_secs: 0.0, buf: Vec::new(), earlier_streams: (0.0, 0.0) }
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
    /// Why the capture stopped, when it was not asked to, or why it ended without its
    /// microphone.
    pub failure: Option<String>,
    /// While the microphone is lost and looked for: what was lost and why.
    pub waiting: Option<String>,
    /// Seconds without the microphone (lost, then back or the capture stopped), kept as
    /// silence.
    pub absent_secs: f64,
    /// Times the microphone came back after a loss.
    pub resumed: u32,
    /// What happened to the input on the way, for the user ("the default input changed to …"),
    /// oldest first.
    pub events: Vec<String>,
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
        if self.absent_secs > 0.0 {
            parts.push(format!("{} without the microphone (it was lost; kept as silence)", secs(self.absent_secs)));
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
    mut gaps: MessageWriter<CaptureGap>,
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
        // A microphone lost this update, or back.
        let mut lost = None;
        let mut back = None;
        let mut event = None;
        let result = match cap.source.get() {
            Source::File(f) => {
                if want == 0 {
                    Ok(true)
                } else {
                    f.pull(want, &mut cap.buf)
                }
            }
            Source::Mic(m) => match m.pull(&mut cap.buf) {
                // A microphone lost mid-capture is looked for until it comes back or the
                // capture is stopped; the session goes on meanwhile.
                Err(CaptureError::DeviceLost { device, cause }) if !stopping.contains(&session) => {
                    warn!("lost input device {device}: {cause}; looking for it again");
                    lost = Some(mic::Reconnect::start(m, cause));
                    Ok(true)
                }
                r => {
                    if r.is_ok() && stopping.contains(&session) {
                        // The resampler holds the last few ms: they are part of what was said.
                        m.finish(&mut cap.buf);
                    }
                    match m.default_change() {
                        Some(mic::DefaultChange::Followed(name)) => {
                            event =
                                Some(format!("the system's default input changed to {name}: the capture follows it"))
                        }
                        // The chosen device, not whatever the server moved the stream to.
                        Some(mic::DefaultChange::Reopen { default }) if r.is_ok() && !stopping.contains(&session) => {
                            let re = mic::Reconnect::reopen(m, &default);
                            event = Some(re.reason.clone());
                            lost = Some(re);
                        }
                        _ => {}
                    }
                    r.map(|()| true)
                }
            },
            Source::Lost(r) => {
                r.fill(&mut cap.buf);
                back = r.poll();
                if stopping.contains(&session) && back.is_none() {
                    Err(CaptureError::DeviceLost { device: r.description.clone(), cause: r.cause.clone() })
                } else {
                    Ok(true)
                }
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
        match cap.source.get() {
            // A stream's counts start again at zero when its device comes back: they are
            // added to what the earlier streams lost.
            Source::Mic(m) => {
                let rate = m.device_rate.max(1) as f64;
                now.dropped_secs = cap.earlier_streams.0 + m.overruns() as f64 / rate;
                now.filled_secs = cap.earlier_streams.1 + m.lost() as f64 / rate;
            }
            Source::Lost(r) => now.waiting = r.waiting(),
            _ => {}
        }
        if let Some(e) = event {
            info!("{e}");
            now.events.push(format!("{e} (at {:.1} s)", hark_core::samples_to_secs(clock.captured)));
        }
        if let Some(mut r) = lost {
            r.at = clock.captured;
            now.waiting = r.waiting();
            cap.earlier_streams = (now.dropped_secs, now.filled_secs);
            *cap.source.get() = Source::Lost(r);
        } else if let Some(m) = back {
            if let Source::Lost(r) = cap.source.get() {
                now.absent_secs += r.absent_secs();
                info!("input device {} is back after {:.1} s", m.description, r.absent_secs());
                gaps.write(gap(session, r));
            }
            now.waiting = None;
            now.resumed += 1;
            *cap.source.get() = Source::Mic(m);
        }
        let more = match result {
            Ok(more) => more && !stopping.contains(&session),
            Err(e) => {
                error!("{e}");
                if let Source::Lost(r) = cap.source.get() {
                    // Stopped while the microphone was away: the time without it is part of the
                    // session (as silence).
                    now.absent_secs += r.absent_secs();
                    now.waiting = None;
                    gaps.write(gap(session, r));
                }
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

/// The silence that stood in for a lost microphone.
fn gap(session: Entity, r: &mic::Reconnect) -> CaptureGap {
    CaptureGap { session, start: r.at, samples: r.filled, cause: r.reason.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use hark_core::HarkCorePlugin;

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, CapturePlugin)).init_resource::<Time>();
        app
    }

    fn sent<M: Message + Clone>(app: &App) -> Vec<M> {
        app.world().resource::<Messages<M>>().iter_current_update_messages().cloned().collect()
    }

    fn ramp(n: usize) -> Arc<[f32]> {
        (0..n).map(|i| i as f32 / n as f32).collect()
    }

    /// Steps virtual time by `step` per update until the source ends; returns the chunks.
    fn run(app: &mut App, session: Entity, step: Duration, stop_after: Option<usize>) -> (Vec<AudioChunk>, u32) {
        let mut chunks = Vec::new();
        for update in 0..1_000u32 {
            if stop_after == Some(update as usize) {
                app.world_mut().write_message(StopCapture { session });
            }
            app.world_mut().resource_mut::<Time>().advance_by(step);
            app.update();
            chunks.extend(sent::<AudioChunk>(app));
            if !sent::<CaptureEnded>(app).is_empty() {
                return (chunks, update + 1);
            }
        }
        panic!("the source never ended");
    }

    #[test]
    fn a_paced_source_hands_out_what_is_due_in_order_and_ends_with_its_total() {
        let samples = ramp(SAMPLE_RATE as usize * 2 + 123);
        let mut app = app();
        let s = app
            .world_mut()
            .spawn((
                SessionClock::default(),
                CaptureSource::new(Source::Samples { samples: samples.clone(), pos: 0 }, Pace::RealTime),
            ))
            .id();
        let (chunks, updates) = run(&mut app, s, Duration::from_millis(250), None);
        // 2.0077 s of audio at 0.25 s per update: 8 full steps and the rest in a 9th.
        assert_eq!(updates, 9);
        assert!(
            chunks[..8].iter().all(|c| c.samples.len() == 4_000),
            "{:?}",
            chunks.iter().map(|c| c.samples.len()).collect::<Vec<_>>()
        );
        let mut next = 0;
        for c in &chunks {
            assert_eq!((c.session, c.start), (s, next));
            next += c.samples.len() as u64;
        }
        let got: Vec<f32> = chunks.iter().flat_map(|c| c.samples.iter().copied()).collect();
        assert_eq!(&got[..], &samples[..]);
        assert!(app.world().get::<CaptureFinished>(s).is_some());
        assert!(app.world().get::<CaptureSource>(s).is_none());
        assert_eq!(app.world().get::<SessionClock>(s).unwrap().captured, samples.len() as u64);
    }

    #[test]
    fn stop_capture_ends_the_source_where_it_is_and_keeps_what_came() {
        let samples = ramp(SAMPLE_RATE as usize * 10);
        let mut app = app();
        let s = app
            .world_mut()
            .spawn((
                SessionClock::default(),
                CaptureSource::new(Source::Samples { samples: samples.clone(), pos: 0 }, Pace::RealTime),
            ))
            .id();
        let (chunks, updates) = run(&mut app, s, Duration::from_millis(100), Some(5));
        assert_eq!(updates, 6);
        let got: Vec<f32> = chunks.iter().flat_map(|c| c.samples.iter().copied()).collect();
        // Six updates of 0.1 s were due, the stop arriving with the sixth.
        assert_eq!(got.len(), 6 * 1_600);
        assert_eq!(&got[..], &samples[..got.len()]);
        assert_eq!(app.world().get::<SessionClock>(s).unwrap().captured, got.len() as u64);
        assert!(app.world().get::<CaptureHealth>(s).is_none(), "a requested stop is not a failure");
    }

    #[test]
    fn a_fast_source_waits_while_the_pipeline_holds_it_back() {
        let samples = ramp(SAMPLE_RATE as usize * 50);
        let mut app = app();
        app.world_mut().insert_resource(CaptureSettings { fast_chunk: 16_000 });
        app.insert_resource(PipelineBackpressure(true));
        let s = app
            .world_mut()
            .spawn((SessionClock::default(), CaptureSource::new(Source::Samples { samples, pos: 0 }, Pace::Fast)))
            .id();
        for _ in 0..3 {
            app.update();
            assert!(sent::<AudioChunk>(&app).is_empty());
        }
        app.insert_resource(PipelineBackpressure(false));
        app.update();
        assert_eq!(sent::<AudioChunk>(&app).iter().map(|c| c.samples.len()).sum::<usize>(), 16_000);
        assert_eq!(app.world().get::<SessionClock>(s).unwrap().captured, 16_000);
    }

    #[test]
    fn a_source_that_fails_says_why_and_ends_the_capture() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.wav");
        write_wav_16k(&empty, &[]).unwrap();
        let mut app = app();
        let s = app
            .world_mut()
            .spawn((
                SessionClock::default(),
                CaptureSource::new(Source::File(FileSource::open(&empty).unwrap()), Pace::Fast),
            ))
            .id();
        app.update();
        let failed = sent::<CaptureFailed>(&app);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].session, s);
        assert!(
            failed[0].message.contains("empty.wav") && failed[0].message.contains("contains no audio"),
            "{}",
            failed[0].message
        );
        let ended = sent::<CaptureEnded>(&app);
        assert_eq!((ended.len(), ended[0].samples), (1, 0));
        assert_eq!(app.world().get::<CaptureHealth>(s).unwrap().failure.as_deref(), Some(failed[0].message.as_str()));
        assert!(app.world().get::<CaptureSource>(s).is_none());
        assert!(app.world().get::<CaptureFinished>(s).is_some());
    }
}
