//! Formatting epoch seconds for people (exports, logs) without a date crate.

/// A moment's calendar fields in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: i64,
    /// Day of the month, 1–31.
    pub day: i64,
    /// Seconds since midnight.
    pub second_of_day: i64,
    /// Day of the week, 0 = Sunday.
    pub weekday: i64,
}

/// The calendar fields of `secs` since the epoch, in UTC.
pub fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday.
    Civil { year, month, day, second_of_day: rem, weekday: (days + 4).rem_euclid(7) }
}

/// Epoch seconds of midnight UTC at the start of `YYYY-MM-DD` (as an HTML
/// date input sends it), or `None` if it is not a real date in years
/// 1970–9999.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4
        || m.len() != 2
        || d.len() != 2
        || !(y.chars().chain(m.chars()).chain(d.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let (year, month, day): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if year < 1970 || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400;
    // Reject 2026-02-31 and the like: the date must come back unchanged.
    let back = civil(secs);
    (back.year == year && back.month == month && back.day == day).then_some(secs)
}

/// `secs` since the epoch as RFC 3339 in UTC: `2026-11-25T20:12:36Z`.
pub fn rfc3339(secs: i64) -> String {
    let c = civil(secs);
    let rem = c.second_of_day;
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn epoch_seconds_format_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(784_111_777), "1994-11-06T08:49:37Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn dates_parse_to_midnight_utc_and_bad_ones_are_refused() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-26"), Some(1_795_651_200));
        assert_eq!(rfc3339(parse_date("2024-02-29").expect("a leap day")), "2024-02-29T00:00:00Z");
        for bad in
            ["2026-02-30", "2025-02-29", "2026-13-01", "26-11-26", "2026-1-01", "1969-12-31", "x", "2026-11-26T00"]
        {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
