//! `hark`: the desktop studio and its command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    large_allocations_get_pages_of_their_own();
    let args = cli::Cli::parse();
    if args.command.is_some() {
        end_quietly_on_broken_pipe();
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Command-line output piped into `head` and the like: end quietly when the reader goes away,
/// as Unix tools do, instead of panicking in `println!` (Rust ignores SIGPIPE by default).
#[expect(unsafe_code, reason = "restoring the default SIGPIPE disposition needs libc::signal")]
fn end_quietly_on_broken_pipe() {
    // SAFETY: called before any thread is started; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// glibc serves allocations from 1 MB up with pages of their own, given back whole when freed.
/// By default it raises that threshold to the size of each large block freed (up to 32 MB), so
/// after a whisper state was replaced (a sampling retry needs a fresh one) its tens of MB of
/// buffers came from the heap instead, and the resident level stayed ~20 MB higher each time:
/// a 20 min file with one such retry went from 261 to 283 MB and stayed there; with the
/// threshold fixed it stays at 254–262 MB (docs/PERFORMANCE.md, file-mode memory).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "mallopt is glibc's only interface to its allocator's settings")]
fn large_allocations_get_pages_of_their_own() {
    // SAFETY: called first thing in main, before any other thread exists; M_MMAP_THRESHOLD
    // takes any size up to 32 MB, and a refusal (0) leaves glibc's default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn large_allocations_get_pages_of_their_own() {}
