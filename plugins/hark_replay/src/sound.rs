//! Replay's sound: the played audio through an output device (cpal; PulseAudio's default sink
//! in the tests), at 0.5–2× with its pitch kept (Signalsmith Stretch, a phase-vocoder time
//! stretcher: speech at 2× sounds like a fast talker, not a chipmunk).
//!
//! Three parties, as for the microphone:
//! - the device's callback only copies from a wait-free ring to the device and counts the frames
//!   it played (no locks, allocation or logging); a new ring (a seek, a pause, a new speed) is
//!   handed to it through a second ring, and the old one goes back through a third to be
//!   dropped elsewhere;
//! - the player thread (`hark-sound`) opens the device, stretches and resamples what it is fed
//!   from 16 kHz to the device's rate and fills the ring;
//! - the ECS side ([`Speaker`]) feeds it a little ahead of what has been heard and reads the
//!   playhead back from the frames the device has played, so the highlighted word is the one
//!   coming out of the speaker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bevy::prelude::*;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use crossbeam_channel::{Receiver, Sender};
use hark_capture::resample::RateConverter;
use hark_core::SAMPLE_RATE;

/// Seconds of audio the device ring holds (fed at most [`FEED_AHEAD_SECS`] ahead).
const RING_SECS: f32 = 6.0;
/// How far ahead of what was heard the player is fed, seconds of device time. The ECS feeds it
/// once a frame, so this is how long a frame may stall (a busy machine, a slow renderer) before
/// the sound drops out. A seek, pause or new speed is heard at once whatever it is: each starts
/// a fresh ring. (0.4 s dropped out under the test suite's load; 3 s did not.)
pub const FEED_AHEAD_SECS: f64 = 3.0;

enum ToPlayer {
    /// Start a new stretch of sound (`epoch`) at `speed`; what was queued is dropped.
    Start { epoch: u64, speed: f32 },
    /// The next session audio of the current stretch, 16 kHz; `last` when the session ends with
    /// it (the stretcher and resampler then hand out what they hold back).
    Audio { samples: Arc<[f32]>, last: bool },
    /// Silence from now on (paused, closed).
    Stop { epoch: u64 },
}

/// What the callback tells the ECS side.
#[derive(Default)]
struct Shared {
    /// The stretch of sound the callback is playing.
    epoch: AtomicU64,
    /// Device frames of audio (not silence) it has played of that stretch.
    played: AtomicU64,
    failed: AtomicBool,
    cause: OnceLock<String>,
}

/// Whether replay has sound, and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoundState {
    /// The device is being opened.
    Opening,
    /// Playing through this device.
    On { device: String },
    /// No sound: why (no output device, the stream failed). Replay goes on by the app's clock.
    Off(String),
}

/// The ECS side of replay's sound.
#[derive(Resource)]
pub struct Speaker {
    tx: Sender<ToPlayer>,
    opened: Receiver<Result<(String, u32), String>>,
    shared: Arc<Shared>,
    /// The device's rate, once open.
    rate: u32,
    pub state: SoundState,
    epoch: u64,
    /// The stretch being played: the replay entity it belongs to, its speed, the session sample
    /// it started at, and how much session audio has been fed to it.
    running: Option<Running>,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    entity: Entity,
    speed: f32,
    base: u64,
    fed: u64,
}

impl Speaker {
    /// Starts the player thread, which opens `device` (`host:id` as listed by
    /// [`list_output_devices`]), or the default output device.
    pub fn start(device: Option<String>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (report, opened) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let spawned =
            std::thread::Builder::new().name("hark-sound".into()).spawn(move || player(rx, report, s, device));
        let state = match spawned {
            Ok(_) => SoundState::Opening,
            Err(e) => SoundState::Off(format!("the sound thread could not start: {e}")),
        };
        Self { tx, opened, shared, rate: 0, state, epoch: 0, running: None }
    }

