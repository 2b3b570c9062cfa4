//! Dates and times as people and platforms write them, read and written with
//! chrono. Inside the service a moment is epoch seconds (or milliseconds) in
//! UTC; these functions are the edges.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// The last second of year 9999: the latest time the service takes.
pub const MAX_EPOCH: i64 = 253_402_300_799;

/// A moment in UTC, from epoch seconds; `None` outside chrono's range.
pub fn utc(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// `secs` since the epoch as RFC 3339 in UTC: `2026-11-25T20:12:36Z`.
/// Outside the years chrono can write, the number itself.
pub fn rfc3339(secs: i64) -> String {
    utc(secs).map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Epoch milliseconds for a person: `2026-11-25 20:12:36` (UTC).
pub fn display_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// `secs` since the epoch as an HTTP date (IMF-fixdate):
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: i64) -> String {
    utc(secs).map_or_else(|| secs.to_string(), |t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Epoch seconds of midnight UTC at the start of `YYYY-MM-DD` (as an HTML
/// date input sends it), or `None` if it is not a real date in years
/// 1970–9999.
pub fn parse_date(s: &str) -> Option<i64> {
    // chrono takes `2026-1-1` and five-digit years; the form takes neither.
    let shape =
        s.len() == 10 && s.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    if !shape {
        return None;
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let secs = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    (secs >= 0).then_some(secs)
}

/// A moment as the API takes it: epoch seconds (`1764892800`) or an RFC
/// 3339 time with an offset (`2025-12-05T00:00:00Z`), within years
/// 1970–9999. `None` for anything else.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    let secs = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().ok()?
    } else {
        DateTime::parse_from_rfc3339(s).ok()?.timestamp()
    };
    (0..=MAX_EPOCH).contains(&secs).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_format_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(784_111_777), "1994-11-06T08:49:37Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string(), "beyond any calendar: the number");
        assert_eq!(display_ms(784_111_777_250), "1994-11-06 08:49:37");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn dates_parse_to_midnight_utc_and_bad_ones_are_refused() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-26"), Some(1_795_651_200));
        assert_eq!(rfc3339(parse_date("2024-02-29").expect("a leap day")), "2024-02-29T00:00:00Z");
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "26-11-26",
            "2026-1-01",
            "1969-12-31",
            "x",
            "2026-11-26T00",
            "+2026-11-2",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_are_epoch_seconds_or_rfc3339() {
        assert_eq!(parse_instant("1764892800"), Some(1_764_892_800));
        assert_eq!(parse_instant("2025-12-05T00:00:00Z"), Some(1_764_892_800));
        assert_eq!(parse_instant("2025-12-05T01:00:00+01:00"), Some(1_764_892_800));
        assert_eq!(parse_instant("2025-12-05t00:00:00z"), Some(1_764_892_800), "RFC 3339 allows lower case");
        assert_eq!(parse_instant(&MAX_EPOCH.to_string()), Some(MAX_EPOCH));
        for bad in
            ["", "-1", "1e9", "253402300800", "99999999999999999999", "2025-12-05", "2025-12-05 00:00:00", "yesterday"]
        {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }
}
