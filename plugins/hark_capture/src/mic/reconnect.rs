//! A lost microphone, looked for again until it is back (or a stream the server moved away,
//! opened again on the chosen device).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::MicSource;

/// A lost microphone, looked for again: a thread of its own tries to open what was asked for
/// (the same device, or whatever is the default when the default was asked for) once a second,
/// because opening can block on a sound server that is gone. The stream it opens is handed over
/// by [`Reconnect::poll`].
pub struct Reconnect {
    /// The lost device's name.
    pub description: String,
    /// Why it was lost.
    pub cause: String,
    /// What happened, in a sentence (for the user and the gap's mark).
    pub reason: String,
    /// Opening a device that is there (the stream was moved away), not looking for a lost one.
    pub reopening: bool,
    found: std::sync::mpsc::Receiver<MicSource>,
    give_up: Arc<AtomicBool>,
    /// When the device was last heard; silence is owed from here to now.
    owed_from: Instant,
    /// Samples of silence handed out since then.
    pub filled: u64,
    /// Where in the session the silence starts (set by whoever keeps the session's clock).
    pub at: u64,
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnect").field("description", &self.description).field("cause", &self.cause).finish()
    }
}

/// How often a lost device is looked for.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// A device that was never there is looked for less and less often, up to this (each try can
/// cost the host a device scan, and ALSA without a sound card says so on stderr every time).
const ABSENT_MAX_WAIT: Duration = Duration::from_secs(8);

impl Reconnect {
    /// Starts looking for `lost` again; the silence owed starts where its audio stopped.
    pub fn start(lost: &MicSource, cause: String) -> Self {
        let reason = format!("lost input device {}: {cause}", lost.description);
        Self::start_after(lost, cause, reason, RECONNECT_EVERY)
    }

    /// Opens `m`'s device again at once, without its current stream (the server moved it to
    /// another device).
    pub fn reopen(m: &MicSource, default: &str) -> Self {
        let cause = format!("the default input changed to {default}, and the stream went with it");
        let reason = format!("the system's default input changed to {default}; {} is opened again", m.description);
        Self::start_after(m, cause, reason, Duration::ZERO)
    }

    /// Looks for a device that could not be opened at all (none there yet): the recall
    /// buffer turned on before any microphone is plugged in starts listening once one is.
    pub fn absent(device: Option<&str>, seconds: f32, cause: String) -> Self {
        let asked = MicSource::background_asked(device, seconds);
        let description = device.unwrap_or("the default input").to_owned();
        let reason = format!("no input device to listen on ({cause})");
        Self::looking(asked, description, cause, reason, RECONNECT_EVERY, Instant::now(), ABSENT_MAX_WAIT)
    }

    fn start_after(lost: &MicSource, cause: String, reason: String, first_try: Duration) -> Self {
        let owed_from = Instant::now().checked_sub(lost.silent_for()).unwrap_or_else(Instant::now);
        Self::looking(
            lost.asked.clone(),
            lost.description.clone(),
            cause,
            reason,
            first_try,
            owed_from,
            RECONNECT_EVERY,
        )
    }

    fn looking(
        asked: super::Asked,
        description: String,
        cause: String,
        reason: String,
        first_try: Duration,
        owed_from: Instant,
        max_wait: Duration,
    ) -> Self {
        let (tx, found) = std::sync::mpsc::sync_channel(1);
        let give_up = Arc::new(AtomicBool::new(false));
        let stop = give_up.clone();
        let spawned = std::thread::Builder::new().name("hark-mic-reconnect".into()).spawn(move || {
            let mut wait = first_try;
            while !stop.load(Ordering::Relaxed) {
                // After a loss not at once: the server is still tearing the old stream down.
                std::thread::sleep(wait);
                wait = (wait * 2).clamp(RECONNECT_EVERY, max_wait);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(mic) = MicSource::open_with(&asked) {
                    let _ = tx.send(mic);
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            log::warn!("cannot look for {description} again: {e}");
        }
        let reopening = first_try.is_zero();
        Self { description, cause, reason, reopening, found, give_up, owed_from, filled: 0, at: 0 }
    }

    /// The device's stream, once it is open again.
    pub fn poll(&mut self) -> Option<MicSource> {
        self.found.try_recv().ok()
    }

    /// Appends the silence (16 kHz) owed for the time without the device up to now, so the
    /// session's timeline stays true and an utterance cut off by the loss closes.
    pub fn fill(&mut self, out: &mut Vec<f32>) {
        let due = (self.owed_from.elapsed().as_secs_f64() * hark_core::SAMPLE_RATE as f64) as u64;
        let n = due.saturating_sub(self.filled);
        out.resize(out.len() + n as usize, 0.0);
        self.filled += n;
    }

    /// What to tell the user while this lasts: a lost device at once, a reopened one only if
    /// it takes more than a moment.
    pub fn waiting(&self) -> Option<String> {
        match self.reopening {
            false => Some(self.reason.clone()),
            true if self.absent_secs() > 5.0 => Some(format!("{}: it does not open", self.reason)),
            true => None,
        }
    }

    /// Seconds without the device so far.
    pub fn absent_secs(&self) -> f64 {
        self.owed_from.elapsed().as_secs_f64()
    }
}

impl Drop for Reconnect {
    fn drop(&mut self) {
        self.give_up.store(true, Ordering::Relaxed);
    }
}
