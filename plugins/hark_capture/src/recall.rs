//! The always-on recall buffer ("transcribe what I just said"): a background input stream
//! drained by its own thread into a bounded buffer of the last seconds of 16 kHz audio.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy::prelude::*;

use crate::{CaptureError, MicSource};

/// The always-on buffer behind "transcribe what I just said": its own input stream, drained by a
/// small thread (not the ECS, so an idle window needs no wake-ups) into at most
/// `recall_seconds` of 16 kHz audio (memory-bounded: 30 s is 1.9 MB). Choosing another input
/// device moves the stream there; what the buffer holds stays (it is still what was just said).
/// A device lost is looked for again until it is back (silence meanwhile).
#[derive(Resource)]
pub struct Recall {
    buf: Arc<Mutex<VecDeque<f32>>>,
    /// Tells the current drain thread to end and drop its stream.
    stop: Arc<AtomicBool>,
    /// Why the stream ended by itself (device unplugged), once it has.
    failure: Arc<Mutex<Option<CaptureError>>>,
    /// How often the thread drains the stream.
    period: Duration,
    /// Whether a microphone is open for it now (not while one is looked for).
    listening: Arc<AtomicBool>,
    /// Whether it has heard a microphone at all since it was opened (what it holds is more
    /// than the silence kept while it looked for one).
    heard: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Default for Recall {
    fn default() -> Self {
        Self {
            buf: Arc::default(),
            stop: Arc::new(AtomicBool::new(true)),
            failure: Arc::default(),
            period: Duration::from_millis(500),
            // A stream given to `start` as it is (the tests' stand-ins) is heard from the first
            // pull; `open` sets these for the microphone it opens or looks for.
            listening: Arc::new(AtomicBool::new(true)),
            heard: Arc::new(AtomicBool::new(true)),
            thread: None,
        }
    }
}

impl Drop for Recall {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Recall {
    /// (Re)opens the always-on stream on `device` (None: the default input), keeping the last
    /// `seconds` of audio; 0 turns the buffer off.
    pub fn open(&mut self, device: Option<&str>, seconds: u32) -> Result<(), CaptureError> {
        self.stop();
        if seconds == 0 {
            return Ok(());
        }
        // No device yet (none plugged in, the sound server not up): looked for as a lost one
        // is, and listened to once it is there. An error that cannot pass by itself (a
        // malformed device id) is said at once instead.
        let (mut mic, mut lost) = match MicSource::open_background(device, 4.0) {
            Ok(opened) => {
                println!("recall: listening on {} (the last {seconds} s)", opened.description);
                (Some(opened), None)
            }
            Err(e) if MicSource::may_pass(&e) => {
                let r = crate::mic::Reconnect::absent(device, 4.0, e.to_string());
                println!("recall: {}; looking for one", r.reason);
                (None, Some(r))
            }
            Err(e) => return Err(e),
        };
        let mut listened = mic.is_some();
        // Fresh flags: a drain thread of an earlier stream, still ending, cannot set them.
        self.listening = Arc::new(AtomicBool::new(listened));
        self.heard = Arc::default();
        let (listening, heard) = (self.listening.clone(), self.heard.clone());
        let cap = seconds as usize * hark_core::SAMPLE_RATE as usize;
        // A lost device is looked for as a capture's is, and the time without it is kept as
        // silence (what the buffer holds is still the last seconds, not older speech).
        let pull = move |out: &mut Vec<f32>| {
            // Said on stdout, as the window's captures are (this is the drain thread, not the
            // audio callback).
            if let Some(r) = &mut lost {
                r.fill(out);
                mic = r.poll();
                if let Some(m) = &mic {
                    match listened {
                        true => println!("recall: the input device is back"),
                        false => println!("recall: listening on {} (the last {seconds} s)", m.description),
                    }
                    listened = true;
                    listening.store(true, Ordering::Release);
                    lost = None;
                }
                return Ok(());
            }
            let Some(m) = &mut mic else { return Ok(()) };
            let before = out.len();
            match m.pull(out) {
                Err(CaptureError::DeviceLost { cause, .. }) => {
                    let r = crate::mic::Reconnect::start(m, cause);
                    println!("recall: {}; looking for it again", r.reason);
                    listening.store(false, Ordering::Release);
                    lost = Some(r);
                    mic = None;
                    Ok(())
                }
                r => {
                    if out.len() > before {
                        heard.store(true, Ordering::Release);
                    }
                    r
                }
            }
        };
        self.start(pull, cap);
        Ok(())
    }

