//! The configuration: flags and environment variables, validated at start-up
//! and turned into each crate's settings struct.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args};
use trawler_actors::{ActorsConfig, IngestConfig, WebhookConfig};
use trawler_domain::Platform;
use trawler_sources::{HttpConfig, SourcesConfig};
use trawler_store::{DbUrl, StoreConfig};

/// Layers the configuration file (`--config FILE`, `--config=FILE` or
/// TRAWLER_CONFIG) under the environment and the flags: each of its settings
/// becomes the default of the argument that reads the matching environment
/// variable, so the precedence is built-in default < file < environment <
/// flag, and nothing is written to the process environment. Keys are checked
/// against the variables the command knows: a typo is an error, not a
/// silent default.
pub fn with_file(command: clap::Command, args: &[std::ffi::OsString]) -> Result<clap::Command> {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let from_args = args.iter().enumerate().find_map(|(i, a)| {
        if a == "--config" {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix("--config=").map(str::to_owned)
        }
    });
    let Some(path) = from_args.or_else(|| std::env::var("TRAWLER_CONFIG").ok()) else {
        return Ok(command);
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading the configuration file {path}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{path}: {}", e.message()))?;
    let mut known = std::collections::BTreeSet::new();
    fn collect(cmd: &clap::Command, known: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                known.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, known);
        }
    }
    collect(&command, &mut known);
    let mut settings = Vec::new();
    flatten("", &table, &mut settings);
    let mut defaults = BTreeMap::new();
    for (key, value) in settings {
        let env =
            if key == "database_url" { "DATABASE_URL".to_owned() } else { format!("TRAWLER_{}", key.to_uppercase()) };
        if !known.contains(&env) || env == "TRAWLER_CONFIG" {
            bail!("{path}: unknown setting `{key}`");
        }
        defaults.insert(env, value);
    }
    Ok(file_defaults(command, &defaults))
}

/// Sets, in `cmd` and its subcommands, the default of every argument whose
/// environment variable `defaults` names.
fn file_defaults(cmd: clap::Command, defaults: &BTreeMap<String, String>) -> clap::Command {
    let ids: Vec<(clap::Id, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy();
            defaults.get(env.as_ref()).map(|v| (a.get_id().clone(), v.clone()))
        })
        .collect();
    let mut cmd = ids.into_iter().fold(cmd, |cmd, (id, value)| cmd.mut_arg(id, |a| a.default_value(value)));
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(sub, |s| file_defaults(s, defaults));
    }
    cmd
}

/// Flattens nested tables into `a_b = value` pairs.
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}_{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => out.push((key, s.clone())),
            toml::Value::Integer(i) => out.push((key, i.to_string())),
            toml::Value::Float(f) => out.push((key, f.to_string())),
            toml::Value::Boolean(b) => out.push((key, b.to_string())),
            // Dates and arrays configure nothing here; keep them visible.
            other => out.push((key, format!("{other:?}"))),
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 5s, 5m or 4h: {e}"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    if d > Duration::from_secs(10 * 365 * 86_400) {
        return Err(format!("`{s}` is longer than ten years"));
    }
    Ok(d)
}

fn cidr(s: &str) -> Result<trawler_web::Cidr, String> {
    s.parse()
}

fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of requests per second"))?;
    if !r.is_finite() || r <= 0.0 || r > 100_000.0 {
        return Err(format!("`{s}` must be between 0 and 100000 requests per second"));
    }
    Ok(r)
}

/// The retention setting: a duration, or `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention(pub Option<Duration>);

fn retention(s: &str) -> Result<Retention, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Retention(None));
    }
    let d = duration(s)?;
    if d < Duration::from_secs(3600) {
        return Err(format!("`{s}` is shorter than an hour, the rollups' resolution"));
    }
    Ok(Retention(Some(d)))
}

fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("`{s}` must be between 0 and 1 (0.999 = 99.9%)"));
    }
    Ok(v)
}

