//! Transcript output formats: plain text, SRT, WebVTT, JSON.

use crate::pipeline::{OutSegment, SessionEnd, SessionTranscript, Unrecognised, UtteranceOut};

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

/// One subtitle cue.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Longest cue on screen, and most characters in it (two lines of 42).
const CUE_MAX_SECS: f64 = 7.0;
const CUE_MAX_CHARS: usize = 84;

/// Splits an utterance into subtitle cues by its word timings: a cue ends after a sentence, or
/// before it would run past [`CUE_MAX_SECS`] or [`CUE_MAX_CHARS`]. An utterance without words
/// is one cue.
pub fn cues(s: &OutSegment) -> Vec<Cue> {
    if s.words.is_empty() {
        return vec![Cue { start: s.start_s, end: s.end_s, text: s.text.clone() }];
    }
    let mut out: Vec<Cue> = Vec::new();
    let mut cur: Option<Cue> = None;
    for w in &s.words {
        if let Some(c) = cur.as_mut() {
            if c.text.chars().count() + 1 + w.word.chars().count() > CUE_MAX_CHARS || w.end_s - c.start > CUE_MAX_SECS {
                out.extend(cur.take());
            } else {
                c.text.push(' ');
                c.text.push_str(&w.word);
                c.end = w.end_s;
            }
        }
        let c = cur.get_or_insert_with(|| Cue { start: w.start_s, end: w.end_s, text: w.word.clone() });
        if c.text.ends_with(['.', '?', '!']) {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    // A cue of zero length (whisper gives some words no duration) would flash by unseen: it
    // joins the cue before it, or reaches to the next one when it comes first.
    let mut kept: Vec<Cue> = Vec::with_capacity(out.len());
    for c in out {
        match kept.last_mut() {
            Some(prev) if c.end <= c.start => {
                prev.text.push(' ');
                prev.text.push_str(&c.text);
            }
            _ => kept.push(c),
        }
    }
    if kept.len() > 1 && kept[0].end <= kept[0].start {
        kept[0].end = kept[1].start;
    }
    kept
}

/// What a text export says where someone spoke and no text came out: a reader of the text
/// alone would otherwise never know something was said there.
pub const UNRECOGNISED: &str = "[speech not recognised]";

/// The cues of trusted text and of speech not recognised, in order of time.
fn all_cues(segments: &[OutSegment], unrecognised: &[Unrecognised]) -> Vec<Cue> {
    let mut out: Vec<Cue> = segments.iter().filter(|s| !s.suspect).flat_map(cues).collect();
    out.extend(unrecognised.iter().map(|u| Cue { start: u.start_s, end: u.end_s, text: UNRECOGNISED.to_owned() }));
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    out
}

/// Pretty JSON of `v`, its lines after the first indented by `indent`.
fn json_at<T: serde::Serialize + ?Sized>(v: &T, indent: &str) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default().replace('\n', &format!("\n{indent}"))
}

/// Writes a transcript in `format` piece by piece, as its utterances are transcribed: a long
/// file's text is out while the rest is still being heard, and nothing of it has to be kept.
/// [`render`] is the same writer given a whole transcript at once.
#[derive(Debug)]
pub struct Streamer {
    format: Format,
    /// Cues written so far (SRT numbers them).
    cues: usize,
    /// JSON segments written so far.
    segments: usize,
    /// JSON lists speech without text after the segments (it is rare: kept until the end).
    unrecognised: Vec<Unrecognised>,
}

impl Streamer {
    /// A writer and what comes before the first utterance.
    pub fn start(format: Format) -> (Self, String) {
        let head = match format {
            Format::Txt | Format::Srt => "",
            Format::Vtt => "WEBVTT\n\n",
            Format::Json => "{\n  \"segments\": [",
        };
        (Self { format, cues: 0, segments: 0, unrecognised: Vec::new() }, head.to_owned())
    }

    /// The text of one utterance (or of several, in order).
    pub fn push(&mut self, segments: &[OutSegment], unrecognised: &[Unrecognised]) -> String {
        let mut out = String::new();
        match self.format {
            Format::Txt => {
                // One line an utterance, and one for each stretch of speech without text, with
                // where it is so that it can be listened to.
                let mut lines: Vec<(f64, String)> = segments
                    .iter()
                    .filter(|s| !s.suspect)
                    .map(|s| (s.start_s, s.text.clone()))
                    .chain(unrecognised.iter().map(|u| {
                        (
                            u.start_s,
                            format!("[speech not recognised, {:.1} s at {}]", u.speech_s, timestamp(u.start_s, '.')),
                        )
                    }))
                    .collect();
                lines.sort_by(|a, b| a.0.total_cmp(&b.0));
                for (_, l) in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            Format::Srt => {
                for c in all_cues(segments, unrecognised) {
                    self.cues += 1;
                    out.push_str(&format!(
                        "{}\n{} --> {}\n{}\n\n",
                        self.cues,
                        timestamp(c.start, ','),
                        timestamp(c.end, ','),
                        c.text
                    ));
                }
            }
            Format::Vtt => {
                for c in all_cues(segments, unrecognised) {
                    self.cues += 1;
                    out.push_str(&format!("{} --> {}\n{}\n\n", timestamp(c.start, '.'), timestamp(c.end, '.'), c.text));
                }
            }
            Format::Json => {
                for s in segments {
                    out.push_str(if self.segments == 0 { "\n    " } else { ",\n    " });
                    out.push_str(&json_at(s, "    "));
                    self.segments += 1;
                }
                self.unrecognised.extend_from_slice(unrecognised);
            }
        }
        out
    }

    /// The text of one utterance handed over by the pipeline.
    pub fn push_utterance(&mut self, u: &UtteranceOut) -> String {
        self.push(u.segment.as_slice(), &u.unrecognised)
    }

    /// What comes after the last utterance.
    pub fn finish(self, end: &SessionEnd) -> String {
        match self.format {
            Format::Txt | Format::Srt | Format::Vtt => String::new(),
            Format::Json => {
                let mut out = String::from(if self.segments == 0 { "],\n" } else { "\n  ],\n" });
                out.push_str(&format!("  \"speech\": {},\n", json_at(&end.speech, "  ")));
                if !self.unrecognised.is_empty() {
                    out.push_str(&format!("  \"unrecognised\": {},\n", json_at(&self.unrecognised, "  ")));
                }
                out.push_str(&format!("  \"audio_s\": {}\n}}\n", json_at(&end.audio_s, "")));
                out
            }
        }
    }
}

/// A whole transcript in `format`.
pub fn render(t: &SessionTranscript, format: Format) -> String {
    let (mut w, mut out) = Streamer::start(format);
    out.push_str(&w.push(&t.segments, &t.unrecognised));
    let end = SessionEnd { audio_s: t.audio_s, speech: t.speech.clone(), ..Default::default() };
    out.push_str(&w.finish(&end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(3661.5, ','), "01:01:01,500");
        assert_eq!(timestamp(0.0004, '.'), "00:00:00.000");
    }

    fn segment(words: &[(f64, f64, &str)]) -> OutSegment {
        OutSegment {
            start_s: words.first().map_or(0.0, |w| w.0),
            end_s: words.last().map_or(0.0, |w| w.1),
            text: words.iter().map(|w| w.2).collect::<Vec<_>>().join(" "),
            words: words
                .iter()
                .map(|&(a, b, t)| crate::pipeline::OutWord { start_s: a, end_s: b, word: t.into(), p: 1.0 })
                .collect(),
            suspect: false,
        }
    }

    #[test]
    fn cues_end_at_sentences_and_stay_short() {
        let s = segment(&[
            (0.0, 0.5, "Hello"),
            (0.5, 1.0, "there."),
            (1.2, 1.6, "How"),
            (1.6, 2.0, "are"),
            (2.0, 2.4, "you?"),
        ]);
        let c = cues(&s);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].start, c[0].end, c[0].text.as_str()), (0.0, 1.0, "Hello there."));
        assert_eq!((c[1].start, c[1].end, c[1].text.as_str()), (1.2, 2.4, "How are you?"));
        // 20 s of words without a full stop: cues of at most 7 s, every word kept in order.
        let many: Vec<(f64, f64, String)> =
            (0..40).map(|i| (i as f64 * 0.5, i as f64 * 0.5 + 0.4, format!("w{i}"))).collect();
        let refs: Vec<(f64, f64, &str)> = many.iter().map(|(a, b, t)| (*a, *b, t.as_str())).collect();
        let c = cues(&segment(&refs));
        assert!(
            c.len() >= 3
                && c.iter().all(|c| c.end - c.start <= CUE_MAX_SECS && c.text.chars().count() <= CUE_MAX_CHARS)
        );
        assert_eq!(c.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" "), segment(&refs).text);
    }

    #[test]
    fn a_word_without_duration_never_makes_a_cue_of_its_own() {
        let s = segment(&[(0.0, 0.5, "All"), (0.5, 1.0, "done."), (1.0, 1.0, "Thanks.")]);
        assert_eq!(cues(&s), vec![Cue { start: 0.0, end: 1.0, text: "All done. Thanks.".into() }]);
        let s = segment(&[(2.0, 2.0, "Oh."), (2.1, 2.5, "Hello")]);
        assert_eq!(cues(&s)[0], Cue { start: 2.0, end: 2.1, text: "Oh.".into() });
    }

    #[test]
    fn an_utterance_without_words_is_one_cue() {
        let mut s = segment(&[]);
        s.text = "text only".into();
        s.end_s = 3.0;
        assert_eq!(cues(&s), vec![Cue { start: 0.0, end: 3.0, text: "text only".into() }]);
    }

    #[test]
    fn speech_not_recognised_is_in_every_text_export_where_it_was_said() {
        let mut said = segment(&[(1.0, 1.5, "Good"), (1.5, 2.0, "morning.")]);
        said.end_s = 2.2;
        let mut made_up = segment(&[(9.0, 9.5, "Thank"), (9.5, 10.0, "you.")]);
        made_up.suspect = true;
        let t = SessionTranscript {
            audio_s: 12.0,
            segments: vec![said, made_up],
            speech: Vec::new(),
            unrecognised: vec![
                crate::pipeline::Unrecognised { start_s: 0.2, end_s: 0.9, speech_s: 1.1 },
                crate::pipeline::Unrecognised { start_s: 4.0, end_s: 7.5, speech_s: 2.6 },
            ],
            session_id: None,
            save_error: None,
        };
        assert_eq!(
            render(&t, Format::Txt),
            "[speech not recognised, 1.1 s at 00:00:00.200]\nGood morning.\n[speech not recognised, 2.6 s at 00:00:04.000]\n"
        );
        assert_eq!(
            render(&t, Format::Srt),
            "1\n00:00:00,200 --> 00:00:00,900\n[speech not recognised]\n\n\
             2\n00:00:01,000 --> 00:00:02,000\nGood morning.\n\n\
             3\n00:00:04,000 --> 00:00:07,500\n[speech not recognised]\n\n"
        );
        let vtt = render(&t, Format::Vtt);
        assert!(vtt.ends_with("00:00:04.000 --> 00:00:07.500\n[speech not recognised]\n\n"), "{vtt}");
        // The marker is not a word to a scorer.
        assert_eq!(hark_core::text::normalize_words(&render(&t, Format::Txt)), ["good", "morning"]);
    }

    fn transcript() -> SessionTranscript {
        let mut said = segment(&[(1.0, 1.5, "Good"), (1.5, 2.0, "morning.")]);
        said.end_s = 2.2;
        let mut made_up = segment(&[(9.0, 9.5, "Thank"), (9.5, 10.0, "you.")]);
        made_up.suspect = true;
        let later = segment(&[(12.0, 12.4, "See"), (12.4, 12.9, "you.")]);
        SessionTranscript {
            audio_s: 14.25,
            segments: vec![said, made_up, later],
            speech: vec![[0.2, 2.1], [4.0, 7.5], [9.0, 10.0], [12.0, 12.9]],
            unrecognised: vec![crate::pipeline::Unrecognised { start_s: 4.0, end_s: 7.5, speech_s: 2.6 }],
            session_id: None,
            save_error: None,
        }
    }

    #[test]
    fn json_output_is_the_transcript_with_all_its_fields() {
        for t in [
            transcript(),
            SessionTranscript { segments: Vec::new(), speech: Vec::new(), unrecognised: Vec::new(), ..transcript() },
        ] {
            let out = render(&t, Format::Json);
            let parsed: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            assert_eq!(parsed, serde_json::to_value(&t).unwrap(), "{out}");
            assert!(out.ends_with("}\n"));
        }
    }

    #[test]
    fn written_an_utterance_at_a_time_the_output_is_the_same_as_all_at_once() {
        let t = transcript();
        // The utterances as the pipeline hands them over: the speech without text at 4 s is
        // the second one's.
        let pieces: Vec<UtteranceOut> = vec![
            UtteranceOut { span: (0, 0), segment: Some(t.segments[0].clone()), unrecognised: Vec::new() },
            UtteranceOut { span: (0, 0), segment: None, unrecognised: t.unrecognised.clone() },
            UtteranceOut { span: (0, 0), segment: Some(t.segments[1].clone()), unrecognised: Vec::new() },
            UtteranceOut { span: (0, 0), segment: Some(t.segments[2].clone()), unrecognised: Vec::new() },
        ];
        let end = SessionEnd { audio_s: t.audio_s, speech: t.speech.clone(), ..Default::default() };
        for format in [Format::Txt, Format::Srt, Format::Vtt, Format::Json] {
            let (mut w, mut out) = Streamer::start(format);
            for p in &pieces {
                out.push_str(&w.push_utterance(p));
            }
            out.push_str(&w.finish(&end));
            assert_eq!(out, render(&t, format), "{format:?}");
        }
        assert_eq!(
            render(&t, Format::Srt).lines().filter(|l| l.contains(" --> ")).count(),
            3,
            "made-up text is left out of subtitles"
        );
    }
}
