//! Prompts (`--prompt`): each session keeps its last text, and the next decode of it (a final,
//! or a speculative final) is given the end of that text.

use bevy::prelude::*;

use crate::TranscribeSettings;

/// A session's last transcript text (the prompt for its next utterance). Every session gets
/// one (a required component), and it leaves with the session.
#[derive(Component, Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptContext(pub String);

/// The prompt for `session`'s next decode: the end of its last text, when prompts are on.
pub(crate) fn prompt_for(
    settings: &TranscribeSettings,
    ctx: &Query<&PromptContext>,
    session: Entity,
) -> Option<String> {
    if !settings.use_prompt {
        return None;
    }
    ctx.get(session).ok().filter(|c| !c.0.is_empty()).map(|c| tail_chars(&c.0, settings.prompt_chars))
}

fn tail_chars(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}
