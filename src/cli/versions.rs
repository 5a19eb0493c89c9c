//! `hark sessions rerun | versions | diff`: transcript versions of a saved session.

use std::path::Path;

use hark::rerun::{rerun_session, rerun_span};
use hark_core::samples_to_secs;
use hark_store::{Reader, Writer};
use serde::Serialize;

use super::{PipelineArgs, progress_bar};

pub fn rerun(
    id: i64,
    from: Option<f64>,
    to: Option<f64>,
    make_current: bool,
    args: &PipelineArgs,
    models_dir: &Path,
    db: &Path,
) -> anyhow::Result<()> {
    let reader = Reader::open(db)?;
    reader.session(id)?;
    let span = rerun_span(&reader, id, from, to)?;
    let secs = match span {
        Some((a, b)) => samples_to_secs(b - a),
        None => samples_to_secs(reader.audio_end(id)?),
    };
    let opts = args.options(models_dir)?;
    let bar = progress_bar(Some(secs));
    let result = rerun_session(&opts, db, id, span, |f| {
        if let Some(b) = &bar {
            b.set_position((f * secs * 10.0) as u64);
            b.set_message(format!("{:.0} s", f * secs));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let r = result?;
    let words: usize = r.segments.iter().map(|g| g.text.split_whitespace().count()).sum();
    let utterances = r.segments.len();
    let writer = Writer::open(db)?;
    let version = writer.add_version(id, &r.model, &r.settings, r.span, r.segments)?;
    let what = match r.span {
        Some((a, b)) => format!("{:.1}–{:.1} s", samples_to_secs(a), samples_to_secs(b)),
        None => "the whole session".to_owned(),
    };
    println!("session {id}: version {version} re-ran {what}: {utterances} utterances, {words} words");
    if make_current {
        writer.use_version(id, version)?;
        println!("version {version} is now the current one");
    } else {
        println!("compare: `hark sessions diff {id}`; keep it: `hark sessions use {id} {version}`");
    }
    writer.close()?;
    Ok(())
}

pub fn list(id: i64, json: bool, db: &Path) -> anyhow::Result<()> {
    let versions = Reader::open(db)?.versions(id)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(());
    }
    for v in versions {
        let span = match (v.from_s, v.to_s) {
            (Some(a), Some(b)) => format!("  {a:.1}–{b:.1} s re-run"),
            _ => String::new(),
        };
        println!(
            "{} {:>3}  {}  {:>5} words  {:>3} utterances  {}{}\n        {}",
            if v.current { '*' } else { ' ' },
            v.version,
            v.created_at,
            v.words,
            v.segments,
            v.model,
            span,
            v.settings
        );
    }
    Ok(())
}

/// A diff as `--json` prints it.
#[derive(Serialize)]
struct DiffOut {
    session: i64,
    from: i64,
    to: i64,
    changes: Vec<ChangeOut>,
}

#[derive(Serialize)]
struct ChangeOut {
    at_s: Option<f64>,
    old: Vec<String>,
    new: Vec<String>,
}

pub fn diff(id: i64, from: Option<i64>, to: Option<i64>, json: bool, db: &Path) -> anyhow::Result<()> {
    let r = Reader::open(db)?;
    let versions = r.versions(id)?;
    let current = r.current_version(id)?;
    let newest = versions.iter().map(|v| v.version).max().unwrap_or(1);
    let (a, b) = match (from, to) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, current),
        (None, _) if versions.len() < 2 => {
            anyhow::bail!("session {id} has one transcript version: `hark sessions rerun {id}` makes another")
        }
        (None, _) if newest != current => (current, newest),
        (None, _) => (versions.iter().rev().map(|v| v.version).find(|&v| v != current).unwrap_or(1), current),
    };
    let changes = r.diff(id, a, b)?;
    if json {
        let out = DiffOut {
            session: id,
            from: a,
            to: b,
            changes: changes
                .into_iter()
                .map(|c| ChangeOut {
                    at_s: c.start.map(|s| (samples_to_secs(s) * 1000.0).round() / 1000.0),
                    old: c.old,
                    new: c.new,
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("session {id}: version {a} → version {b}, {} changes", changes.len());
    for c in changes {
        let at = c.start.map_or("        ".to_owned(), |s| format!("{:>7.2}s", samples_to_secs(s)));
        let show = |w: &[String]| if w.is_empty() { "∅".to_owned() } else { w.join(" ") };
        println!("{at}  - {}\n          + {}", show(&c.old), show(&c.new));
    }
    Ok(())
}
