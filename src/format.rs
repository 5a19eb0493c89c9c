//! Transcript output formats: plain text, SRT, WebVTT, JSON.

use crate::pipeline::SessionTranscript;

/// An output format of `hark transcribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Txt,
    Srt,
    Vtt,
    Json,
}

/// `HH:MM:SS{sep}mmm`
fn timestamp(s: f64, sep: char) -> String {
    let ms = (s * 1000.0).round().max(0.0) as u64;
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

pub fn render(t: &SessionTranscript, format: Format) -> String {
    let trusted = || t.segments.iter().filter(|s| !s.suspect);
    match format {
        Format::Txt => trusted().map(|s| format!("{}\n", s.text)).collect(),
        Format::Srt => trusted()
            .enumerate()
            .map(|(i, s)| {
                format!("{}\n{} --> {}\n{}\n\n", i + 1, timestamp(s.start_s, ','), timestamp(s.end_s, ','), s.text)
            })
            .collect(),
        Format::Vtt => {
            let mut out = String::from("WEBVTT\n\n");
            for s in trusted() {
                out.push_str(&format!("{} --> {}\n{}\n\n", timestamp(s.start_s, '.'), timestamp(s.end_s, '.'), s.text));
            }
            out
        }
        Format::Json => serde_json::to_string_pretty(t).unwrap_or_default() + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(3661.5, ','), "01:01:01,500");
        assert_eq!(timestamp(0.0004, '.'), "00:00:00.000");
    }
}
