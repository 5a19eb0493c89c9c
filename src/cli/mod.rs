//! Command-line interface. Every subcommand reports bad input as one clear line on stderr and
//! a non-zero exit status.

mod model;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hark",
    version,
    about = "Live speech capture and transcription"
)]
pub struct Cli {
    /// Directory holding ggml models (default: $HARK_MODELS_DIR, ./models, or ~/.local/share/hark/models).
    #[arg(long, global = true)]
    pub models_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, download, import and verify Whisper models.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let models_dir = cli
        .models_dir
        .unwrap_or_else(hark_model::default_models_dir);
    match cli.command {
        Some(Command::Model(cmd)) => model::run(cmd, &models_dir),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
