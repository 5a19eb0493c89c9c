//! hark_vad
