//! Prometheus metrics. Counters and histograms are recorded where things
//! happen (a fetch, a batch write, a restart); gauges are sampled from the
//! actors' state when `/metrics` is scraped, so they cannot drift from what
//! `/admin/actors` shows.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a fetch.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// The platform.
    pub platform: &'static str,
    /// `full` or `poll`.
    pub kind: &'static str,
    /// `ok` or the error class.
    pub outcome: &'static str,
}

/// Which way a lease moved: `taken`, `released` or `lost`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MoveLabel {
    /// The direction.
    pub change: &'static str,
}

/// A label of one platform.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlatformLabel {
    /// The platform.
    pub platform: &'static str,
}

/// A label of one status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// The status.
    pub status: String,
}

/// A value of the project label `/metrics` aggregates by, and a state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LabelValueLabels {
    /// The label's key (`TRAWLER_METRICS_LABEL`).
    pub label: String,
    /// Its value (`other` past the thousandth).
    pub value: String,
    /// The projects' state.
    pub status: String,
}

/// The kind of a slot: `full` scrape or fast `poll`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `full` or `poll`.
    pub kind: &'static str,
}

/// A label of one outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: String,
}

/// A label naming one of the node's own tasks (a fixed set).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    /// The task.
    pub task: &'static str,
}

/// Labels of a monitor alert.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// The monitor (`stale`, `drop`, `jump`, `missing`, `milestone`).
    pub monitor: &'static str,
    /// `fired` or `recovered`.
    pub state: &'static str,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The method.
    pub method: String,
    /// The route pattern (`/api/v1/projects/{id}`), not the raw path.
    pub route: String,
    /// The status code.
    pub status: String,
}

/// The node's own tasks, by the names they are spawned under (their panic
/// counters start at zero).
pub(crate) const TASKS: [&str; 11] = [
    "coordinator",
    "commands",
    "history",
    "timeline",
    "webhook_watcher",
    "webhook_dispatch",
    "slo_watcher",
    "revocations",
    "cookies",
    "watchdog",
    "stall probe",
];

