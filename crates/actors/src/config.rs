//! The actors' settings (what an operator sets) and their configuration
//! (what the tree runs with: the settings plus this process's cipher and
//! spool directory).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use trawler_domain::monitor::{Factor, MonitorDefaults};
use trawler_domain::settings::{Bounded, Bytes, Share, Show, Span};

use crate::ingest::IngestConfig;
use crate::webhook::WebhookConfig;

trawler_domain::settings! {
    /// Settings of the actors: the schedule, restarts, ingestion, retention,
    /// webhooks and this node's name.
    pub struct ActorsSettings {
        /// How often each project gets a full scrape.
        full_interval: Span = Span::secs(4 * 3600);
        /// How often each platform's hot metrics are polled.
        poll_interval: Span = Span::secs(300);
        /// How often the source of an ad account or campaign that is paused
        /// or finished (idle) is polled, until a full scrape finds it active
        /// again (never more often than its project's own poll interval).
        idle_poll_interval: Span = Span::secs(3600);
        /// Divide each platform's polls by activity: a campaign in its first
        /// or last 48 hours is polled more often, one in its middle days
        /// less, spending what the node's poll interval would and never more
        /// than the platform's rate (`false`: every project at its own or
        /// the node's interval).
        weighted_polls: bool = true;
        /// Run the monitors on the numbers (stale, drop, jump, missing,
        /// milestone alerts); `false` raises none.
        monitors: bool = true;
        /// Stale: how long pledged and backers of a live campaign (spend and
        /// impressions of a running ad account) may stand still before the
        /// `project.data_stale` alert; a project's rules may say otherwise.
        monitor_stale_after: Span = Span::secs(6 * 3600);
        /// Drop: the share by which a counter that only grows (pledged,
        /// backers, ad spend) may go down in one fetch before the
        /// `project.anomaly` alert (0.05 = 5%).
        monitor_drop_tolerance: Share = Share::of(0.05);
        /// Jump: the factor by which any metric may move in one fetch before
        /// the `project.anomaly` alert (10 = ten times up or down).
        monitor_jump_factor: Factor = Factor::of(10.0);
        /// The funding milestones of crowdfunding campaigns, percent of the
        /// goal (`project.milestone`); empty for none.
        monitor_funded_milestones: Vec<f64> = vec![100.0, 200.0];
        /// How long recovered alerts (and ended spans of the timeline, which
        /// say why a series has no point) are kept, or `off`.
        alerts_retention: Retention = Retention(Some(Span::secs(90 * 86_400)));
        /// The shortest interval a project may be given as its own cadence
        /// (up to a year).
        min_interval: Span = Span::secs(60);
        /// The longest a full scrape may run; past it, it is stopped and
        /// fails (`deadline`), so no run stays `running`.
        run_deadline: Span = Span::secs(600);
        /// How long after a crowdfunding campaign's deadline its final full
        /// scrape runs when the platform has not said it ended (a platform
        /// saying so is scraped for the last time at once).
        final_scrape_delay: Span = Span::secs(600);
        /// The freshness target: the share of full-scrape slots that must
        /// start within 1% of the interval and succeed (0.999 = 99.9%).
        slo_target: Share = Share::of(trawler_domain::slo::DEFAULT_TARGET);
        /// How often every active project's 24-hour freshness is checked
        /// against the target (webhooks `project.slo_breached` and
        /// `slo_restored`).
        slo_check_interval: Span = Span::secs(300);
        /// Fetch the European Central Bank's euro reference rates, so money
        /// in several currencies is reported in one (`false`: no rates; a
        /// figure that needs a conversion is absent, with the reason).
        exchange_rates: bool = true;
        /// How often the exchange rates are fetched (the ECB fixes them
        /// once a working day, about 16:00 CET).
        exchange_rates_interval: Span = Span::secs(6 * 3600);
        /// How long raw points are kept before they are rolled into hourly
        /// rollups (`90d`, `12h`), or `off` to keep every raw point.
        retention: Retention = Retention(Some(Span::secs(90 * 86_400)));
        /// How long finished runs and their logs are kept (`30d`), or `off`
        /// to keep them all; each project keeps its newest `runs_keep`
        /// however old.
        runs_retention: Retention = Retention(Some(Span::secs(30 * 86_400)));
        /// How long the audit log's entries (who changed what) are kept,
        /// or `off`.
        audit_retention: Retention = Retention(Some(Span::secs(365 * 86_400)));
        /// Newest runs of each project kept whatever their age.
        runs_keep: Bounded<0, 100_000> = Bounded::of(20);
        /// How long delivered and failed webhook deliveries are kept, or
        /// `off`; each webhook keeps its newest `deliveries_keep`. Pending
        /// deliveries always stay.
        deliveries_retention: Retention = Retention(Some(Span::secs(7 * 86_400)));
        /// Newest deliveries of each webhook kept whatever their age.
        deliveries_keep: Bounded<0, 100_000> = Bounded::of(100);
        /// How long the row of a node that stopped sending heartbeats stays
        /// on the admin pages, or `off`.
        nodes_retention: Retention = Retention(Some(Span::secs(7 * 86_400)));
        /// Keep the answers of the generic sources (`http_json`, `html`)
        /// in the response archive, so that a parser fixed after a page
        /// changed its layout can read them again and recover the points
        /// the broken one missed (`false`: keep none).
        archive: bool = true;
        /// How long kept answers stay.
        archive_max_age: Span = Span::secs(7 * 86_400);
        /// The most one project's kept answers may take (compressed, with
        /// their rows); past it, its oldest go.
        archive_project_bytes: Bytes = Bytes::of(32 * 1024 * 1024);
        /// The most all kept answers may take together; past it, the
        /// oldest go.
        archive_total_bytes: Bytes = Bytes::of(2 * 1024 * 1024 * 1024);
        /// How often a poll's answer that read well is kept, per source: a
        /// full scrape's answers, and every answer a metric could not be
        /// read in, are always kept (those are what a re-parse reads).
        archive_polls_every: Span = Span::secs(3600);
        /// How often points move from the head (a row each) into chunks:
        /// each series keeps one compressed chunk per 24 spans (a day at
        /// the default), to which the compactor adds the head's points of
        /// every span that has closed; the chunks of 168 spans (a week)
        /// become one once it has closed.
        chunk_span: Span = Span::secs(3600);
        /// Crashes of one project's scraper tolerated within the restart
        /// window before the project is quarantined (OTP's max_restarts).
        max_restarts: Bounded<0, 10_000> = Bounded::of(5);
        /// The window of max_restarts (OTP's max_seconds).
        restart_window: Span = Span::secs(600);
        /// Points per database write.
        ingest_batch: Bounded<1, 100_000> = Bounded::of(10_000);
        /// Longest a scraped point waits before it is written.
        ingest_flush_interval: Span = Span::millis(500);
        /// Size bound of the spool (points kept on disk while the database
        /// is down), in bytes; past it, scrapers wait.
        spool_max_bytes: Bytes = Bytes::of(64 * 1024 * 1024);
        /// This node's name, recorded with each run and shown on the admin
        /// pages (letters, digits, `.`, `_`, `-`; at most 64). Defaults to
        /// the host name.
        node_name: Option<NodeName> = None, unset "the host name";
        /// One level for every log line (`off`, `error`, `warn`, `info`,
        /// `debug`, `trace`), changed by a reload without a restart; unset,
        /// `RUST_LOG` filters the log as usual (read at start only).
        log_level: Option<LogLevel> = None, unset "RUST_LOG";
        /// A project label `/metrics` aggregates by: `projects_labelled`
        /// counts projects per value of it and state (`client`: projects
        /// per client); unset, none.
        metrics_label: Option<LabelKey> = None, unset "none";
        /// How long a shutdown waits for scrapes in progress before it
        /// aborts them.
        shutdown_timeout: Span = Span::secs(20);
        /// Consecutive failed full scrapes of a project that send the
        /// `project.failing` webhook.
        webhook_failure_streak: Bounded<1, 1000> = Bounded::of(3);
        /// Attempts at one webhook delivery before it is marked failed.
        webhook_max_attempts: Bounded<1, 100> = Bounded::of(8);
        /// Wait before the first retry of a webhook delivery; it doubles
        /// with each attempt, up to an hour.
        webhook_retry_base: Span = Span::secs(10);
    }
}

