//! Microphones through cpal. The audio callback only downmixes into a wait-free ring buffer
//! (rtrb) and counts overruns and host gaps in atomics; resampling happens on the ECS side.
//!
//! A stream can fail three ways without the callback ever seeing an error, and each is made
//! loud here: the host loses audio (a device moved, a server stalled: found from the capture
//! timestamps, filled with silence so the timeline stays true, and counted); the stream stops
//! delivering (a sound server killed under ALSA's pulse plugin deadlocks its own thread: found
//! by a watchdog on the ECS side); and closing such a stream would block on that thread (so it
//! is closed on a thread of its own, and left behind if it does not finish).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use crate::CaptureError;
use crate::resample::RateConverter;

mod devices;
mod reconnect;
pub use devices::{InputDevice, list_input_devices, recognisable};
pub use reconnect::Reconnect;

/// A running input stream.
pub struct MicSource {
    stream: Option<cpal::Stream>,
    rx: rtrb::Consumer<f32>,
    resampler: RateConverter,
    scratch: Vec<f32>,
    shared: Arc<Shared>,
    /// When audio last arrived (or the stream started).
    last_audio: Instant,
    /// Whether any audio arrived yet (a device may take a while to start).
    started: bool,
    /// No audio for this long from a running stream means it is dead.
    stall_after: Duration,
    /// What the user sees: the device's name.
    pub description: String,
    pub device_rate: u32,
    /// How it was opened, to open it again when it comes back after a loss.
    asked: Asked,
    /// The system's default input as last seen.
    current_default: Option<String>,
    /// The sound server's default input as it changes (PulseAudio moves streams that were on
    /// the default with it).
    defaults: Option<DefaultWatch>,
}

/// A thread that asks the sound server for its default input twice a second and sends each
/// change (device id, name).
struct DefaultWatch {
    changes: std::sync::mpsc::Receiver<(String, String)>,
    stop: Arc<AtomicBool>,
}

/// How a stream was asked for.
#[derive(Debug, Clone)]
struct Asked {
    /// The device (`host:id`), or the default.
    device: Option<String>,
    /// Seconds the ring holds.
    ring_secs: f32,
    /// The callback period asked of the host.
    period_secs: Option<f32>,
    /// Whether to follow the system's default input (a capture; not the recall buffer, which
    /// must not wake the machine twice a second).
    watch_default: bool,
}

/// How often the default input is asked for.
const DEFAULT_POLL: Duration = Duration::from_millis(500);

impl DefaultWatch {
    fn start(host_id: cpal::HostId, first: Option<String>) -> Option<Self> {
        let (tx, changes) = std::sync::mpsc::sync_channel(8);
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        std::thread::Builder::new()
            .name("hark-default-input".into())
            .spawn(move || {
                let Ok(host) = cpal::host_from_id(host_id) else { return };
                let mut last = first;
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(DEFAULT_POLL);
                    let Some(dev) = host.default_input_device() else { continue };
                    let Ok(id) = dev.id().map(|i| i.to_string()) else { continue };
                    if last.as_deref() != Some(id.as_str()) {
                        let name = dev.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| dev.to_string());
                        if tx.try_send((id.clone(), name)).is_err() && done.load(Ordering::Relaxed) {
                            return;
                        }
                        last = Some(id);
                    }
                }
            })
            .ok()?;
        Some(Self { changes, stop })
    }
}

impl Drop for DefaultWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a change of the system's default input means for a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultChange {
    /// The default was asked for, and the stream follows it (the server moved it).
    Followed(String),
    /// A device was chosen, and the server moved the stream away with the default: the chosen
    /// device must be opened again.
    Reopen { default: String },
}

/// What the audio callback and the error callback report to the ECS side.
#[derive(Debug, Default)]
struct Shared {
    /// Frames dropped because the ring was full (the ECS did not drain it in time).
    overruns: AtomicU64,
    /// Frames the host never delivered (capture timestamps ran ahead of the frames); up to a
    /// ring's worth of each gap is filled with silence.
    lost: AtomicU64,
    /// Host-reported overruns (xruns).
    xruns: AtomicU64,
    failed: AtomicBool,
    /// The host's first error message (the error callback is not the audio callback).
    cause: OnceLock<String>,
}

