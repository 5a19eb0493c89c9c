//! The tokenizer vocabulary: CTranslate2's GPT-2 byte-level unicode tokens → raw bytes.

use std::path::Path;

use crate::ModelError;

/// whisper.cpp files hold exactly the first 50 257 tokens (ids 0..=50256).
pub const GGML_VOCAB_TOKENS: usize = 50257;

/// Reads `vocabulary.json` (a JSON array) or `vocabulary.txt` (one token per line) from a
/// CTranslate2 model directory. Empty lines are tokens too (id 50256 of multilingual models).
pub fn read_ct2_vocabulary(dir: &Path) -> Result<Vec<String>, ModelError> {
    let json = dir.join("vocabulary.json");
    if json.is_file() {
        let text = std::fs::read_to_string(&json).map_err(|e| ModelError::io(&json, e))?;
        return serde_json::from_str::<Vec<String>>(&text)
            .map_err(|e| ModelError::input(&json, format!("is not a JSON array of strings: {e}")));
    }
    let txt = dir.join("vocabulary.txt");
    if !txt.is_file() {
        return Err(ModelError::input(
            dir,
            "has no vocabulary.txt or vocabulary.json: the CTranslate2 model directory is incomplete",
        ));
    }
    let text = std::fs::read_to_string(&txt)
        .map_err(|e| ModelError::input(&txt, format!("cannot be read as UTF-8 text: {e}")))?;
    let mut tokens: Vec<String> = text.split('\n').map(str::to_owned).collect();
    if tokens.last().is_some_and(String::is_empty) {
        tokens.pop();
    }
    Ok(tokens)
}

/// GPT-2's `bytes_to_unicode` inverse: char → byte.
pub fn unicode_to_byte(c: char) -> Option<u8> {
    let u = c as u32;
    let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    if printable(u) {
        return Some(u as u8);
    }
    if !(256..256 + 68).contains(&u) {
        return None;
    }
    // The 68 non-printable bytes map, in order, to U+0100.. .
    (0u32..=255).filter(|&b| !printable(b)).nth((u - 256) as usize).map(|b| b as u8)
}

/// Decodes one token from its byte-level unicode form.
pub fn decode_token(token: &str) -> Option<Vec<u8>> {
    token.chars().map(unicode_to_byte).collect()
}

/// The ggml vocab block: `i32 count` then `u32 len, bytes` for ids 0..50257.
pub fn ggml_vocab_block(tokens: &[String], dir: &Path) -> Result<Vec<u8>, ModelError> {
    if tokens.len() < GGML_VOCAB_TOKENS {
        return Err(ModelError::input(
            dir,
            format!("has a vocabulary of {} tokens; Whisper needs at least {GGML_VOCAB_TOKENS}", tokens.len()),
        ));
    }
    let mut out = Vec::with_capacity(600_000);
    out.extend_from_slice(&(GGML_VOCAB_TOKENS as i32).to_le_bytes());
    for (id, t) in tokens[..GGML_VOCAB_TOKENS].iter().enumerate() {
        let bytes = decode_token(t).ok_or_else(|| {
            ModelError::input(dir, format!("has vocabulary token {id} ({t:?}) that is not in GPT-2 byte-level form"))
        })?;
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}