impl ActorsSettings {
    /// The tree's configuration: these settings, the cipher of stored
    /// secrets, and the spool's directory (none: no spool).
    pub fn config(&self, cipher: Arc<trawler_store::Cipher>, spool_dir: Option<PathBuf>) -> ActorsConfig {
        ActorsConfig {
            full_interval: self.full_interval.get(),
            poll_interval: self.poll_interval.get(),
            min_interval: self.min_interval.get(),
            idle_poll_interval: self.idle_poll_interval.get(),
            weighted_polls: self.weighted_polls,
            monitors: self.monitor_defaults(),
            ingest: self.ingest(spool_dir),
            db_threads: 2,
            max_restarts: self.max_restarts.u32(),
            restart_window: self.restart_window.get(),
            retention: self.retention.0.map(Span::get),
            exchange_rates: self.exchange_rates.then(|| self.exchange_rates_interval.get()),
            housekeeping: self.housekeeping(),
            archive: self.archive.then(|| (self.archive_bounds(), self.archive_polls_every.get())),
            chunk_span: self.chunk_span.get(),
            webhooks: self.webhooks(),
            run_deadline: self.run_deadline.get(),
            final_scrape_delay: self.final_scrape_delay.get(),
            slo_target: self.slo_target.get(),
            metrics_label: self.metrics_label.as_ref().map(|k| k.0.clone()),
            node: self.node_name.as_ref().map_or_else(host_name, |n| n.0.clone()),
            cipher,
        }
    }

