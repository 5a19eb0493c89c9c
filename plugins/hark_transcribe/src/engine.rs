//! Speech recognisers. [`WhisperEngine`] runs whisper.cpp through whisper-rs; tests of the ECS
//! wiring may use any other [`Engine`].

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

/// One recognised token, times in centiseconds from the start of the audio given.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub bytes: Vec<u8>,
    pub p: f32,
    pub t0: i64,
    pub t1: i64,
}

/// One decoded segment of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub text: String,
    pub no_speech: f32,
    pub tokens: Vec<Token>,
}

/// What an engine returns for one piece of audio.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineOutput {
    pub segments: Vec<Segment>,
}

/// A recogniser that turns 16 kHz mono audio into text. It is owned by one worker thread.
pub trait Engine: Send + 'static {
    fn transcribe(&mut self, audio: &[f32], prompt: Option<&str>) -> Result<EngineOutput, String>;
}

/// Decoding settings for whisper.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperSettings {
    /// Threads whisper.cpp uses for one utterance.
    pub threads: usize,
    /// Language code, or `None` to detect (multilingual models).
    pub language: Option<String>,
    /// Fit the encoder's context to the utterance length instead of a full 30 s window.
    pub fit_audio_ctx: bool,
    /// Extra encoder positions (20 ms each) beyond the utterance when fitting.
    pub audio_ctx_margin: usize,
    /// No-speech probability above which whisper drops a window (with low log-probability).
    pub no_speech_threshold: f32,
    /// Temperature fallback step (0 disables fallback).
    pub temperature_inc: f32,
    /// Within one call, condition each 30 s window on the text of the previous one (whisper.cpp's
    /// CLI default; only matters for audio longer than a window).
    pub carry_context: bool,
}

impl Default for WhisperSettings {
    fn default() -> Self {
        Self {
            threads: 2,
            language: Some("en".into()),
            fit_audio_ctx: true,
            audio_ctx_margin: 256,
            no_speech_threshold: 0.6,
            temperature_inc: 0.2,
            carry_context: false,
        }
    }
}

/// whisper.cpp with a model loaded and a state of its own.
pub struct WhisperEngine {
    ctx: WhisperContext,
    state: WhisperState,
    pub settings: WhisperSettings,
    eot: i32,
}

impl std::fmt::Debug for WhisperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperEngine").field("settings", &self.settings).finish()
    }
}

impl WhisperEngine {
    /// Loads a ggml model after checking its structure, so a wrong file gets a clear message
    /// rather than whatever whisper.cpp makes of it.
    pub fn load(path: &Path, settings: WhisperSettings) -> Result<Self, String> {
        if !path.exists() {
            return Err(format!(
                "model {} does not exist: run `hark model list` to see the installed models, or ./scripts/hark to install tiny.en",
                path.display()
            ));
        }
        let info = hark_model::verify(path).map_err(|e| format!("model {e}"))?;
        if info.hparams.ftype == hark_model::FType::F32 {
            // whisper.cpp 1.8's CPU im2col asserts on f32 convolution weights and aborts.
            return Err(format!(
                "model {} is an all-f32 (ftype 0) file, which this whisper.cpp build cannot run; \
                 use the f16 file (`hark model import` without --f32)",
                path.display()
            ));
        }
        whisper_rs::install_logging_hooks();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(path, params)
            .map_err(|e| format!("model {} could not be loaded by whisper.cpp: {e}", path.display()))?;
        let state = ctx.create_state().map_err(|e| format!("whisper state for {}: {e}", path.display()))?;
        let eot = ctx.token_eot();
        Ok(Self { ctx, state, settings, eot })
    }

    /// Whether the model is multilingual.
    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// Encoder positions for `samples` of audio: 50 per second plus the margin.
    pub fn audio_ctx_for(&self, samples: usize) -> i32 {
        let full = self.ctx.n_audio_ctx();
        let need = samples.div_ceil(320) + self.settings.audio_ctx_margin;
        (need as i32).min(full)
    }
}

impl Engine for WhisperEngine {
    fn transcribe(&mut self, audio: &[f32], prompt: Option<&str>) -> Result<EngineOutput, String> {
        // A fresh state per utterance: whisper's temperature fallback samples from an RNG kept in
        // the state, so reusing one would make a result depend on which utterances came before.
        self.state = self.ctx.create_state().map_err(|e| format!("whisper state: {e}"))?;
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        p.set_n_threads(self.settings.threads as i32);
        p.set_language(self.settings.language.as_deref());
        p.set_token_timestamps(true);
        p.set_suppress_blank(true);
        p.set_suppress_nst(true);
        p.set_no_speech_thold(self.settings.no_speech_threshold);
        p.set_temperature_inc(self.settings.temperature_inc);
        p.set_no_context(!self.settings.carry_context);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        if self.settings.fit_audio_ctx {
            p.set_audio_ctx(self.audio_ctx_for(audio.len()));
        }
        if let Some(prompt) = prompt.filter(|s| !s.is_empty() && !s.contains('\0')) {
            p.set_initial_prompt(prompt);
        }
        // whisper.cpp wants at least a second; pad short utterances with silence.
        let padded;
        let audio = if audio.len() < 16_000 {
            padded = [audio, &vec![0.0; 16_000 - audio.len()]].concat();
            &padded[..]
        } else {
            audio
        };
        self.state.full(p, audio).map_err(|e| format!("whisper failed: {e}"))?;
        let mut out = EngineOutput::default();
        for seg in self.state.as_iter() {
            let mut tokens = Vec::new();
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else {
                    continue;
                };
                let d = tok.token_data();
                if d.id >= self.eot {
                    continue;
                }
                let bytes = tok.to_bytes().map(<[u8]>::to_vec).unwrap_or_default();
                tokens.push(Token { bytes, p: d.p, t0: d.t0, t1: d.t1 });
            }
            let text = seg.to_str_lossy().map(|c| c.into_owned()).unwrap_or_default();
            out.segments.push(Segment { text, no_speech: seg.no_speech_probability(), tokens });
        }
        Ok(out)
    }
}
