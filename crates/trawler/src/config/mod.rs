//! The configuration: one [`Settings`] made of each crate's settings
//! struct, loaded in layers — the defaults (each struct's `Default`), a
//! TOML file, the environment, the flags — and checked before anything
//! starts.

mod args;
mod file;
mod report;
mod sim;

pub use args::{NodeArgs, StoreArgs};
pub use sim::SimArgs;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use trawler_actors::ActorsSettings;
use trawler_domain::settings::{Field, Section, Text};
use trawler_sources::SourcesSettings;
use trawler_store::StoreSettings;
use trawler_web::WebSettings;

/// Every setting of a node, one section per crate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The database and the keys of stored secrets.
    pub store: StoreSettings,
    /// The platforms' clients.
    pub sources: SourcesSettings,
    /// The actors: schedule, ingestion, retention, webhooks.
    pub actors: ActorsSettings,
    /// The HTTP API and the admin UI.
    pub web: WebSettings,
}

/// The sections, by name, with their fields.
pub const SECTIONS: [(&str, &[Field]); 4] = [
    ("store", StoreSettings::FIELDS),
    ("sources", SourcesSettings::FIELDS),
    ("actors", ActorsSettings::FIELDS),
    ("web", WebSettings::FIELDS),
];

/// Every field of every section.
pub fn fields() -> impl Iterator<Item = &'static Field> {
    SECTIONS.into_iter().flat_map(|(_, fields)| fields.iter())
}

/// The environment variable of a setting: `TRAWLER_` and its key in
/// capitals (`DATABASE_URL` for the database's URL, as every tool names it).
pub fn env_name(key: &str) -> String {
    if key == "database_url" {
        "DATABASE_URL".into()
    } else {
        format!("TRAWLER_{}", key.to_ascii_uppercase())
    }
}

/// The flag of a setting: its key with `-` for `_`.
pub fn flag_name(key: &str) -> String {
    key.replace('_', "-")
}

/// A setting that could not be read: the message names the setting and the
/// layer it came from. Exit code 2.
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The environment.
    Env,
    /// A flag.
    Flag,
}

