//! hark_core
