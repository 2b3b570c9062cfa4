//! What every actor of the tree shares, and the one fetch step they all use.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use trawler_domain::campaign::CampaignReport;
use trawler_domain::clock::SharedClock;
use trawler_domain::{RunId, RunKind};
use trawler_sources::{Adapters, Fetched, Keeper, LinePlace, RetryBudget, SourceError, SourceSpec};
use trawler_store::Source;

use crate::campaign::CampaignBook;
use crate::db::{DbExecutor, Exec};
use crate::events::EventBus;
use crate::events::{AlertState, Event};
use crate::fetching::Fetching;
use crate::metrics::Metrics;
use crate::ownership::Ownership;
use crate::pipeline::Pipeline;
use crate::runbook::RunBook;
use trawler_store::{Alert, NewAlert};

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
    /// The configuration in force (a reload replaces it).
    pub(crate) config: crate::live::Live,
    /// Where runs and state changes are announced.
    pub(crate) events: EventBus,
    /// Which projects this node runs (all of them outside cluster mode).
    pub(crate) ownership: Arc<Ownership>,
    /// The sources being fetched now: one fetch per source at a time.
    pub(crate) fetching: Arc<Fetching>,
    /// Where "now" comes from for schedules, restarts and run records.
    pub(crate) clock: SharedClock,
    /// Where each source's campaign stands.
    pub(crate) campaigns: CampaignBook,
    /// The monitors on each source's numbers.
    pub(crate) monitors: crate::monitor::MonitorBook,
    /// Which ad sources are spending (the poll division weighs them).
    pub(crate) spending: crate::spend::SpendBook,
    /// Where the generic sources' answers are kept, if they are.
    pub(crate) archive: Option<crate::archive::Archiving>,
}

impl SharedDeps {
    /// Fetches one source through its platform's gate, records the fetch
    /// in the metrics and keeps its answers in the archive (a generic
    /// source's, when the node keeps them; `run` is the full scrape's).
    pub(crate) async fn fetch(
        &self,
        source: &Source,
        kind: RunKind,
        budget: &RetryBudget,
        place: Option<&LinePlace>,
        run: Option<RunId>,
    ) -> Result<Fetched, SourceError> {
        let mut spec = source_spec(source);
        spec.secret = match spec.secret.take().map(|s| self.config.get().cipher.open(&s)).transpose() {
            Ok(secret) => secret,
            Err(e) => return Err(SourceError::Config(e.to_string())),
        };
        let started = std::time::Instant::now();
        let archive = self.archive.as_ref().filter(|_| crate::archive::keeps(source.platform));
        let keep = match archive {
            Some(a) => Keeper::new(a.sampler.keeping(source.id, kind, self.clock.now_ms())),
            None => Keeper::off(),
        };
        let fetched = self.adapters.fetch(&spec, kind, budget, place, &keep).await;
        let now_ms = self.clock.now_ms();
        if let Some(archive) = archive {
            let answers = keep.take();
            if !answers.is_empty() {
                spec.secret = None;
                archive.book.do_send(crate::archive::KeepFetch(crate::archive::Fetch {
                    project: source.project_id,
                    spec,
                    kind,
                    run,
                    at_ms: now_ms,
                    answers,
                    error: fetched.as_ref().err().cloned(),
                }));
            }
        }
        let outcome = fetched.as_ref().map_or_else(SourceError::code, |_| "ok");
        self.metrics.fetch(source.platform.as_str(), kind.as_str(), outcome, started.elapsed().as_secs_f64());
        if let Some(report) = fetched.as_ref().ok().and_then(|f| f.campaign.as_ref()) {
            self.campaign_reported(source, kind, report);
        }
        fetched
    }

    /// Keeps what a fetch said of its campaign: stored when it changed; a
    /// crowdfunding campaign a poll finds over gets its final scrape now
    /// (a full scrape's own end is checked by its scraper).
    fn campaign_reported(&self, source: &Source, kind: RunKind, report: &CampaignReport) {
        let Some(change) = self.campaigns.observe(source, report, self.clock.now_ms()) else { return };
        let (id, campaign) = (source.id, change.campaign);
        self.db.do_send(Exec(move |conn| {
            if let Err(e) = Source::set_campaign(conn, id, &campaign) {
                log::warn!("source {id}: storing its campaign state failed: {e}");
            }
            Ok(())
        }));
        if change.ended && kind == RunKind::Poll && crate::campaign::ends(source.platform) {
            self.campaigns.announce(source.project_id);
        }
    }
}

impl SharedDeps {
    /// Stores a fetch's samples as points observed now, then runs the
    /// source's monitors over them. Returns how many points were stored.
    pub(crate) async fn keep(
        &self,
        source: &Source,
        kind: RunKind,
        samples: Vec<trawler_sources::Sample>,
    ) -> Result<usize, String> {
        let values: BTreeMap<String, f64> = samples.iter().map(|s| (s.metric.as_str().to_owned(), s.value)).collect();
        let n = self.pipeline.observed(source, samples).await?;
        if source.platform == trawler_domain::Platform::MetaAds {
            if let Some(spend) = values.get(trawler_domain::Metric::SPEND) {
                self.spending.observe(source.id, *spend, self.clock.now_ms());
            }
        }
        self.monitor(source, kind, &values);
        Ok(n)
    }

    /// Runs `source`'s monitors over values it just stored, and stores,
    /// announces and counts what fired or recovered.
    pub(crate) fn monitor(&self, source: &Source, kind: RunKind, values: &BTreeMap<String, f64>) {
        let phase = self.campaigns.current(source).map(|c| c.phase);
        let now_ms = self.clock.now_ms();
        let transitions = self.monitors.observe(source, kind, values, crate::monitor::live(phase), now_ms);
        if transitions.is_empty() {
            return;
        }
        let (project_id, source_id, platform) = (source.project_id, source.id, source.platform);
        for t in &transitions {
            self.metrics.alert(t.key.monitor.as_str(), if t.fired { "fired" } else { "recovered" });
            log::info!(project = project_id.0, platform = platform.as_str();
                "project {project_id} {platform} {}: {} {} ({})",
                source.external_ref,
                t.key.monitor,
                if t.fired { "fired" } else { "recovered" },
                t.detail
            );
        }
        self.metrics.alerts_open.set(self.monitors.open_alerts() as i64);
        let events = self.events.clone();
        // Stored, then announced: a listener that reads the alerts on
        // hearing one finds it.
        self.db.do_send(Exec(move |conn| {
            for t in transitions {
                let stored = if t.fired {
                    let alert = NewAlert {
                        project_id,
                        source_id,
                        platform,
                        key: t.key.clone(),
                        level: t.level,
                        value: t.value,
                        detail: t.detail.clone(),
                        at_ms: now_ms,
                    };
                    Alert::fire(conn, &alert)
                } else {
                    Alert::recover(conn, source_id, &t.key, t.value, &t.detail, now_ms)
                };
                if let Err(e) = stored {
                    log::warn!(project = project_id.0; "project {project_id}: storing a {} alert failed: {e}", t.key.monitor);
                }
                events.publish(Event::Alert {
                    project_id,
                    source_id,
                    platform,
                    monitor: t.key.monitor,
                    metric: t.key.metric,
                    threshold: t.key.at,
                    state: if t.fired { AlertState::Fired } else { AlertState::Recovered },
                    value: t.value,
                    detail: t.detail,
                    at_ms: now_ms,
                });
            }
            Ok(())
        }));
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
