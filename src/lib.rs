//! Hark: live speech capture and transcription. The binary's pieces, as a library so the
//! integration tests drive the same pipeline the app and the CLI use.

pub mod actions;
pub mod export;
pub mod filler;
pub mod format;
pub mod longform;
pub mod output;
pub mod pipeline;
pub mod procstat;
pub mod recover;
pub mod rerun;
pub mod robust;
pub mod studio;
pub mod testset;