/// Shortest callback period asked of PulseAudio (see `open_with`).
const PULSE_MIN_PERIOD_SECS: f32 = 0.25;

/// A gap in the capture timestamps at least this long is audio the host lost: shorter ones are
/// timestamp jitter (PulseAudio's are interpolated from latency polls).
const GAP_FILL_SECS: f64 = 0.25;

impl std::fmt::Debug for MicSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicSource").field("description", &self.description).finish()
    }
}

impl MicSource {
    /// Opens `device_id` (`host:id` as listed), or the default input device.
    pub fn open(device_id: Option<&str>) -> Result<Self, CaptureError> {
        Self::open_with(&Asked {
            device: device_id.map(str::to_owned),
            ring_secs: 2.0,
            period_secs: Some(0.05),
            watch_default: true,
        })
    }

    /// For an always-on stream nobody waits on (the recall buffer): a ring holding `seconds`
    /// between drains, and callbacks every 200 ms where the host lets us choose, so the audio
    /// threads wake five times a second instead of every few milliseconds.
    pub fn open_background(device_id: Option<&str>, seconds: f32) -> Result<Self, CaptureError> {
        Self::open_with(&Self::background_asked(device_id, seconds))
    }

    /// Whether an error from opening a device can end by itself (a device plugged in, a sound
    /// server started, a busy device freed) rather than last (a malformed id, a host or format
    /// this build cannot use): only the first is worth waiting for.
    pub(crate) fn may_pass(e: &CaptureError) -> bool {
        match e {
            CaptureError::NoDevice(m) => {
                !(m.contains("is not a device id")
                    || m.contains("unsupported sample format")
                    || m.starts_with("audio host of"))
            }
            _ => true,
        }
    }

    /// How a background stream (the recall buffer's) asks for its device.
    fn background_asked(device_id: Option<&str>, seconds: f32) -> Asked {
        Asked { device: device_id.map(str::to_owned), ring_secs: seconds, period_secs: Some(0.2), watch_default: false }
    }

