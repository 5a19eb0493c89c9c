//! hark_segment
