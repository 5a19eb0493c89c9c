//! The captures of this run, kept for the transcript panel: a new capture no longer wipes what
//! was said in the one before. Each capture's final text is copied here as it arrives, so it
//! stays after its session and utterances leave the world (`ReleaseFinishedSessions`). Only
//! the window's own captures are kept (not replays or recoveries); the saved sessions hold
//! everything else.
//!
//! With its text here (and in the store), a capture's utterance need not stay in the world
//! either: [`let_go_of_transcribed`] despawns it once it and every one before it have their
//! text and it has scrolled off the views. A capture left running for hours then holds its
//! text (some 100 bytes an utterance) and the few utterances still being transcribed or drawn,
//! not every utterance's words, VAD figures and components since it began.

use bevy::ecs::entity::EntityHashSet;
use bevy::prelude::*;
use hark_capture::CaptureStarted;
use hark_core::{SessionUtterances, StartedAt, Transcript, TranscriptReady, Utterance, UtteranceVad};
use hark_viz::{RING, VizRing};

use crate::transcript::{Row, RowText};

/// One line of a capture: recognised text, or speech that came out without any (its seconds
/// in tenths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Said(String),
    Unheard { tenths: u32 },
}

impl Line {
    /// What the line says in the panel.
    pub fn label(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Line::Said(t) => t.as_str().into(),
            Line::Unheard { tenths } => crate::transcript::unheard_label(false, *tenths).into(),
        }
    }
}

/// One line of a capture and where it was said.
#[derive(Debug, Clone)]
pub struct PastLine {
    /// Session samples.
    pub start: u64,
    /// The clock time it was said, as its row shows it: made once, not every frame (a day of
    /// captures is thousands of rows above the current one).
    pub time: String,
    pub line: Line,
}

/// One capture of this run and its final text.
#[derive(Debug, Clone)]
pub struct PastCapture {
    pub session: Entity,
    /// When it began, in the local time zone.
    pub began: Option<jiff::Zoned>,
    /// What it captured from (the device or file).
    pub source: String,
    /// Its lines in the order they were said.
    pub lines: Vec<PastLine>,
    /// Its headings as an earlier capture and as the current one.
    headings: [String; 2],
}

impl PastCapture {
    /// A capture begun at `began` from `source`, without lines yet.
    pub fn new(session: Entity, began: Option<jiff::Zoned>, source: impl Into<String>) -> Self {
        let source = source.into();
        let heading = |when: &str| match &began {
            Some(t) => format!("{when} · {} · {source}", t.strftime("%H:%M")),
            None => format!("{when} · {source}"),
        };
        let headings = [heading("Earlier"), heading("Now")];
        Self { session, began, source, lines: Vec::new(), headings }
    }