    fn open_with(asked: &Asked) -> Result<Self, CaptureError> {
        let (device_id, seconds, period_secs) = (asked.device.as_deref(), asked.ring_secs, asked.period_secs);
        let dev = match device_id {
            Some(id) => {
                let parsed: cpal::DeviceId = id
                    .parse()
                    .map_err(|_| CaptureError::NoDevice(format!("{id:?} is not a device id (see the device list)")))?;
                let host = cpal::host_from_id(parsed.host())
                    .map_err(|e| CaptureError::NoDevice(format!("audio host of {id}: {e}")))?;
                host.device_by_id(&parsed)
                    .ok_or_else(|| CaptureError::NoDevice(format!("input device {id} is not connected")))?
            }
            None => cpal::default_host()
                .default_input_device()
                .ok_or_else(|| CaptureError::NoDevice("no input device was found".into()))?,
        };
        let description = dev.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| dev.to_string());
        let sup = dev
            .default_input_config()
            .map_err(|e| CaptureError::NoDevice(format!("input device {description} is not available: {e}")))?;
        let mut cfg = sup.config();
        // cpal's PulseAudio host makes the server's whole record buffer one callback period
        // long, so the server drops audio whenever our stream thread is late by more than a
        // period (a busy machine lost 0.1 s in 9 s with 50 ms; nothing reports it). A longer
        // period there is the only way to a deeper server buffer.
        let pulse = dev.id().is_ok_and(|i| i.host().name() == "PulseAudio");
        let period_secs = period_secs.map(|p| if pulse { p.max(PULSE_MIN_PERIOD_SECS) } else { p });
        if let (Some(p), cpal::SupportedBufferSize::Range { min, max }) = (period_secs, *sup.buffer_size()) {
            cfg.buffer_size = cpal::BufferSize::Fixed(((cfg.sample_rate as f32 * p) as u32).clamp(min, max));
        }
        let host_id = dev.id().map(|i| i.host()).ok();
        let current_default = if pulse && asked.watch_default {
            host_id
                .and_then(|h| cpal::host_from_id(h).ok())
                .and_then(|h| h.default_input_device())
                .and_then(|d| d.id().ok())
                .map(|i| i.to_string())
        } else {
            None
        };
        let (tx, rx) = rtrb::RingBuffer::new((cfg.sample_rate as f32 * seconds.max(0.1)) as usize);
        let shared = Arc::new(Shared::default());
        let stream = match sup.sample_format() {
            SampleFormat::F32 => build::<f32>(&dev, cfg, tx, &shared),
            SampleFormat::I16 => build::<i16>(&dev, cfg, tx, &shared),
            SampleFormat::I32 => build::<i32>(&dev, cfg, tx, &shared),
            SampleFormat::I24 => build::<cpal::I24>(&dev, cfg, tx, &shared),
            SampleFormat::U16 => build::<u16>(&dev, cfg, tx, &shared),
            SampleFormat::U8 => build::<u8>(&dev, cfg, tx, &shared),
            f => {
                return Err(CaptureError::NoDevice(format!("{description}: unsupported sample format {f}")));
            }
        }
        .map_err(|e| CaptureError::NoDevice(format!("cannot open {description}: {e}")))?;
        stream.play().map_err(|e| CaptureError::NoDevice(format!("cannot start {description}: {e}")))?;
        // A live stream delivers every period; five seconds without audio is a dead one. (A
        // stream PulseAudio moves to another source pauses ~1.9 s: that is a gap, not a death.)
        let period = period_secs.unwrap_or(0.1) as f64;
        Ok(Self {
            stream: Some(stream),
            rx,
            resampler: RateConverter::to_16k(cfg.sample_rate).map_err(|e| CaptureError::NoDevice(e.to_string()))?,
            scratch: vec![0.0; cfg.sample_rate as usize],
            shared,
            last_audio: Instant::now(),
            started: false,
            stall_after: Duration::from_secs_f64((period * 10.0).max(5.0)),
            description,
            device_rate: cfg.sample_rate,
            asked: asked.clone(),
            defaults: if pulse && asked.watch_default {
                host_id.and_then(|h| DefaultWatch::start(h, current_default.clone()))
            } else {
                None
            },
            current_default,
        })
    }

    /// The system's default input changed since the last call (PulseAudio's host), and what
    /// that means for this stream.
    pub fn default_change(&mut self) -> Option<DefaultChange> {
        let watch = self.defaults.as_ref()?;
        let (id, name) = watch.changes.try_iter().last()?;
        let was = self.current_default.replace(id.clone());
        match &self.asked.device {
            None => Some(DefaultChange::Followed(name)),
            // PulseAudio moves the streams on the default input with it, also one that asked
            // for that device by name; a stream on another device stays where it is.
            Some(chosen) if was.as_ref() == Some(chosen) && *chosen != id => {
                Some(DefaultChange::Reopen { default: name })
            }
            Some(_) => None,
        }
    }

    /// How long no audio has come (since the last that did, or since the stream started).
    pub fn silent_for(&self) -> Duration {
        self.last_audio.elapsed()
    }

    /// Moves everything the callback delivered so far, at 16 kHz, into `out`. A stream that
    /// failed, or stopped delivering audio, is an error naming the device and the cause.
    pub fn pull(&mut self, out: &mut Vec<f32>) -> Result<(), CaptureError> {
        self.pull_at(out, Instant::now())
    }

    fn pull_at(&mut self, out: &mut Vec<f32>, now: Instant) -> Result<(), CaptureError> {
        let mut got_any = false;
        loop {
            let (got, _) = self.rx.pop_partial_slice(&mut self.scratch);
            let n = got.len();
            if n == 0 {
                break;
            }
            got_any = true;
            self.resampler.push(&self.scratch[..n], out);
        }
        if got_any {
            self.last_audio = now;
            self.started = true;
        }
        let failed = self.shared.failed.load(Ordering::Relaxed);
        let limit = if self.started { self.stall_after } else { self.stall_after * 2 };
        let stalled = now.saturating_duration_since(self.last_audio) >= limit;
        if failed || stalled {
            self.resampler.finish(out);
            let cause = match self.shared.cause.get() {
                Some(c) => c.clone(),
                None => format!("no audio for {:.1} s (sound server gone?)", limit.as_secs_f64()),
            };
            return Err(CaptureError::DeviceLost { device: self.description.clone(), cause });
        }
        Ok(())
    }

    /// Flushes the resampler's last samples into `out` (the stream is being stopped).
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        self.resampler.finish(out);
    }

    /// Samples dropped because the ECS did not drain the ring in time.
    pub fn overruns(&self) -> u64 {
        self.shared.overruns.load(Ordering::Relaxed)
    }

    /// Samples (at the device rate) the host lost and that were filled with silence.
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Overruns the host itself reported.
    pub fn xruns(&self) -> u64 {
        self.shared.xruns.load(Ordering::Relaxed)
    }
}

