//! The replay reader: a thread with its own read-only connection that opens sessions and reads
//! their audio by range, so no query ever runs on the frame.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use hark_store::Reader;

use crate::Replayed;

enum Ask {
    Open { generation: u64, id: i64 },
    Refresh { generation: u64, id: i64 },
    Read { generation: u64, id: i64, start: u64, len: usize },
    Compare { generation: u64, id: i64, a: i64, b: i64 },
}

/// What the reader answers.
#[derive(Debug)]
pub enum Answer {
    Opened(Result<Replayed, String>),
    /// A growing session read again.
    Refreshed(Result<Replayed, String>),
    Audio {
        start: u64,
        samples: Arc<[f32]>,
    },
    Failed(String),
    Compared(Result<crate::versions::Comparison, String>),
}

/// Channel ends to the reader thread. Answers to questions asked before the last open (or
/// forget) are dropped: they are about audio no longer wanted.
#[derive(Resource)]
pub struct Feed {
    ask: Sender<Ask>,
    answers: Receiver<(u64, Answer)>,
    generation: u64,
    outstanding: usize,
    /// Answers taken by [`Feed::wait`] and not handed out yet.
    held: Vec<(u64, Answer)>,
}

impl Feed {
    pub fn start(database: Option<PathBuf>) -> Self {
        let (ask, asks) = crossbeam_channel::unbounded::<Ask>();
        let (tell, answers) = crossbeam_channel::unbounded();
        let spawned = std::thread::Builder::new().name("hark-replay".into()).spawn(move || {
            let mut reader: Option<Reader> = None;
            for a in asks {
                let (generation, answer) = match a {
                    Ask::Open { generation, id } => (generation, Answer::Opened(open(&database, &mut reader, id))),
                    Ask::Refresh { generation, id } => {
                        (generation, Answer::Refreshed(open(&database, &mut reader, id)))
                    }
                    Ask::Compare { generation, id, a, b } => {
                        let r = connect(&database, &mut reader).and_then(|r| compare(r, id, a, b));
                        (generation, Answer::Compared(r))
                    }
                    Ask::Read { generation, id, start, len } => {
                        let r = connect(&database, &mut reader)
                            .and_then(|r| r.audio_range(id, start, len).map_err(|e| e.to_string()));
                        (
                            generation,
                            match r {
                                Ok(v) => Answer::Audio { start, samples: v.into() },
                                Err(e) => Answer::Failed(format!("could not read the session's audio: {e}")),
                            },
                        )
                    }
                };
                if tell.send((generation, answer)).is_err() {
                    break;
                }
            }
        });
        if let Err(e) = spawned {
            log::error!("the replay reader could not start: {e}");
        }
        Self { ask, answers, generation: 0, outstanding: 0, held: Vec::new() }
    }

    fn send(&mut self, a: Ask) {
        if self.ask.send(a).is_ok() {
            self.outstanding += 1;
        }
    }

    pub fn open(&mut self, id: i64) {
        self.generation += 1;
        self.send(Ask::Open { generation: self.generation, id });
    }

    /// Reads the open session's length, words and state again (it is still being captured).
    pub fn refresh(&mut self, id: i64) {
        self.send(Ask::Refresh { generation: self.generation, id });
    }

    /// Reads two versions of the session and the words that differ.
    pub fn compare(&mut self, id: i64, a: i64, b: i64) {
        self.send(Ask::Compare { generation: self.generation, id, a, b });
    }

    pub fn read(&mut self, id: i64, start: u64, len: usize) {
        self.send(Ask::Read { generation: self.generation, id, start, len });
    }

    /// Drops every answer still to come.
    pub fn forget(&mut self) {
        self.generation += 1;
    }

    /// The answers that arrived, in order, for what is still wanted.
    pub fn answers(&mut self) -> Vec<Answer> {
        let mut got = std::mem::take(&mut self.held);
        got.extend(self.answers.try_iter());
        self.outstanding -= got.len().min(self.outstanding);
        let generation = self.generation;
        got.into_iter().filter(|(g, _)| *g == generation).map(|(_, a)| a).collect()
    }

    /// Blocks until every question asked so far is answered (tests and benchmarks step the app
    /// deterministically with it).
    pub fn wait(&mut self) {
        while self.held.len() < self.outstanding {
            match self.answers.recv() {
                Ok(a) => self.held.push(a),
                Err(_) => break,
            }
        }
    }
}

fn connect<'a>(database: &Option<PathBuf>, reader: &'a mut Option<Reader>) -> Result<&'a Reader, String> {
    let Some(path) = database else {
        return Err("sessions are not being saved (no database), so there is nothing to replay".into());
    };
    if reader.is_none() {
        *reader = Some(Reader::open(path).map_err(|e| e.to_string())?);
    }
    Ok(reader.as_ref().expect("just opened"))
}

fn open(database: &Option<PathBuf>, reader: &mut Option<Reader>, id: i64) -> Result<Replayed, String> {
    let r = connect(database, reader)?;
    let row = r.session(id).map_err(|e| e.to_string())?;
    let samples = r.audio_end(id).map_err(|e| e.to_string())?;
    if samples == 0 {
        return Err(format!("session {id} has no audio to replay"));
    }
    Ok(Replayed {
        id,
        title: row.title,
        state: row.state,
        samples,
        segments: r.segments(id).map_err(|e| e.to_string())?,
        gaps: r.audio_gaps(id).map_err(|e| e.to_string())?,
        versions: r.versions(id).map_err(|e| e.to_string())?,
    })
}

fn compare(r: &Reader, id: i64, a: i64, b: i64) -> Result<crate::versions::Comparison, String> {
    let old = hark_store::db::diff_words(&r.segments_of(id, a).map_err(|e| e.to_string())?);
    let new = hark_store::db::diff_words(&r.segments_of(id, b).map_err(|e| e.to_string())?);
    let changes = hark_core::diff::word_diff(&old, &new);
    Ok(crate::versions::Comparison { session: id, a, b, old, new, changes })
}