    /// Puts `line`, said at session sample `start`, in its place among the lines (finals of
    /// one capture can arrive out of order); a line at the same start is replaced.
    pub fn add(&mut self, start: u64, line: Line) {
        let at = self.lines.partition_point(|l| l.start < start);
        if let Some(l) = self.lines.get_mut(at).filter(|l| l.start == start) {
            l.line = line;
        } else {
            let time = crate::transcript::row_time(hark_core::samples_to_secs(start), self.began.as_ref());
            self.lines.insert(at, PastLine { start, time, line });
        }
    }
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
            rows.push(Row { start_s: -1.0, text: RowText::Heading(c.headings[0].as_str().into()) });
            rows.extend(c.lines.iter().map(|l| Row {
                start_s: -1.0,
                text: RowText::Earlier { time: l.time.as_str().into(), text: l.line.label() },
            }));
        }
        if !rows.is_empty()
            && let Some(c) = self.captures.iter().find(|c| c.session == current)
        {
            rows.push(Row { start_s: -1.0, text: RowText::Heading(c.headings[1].as_str().into()) });
        }
        rows
    }

    /// The rows of `session`'s own lines that start before session sample `before` (where its
    /// first utterance still in the world starts): those let go of by [`let_go_of_transcribed`],
    /// as the panel showed them while they were in the world.
    pub fn rows_of(&self, session: Entity, before: u64) -> Vec<Row<'_>> {
        let Some(c) = self.of(session) else { return Vec::new() };
        c.lines[..c.lines.partition_point(|l| l.start < before)]
            .iter()
            .map(|l| Row {
                start_s: hark_core::samples_to_secs(l.start),
                text: match &l.line {
                    Line::Said(t) => RowText::Said(t.as_str().into()),
                    Line::Unheard { tenths } => RowText::Unheard { at: None, tenths: *tenths },
                },
            })
            .collect()
    }

    /// The capture `session` of this run, if it is one.
    pub fn of(&self, session: Entity) -> Option<&PastCapture> {
        self.captures.iter().rev().find(|c| c.session == session)
    }

    /// The recognised text of `session`, a line per utterance, in order (none when it is not
    /// one of this run's captures).
    pub fn said(&self, session: Entity) -> impl Iterator<Item = &str> {
        self.of(session).into_iter().flat_map(|c| c.lines.iter()).filter_map(|l| match &l.line {
            Line::Said(t) => Some(t.as_str()),
            Line::Unheard { .. } => None,
        })
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
        history.captures.push(PastCapture::new(s.session, began, s.description.clone()));
    }
    for r in ready.read() {
        let Ok((u, t, vad)) = utterances.get(r.utterance) else { continue };
        let fraction = vad.map_or(0.0, |v| v.speech_fraction);
        // Its text, and where someone spoke without any (as the live rows showed it).
        let mut lines: Vec<(u64, Line)> =
            hark_core::unrecognised::in_utterance(&t.text, t.suspect, fraction, (u.start, u.end), &t.unheard)
                .into_iter()
                .map(|(from, _, speech)| (from, Line::Unheard { tenths: crate::transcript::tenths(speech) }))
                .collect();
        if !t.suspect && !t.text.trim().is_empty() {
            lines.insert(0, (u.start, Line::Said(t.text.clone())));
        }
        let Some(c) = history.captures.iter_mut().rev().find(|c| c.session == u.session) else { continue };
        for (start, line) in lines {
            c.add(start, line);
        }
    }
}

