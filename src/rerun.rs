//! Re-running a saved session: its stored audio goes through the same pipeline again (VAD,
//! segmenter, recogniser) with other settings, and the result becomes a new transcript version.
//! Used by `hark sessions rerun` and by the window (on a thread of its own).

use std::path::Path;

use anyhow::Context;
use hark_capture::{Pace, Source};
use hark_core::{SessionClock, SessionState, Transcript, Utterance, UtteranceVad, samples_to_secs};
use hark_store::{NewSegment, Reader, StoreContext};

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
                },
            )
        })
        .collect();
    segments.sort_by_key(|(i, _)| *i);
    world.despawn(e);
    progress(1.0);
    Ok(RerunResult { session, span, segments: segments.into_iter().map(|(_, g)| g).collect(), model, settings })
}
