//! A word-level diff between two transcripts of the same audio (transcript versions).
//!
//! Words are compared by their spoken form: case and punctuation do not make a change
//! ("Thanks!" and "thanks." are the same word), a different word does. Each change keeps the
//! words as written and the time of the first one, so a window can seek to it.

use serde::Serialize;

/// One word of a transcript as it is compared: its text as written and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffWord {
    pub text: String,
    /// Start in samples, when the transcript has word timings.
    pub start: Option<u64>,
}

impl DiffWord {
    /// The comparison key: lower case, letters, digits and inner apostrophes only.
    fn key(&self) -> String {
        let lower = self.text.trim().to_lowercase();
        let trimmed = lower.trim_matches(|c: char| !c.is_alphanumeric());
        trimmed.chars().filter(|c| c.is_alphanumeric() || *c == '\'' || *c == '’').collect()
    }
}

/// One change: `old` words (from position `at_old` of the first transcript) became `new`
/// words (from position `at_new` of the second). An insertion has no old words, a deletion
/// no new ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WordChange {
    pub at_old: usize,
    pub at_new: usize,
    pub old: Vec<String>,
    pub new: Vec<String>,
    /// Where the change is heard, in samples (the first timed word of either side).
    pub start: Option<u64>,
}

/// The changes that turn `a` into `b`, in order. Words that are the same in both (by their
/// spoken form) are not listed; applying the changes to `a` gives `b`'s words.
pub fn word_diff(a: &[DiffWord], b: &[DiffWord]) -> Vec<WordChange> {
    let ka: Vec<String> = a.iter().map(DiffWord::key).collect();
    let kb: Vec<String> = b.iter().map(DiffWord::key).collect();
    let mut ops = Vec::new();
    align(&ka, &kb, a, b, 0, 0, &mut ops);
    group(&ops, a, b)
}

/// Applies `changes` (from [`word_diff`]) to `a`'s words: the words of the second transcript.
pub fn apply_changes(a: &[String], changes: &[WordChange]) -> Vec<String> {
    let mut out = Vec::with_capacity(a.len());
    let mut i = 0;
    for c in changes {
        out.extend_from_slice(&a[i..c.at_old]);
        out.extend(c.new.iter().cloned());
        i = c.at_old + c.old.len();
    }
    out.extend_from_slice(&a[i.min(a.len())..]);
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Same(usize, usize),
    Del(usize),
    Ins(usize),
}

/// Cells of the dynamic-programming table above which a long middle is split by time.
const MAX_CELLS: usize = 4_000_000;

/// Aligns `ka[..]` with `kb[..]` (offsets `oa`, `ob` into the full transcripts): the common
/// prefix and suffix first, then a longest common subsequence of what is left; a middle too
/// large for that is cut in two at the same moment of both transcripts (word times), or,
/// without times, replaced whole.
fn align(ka: &[String], kb: &[String], a: &[DiffWord], b: &[DiffWord], oa: usize, ob: usize, ops: &mut Vec<Op>) {
    let pre = ka.iter().zip(kb).take_while(|(x, y)| x == y).count();
    let suf = ka[pre..].iter().rev().zip(kb[pre..].iter().rev()).take_while(|(x, y)| x == y).count();
    ops.extend((0..pre).map(|i| Op::Same(oa + i, ob + i)));
    let (ma, mb) = (&ka[pre..ka.len() - suf], &kb[pre..kb.len() - suf]);
    let (moa, mob) = (oa + pre, ob + pre);
    if ma.is_empty() || mb.is_empty() {
        ops.extend((0..ma.len()).map(|i| Op::Del(moa + i)));
        ops.extend((0..mb.len()).map(|j| Op::Ins(mob + j)));
    } else if (ma.len() + 1) * (mb.len() + 1) <= MAX_CELLS {
        lcs(ma, mb, moa, mob, ops);
    } else if let Some((sa, sb)) = split_by_time(&a[moa..moa + ma.len()], &b[mob..mob + mb.len()]) {
        align(&ma[..sa], &mb[..sb], a, b, moa, mob, ops);
        align(&ma[sa..], &mb[sb..], a, b, moa + sa, mob + sb, ops);
    } else {
        ops.extend((0..ma.len()).map(|i| Op::Del(moa + i)));
        ops.extend((0..mb.len()).map(|j| Op::Ins(mob + j)));
    }
    let (ea, eb) = (oa + ka.len() - suf, ob + kb.len() - suf);
    ops.extend((0..suf).map(|i| Op::Same(ea + i, eb + i)));
}

