//! Settings: the typed values each crate's settings struct is made of, and
//! the [`settings!`](crate::settings!) macro that declares such a struct
//! once — field, type, default and doc comment together.
//!
//! A settings struct is plain serde data (`deny_unknown_fields`, every field
//! defaulted), so a document of any serde format reads into it. The layers
//! the binary stacks (a file, the environment, flags) set one field at a
//! time through [`Section::set`]: typed values from a file go straight to
//! serde, text from the environment or a flag goes through [`Text`], which
//! reads a number, a switch or a comma-separated list out of a string. Each
//! value type checks its own bounds, so a setting that reads is valid.

use serde::de::{self, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// One field of a settings struct, as the configuration's layers and its
/// documentation name it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The field's name: the file key, the environment variable without its
    /// `TRAWLER_` prefix, the flag without `--` (with `-` for `_`).
    pub key: &'static str,
    /// The doc comment.
    pub doc: &'static str,
    /// Whether the value is a secret (masked when shown, hidden in help).
    pub secret: bool,
    /// Whether a flag given alone means `true`.
    pub switch: bool,
}

/// A settings struct: its fields, and a setter and a display by key.
pub trait Section: Default {
    /// The fields, in declaration order.
    const FIELDS: &'static [Field];

    /// Sets the field named `key` from `value`; `None` if no field has that
    /// name.
    fn set<'de, D: Deserializer<'de>>(&mut self, key: &str, value: D) -> Option<Result<(), D::Error>>;

    /// The field named `key` as `config check` prints it (secrets masked).
    fn show(&self, key: &str) -> Option<String>;
}

/// Declares a settings struct: each field with its type, its one default
/// and a doc comment (required), optionally the words shown when an
/// optional field is unset.
///
/// ```
/// use trawler_domain::settings::{Section, Span};
/// trawler_domain::settings! {
///     /// Settings of an example.
///     pub struct Example {
///         /// How often something happens.
///         every: Span = Span::secs(300);
///         /// Who to greet.
///         name: Option<String> = None, unset "nobody";
///     }
/// }
/// let mut e = Example::default();
/// e.set("every", trawler_domain::settings::Text("4h")).unwrap().unwrap();
/// assert_eq!(e.show("every").unwrap(), "4h");
/// assert_eq!(e.show("name").unwrap(), "nobody");
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[doc = $sdoc:literal])+
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $ty:ty = $default:expr $(, unset $unset:literal)? ;
            )*
        }
    ) => {
        $(#[doc = $sdoc])+
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::settings::Section for $name {
            const FIELDS: &'static [$crate::settings::Field] = &[
                $( $crate::settings::Field {
                    key: stringify!($field),
                    doc: concat!($($doc, "\n"),+),
                    secret: <$ty as $crate::settings::Show>::SECRET,
                    switch: <$ty as $crate::settings::Show>::SWITCH,
                }, )*
            ];

            fn set<'de, D: serde::Deserializer<'de>>(&mut self, key: &str, value: D) -> Option<Result<(), D::Error>> {
                match key {
                    $( stringify!($field) => Some(<$ty as serde::Deserialize>::deserialize(value).map(|v| self.$field = v)), )*
                    _ => None,
                }
            }

            fn show(&self, key: &str) -> Option<String> {
                match key {
                    $( stringify!($field) => Some($crate::settings::shown(&self.$field, &[$($unset)?])), )*
                    _ => None,
                }
            }
        }
    };
}

/// How a setting's value is printed by `config check`.
pub trait Show {
    /// Whether the value is a secret.
    const SECRET: bool = false;
    /// Whether a flag given alone means `true`.
    const SWITCH: bool = false;
    /// The value as written in the configuration (a secret masked).
    fn show(&self) -> String;
    /// Whether the value is unset (an optional setting left out).
    fn is_unset(&self) -> bool {
        false
    }
}

/// `value` as shown, or the first of `unset` when it is unset.
pub fn shown<T: Show>(value: &T, unset: &[&str]) -> String {
    match unset.first() {
        Some(words) if value.is_unset() => (*words).to_owned(),
        _ => value.show(),
    }
}

macro_rules! show_display {
    ($($t:ty),*) => { $( impl Show for $t { fn show(&self) -> String { self.to_string() } } )* };
}
show_display!(u32, u64, usize, f64, String, std::net::SocketAddr);

impl Show for bool {
    const SWITCH: bool = true;
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for std::path::PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl<T: Show> Show for Option<T> {
    const SECRET: bool = T::SECRET;
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| "unset".into(), Show::show)
    }
    fn is_unset(&self) -> bool {
        self.is_none()
    }
}

