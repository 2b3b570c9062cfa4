//! The configuration: flags and environment variables, validated at start-up
//! and turned into each crate's settings struct.

mod commands;
mod describe;
mod file;
mod values;

pub use commands::*;
pub use describe::*;
pub use file::*;
pub use values::*;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{ArgAction, Args};
use trawler_actors::{ActorsConfig, IngestConfig, WebhookConfig};
use trawler_domain::Platform;
use trawler_sources::{HttpConfig, SourcesConfig};

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