    /// Takes the device's answer when it came; true while sound is on.
    pub fn poll(&mut self) -> bool {
        if self.state == SoundState::Opening {
            match self.opened.try_recv() {
                Ok(Ok((device, rate))) => {
                    self.rate = rate;
                    self.state = SoundState::On { device };
                }
                Ok(Err(why)) => self.state = SoundState::Off(why),
                Err(crossbeam_channel::TryRecvError::Empty) => {}
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.state = SoundState::Off("the sound thread stopped".into())
                }
            }
        }
        if matches!(self.state, SoundState::On { .. }) && self.shared.failed.load(Ordering::Relaxed) {
            let cause = self.shared.cause.get().cloned().unwrap_or_default();
            self.state = SoundState::Off(format!("the output device failed: {cause}"));
            self.running = None;
        }
        matches!(self.state, SoundState::On { .. })
    }

    /// Blocks until the device is open or refused (tests).
    pub fn wait_open(&mut self) {
        if self.state == SoundState::Opening {
            let r = self.opened.recv().unwrap_or_else(|_| Err("the sound thread stopped".into()));
            match r {
                Ok((device, rate)) => {
                    self.rate = rate;
                    self.state = SoundState::On { device };
                }
                Err(why) => self.state = SoundState::Off(why),
            }
        }
    }

    /// Makes the sound follow replay: playing `entity` (a stretch of playback starting at
    /// `position`) at `speed`, or silent. Returns the session sample heard so far when playing.
    pub fn follow(&mut self, playing: bool, entity: Entity, position: u64, speed: f32) -> Option<u64> {
        if !playing {
            if self.running.take().is_some() {
                self.epoch += 1;
                let _ = self.tx.send(ToPlayer::Stop { epoch: self.epoch });
            }
            return None;
        }
        let fresh = self.running.is_none_or(|r| r.entity != entity || r.speed != speed);
        if fresh {
            self.epoch += 1;
            let _ = self.tx.send(ToPlayer::Start { epoch: self.epoch, speed });
            self.running = Some(Running { entity, speed, base: position, fed: 0 });
        }
        let r = self.running?;
        let played = if self.shared.epoch.load(Ordering::Acquire) == self.epoch {
            self.shared.played.load(Ordering::Relaxed)
        } else {
            0
        };
        let heard = (played as f64 * SAMPLE_RATE as f64 / self.rate.max(1) as f64 * r.speed as f64) as u64;
        Some(r.base + heard.min(r.fed))
    }

    /// The session sample up to which audio has been fed, when a stretch is running.
    pub fn fed_end(&self) -> Option<u64> {
        self.running.map(|r| r.base + r.fed)
    }

    /// Feeds the next session audio (it must start at [`Speaker::fed_end`]); `last` when the
    /// session's audio ends with it.
    pub fn feed(&mut self, samples: &[f32], last: bool) {
        if let Some(r) = &mut self.running {
            r.fed += samples.len() as u64;
            let _ = self.tx.send(ToPlayer::Audio { samples: samples.into(), last });
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        let _ = self.tx.send(ToPlayer::Stop { epoch: u64::MAX });
    }
}

