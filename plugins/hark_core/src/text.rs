//! English text normalisation and word error rate, as used by `hark eval` and the tests.
//!
//! The normaliser makes a reference and a hypothesis comparable without judging style:
//! 1. lower case; `×` → "times", `=` → "equals", `%` → "percent", `&` → "and";
//! 2. numbers written with digits become words ("600,000" → "six hundred thousand",
//!    "3.5" → "three point five");
//! 3. common abbreviations are spelled out ("mr" → "mister", "dr" → "doctor");
//!    "yknow" → "you know"; "ok" → "okay"; informal contractions are expanded
//!    ("gonna" → "going to", "wanna" → "want to", "gotta" → "got to");
//! 4. punctuation is removed (apostrophes inside words are kept, hyphens split words);
//! 5. hesitation fillers are dropped: um, uh, umm, uhm, hmm, mm, mmm, mhm, er, erm;
//! 6. annotations in square brackets or parentheses are dropped ("[speech not recognised]",
//!    "(music)"), as the shared scorer and whisper's own normaliser do.

/// Normalises `text` into words (see the module documentation).
pub fn normalize_words(text: &str) -> Vec<String> {
    let mut s = String::with_capacity(text.len() + 16);
    let lower = without_annotations(&text.to_lowercase());
    let chars: Vec<char> = lower.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '×' => s.push_str(" times "),
            '=' => s.push_str(" equals "),
            '%' => s.push_str(" percent "),
            '&' => s.push_str(" and "),
            '+' => s.push_str(" plus "),
            d if d.is_ascii_digit() => {
                // A number: digits with thousands separators and at most one decimal point.
                let mut int = String::new();
                let mut frac = String::new();
                let mut j = i;
                while j < chars.len() {
                    let ch = chars[j];
                    if ch.is_ascii_digit() {
                        int.push(ch);
                    } else if ch == ',' && chars.get(j + 1).is_some_and(char::is_ascii_digit) && !int.is_empty() {
                    } else {
                        break;
                    }
                    j += 1;
                }
                if chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
                    j += 1;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        frac.push(chars[j]);
                        j += 1;
                    }
                }
                s.push(' ');
                s.push_str(&number_words(&int));
                if !frac.is_empty() {
                    s.push_str(" point");
                    for f in frac.chars() {
                        s.push(' ');
                        s.push_str(&number_words(&f.to_string()));
                    }
                }
                s.push(' ');
                i = j;
                continue;
            }
            '\'' | '’' => {
                let inside =
                    i > 0 && chars[i - 1].is_alphanumeric() && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric());
                if inside {
                    s.push('\'');
                } else {
                    s.push(' ');
                }
            }
            c if c.is_alphanumeric() => s.push(c),
            _ => s.push(' '),
        }
        i += 1;
    }
    let mut out = Vec::new();
    for w in s.split_whitespace() {
        match w {
            "um" | "uh" | "umm" | "uhm" | "hmm" | "mm" | "mmm" | "mhm" | "er" | "erm" => {}
            "yknow" | "y'know" => out.extend(["you".to_owned(), "know".to_owned()]),
            "mr" => out.push("mister".into()),
            "mrs" => out.push("missus".into()),
            "dr" => out.push("doctor".into()),
            "ok" => out.push("okay".into()),
            "gonna" => out.extend(["going".to_owned(), "to".to_owned()]),
            "wanna" => out.extend(["want".to_owned(), "to".to_owned()]),
            "gotta" => out.extend(["got".to_owned(), "to".to_owned()]),
            w => out.push(w.to_owned()),
        }
    }
    out
}

/// `text` without what it has in square brackets or parentheses (an unclosed bracket is kept as
/// punctuation).
fn without_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['[', '(']) {
        let close = if rest[at..].starts_with('[') { ']' } else { ')' };
        let Some(len) = rest[at..].find(close) else { break };
        out.push_str(&rest[..at]);
        out.push(' ');
        rest = &rest[at + len + 1..];
    }
    out.push_str(rest);
    out
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// Spells out a string of decimal digits ("600000" → "six hundred thousand").
pub fn number_words(digits: &str) -> String {
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return "zero".into();
    }
    if digits.len() > 15 {
        // Too long to be a quantity: read digit by digit.
        return digits.chars().map(|c| ONES[c as usize - '0' as usize]).collect::<Vec<_>>().join(" ");
    }
    let mut n: u64 = digits.parse().unwrap_or(0);
    let mut parts = Vec::new();
    for (scale, name) in
        [(1_000_000_000_000u64, "trillion"), (1_000_000_000, "billion"), (1_000_000, "million"), (1_000, "thousand")]
    {
        if n >= scale {
            parts.push(format!("{} {name}", below_thousand(n / scale)));
            n %= scale;
        }
    }
    if n > 0 {
        parts.push(below_thousand(n));
    }
    parts.join(" ")
}