/// Every metric of a node.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Fetches by platform, kind and outcome.
    pub fetches: Family<FetchLabels, Counter>,
    /// Fetch duration by platform, retries included.
    pub fetch_seconds: Family<PlatformLabel, Histogram>,
    /// Points written to the database (replays from the spool included).
    pub points_written: Counter,
    /// Points appended to the spool.
    pub points_spooled: Counter,
    /// Points per database write.
    pub batch_points: Histogram,
    /// Scraper restarts after crashes.
    pub restarts: Counter,
    /// Projects quarantined.
    pub quarantines: Counter,
    /// Points waiting in the spool.
    pub spool_points: Gauge,
    /// Project leases this node holds (cluster mode).
    pub leases_held: Gauge,
    /// Live nodes this node sees (cluster mode; 1 alone).
    pub cluster_nodes: Gauge,
    /// Leases taken over from nodes that were gone, or handed back.
    pub lease_moves: Family<MoveLabel, Counter>,
    /// Bytes of the spool.
    pub spool_bytes: Gauge,
    /// Points buffered in memory by the ingest actor.
    pub ingest_buffered: Gauge,
    /// Scrapers by status.
    pub scrapers: Family<StatusLabel, Gauge>,
    /// Projects by a chosen label's value and state.
    pub projects_labelled: Family<LabelValueLabels, Gauge>,
    /// Circuit state per platform: 0 closed, 1 half open, 2 open.
    pub circuit_state: Family<PlatformLabel, Gauge>,
    /// How long requests waited at a platform's gate (rate, pause, slots).
    pub gate_wait_seconds: Family<PlatformLabel, Histogram>,
    /// Requests waiting at a platform's gate.
    pub gate_waiting: Family<PlatformLabel, Gauge>,
    /// Requests in flight to a platform.
    pub gate_in_flight: Family<PlatformLabel, Gauge>,
    /// Throttling answers per platform.
    pub throttled: Family<PlatformLabel, Gauge>,
    /// HTTP requests served.
    pub http_requests: Family<HttpLabels, Counter>,
    /// HTTP request duration.
    pub http_seconds: Histogram,
    /// Webhook delivery attempts: delivered, retrying or failed.
    pub webhook_attempts: Family<OutcomeLabel, Counter>,
    /// How long after its slot time each scheduled fetch passed its gate.
    pub slot_lateness_seconds: Family<KindLabel, Histogram>,
    /// Slots that got no fetch of their own (the previous one still ran, or
    /// polls were shed under overload).
    pub slots_skipped: Family<KindLabel, Counter>,
    /// Panics caught in the node's own tasks (polls, loops).
    pub task_panics: Family<TaskLabel, Counter>,
    /// How long the event loop's thread was held past a probe's tick.
    pub runtime_stall: Histogram,
    /// Monitor alerts fired and recovered, by monitor.
    pub alerts: Family<AlertLabels, Counter>,
    /// Monitor alerts open on this node.
    pub alerts_open: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered under the `trawler_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("trawler");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            fetches: Family::default(),
            fetch_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 2.0, 14))),
            points_written: Counter::default(),
            points_spooled: Counter::default(),
            batch_points: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            restarts: Counter::default(),
            quarantines: Counter::default(),
            spool_points: Gauge::default(),
            leases_held: Gauge::default(),
            cluster_nodes: Gauge::default(),
            lease_moves: Family::default(),
            spool_bytes: Gauge::default(),
            ingest_buffered: Gauge::default(),
            scrapers: Family::default(),
            projects_labelled: Family::default(),
            circuit_state: Family::default(),
            gate_wait_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 4.0, 10))),
            gate_waiting: Family::default(),
            gate_in_flight: Family::default(),
            throttled: Family::default(),
            http_requests: Family::default(),
            http_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            webhook_attempts: Family::default(),
            // 5 ms to about 3 hours: 1% of a 5-minute poll interval is 3 s,
            // of a 4-hour full interval 144 s.
            slot_lateness_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 3.0, 15))),
            slots_skipped: Family::default(),
            task_panics: Family::default(),
            // 1 ms to about 16 s.
            runtime_stall: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            alerts: Family::default(),
            alerts_open: Gauge::default(),
        };
        registry.register("fetches", "Platform fetches by outcome", m.fetches.clone());
        registry.register("fetch_seconds", "Duration of one source fetch, retries included", m.fetch_seconds.clone());
        registry.register("points_written", "Points written to the database", m.points_written.clone());
        registry.register(
            "points_spooled",
            "Points appended to the spool while the database was down",
            m.points_spooled.clone(),
        );
        registry.register("ingest_batch_points", "Points per database write", m.batch_points.clone());
        registry.register("scraper_restarts", "Scraper restarts after a crash", m.restarts.clone());
        registry.register("quarantines", "Projects quarantined after crashing too often", m.quarantines.clone());
        registry.register("spool_points", "Points waiting in the spool", m.spool_points.clone());
        registry.register("leases_held", "Project leases this node holds", m.leases_held.clone());
        registry.register("cluster_nodes", "Live nodes on the database", m.cluster_nodes.clone());
        registry.register(
            "lease_moves",
            "Project leases taken, handed back or lost by this node",
            m.lease_moves.clone(),
        );
        registry.register("spool_bytes", "Size of the spool", m.spool_bytes.clone());
        registry.register("ingest_buffered_points", "Points buffered by the ingest actor", m.ingest_buffered.clone());
        registry.register("scrapers", "Scraper actors by status", m.scrapers.clone());
        registry.register(
            "projects_labelled",
            "Projects by the value of the label TRAWLER_METRICS_LABEL names, and state",
            m.projects_labelled.clone(),
        );
        registry.register(
            "circuit_state",
            "Circuit per platform: 0 closed, 1 half open, 2 open",
            m.circuit_state.clone(),
        );
        registry.register(
            "gate_wait_seconds",
            "Time a request waited at its platform's gate for the rate, a pause or a slot",
            m.gate_wait_seconds.clone(),
        );
        registry.register("gate_waiting", "Requests waiting at a platform's gate", m.gate_waiting.clone());
        registry.register("gate_in_flight", "Requests in flight to a platform", m.gate_in_flight.clone());
        registry.register("platform_throttled", "Throttling answers per platform since start", m.throttled.clone());
        registry.register("http_requests", "HTTP requests served", m.http_requests.clone());
        registry.register("http_request_seconds", "HTTP request duration", m.http_seconds.clone());
        registry.register(
            "slot_lateness_seconds",
            "How long after its slot time a scheduled fetch passed its gate (full scrapes and polls)",
            m.slot_lateness_seconds.clone(),
        );
        registry.register(
            "slots_skipped",
            "Scheduled slots without a fetch of their own (previous run still going, polls shed)",
            m.slots_skipped.clone(),
        );
        registry.register(
            "task_panics",
            "Panics caught in the node's own tasks; a loop is restarted after one",
            m.task_panics.clone(),
        );
        registry.register(
            "runtime_stall_seconds",
            "How long the event loop's thread was held, measured by a probe every 100 ms",
            m.runtime_stall.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts: delivered, retrying or failed",
            m.webhook_attempts.clone(),
        );
        registry.register(
            "monitor_alerts",
            "Alerts of the monitors on the numbers, fired and recovered, by monitor",
            m.alerts.clone(),
        );
        registry.register("monitor_alerts_open", "Monitor alerts open on this node", m.alerts_open.clone());
        let m = Metrics { registry: Arc::new(registry), ..m };
        m.start_at_zero();
        m
    }

    /// Creates the series of fixed label sets at zero, so that a dashboard
    /// or an alert finds them before the first event (a family without a
    /// series is not exported at all).
    fn start_at_zero(&self) {
        for kind in ["full", "poll"] {
            drop(self.slots_skipped.get_or_create(&KindLabel { kind }));
            drop(self.slot_lateness_seconds.get_or_create(&KindLabel { kind }));
            for platform in trawler_domain::Platform::SOURCES {
                drop(self.fetches.get_or_create(&FetchLabels { platform: platform.as_str(), kind, outcome: "ok" }));
            }
        }
        for platform in trawler_domain::Platform::SOURCES {
            drop(self.fetch_seconds.get_or_create(&PlatformLabel { platform: platform.as_str() }));
        }
        for task in TASKS {
            drop(self.task_panics.get_or_create(&TaskLabel { task }));
        }
    }

    /// Records one fetch.
    pub fn fetch(&self, platform: &'static str, kind: &'static str, outcome: &'static str, seconds: f64) {
        self.fetches.get_or_create(&FetchLabels { platform, kind, outcome }).inc();
        self.fetch_seconds.get_or_create(&PlatformLabel { platform }).observe(seconds);
    }

    /// Counts an alert of `monitor` that fired or recovered (`state`).
    pub fn alert(&self, monitor: &'static str, state: &'static str) {
        self.alerts.get_or_create(&AlertLabels { monitor, state }).inc();
    }

    /// Records how late a scheduled fetch of `kind` started.
    pub fn slot_lateness(&self, kind: &'static str, late_ms: i64) {
        let seconds = late_ms.max(0) as f64 / 1000.0;
        self.slot_lateness_seconds.get_or_create(&KindLabel { kind }).observe(seconds);
    }

    /// Counts a slot of `kind` that got no fetch of its own.
    pub fn slot_skipped(&self, kind: &'static str) {
        self.slots_skipped.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts a panic caught in `task`.
    pub fn task_panic(&self, task: &'static str) {
        self.task_panics.get_or_create(&TaskLabel { task }).inc();
    }

    /// Records one webhook delivery attempt.
    pub fn webhook_attempt(&self, outcome: &str) {
        self.webhook_attempts.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Rewrites OpenMetrics text into the classic Prometheus text format
/// (0.0.4), for scrapers and tools that do not ask for OpenMetrics: a
/// counter's HELP and TYPE name its `_total` sample, and there is no `# EOF`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some(h) = help.replace(rest) {
                out.push_str("# HELP ");
                out.push_str(h);
                out.push('\n');
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" if !name.ends_with("_total") => (format!("{name}_total"), "counter"),
                "info" | "stateset" | "gaugehistogram" | "unknown" => (name.to_owned(), "untyped"),
                k => (name.to_owned(), k),
            };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(h) = help.take() {
            out.push_str("# HELP ");
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_becomes_prometheus_text() {
        let m = Metrics::new();
        m.fetch("kickstarter", "full", "ok", 0.1);
        m.restarts.inc();
        let om = m.encode().expect("encode");
        assert!(om.contains("# TYPE trawler_scraper_restarts counter"));
        assert!(om.ends_with("# EOF\n"));
        let text = to_prometheus_text(&om);
        assert!(text.contains("# HELP trawler_scraper_restarts_total Scraper restarts after a crash.\n"));
        assert!(text.contains("# TYPE trawler_scraper_restarts_total counter\ntrawler_scraper_restarts_total 1\n"));
        assert!(text.contains("# TYPE trawler_fetch_seconds histogram\n"));
        assert!(!text.contains("# EOF"));
        assert_eq!(
            om.lines().filter(|l| !l.starts_with('#')).count(),
            text.lines().filter(|l| !l.starts_with('#')).count()
        );
    }
}