/// Despawns the utterances of this run's captures whose text [`remember_captures`] has copied:
/// those with their text, every one before them with theirs too (so the panel's rows stay in
/// order), that have scrolled off the views (whose words are drawn from the utterances) and
/// were already so the frame before (every reader of their `TranscriptReady` has had it). The
/// store had their rows when their text came. The session stays (and completes) as before.
pub(crate) fn let_go_of_transcribed(
    mut commands: Commands,
    history: Res<RunHistory>,
    sessions: Query<(Entity, &SessionUtterances)>,
    utterances: Query<(&Utterance, Has<Transcript>)>,
    ring: Option<Res<VizRing>>,
    mut last_frame: Local<EntityHashSet>,
) {
    let mut now = EntityHashSet::default();
    // The sessions still in the world that are captures of this run (the newest captures are
    // searched first, so a day of them costs nothing here).
    for (session, list) in sessions.iter().filter(|(s, _)| history.of(*s).is_some()) {
        let (items, transcribed) = list.in_order(|e| utterances.get(e).ok().map(|(u, done)| (u.index, done)));
        // Off the views: the ring shows another session, or the utterance ended before its
        // oldest column.
        let drawn = |u: &Utterance| {
            ring.as_ref().is_some_and(|r| {
                r.session == Some(session) && r.column_of(u.end) >= r.written as f64 - 1.0 - f64::from(RING)
            })
        };
        for &e in &items[..transcribed] {
            if utterances.get(e).is_ok_and(|(u, _)| drawn(u)) {
                break;
            }
            now.insert(e);
            if last_frame.contains(&e) {
                commands.entity(e).despawn();
            }
        }
    }
    *last_frame = now;
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
        // Each earlier line under the clock time it was said, each capture under when it began
        // and what it captured from.
        let began = h.of(a).and_then(|p| p.began.clone());
        let rows = h.rows_before(c);
        let times: Vec<_> = rows
            .iter()
            .filter_map(|r| match &r.text {
                RowText::Earlier { time, .. } => Some(time.to_string()),
                _ => None,
            })
            .collect();
        let at = |secs: f64| crate::transcript::row_time(secs, began.as_ref());
        assert_eq!(times, [at(1.0), at(3.0), at(6.25), at(0.0)]);
        let RowText::Heading(first) = &rows[0].text else { panic!("{rows:?}") };
        assert!(first.starts_with("Earlier · ") && first.ends_with(" · Default Audio Device"), "{first}");
    }

    #[test]
    fn a_capture_lets_go_of_utterances_with_text_in_order_once_off_the_views_and_shows_them_still() {
        let mut app = App::new();
        app.add_message::<CaptureStarted>()
            .add_message::<TranscriptReady>()
            .init_resource::<RunHistory>()
            .add_systems(Update, (remember_captures, let_go_of_transcribed).chain());
        let session = app.world_mut().spawn(StartedAt::default()).id();
        app.world_mut().write_message(CaptureStarted {
            session,
            kind: SourceKind::File,
            description: "long.wav".into(),
        });
        let utterance = |app: &mut App, index: u32| {
            let start = u64::from(index) * 32_000;
            let u = Utterance { session, start, end: start + 16_000, index };
            app.world_mut().spawn((u, hark_core::UtteranceOf(session))).id()
        };
        let said = |app: &mut App, e: Entity, text: &str| {
            app.world_mut().entity_mut(e).insert(Transcript {
                text: text.into(),
                words: vec![],
                no_speech: 0.0,
                suspect: false,
                unheard: vec![],
            });
            app.world_mut().write_message(TranscriptReady { utterance: e });
        };
        let u: Vec<Entity> = (0..4).map(|i| utterance(&mut app, i)).collect();
        app.update();
        // The second has its text before the first: neither goes while the first waits.
        said(&mut app, u[1], "two");
        app.update();
        app.update();
        let held = |app: &App| u.iter().filter(|e| app.world().get_entity(**e).is_ok()).count();
        assert_eq!(held(&app), 4);
        // The first comes: both go, a frame after they could (every reader has had their text).
        said(&mut app, u[0], "one");
        app.update();
        assert_eq!(held(&app), 4);
        app.update();
        assert_eq!(held(&app), 2);
        let h = app.world().resource::<RunHistory>();
        assert_eq!(h.said(session).collect::<Vec<_>>(), ["one", "two"]);
        // The panel's rows of what left the world: those before the first still held.
        let rows = h.rows_of(session, 2 * 32_000);
        assert_eq!(
            rows.iter().map(|r| r.text.clone()).collect::<Vec<_>>(),
            [RowText::Said("one".into()), RowText::Said("two".into())]
        );
        assert_eq!(rows[1].start_s, 2.0);

        // An utterance still on the views stays while it is drawn, and goes once it scrolls off.
        let mut ring = VizRing {
            spectrum: default(),
            wave: default(),
            spectrogram_material: default(),
            waveform_material: default(),
            written: 0,
            session_start_column: 0,
            session: Some(session),
            recent: default(),
        };
        ring.written = ring.column_of(4 * 32_000) as u64;
        app.insert_resource(ring.clone());
        said(&mut app, u[2], "three");
        app.update();
        app.update();
        assert_eq!(held(&app), 2, "the third is still on the spectrogram");
        ring.written = ring.column_of(3 * 32_000).ceil() as u64 + u64::from(RING) + 1;
        app.insert_resource(ring);
        app.update();
        app.update();
        assert_eq!(held(&app), 1);
        // The session itself stays, with the one utterance still without text.
        let list = app.world().get::<SessionUtterances>(session).unwrap();
        assert_eq!(list.iter().collect::<Vec<_>>(), [u[3]]);
    }
}
