//! hark_capture
