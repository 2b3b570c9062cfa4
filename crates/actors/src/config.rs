//! The actors' settings.

use std::sync::Arc;
use std::time::Duration;

use crate::ingest::IngestConfig;
use crate::webhook::WebhookConfig;

/// Settings of the actors.
#[derive(Debug, Clone)]
pub struct ActorsConfig {
    /// How often each project gets a full scrape.
    pub full_interval: Duration,
    /// How often each platform's hot metrics are polled.
    pub poll_interval: Duration,
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
    /// rollups (90 days); `None` keeps them forever.
    pub retention: Option<Duration>,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// The longest a full scrape may take; past it, it is stopped and fails
    /// (`deadline`), so no run stays `running`.
    pub run_deadline: Duration,
    /// The freshness target: the share of slots that must start on time and
    /// succeed.
    pub slo_target: f64,
    /// This node's name, recorded with each run.
    pub node: String,
    /// Seals and opens the secrets stored with sources and webhooks.
    pub cipher: Arc<trawler_store::Cipher>,
}

impl Default for ActorsConfig {
    fn default() -> Self {
        ActorsConfig {
            full_interval: Duration::from_secs(4 * 3600),
            poll_interval: Duration::from_secs(300),
            ingest: IngestConfig::default(),
            db_threads: 2,
            max_restarts: 5,
            restart_window: Duration::from_secs(600),
            retention: Some(Duration::from_secs(90 * 86_400)),
            webhooks: WebhookConfig::default(),
            run_deadline: Duration::from_secs(600),
            slo_target: trawler_domain::slo::DEFAULT_TARGET,
            node: "local".into(),
            // Secrets sealed with a key of this process alone: tests, and
            // trees that store nothing for good.
            cipher: Arc::new(trawler_store::Cipher::ephemeral().expect("the system random source works")),
        }
    }
}
