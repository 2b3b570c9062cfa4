//! The effective configuration, for `trawler config check`: every setting
//! with its value, secrets masked.

use anyhow::Result;
use std::net::SocketAddr;
use std::time::Duration;
use trawler_actors::ActorsConfig;
use trawler_domain::Platform;
use trawler_sources::SourcesConfig;
use trawler_store::{DbUrl, StoreConfig};

use super::*;

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
pub(super) fn human(d: Duration) -> String {
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