fn egress_entry(s: &str) -> Result<String, String> {
    let entry = s.trim();
    let name = entry.strip_prefix("*.").unwrap_or(entry);
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !ok {
        return Err(format!("`{s}` is not a host name, an IP address or *.domain"));
    }
    Ok(entry.to_owned())
}

fn password_hash(s: &str) -> Result<String, String> {
    trawler_web::check_password_hash(s.trim())?;
    Ok(s.trim().to_owned())
}

fn database_url(s: &str) -> Result<DbUrl, String> {
    DbUrl::parse(s).map_err(|e| e.to_string())
}

fn bytes(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("`{s}` is not a number of bytes"))?;
    if n < 1024 {
        return Err("must be at least 1024 bytes".into());
    }
    Ok(n)
}

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
fn key_file(path: &std::path::Path) -> Result<String> {
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

/// Flags of `trawler serve` (and the base of `trawler demo`).
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "TRAWLER_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// The admin bearer token every API route requires (at least 16 characters).
    #[arg(long, env = "TRAWLER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// A bearer token that reads `/metrics` and nothing else, for
    /// Prometheus (at least 16 characters; optional).
    #[arg(long, env = "TRAWLER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// The argon2 hash of the admin UI's password (`trawler hash-password`
    /// makes one). Without it the UI's login is off; the API still works.
    #[arg(long, env = "TRAWLER_ADMIN_PASSWORD_HASH", hide_env_values = true, value_parser = password_hash)]
    pub admin_password_hash: Option<String>,

    /// Mark session cookies Secure whatever the request's scheme (behind a
    /// TLS-terminating proxy). Requests over https get it anyway.
    #[arg(long, env = "TRAWLER_COOKIE_SECURE", action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub cookie_secure: bool,

    /// Allow fetching loopback and private addresses (simulator, intranet). Off: SSRF protection.
    #[arg(long, env = "TRAWLER_ALLOW_PRIVATE", action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private: bool,

    /// The only hosts that may be fetched (platforms and webhooks), comma
    /// separated: names, IP literals or `*.example.com`. Unset: any public host.
    #[arg(long, env = "TRAWLER_EGRESS_ALLOW", value_delimiter = ',', value_parser = egress_entry)]
    pub egress_allow: Option<Vec<String>>,

    /// How often each project gets a full scrape.
    #[arg(long, env = "TRAWLER_FULL_INTERVAL", default_value = "4h", value_parser = duration)]
    pub full_interval: Duration,

    /// How often each platform's hot metrics are polled.
    #[arg(long, env = "TRAWLER_POLL_INTERVAL", default_value = "5m", value_parser = duration)]
    pub poll_interval: Duration,

    /// Deadline of one HTTP request to a platform.
    #[arg(long, env = "TRAWLER_HTTP_TIMEOUT", default_value = "20s", value_parser = duration)]
    pub http_timeout: Duration,

    /// Largest response body read from a platform, in bytes.
    #[arg(long, env = "TRAWLER_MAX_BODY_BYTES", default_value = "4194304", value_parser = bytes)]
    pub max_body_bytes: usize,

    /// Requests per second to Kickstarter.
    #[arg(long, env = "TRAWLER_RATE_KICKSTARTER", default_value = "5", value_parser = rate)]
    pub rate_kickstarter: f64,

    /// Requests per second to Indiegogo.
    #[arg(long, env = "TRAWLER_RATE_INDIEGOGO", default_value = "5", value_parser = rate)]
    pub rate_indiegogo: f64,

    /// Requests per second to the Meta Marketing API.
    #[arg(long, env = "TRAWLER_RATE_META_ADS", default_value = "10", value_parser = rate)]
    pub rate_meta_ads: f64,

    /// Requests per second to http_json sources (all hosts together).
    #[arg(long, env = "TRAWLER_RATE_HTTP_JSON", default_value = "20", value_parser = rate)]
    pub rate_http_json: f64,

    /// Requests per second to html sources (all hosts together).
    #[arg(long, env = "TRAWLER_RATE_HTML", default_value = "10", value_parser = rate)]
    pub rate_html: f64,

    /// Kickstarter's base URL.
    #[arg(long, env = "TRAWLER_KICKSTARTER_URL", default_value = "https://www.kickstarter.com")]
    pub kickstarter_url: String,

    /// Indiegogo's API base URL.
    #[arg(long, env = "TRAWLER_INDIEGOGO_URL", default_value = "https://api.indiegogo.com")]
    pub indiegogo_url: String,

    /// The Graph API base URL for Meta Ads.
    #[arg(long, env = "TRAWLER_META_URL", default_value = "https://graph.facebook.com")]
    pub meta_url: String,

    /// The Marketing API version used in paths.
    #[arg(long, env = "TRAWLER_META_API_VERSION", default_value = "v21.0")]
    pub meta_api_version: String,

    /// Requests in flight at once per platform.
    #[arg(long, env = "TRAWLER_MAX_IN_FLIGHT_PER_PLATFORM", default_value = "32", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight_per_platform: u32,

    /// Requests in flight at once across all platforms.
    #[arg(long, env = "TRAWLER_MAX_IN_FLIGHT", default_value = "256", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Retries of one request on a transient failure.
    #[arg(long, env = "TRAWLER_MAX_RETRIES", default_value = "2", value_parser = clap::value_parser!(u32).range(0..=20))]
    pub max_retries: u32,

    /// Retries one run may spend across all its requests.
    #[arg(long, env = "TRAWLER_RETRY_BUDGET", default_value = "6", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub retry_budget: u32,

    /// Consecutive platform failures that open its circuit.
    #[arg(long, env = "TRAWLER_CIRCUIT_FAILURES", default_value = "5", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub circuit_failures: u32,

    /// How long an open circuit refuses requests before one probe.
    #[arg(long, env = "TRAWLER_CIRCUIT_OPEN_FOR", default_value = "30s", value_parser = duration)]
    pub circuit_open_for: Duration,

    /// Proxies whose `X-Forwarded-For` names the client (for the login
    /// throttle): addresses or CIDR ranges, comma-separated.
    #[arg(long, env = "TRAWLER_TRUSTED_PROXIES", value_delimiter = ',', value_parser = cidr)]
    pub trusted_proxies: Vec<trawler_web::Cidr>,

    /// Event streams (SSE) open at once on this node; past it, 503.
    #[arg(long, env = "TRAWLER_MAX_STREAMS", default_value = "20000", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_streams: u32,

    /// Event streams open at once with one read token; past it, 429.
    #[arg(long, env = "TRAWLER_MAX_STREAMS_PER_TOKEN", default_value = "2000", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_streams_per_token: u32,

    /// Expensive reads (series, summaries, exports) in progress at once on
    /// this node; past it, 503.
    #[arg(long, env = "TRAWLER_MAX_READS", default_value = "64", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_reads: u32,

    /// Expensive reads in progress at once with one read token; past it, 429.
    #[arg(long, env = "TRAWLER_MAX_READS_PER_TOKEN", default_value = "32", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_reads_per_token: u32,

    /// The longest pause a platform's answer (Retry-After, a regain time)
    /// can impose on it or one of its hosts; a longer ask is cut to this.
    #[arg(long, env = "TRAWLER_MAX_PAUSE", default_value = "1h", value_parser = duration)]
    pub max_pause: Duration,

    /// Crashes of one project's scraper tolerated within the restart window
    /// before the project is quarantined.
    #[arg(long, env = "TRAWLER_MAX_RESTARTS", default_value = "5", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub max_restarts: u32,

    /// The window of TRAWLER_MAX_RESTARTS.
    #[arg(long, env = "TRAWLER_RESTART_WINDOW", default_value = "10m", value_parser = duration)]
    pub restart_window: Duration,

    /// Points per database write.
    #[arg(long, env = "TRAWLER_INGEST_BATCH", default_value = "10000", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ingest_batch: u32,

    /// Longest a scraped point waits before it is written.
    #[arg(long, env = "TRAWLER_INGEST_FLUSH_INTERVAL", default_value = "500ms", value_parser = duration)]
    pub ingest_flush_interval: Duration,

    /// Size bound of the spool (points kept on disk while the database is
    /// down), in bytes; past it, scrapers wait.
    #[arg(long, env = "TRAWLER_SPOOL_MAX_BYTES", default_value = "67108864", value_parser = bytes)]
    pub spool_max_bytes: usize,

    /// How long raw points are kept before they are rolled into hourly
    /// rollups (`90d`, `12h`), or `off` to keep every raw point.
    #[arg(long, env = "TRAWLER_RETENTION", default_value = "90d", value_parser = retention)]
    pub retention: Retention,

    /// The longest a full scrape may run; past it, it is stopped and fails.
    #[arg(long, env = "TRAWLER_RUN_DEADLINE", default_value = "10m", value_parser = duration)]
    pub run_deadline: Duration,

    /// How often every active project's 24-hour freshness is checked against
    /// the target (webhooks `project.slo_breached` and `slo_restored`).
    #[arg(long, env = "TRAWLER_SLO_CHECK_INTERVAL", default_value = "5m", value_parser = duration)]
    pub slo_check_interval: Duration,

    /// The freshness target: the share of full-scrape slots that must start
    /// within 1% of the interval and succeed (0.999 = 99.9%).
    #[arg(long, env = "TRAWLER_SLO_TARGET", default_value = "0.999", value_parser = share)]
    pub slo_target: f64,

    /// This node's name, recorded with each run and shown on the admin
    /// pages (letters, digits, `.`, `_`, `-`; at most 64). Defaults to the
    /// host name.
    #[arg(long, env = "TRAWLER_NODE_NAME", value_parser = node_name)]
    pub node_name: Option<String>,

    /// How long a shutdown waits for scrapes in progress before it aborts them.
    #[arg(long, env = "TRAWLER_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = duration)]
    pub shutdown_timeout: Duration,

    /// Consecutive failed full scrapes of a project that send the
    /// `project.failing` webhook.
    #[arg(long, env = "TRAWLER_WEBHOOK_FAILURE_STREAK", default_value = "3", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub webhook_failure_streak: u32,

    /// Attempts at one webhook delivery before it is marked failed.
    #[arg(long, env = "TRAWLER_WEBHOOK_MAX_ATTEMPTS", default_value = "8", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,

    /// Wait before the first retry of a webhook delivery; it doubles with
    /// each attempt, up to an hour.
    #[arg(long, env = "TRAWLER_WEBHOOK_RETRY_BASE", default_value = "10s", value_parser = duration)]
    pub webhook_retry_base: Duration,

    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "TRAWLER_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
}

