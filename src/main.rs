//! `hark`: the desktop studio and its command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if args.command.is_some() {
        end_quietly_on_broken_pipe();
    }
    if matches!(&args.command, Some(cli::Command::Transcribe(t)) if !t.paced)
        || matches!(args.command, Some(cli::Command::Eval(_)))
    {
        give_freed_pages_back_at_once();
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
/// pages back at once (`dirty_decay_ms:0`) lowers it further (373 MB) but cost 3 % of the
/// time on a 20 min file then, so a second it is, except for files transcribed as fast as they
/// go ([`give_freed_pages_back_at_once`], which overrides a `MALLOC_CONF` decay for them).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "jemalloc reads its settings from this exported C symbol")]
#[unsafe(no_mangle)]
static malloc_conf: JemallocConf =
    JemallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// Files transcribed as fast as they go: freed pages go back to the system at once instead of
/// within a second. A file read at 40 times real time frees its audio buffers (chunks, the
/// segmenter's window, utterances, the store's blocks) tens of MB a second, and held for a
/// second they sat on top of the peak: the 92 s long-form file peaked at 226 MB, 204 MB with
/// this, 10 min of corpus clips at 249 against 239 MB, for 0.4-2 % more time
/// (docs/PERFORMANCE.md). Live capture, `--paced` and the window keep the second: their churn
/// is that of real time, and giving pages back within 200 ms (with one arena) made the live
/// recogniser's CPU about 3 % higher.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "jemalloc's settings are written through mallctl")]
fn give_freed_pages_back_at_once() {
    use tikv_jemalloc_ctl::raw;
    // SAFETY: the names are jemalloc's own NUL-terminated `ssize_t` settings, written with an
    // `isize`. Arenas not made yet take the default; a slot never used refuses and is skipped.
    unsafe {
        if let Err(e) = raw::write(b"arenas.dirty_decay_ms\0", 0isize) {
            eprintln!("warning: jemalloc's page decay could not be changed ({e}); memory peaks higher");
            return;
        }
        let arenas = tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(0);
        for i in 0..arenas {
            let name = format!("arena.{i}.dirty_decay_ms\0");
            let _ = raw::write(name.as_bytes(), 0isize);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_freed_pages_back_at_once() {}

/// A C string pointer jemalloc reads (`const char *malloc_conf`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[repr(transparent)]
struct JemallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a string literal, never written.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "a static shared with C needs Sync")]
unsafe impl Sync for JemallocConf {}
