//! The captures of this run, kept for the transcript panel: a new capture no longer wipes what
//! was said in the one before. Each capture's final text is copied here as it arrives, so it
//! stays after its session and utterances leave the world (`ReleaseFinishedSessions`). Only
//! the window's own captures are kept (not replays or recoveries); the saved sessions hold
//! everything else.

use bevy::prelude::*;
use hark_capture::CaptureStarted;
use hark_core::{StartedAt, Transcript, TranscriptReady, Utterance, UtteranceVad};

use crate::transcript::{Row, RowText};

/// One capture of this run and its final text.
#[derive(Debug, Clone)]
pub struct PastCapture {
    pub session: Entity,
    /// When it began, in the local time zone.
    pub began: Option<jiff::Zoned>,
    /// What it captured from (the device or file).
    pub source: String,
    /// Its utterances' start (session samples) and text, in order.
    pub lines: Vec<(u64, String)>,
}

/// This run's captures, oldest first.
#[derive(Resource, Debug, Default)]
pub struct RunHistory {
    pub captures: Vec<PastCapture>,
}

impl RunHistory {
    /// The earlier captures' rows (a heading each, then their lines under the clock time they
    /// were said), and a heading for `current` when there are any: what the panel shows above
    /// the current capture's own rows.
    pub fn rows_before(&self, current: Entity) -> Vec<Row<'_>> {
        let mut rows = Vec::new();
        for c in self.captures.iter().filter(|c| c.session != current && !c.lines.is_empty()) {
            rows.push(Row { start_s: -1.0, text: RowText::Heading(heading("Earlier", c).into()) });
            for (start, text) in &c.lines {
                let secs = hark_core::samples_to_secs(*start);
                rows.push(Row {
                    start_s: -1.0,
                    text: RowText::Earlier {
                        time: crate::transcript::row_time(secs, c.began.as_ref()).into(),
                        text: text.into(),
                    },
                });
            }
        }
        if !rows.is_empty()
            && let Some(c) = self.captures.iter().find(|c| c.session == current)
        {
            rows.push(Row { start_s: -1.0, text: RowText::Heading(heading("Now", c).into()) });
        }
        rows
    }
}

fn heading(when: &str, c: &PastCapture) -> String {
    match &c.began {
        Some(t) => format!("{when} · {} · {}", t.strftime("%H:%M"), c.source),
        None => format!("{when} · {}", c.source),
    }
}

/// Keeps each new capture and each final text of one.
pub(crate) fn remember_captures(
    mut started: MessageReader<CaptureStarted>,
    mut ready: MessageReader<TranscriptReady>,
    at: Query<&StartedAt>,
    utterances: Query<(&Utterance, &Transcript, Option<&UtteranceVad>)>,
    mut history: ResMut<RunHistory>,
) {
    for s in started.read() {
        let began = at
            .get(s.session)
            .ok()
            .and_then(|t| jiff::Timestamp::try_from(t.0).ok())
            .map(|t| t.to_zoned(jiff::tz::TimeZone::system()));
        history.captures.push(PastCapture {
            session: s.session,
            began,
            source: s.description.clone(),
            lines: Vec::new(),
        });
    }
    for r in ready.read() {
        let Ok((u, t, vad)) = utterances.get(r.utterance) else { continue };
        let fraction = vad.map_or(0.0, |v| v.speech_fraction);
        // Its text, and where someone spoke without any (as the live rows showed it).
        let mut lines: Vec<(u64, String)> =
            hark_core::unrecognised::in_utterance(&t.text, t.suspect, fraction, (u.start, u.end), &t.unheard)
                .into_iter()
                .map(|(from, _, speech)| {
                    (from, crate::transcript::unheard_label(false, crate::transcript::tenths(speech)))
                })
                .collect();
        if !t.suspect && !t.text.trim().is_empty() {
            lines.insert(0, (u.start, t.text.clone()));
        }
        let Some(c) = history.captures.iter_mut().rev().find(|c| c.session == u.session) else { continue };
        for (start, text) in lines {
            // In order of where they were said (finals of one capture can arrive out of order).
            let at = c.lines.partition_point(|(s, _)| *s < start);
            if c.lines.get(at).is_some_and(|(s, _)| *s == start) {
                c.lines[at].1 = text;
            } else {
                c.lines.insert(at, (start, text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_core::SourceKind;

    fn said(app: &mut App, session: Entity, start: u64, text: &str) {
        let u = app
            .world_mut()
            .spawn((
                Utterance { session, start, end: start + 16_000, index: 0 },
                Transcript { text: text.into(), words: vec![], no_speech: 0.0, suspect: false, unheard: vec![] },
            ))
            .id();
        app.world_mut().write_message(TranscriptReady { utterance: u });
    }

    fn texts(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|r| match &r.text {
                RowText::Heading(t) => format!("# {}", t.split(" · ").next().unwrap_or("")),
                RowText::Earlier { text, .. } => text.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn earlier_captures_stay_above_the_current_one_after_their_sessions_are_gone() {
        let mut app = App::new();
        app.add_message::<CaptureStarted>()
            .add_message::<TranscriptReady>()
            .init_resource::<RunHistory>()
            .add_systems(Update, remember_captures);
        let start = |app: &mut App| {
            let s = app.world_mut().spawn(StartedAt::default()).id();
            app.world_mut().write_message(CaptureStarted {
                session: s,
                kind: SourceKind::Microphone,
                description: "Default Audio Device".into(),
            });
            app.update();
            s
        };
        let a = start(&mut app);
        // Finals out of order, and one the guard marked suspect: kept in order, suspect left out.
        said(&mut app, a, 48_000, "second");
        said(&mut app, a, 16_000, "first");
        let u = app
            .world_mut()
            .spawn((
                Utterance { session: a, start: 80_000, end: 90_000, index: 2 },
                Transcript { text: "Thank you.".into(), words: vec![], no_speech: 0.9, suspect: true, unheard: vec![] },
            ))
            .id();
        app.world_mut().write_message(TranscriptReady { utterance: u });
        // And 2 s of speech that came out without text: it stays said.
        let u = app
            .world_mut()
            .spawn((
                Utterance { session: a, start: 100_000, end: 132_000, index: 3 },
                Transcript { text: String::new(), words: vec![], no_speech: 0.8, suspect: false, unheard: vec![] },
                UtteranceVad { mean_probability: 0.7, speech_fraction: 1.0 },
            ))
            .id();
        app.world_mut().write_message(TranscriptReady { utterance: u });
        app.update();
        let h = app.world().resource::<RunHistory>();
        assert!(h.rows_before(a).is_empty(), "nothing earlier than the first capture");

        // The first session leaves the world; the next capture shows it above its own rows.
        app.world_mut().despawn(a);
        let b = start(&mut app);
        said(&mut app, b, 0, "third");
        app.update();
        let h = app.world().resource::<RunHistory>();
        assert_eq!(
            texts(&h.rows_before(b)),
            ["# Earlier", "first", "second", "speech not recognised (2.0 s)", "# Now"]
        );
        let c = start(&mut app);
        let h = app.world().resource::<RunHistory>();
        assert_eq!(
            texts(&h.rows_before(c)),
            ["# Earlier", "first", "second", "speech not recognised (2.0 s)", "# Earlier", "third", "# Now"]
        );
    }
}
