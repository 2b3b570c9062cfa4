//! The settings of the smaller commands: database, keys, migrations, the
//! simulator.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use trawler_store::{DbUrl, StoreConfig};

use super::*;

/// Where the database is.
#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// Database URL: sqlite://relative/path, sqlite:///absolute/path or
    /// postgres://user@host/db. Default: a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", value_parser = database_url)]
    pub database_url: Option<DbUrl>,

    /// Directory for the default SQLite database and other state.
    #[arg(long, env = "TRAWLER_DATA_DIR", default_value = "trawler-data")]
    pub data_dir: PathBuf,
}

impl DbArgs {
    /// The store's settings.
    pub fn store(&self) -> StoreConfig {
        let url = self.database_url.clone().unwrap_or_else(|| DbUrl::sqlite_file(&self.data_dir.join("trawler.db")));
        StoreConfig::new(url)
    }
}

/// The keys that seal stored secrets (see `trawler_store::secret`).
#[derive(Args, Clone, Debug)]
pub struct KeyArgs {
    /// The key that seals stored secrets: 64 hex digits (`trawler secrets
    /// new-key`). Required on PostgreSQL, where every node must share it; on
    /// SQLite it defaults to `secret.key` in the data directory, made on
    /// first start.
    #[arg(long, env = "TRAWLER_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Earlier keys, comma-separated: they open what they sealed until
    /// `trawler secrets rotate` has sealed everything with the current key.
    #[arg(long, env = "TRAWLER_SECRET_KEYS_OLD", hide_env_values = true, value_delimiter = ',')]
    pub secret_keys_old: Vec<String>,
}

impl KeyArgs {
    /// The old keys given (an empty setting names none).
    pub fn old(&self) -> Vec<String> {
        self.secret_keys_old.iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect()
    }

    /// Checks the keys without touching the disk (`trawler config check`).
    pub fn check(&self, db: &DbArgs) -> Result<()> {
        match self.secret_key.as_deref().filter(|k| !k.trim().is_empty()) {
            Some(k) => trawler_store::Cipher::new(k, &self.old())
                .map(drop)
                .map_err(|e| anyhow::anyhow!("TRAWLER_SECRET_KEY: {e}")),
            None if db.store().url.backend() == trawler_store::Backend::Postgres => bail!(
                "TRAWLER_SECRET_KEY is required on PostgreSQL (every node must share it); `trawler secrets new-key` makes one"
            ),
            None => Ok(()),
        }
    }

    /// The cipher of these keys. On SQLite without a key, the data
    /// directory's key file is read, or made (readable by its owner only).
    pub fn cipher(&self, db: &DbArgs) -> Result<trawler_store::Cipher> {
        self.check(db)?;
        let key = match self.secret_key.clone().filter(|k| !k.trim().is_empty()) {
            Some(k) => k,
            None => key_file(&db.data_dir.join("secret.key"))?,
        };
        trawler_store::Cipher::new(&key, &self.old()).map_err(|e| anyhow::anyhow!("TRAWLER_SECRET_KEY: {e}"))
    }
}

/// Reads the key in `path`, or writes a new one there (mode 0600).
pub(super) fn key_file(path: &std::path::Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(key) => Ok(key.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let key = trawler_store::secret::new_key().map_err(anyhow::Error::msg)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating the secret key file {}", path.display()))?;
            writeln!(file, "{key}").with_context(|| format!("writing {}", path.display()))?;
            log::info!(
                "made a secret key in {}: keep it with the database, or stored secrets cannot be read",
                path.display()
            );
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("reading the secret key file {}: {e}", path.display())),
    }
}

/// Flags of `trawler secrets rotate`.
#[derive(Args, Clone, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Flags of `trawler migrate`.
#[derive(Args, Clone, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

/// Flags of `trawler sim`.
#[derive(Args, Clone, Debug)]
pub struct SimArgs {
    /// Address the simulator listens on (port 0 picks a free port).
    #[arg(long, env = "TRAWLER_SIM_BIND", default_value = "127.0.0.1:9090")]
    pub bind: SocketAddr,

    /// When the simulated campaigns started, epoch seconds (default: now).
    #[arg(long, env = "TRAWLER_SIM_EPOCH")]
    pub epoch: Option<i64>,

    /// Worker threads.
    #[arg(long, default_value = "2")]
    pub workers: usize,

    /// A JSON file of faults to inject from the start:
    /// `{"kickstarter": {"kind": "slow", "delay_ms": 500}, "meta_ads:act_1": {"kind": "throttle"}}`.
    #[arg(long)]
    pub faults: Option<PathBuf>,

    /// A platform's request limit, `platform=requests_per_second`, answered
    /// with 429 above it (repeatable).
    #[arg(long = "limit", value_parser = limit)]
    pub limits: Vec<(String, u64)>,
}