/// The validated configuration of a server.
pub struct Config {
    pub admin_password_hash: Option<String>,
    pub cookie_secure: bool,
    pub store: StoreConfig,
    pub sources: SourcesConfig,
    pub actors: ActorsConfig,
    pub bind: SocketAddr,
    pub admin_token: String,
    pub metrics_token: Option<String>,
    /// Where the keys of stored secrets come from.
    pub keys: KeyArgs,
    pub db: DbArgs,
    pub limits: trawler_web::LimitsConfig,
    pub trusted_proxies: Vec<trawler_web::Cidr>,
    pub http_workers: Option<usize>,
    pub shutdown_timeout: Duration,
}

/// A duration as it would be written in the configuration (`90d`, `4h`).
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs > 0 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

impl Config {
    /// The effective settings as `NAME=value` lines, secrets masked — what
    /// `trawler config check` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let s = &self.sources;
        let a = &self.actors;
        let mut out = vec![
            ("DATABASE_URL", self.store.url.redacted()),
            ("TRAWLER_BIND", self.bind.to_string()),
            ("TRAWLER_ADMIN_TOKEN", format!("*** ({} characters)", self.admin_token.len())),
            (
                "TRAWLER_SECRET_KEY",
                match &self.keys.secret_key {
                    Some(_) => "*** (set)".into(),
                    None => format!("{}/secret.key", self.db.data_dir.display()),
                },
            ),
            ("TRAWLER_SECRET_KEYS_OLD", format!("{} key(s)", self.keys.old().len())),
            (
                "TRAWLER_METRICS_TOKEN",
                self.metrics_token.as_ref().map_or("off".into(), |t| format!("*** ({} characters)", t.len())),
            ),
            (
                "TRAWLER_ADMIN_PASSWORD_HASH",
                if self.admin_password_hash.is_some() {
                    "*** (the UI's login is on)".into()
                } else {
                    "unset (the UI's login is off)".into()
                },
            ),
            ("TRAWLER_COOKIE_SECURE", self.cookie_secure.to_string()),
            ("TRAWLER_ALLOW_PRIVATE", s.http.allow_private.to_string()),
            ("TRAWLER_EGRESS_ALLOW", s.http.egress_allow.as_ref().map_or("any public host".into(), |a| a.join(","))),
            ("TRAWLER_FULL_INTERVAL", human(a.full_interval)),
            ("TRAWLER_POLL_INTERVAL", human(a.poll_interval)),
            ("TRAWLER_HTTP_TIMEOUT", human(s.http.timeout)),
            ("TRAWLER_MAX_BODY_BYTES", s.http.max_body_bytes.to_string()),
        ];
        for (platform, rate) in &s.rates {
            let name: &'static str = match platform {
                Platform::Kickstarter => "TRAWLER_RATE_KICKSTARTER",
                Platform::Indiegogo => "TRAWLER_RATE_INDIEGOGO",
                Platform::MetaAds => "TRAWLER_RATE_META_ADS",
                Platform::HttpJson => "TRAWLER_RATE_HTTP_JSON",
                Platform::Html => "TRAWLER_RATE_HTML",
            };
            out.push((name, format!("{rate} requests/s")));
        }
        out.extend([
            ("TRAWLER_KICKSTARTER_URL", s.kickstarter_url.clone()),
            ("TRAWLER_INDIEGOGO_URL", s.indiegogo_url.clone()),
            ("TRAWLER_META_URL", s.meta_url.clone()),
            ("TRAWLER_META_API_VERSION", s.meta_api_version.clone()),
            ("TRAWLER_MAX_IN_FLIGHT_PER_PLATFORM", s.max_in_flight_per_platform.to_string()),
            ("TRAWLER_MAX_IN_FLIGHT", s.max_in_flight_total.to_string()),
            ("TRAWLER_MAX_RETRIES", s.max_retries.to_string()),
            ("TRAWLER_RETRY_BUDGET", s.retry_budget_per_run.to_string()),
            ("TRAWLER_CIRCUIT_FAILURES", s.circuit_failures.to_string()),
            ("TRAWLER_CIRCUIT_OPEN_FOR", human(s.circuit_open_for)),
            ("TRAWLER_MAX_PAUSE", human(s.max_pause)),
            (
                "TRAWLER_TRUSTED_PROXIES",
                if self.trusted_proxies.is_empty() {
                    "none".into()
                } else {
                    self.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                },
            ),
            ("TRAWLER_MAX_STREAMS", self.limits.max_streams.to_string()),
            ("TRAWLER_MAX_STREAMS_PER_TOKEN", self.limits.max_streams_per_token.to_string()),
            ("TRAWLER_MAX_READS", self.limits.max_reads.to_string()),
            ("TRAWLER_MAX_READS_PER_TOKEN", self.limits.max_reads_per_token.to_string()),
            ("TRAWLER_MAX_RESTARTS", a.max_restarts.to_string()),
            ("TRAWLER_RESTART_WINDOW", human(a.restart_window)),
            ("TRAWLER_INGEST_BATCH", a.ingest.batch_size.to_string()),
            ("TRAWLER_INGEST_FLUSH_INTERVAL", human(a.ingest.flush_interval)),
            (
                "TRAWLER_DATA_DIR",
                a.ingest.spool_dir.as_ref().and_then(|d| d.parent()).map_or(String::new(), |d| d.display().to_string()),
            ),
            ("TRAWLER_SPOOL_MAX_BYTES", a.ingest.spool_max_bytes.to_string()),
            ("TRAWLER_RETENTION", a.retention.map_or("off".into(), human)),
            ("TRAWLER_SHUTDOWN_TIMEOUT", human(self.shutdown_timeout)),
            ("TRAWLER_RUN_DEADLINE", human(a.run_deadline)),
            ("TRAWLER_NODE_NAME", a.node.clone()),
            ("TRAWLER_SLO_TARGET", a.slo_target.to_string()),
            ("TRAWLER_SLO_CHECK_INTERVAL", human(a.webhooks.slo_check_every)),
            ("TRAWLER_WEBHOOK_FAILURE_STREAK", a.webhooks.failure_streak.to_string()),
            ("TRAWLER_WEBHOOK_MAX_ATTEMPTS", a.webhooks.max_attempts.to_string()),
            ("TRAWLER_WEBHOOK_RETRY_BASE", human(a.webhooks.retry_base)),
            ("TRAWLER_HTTP_WORKERS", self.http_workers.map_or("one per CPU".into(), |w| w.to_string())),
        ]);
        out
    }
}

