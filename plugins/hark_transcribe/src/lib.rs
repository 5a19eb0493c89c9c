//! Transcription: utterances go to recogniser worker threads over a crossbeam channel; each
//! worker owns its engine (a whisper.cpp state). Results come back over another channel and
//! become [`Transcript`] components with words in session time.
//!
//! Each utterance is transcribed on its own by default (no prompt), so several workers can run
//! in parallel and the text does not depend on thread timing. With `use_prompt`, utterances of
//! a session go one at a time, each with its predecessor's text as the prompt.

pub mod coverage;
pub mod engine;
pub mod guard;
pub mod loader;
mod open;
pub mod partial;
mod priority;
mod prompt;
pub mod words;
mod worker;

use open::{OpenDecodes, Speculation, TalkedPast};
pub use prompt::PromptContext;
use prompt::prompt_for;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use hark_core::{
    Arrivals, CaptureFinished, EngineTime, LiveLatency, OpenSpeech, PipelineBackpressure, PipelineSystems, Session,
    SessionClock, SpeculativeFinal, SpeechEnd, SpilledAudio, Transcript, TranscriptReady, TranscriptionPending,
    Utterance, UtteranceAudio, UtteranceGaps, UtteranceSpeech,
};

pub use engine::{Engine, EngineError, EngineOutput, WhisperEngine, WhisperSettings};
pub use loader::{LoadModel, ModelLoaded, Models, ModelsPlugin, RefreshModels};
pub use worker::{Job, JobDone, ReadBack};

/// Channel ends to the worker threads, and what is in flight.
#[derive(Resource)]
pub struct Recognizer {
    jobs: Sender<Job>,
    done: Receiver<JobDone>,
    next_id: u64,
    /// Jobs in flight: their utterance and its session.
    in_flight: HashMap<u64, (Entity, Entity)>,
    /// Sessions with an utterance in flight.
    busy_sessions: HashMap<Entity, u64>,
    workers: usize,
    /// Engine time spent so far (inference CPU, for benchmarks).
    pub busy: Duration,
    /// Wall time from an utterance's end being known to its text (last one).
    pub last_latency: Option<Duration>,
    submitted_at: HashMap<u64, Instant>,
    /// Partials and speculative finals of each session's open utterance.
    open: OpenDecodes,
    /// Speculative finals decoded, and those that became an utterance's final text.
    pub speculative_decoded: u64,
    pub speculative_used: u64,
    /// Cancel flags of the jobs in flight.
    cancels: HashMap<u64, Arc<AtomicBool>>,
    /// Decodes stopped because their result was no longer wanted (a partial in a final's way,
    /// a speculation the speaker talked past).
    pub cancelled: u64,
    /// Partial decodes sent, and open-utterance audio skipped because newer audio overtook it.
    pub partials_decoded: u64,
    pub partials_skipped: u64,
    /// Speculative finals the speaker talked past that were shown as partial text.
    pub speculations_shown: u64,
    /// Results taken by [`Recognizer::wait`] and not handed out yet.
    held: Vec<JobDone>,
    /// The worker threads, joined when the recogniser goes.
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Recognizer {
    /// Lets the workers finish what they are decoding and waits for them: a process that ends
    /// (the window closing, `--exit-after`) while whisper.cpp still runs on a worker tears the
    /// library down under it (a crash at exit, seen with live partials keeping a worker busy).
    fn drop(&mut self) {
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.jobs, closed));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer").field("in_flight", &self.in_flight.len()).finish()
    }
}

