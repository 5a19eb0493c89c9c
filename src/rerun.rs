//! Re-running a saved session: its stored audio goes through the same pipeline again (VAD,
//! segmenter, recogniser) with other settings, and the result becomes a new transcript version.
//! Used by `hark sessions rerun` and by the window (on a thread of its own).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use bevy::prelude::*;
use crossbeam_channel::Receiver;
use hark_capture::{Pace, Source};
use hark_core::{PipelineSystems, SessionClock, SessionState, Transcript, Utterance, UtteranceVad, samples_to_secs};
use hark_replay::ReplayRequest;
use hark_replay::versions::{RerunStatus, VersionRequest};
use hark_store::{BrowseRequest, NewSegment, Reader, StoreContext, Writer};

use crate::pipeline::{Pipeline, PipelineOptions};

/// What a re-run produced, ready for [`hark_store::Writer::add_version`].
#[derive(Debug, Clone)]
pub struct RerunResult {
    pub session: i64,
    /// The span that was re-run, in samples (`None`: the whole session).
    pub span: Option<(u64, u64)>,
    pub segments: Vec<NewSegment>,
    pub model: String,
    pub settings: String,
}

/// The span to re-run, in samples: `from..to` seconds clamped to the stored audio and widened
/// to whole utterances of the current version, so that no utterance is half re-run. `None`
/// when it covers the whole session.
pub fn rerun_span(
    reader: &Reader,
    session: i64,
    from_s: Option<f64>,
    to_s: Option<f64>,
) -> anyhow::Result<Option<(u64, u64)>> {
    let end = reader.audio_end(session)?;
    let secs = |s: f64| (s.max(0.0) * hark_core::SAMPLE_RATE as f64) as u64;
    let mut from = from_s.map_or(0, secs).min(end);
    let mut to = to_s.map_or(end, secs).min(end);
    if from >= to {
        anyhow::bail!(
            "nothing to re-run between {:.1} s and {:.1} s: session {session} has {:.1} s of audio",
            from_s.unwrap_or(0.0),
            to_s.unwrap_or(samples_to_secs(end)),
            samples_to_secs(end)
        );
    }
    for g in reader.segments(session)? {
        if g.start_sample < from && from < g.end_sample {
            from = g.start_sample;
        }
        if g.start_sample < to && to < g.end_sample {
            to = g.end_sample;
        }
    }
    Ok((from > 0 || to < end).then_some((from, to)))
}

