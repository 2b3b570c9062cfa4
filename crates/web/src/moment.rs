//! A moment in a query string (`from`, `to`): epoch seconds or RFC 3339.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use trawler_domain::time::{parse_instant, MAX_EPOCH};

/// A moment the API was given, as epoch seconds: `1764892800` or
/// `2025-12-05T00:00:00Z` (any offset), within years 1970–9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment(pub i64);

impl Moment {
    /// Its epoch seconds.
    pub fn secs(self) -> i64 {
        self.0
    }
}

/// What a refused moment is told.
pub const FORMS: &str =
    "a time is epoch seconds (1764892800) or RFC 3339 (2025-12-05T00:00:00Z), between 1970 and the end of 9999";

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Moment, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Moment;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(FORMS)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Moment, E> {
                parse_instant(v).map(Moment).ok_or_else(|| {
                    let shown: String = v.chars().take(40).collect();
                    E::custom(format!("`{shown}` is not a time: {FORMS}"))
                })
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Moment, E> {
                if (0..=MAX_EPOCH).contains(&v) {
                    Ok(Moment(v))
                } else {
                    Err(E::custom(format!("{v} is out of range: {FORMS}")))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Moment, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Q {
        from: Option<Moment>,
    }

    fn from(query: &str) -> Result<Option<i64>, String> {
        actix_web::web::Query::<Q>::from_query(query).map(|q| q.from.map(Moment::secs)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_query_takes_epoch_seconds_or_rfc3339_and_names_both_forms_otherwise() {
        assert_eq!(from("from=1764892800"), Ok(Some(1_764_892_800)));
        assert_eq!(from("from=2025-12-05T00:00:00Z"), Ok(Some(1_764_892_800)));
        assert_eq!(from("from=2025-12-05T01:00:00%2B01:00"), Ok(Some(1_764_892_800)));
        assert_eq!(from(""), Ok(None));
        for bad in ["from=-5", "from=1e9", "from=yesterday", "from=253402300800", "from=2025-12-05"] {
            let e = from(bad).expect_err(bad);
            assert!(e.contains("epoch seconds") && e.contains("RFC 3339"), "{bad}: {e}");
        }
        let e = serde_json::from_str::<Moment>("-1").expect_err("negative");
        assert!(e.to_string().contains("out of range"), "{e}");
        assert_eq!(serde_json::from_str::<Moment>("0").ok(), Some(Moment(0)));
    }
}
