//! The window's side of recovering captures cut short: at start, the saved sessions left
//! `interrupted` (the process died while recording) or `captured` (it died before every
//! utterance was transcribed) are listed in [`Recovery`] for the sessions panel to offer; when
//! the user agrees, each is resumed through the window's own pipeline ([`resume_session`]) and
//! followed until it is complete.

use bevy::prelude::*;
use hark_core::SessionState;
use hark_store::{Reader, Writer};
use hark_ui::recovery::{CutShort, Recovery};

use crate::pipeline::resume_session;

/// Offers and runs the recovery of sessions cut short; needs the pipeline and a [`Writer`].
#[derive(Debug, Default)]
pub struct RecoverPlugin;

impl Plugin for RecoverPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Recovery>()
            .add_systems(Startup, find_cut_short)
            .add_systems(Update, (start_recovery, follow_recovery).chain());
    }
}

/// What in the database is unfinished; a database that cannot be read is the browser's to
/// report (it opens the same file).
fn find_cut_short(writer: Option<Res<Writer>>, mut recovery: ResMut<Recovery>) {
    let Some(writer) = writer else { return };
    let Ok(reader) = Reader::open(&writer.path) else { return };
    let Ok(sessions) = reader.sessions() else { return };
    recovery.offered = sessions
        .into_iter()
        .filter(|s| matches!(s.state, SessionState::Interrupted | SessionState::Captured))
        .map(|s| {
            let done = reader.segments(s.id).unwrap_or_default().iter().map(|g| g.end_sample).max().unwrap_or(0);
            CutShort {
                id: s.id,
                title: s.title.clone(),
                untranscribed_s: (s.duration_s - hark_core::samples_to_secs(done)).max(0.0),
            }
        })
        .collect();
    if !recovery.offered.is_empty() {
        info!("{} saved sessions were cut short before they were transcribed", recovery.offered.len());
    }
}

fn start_recovery(world: &mut World) {
    let ids: Vec<i64> = {
        let Some(mut r) = world.get_resource_mut::<Recovery>() else { return };
        if !r.requested {
            return;
        }
        r.requested = false;
        r.offered.iter().map(|c| c.id).collect()
    };
    let Some(path) = world.get_resource::<Writer>().map(|w| w.path.clone()) else { return };
    let problem = |world: &mut World, text: String| {
        if let Some(mut n) = world.get_resource_mut::<hark_ui::Notice>() {
            n.set(text);
        }
    };
    let reader = match Reader::open(&path) {
        Ok(r) => r,
        Err(e) => return problem(world, format!("The interrupted captures cannot be read: {e}")),
    };
    let rows = match reader.sessions() {
        Ok(rows) => rows,
        Err(e) => return problem(world, format!("The interrupted captures cannot be read: {e}")),
    };
    for row in rows.iter().filter(|r| ids.contains(&r.id)) {
        match resume_session(world, &reader, row) {
            Ok(Some((e, _))) => world.resource_mut::<Recovery>().running.push((row.id, e)),
            Ok(None) => world.resource_mut::<Recovery>().finished += 1,
            Err(e) => problem(world, format!("Session #{} cannot be recovered: {e}", row.id)),
        }
    }
    world.resource_mut::<Recovery>().offered.clear();
}

fn follow_recovery(
    mut recovery: ResMut<Recovery>,
    states: Query<&SessionState>,
    notice: Option<ResMut<hark_ui::Notice>>,
    browse: Option<ResMut<Messages<hark_store::BrowseRequest>>>,
) {
    if recovery.running.is_empty() {
        return;
    }
    let before = recovery.running.len();
    recovery.running.retain(|(_, e)| states.get(*e).is_ok_and(|s| *s != SessionState::Complete));
    let done = before - recovery.running.len();
    if done == 0 {
        return;
    }
    recovery.finished += done;
    if recovery.running.is_empty() {
        if let Some(mut n) = notice {
            let n_done = recovery.finished;
            n.set(format!(
                "Transcribed {n_done} capture{} that {} cut short: {} in the sessions list.",
                if n_done == 1 { "" } else { "s" },
                if n_done == 1 { "was" } else { "were" },
                if n_done == 1 { "it is" } else { "they are" }
            ));
        }
        if let Some(mut b) = browse {
            b.write(hark_store::BrowseRequest::Refresh);
        }
    }
}
