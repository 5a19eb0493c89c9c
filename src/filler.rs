//! Deterministic filler text for search benchmarks and tests: many sessions that look alike
//! without saying any of the words those search for ("country", "fellow", "Americans",
//! "zanzibar").

const WORDS: &[&str] = &[
    "the",
    "meeting",
    "notes",
    "budget",
    "river",
    "garden",
    "quarterly",
    "review",
    "coffee",
    "window",
    "train",
    "station",
    "project",
    "deadline",
    "music",
    "evening",
    "weather",
    "report",
    "table",
    "letter",
    "morning",
    "design",
    "server",
    "customer",
    "holiday",
    "kitchen",
    "planning",
    "market",
    "picture",
    "question",
    "answer",
    "number",
    "school",
];

/// Filler sentence number `i`, `len` words long.
pub fn sentence(i: usize, len: usize) -> String {
    (0..len)
        .map(|k| WORDS[(i.wrapping_mul(2_654_435_761) >> (k % 7)).wrapping_add(k * 31) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_stable_and_differ() {
        assert_eq!(sentence(3, 5), sentence(3, 5));
        assert_ne!(sentence(3, 18), sentence(4, 18));
        assert_eq!(sentence(9, 18).split(' ').count(), 18);
    }
}
