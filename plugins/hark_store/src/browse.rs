//! Browsing saved sessions from a front end: the list, full-text search and one session's
//! transcript, answered by a reader thread with its own read-only connection, so neither a
//! slow query nor a locked database ever holds up a frame. Ask with [`BrowseRequest`]; the
//! answers land in the [`Browsing`] resource.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use hark_core::{PipelineSystems, SessionState, samples_to_secs};

use crate::writer::Flusher;
use crate::{Reader, SearchHit, SessionRow, StoredSession, Writer};

/// Hits a search returns at most.
pub const SEARCH_LIMIT: usize = 20;

/// A question for the reader thread.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub enum BrowseRequest {
    /// List the sessions again (and run the current search again).
    Refresh,
    /// Search transcripts for these words (empty: no search).
    Search(String),
    /// Read one session's transcript.
    Open(i64),
}

/// A saved session's transcript, as opened.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedSession {
    pub id: i64,
    pub title: String,
    /// (start in seconds, text) of each utterance that has text.
    pub lines: Vec<(f64, String)>,
    /// (start in seconds, seconds of speech) of each stretch of speech that came out without
    /// text ([`hark_core::unrecognised::in_utterance`]).
    pub unrecognised: Vec<(f64, f64)>,
}

/// What the reader thread answered last.
#[derive(Resource, Debug, Clone, Default)]
pub struct Browsing {
    /// Every session, newest first.
    pub sessions: Vec<SessionRow>,
    /// The search the hits are for.
    pub query: String,
    pub hits: Vec<SearchHit>,
    /// The session last opened.
    pub opened: Option<OpenedSession>,
    /// Why the last question could not be answered.
    pub problem: Option<String>,
    /// Whether a database is there to browse at all.
    pub saving: bool,
}

enum Answer {
    Listed { sessions: Vec<SessionRow>, query: String, hits: Vec<SearchHit> },
    Opened(OpenedSession),
    Problem(String),
}

/// The answers to a burst of questions, and how many questions it answers.
struct Reply {
    answered: usize,
    answers: Vec<Answer>,
}

/// Called by the reader thread after each answer (the window wakes its event loop with it).
type Waker = Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>;

/// Channel ends to the reader thread.
#[derive(Resource)]
pub struct Browser {
    ask: Sender<(BrowseRequest, Option<Flusher>)>,
    waker: Waker,
    replies: Receiver<Reply>,
    /// Questions asked and not yet answered.
    outstanding: usize,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("outstanding", &self.outstanding).finish()
    }
}

/// Answers one burst of questions: of several searches only the last one is run, of several
/// refreshes one.
fn answer(
    reader: &mut Option<Reader>,
    path: &std::path::Path,
    query: &mut String,
    batch: Vec<BrowseRequest>,
) -> Vec<Answer> {
    let mut list = false;
    let mut open = Vec::new();
    for q in batch {
        match q {
            BrowseRequest::Refresh => list = true,
            BrowseRequest::Search(s) => {
                *query = s;
                list = true;
            }
            BrowseRequest::Open(id) => open.push(id),
        }
    }
    if reader.is_none() {
        if !path.exists() {
            let mut out = Vec::new();
            if list {
                out.push(Answer::Listed { sessions: Vec::new(), query: query.clone(), hits: Vec::new() });
            }
            if !open.is_empty() {
                out.push(Answer::Problem("no session has been saved yet".into()));
            }
            return out;
        }
        match Reader::open(path) {
            Ok(r) => *reader = Some(r),
            Err(e) => return vec![Answer::Problem(e.to_string())],
        }
    }
    let Some(r) = reader.as_ref() else { return Vec::new() };
    let mut out = Vec::new();
    if list {
        out.push(match list_and_search(r, query) {
            Ok((sessions, hits)) => Answer::Listed { sessions, query: query.clone(), hits },
            Err(e) => Answer::Problem(e.to_string()),
        });
    }
    for id in open {
        out.push(match open_session(r, id) {
            Ok(o) => Answer::Opened(o),
            Err(e) => Answer::Problem(e.to_string()),
        });
    }
    out
}

fn list_and_search(r: &Reader, query: &str) -> Result<(Vec<SessionRow>, Vec<SearchHit>), crate::StoreError> {
    let sessions = r.sessions()?;
    let hits = if query.trim().is_empty() { Vec::new() } else { r.search(query, SEARCH_LIMIT)? };
    Ok((sessions, hits))
}