impl<T: Show> Show for Vec<T> {
    const SECRET: bool = T::SECRET;
    fn show(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        if T::SECRET {
            return format!("*** ({} values)", self.len());
        }
        self.iter().map(Show::show).collect::<Vec<_>>().join(",")
    }
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
}

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

/// A setting written as text (an environment variable, a flag): numbers,
/// switches (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`) and
/// comma-separated lists are read out of it as the setting's type asks; an
/// empty text is an unset optional setting.
#[derive(Debug, Clone, Copy)]
pub struct Text<'a>(pub &'a str);

impl<'a> Text<'a> {
    fn parse<T: std::str::FromStr, E: de::Error>(&self, what: &str) -> Result<T, E> {
        self.0.trim().parse().map_err(|_| E::custom(format!("`{}` is not {what}", self.0)))
    }
}

impl<'de, 'a> Deserializer<'de> for Text<'a> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => v.visit_bool(true),
            "false" | "no" | "n" | "off" | "0" => v.visit_bool(false),
            _ => Err(de::Error::custom(format!("`{}` is not true or false", self.0))),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_i64(self.parse("a whole number")?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_u64(self.parse("a whole number")?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_u32(self.parse("a whole number")?)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_i32(self.parse("a whole number")?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_f64(self.parse("a number")?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        if self.0.trim().is_empty() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        let items = self.0.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Text);
        v.visit_seq(de::value::SeqDeserializer::new(items))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_enum(self.0.trim().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u8 u16 u128 f32 char str string bytes byte_buf unit unit_struct
        tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, de::value::Error> for Text<'a> {
    type Deserializer = Text<'a>;
    fn into_deserializer(self) -> Text<'a> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::settings! {
        /// A test section.
        pub struct Demo {
            /// A duration.
            every: Span = Span::secs(4 * 3600);
            /// A bounded count.
            count: Bounded<1, 100> = Bounded::of(5);
            /// A switch.
            on: bool = false;
            /// A rate.
            rate: Rate = Rate(5.0);
            /// A list.
            hosts: Option<Vec<String>> = None, unset "any host";
            /// A secret.
            token: Option<Secret> = None;
        }
    }

    fn text(d: &mut Demo, key: &str, value: &str) -> Result<(), String> {
        d.set(key, Text(value)).expect("a field").map_err(|e| e.to_string())
    }

    #[test]
    fn text_reads_each_type_and_refuses_with_the_value() {
        let mut d = Demo::default();
        text(&mut d, "every", "90d").unwrap();
        assert_eq!(d.every.get(), Duration::from_secs(90 * 86_400));
        assert_eq!(d.show("every").unwrap(), "90d");
        text(&mut d, "count", "100").unwrap();
        assert!(text(&mut d, "count", "0").unwrap_err().contains("between 1 and 100"));
        assert!(text(&mut d, "count", "many").unwrap_err().contains("`many`"));
        text(&mut d, "on", "yes").unwrap();
        assert!(d.on);
        assert!(text(&mut d, "on", "perhaps").unwrap_err().contains("perhaps"));
        text(&mut d, "rate", "2.5").unwrap();
        assert_eq!(d.show("rate").unwrap(), "2.5 requests/s");
        assert!(text(&mut d, "rate", "-3").unwrap_err().contains("-3"));
        assert_eq!(d.show("hosts").unwrap(), "any host");
        text(&mut d, "hosts", "a.example, b.example").unwrap();
        assert_eq!(d.hosts, Some(vec!["a.example".to_owned(), "b.example".to_owned()]));
        assert!(text(&mut d, "every", "0s").unwrap_err().contains("longer than zero"));
        assert!(text(&mut d, "every", "soon").unwrap_err().contains("soon"));
        assert!(d.set("nope", Text("1")).is_none());
    }

    #[test]
    fn secrets_never_show() {
        let mut d = Demo::default();
        text(&mut d, "token", "hunter2-hunter2").unwrap();
        assert_eq!(d.show("token").unwrap(), "*** (15 characters)");
        assert!(!format!("{d:?}").contains("hunter2"));
        assert!(Demo::FIELDS.iter().any(|f| f.key == "token" && f.secret));
        assert!(Demo::FIELDS.iter().any(|f| f.key == "on" && f.switch));
    }

    #[test]
    fn a_document_reads_into_the_struct_and_refuses_unknown_keys() {
        let d: Demo = serde_json::from_value(serde_json::json!({"every": "1h", "count": 7})).unwrap();
        assert_eq!((d.every, d.count.get(), d.on), (Span::secs(3600), 7, false));
        let e = serde_json::from_value::<Demo>(serde_json::json!({"evry": "1h"})).unwrap_err();
        assert!(e.to_string().contains("evry"), "{e}");
    }
}
