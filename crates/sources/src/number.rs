//! Tolerant number parsing for values written for humans.
//!
//! Accepts currency symbols and codes, thousands separators in either
//! convention, and k/M/B suffixes:
//! `"$1,234.50"` → 1234.5, `"1.234,50 €"` → 1234.5, `"3.2k"` → 3200,
//! `"12 345"` → 12345, `"-7"` → -7, `"45%"` → 45.
//!
//! Separators: when both `.` and `,` appear, the last one is the decimal
//! mark. When only one kind appears, several of it are thousands separators;
//! a single `,` followed by exactly three digits is a thousands separator
//! (`"1,234"` → 1234), otherwise it is a decimal comma (`"1,5"` → 1.5); a
//! single `.` is always a decimal point (`"1.234"` → 1.234, as in JSON).

/// Parses a human-formatted number, or `None` when there is no number in it.
pub fn parse_number(text: &str) -> Option<f64> {
    read(text).map(|(value, _)| value)
}

/// The value of a human-formatted number and the step of its last shown
/// digit (`"1.2k"` → 1200 and 100; `"$1,234"` → 1234 and 1): how far the
/// value it stands for may be from it once rounded for display.
pub(crate) fn read(text: &str) -> Option<(f64, f64)> {
    let text = text.trim();
    // Find the numeric core: from the first digit (or sign/point before one)
    // to the last digit, then an optional magnitude suffix right after it.
    let bytes = text.as_bytes();
    let first = bytes.iter().position(|b| b.is_ascii_digit())?;
    let last = bytes.iter().rposition(|b| b.is_ascii_digit())?;
    let mut start = first;
    if start > 0 && (bytes[start - 1] == b'.' || bytes[start - 1] == b',') {
        start -= 1; // ".5"
    }
    let negative = text[..start].trim_end().ends_with('-') || text[..start].contains('−');
    let core: String = text[start..=last]
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}' && *c != '\'' && *c != '_')
        .collect();
    if !core.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        return None;
    }
    // A magnitude suffix is one letter standing alone: "3.2k", "1.5 M",
    // but not "kr" (a currency) or "months".
    let mut after = text[last + 1..].trim_start().chars();
    let suffix = after.next();
    let alone = after.next().is_none_or(|c| !c.is_alphabetic());
    let multiplier = match suffix {
        Some('k' | 'K') if alone => 1e3,
        Some('m' | 'M') if alone => 1e6,
        Some('b' | 'B') if alone => 1e9,
        _ => 1.0,
    };
    let normalised = normalise_separators(&core)?;
    let value: f64 = normalised.parse().ok()?;
    let value = value * multiplier;
    let decimals = normalised.split_once('.').map_or(0, |(_, d)| d.len());
    let step = multiplier / 10f64.powi(i32::try_from(decimals).unwrap_or(i32::MAX));
    // "1" followed by 400 zeros parses as infinity: not a number anyone can store.
    value.is_finite().then_some((if negative { -value } else { value }, step))
}

/// Rewrites digits with `.`/`,` separators into Rust's float syntax.
fn normalise_separators(core: &str) -> Option<String> {
    let dots = core.matches('.').count();
    let commas = core.matches(',').count();
    let (thousands, decimal) = match (dots, commas) {
        (0, 0) => return Some(core.to_owned()),
        (_, 0) if dots > 1 => ('.', None),
        (_, 0) => (',', Some('.')),
        (0, _) if commas > 1 => (',', None),
        (0, _) => {
            let after = core.len() - core.rfind(',')? - 1;
            if after == 3 {
                (',', None)
            } else {
                ('.', Some(','))
            }
        }
        _ => {
            if core.rfind('.')? > core.rfind(',')? {
                (',', Some('.'))
            } else {
                ('.', Some(','))
            }
        }
    };
    let mut out = String::with_capacity(core.len());
    for c in core.chars() {
        if c == thousands {
            continue;
        }
        if Some(c) == decimal {
            out.push('.');
        } else if c == '.' || c == ',' {
            return None; // a second decimal mark
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{parse_number, read};

    #[test]
    fn the_step_of_the_last_shown_digit_is_known() {
        assert_eq!(read("1.2k"), Some((1200.0, 100.0)));
        assert_eq!(read("$1,234"), Some((1234.0, 1.0)));
        assert_eq!(read("1.234,50 €"), Some((1234.5, 0.01)));
        assert_eq!(read("3 M"), Some((3e6, 1e6)));
    }

    #[test]
    fn human_numbers_parse() {
        let cases: &[(&str, f64)] = &[
            ("$1,234.50", 1234.5),
            ("1.234,50 €", 1234.5),
            ("3.2k", 3200.0),
            ("3.2K backers", 3200.0),
            ("1.5M", 1_500_000.0),
            ("2B", 2e9),
            ("12 345", 12345.0),
            ("12\u{a0}345,67 kr", 12345.67),
            ("1,234", 1234.0),
            ("1,5", 1.5),
            ("1.234", 1.234),
            ("1.234.567", 1_234_567.0),
            ("1,234,567.89", 1_234_567.89),
            ("CHF 1'234.50", 1234.5),
            ("-7", -7.0),
            ("− 7", -7.0),
            ("45%", 45.0),
            (".5", 0.5),
            ("US$ 99", 99.0),
            ("0", 0.0),
            ("12 months", 12.0),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_number(text), Some(*expected), "{text}");
        }
    }

    #[test]
    fn non_numbers_do_not_parse() {
        for text in ["", "n/a", "—", "abc", "1.2.3,4,5"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
    }
}