/// The player thread: opens the device, then turns what it is fed into device audio.
fn player(
    rx: Receiver<ToPlayer>,
    report: Sender<Result<(String, u32), String>>,
    shared: Arc<Shared>,
    device: Option<String>,
) {
    let (mut swaps, swaps_rx) = rtrb::RingBuffer::<(u64, rtrb::Consumer<f32>)>::new(8);
    let (retired_tx, mut retired) = rtrb::RingBuffer::<rtrb::Consumer<f32>>::new(16);
    let opened = open_output(device.as_deref(), swaps_rx, retired_tx, shared.clone());
    let (stream, rate) = match opened {
        Ok((stream, name, rate)) => {
            let _ = report.send(Ok((name, rate)));
            (stream, rate)
        }
        Err(why) => {
            let _ = report.send(Err(why));
            return;
        }
    };
    let ring_len = (rate as f32 * RING_SECS) as usize;
    let mut producer: Option<rtrb::Producer<f32>> = None;
    let mut speed = 1.0f32;
    let mut stretch = signalsmith_stretch::Stretch::preset_default(1, SAMPLE_RATE);
    let mut convert = RateConverter::new(SAMPLE_RATE, rate).ok();
    let (mut stretched, mut out) = (Vec::new(), Vec::new());
    for msg in rx {
        // Rings the callback has let go of are dropped here, not there.
        while retired.pop().is_ok() {}
        match msg {
            ToPlayer::Start { epoch, speed: s } => {
                let (p, c) = rtrb::RingBuffer::new(ring_len);
                if swaps.push((epoch, c)).is_err() {
                    continue;
                }
                producer = Some(p);
                speed = s;
                stretch.reset();
                convert = RateConverter::new(SAMPLE_RATE, rate).ok();
            }
            ToPlayer::Stop { epoch } => {
                if epoch == u64::MAX {
                    break;
                }
                let (_, c) = rtrb::RingBuffer::new(1);
                let _ = swaps.push((epoch, c));
                producer = None;
            }
            ToPlayer::Audio { samples, last } => {
                let (Some(p), Some(conv)) = (producer.as_mut(), convert.as_mut()) else { continue };
                stretched.clear();
                if speed == 1.0 {
                    stretched.extend_from_slice(&samples);
                } else {
                    stretched.resize((samples.len() as f64 / speed as f64).round() as usize, 0.0);
                    stretch.process(&samples[..], &mut stretched[..]);
                    if last {
                        let n = stretched.len();
                        stretched.resize(n + stretch.output_latency(), 0.0);
                        stretch.flush(&mut stretched[n..]);
                    }
                }
                out.clear();
                conv.push(&stretched, &mut out);
                if last {
                    conv.finish(&mut out);
                }
                let mut at = 0;
                // The ring holds far more than is fed ahead; should it be full, the device is
                // behind: wait for it (briefly) rather than drop what is to be heard.
                for _ in 0..200 {
                    let n = (out.len() - at).min(p.slots());
                    if let Ok(chunk) = p.write_chunk_uninit(n) {
                        chunk.fill_from_iter(out[at..at + n].iter().copied());
                    }
                    at += n;
                    if at == out.len() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    drop(stream);
}

type Opened = (cpal::Stream, String, u32);

/// An output device as the device picker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDevice {
    /// `host:id`, stable across runs; what settings store.
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

/// All output devices of all hosts that can give a configuration (PulseAudio first where its
/// server runs, then ALSA); none is an empty list, not an error. Probing devices can take a
/// while: call it off the frame.
pub fn list_output_devices() -> Vec<OutputDevice> {
    let mut out = Vec::new();
    for hid in cpal::available_hosts() {
        let Ok(host) = cpal::host_from_id(hid) else { continue };
        let default_id = host.default_output_device().and_then(|d| d.id().ok()).map(|i| i.to_string());
        let Ok(devices) = host.output_devices() else { continue };
        for dev in devices {
            if dev.default_output_config().is_err() {
                continue;
            }
            let Ok(id) = dev.id() else { continue };
            let id = id.to_string();
            // ALSA's `null` device plays into nothing: not a speaker.
            if id.ends_with(":null") {
                continue;
            }
            let name = dev.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| dev.to_string());
            out.push(OutputDevice { is_default: Some(&id) == default_id.as_ref(), id, name });
        }
    }
    out
}

fn find_output(id: &str) -> Result<cpal::Device, String> {
    let parsed: cpal::DeviceId =
        id.parse().map_err(|_| format!("{id:?} is not an output device id (see the device list)"))?;
    let host = cpal::host_from_id(parsed.host()).map_err(|e| format!("audio host of {id}: {e}"))?;
    host.device_by_id(&parsed).ok_or_else(|| format!("output device {id} is not connected"))
}

fn open_output(
    device: Option<&str>,
    swaps: rtrb::Consumer<(u64, rtrb::Consumer<f32>)>,
    retired: rtrb::Producer<rtrb::Consumer<f32>>,
    shared: Arc<Shared>,
) -> Result<Opened, String> {
    let dev = match device {
        Some(id) => find_output(id)?,
        None => cpal::default_host().default_output_device().ok_or_else(|| "no output device was found".to_owned())?,
    };
    let name = dev.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| dev.to_string());
    let sup = dev.default_output_config().map_err(|e| format!("output device {name} is not available: {e}"))?;
    let mut cfg = sup.config();
    if let cpal::SupportedBufferSize::Range { min, max } = *sup.buffer_size() {
        // 50 ms periods: a seek is heard within a period or two.
        cfg.buffer_size = cpal::BufferSize::Fixed((cfg.sample_rate / 20).clamp(min, max));
    }
    let rate = cfg.sample_rate;
    let stream = match sup.sample_format() {
        SampleFormat::F32 => build::<f32>(&dev, cfg, swaps, retired, shared),
        SampleFormat::I16 => build::<i16>(&dev, cfg, swaps, retired, shared),
        SampleFormat::I32 => build::<i32>(&dev, cfg, swaps, retired, shared),
        SampleFormat::U16 => build::<u16>(&dev, cfg, swaps, retired, shared),
        SampleFormat::U8 => build::<u8>(&dev, cfg, swaps, retired, shared),
        f => return Err(format!("{name}: unsupported sample format {f}")),
    }
    .map_err(|e| format!("cannot open {name}: {e}"))?;
    stream.play().map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok((stream, name, rate))
}

fn build<T>(
    dev: &cpal::Device,
    cfg: cpal::StreamConfig,
    mut swaps: rtrb::Consumer<(u64, rtrb::Consumer<f32>)>,
    mut retired: rtrb::Producer<rtrb::Consumer<f32>>,
    shared: Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let ch = cfg.channels.max(1) as usize;
    let (_, empty) = rtrb::RingBuffer::<f32>::new(1);
    let mut ring = empty;
    let on_error = shared.clone();
    dev.build_output_stream::<T, _, _>(
        cfg,
        // Real-time thread: no locks, no allocation, no logging.
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            while let Ok((epoch, next)) = swaps.pop() {
                let old = std::mem::replace(&mut ring, next);
                if let Err(rtrb::PushError::Full(old)) = retired.push(old) {
                    // Never expected (the player empties it before each message); leaking one
                    // small ring beats freeing memory here.
                    std::mem::forget(old);
                }
                shared.played.store(0, Ordering::Relaxed);
                shared.epoch.store(epoch, Ordering::Release);
            }
            let frames = data.len() / ch;
            let mut got = 0;
            if let Ok(chunk) = ring.read_chunk(frames.min(ring.slots())) {
                let (a, b) = chunk.as_slices();
                for (frame, &s) in data.chunks_exact_mut(ch).zip(a.iter().chain(b)) {
                    frame.fill(T::from_sample(s));
                }
                got = a.len() + b.len();
                chunk.commit_all();
            }
            for x in &mut data[got * ch..] {
                *x = T::EQUILIBRIUM;
            }
            shared.played.fetch_add(got as u64, Ordering::Relaxed);
        },
        move |err: cpal::Error| {
            if err.kind() != cpal::ErrorKind::Xrun {
                let _ = on_error.cause.set(err.to_string());
                on_error.failed.store(true, Ordering::Relaxed);
            }
        },
        Some(Duration::from_secs(3)),
    )
}