fn open_session(r: &Reader, id: i64) -> Result<OpenedSession, crate::StoreError> {
    let s = r.session(id)?;
    let segments = r.segments(id)?;
    let unrecognised = segments
        .iter()
        .flat_map(|g| {
            hark_core::unrecognised::in_utterance(
                &g.text,
                g.suspect,
                g.vad_speech,
                (g.start_sample, g.end_sample),
                &g.unheard,
            )
        })
        .map(|(from, _, speech)| (samples_to_secs(from), speech))
        .collect();
    let lines = segments
        .into_iter()
        .filter(|g| !g.suspect && !g.text.is_empty())
        .map(|g| (samples_to_secs(g.start_sample), g.text))
        .collect();
    Ok(OpenedSession { id, title: s.title, lines, unrecognised })
}

impl Browser {
    /// Starts the reader thread for the database at `path` (which may not exist yet: it is
    /// opened at the first question after it appears).
    pub fn start(path: PathBuf) -> Self {
        let (ask, questions) = crossbeam_channel::unbounded::<(BrowseRequest, Option<Flusher>)>();
        let (tell, replies) = crossbeam_channel::unbounded::<Reply>();
        let waker: Waker = Arc::default();
        let wake = waker.clone();
        let spawned = std::thread::Builder::new().name("hark-browse".into()).spawn(move || {
            let mut reader = None;
            let mut query = String::new();
            while let Ok(first) = questions.recv() {
                let mut batch = vec![first];
                batch.extend(questions.try_iter());
                let answered = batch.len();
                // Read what the writer has been sent so far (a session that just completed is
                // listed complete, not as it was a few commits ago).
                if let Some(f) = batch.iter().rev().find_map(|(_, f)| f.as_ref()) {
                    f.wait();
                }
                let answers = answer(&mut reader, &path, &mut query, batch.into_iter().map(|(q, _)| q).collect());
                if tell.send(Reply { answered, answers }).is_err() {
                    return;
                }
                if let Some(w) = wake.get() {
                    w();
                }
            }
        });
        if let Err(e) = spawned {
            error!("cannot start the session browser: {e}");
        }
        Self { ask, waker, replies, outstanding: 0 }
    }

    fn ask(&mut self, q: BrowseRequest, flusher: Option<Flusher>) {
        if self.ask.send((q, flusher)).is_ok() {
            self.outstanding += 1;
        }
    }

    /// Has `wake` called after each answer (an idle window sleeps until something wakes it).
    pub fn set_waker(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.waker.set(Box::new(wake));
    }

    /// Questions asked and not answered yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    fn apply(&mut self, reply: Reply, to: &mut Browsing) {
        self.outstanding = self.outstanding.saturating_sub(reply.answered);
        for a in reply.answers {
            match a {
                Answer::Listed { sessions, query, hits } => {
                    to.sessions = sessions;
                    to.query = query;
                    to.hits = hits;
                    to.problem = None;
                }
                Answer::Opened(o) => {
                    to.opened = Some(o);
                    to.problem = None;
                }
                Answer::Problem(p) => to.problem = Some(p),
            }
        }
    }

    /// Blocks until every question asked so far is answered, and applies the answers (for
    /// tests: frames never wait on the database).
    pub fn wait(&mut self, to: &mut Browsing) {
        while self.outstanding > 0 {
            match self.replies.recv() {
                Ok(r) => self.apply(r, to),
                Err(_) => break,
            }
        }
    }
}

/// Browsing for a front end: insert it with the database path (`None`: sessions are not
/// saved, and the list stays empty).
#[derive(Debug, Default)]
pub struct BrowsePlugin {
    pub database: Option<PathBuf>,
}

impl Plugin for BrowsePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<BrowseRequest>()
            .insert_resource(Browsing { saving: self.database.is_some(), ..default() })
            // After the store has sent this frame's rows: the browser flushes the writer before
            // it reads, so a session that completed with its last text is listed with that text
            // (a capture's title is its first words; listed before they were sent, it kept its
            // device's name until the next refresh).
            .add_systems(
                Update,
                (refresh_on_news, ask, receive).chain().in_set(PipelineSystems::Output).after(crate::store_states),
            );
        if let Some(db) = &self.database {
            app.insert_resource(Browser::start(db.clone()));
        }
        app.world_mut().write_message(BrowseRequest::Refresh);
    }
}

/// A session saved for the first time, or a saved one that changed state.
type News = Or<(Added<StoredSession>, (With<StoredSession>, Changed<SessionState>))>;

/// A session saved for the first time, or one that changed state, is news for the list.
fn refresh_on_news(news: Query<(), News>, mut ask: MessageWriter<BrowseRequest>) {
    if !news.is_empty() {
        ask.write(BrowseRequest::Refresh);
    }
}

