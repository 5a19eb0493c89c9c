//! The overlay's rooms, one file each; each draws its panel from a small `SystemParam`.

pub mod controls;
pub mod replay;
pub mod session;
pub mod sessions;
pub mod status;
pub mod transcript;
pub mod versions;

use hark_core::{Transcript, TranscriptionPending, Utterance, UtteranceAudio};

/// What the panels read of each utterance: its text, whether it is on its way, and how much
/// of it the VAD called speech.
pub type UtteranceRow = (
    &'static Utterance,
    Option<&'static Transcript>,
    bevy::prelude::Has<TranscriptionPending>,
    bevy::prelude::Has<UtteranceAudio>,
    Option<&'static hark_core::UtteranceVad>,
);
