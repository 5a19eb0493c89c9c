//! `hark`: the desktop studio and its command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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

/// Every allocation of the process, whisper.cpp's and the graphics driver's included, comes from
/// jemalloc (its unprefixed `malloc`, `free`, … replace glibc's for the C and C++ code too). With
/// glibc, whisper.cpp's buffers left the heap fragmented: two hours of audio through two workers
/// rose +24 MB per hour of audio (median by tenth of the run 367 → 424 MB, peak 431 MB); with
/// jemalloc, +7 MB per hour (+0.9 over the second half), 368 → 399 MB, peak 407 MB, the same
/// text in the same time (docs/PERFORMANCE.md, file-mode memory).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read once at its start: pages freed are given back to the system within
/// a second, by a thread of its own (by default it keeps them ten seconds, then ten more as
/// "muzzy", and only an allocating thread gives them back). Without the thread the same
/// settings left the soak's level where the defaults had it (mean 413 against 389 MB). Giving
/// pages back at once (`dirty_decay_ms:0`) lowers it further (373 MB) but costs 3 % of the
/// time on a 20 min file, so a second it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "jemalloc reads its settings from this exported C symbol")]
#[unsafe(no_mangle)]
static malloc_conf: JemallocConf =
    JemallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// A C string pointer jemalloc reads (`const char *malloc_conf`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[repr(transparent)]
struct JemallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a string literal, never written.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "a static shared with C needs Sync")]
unsafe impl Sync for JemallocConf {}
