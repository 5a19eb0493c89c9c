//! The recognizer threads' place in the scheduler.

/// Recognition is batch work that may take every core; the capture threads (cpal's, the sound
/// server's client) and the window must not wait behind it, or audio is late and lost. The
/// calling worker thread (and the threads whisper.cpp starts from it, which inherit it) runs
/// at a nice level of 10. On Linux the priority is per thread.
pub(crate) fn yield_to_capture() {
    #[cfg(target_os = "linux")]
    #[expect(unsafe_code, reason = "setpriority has no safe wrapper in std")]
    // SAFETY: setpriority reads only its integer arguments; `who` 0 is the calling thread.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, 0, 10) != 0 {
            log::debug!("recognizer thread priority unchanged: {}", std::io::Error::last_os_error());
        }
    }
}