    /// The monitors' defaults.
    pub fn monitor_defaults(&self) -> MonitorDefaults {
        let mut funded: Vec<f64> = self.monitor_funded_milestones.iter().copied().filter(|v| v.is_finite()).collect();
        funded.sort_by(f64::total_cmp);
        funded.dedup();
        MonitorDefaults {
            enabled: self.monitors,
            stale_after: self.monitor_stale_after,
            drop_tolerance: self.monitor_drop_tolerance.get(),
            jump_factor: self.monitor_jump_factor.get(),
            funded_milestones: funded,
        }
    }

    /// The ingestion stage's configuration.
    pub fn ingest(&self, spool_dir: Option<PathBuf>) -> IngestConfig {
        IngestConfig {
            batch_size: self.ingest_batch.usize(),
            flush_interval: self.ingest_flush_interval.get(),
            mailbox: 1024,
            spool_dir,
            spool_max_bytes: self.spool_max_bytes.get(),
        }
    }

    /// The response archive's bounds.
    pub fn archive_bounds(&self) -> trawler_store::Bounds {
        let bytes = |b: Bytes| i64::try_from(b.get()).unwrap_or(i64::MAX);
        trawler_store::Bounds {
            max_age_ms: i64::try_from(self.archive_max_age.get().as_millis()).unwrap_or(i64::MAX),
            project_bytes: bytes(self.archive_project_bytes),
            total_bytes: bytes(self.archive_total_bytes),
        }
    }

    /// What operational retention deletes.
    pub fn housekeeping(&self) -> Housekeeping {
        Housekeeping {
            runs: self.runs_retention.0.map(Span::get),
            runs_keep: self.runs_keep.u32(),
            deliveries: self.deliveries_retention.0.map(Span::get),
            deliveries_keep: self.deliveries_keep.u32(),
            nodes: self.nodes_retention.0.map(Span::get),
            alerts: self.alerts_retention.0.map(Span::get),
            audit: self.audit_retention.0.map(Span::get),
        }
    }

    /// Webhook delivery's configuration.
    pub fn webhooks(&self) -> WebhookConfig {
        WebhookConfig {
            failure_streak: self.webhook_failure_streak.u32(),
            max_attempts: self.webhook_max_attempts.u32(),
            retry_base: self.webhook_retry_base.get(),
            max_retry_delay: Duration::from_secs(3600),
            concurrency: 8,
            slo_check_every: self.slo_check_interval.get(),
        }
    }
}

/// What the actors run with.
#[derive(Debug, Clone)]
pub struct ActorsConfig {
    /// How often each project gets a full scrape.
    pub full_interval: Duration,
    /// How often each platform's hot metrics are polled.
    pub poll_interval: Duration,
    /// The shortest interval a project may be given as its own cadence.
    pub min_interval: Duration,
    /// How often an idle ad account or campaign is polled.
    pub idle_poll_interval: Duration,
    /// Divide each platform's polls by activity.
    pub weighted_polls: bool,
    /// The monitors' defaults.
    pub monitors: MonitorDefaults,
    /// The ingestion stage.
    pub ingest: IngestConfig,
    /// Threads of the DbExecutor.
    pub db_threads: usize,
    /// Restarts a scraper may need within `restart_window` before its
    /// project is quarantined (OTP's max_restarts).
    pub max_restarts: u32,
    /// The window of `max_restarts` (OTP's max_seconds).
    pub restart_window: Duration,
    /// How long raw points are kept before they are rolled into hourly
    /// rollups; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// How often the exchange rates are fetched; `None`: never.
    pub exchange_rates: Option<Duration>,
    /// Operational retention: runs, deliveries, commands, sessions, nodes.
    pub housekeeping: Housekeeping,
    /// The response archive's bounds, and how often a poll that read well
    /// keeps its answers; `None`: no archive.
    pub archive: Option<(trawler_store::Bounds, Duration)>,
    /// The window one chunk of stored points covers.
    pub chunk_span: Duration,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// The longest a full scrape may take; past it, it is stopped and fails
    /// (`deadline`), so no run stays `running`.
    pub run_deadline: Duration,
    /// How long after a campaign's deadline its final scrape runs, when
    /// its platform has not said it ended.
    pub final_scrape_delay: Duration,
    /// The freshness target: the share of slots that must start on time and
    /// succeed.
    pub slo_target: f64,
    /// The project label `/metrics` aggregates by, if any.
    pub metrics_label: Option<String>,
    /// This node's name, recorded with each run.
    pub node: String,
    /// Seals and opens the secrets stored with sources and webhooks.
    pub cipher: Arc<trawler_store::Cipher>,
}