impl Recognizer {
    /// Starts one worker thread per engine.
    pub fn spawn(engines: Vec<Box<dyn Engine>>) -> Self {
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done) = crossbeam_channel::unbounded::<JobDone>();
        let workers = engines.len().max(1);
        let mut threads = Vec::with_capacity(workers);
        for (i, mut engine) in engines.into_iter().enumerate() {
            let rx = job_rx.clone();
            let tx = done_tx.clone();
            let spawned = std::thread::Builder::new().name(format!("hark-recognizer-{i}")).spawn(move || {
                worker::run(engine.as_mut(), &rx, &tx);
            });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => error!("cannot start a recogniser thread: {e}"),
            }
        }
        Self {
            jobs,
            done,
            next_id: 0,
            in_flight: HashMap::new(),
            busy_sessions: HashMap::new(),
            workers,
            busy: Duration::ZERO,
            last_latency: None,
            submitted_at: HashMap::new(),
            open: OpenDecodes::default(),
            partials_decoded: 0,
            partials_skipped: 0,
            speculations_shown: 0,
            speculative_decoded: 0,
            speculative_used: 0,
            cancels: HashMap::new(),
            cancelled: 0,
            held: Vec::new(),
            threads,
        }
    }

    /// Utterances being transcribed now (partial decodes included).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Jobs sent whose result this thread has not received yet (still decoding, or finished and
    /// not read from the channel).
    pub fn decoding(&self) -> usize {
        self.in_flight.len().saturating_sub(self.held.len())
    }

    /// Blocks until every job sent so far has finished (tests step the app deterministically
    /// with it: each partial is decoded before more audio arrives).
    pub fn wait(&mut self) {
        while self.held.len() < self.in_flight.len() {
            match self.done.recv() {
                Ok(d) => self.held.push(d),
                Err(_) => break,
            }
        }
    }

    /// A new job's cancel flag.
    fn cancel_flag(&mut self, id: u64) -> Arc<AtomicBool> {
        let f = Arc::new(AtomicBool::new(false));
        self.cancels.insert(id, f.clone());
        f
    }

    /// Sends a job (made with its id and cancel flag) to the workers and records it in flight
    /// for its utterance and `session`; `None` once the worker threads have stopped.
    fn send(&mut self, session: Entity, job: impl FnOnce(u64, Arc<AtomicBool>) -> Job) -> Option<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let job = job(id, self.cancel_flag(id));
        let utterance = job.utterance;
        if self.jobs.send(job).is_err() {
            error!("the recogniser threads have stopped");
            self.cancels.remove(&id);
            return None;
        }
        self.in_flight.insert(id, (utterance, session));
        Some(id)
    }

    /// Stops a job in flight (its result comes back as an error, and is dropped).
    fn cancel(&mut self, id: u64) {
        if let Some(f) = self.cancels.get(&id)
            && !f.swap(true, Ordering::Relaxed)
        {
            self.cancelled += 1;
        }
    }

    /// Takes the newest audio of a session's open utterance: for a partial, or for a
    /// speculative final (the speaker paused).
    fn note_open_speech(&mut self, o: &OpenSpeech) {
        self.open.heard(o.session, o.start, o.start + o.audio.len() as u64);
        if o.speculative {
            // The one before (the speaker went on after it) is no longer wanted as a final.
            self.talked_past(o.session);
            self.open.pending_speculative.insert(o.session, o.clone());
            // It hears everything a waiting partial would, and more.
            if self.open.pending_partials.remove(&o.session).is_some() {
                self.partials_skipped += 1;
            }
        } else {
            // Partials come again only once the speaker has gone on: the speculation was wrong.
            if self.open.speculative.get(&o.session).is_some_and(|p| p.start == o.start) {
                self.talked_past(o.session);
            }
            self.open.pending_speculative.remove(&o.session);
            if self.open.pending_partials.insert(o.session, (o.start, o.audio.clone())).is_some() {
                self.partials_skipped += 1;
            }
        }
    }

    /// Whether `session`'s waiting speculative final can be sent now.
    fn speculation_ready(&self, session: Entity, use_prompt: bool) -> bool {
        self.open.speculation_ready(session, use_prompt, self.busy_sessions.contains_key(&session))
    }

    /// The speaker went on after the session's speculation (see [`OpenDecodes::talked_past`]).
    fn talked_past(&mut self, session: Entity) {
        match self.open.talked_past(session) {
            TalkedPast::Show(d) => {
                // Handed to the next `collect`; not in flight (a partial that is stays cancellable).
                self.in_flight.insert(d.id, (session, session));
                self.held.push(d);
                self.speculations_shown += 1;
            }
            TalkedPast::ShowWhenDecoded => self.speculations_shown += 1,
            TalkedPast::Cancel(job) => self.cancel(job),
            TalkedPast::Forgotten => {}
        }
    }

    /// Forgets a session's speculation, stopping its decode if it is still running.
    fn drop_speculation(&mut self, session: Entity) {
        if let Some(job) = self.open.drop_speculation(session) {
            self.cancel(job);
        }
    }

    fn next_done(&mut self, block: Option<Duration>) -> Option<JobDone> {
        if !self.held.is_empty() {
            return Some(self.held.remove(0));
        }
        match block {
            Some(t) => self.done.recv_timeout(t).ok(),
            None => self.done.try_recv().ok(),
        }
    }
}