/// Where to cut two long runs of words at the same moment: the middle word of `a` and the
/// first word of `b` that starts at or after it. `None` without times or when a cut would
/// leave one side whole.
fn split_by_time(a: &[DiffWord], b: &[DiffWord]) -> Option<(usize, usize)> {
    let sa = a.len() / 2;
    let t = a[sa].start?;
    let sb = b.iter().position(|w| w.start.is_some_and(|s| s >= t)).unwrap_or(b.len());
    (sa > 0 && sb > 0 && sb < b.len()).then_some((sa, sb))
}

fn lcs(a: &[String], b: &[String], oa: usize, ob: usize, ops: &mut Vec<Op>) {
    let (n, m) = (a.len(), b.len());
    // Lengths of the longest common subsequence of a[i..] and b[j..].
    let mut t = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i * (m + 1) + j] = if a[i] == b[j] {
                t[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                t[(i + 1) * (m + 1) + j].max(t[i * (m + 1) + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            ops.push(Op::Same(oa + i, ob + j));
            i += 1;
            j += 1;
        } else if t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1] {
            ops.push(Op::Del(oa + i));
            i += 1;
        } else {
            ops.push(Op::Ins(ob + j));
            j += 1;
        }
    }
    ops.extend((i..n).map(|i| Op::Del(oa + i)));
    ops.extend((j..m).map(|j| Op::Ins(ob + j)));
}

impl WordChange {
    fn empty(at_old: usize, at_new: usize) -> Self {
        Self { at_old, at_new, old: Vec::new(), new: Vec::new(), start: None }
    }
}

/// Runs of deletions and insertions between two matched words become one change.
fn group(ops: &[Op], a: &[DiffWord], b: &[DiffWord]) -> Vec<WordChange> {
    let mut out: Vec<WordChange> = Vec::new();
    let (mut next_a, mut next_b) = (0, 0);
    let mut open: Option<WordChange> = None;
    for op in ops {
        match *op {
            Op::Same(i, j) => {
                out.extend(open.take());
                next_a = i + 1;
                next_b = j + 1;
            }
            Op::Del(i) => {
                let c = open.get_or_insert_with(|| WordChange::empty(next_a, next_b));
                c.old.push(a[i].text.trim().to_owned());
                c.start = c.start.or(a[i].start);
                next_a = i + 1;
            }
            Op::Ins(j) => {
                let c = open.get_or_insert_with(|| WordChange::empty(next_a, next_b));
                c.new.push(b[j].text.trim().to_owned());
                c.start = c.start.or(b[j].start);
                next_b = j + 1;
            }
        }
    }
    out.extend(open);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<DiffWord> {
        s.split_whitespace()
            .enumerate()
            .map(|(i, w)| DiffWord { text: w.into(), start: Some(i as u64 * 8000) })
            .collect()
    }

    fn texts(w: &[DiffWord]) -> Vec<String> {
        w.iter().map(|w| w.text.clone()).collect()
    }

    #[test]
    fn only_the_changed_words_are_listed_and_applying_them_gives_the_new_text() {
        let a = words("And I should be all. Thanks!");
        let b = words("and that should be all thanks");
        let d = word_diff(&a, &b);
        assert_eq!(
            d,
            vec![WordChange {
                at_old: 1,
                at_new: 1,
                old: vec!["I".into()],
                new: vec!["that".into()],
                start: Some(8000)
            }]
        );
        let a = words("how to look like this here");
        let b = words("how people talk like this");
        let d = word_diff(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(
            (d[0].old.clone(), d[0].new.clone()),
            (vec!["to".into(), "look".into()], vec!["people".into(), "talk".into()])
        );
        assert_eq!((d[1].old.clone(), d[1].new.clone()), (vec!["here".into()], vec![]));
        assert_eq!(apply_changes(&texts(&a), &d), texts(&b));
        assert!(word_diff(&a, &a).is_empty());
        assert_eq!(word_diff(&[], &b).len(), 1);
        assert_eq!(apply_changes(&[], &word_diff(&[], &b)), texts(&b));
    }

    #[test]
    fn long_transcripts_are_cut_by_time_and_still_apply() {
        // 6 000 words each side: too many for one table, cut at the same moments.
        let n = 6000;
        let a: Vec<DiffWord> =
            (0..n).map(|i| DiffWord { text: format!("w{}", i % 97), start: Some(i as u64 * 4000) }).collect();
        let mut b = a.clone();
        b[10].text = "changed".into();
        b.remove(4000);
        b.insert(5000, DiffWord { text: "extra".into(), start: Some(5000 * 4000 - 1) });
        let d = word_diff(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(apply_changes(&texts(&a), &d), texts(&b));
    }
}