impl Config {
    /// The capacity check against the database's active sources: one line
    /// per platform, warnings first marked `WARNING`. Reads an existing
    /// database only (a missing SQLite file is not created).
    pub fn capacity_report(&self) -> Result<Vec<String>> {
        if let DbUrl::Sqlite(path) = &self.store.url {
            if !path.exists() {
                return Ok(vec![format!("# capacity: no database at {} yet; nothing to check", path.display())]);
            }
        }
        let pool = trawler_store::DbPool::open(&self.store)?;
        let mut conn = pool.get()?;
        if trawler_store::migrations_pending(&mut conn)? {
            return Ok(vec!["# capacity: the database's migrations are pending; run `trawler migrate` first".into()]);
        }
        let counts = trawler_store::Source::count_active_by_platform(&mut conn)?;
        let mut lines = Vec::new();
        for (platform, rate) in &self.sources.rates {
            let sources = counts.iter().find(|(p, _)| p == platform).map_or(0, |(_, n)| *n);
            let c = trawler_domain::capacity::capacity(
                *platform,
                sources,
                self.actors.full_interval.as_secs_f64(),
                self.actors.poll_interval.as_secs_f64(),
                *rate,
                1,
            );
            lines.push(match &c.warning {
                Some(w) => format!("WARNING capacity {w}"),
                None => format!(
                    "# capacity {platform}: {sources} sources need {:.2} requests/s, {:.0}% of {:.2}/s",
                    c.required_per_sec,
                    c.share * 100.0,
                    c.budget_per_sec
                ),
            });
        }
        Ok(lines)
    }
}