/// Transcription settings.
#[derive(Resource, Debug, Clone)]
pub struct TranscribeSettings {
    /// Give the previous utterance's text as the prompt.
    pub use_prompt: bool,
    /// Characters of previous text used as the prompt.
    pub prompt_chars: usize,
    /// Waiting utterances at which fast file sources are held back.
    pub max_queue: usize,
    /// Headless runs: when nothing else can progress, block (briefly) for a result instead of
    /// spinning the schedule.
    pub block_when_idle: bool,
}

impl Default for TranscribeSettings {
    fn default() -> Self {
        Self { use_prompt: false, prompt_chars: 200, max_queue: 3, block_when_idle: false }
    }
}

#[derive(Debug, Default)]
pub struct TranscribePlugin;

impl Plugin for TranscribePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TranscribeSettings>()
            .register_required_components::<Session, PromptContext>()
            .register_required_components::<Session, Arrivals>()
            .register_required_components::<Session, LiveLatency>()
            .register_required_components::<Session, EngineTime>()
            .add_systems(
                Update,
                (note_arrivals, submit, collect)
                    .chain()
                    .in_set(PipelineSystems::Transcribe)
                    .run_if(resource_exists::<Recognizer>),
            );
    }
}

/// When each session's audio arrived, for the latency of its text.
fn note_arrivals(mut sessions: Query<(&SessionClock, &mut Arrivals), Changed<SessionClock>>) {
    let now = Instant::now();
    for (clock, mut a) in &mut sessions {
        a.record(clock.captured, now);
    }
}

/// An utterance waiting for the recogniser: its audio, gaps and speculative final if any.
type WaitingUtterance = (
    Entity,
    &'static Utterance,
    AnyOf<(&'static UtteranceAudio, &'static SpilledAudio)>,
    Option<&'static UtteranceGaps>,
    Option<&'static SpeculativeFinal>,
    Option<&'static UtteranceSpeech>,
);

/// Utterances cut and not yet sent to the recogniser.
type Waiting = (Without<TranscriptionPending>, Without<Transcript>);