    /// Ends the drain thread and waits for it, so its stream is closed before another opens
    /// (a device may take one user at a time).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }

    /// True while a drain thread is meant to be running and has not failed.
    pub fn is_running(&self) -> bool {
        !self.stop.load(Ordering::Acquire) && self.failure().is_none()
    }

    /// Why the stream ended by itself, if it did.
    pub fn failure(&self) -> Option<CaptureError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Starts draining `pull` every `period`, keeping the last `cap` samples.
    pub(crate) fn start(
        &mut self,
        mut pull: impl FnMut(&mut Vec<f32>) -> Result<(), CaptureError> + Send + 'static,
        cap: usize,
    ) {
        self.stop();
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        self.failure = Arc::default();
        let (buf, failure, period) = (self.buf.clone(), self.failure.clone(), self.period);
        let spawned = std::thread::Builder::new().name("hark-recall".into()).spawn(move || {
            let mut scratch = Vec::new();
            loop {
                // Woken early by `stop`.
                std::thread::park_timeout(period);
                if stop.load(Ordering::Acquire) {
                    break;
                }
                scratch.clear();
                let pulled = pull(&mut scratch);
                let Ok(mut b) = buf.lock() else { break };
                // Checked under the lock, so a stopped thread never writes after its successor.
                if stop.load(Ordering::Acquire) {
                    break;
                }
                b.extend(scratch.iter().copied());
                let excess = b.len().saturating_sub(cap);
                b.drain(..excess);
                if let Err(e) = pulled {
                    if let Ok(mut f) = failure.lock() {
                        *f = Some(e);
                    }
                    break;
                }
            }
        });
        match spawned {
            Ok(t) => self.thread = Some(t),
            Err(_) => self.stop.store(true, Ordering::Release),
        }
    }

    /// Forgets what the buffer holds.
    pub fn clear(&self) {
        if let Ok(mut b) = self.buf.lock() {
            b.clear();
        }
    }

    /// Whether it has heard a microphone since it was opened: until then it holds nothing
    /// but the silence kept while it looked for one.
    pub fn heard(&self) -> bool {
        self.heard.load(Ordering::Acquire)
    }

    /// RMS and peak of the last 0.1 s heard, while a microphone is open for the buffer (the
    /// window's "recall is listening" indicator); `None` while it is off or looks for one.
    pub fn level(&self) -> Option<(f32, f32)> {
        if !self.is_running() || !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let b = self.buf.lock().ok()?;
        let n = b.len().min(hark_core::SAMPLE_RATE as usize / 10);
        if n == 0 {
            return Some((0.0, 0.0));
        }
        let (sum, peak) = b.range(b.len() - n..).fold((0.0f32, 0.0f32), |(s, p), &x| (s + x * x, p.max(x.abs())));
        Some(((sum / n as f32).sqrt(), peak))
    }

