//! Renaming, exporting and deleting a saved session from the window: each [`SessionAction`] is
//! carried out on a thread of its own (the writer's reply, a file of hours of audio), reports
//! to [`ActionOutcome`], and has the sessions list (and the replay, for a rename) read again.

use bevy::prelude::*;
use crossbeam_channel::Receiver;
use hark_replay::ReplayRequest;
use hark_replay::versions::{ActionOutcome, SessionAction};
use hark_store::{BrowseRequest, Reader, Writer};

use crate::export::{Written, session_bytes, write_export};

/// Carries out [`SessionAction`]s in an app with a [`Writer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionActionsPlugin;

impl Plugin for SessionActionsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Actions>()
            .add_systems(Update, (start_actions, finish_actions).chain().in_set(hark_core::PipelineSystems::Control));
    }
}

/// What was done, or why not.
type Outcome = Result<String, String>;

/// The actions under way: what each was, and its result once done.
#[derive(Resource, Default)]
pub struct Actions(Vec<(SessionAction, Receiver<Outcome>, Option<Outcome>)>);

impl Actions {
    /// Blocks until every action has finished (tests step the app deterministically with it).
    pub fn wait(&mut self) {
        for (_, rx, held) in &mut self.0 {
            if held.is_none() {
                *held = Some(rx.recv().unwrap_or_else(|_| Err("the action stopped".into())));
            }
        }
    }
}

fn carry_out(action: &SessionAction, writer: &Writer) -> Outcome {
    match action {
        SessionAction::Rename { session, title } => {
            let title = title.trim();
            if title.is_empty() {
                return Err("a session needs a title".into());
            }
            writer.rename(*session, title).map_err(|e| e.to_string())?;
            Ok(format!("renamed session {session} to \"{title}\""))
        }
        SessionAction::Export { session, kind, path } => {
            let r = Reader::open(&writer.path).map_err(|e| e.to_string())?;
            let bytes = session_bytes(&r, *session, *kind).map_err(|e| e.to_string())?;
            match write_export(Some(path), &writer.path, &bytes).map_err(|e| e.to_string())? {
                Written::File(p) => Ok(format!("wrote {}", p.display())),
                Written::Stdout => Ok("written to standard output".into()),
            }
        }
        SessionAction::Delete { session } => {
            writer.delete(*session).map_err(|e| e.to_string())?;
            Ok(format!("deleted session {session}"))
        }
    }
}

fn start_actions(
    mut asked: MessageReader<SessionAction>,
    mut actions: ResMut<Actions>,
    mut outcome: ResMut<ActionOutcome>,
    writer: Option<Res<Writer>>,
) {
    for a in asked.read() {
        let Some(writer) = writer.as_deref().cloned() else {
            outcome.0 = Some(Err("sessions are not being saved here".into()));
            continue;
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let action = a.clone();
        let spawned = std::thread::Builder::new().name("hark-action".into()).spawn(move || {
            let _ = tx.send(carry_out(&action, &writer));
        });
        match spawned {
            Ok(_) => actions.0.push((a.clone(), rx, None)),
            Err(e) => outcome.0 = Some(Err(format!("could not start: {e}"))),
        }
    }
}

fn finish_actions(
    mut actions: ResMut<Actions>,
    mut outcome: ResMut<ActionOutcome>,
    mut browse: MessageWriter<BrowseRequest>,
    mut replay: MessageWriter<ReplayRequest>,
) {
    actions.0.retain_mut(|(action, rx, held)| {
        let Some(result) = held.take().or_else(|| rx.try_recv().ok()) else { return true };
        if result.is_ok() {
            match action {
                SessionAction::Rename { .. } => {
                    browse.write(BrowseRequest::Refresh);
                    replay.write(ReplayRequest::Reload);
                }
                SessionAction::Delete { .. } => {
                    browse.write(BrowseRequest::Refresh);
                    replay.write(ReplayRequest::Close);
                }
                SessionAction::Export { .. } => {}
            }
        }
        outcome.0 = Some(result);
        false
    });
}
