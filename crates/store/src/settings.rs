//! The store's settings: where the database is, where the node keeps its
//! files, and the keys that seal stored secrets.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use trawler_domain::settings::{Secret, Show};

use crate::{Backend, Cipher, DbUrl, StoreConfig};

trawler_domain::settings! {
    /// Settings of the store.
    pub struct StoreSettings {
        /// Database URL: sqlite://relative/path, sqlite:///absolute/path or
        /// postgres://user@host/db. Default: a SQLite file in the data
        /// directory.
        database_url: Option<DbUrl> = None, unset "trawler.db in the data directory";
        /// Directory for the default SQLite database and other state (the
        /// spool, the SQLite key of stored secrets).
        data_dir: PathBuf = PathBuf::from("trawler-data");
        /// The key that seals stored secrets: 64 hex digits (`trawler
        /// secrets new-key`). Required on PostgreSQL, where every node must
        /// share it; on SQLite it defaults to `secret.key` in the data
        /// directory, made on first start.
        secret_key: Option<Secret> = None, unset "secret.key in the data directory";
        /// Earlier keys, comma-separated: they open what they sealed until
        /// `trawler secrets rotate` has sealed everything with the current
        /// key.
        secret_keys_old: Vec<Secret> = Vec::new();
    }
}

impl StoreSettings {
    /// The database's URL: the one set, or the data directory's SQLite file.
    pub fn url(&self) -> DbUrl {
        self.database_url.clone().unwrap_or_else(|| DbUrl::sqlite_file(&self.data_dir.join("trawler.db")))
    }

    /// The pool's configuration.
    pub fn store(&self) -> StoreConfig {
        StoreConfig::new(self.url())
    }

    /// The old keys given (an empty entry names none).
    fn old_keys(&self) -> Vec<String> {
        self.secret_keys_old.iter().filter(|k| !k.is_empty()).map(|k| k.expose().to_owned()).collect()
    }

    /// The key set, if any (an empty setting sets none).
    fn key(&self) -> Option<&Secret> {
        self.secret_key.as_ref().filter(|k| !k.is_empty())
    }

    /// Checks the keys without touching the disk (`trawler config check`).
    pub fn check_keys(&self) -> Result<(), String> {
        match self.key() {
            Some(k) => Cipher::new(k.expose(), &self.old_keys()).map(drop).map_err(|e| format!("TRAWLER_SECRET_KEY: {e}")),
            None if self.url().backend() == Backend::Postgres => Err(
                "TRAWLER_SECRET_KEY is required on PostgreSQL (every node must share it); `trawler secrets new-key` makes one"
                    .into(),
            ),
            None => Ok(()),
        }
    }

    /// The cipher of these keys. On SQLite without a key, the data
    /// directory's key file is read, or made (readable by its owner only).
    pub fn cipher(&self) -> Result<Cipher, String> {
        self.check_keys()?;
        let key = match self.key() {
            Some(k) => k.expose().to_owned(),
            None => key_file(&self.data_dir.join("secret.key"))?,
        };
        Cipher::new(&key, &self.old_keys()).map_err(|e| format!("TRAWLER_SECRET_KEY: {e}"))
    }
}

/// Reads the key in `path`, or writes a new one there (mode 0600).
fn key_file(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(key) => Ok(key.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            let key = crate::secret::new_key()?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("creating the secret key file {}: {e}", path.display()))?;
            writeln!(file, "{key}").map_err(|e| format!("writing {}: {e}", path.display()))?;
            log::info!(
                "made a secret key in {}: keep it with the database, or stored secrets cannot be read",
                path.display()
            );
            Ok(key)
        }
        Err(e) => Err(format!("reading the secret key file {}: {e}", path.display())),
    }
}

impl Show for DbUrl {
    /// A URL may hold a password: never echoed in help or errors.
    const SECRET: bool = true;
    /// With its password masked.
    fn show(&self) -> String {
        self.redacted()
    }
}

impl Serialize for DbUrl {
    /// With its password masked.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for DbUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DbUrl, D::Error> {
        DbUrl::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}
