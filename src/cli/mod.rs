//! Command-line interface. Every subcommand reports bad input as one clear line on stderr and
//! a non-zero exit status.

mod bench;
mod bench_live;
mod bench_replay;
mod eval;
mod listen;
mod model;
mod play;
mod robust;
mod sessions;
mod transcribe;
mod versions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hark::pipeline::PipelineOptions;

#[derive(Debug, Parser)]
#[command(name = "hark", version, about = "Live speech capture and transcription")]
pub struct Cli {
    /// Directory holding ggml models (default: $HARK_MODELS_DIR, ./models, or ~/.local/share/hark/models).
    #[arg(long, global = true)]
    pub models_dir: Option<PathBuf>,
    /// Directory of the session database (default: $HARK_DATA_DIR or ~/.local/share/hark).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Studio: play this audio file as the microphone (for demos and screenshots).
    #[arg(long)]
    pub demo: Option<PathBuf>,
    /// Studio: transcribe this audio file in the window at start (as dropping it on the window does).
    #[arg(long, value_name = "FILE")]
    pub open: Option<PathBuf>,
    /// Studio: save a screenshot of the window to this PNG before exiting.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Studio: open this saved session (its number in `hark sessions list`) and play it.
    #[arg(long, value_name = "SESSION")]
    pub replay: Option<i64>,
    /// Studio: the replay's speed, 0.5 to 2 (pitch kept).
    #[arg(long, value_name = "X", default_value_t = 1.0, requires = "replay")]
    pub replay_speed: f32,
    /// Studio: exit after this many seconds.
    #[arg(long)]
    pub exit_after: Option<f64>,
    /// Studio: the window's size in logical pixels, WIDTHxHEIGHT (default 1024x640).
    #[arg(long, value_name = "WxH", value_parser = window_size)]
    pub window_size: Option<(u32, u32)>,
    /// Studio: write the transcript and view state as JSON here on exit (tests).
    #[arg(long, hide = true)]
    pub state_json: Option<PathBuf>,
    /// Studio: model file or name (default: the one last picked in the window, else tiny.en).
    #[arg(long)]
    pub model: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Live transcription from a microphone, printed as each utterance is recognised.
    Listen(listen::ListenArgs),
    /// Transcribe an audio file (wav, flac, mp3, ogg) with the headless pipeline.
    Transcribe(transcribe::TranscribeArgs),
    /// Word error rate over a manifest (TSV with `file` and `transcript` columns).
    Eval(eval::EvalArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Saved sessions: list, show, search, export, rename, delete, recover.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// List, download, import and verify Whisper models.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

/// Options shared by every command that runs the pipeline.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Model file, or a known model name (tiny.en, base.en, …) in the models directory; a name
    /// with a block type (tiny.en-q8_0, the default) is made from the f16 file if missing.
    #[arg(long, default_value = hark_model::catalog::DEFAULT_MODEL)]
    pub model: String,
    /// whisper.cpp threads per utterance (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Give the previous utterance's text as the prompt (utterances are then transcribed one
    /// after another).
    #[arg(long)]
    pub prompt: bool,
    /// Recogniser workers, each with its own whisper state, transcribing utterances in
    /// parallel (default: 1, which with every core for its threads was faster and smaller than
    /// one single-threaded worker per core; docs/PERFORMANCE.md).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Temperature step of whisper's fallback when decoding fails (0 disables it).
    #[arg(long, default_value_t = hark_transcribe::WhisperSettings::default().temperature_inc,
          value_parser = temperature_step)]
    pub temperature_inc: f32,
    /// Always encode a full 30 s window instead of fitting it to the utterance.
    #[arg(long)]
    pub full_audio_ctx: bool,
    /// Encoder positions (20 ms each) added beyond the utterance when fitting the window.
    #[arg(long, default_value_t = hark_transcribe::WhisperSettings::default().audio_ctx_margin)]
    pub audio_ctx_margin: usize,
    /// Fewest encoder positions (20 ms each) a fitted window gets (short utterances).
    #[arg(long, default_value_t = hark_transcribe::WhisperSettings::default().min_audio_ctx)]
    pub min_audio_ctx: usize,
    /// Round fitted windows up to a whole number of this many positions (1 = not rounded).
    #[arg(long, default_value_t = hark_transcribe::WhisperSettings::default().window_step)]
    pub window_step: usize,
    /// Turn off the repetition-storm guard (every hypothesis is kept as whisper gives it).
    #[arg(long)]
    pub no_guard: bool,
    /// Beam width of whisper's first decoding attempt (1 = greedy).
    #[arg(long, default_value_t = hark_transcribe::WhisperSettings::default().beam_size)]
    pub beam_size: usize,
    /// whisper.cpp's flash attention (fitted windows are then rounded up to 256 positions).
    #[arg(long)]
    pub flash_attn: bool,
    /// Voice activity detector: earshot and Silero together (`fused`, the default), either
    /// alone, or frame energy.
    #[arg(long, value_enum, default_value = "fused")]
    pub vad: VadArg,
    /// The VAD's speech probability threshold, 0.05 to 0.95 (lower: more sensitive; the
    /// window's "Speech threshold (VAD)", stored as this number).
    #[arg(long, value_name = "P", default_value_t = hark_vad::GateSettings::default().threshold, value_parser = probability)]
    pub vad_threshold: f32,
    /// Speech-band SNR (dB) at which the VAD takes a frame for speech whatever the network says
    /// (lower finds fainter voices, and more noise); a large value turns it off.
    #[arg(long, value_name = "DB", default_value_t = hark_vad::GateSettings::default().band_enter_db)]
    pub band_enter: f32,
    /// Speech-band SNR (dB) that keeps a frame inside speech.
    #[arg(long, value_name = "DB", default_value_t = hark_vad::GateSettings::default().band_stay_db)]
    pub band_stay: f32,
    /// Join speech separated by pauses up to this many seconds (pads excluded) into one
    /// utterance, so whisper hears whole sentences (default: 2.2 for files, 0 when listening
    /// live, where it would delay the text).
    #[arg(long, value_name = "SECS", value_parser = pause_secs)]
    pub merge_pauses: Option<f64>,
    /// Cut speech longer than this many seconds, 5 to 28, at its quietest moment (default 25);
    /// speech that ends less than 3 s later is kept whole, up to 28 s.
    #[arg(long, value_name = "SECS", value_parser = utterance_secs)]
    pub max_utterance: Option<f64>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VadArg {
    Neural,
    Energy,
    Silero,
    Fused,
}

