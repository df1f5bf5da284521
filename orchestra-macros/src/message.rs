//! The pieces every error message is made of: lists of what is accepted and
//! the "did you mean" suggestion for a near miss.

use std::fmt::Write as _;

/// `` `a`, `b`, `c` ``
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}`{item}`");
    }
    out
}

/// `` `a` `` alone, or `` one of `a`, `b`, `c` ``.
pub(crate) fn one_of<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.into_iter().collect();
    match items.as_slice() {
        [one] => format!("`{one}`"),
        _ => format!("one of {}", list(items)),
    }
}

/// `` did you mean `near`? `` when a candidate is close to `word`, or nothing:
/// the start of a message's advice.
pub(crate) fn did_you_mean_hint<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match did_you_mean(word, candidates) {
        Some(near) => format!("did you mean `{near}`? "),
        None => String::new(),
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let normalized = |s: &str| s.to_lowercase().replace('_', "-");
    let word_n = normalized(word);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_n, &normalized(c)), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, edit_distance, one_of};

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["name", "timeout", "backoff", "max_attempts", "restart"];
        assert_eq!(did_you_mean("backof", keys), Some("backoff"));
        assert_eq!(did_you_mean("timout", keys), Some("timeout"));
        assert_eq!(did_you_mean("max_attempt", keys), Some("max_attempts"));
        assert_eq!(did_you_mean("retries", keys), None);
        assert_eq!(
            did_you_mean("on_failure", ["never", "on-failure"]),
            Some("on-failure")
        );
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn lists_one_alone_and_several_as_a_choice() {
        assert_eq!(one_of(["max_times"]), "`max_times`");
        assert_eq!(one_of(["a", "b"]), "one of `a`, `b`");
    }
}
