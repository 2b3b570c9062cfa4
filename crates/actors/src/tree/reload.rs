//! A reload of the settings while the node runs.

use std::sync::Arc;

use super::Tree;
use crate::config::ActorsConfig;
use crate::error::ActorError;
use crate::retention::Reconfigure;
use crate::supervisor::RearmAll;

impl Tree {
    /// Puts a reloaded configuration in force: the cadences (scrapers on
    /// the node's interval arm their schedules again at once; polls follow
    /// from their platform's next window), the shortest own cadence, the
    /// restart limits, run deadlines and final-scrape delay, retention,
    /// the monitors' defaults, webhooks' retries and the freshness target.
    /// What only a restart changes — the node's name, the secrets' keys,
    /// ingestion and the spool, the archive, the chunk span, the exchange
    /// rates' fetcher — keeps its value from the start, whatever `new` says.
    pub async fn reconfigure(&self, new: ActorsConfig) -> Result<(), ActorError> {
        let start = &self.config;
        let config = ActorsConfig {
            node: start.node.clone(),
            cipher: start.cipher.clone(),
            ingest: start.ingest.clone(),
            db_threads: start.db_threads,
            archive: start.archive,
            chunk_span: start.chunk_span,
            exchange_rates: start.exchange_rates,
            ..new
        };
        let rearm = config.full_interval != self.live.get().full_interval;
        self.retention.send(Reconfigure { keep: config.retention, housekeeping: config.housekeeping }).await?;
        self.deps.monitors.set_defaults(config.monitors.clone());
        self.live.set(Arc::new(config));
        if rearm {
            let scrapers = self.supervisor.send(RearmAll).await?;
            log::info!("reload: {scrapers} scrapers follow the new full-scrape interval");
        }
        Ok(())
    }
}
