//! The value types settings are made of: durations, bounded counts, sizes,
//! rates, shares and secrets, each checking its own bounds as it is read.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

use super::Show;

/// The longest duration a setting takes.
const LONGEST: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A duration, written as people write them (`500ms`, `5s`, `10m`, `4h`,
/// `90d`) or as a number of seconds; longer than zero, at most ten years.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(Duration);

impl Span {
    /// `n` seconds.
    pub const fn secs(n: u64) -> Span {
        Span(Duration::from_secs(n))
    }

    /// `n` milliseconds.
    pub const fn millis(n: u64) -> Span {
        Span(Duration::from_millis(n))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }

    /// Reads `text` (`4h`, `90d`, `500ms`).
    pub fn parse(text: &str) -> Result<Span, String> {
        let d = humantime::parse_duration(text.trim())
            .map_err(|e| format!("`{text}` is not a duration like 5s, 5m or 4h: {e}"))?;
        Span::new(d).map_err(|e| format!("`{text}` {e}"))
    }

    /// Checks the bounds of `d`.
    pub fn new(d: Duration) -> Result<Span, String> {
        if d.is_zero() {
            return Err("must be longer than zero".into());
        }
        if d > LONGEST {
            return Err("is longer than ten years".into());
        }
        Ok(Span(d))
    }
}

impl From<Span> for Duration {
    fn from(s: Span) -> Duration {
        s.0
    }
}

impl fmt::Display for Span {
    /// As it would be written in the configuration: whole days as `90d`,
    /// anything else as humantime writes it (`4h`, `1m 30s`, `500ms`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if self.0.subsec_nanos() == 0 && secs.is_multiple_of(86_400) {
            write!(f, "{}d", secs / 86_400)
        } else {
            write!(f, "{}", humantime::format_duration(self.0))
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Show for Span {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like 5s, 5m or 4h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                Span::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                Span::new(Duration::from_secs(v)).map_err(|e| E::custom(format!("`{v}` {e}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                let v = u64::try_from(v).map_err(|_| E::custom(format!("`{v}` must be longer than zero")))?;
                self.visit_u64(v)
            }
        }
        d.deserialize_any(V)
    }
}

/// A whole number between `MIN` and `MAX`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    /// `n`, which must lie within the bounds (checked when the program is
    /// built, for the constants settings default to).
    pub const fn of(n: u64) -> Self {
        assert!(n >= MIN && n <= MAX, "a default outside its bounds");
        Bounded(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The number as a `u32` (saturated).
    pub fn u32(self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }

    /// The number as a `usize` (saturated).
    pub fn usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<const MIN: u64, const MAX: u64> fmt::Debug for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<const MIN: u64, const MAX: u64> Show for Bounded<MIN, MAX> {
    fn show(&self) -> String {
        self.0.to_string()
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u64::try_from(n) {
            Ok(n) if (MIN..=MAX).contains(&n) => Ok(Bounded(n)),
            _ => Err(de::Error::custom(format!("`{n}` must be between {MIN} and {MAX}"))),
        }
    }
}

/// A size in bytes, at least 1024.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Bytes(u64);

impl Bytes {
    /// `n` bytes (`n` ≥ 1024, checked when the program is built).
    pub const fn of(n: u64) -> Bytes {
        assert!(n >= 1024, "a size below 1024 bytes");
        Bytes(n)
    }

    /// The size.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The size as a `usize` (saturated).
    pub fn usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Show for Bytes {
    fn show(&self) -> String {
        self.0.to_string()
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let n = i64::deserialize(d)?;
        match u64::try_from(n) {
            Ok(n) if n >= 1024 => Ok(Bytes(n)),
            _ => Err(de::Error::custom(format!("`{n}` must be at least 1024 bytes"))),
        }
    }
}

/// Requests per second: more than 0, at most 100,000.
#[derive(Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Rate(f64);

impl Rate {
    /// `r` requests per second (within the bounds, checked when the program
    /// is built).
    pub const fn of(r: f64) -> Rate {
        assert!(r > 0.0 && r <= 100_000.0, "a rate outside its bounds");
        Rate(r)
    }

    /// The rate.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// `r` requests per second, if within the bounds.
    pub fn new(r: f64) -> Result<Rate, String> {
        if r.is_finite() && r > 0.0 && r <= 100_000.0 {
            Ok(Rate(r))
        } else {
            Err(format!("`{r}` must be between 0 and 100000 requests per second"))
        }
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Show for Rate {
    fn show(&self) -> String {
        format!("{} requests/s", self.0)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        Rate::new(f64::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A share between 0 and 1 (0.999 = 99.9%).
#[derive(Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Share(f64);

impl Share {
    /// `v` (between 0 and 1, checked when the program is built).
    pub const fn of(v: f64) -> Share {
        assert!(v >= 0.0 && v <= 1.0, "a share outside 0..=1");
        Share(v)
    }

    /// The share.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// `v`, if between 0 and 1.
    pub fn new(v: f64) -> Result<Share, String> {
        if (0.0..=1.0).contains(&v) {
            Ok(Share(v))
        } else {
            Err(format!("`{v}` must be between 0 and 1 (0.999 = 99.9%)"))
        }
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Show for Share {
    fn show(&self) -> String {
        self.0.to_string()
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Share, D::Error> {
        Share::new(f64::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A secret (a token, a key): never printed, logged or serialized in the
/// clear. Surrounding white space is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret from `s`.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into().trim().to_owned())
    }

    /// Whether the secret is empty (a setting given as `""` means unset).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Show for Secret {
    const SECRET: bool = true;
    fn show(&self) -> String {
        format!("*** ({} characters)", self.0.chars().count())
    }
}

impl Serialize for Secret {
    /// Masked: a settings struct serialized for a view shows no secret.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}