impl Default for ActorsConfig {
    /// The default settings on a node named `local`, without a spool, with
    /// secrets sealed by a key of this process alone: tests, and trees that
    /// store nothing for good.
    fn default() -> Self {
        let settings = ActorsSettings { node_name: Some(NodeName("local".into())), ..ActorsSettings::default() };
        let cipher = Arc::new(trawler_store::Cipher::ephemeral().expect("the system random source works"));
        settings.config(cipher, None)
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

/// What operational retention keeps: ages (`None`: for ever) and minimums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Housekeeping {
    /// Age of finished runs deleted.
    pub runs: Option<Duration>,
    /// Newest runs of each project kept however old.
    pub runs_keep: u32,
    /// Age of finished webhook deliveries deleted.
    pub deliveries: Option<Duration>,
    /// Newest deliveries of each webhook kept however old.
    pub deliveries_keep: u32,
    /// Age of the last heartbeat of node rows deleted.
    pub nodes: Option<Duration>,
    /// Age of recovered monitor alerts deleted.
    pub alerts: Option<Duration>,
    /// Age of audit entries deleted.
    pub audit: Option<Duration>,
}

/// How long something is kept: a duration of at least an hour (for raw
/// points, the rollups' resolution), or `off` to keep it all.
#[derive(Clone, Copy, PartialEq)]
pub struct Retention(pub Option<Span>);

impl fmt::Debug for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.show())
    }
}

impl Show for Retention {
    fn show(&self) -> String {
        self.0.map_or_else(|| "off".into(), |s| s.to_string())
    }
}

impl Serialize for Retention {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.show())
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Retention, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Retention;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration of an hour or more, or `off`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Retention, E> {
                if v.trim().eq_ignore_ascii_case("off") {
                    return Ok(Retention(None));
                }
                let span = Span::parse(v).map_err(E::custom)?;
                if span.get() < Duration::from_secs(3600) {
                    return Err(E::custom(format!("`{v}` is shorter than an hour, the shortest retention")));
                }
                Ok(Retention(Some(span)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Retention, E> {
                self.visit_str(&format!("{v}s"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Retention, E> {
                self.visit_str(&format!("{v}s"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A node's name: 1 to 64 letters, digits, `.`, `_` or `-`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    /// Checks `s`.
    pub fn new(s: &str) -> Result<NodeName, String> {
        let ok =
            (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(NodeName(s.to_owned()))
        } else {
            Err(format!("`{s}` is not a node name: 1 to 64 letters, digits, `.`, `_` or `-`"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Show for NodeName {
    fn show(&self) -> String {
        self.0.clone()
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeName, D::Error> {
        NodeName::new(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A level for every log line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LogLevel(pub log::LevelFilter);

impl fmt::Debug for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.show())
    }
}

impl Show for LogLevel {
    fn show(&self) -> String {
        self.0.as_str().to_ascii_lowercase()
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.show())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogLevel, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse().map(LogLevel).map_err(|_| {
            de::Error::custom(format!("`{text}` is not a log level (off, error, warn, info, debug or trace)"))
        })
    }
}

/// A project label's key (see `trawler_domain::labels::check_key`).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LabelKey(pub String);

impl fmt::Debug for LabelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Show for LabelKey {
    fn show(&self) -> String {
        self.0.clone()
    }
}

impl<'de> Deserialize<'de> for LabelKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LabelKey, D::Error> {
        let key = String::deserialize(d)?;
        trawler_domain::labels::check_key(key.trim()).map_err(de::Error::custom)?;
        Ok(LabelKey(key.trim().to_owned()))
    }
}
