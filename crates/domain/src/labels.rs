//! Labels on projects: `key=value` pairs an operator gives them (client,
//! team, campaign wave) to filter, act in bulk and aggregate by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most labels on one project.
pub const MOST_LABELS: usize = 16;
/// Longest key.
pub const KEY_MAX: usize = 63;
/// Longest value, in characters.
pub const VALUE_MAX: usize = 100;

/// A project's labels, by key (sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<String, String>);

/// Checks a key: a lower-case letter, then lower-case letters, digits or
/// `_`, at most 63 (what a Prometheus label name may be, too).
pub fn check_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if key.len() > KEY_MAX || !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "`{}` is not a label key: a lower-case letter, then lower-case letters, digits or `_`, at most {KEY_MAX}",
            key.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

/// Checks a value: 1 to 100 characters, no control characters, not
/// padded with spaces.
pub fn check_value(key: &str, value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n == 0 || n > VALUE_MAX || value.chars().any(char::is_control) || value.trim() != value {
        return Err(format!(
            "label `{key}`: a value has 1 to {VALUE_MAX} characters, no control characters and no spaces around it"
        ));
    }
    Ok(())
}

impl Labels {
    /// No labels.
    pub fn new() -> Labels {
        Labels::default()
    }

    /// Checked labels from pairs; a key given twice keeps the last value.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Labels, String> {
        let mut labels = Labels::new();
        for (k, v) in pairs {
            labels.set(k.as_ref(), v.as_ref())?;
        }
        Ok(labels)
    }

    /// Sets one label (checked).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        check_key(key)?;
        check_value(key, value)?;
        if !self.0.contains_key(key) && self.0.len() >= MOST_LABELS {
            return Err(format!("a project has at most {MOST_LABELS} labels"));
        }
        self.0.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    /// Removes one label; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Key and value, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// As `key=value` joined with `sep`.
    pub fn to_text(&self, sep: &str) -> String {
        self.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(sep)
    }

    /// Reads `key=value` pairs separated by commas, semicolons or new
    /// lines (a CSV cell, a form's text area); blank pieces are skipped.
    pub fn parse_text(text: &str) -> Result<Labels, String> {
        let mut labels = Labels::new();
        for piece in text.split([',', ';', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').ok_or_else(|| format!("`{piece}` is not key=value"))?;
            labels.set(k.trim(), v.trim())?;
        }
        Ok(labels)
    }

    /// Whether every `(key, value)` of `wanted` is among these (a value
    /// `None`: the key with any value).
    pub fn matches(&self, wanted: &[(String, Option<String>)]) -> bool {
        wanted.iter().all(|(k, v)| match (self.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        })
    }
}

impl<'de> Deserialize<'de> for Labels {
    /// A JSON object of strings, checked.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        if map.len() > MOST_LABELS {
            return Err(serde::de::Error::custom(format!("a project has at most {MOST_LABELS} labels")));
        }
        Labels::from_pairs(map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_checked() {
        let labels = Labels::parse_text("client=acme, wave = spring;team=growth").expect("valid");
        assert_eq!(labels.to_text(","), "client=acme,team=growth,wave=spring");
        for bad in ["Client=acme", "1st=x", "client", "client=", "cli-ent=x", "client= acme\u{7}", "__x=1"] {
            assert!(Labels::parse_text(bad).is_err(), "{bad}");
        }
        assert!(Labels::parse_text(&format!("k={}", "v".repeat(101))).is_err());
        let many: String = (0..17).map(|i| format!("k{i}=v,")).collect();
        assert!(Labels::parse_text(&many).is_err(), "seventeen labels");
        let json: Result<Labels, _> = serde_json::from_str(r#"{"client": "acme", "Bad": "x"}"#);
        assert!(json.is_err());
        assert!(labels.matches(&[("client".into(), Some("acme".into())), ("team".into(), None)]));
        assert!(!labels.matches(&[("client".into(), Some("globex".into()))]));
        assert!(!labels.matches(&[("region".into(), None)]));
    }
}