/// Where each setting's value came from: `default`, `file`, `env` or
/// `flag` (a flag over the environment over the file).
pub fn origins(file: Option<&Path>, given: &[(&'static str, Origin)]) -> BTreeMap<&'static str, &'static str> {
    let mut out: BTreeMap<&'static str, &'static str> = fields().map(|f| (f.key, "default")).collect();
    for (key, _) in file.and_then(|path| file::read(path).ok()).unwrap_or_default() {
        if let Some(f) = fields().find(|f| f.key == key) {
            out.insert(f.key, "file");
        }
    }
    for (key, origin) in given {
        out.insert(key, if *origin == Origin::Env { "env" } else { "flag" });
    }
    out
}

impl Settings {
    /// Sets `key` from `value`; `None` if no section has that key.
    fn set<'de, D: serde::Deserializer<'de>>(&mut self, key: &str, value: D) -> Option<Result<(), D::Error>> {
        let has = |fields: &[Field]| fields.iter().any(|f| f.key == key);
        if has(StoreSettings::FIELDS) {
            self.store.set(key, value)
        } else if has(SourcesSettings::FIELDS) {
            self.sources.set(key, value)
        } else if has(ActorsSettings::FIELDS) {
            self.actors.set(key, value)
        } else if has(WebSettings::FIELDS) {
            self.web.set(key, value)
        } else {
            None
        }
    }

    /// Sets `key` from text (the environment, a flag, a file's string).
    pub fn set_text(&mut self, key: &str, text: &str) -> Option<Result<(), String>> {
        let secret = fields().any(|f| f.key == key && f.secret);
        self.set(key, Text(text)).map(|r| {
            r.map_err(|e| {
                let message = e.to_string();
                if secret || message.contains(text.trim()) {
                    message
                } else {
                    format!("`{text}`: {message}")
                }
            })
        })
    }

    /// Sets `key` from a file's value: a string is read as text, like the
    /// environment's; numbers, switches and arrays as they are typed.
    fn set_value(&mut self, key: &str, value: toml::Value) -> Option<Result<(), String>> {
        match value {
            toml::Value::String(s) => self.set_text(key, &s),
            other => self.set(key, other).map(|r| r.map_err(|e| e.to_string())),
        }
    }

    /// The value of `key` as `config check` prints it (secrets masked).
    pub fn show(&self, key: &str) -> Option<String> {
        self.store
            .show(key)
            .or_else(|| self.sources.show(key))
            .or_else(|| self.actors.show(key))
            .or_else(|| self.web.show(key))
    }

    /// Loads the settings: the defaults, then `file` (if any), then each of
    /// `given` (the environment and the flags, flags over the environment)
    /// in order.
    pub fn load(file: Option<&Path>, given: &[(&'static str, String, Origin)]) -> Result<Settings, Invalid> {
        let mut settings = Settings::default();
        if let Some(path) = file {
            for (key, value) in file::read(path)? {
                match settings.set_value(&key, value) {
                    Some(Ok(())) => {}
                    Some(Err(e)) => return Err(Invalid(format!("{}: `{key}`: {e}", path.display()))),
                    None => return Err(Invalid(format!("{}: unknown setting `{key}`", path.display()))),
                }
            }
        }
        for (key, text, origin) in given {
            let name = match origin {
                Origin::Env => format!("{} (--{})", env_name(key), flag_name(key)),
                Origin::Flag => format!("--{} ({})", flag_name(key), env_name(key)),
            };
            match settings.set_text(key, text) {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(Invalid(format!("{name}: {e}"))),
                None => return Err(Invalid(format!("{name}: no such setting"))),
            }
        }
        Ok(settings)
    }

    /// Checks what no single setting can (exit code 1): the admin token, the
    /// keys of stored secrets.
    pub fn check(&self) -> anyhow::Result<()> {
        self.web.check().map_err(anyhow::Error::msg)?;
        self.store.check_keys().map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_across_sections() {
        let mut keys: Vec<&str> = fields().map(|f| f.key).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "two sections share a key");
        assert!(n > 40, "only {n} settings");
    }

    /// Every field is in docs/configuration.md, by its variable, and has a
    /// doc comment.
    #[test]
    fn docs_list_every_field() {
        let doc = include_str!("../../../../docs/configuration.md");
        let missing: Vec<String> =
            fields().map(|f| env_name(f.key)).filter(|env| !doc.contains(&format!("`{env}`"))).collect();
        assert!(missing.is_empty(), "docs/configuration.md leaves out {missing:?}");
        assert!(fields().all(|f| !f.doc.trim().is_empty()));
    }

    #[test]
    fn layers_stack_defaults_file_environment_flags() {
        let dir = std::env::temp_dir().join(format!("trawler_settings_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        std::fs::write(
            &file,
            "full_interval = \"1h\"\npoll_interval = \"1m\"\nmax_in_flight = 100\n[rate]\nkickstarter = 2\n[web]\nmax_reads = 7\n",
        )
        .unwrap();
        let given = [("poll_interval", "2m".to_owned(), Origin::Env), ("retention", "off".to_owned(), Origin::Flag)];
        let s = Settings::load(Some(&file), &given).unwrap();
        assert_eq!(s.actors.full_interval.get().as_secs(), 3600, "the file over the default");
        assert_eq!(s.actors.poll_interval.get().as_secs(), 120, "the environment over the file");
        assert_eq!(s.actors.retention.0, None);
        assert_eq!(s.sources.rate_kickstarter.get(), 2.0);
        assert_eq!(s.sources.max_in_flight.get(), 100);
        assert_eq!(s.web.max_reads.get(), 7);
        assert_eq!(s.sources.rate_html, SourcesSettings::default().rate_html, "untouched: the default");
        std::fs::write(&file, "max_in_flight = 0\n").unwrap();
        let e = Settings::load(Some(&file), &[]).unwrap_err().to_string();
        assert!(e.contains("max_in_flight") && e.contains("between 1 and 1000000"), "{e}");
        let e = Settings::load(None, &[("ingest_batch", "0".into(), Origin::Env)]).unwrap_err().to_string();
        assert!(e.starts_with("TRAWLER_INGEST_BATCH (--ingest-batch): "), "{e}");
        let e = Settings::load(None, &[("admin_token", "x".into(), Origin::Flag)]).map(|s| s.check());
        assert!(e.unwrap().unwrap_err().to_string().contains("at least 16"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The whole settings, serialized, read back as they were (secrets
    /// aside: they serialize masked).
    #[test]
    fn settings_are_plain_serde_data() {
        let s = Settings::default();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["actors"]["full_interval"], "4h", "durations as people write them");
        let back: Settings = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        assert!(toml::from_str::<Settings>("[web]\nmax_raeds = 1\n").is_err(), "unknown keys are refused");
    }
}
