//! Transcript versions as a front end sees them: asking for a re-run or for another current
//! version ([`VersionRequest`], carried out by the app, which owns the model and the writer),
//! how a re-run is going ([`RerunStatus`]), and two versions compared ([`Comparison`]).

use bevy::prelude::*;
use hark_core::diff::{DiffWord, WordChange};

/// Settings a re-run may change; the rest are the app's.
#[derive(Debug, Clone, PartialEq)]
pub struct RerunSettings {
    /// A model file or a known name (`tiny.en`, `base`…) in the models directory; `None`: the
    /// app's model.
    pub model: Option<String>,
    /// Pauses up to this long are joined into one utterance (seconds).
    pub merge_pauses_s: f64,
    /// Beam width of the first decoding attempt (1: greedy).
    pub beam_size: usize,
    /// Temperature step of whisper's fallback (0: none).
    pub temperature_inc: f32,
    /// The VAD's speech probability threshold (lower: more sensitive).
    pub vad_threshold: f32,
}

/// What a front end asks about versions.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum VersionRequest {
    /// Transcribe the session (or a span of it, in samples) again as a new version.
    Rerun { session: i64, span: Option<(u64, u64)>, settings: RerunSettings },
    /// Make a version the one shown, searched and exported.
    Use { session: i64, version: i64 },
}

/// How the last re-run is going.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub enum RerunStatus {
    #[default]
    Idle,
    Running {
        session: i64,
        /// 0 to 1.
        fraction: f32,
    },
    Done {
        session: i64,
        version: i64,
    },
    Failed(String),
}

impl RerunStatus {
    pub fn running(&self) -> bool {
        matches!(self, Self::Running { .. })
    }
}

/// Two versions of a session side by side: their words and what changed from `a` to `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub session: i64,
    pub a: i64,
    pub b: i64,
    pub old: Vec<DiffWord>,
    pub new: Vec<DiffWord>,
    pub changes: Vec<WordChange>,
}

impl Comparison {
    /// For each of `a`'s words, whether a change removes or replaces it.
    pub fn changed_old(&self) -> Vec<bool> {
        let mut out = vec![false; self.old.len()];
        for c in &self.changes {
            out[c.at_old..c.at_old + c.old.len()].iter_mut().for_each(|x| *x = true);
        }
        out
    }

    /// For each of `b`'s words, whether a change brings it in.
    pub fn changed_new(&self) -> Vec<bool> {
        let mut out = vec![false; self.new.len()];
        for c in &self.changes {
            out[c.at_new..c.at_new + c.new.len()].iter_mut().for_each(|x| *x = true);
        }
        out
    }
}

/// What a saved session can be exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Txt,
    Srt,
    Vtt,
    Json,
    /// The captured audio, 16 kHz mono, exactly as stored.
    Wav,
}

impl ExportKind {
    pub const ALL: [Self; 5] = [Self::Txt, Self::Srt, Self::Vtt, Self::Json, Self::Wav];

    pub fn extension(self) -> &'static str {
        match self {
            Self::Txt => "txt",
            Self::Srt => "srt",
            Self::Vtt => "vtt",
            Self::Json => "json",
            Self::Wav => "wav",
        }
    }

    /// What the menu calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Txt => "Text (.txt)",
            Self::Srt => "Subtitles (.srt)",
            Self::Vtt => "Web subtitles (.vtt)",
            Self::Json => "Words and times (.json)",
            Self::Wav => "Audio (.wav)",
        }
    }
}

/// What a front end asks to be done to a saved session (carried out by the app, off the frame).
#[derive(Message, Debug, Clone, PartialEq)]
pub enum SessionAction {
    Rename {
        session: i64,
        title: String,
    },
    /// Write its current transcript (or its audio) to `path`.
    Export {
        session: i64,
        kind: ExportKind,
        path: std::path::PathBuf,
    },
    Delete {
        session: i64,
    },
}

/// How the last [`SessionAction`] went: what was done, or why it was not.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct ActionOutcome(pub Option<Result<String, String>>);