#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
fn submit(
    mut commands: Commands,
    mut rec: ResMut<Recognizer>,
    settings: Res<TranscribeSettings>,
    ctx: Query<&PromptContext>,
    waiting: Query<WaitingUtterance, Waiting>,
    archive: Option<Res<hark_core::AudioArchive>>,
    mut backpressure: ResMut<PipelineBackpressure>,
    mut open_speech: MessageReader<OpenSpeech>,
    mut partials: Query<&mut partial::PartialState>,
    kinds: Query<&Session>,
) {
    for o in open_speech.read() {
        rec.note_open_speech(o);
    }
    let mut queue: Vec<_> = waiting.iter().collect();
    // Live sessions first: a file read beside a live capture (one dropped on the window while
    // it captures) always has an utterance waiting, and taken in entity order it could keep
    // the capture's text back until the whole file was done.
    let background = |session: Entity| kinds.get(session).map_or(true, |s| !s.kind.is_live());
    queue.sort_by_key(|(_, u, ..)| (background(u.session), u.session, u.index));
    // A live session's open speech (a partial or speculative final that could be sent now)
    // goes before a file's finals: with a file read beside a capture one of its finals always
    // waits, and the capture would show no text until its speaker stopped.
    let live_open = rec
        .open
        .pending_partials
        .keys()
        .chain(rec.open.pending_speculative.keys())
        .any(|&s| !background(s) && (rec.open.partial_ready(s) || rec.speculation_ready(s, settings.use_prompt)));
    // An utterance cut ends its partials: audio of it still waiting is no longer wanted, and
    // what is shown of it stays as it is until its final text replaces it.
    for (_, u, ..) in &queue {
        if rec.open.pending_partials.get(&u.session).is_some_and(|p| p.0 <= u.start) {
            rec.open.pending_partials.remove(&u.session);
        }
        if let Ok(mut p) = partials.get_mut(u.session)
            && p.start == u.start
            && !p.closed
        {
            p.closed = true;
        }
    }
    for (e, u, audio, gaps, spec, speech) in &queue {
        // With a prompt, an utterance waits for its predecessor's text.
        if settings.use_prompt && rec.busy_sessions.contains_key(&u.session) {
            continue;
        }
        // The speculative final decoded (or decoding) exactly this speech becomes its text.
        if let Some(spec) = spec
            && rec.open.speculative.get(&u.session).is_some_and(|p| p.start == u.start && p.end == spec.end)
            && let Some(p) = rec.open.speculative.remove(&u.session)
        {
            rec.speculative_used += 1;
            rec.in_flight.insert(p.job, (*e, u.session));
            if let Some(mut d) = p.done {
                d.utterance = *e;
                rec.held.push(d);
            }
            rec.busy_sessions.insert(u.session, p.job);
            rec.submitted_at.insert(p.job, Instant::now());
            commands.entity(*e).insert(TranscriptionPending { job: p.job }).remove::<(UtteranceAudio, SpilledAudio)>();
            continue;
        }
        // Any other speculation about this utterance is wrong (speech went on) or late.
        if rec.open.pending_speculative.get(&u.session).is_some_and(|p| p.start <= u.start) {
            rec.open.pending_speculative.remove(&u.session);
        }
        if rec.open.speculative.get(&u.session).is_some_and(|p| p.start <= u.start) {
            rec.drop_speculation(u.session);
        }
        // Keep at most one job per worker queued, so later utterances stay in the ECS.
        if rec.in_flight() >= rec.workers || (live_open && background(u.session)) {
            continue;
        }
        let prompt = prompt_for(&settings, &ctx, u.session);
        let gaps = gaps.cloned().unwrap_or_default();
        let (audio, read_back) = match audio {
            (Some(a), _) => (a.0.clone(), None),
            (None, Some(spilled)) => {
                let Some(archive) = archive.as_deref() else {
                    error!("an utterance's audio was let go with no store to read it back from");
                    continue;
                };
                let pieces = gaps.pieces(u.start, u.end);
                let read_back = ReadBack { archive: archive.clone(), stored_session: spilled.stored_session, pieces };
                (Arc::from([]), Some(read_back))
            }
            (None, None) => continue, // AnyOf matches one of them
        };
        let speech = speech.map(|s| s.0.clone()).unwrap_or_default();
        let final_job = |id, cancel| Job {
            id,
            utterance: *e,
            start: u.start,
            audio,
            read_back,
            gaps,
            speech,
            prompt,
            partial_of: None,
            speculative: false,
            cancel,
        };
        let Some(id) = rec.send(u.session, final_job) else { return };
        rec.busy_sessions.insert(u.session, id);
        rec.submitted_at.insert(id, Instant::now());
        commands.entity(*e).insert(TranscriptionPending { job: id }).remove::<(UtteranceAudio, SpilledAudio)>();
    }
    // Partials only when no final waits and a worker is free: finals always go first, and a
    // partial decode in their way is stopped; a speculation stops it too unless that session's
    // partials are starved. A live session's open speech waits only for live finals.
    let not_sent = |e: &Entity| !rec.in_flight.values().any(|(u, _)| u == e);
    let live_finals_waiting = queue.iter().any(|(e, u, ..)| !background(u.session) && not_sent(e));
    let finals_waiting = queue.iter().any(|(e, ..)| not_sent(e));
    let held_back = |session: Entity| if background(session) { finals_waiting } else { live_finals_waiting };
    if (finals_waiting || !rec.open.pending_speculative.is_empty()) && rec.in_flight() >= rec.workers {
        let partials: Vec<(Entity, u64)> = rec.open.partial_in_flight.iter().map(|(s, id)| (*s, *id)).collect();
        for (session, id) in partials {
            if held_back(session) || (!rec.open.pending_speculative.is_empty() && !rec.open.starving(session)) {
                rec.cancel(id);
            }
        }
    }
    // Speculative finals next: they are what a person waits for once they stop.
    let mut sessions: Vec<Entity> = rec.open.pending_speculative.keys().copied().collect();
    sessions.sort();
    for session in sessions {
        if rec.in_flight() >= rec.workers {
            break;
        }
        // With a prompt, it waits for the text of the utterance before (every one of its
        // session cut earlier is in flight or done here, as none of its finals waits).
        if held_back(session) || !rec.speculation_ready(session, settings.use_prompt) {
            continue;
        }
        let Some(OpenSpeech { start, audio, speech, .. }) = rec.open.pending_speculative.remove(&session) else {
            continue;
        };
        let end = start + audio.len() as u64;
        let prompt = prompt_for(&settings, &ctx, session);
        let speculation = |id, cancel| Job {
            id,
            utterance: session,
            start,
            audio,
            read_back: None,
            gaps: UtteranceGaps::default(),
            speech,
            prompt,
            partial_of: None,
            speculative: true,
            cancel,
        };
        let Some(id) = rec.send(session, speculation) else { return };
        rec.open.speculative.insert(session, Speculation { start, end, job: id, done: None });
        rec.speculative_decoded += 1;
    }
    let mut sessions: Vec<Entity> = rec.open.pending_partials.keys().copied().collect();
    sessions.sort();
    for session in sessions {
        if rec.in_flight() >= rec.workers {
            break;
        }
        if held_back(session) || !rec.open.partial_ready(session) {
            continue;
        }
        let Some((start, audio)) = rec.open.pending_partials.remove(&session) else { continue };
        let partial = |id, cancel| Job {
            id,
            utterance: session,
            start,
            audio,
            read_back: None,
            gaps: UtteranceGaps::default(),
            speech: Vec::new(),
            prompt: None,
            partial_of: Some(start),
            speculative: false,
            cancel,
        };
        let Some(id) = rec.send(session, partial) else { return };
        rec.open.partial_in_flight.insert(session, id);
        rec.partials_decoded += 1;
    }
    let set = queue.len() > settings.max_queue;
    if backpressure.0 != set {
        backpressure.0 = set;
    }
}