impl Drop for MicSource {
    fn drop(&mut self) {
        // Closing joins the host's stream thread; a stream whose server died can be deadlocked
        // inside the host library. Close it on a thread of its own and wait a little: a healthy
        // stream is closed before we return, a stuck one is left behind instead of stopping us.
        let Some(stream) = self.stream.take() else { return };
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new().name("hark-mic-close".into()).spawn(move || {
            drop(stream);
            let _ = tx.send(());
        });
        if spawned.is_ok() && rx.recv_timeout(Duration::from_millis(500)).is_err() {
            log::warn!("the audio stream of {} did not close; left behind", self.description);
        }
    }
}

fn build<T>(
    dev: &cpal::Device,
    cfg: StreamConfig,
    mut tx: rtrb::Producer<f32>,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let ch = cfg.channels.max(1) as usize;
    let rate = cfg.sample_rate as f64;
    // Made here: the callback must not allocate.
    let mut mix = crate::resample::Downmix::new(ch, rate);
    let on_data = shared.clone();
    let on_error = shared.clone();
    let mut timeline = Timeline::new(rate);
    dev.build_input_stream::<T, _, _>(
        cfg,
        // Real-time thread: no locks, no allocation, no logging.
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let frames = data.len() / ch;
            let ts = info.timestamp();
            let gap = timeline.gap_before(ts.capture, ts.callback, frames as u64);
            if gap > 0 {
                // The host skipped this much: say so, and keep the timeline true with silence
                // (as far as the ring holds beside this callback's own frames, which come first).
                let n = (gap as usize).min(tx.slots().saturating_sub(frames));
                if let Ok(chunk) = tx.write_chunk_uninit(n) {
                    chunk.fill_from_iter(std::iter::repeat_n(0.0, n));
                }
                on_data.lost.fetch_add(gap, Ordering::Relaxed);
            }
            let n = frames.min(tx.slots());
            if n < frames {
                on_data.overruns.fetch_add((frames - n) as u64, Ordering::Relaxed);
            }
            if let Ok(chunk) = tx.write_chunk_uninit(n) {
                chunk.fill_from_iter(data.chunks_exact(ch).take(n).map(|f| mix.frame(|c| f[c].to_sample::<f32>())));
            }
        },
        move |err: cpal::Error| {
            if err.kind() == cpal::ErrorKind::Xrun {
                on_error.xruns.fetch_add(1, Ordering::Relaxed);
            } else {
                let _ = on_error.cause.set(err.to_string());
                on_error.failed.store(true, Ordering::Relaxed);
            }
        },
        // A sound server that hangs must not hang whoever opens the stream.
        Some(Duration::from_secs(3)),
    )
}

/// The stream's own timeline: where its clock started and the frames delivered since (silence
/// fills included), which the capture timestamps must agree with.
#[derive(Debug)]
struct Timeline {
    rate: f64,
    origin: Option<cpal::StreamInstant>,
    /// The previous callback: when it ran and how many frames it brought.
    last_callback: Option<(cpal::StreamInstant, u64)>,
    delivered: u64,
    fill: u64,
}