fn ask(browser: Option<ResMut<Browser>>, writer: Option<Res<Writer>>, mut requests: MessageReader<BrowseRequest>) {
    let Some(mut browser) = browser else {
        requests.clear();
        return;
    };
    for r in requests.read() {
        browser.ask(r.clone(), writer.as_ref().map(|w| w.flusher()));
    }
}

fn receive(browser: Option<ResMut<Browser>>, mut browsing: ResMut<Browsing>) {
    let Some(mut browser) = browser else { return };
    let replies: Vec<Reply> = browser.replies.try_iter().collect();
    if replies.is_empty() {
        return;
    }
    for r in replies {
        browser.apply(r, &mut browsing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Writer};

    #[test]
    fn the_browser_lists_searches_and_opens_sessions_off_the_frame() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hark.db");
        let mut app = App::new();
        app.add_plugins(BrowsePlugin { database: Some(db.clone()) });
        let wait = |app: &mut App| {
            app.update();
            let world = app.world_mut();
            let mut browsing = world.resource::<Browsing>().clone();
            world.resource_mut::<Browser>().wait(&mut browsing);
            world.insert_resource(browsing);
        };
        // Nothing saved yet: an empty list, and opening says why.
        wait(&mut app);
        assert!(app.world().resource::<Browsing>().sessions.is_empty());
        app.world_mut().write_message(BrowseRequest::Open(1));
        wait(&mut app);
        assert_eq!(app.world().resource::<Browsing>().problem.as_deref(), Some("no session has been saved yet"));

        let w = Writer::open(&db).unwrap();
        let id = w.create_session("standup", hark_core::SourceKind::Microphone, "mic", "tiny.en", "{}").unwrap();
        // The third utterance, 1.5 s of speech, came out without text.
        for (i, text) in ["first point", "second point", ""].iter().enumerate() {
            let idx = i as u32;
            let start = idx as u64 * 32_000;
            w.send(Command::Segment { session: id, idx, start, end: start + 24_000, vad_mean: 0.9, vad_speech: 1.0 });
            w.send(Command::text_transcript(id, idx, (*text).into(), "tiny.en"));
        }
        w.close().unwrap();

        app.world_mut().write_message(BrowseRequest::Refresh);
        wait(&mut app);
        let b = app.world().resource::<Browsing>();
        assert_eq!(b.sessions.iter().map(|s| (s.id, s.title.as_str())).collect::<Vec<_>>(), vec![(id, "standup")]);
        assert_eq!(b.sessions[0].kind, hark_core::SourceKind::Microphone);
        // A burst of keystrokes: only the last search is run, and its hits are kept.
        for q in ["s", "se", "second"] {
            app.world_mut().write_message(BrowseRequest::Search(q.into()));
        }
        wait(&mut app);
        let b = app.world().resource::<Browsing>();
        assert_eq!((b.query.as_str(), b.hits.len()), ("second", 1));
        assert_eq!(b.hits[0].start_s, 2.0);
        app.world_mut().write_message(BrowseRequest::Open(id));
        wait(&mut app);
        let opened = app.world().resource::<Browsing>().opened.clone().unwrap();
        assert_eq!((opened.id, opened.title.as_str()), (id, "standup"));
        assert_eq!(opened.lines, vec![(0.0, "first point".to_owned()), (2.0, "second point".to_owned())]);
        assert_eq!(opened.unrecognised, vec![(4.0, 1.5)]);
        app.world_mut().write_message(BrowseRequest::Open(999));
        wait(&mut app);
        let b = app.world().resource::<Browsing>();
        assert!(b.problem.as_deref().unwrap_or("").contains("no session 999"), "{:?}", b.problem);
        assert_eq!(b.opened.as_ref().map(|o| o.id), Some(id), "what was open stays open");

        // A state sent to the app's writer and not yet committed is what the list shows: the
        // browser waits for the writer before it reads.
        let w = Writer::open(&db).unwrap();
        let live = w.create_session("live", hark_core::SourceKind::Microphone, "mic", "tiny.en", "{}").unwrap();
        w.send(Command::SetState { session: live, state: SessionState::Complete });
        app.insert_resource(w);
        app.world_mut().write_message(BrowseRequest::Refresh);
        wait(&mut app);
        let b = app.world().resource::<Browsing>();
        let row = b.sessions.iter().find(|s| s.id == live).unwrap();
        assert_eq!(row.state, SessionState::Complete);
    }
}