/// Re-transcribes `session` (or its `span`) from the database at `db` with `opts` (whose own
/// database must be `None`: the result is a version of this session, not a new one).
/// `progress` gets the fraction done, 0 to 1, as utterances are transcribed.
pub fn rerun_session(
    opts: &PipelineOptions,
    db: &Path,
    session: i64,
    span: Option<(u64, u64)>,
    mut progress: impl FnMut(f64),
) -> anyhow::Result<RerunResult> {
    let reader = Reader::open(db)?;
    let row = reader.session(session)?;
    if row.state == SessionState::Recording {
        anyhow::bail!("session {session} is still recording: re-run it once its capture has ended");
    }
    let (from, to) = match span {
        Some(s) => s,
        None => (0, reader.audio_end(session)?),
    };
    let audio = reader
        .audio_range(session, from, (to - from) as usize)
        .with_context(|| format!("reading the audio of session {session}"))?;
    if audio.is_empty() {
        anyhow::bail!("session {session} has no audio to re-run");
    }
    let mut opts = opts.clone();
    opts.database = None;
    // A saved session is transcribed like a file: no partial decodes, and utterances close at
    // a file's pause, not at live capture's shorter one.
    opts.segment.partial_interval_secs = 0.0;
    opts.segment.speculate_after_secs = None;
    opts.vad.gate.hangover_ms = hark_vad::GateSettings::default().hangover_ms;
    let mut p = Pipeline::new(&opts)?;
    let (model, settings) = {
        let ctx = p.app.world().resource::<StoreContext>();
        (ctx.model.clone(), ctx.settings.clone())
    };
    let len = audio.len() as f64;
    let source = Source::Samples { samples: audio.into(), pos: 0 };
    let e = p
        .app
        .world_mut()
        .spawn(hark_capture::session_bundle(row.kind, row.source.clone(), source, Pace::Fast))
        // The session's own clock: utterances land where they were said.
        .insert(SessionClock { captured: from })
        .id();
    p.run_until_done(e, |app| {
        let world = app.world_mut();
        let mut q = world.query::<(&Utterance, &Transcript)>();
        let done = q.iter(world).filter(|(u, _)| u.session == e).map(|(u, _)| u.end).max().unwrap_or(from);
        progress(((done - from) as f64 / len).clamp(0.0, 1.0));
    })
    .map_err(anyhow::Error::msg)?;
    let world = p.app.world_mut();
    let mut q = world.query::<(&Utterance, &Transcript, Option<&UtteranceVad>)>();
    let mut segments: Vec<(u32, NewSegment)> = q
        .iter(world)
        .filter(|(u, _, _)| u.session == e)
        .map(|(u, t, vad)| {
            let vad = vad.copied().unwrap_or_default();
            (
                u.index,
                NewSegment {
                    start: u.start,
                    end: u.end,
                    vad_mean: vad.mean_probability,
                    vad_speech: vad.speech_fraction,
                    text: t.text.clone(),
                    words: t.words.clone(),
                    no_speech: t.no_speech,
                    suspect: t.suspect,
                    unheard: t.unheard.clone(),
                },
            )
        })
        .collect();
    segments.sort_by_key(|(i, _)| *i);
    world.despawn(e);
    progress(1.0);
    Ok(RerunResult { session, span, segments: segments.into_iter().map(|(_, g)| g).collect(), model, settings })
}

/// Carries out [`VersionRequest`]s in an app with a [`Writer`]: a re-run on a thread of its own
/// (its own pipeline and model, so the window and a live capture go on), a change of current
/// version on another; each reports to [`RerunStatus`] and, once committed, has the replay
/// read the session's words and versions again.
#[derive(Debug, Clone)]
pub struct RerunPlugin {
    /// The app's pipeline options, which a re-run starts from.
    pub opts: PipelineOptions,
    /// Where model names given in a request are looked up.
    pub models_dir: PathBuf,
}

impl Plugin for RerunPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Reruns {
            opts: self.opts.clone(),
            models_dir: self.models_dir.clone(),
            jobs: Vec::new(),
            waker: Arc::new(OnceLock::new()),
        })
        .add_systems(Startup, wake_window)
        .add_systems(Update, (start_jobs, poll_jobs).chain().in_set(PipelineSystems::Control));
    }
}

type Waker = Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>;

/// The jobs under way.
#[derive(Resource)]
pub struct Reruns {
    opts: PipelineOptions,
    models_dir: PathBuf,
    jobs: Vec<Job>,
    waker: Waker,
}

struct Job {
    session: i64,
    rerun: bool,
    /// Fraction done, as f32 bits.
    progress: Arc<AtomicU32>,
    done: Receiver<Result<i64, String>>,
    /// The result, once taken by [`Reruns::wait`].
    held: Option<Result<i64, String>>,
}

impl Reruns {
    /// Blocks until every job has finished (tests step the app deterministically with it).
    pub fn wait(&mut self) {
        for j in &mut self.jobs {
            if j.held.is_none() {
                j.held = Some(j.done.recv().unwrap_or_else(|_| Err("the re-run stopped".into())));
            }
        }
    }
}

/// A thread's news wakes the (possibly sleeping) window.
fn wake_window(reruns: Res<Reruns>, proxy: Option<Res<bevy::winit::EventLoopProxyWrapper>>) {
    if let Some(proxy) = proxy {
        let proxy = (**proxy).clone();
        let _ = reruns.waker.set(Box::new(move || {
            let _ = proxy.send_event(bevy::winit::WinitUserEvent::WakeUp);
        }));
    }
}

