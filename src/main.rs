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