#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
fn collect(
    mut commands: Commands,
    mut rec: ResMut<Recognizer>,
    settings: Res<TranscribeSettings>,
    mut ctx: Query<&mut PromptContext>,
    utterances: Query<(&Utterance, Option<&SpeechEnd>)>,
    capturing: Query<(), (With<Session>, Without<CaptureFinished>)>,
    backpressure: Res<PipelineBackpressure>,
    mut ready: MessageWriter<TranscriptReady>,
    mut partials: partial::PartialParams,
) {
    let idle = backpressure.0 || capturing.is_empty();
    let mut first = true;
    loop {
        let block =
            (first && settings.block_when_idle && idle && rec.in_flight() > 0).then_some(Duration::from_millis(100));
        let done = rec.next_done(block);
        first = false;
        let Some(mut done) = done else { break };
        let entry = rec.in_flight.remove(&done.id);
        rec.cancels.remove(&done.id);
        rec.busy += done.busy;
        // Every job in flight knows its session (the second of its entry).
        if let Some((_, session)) = entry {
            partials.spent(session, done.busy);
        }
        if let Some(start) = done.partial_of.or_else(|| rec.open.as_partial.remove(&done.id)) {
            if rec.open.partial_in_flight.get(&done.utterance) == Some(&done.id) {
                rec.open.partial_in_flight.remove(&done.utterance);
            }
            if done.result.is_ok() {
                rec.open.shown(done.utterance, start, done.start + done.duration_samples);
            }
            partials.apply(&done, start);
            continue;
        }
        if done.speculative {
            match entry {
                // Its utterance adopted it while it was decoding.
                Some((utterance, session)) if utterance != session => done.utterance = utterance,
                // Decoded before its utterance was cut: kept until it is (or dropped if this
                // speculation has been replaced).
                _ => {
                    if let Some(p) = rec.open.speculative.get_mut(&done.utterance)
                        && p.job == done.id
                    {
                        p.done = Some(done);
                    }
                    continue;
                }
            }
        }
        if let Some((_, session)) = entry {
            // Even when the utterance has gone (its session was closed), the session is free.
            rec.busy_sessions.remove(&session);
        }
        if let Some(t) = rec.submitted_at.remove(&done.id) {
            rec.last_latency = Some(t.elapsed());
        }
        let Ok((u, speech_end)) = utterances.get(done.utterance) else {
            continue;
        };
        let transcript = match done.result {
            Ok(out) => words::transcript_from(&out, done.start, done.duration_samples, &done.gaps),
            Err(e) => {
                error!("utterance {} of a session could not be transcribed: {e}", u.index);
                Transcript {
                    text: String::new(),
                    words: Vec::new(),
                    no_speech: 1.0,
                    suspect: true,
                    unheard: Vec::new(),
                }
            }
        };
        if !transcript.suspect
            && !transcript.text.is_empty()
            && let Ok(mut c) = ctx.get_mut(u.session)
        {
            c.0.clone_from(&transcript.text);
        }
        // The final text replaces what was shown of the utterance while it was said.
        partials.finish(u.session, u.start);
        rec.open.finished(u.session, u.start);
        partials.final_published(u.session, speech_end.map(|s| s.0));
        commands.entity(done.utterance).remove::<TranscriptionPending>().insert(transcript);
        ready.write(TranscriptReady { utterance: done.utterance });
    }
}