    /// A copy of what the buffer holds now.
    pub fn snapshot(&self) -> Vec<f32> {
        self.buf.lock().map(|b| b.iter().copied().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stand_in(
        value: f32,
        n: usize,
        fail_at: usize,
    ) -> (impl FnMut(&mut Vec<f32>) -> Result<(), CaptureError>, std::sync::mpsc::Receiver<usize>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut calls = 0;
        let pull = move |out: &mut Vec<f32>| {
            calls += 1;
            let _ = tx.send(calls);
            if calls >= fail_at {
                return Err(CaptureError::DeviceLost {
                    device: format!("stand-in {value}"),
                    cause: "unplugged".into(),
                });
            }
            out.extend(std::iter::repeat_n(value, n));
            Ok(())
        };
        (pull, rx)
    }

    #[test]
    fn recall_moves_to_another_stream_and_keeps_the_last_seconds_in_order() {
        let mut recall = Recall::default();
        recall.period = Duration::from_millis(1);
        assert!(!recall.is_running());
        let (first, first_calls) = stand_in(1.0, 100, usize::MAX);
        recall.start(first, 250);
        assert!(recall.is_running());
        for _ in 0..5 {
            first_calls.recv().unwrap();
        }
        // A device change: the old thread has ended (its stream dropped) before the new starts.
        recall.stop();
        while first_calls.try_recv().is_ok() {}
        assert!(first_calls.recv().is_err(), "the old stream is closed");
        let (second, second_calls) = stand_in(2.0, 100, usize::MAX);
        recall.start(second, 250);
        for _ in 0..4 {
            second_calls.recv().unwrap();
        }
        let held = recall.snapshot();
        assert!(held.len() <= 250, "{}", held.len());
        let twos = held.iter().filter(|&&v| v == 2.0).count();
        assert!(twos >= 200, "at least three pulls of the new stream were kept: {twos}");
        let first_two = held.iter().position(|&v| v == 2.0).unwrap();
        assert!(held[first_two..].iter().all(|&v| v == 2.0), "the old stream wrote after the new one");
        recall.stop();
        while second_calls.try_recv().is_ok() {}
        assert!(second_calls.recv().is_err(), "stop waits for the thread");
        assert!(!recall.is_running());
    }

    #[test]
    fn turned_off_from_the_window_recall_stops_listening_and_forgets() {
        use hark_core::HarkCorePlugin;
        let mut app = App::new();
        app.add_plugins((HarkCorePlugin, crate::CaptureControlPlugin)).init_resource::<Time>();
        app.world_mut().resource_mut::<crate::CaptureControl>().recall_seconds = 30;
        let calls = {
            let mut recall = app.world_mut().resource_mut::<Recall>();
            recall.period = Duration::from_millis(1);
            let (pull, calls) = stand_in(0.25, 1_600, usize::MAX);
            recall.start(pull, 16_000);
            calls
        };
        for _ in 0..3 {
            calls.recv().unwrap();
        }
        let (rms, peak) = app.world().resource::<Recall>().level().expect("listening");
        assert!((rms - 0.25).abs() < 1e-6 && (peak - 0.25).abs() < 1e-6, "{rms} {peak}");
        app.world_mut().write_message(crate::SetRecall(0));
        app.update();
        let recall = app.world().resource::<Recall>();
        assert!(!recall.is_running() && recall.level().is_none());
        assert!(recall.snapshot().is_empty(), "what it heard is forgotten");
        while calls.try_recv().is_ok() {}
        assert!(calls.recv().is_err(), "its stream is closed");
        assert_eq!(app.world().resource::<crate::CaptureControl>().recall_seconds, 0);
    }

    #[test]
    fn recall_says_why_its_stream_ended_and_keeps_what_it_had() {
        let mut recall = Recall::default();
        recall.period = Duration::from_millis(1);
        let (pull, calls) = stand_in(0.5, 160, 4);
        recall.start(pull, 16_000);
        while calls.recv().is_ok() {}
        assert_eq!(
            recall.failure().map(|e| e.to_string()).as_deref(),
            Some("lost input device stand-in 0.5: unplugged")
        );
        assert!(!recall.is_running());
        assert_eq!(recall.snapshot(), vec![0.5; 3 * 160]);
        // Reopening clears the failure.
        let (pull, calls) = stand_in(0.25, 160, usize::MAX);
        recall.start(pull, 16_000);
        assert!(recall.is_running() && recall.failure().is_none());
        calls.recv().unwrap();
        recall.stop();
    }
}