fn wake(waker: &Waker) {
    if let Some(w) = waker.get() {
        w();
    }
}

fn start_jobs(
    mut requests: MessageReader<VersionRequest>,
    mut reruns: ResMut<Reruns>,
    mut status: ResMut<RerunStatus>,
    writer: Option<Res<Writer>>,
) {
    for r in requests.read() {
        let Some(writer) = writer.as_deref().cloned() else {
            *status = RerunStatus::Failed("sessions are not being saved here, so there are no versions".into());
            continue;
        };
        let (tell, done) = crossbeam_channel::bounded(1);
        let progress = Arc::new(AtomicU32::new(0));
        let waker = reruns.waker.clone();
        let (session, rerun) = match r.clone() {
            VersionRequest::Rerun { session, span, settings } => {
                if reruns.jobs.iter().any(|j| j.rerun) {
                    *status = RerunStatus::Failed("a re-run is going already: wait for it to finish".into());
                    continue;
                }
                let mut opts = reruns.opts.clone();
                if let Some(m) = &settings.model {
                    opts.model = hark_model::resolve_model(m, &reruns.models_dir);
                }
                opts.segment.merge_gap_secs = settings.merge_pauses_s;
                opts.whisper.beam_size = settings.beam_size.max(1);
                opts.whisper.temperature_inc = settings.temperature_inc;
                opts.vad.gate.threshold = settings.vad_threshold;
                let p = progress.clone();
                spawn_job(tell, waker.clone(), move || {
                    let mut last = 0.0;
                    let r = rerun_session(&opts, &writer.path, session, span, |f| {
                        p.store((f as f32).to_bits(), Ordering::Relaxed);
                        if f - last >= 0.02 {
                            last = f;
                            wake(&waker);
                        }
                    })
                    .map_err(|e| format!("{e:#}"))?;
                    writer.add_version(session, &r.model, &r.settings, r.span, r.segments).map_err(|e| e.to_string())
                });
                *status = RerunStatus::Running { session, fraction: 0.0 };
                (session, true)
            }
            VersionRequest::Use { session, version } => {
                spawn_job(tell, waker, move || {
                    writer.use_version(session, version).map(|()| version).map_err(|e| e.to_string())
                });
                (session, false)
            }
        };
        reruns.jobs.push(Job { session, rerun, progress, done, held: None });
    }
}

fn spawn_job(
    tell: crossbeam_channel::Sender<Result<i64, String>>,
    waker: Waker,
    work: impl FnOnce() -> Result<i64, String> + Send + 'static,
) {
    let spawned = std::thread::Builder::new().name("hark-rerun".into()).spawn(move || {
        let _ = tell.send(work());
        wake(&waker);
    });
    if let Err(e) = spawned {
        bevy::log::error!("a re-run could not start: {e}");
    }
}

fn poll_jobs(
    mut reruns: ResMut<Reruns>,
    mut status: ResMut<RerunStatus>,
    mut replay: MessageWriter<ReplayRequest>,
    mut browse: MessageWriter<BrowseRequest>,
) {
    let mut finished = Vec::new();
    reruns.jobs.retain_mut(|j| {
        let result = j.held.take().or_else(|| j.done.try_recv().ok());
        match result {
            Some(r) => {
                finished.push((j.session, j.rerun, r));
                false
            }
            None => {
                if j.rerun {
                    let fraction = f32::from_bits(j.progress.load(Ordering::Relaxed));
                    *status = RerunStatus::Running { session: j.session, fraction };
                }
                true
            }
        }
    });
    for (session, rerun, r) in finished {
        match r {
            Ok(version) => {
                if rerun {
                    *status = RerunStatus::Done { session, version };
                }
                replay.write(ReplayRequest::Reload);
                browse.write(BrowseRequest::Refresh);
            }
            Err(e) => *status = RerunStatus::Failed(e),
        }
    }
}
