//! `hark model …`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use hark_model::{FType, KNOWN_MODELS, catalog, fetch};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Known models: size, sha256, and whether and where each is installed.
    List,
    /// Download a known model from the hub (sha256-checked).
    Fetch {
        /// Model name, e.g. tiny.en, base.en, base.
        name: String,
    },
    /// Convert a CTranslate2 (faster-whisper) model directory to a whisper.cpp ggml file.
    Import {
        /// Directory with model.bin (or model.bin.part1, part2, …) and vocabulary.txt/json.
        dir: PathBuf,
        /// Output ggml file.
        #[arg(short, long)]
        output: PathBuf,
        /// Write every tensor as f32 (ftype 0) instead of f16 weights.
        #[arg(long)]
        f32: bool,
    },
    /// Check a ggml file's header, hyper-parameters and tensor table without loading it.
    Verify { file: PathBuf },
}

pub fn run(cmd: ModelCommand, models_dir: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelCommand::List => list(models_dir),
        ModelCommand::Fetch { name } => fetch_model(&name, models_dir),
        ModelCommand::Import { dir, output, f32 } => {
            let start = Instant::now();
            let ftype = if f32 { FType::F32 } else { FType::F16 };
            let r = hark_model::import_ct2(&dir, &output, ftype)?;
            let hp = r.hparams;
            println!(
                "wrote {} ({} bytes, {} tensors) in {:.2} s",
                r.output.display(),
                r.bytes,
                r.tensors,
                start.elapsed().as_secs_f64()
            );
            println!(
                "model: {}{} ({} vocab, {} layers, width {}, {})",
                hp.size_name(),
                if hp.is_multilingual() { "" } else { ".en" },
                hp.n_vocab,
                hp.n_audio_layer,
                hp.n_audio_state,
                if f32 { "f32" } else { "f16" }
            );
            println!("sha256: {}", r.sha256);
            match catalog::identify(&r.sha256) {
                Some(m) => println!("identical to the official {}", m.file_name()),
                None => println!("(not byte-identical to an official file; expected for --f32 or quantized input)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Verify { file } => {
            let info = hark_model::verify(&file)?;
            let hp = info.hparams;
            let sha = hark_model::sha256_file(&file)?;
            println!("{}: whisper.cpp ggml model, OK", file.display());
            println!(
                "  type {}{}  vocab {} ({} tokens stored)  audio {}×{} ({} heads)  text {}×{} ({} heads)  mels {}",
                hp.size_name(),
                if hp.is_multilingual() { " (multilingual)" } else { " (English-only)" },
                hp.n_vocab,
                info.n_tokens,
                hp.n_audio_layer,
                hp.n_audio_state,
                hp.n_audio_head,
                hp.n_text_layer,
                hp.n_text_state,
                hp.n_text_head,
                hp.n_mels
            );
            println!(
                "  {} tensors ({} f16), ftype {}, {} bytes",
                info.tensors,
                info.f16_tensors,
                hp.ftype.id(),
                info.bytes
            );
            println!("  sha256 {sha}");
            if let Some(m) = catalog::identify(&sha) {
                println!("  identical to the official {}", m.file_name());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(models_dir: &Path) -> anyhow::Result<ExitCode> {
    println!("models directory: {}", models_dir.display());
    println!("{:<16} {:>8}  {:<12}  {:<64}  offline source", "name", "MB", "installed", "sha256");
    for m in KNOWN_MODELS {
        let path = models_dir.join(m.file_name());
        let installed = match std::fs::metadata(&path) {
            Ok(md) if md.len() == m.size => "yes",
            Ok(_) => "other file",
            Err(_) => "no",
        };
        println!(
            "{:<16} {:>8.1}  {:<12}  {}  {}",
            m.name,
            m.size as f64 / 1e6,
            installed,
            m.sha256,
            m.offline_source.unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch_model(name: &str, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let Some(model) = hark_model::find_known(name) else {
        let names: Vec<_> = KNOWN_MODELS.iter().map(|m| m.name).collect();
        anyhow::bail!("unknown model {name:?}; known models: {}", names.join(", "));
    };
    let bar = indicatif::ProgressBar::new(model.size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message(model.file_name());
    let path = fetch::fetch(model, models_dir, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let path = path?;
    println!("{} ({} bytes, sha256 verified)", path.display(), model.size);
    Ok(ExitCode::SUCCESS)
}
