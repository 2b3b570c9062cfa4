//! What every actor of the tree shares, and the one fetch step they all use.

use std::sync::Arc;

use actix::prelude::*;
use trawler_domain::clock::SharedClock;
use trawler_domain::RunKind;
use trawler_sources::{Adapters, Fetched, LinePlace, RetryBudget, SourceError, SourceSpec};
use trawler_store::Source;

use crate::config::ActorsConfig;
use crate::db::DbExecutor;
use crate::events::EventBus;
use crate::fetching::Fetching;
use crate::metrics::Metrics;
use crate::ownership::Ownership;
use crate::pipeline::Pipeline;
use crate::runbook::RunBook;

/// What every actor of the tree shares, behind one `Arc`: a hundred thousand
/// scrapers hold one pointer each, not a copy of every handle.
pub(crate) type Deps = Arc<SharedDeps>;

/// The handles in [`Deps`].
pub(crate) struct SharedDeps {
    pub(crate) db: Addr<DbExecutor>,
    /// Where runs' starts and ends are recorded, in batches.
    pub(crate) runs: Addr<RunBook>,
    /// Where fetched samples become durable points.
    pub(crate) pipeline: Pipeline,
    pub(crate) metrics: Metrics,
    pub(crate) adapters: Adapters,
    pub(crate) config: Arc<ActorsConfig>,
    /// Where runs and state changes are announced.
    pub(crate) events: EventBus,
    /// Which projects this node runs (all of them outside cluster mode).
    pub(crate) ownership: Arc<Ownership>,
    /// The sources being fetched now: one fetch per source at a time.
    pub(crate) fetching: Arc<Fetching>,
    /// Where "now" comes from for schedules, restarts and run records.
    pub(crate) clock: SharedClock,
}

impl SharedDeps {
    /// Fetches one source through its platform's gate and records the fetch
    /// in the metrics.
    pub(crate) async fn fetch(
        &self,
        source: &Source,
        kind: RunKind,
        budget: &RetryBudget,
        place: Option<&LinePlace>,
    ) -> Result<Fetched, SourceError> {
        let mut spec = source_spec(source);
        spec.secret = match spec.secret.take().map(|s| self.config.cipher.open(&s)).transpose() {
            Ok(secret) => secret,
            Err(e) => return Err(SourceError::Config(e.to_string())),
        };
        let started = std::time::Instant::now();
        let fetched = self.adapters.fetch(&spec, kind, budget, place).await;
        let outcome = fetched.as_ref().map_or_else(SourceError::code, |_| "ok");
        self.metrics.fetch(source.platform.as_str(), kind.as_str(), outcome, started.elapsed().as_secs_f64());
        fetched
    }
}

/// What an adapter needs of a stored source.
pub fn source_spec(source: &Source) -> SourceSpec {
    SourceSpec {
        platform: source.platform,
        external_ref: source.external_ref.clone(),
        options: source.options.clone(),
        secret: source.secret.clone(),
    }
}