impl Timeline {
    fn new(rate: f64) -> Self {
        Self { rate, origin: None, last_callback: None, delivered: 0, fill: (GAP_FILL_SECS * rate) as u64 }
    }

    /// Frames the host lost before a callback of `frames` captured at `capture` and run at
    /// `callback` (0 for none), counting them and the callback as delivered.
    ///
    /// Audio is lost when the capture time runs ahead of the frames delivered *and* the
    /// callbacks stopped for that long (a device moved, a server stalled). A jump while the
    /// callbacks kept coming is the host re-estimating its latency (ALSA's pulse plugin does
    /// 0.3 s a second into a stream): the timeline moves, nothing is lost.
    fn gap_before(&mut self, capture: cpal::StreamInstant, callback: cpal::StreamInstant, frames: u64) -> u64 {
        let o = *self.origin.get_or_insert(capture);
        // How much longer than its own audio the wait for this callback was (a 200 ms buffer
        // arriving 200 ms after the last one is no pause).
        let paused =
            self.last_callback.map_or(0.0, |(t, n)| callback.duration_since(t).as_secs_f64() - n as f64 / self.rate);
        self.last_callback = Some((callback, frames));
        let expected = (capture.duration_since(o).as_secs_f64() * self.rate) as u64;
        let ahead = expected.saturating_sub(self.delivered);
        let behind = self.delivered.saturating_sub(expected);
        let mut gap = 0;
        if ahead >= self.fill && paused * self.rate >= self.fill as f64 {
            gap = ahead;
        } else if ahead >= self.fill || behind >= self.fill {
            let at = self.delivered as f64 / self.rate;
            self.origin = capture.checked_sub(Duration::from_secs_f64(at)).or(self.origin);
        }
        self.delivered += gap + frames;
        gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> cpal::StreamInstant {
        cpal::StreamInstant::new(secs as u64, ((secs.fract()) * 1e9) as u32)
    }

    #[test]
    fn timeline_finds_what_the_host_skipped() {
        let mut t = Timeline::new(1000.0);
        // 50 ms callbacks with a few ms of jitter: nothing lost.
        let mut time = 10.0;
        for i in 0..100 {
            let jitter = if i % 2 == 0 { 0.004 } else { -0.003 };
            assert_eq!(t.gap_before(at(time + jitter), at(time + 0.01), 50), 0, "callback {i}");
            time += 0.05;
        }
        // The device moves: 1.9 s of callbacks never come (within the first callback's
        // jitter: the origin is its timestamp).
        time += 1.9;
        assert!(t.gap_before(at(time), at(time + 0.01), 50).abs_diff(1900) <= 5);
        time += 0.05;
        assert_eq!(t.gap_before(at(time), at(time + 0.01), 50), 0, "the fill keeps later callbacks on time");
        // A jump under the fill threshold is jitter, not loss.
        time += 0.2;
        assert_eq!(t.gap_before(at(time), at(time + 0.01), 50), 0);
    }

    #[test]
    fn a_latency_estimate_that_jumps_loses_nothing() {
        let mut t = Timeline::new(1000.0);
        let mut time = 1.0;
        for _ in 0..20 {
            assert_eq!(t.gap_before(at(time), at(time + 0.02), 50), 0);
            time += 0.05;
        }
        // The capture times jump 0.3 s while the callbacks keep their 50 ms pace: the host
        // re-estimated its latency.
        let mut capture = time + 0.3;
        for _ in 0..20 {
            assert_eq!(t.gap_before(at(capture), at(time + 0.02), 50), 0);
            time += 0.05;
            capture += 0.05;
        }
        // From the new timeline, a real pause of 0.5 s is a loss of 0.5 s.
        time += 0.5;
        capture += 0.5;
        assert!(t.gap_before(at(capture), at(time + 0.02), 50).abs_diff(500) <= 1);
        // A burst after the process was descheduled: callbacks late, capture times in order.
        time += 0.05;
        capture += 0.05;
        assert_eq!(t.gap_before(at(capture), at(time + 0.6), 50), 0);
    }
}