fn below_thousand(n: u64) -> String {
    let mut p = Vec::new();
    if n >= 100 {
        p.push(format!("{} hundred", ONES[(n / 100) as usize]));
    }
    let r = n % 100;
    if r >= 20 {
        let t = TENS[(r / 10) as usize];
        if !r.is_multiple_of(10) { p.push(format!("{t} {}", ONES[(r % 10) as usize])) } else { p.push(t.to_owned()) }
    } else if r > 0 {
        p.push(ONES[r as usize].to_owned());
    }
    p.join(" ")
}

/// Word-level edit distance (substitutions + deletions + insertions) between two word lists.
pub fn word_edits(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut cur = vec![0; hypothesis.len() + 1];
    for (i, r) in reference.iter().enumerate() {
        cur[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r != h);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[hypothesis.len()]
}

/// Substitutions, deletions and insertions of a minimal word alignment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditKinds {
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
}

/// Splits the edit distance of two word lists by kind (ties prefer substitutions, then
/// deletions, so a repeated word reads as inserted).
pub fn edit_kinds(reference: &[String], hypothesis: &[String]) -> EditKinds {
    let (n, m) = (reference.len(), hypothesis.len());
    // cost[i][j]: edits between the first i reference and j hypothesis words.
    let mut cost = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in cost.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, c) in cost[0].iter_mut().enumerate() {
        *c = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = cost[i - 1][j - 1] + usize::from(reference[i - 1] != hypothesis[j - 1]);
            cost[i][j] = sub.min(cost[i - 1][j] + 1).min(cost[i][j - 1] + 1);
        }
    }
    let (mut i, mut j, mut k) = (n, m, EditKinds::default());
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && cost[i][j] == cost[i - 1][j - 1] + usize::from(reference[i - 1] != hypothesis[j - 1]) {
            k.substitutions += usize::from(reference[i - 1] != hypothesis[j - 1]);
            i -= 1;
            j -= 1;
        } else if i > 0 && cost[i][j] == cost[i - 1][j] + 1 {
            k.deletions += 1;
            i -= 1;
        } else {
            k.insertions += 1;
            j -= 1;
        }
    }
    k
}

/// Word error rate of `hypothesis` against `reference` after normalisation, with the counts.
pub fn wer(reference: &str, hypothesis: &str) -> WerCount {
    let r = normalize_words(reference);
    let h = normalize_words(hypothesis);
    WerCount { edits: word_edits(&r, &h), words: r.len() }
}

/// Edits and reference words, to be summed over a corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WerCount {
    pub edits: usize,
    pub words: usize,
}

impl WerCount {
    pub fn rate(&self) -> f64 {
        if self.words == 0 { if self.edits == 0 { 0.0 } else { 1.0 } } else { self.edits as f64 / self.words as f64 }
    }
}

impl std::ops::AddAssign for WerCount {
    fn add_assign(&mut self, o: Self) {
        self.edits += o.edits;
        self.words += o.words;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize_words(s).join(" ")
    }

    #[test]
    fn numbers_symbols_and_fillers() {
        assert_eq!(
            n("The expression goes 6 × 10 = 60 not 600000 that gives us a 12% chance."),
            "the expression goes six times ten equals sixty not six hundred thousand that gives us a twelve percent chance"
        );
        assert_eq!(
            n("600,000 and 3.5, 1999"),
            "six hundred thousand and three point five one thousand nine hundred ninety nine"
        );
        assert_eq!(n("Um, we're just, uh, saying -- yknow"), "we're just saying you know");
        assert_eq!(n("Mr. John Dashwood's 'quoted' cold-hearted"), "mister john dashwood's quoted cold hearted");
        assert_eq!(number_words("0"), "zero");
        assert_eq!(number_words("1000001"), "one million one");
    }

    #[test]
    fn annotations_are_not_words() {
        assert_eq!(n("She said. [speech not recognised, 12.3–15.1 s] Then (music) he left."), "she said then he left");
        // An unclosed bracket is only punctuation.
        assert_eq!(n("a [b c"), "a b c");
        assert_eq!(n("(a) b (c"), "b c");
    }

    #[test]
    fn word_error_rate() {
        let w = wer("And so, my fellow Americans", "and so my fellow americans");
        assert_eq!((w.edits, w.words), (0, 5));
        let w = wer("a b c d", "a x c");
        assert_eq!((w.edits, w.words), (2, 4));
        assert_eq!(wer("", "").rate(), 0.0);
        assert_eq!(wer("", "hello").rate(), 1.0);
    }

    #[test]
    fn edit_kinds_split_the_distance() {
        let w = |s: &str| normalize_words(s);
        let k = edit_kinds(&w("six"), &w("six six six six"));
        assert_eq!(k, EditKinds { substitutions: 0, deletions: 0, insertions: 3 });
        let k = edit_kinds(&w("a b c d"), &w("a x c"));
        assert_eq!(k.substitutions + k.deletions + k.insertions, word_edits(&w("a b c d"), &w("a x c")));
        assert_eq!((k.substitutions, k.deletions, k.insertions), (1, 1, 0));
    }
}
