//! hark_transcribe
