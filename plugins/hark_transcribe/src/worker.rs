//! The recogniser's worker threads: each takes jobs from the channel, decodes them with its own
//! engine, and sends the results back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bevy::prelude::Entity;
use crossbeam_channel::{Receiver, Sender};
use hark_core::UtteranceGaps;

use crate::engine::{self, Engine, EngineError, EngineOutput};
use crate::{coverage, priority};

/// A piece of work for a recogniser.
#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub utterance: Entity,
    /// Session sample of the audio's first sample.
    pub start: u64,
    pub audio: Arc<[f32]>,
    /// Where to read `audio` from instead, when the utterance's audio was let go while it
    /// waited (see [`SpilledAudio`]): the worker reads it before decoding.
    pub read_back: Option<ReadBack>,
    /// Pauses left out of `audio` (see [`UtteranceGaps`]).
    pub gaps: UtteranceGaps,
    /// Where the VAD heard speech in `audio` (see [`UtteranceSpeech`]); empty when unknown.
    pub speech: Vec<(u64, u64)>,
    pub prompt: Option<String>,
    /// A partial decode of the open utterance starting at this session sample (`utterance`
    /// is then its session, and `start` where the decoded audio starts).
    pub partial_of: Option<u64>,
    /// A speculative final of the open utterance starting at `start` (`utterance` is then its
    /// session until an utterance adopts it): decoded as a final is.
    pub speculative: bool,
    /// Set to stop the decode (its result is then no longer wanted).
    pub cancel: Arc<AtomicBool>,
}

/// A spilled utterance's audio: the session spans it is made of, in the store.
#[derive(Debug)]
pub struct ReadBack {
    pub archive: hark_core::AudioArchive,
    pub stored_session: i64,
    pub pieces: Vec<(u64, u64)>,
}

impl ReadBack {
    fn read(&self) -> Result<Arc<[f32]>, EngineError> {
        (self.archive.0)(self.stored_session, &self.pieces).map(Arc::from).map_err(|e| {
            EngineError::Other(format!("the utterance's audio could not be read back from the database: {e}"))
        })
    }
}

/// A finished job.
#[derive(Debug)]
pub struct JobDone {
    pub id: u64,
    pub utterance: Entity,
    pub start: u64,
    pub duration_samples: u64,
    pub gaps: UtteranceGaps,
    pub result: Result<EngineOutput, EngineError>,
    /// Time the engine spent on it.
    pub busy: Duration,
    pub partial_of: Option<u64>,
    pub speculative: bool,
}

/// One worker: decodes jobs until the channel closes or nobody takes the results.
pub(crate) fn run(engine: &mut dyn Engine, rx: &Receiver<Job>, tx: &Sender<JobDone>) {
    priority::yield_to_capture();
    for job in rx.iter() {
        let t = Instant::now();
        engine::set_cancel(Some(job.cancel.clone()));
        let audio = job.read_back.as_ref().map_or_else(|| Ok(job.audio.clone()), ReadBack::read);
        let result = match &audio {
            Err(e) => Err(e.clone()),
            Ok(audio) if job.partial_of.is_some() => engine.transcribe_partial(audio, job.prompt.as_deref()),
            Ok(audio) => coverage::transcribe(engine, audio, job.prompt.as_deref(), &job.speech),
        };
        let done = JobDone {
            id: job.id,
            utterance: job.utterance,
            start: job.start,
            duration_samples: audio.map_or(0, |a| a.len() as u64),
            gaps: job.gaps,
            result,
            busy: t.elapsed(),
            partial_of: job.partial_of,
            speculative: job.speculative,
        };
        if tx.send(done).is_err() {
            break;
        }
    }
}