/// 0, or a step whisper's fallback can climb to 1 with (a tiny step would loop for ever).
fn temperature_step(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if v == 0.0 || (0.01..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("use 0 (no fallback) or a step from 0.01 to 1".into())
    }
}

/// A threshold the VAD can work with.
/// `--window-size`: WIDTHxHEIGHT, each 320 to 8192.
fn window_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not a window size: give WIDTHxHEIGHT, e.g. 1024x640, each 320 to 8192");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    if !(320..=8192).contains(&w) || !(320..=8192).contains(&h) {
        return Err(bad());
    }
    Ok((w, h))
}

fn probability(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.05..=0.95).contains(&v) { Ok(v) } else { Err("use a probability from 0.05 to 0.95".into()) }
}

/// A pause length from 0 to 25 s (an utterance is at most 25 s).
fn pause_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=25.0).contains(&v) { Ok(v) } else { Err("use a number of seconds from 0 to 25".into()) }
}

/// The longest utterance whisper's 30 s window takes with room to spare, from 5 s.
fn utterance_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (5.0..=28.0).contains(&v) { Ok(v) } else { Err("use a number of seconds from 5 to 28".into()) }
}

impl PipelineArgs {
    /// Options for the pipeline: one worker with every core for its threads unless told
    /// otherwise. A quantised known model that is missing (the default, tiny.en-q8_0) is made
    /// from its f16 file here, once, and said.
    pub fn options(&self, models_dir: &Path) -> anyhow::Result<PipelineOptions> {
        let model = match hark_model::catalog::resolve_or_make(&self.model, models_dir)? {
            hark_model::catalog::Resolved::Found(p) => p,
            hark_model::catalog::Resolved::Made(p, from) => {
                let default =
                    if self.model == hark_model::catalog::DEFAULT_MODEL { "; it is the default model" } else { "" };
                eprintln!("made {} from {} (once{default})", p.display(), from.display());
                p
            }
        };
        if !model.exists() {
            anyhow::bail!(
                "model {} does not exist: `hark model list` shows the known models, `hark model fetch NAME` or ./scripts/hark installs one",
                model.display()
            );
        }
        let mut o = PipelineOptions::new(model);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        o.workers = self.workers.unwrap_or(1).max(1);
        o.whisper.threads = self.threads.unwrap_or(cores).max(1);
        o.whisper.fit_audio_ctx = !self.full_audio_ctx;
        o.whisper.audio_ctx_margin = self.audio_ctx_margin;
        o.whisper.min_audio_ctx = self.min_audio_ctx;
        o.whisper.window_step = self.window_step;
        o.whisper.guard = !self.no_guard;
        o.whisper.beam_size = self.beam_size.max(1);
        o.whisper.flash_attn = self.flash_attn;
        o.transcribe.use_prompt = self.prompt;
        o.whisper.temperature_inc = self.temperature_inc;
        if let Some(gap) = self.merge_pauses {
            o.segment.merge_gap_secs = gap;
        }
        if let Some(max) = self.max_utterance {
            o.segment.max_secs = max;
        }
        o.vad.gate.threshold = self.vad_threshold;
        o.vad.gate.band_enter_db = self.band_enter;
        o.vad.gate.band_stay_db = self.band_stay;
        o.vad.detector = match self.vad {
            VadArg::Neural => hark_vad::DetectorKind::Neural,
            VadArg::Energy => hark_vad::DetectorKind::Energy,
            VadArg::Silero => hark_vad::DetectorKind::Silero,
            VadArg::Fused => hark_vad::DetectorKind::Fused,
        };
        Ok(o)
    }
}