fn check_base_url(name: &str, url: &str) -> Result<()> {
    match url.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(()),
        _ => bail!("{name} `{url}` must be an http:// or https:// URL"),
    }
}

impl ServeArgs {
    /// Validates the flags into a [`Config`].
    pub fn config(&self) -> Result<Config> {
        let Some(token) = self.admin_token.clone().filter(|t| !t.trim().is_empty()) else {
            bail!("TRAWLER_ADMIN_TOKEN (or --admin-token) is required: every API route needs it");
        };
        if token.len() < 16 {
            bail!("the admin token must be at least 16 characters");
        }
        self.keys.check(&self.db)?;
        let metrics_token = self.metrics_token.clone().filter(|t| !t.trim().is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("the metrics token must be at least 16 characters");
        }
        if metrics_token.as_ref() == Some(&token) {
            bail!("the metrics token must differ from the admin token");
        }
        check_base_url("TRAWLER_KICKSTARTER_URL", &self.kickstarter_url)?;
        check_base_url("TRAWLER_INDIEGOGO_URL", &self.indiegogo_url)?;
        check_base_url("TRAWLER_META_URL", &self.meta_url)?;
        let rates = BTreeMap::from([
            (Platform::Kickstarter, self.rate_kickstarter),
            (Platform::Indiegogo, self.rate_indiegogo),
            (Platform::MetaAds, self.rate_meta_ads),
            (Platform::HttpJson, self.rate_http_json),
            (Platform::Html, self.rate_html),
        ]);
        let sources = SourcesConfig {
            kickstarter_url: self.kickstarter_url.clone(),
            indiegogo_url: self.indiegogo_url.clone(),
            meta_url: self.meta_url.clone(),
            meta_api_version: self.meta_api_version.clone(),
            http: HttpConfig {
                timeout: self.http_timeout,
                max_body_bytes: self.max_body_bytes,
                allow_private: self.allow_private,
                egress_allow: self.egress_allow.clone().filter(|a| !a.is_empty()),
                ..HttpConfig::default()
            },
            rates,
            max_in_flight_per_platform: self.max_in_flight_per_platform as usize,
            max_in_flight_total: self.max_in_flight as usize,
            circuit_failures: self.circuit_failures,
            circuit_open_for: self.circuit_open_for,
            max_pause: self.max_pause,
            max_retries: self.max_retries as usize,
            retry_budget_per_run: self.retry_budget,
            ..SourcesConfig::default()
        };
        let actors = ActorsConfig {
            full_interval: self.full_interval,
            poll_interval: self.poll_interval,
            max_restarts: self.max_restarts,
            restart_window: self.restart_window,
            retention: self.retention.0,
            run_deadline: self.run_deadline,
            slo_target: self.slo_target,
            node: self.node_name.clone().unwrap_or_else(host_name),
            webhooks: WebhookConfig {
                failure_streak: self.webhook_failure_streak,
                max_attempts: self.webhook_max_attempts,
                retry_base: self.webhook_retry_base,
                slo_check_every: self.slo_check_interval,
                ..WebhookConfig::default()
            },
            ingest: IngestConfig {
                batch_size: self.ingest_batch as usize,
                flush_interval: self.ingest_flush_interval,
                spool_dir: Some(self.db.data_dir.join("spool")),
                spool_max_bytes: self.spool_max_bytes as u64,
                ..IngestConfig::default()
            },
            ..ActorsConfig::default()
        };
        Ok(Config {
            admin_password_hash: self.admin_password_hash.clone(),
            cookie_secure: self.cookie_secure,
            store: self.db.store(),
            sources,
            actors,
            bind: self.bind,
            admin_token: token,
            metrics_token,
            keys: self.keys.clone(),
            db: self.db.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            limits: trawler_web::LimitsConfig {
                max_streams: self.max_streams as usize,
                max_streams_per_token: self.max_streams_per_token as usize,
                max_reads: self.max_reads as usize,
                max_reads_per_token: self.max_reads_per_token as usize,
            },
            http_workers: self.http_workers.filter(|w| *w > 0),
            shutdown_timeout: self.shutdown_timeout,
        })
    }
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

fn limit(s: &str) -> Result<(String, u64), String> {
    let (platform, n) = s.split_once('=').ok_or_else(|| format!("`{s}` is not platform=requests_per_second"))?;
    platform.parse::<Platform>().map_err(|e| e.to_string())?;
    let n: u64 = n.parse().map_err(|_| format!("`{n}` is not a number of requests per second"))?;
    Ok((platform.to_owned(), n))
}

/// Parses a node name: 1 to 64 of letters, digits, `.`, `_` and `-`.
fn node_name(s: &str) -> Result<String, String> {
    let ok =
        (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a node name is 1 to 64 letters, digits, `.`, `_` or `-`".into())
    }
}

/// The host name (Linux), cut to a valid node name; `trawler` if unknown.
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let cleaned: String =
        raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).take(64).collect();
    if cleaned.is_empty() {
        "trawler".into()
    } else {
        cleaned
    }
}
