//! Microphones through cpal. The audio callback only downmixes into a wait-free ring buffer
//! (rtrb) and counts overruns in an atomic; resampling happens on the ECS side.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use crate::CaptureError;
use crate::resample::To16k;

/// An input device as the device picker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDevice {
    /// `host:id`, stable across runs; what settings store.
    pub id: String,
    /// Human name.
    pub name: String,
    pub host: String,
    pub is_default: bool,
}

/// All input devices of all hosts (PulseAudio first where its server runs, then ALSA).
/// Devices that cannot be queried are left out; no devices is an empty list, not an error.
pub fn list_input_devices() -> Vec<InputDevice> {
    let mut out = Vec::new();
    for hid in cpal::available_hosts() {
        let Ok(host) = cpal::host_from_id(hid) else {
            continue;
        };
        let default_id = host.default_input_device().and_then(|d| d.id().ok()).map(|i| i.to_string());
        let Ok(devices) = host.input_devices() else {
            continue;
        };
        for dev in devices {
            // A device that cannot give a config (ALSA's default with no sound card) is unusable.
            if dev.default_input_config().is_err() {
                continue;
            }
            let Ok(id) = dev.id() else { continue };
            let id = id.to_string();
            // ALSA's `null` device captures endless zeros: not a microphone.
            if id.ends_with(":null") {
                continue;
            }
            let name = dev.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| dev.to_string());
            out.push(InputDevice {
                is_default: Some(&id) == default_id.as_ref(),
                id,
                name,
                host: hid.name().to_owned(),
            });
        }
    }
    out
}

/// A running input stream.
pub struct MicSource {
    _stream: cpal::Stream,
    rx: rtrb::Consumer<f32>,
    resampler: To16k,
    scratch: Vec<f32>,
    overruns: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    /// What the user sees: the device's name.
    pub description: String,
    pub device_rate: u32,
}

impl std::fmt::Debug for MicSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicSource").field("description", &self.description).finish()
    }
}

impl MicSource {
    /// Opens `device_id` (`host:id` as listed), or the default input device.
    pub fn open(device_id: Option<&str>) -> Result<Self, CaptureError> {
        Self::open_with(device_id, 2.0, Some(0.05))
    }

    /// For an always-on stream nobody waits on (the recall buffer): a ring holding `seconds`
    /// between drains, and callbacks every 200 ms where the host lets us choose, so the audio
    /// threads wake five times a second instead of every few milliseconds.
    pub fn open_background(device_id: Option<&str>, seconds: f32) -> Result<Self, CaptureError> {
        Self::open_with(device_id, seconds, Some(0.2))
    }

    fn open_with(device_id: Option<&str>, seconds: f32, period_secs: Option<f32>) -> Result<Self, CaptureError> {
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
        if let (Some(p), cpal::SupportedBufferSize::Range { min, max }) = (period_secs, *sup.buffer_size()) {
            cfg.buffer_size = cpal::BufferSize::Fixed(((cfg.sample_rate as f32 * p) as u32).clamp(min, max));
        }
        let (tx, rx) = rtrb::RingBuffer::new((cfg.sample_rate as f32 * seconds.max(0.1)) as usize);
        let overruns = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let stream = match sup.sample_format() {
            SampleFormat::F32 => build::<f32>(&dev, cfg, tx, &overruns, &failed),
            SampleFormat::I16 => build::<i16>(&dev, cfg, tx, &overruns, &failed),
            SampleFormat::I32 => build::<i32>(&dev, cfg, tx, &overruns, &failed),
            SampleFormat::I24 => build::<cpal::I24>(&dev, cfg, tx, &overruns, &failed),
            SampleFormat::U16 => build::<u16>(&dev, cfg, tx, &overruns, &failed),
            SampleFormat::U8 => build::<u8>(&dev, cfg, tx, &overruns, &failed),
            f => {
                return Err(CaptureError::NoDevice(format!("{description}: unsupported sample format {f}")));
            }
        }
        .map_err(|e| CaptureError::NoDevice(format!("cannot open {description}: {e}")))?;
        stream.play().map_err(|e| CaptureError::NoDevice(format!("cannot start {description}: {e}")))?;
        Ok(Self {
            _stream: stream,
            rx,
            resampler: To16k::new(cfg.sample_rate).map_err(CaptureError::NoDevice)?,
            scratch: vec![0.0; cfg.sample_rate as usize],
            overruns,
            failed,
            description,
            device_rate: cfg.sample_rate,
        })
    }

    /// Moves everything the callback delivered so far, at 16 kHz, into `out`.
    pub fn pull(&mut self, out: &mut Vec<f32>) -> Result<(), CaptureError> {
        loop {
            let (got, _) = self.rx.pop_partial_slice(&mut self.scratch);
            let n = got.len();
            if n == 0 {
                break;
            }
            self.resampler.push(&self.scratch[..n], out);
        }
        if self.failed.load(Ordering::Relaxed) {
            self.resampler.finish(out);
            return Err(CaptureError::DeviceLost(self.description.clone()));
        }
        Ok(())
    }

    /// Samples dropped because the ECS did not drain the ring in time.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }
}

fn build<T>(
    dev: &cpal::Device,
    cfg: StreamConfig,
    mut tx: rtrb::Producer<f32>,
    overruns: &Arc<AtomicU64>,
    failed: &Arc<AtomicBool>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let ch = cfg.channels.max(1) as usize;
    let inv = 1.0 / ch as f32;
    let overruns = overruns.clone();
    let failed = failed.clone();
    dev.build_input_stream::<T, _, _>(
        cfg,
        // Real-time thread: no locks, no allocation, no logging.
        move |data: &[T], _info: &cpal::InputCallbackInfo| {
            let frames = data.len() / ch;
            let n = frames.min(tx.slots());
            if n < frames {
                overruns.fetch_add((frames - n) as u64, Ordering::Relaxed);
            }
            if let Ok(chunk) = tx.write_chunk_uninit(n) {
                chunk.fill_from_iter(
                    data.chunks_exact(ch).take(n).map(|f| f.iter().map(|&s| s.to_sample::<f32>()).sum::<f32>() * inv),
                );
            }
        },
        move |err: cpal::Error| {
            if err.kind() != cpal::ErrorKind::Xrun {
                failed.store(true, Ordering::Relaxed);
            }
        },
        None,
    )
}