/// Where the session database lives.
pub fn database_path(data_dir: Option<PathBuf>) -> PathBuf {
    hark_store::db::default_path(&data_dir.unwrap_or_else(hark_core::paths::data_dir))
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let models_dir = cli.models_dir.unwrap_or_else(hark_core::paths::models_dir);
    let db = database_path(cli.data_dir);
    match cli.command {
        Some(Command::Listen(a)) => listen::run(a, &models_dir, &db),
        Some(Command::Transcribe(a)) => transcribe::run(a, &models_dir, &db),
        Some(Command::Sessions(c)) => sessions::run(c, &models_dir, &db),
        Some(Command::Eval(a)) => eval::run(a, &models_dir),
        Some(Command::Bench(b)) => bench::run(b, &models_dir),
        Some(Command::Model(cmd)) => model::run(cmd, &models_dir),
        None => {
            let saved = hark_ui::settings::load(&hark_ui::settings::default_path()).settings.model;
            let args = PipelineArgs {
                model: hark::studio::pick_model(cli.model.as_deref(), &saved, &models_dir),
                threads: None,
                prompt: false,
                workers: None,
                temperature_inc: hark_transcribe::WhisperSettings::default().temperature_inc,
                full_audio_ctx: false,
                audio_ctx_margin: hark_transcribe::WhisperSettings::default().audio_ctx_margin,
                min_audio_ctx: hark_transcribe::WhisperSettings::default().min_audio_ctx,
                window_step: hark_transcribe::WhisperSettings::default().window_step,
                no_guard: false,
                beam_size: hark_transcribe::WhisperSettings::default().beam_size,
                flash_attn: false,
                vad: VadArg::Neural,
                vad_threshold: hark_vad::GateSettings::default().threshold,
                band_enter: hark_vad::GateSettings::default().band_enter_db,
                band_stay: hark_vad::GateSettings::default().band_stay_db,
                merge_pauses: Some(0.0),
                max_utterance: None,
            };
            let mut opts = args.options(&models_dir)?;
            opts.database = Some(db);
            // Live: the utterance being said is decoded as it grows, and its final as it ends.
            opts.live(true);
            let studio = hark::studio::StudioOptions {
                demo: cli.demo,
                open: cli.open,
                replay: cli.replay,
                replay_speed: cli.replay_speed,
                screenshot: cli.screenshot,
                exit_after: cli.exit_after,
                state_json: cli.state_json,
                window_size: cli.window_size,
            };
            hark::studio::run(&opts, studio)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on stderr for long files (none for short ones or when stderr is not a terminal).
pub fn progress_bar(total_secs: Option<f64>) -> Option<indicatif::ProgressBar> {
    let total = total_secs?;
    if total < 30.0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new((total * 10.0) as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {msg} ({eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}
