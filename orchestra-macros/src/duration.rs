//! Humane durations, as the attributes spell them: `250ms`, `5s`, `1m30s`, `1h`.
//!
//! A duration is one or more `<integer><unit>` parts, largest unit first,
//! each unit at most once, with nothing in between. It must be longer than
//! zero and fit in a [`Duration`]. Fractions are not accepted: `1s500ms`
//! says exactly what `1.5s` would.

use std::time::Duration;

/// The units, largest first, with their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// What every error message ends with.
pub(crate) const EXPECTED: &str = "expected a duration such as `250ms`, `5s`, `1m30s` or `1h`";

/// The accepted units, for messages.
fn unit_list() -> String {
    let units: Vec<String> = UNITS.iter().map(|(unit, _)| format!("`{unit}`")).collect();
    units.join(", ")
}

/// Parses a humane duration; the error says what is wrong, without the
/// trailing advice ([`EXPECTED`]).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("the duration is empty".into());
    }
    if text.starts_with('-') {
        return Err("a duration cannot be negative".into());
    }
    let mut rest = text;
    let mut total: u128 = 0;
    // The index in `UNITS` of the previous part's unit.
    let mut previous: Option<usize> = None;
    while !rest.is_empty() {
        let digits_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after_digits) = rest.split_at(digits_len);
        if digits.is_empty() {
            return Err(unexpected(after_digits, "a number"));
        }
        let unit_len = after_digits
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after_digits.len());
        let (unit, after_unit) = after_digits.split_at(unit_len);
        if unit.is_empty() {
            return Err(match after_digits.chars().next() {
                None if digits.bytes().all(|b| b == b'0') => {
                    "a duration must be longer than zero".into()
                }
                None => format!("`{digits}` has no unit (one of {})", unit_list()),
                Some(_) => unexpected(after_digits, "a unit"),
            });
        }
        let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit `{unit}` (the units are {})",
                unit_list()
            ));
        };
        if let Some(previous) = previous
            && index <= previous
        {
            return Err(format!(
                "`{unit}` comes after `{}`: give the units from the largest to the smallest, each once",
                UNITS[previous].0
            ));
        }
        previous = Some(index);
        let part = digits
            .parse::<u128>()
            .ok()
            .and_then(|n| n.checked_mul(UNITS[index].1))
            .and_then(|n| n.checked_add(total));
        total = part.ok_or_else(too_long)?;
        rest = after_unit;
    }
    if total == 0 {
        return Err("a duration must be longer than zero".into());
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_long())?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).map_err(|_| too_long())?;
    Ok(Duration::new(secs, nanos))
}

/// The message for an unexpected character at the start of `rest`, where
/// `wanted` was expected.
fn unexpected(rest: &str, wanted: &str) -> String {
    match rest.chars().next() {
        Some(c) if c.is_whitespace() => "unexpected space".into(),
        Some('.' | ',') => {
            "fractions are not accepted: use a smaller unit (`1500ms` rather than `1.5s`)".into()
        }
        Some(c) => format!("unexpected `{c}`, expected {wanted}"),
        None => format!("expected {wanted}"),
    }
}

fn too_long() -> String {
    format!("the duration is too long (at most {} seconds)", u64::MAX)
}

/// Spells a duration back the humane way, for messages: `1m30s`.
pub(crate) fn display(duration: Duration) -> String {
    let mut nanos = duration.as_nanos();
    let mut out = String::new();
    for (unit, length) in UNITS {
        let n = nanos / length;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            nanos %= length;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        match parse(text) {
            Ok(duration) => duration,
            Err(message) => panic!("`{text}` was rejected: {message}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(duration) => panic!("`{text}` was accepted as {duration:?}"),
            Err(message) => message,
        }
    }

    #[test]
    fn accepts_humane_durations() {
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("5s"), Duration::from_secs(5));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("2d"), Duration::from_secs(2 * 86_400));
        assert_eq!(ok("1h1m1s1ms1us1ns"), Duration::new(3661, 1_001_001));
        assert_eq!(ok("1500ms"), Duration::from_millis(1500));
        assert_eq!(ok("007s"), Duration::from_secs(7));
        assert_eq!(ok("18446744073709551615s"), Duration::from_secs(u64::MAX));
    }

    #[test]
    fn rejects_what_is_not_a_duration_with_a_reason() {
        assert_eq!(err(""), "the duration is empty");
        assert_eq!(err("0"), "a duration must be longer than zero");
        assert_eq!(err("00"), "a duration must be longer than zero");
        assert!(err("5").starts_with("`5` has no unit (one of `d`, `h`"));
        assert_eq!(err("0s"), "a duration must be longer than zero");
        assert_eq!(err("0h0m"), "a duration must be longer than zero");
        assert!(err("5 s").starts_with("unexpected space"));
        assert!(err(" 5s").starts_with("unexpected space"));
        assert!(err("5s ").starts_with("unexpected space"));
        assert_eq!(err("-1s"), "a duration cannot be negative");
        assert!(err("1.5s").starts_with("fractions are not accepted"));
        assert!(err("5x").starts_with("unknown unit `x`"));
        assert!(err("5sec").starts_with("unknown unit `sec`"));
        assert!(err("s").starts_with("unexpected `s`, expected a number"));
        assert!(err("30s1m").starts_with("`m` comes after `s`"));
        assert!(err("1s1s").starts_with("`s` comes after `s`"));
        assert!(err("1m+30s").starts_with("unexpected `+`"));
        assert!(err("+1s").starts_with("unexpected `+`"));
        assert!(err("18446744073709551616s").starts_with("the duration is too long"));
        assert!(
            err("999999999999999999999999999999999999999999s")
                .starts_with("the duration is too long")
        );
        assert!(err("1000000000000000000d").starts_with("the duration is too long"));
    }

    #[test]
    fn displays_durations_back() {
        assert_eq!(display(Duration::from_secs(90)), "1m30s");
        assert_eq!(display(Duration::from_millis(250)), "250ms");
        assert_eq!(display(Duration::ZERO), "0s");
    }
}
