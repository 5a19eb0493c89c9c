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
    /// Write a smaller, faster copy of an f16 (or f32) ggml model with its weights in one of
    /// ggml's block formats (the convolutions stay f16, norms and biases f32).
    Quantize {
        /// The f16 or f32 ggml model, or a known name in the models directory (tiny.en).
        input: String,
        /// Output file (default: `ggml-<name>-<type>.bin` beside the input).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Block format: q8_0 (8 bits), q5_1, q5_0 (5 bits) or q4_0 (4 bits).
        #[arg(long = "type", value_name = "TYPE", default_value = "q8_0")]
        ty: String,
    },
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
        ModelCommand::Quantize { input, output, ty } => quantize(&input, output, &ty, models_dir),
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
            let quantized = if info.quantized_tensors > 0 {
                format!(", {} {}", info.quantized_tensors, hp.ftype.name())
            } else {
                String::new()
            };
            println!(
                "  weights {} (ftype {}): {} tensors ({} f16{quantized}), {} bytes",
                hp.ftype.name(),
                hp.ftype.id(),
                info.tensors,
                info.f16_tensors,
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

fn quantize(input: &str, output: Option<PathBuf>, ty: &str, models_dir: &Path) -> anyhow::Result<ExitCode> {
    let Some(to) = FType::parse(ty).filter(|t| t.is_quantized()) else {
        anyhow::bail!("--type {ty:?} is not a block format: choose q8_0, q5_1, q5_0 or q4_0");
    };
    let input = catalog::resolve_model(input, models_dir);
    if !input.exists() {
        anyhow::bail!(
            "{} does not exist: give a ggml model file, or install one first (`hark model list`)",
            input.display()
        );
    }
    let output = output.unwrap_or_else(|| {
        let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
        let name = stem.strip_prefix("ggml-").unwrap_or(stem);
        input.with_file_name(catalog::quantized_file_name(name, to))
    });
    let start = Instant::now();
    let r = hark_model::quantize_file(&input, &output, to)?;
    println!(
        "wrote {} ({} of {} tensors {}): {:.1} MB from {:.1} MB in {:.2} s",
        r.output.display(),
        r.quantized,
        r.tensors,
        to.name(),
        r.bytes as f64 / 1e6,
        r.input_bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    println!("sha256: {}", r.sha256);
    Ok(ExitCode::SUCCESS)
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
    let default = hark_model::catalog::DEFAULT_MODEL;
    let path = hark_model::resolve_model(default, models_dir);
    let state = if path.is_file() { "installed" } else { "not installed; made from the f16 file when first used" };
    println!("default model: {default} ({}, {state})", path.display());
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
