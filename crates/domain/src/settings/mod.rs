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

mod text;
mod values;

pub use text::Text;
pub use values::{Bounded, Bytes, Rate, Secret, Share, Span};

use serde::Deserializer;

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
show_display!(u32, u64, usize, f64, String, std::net::SocketAddr, crate::Platform);

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
            rate: Rate = Rate::of(5.0);
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
