//! What the tree shows of itself: every actor's state, the metrics, and
//! the poll side of freshness.

use std::collections::HashMap;

use futures_util::future::join_all;
use trawler_domain::slo::Freshness;
use trawler_domain::{now_millis, Platform, ProjectId};

use super::Tree;
use crate::compactor::GetCompactorState;
use crate::error::ActorError;
use crate::metrics;
use crate::registry::{GetRegistryState, ListScrapers};
use crate::retention::GetRetentionState;
use crate::scraper::GetScraperState;
use crate::source::{GetPollFreshness, GetSourceState};
use crate::state::{ActorInfo, TreeSnapshot};
use crate::supervisor::{CountStarting, GetSupervisorState, ListDormant};

impl Tree {
    /// The ingest actor's state as `/admin/actors` shows it, read without
    /// messaging it.
    pub fn ingest_state(&self) -> ActorInfo {
        let mut info = self.ingest_info.lock().unwrap_or_else(|p| p.into_inner()).clone();
        info.mailbox = Some(self.ingest_mailbox.len());
        info
    }

    /// Starts and ends of runs waiting for their batch or being written.
    pub fn runs_unrecorded(&self) -> usize {
        self.run_book_depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The fast-poll actor of `platform`, as `/admin/actors` shows it,
    /// without a snapshot of every scraper.
    pub async fn source_state(&self, platform: Platform) -> Result<Option<ActorInfo>, ActorError> {
        match self.sources.iter().find(|(p, _)| *p == platform) {
            Some((_, addr)) => Ok(Some(addr.send(GetSourceState).await?)),
            None => Ok(None),
        }
    }

    /// The metrics in Prometheus text format, gauges sampled now from the
    /// same state `/admin/actors` shows.
    pub async fn render_metrics(&self) -> Result<String, ActorError> {
        let snapshot = self.snapshot().await?;
        let m = &self.metrics;
        m.scrapers.clear();
        for a in snapshot.actors.iter().filter(|a| a.kind == "scraper") {
            let status = serde_json::to_value(a.status).ok().and_then(|v| v.as_str().map(str::to_owned));
            m.scrapers.get_or_create(&metrics::StatusLabel { status: status.unwrap_or_default() }).inc();
        }
        if let Some(ingest) = snapshot.actors.iter().find(|a| a.kind == "ingest") {
            let gauge = |path: &str| ingest.detail.pointer(path).and_then(serde_json::Value::as_i64).unwrap_or(0);
            m.spool_points.set(gauge("/spool/points"));
            m.spool_bytes.set(gauge("/spool/bytes"));
            m.ingest_buffered.set(gauge("/buffered"));
        }
        for gate in self.adapters.gates().snapshot().platforms {
            let label = metrics::PlatformLabel { platform: gate.platform.as_str() };
            let state = match gate.circuit {
                "open" => 2,
                "half_open" => 1,
                _ => 0,
            };
            m.circuit_state.get_or_create(&label).set(state);
            m.gate_waiting.get_or_create(&label).set(gate.waiting as i64);
            m.gate_in_flight.get_or_create(&label).set(gate.in_flight as i64);
            m.throttled.get_or_create(&label).set(gate.throttled as i64);
        }
        m.projects_labelled.clear();
        if let Some(key) = self.live.get().metrics_label.clone() {
            let by = key.clone();
            let counts =
                self.db.send(crate::db::Exec(move |conn| trawler_store::Project::label_counts(conn, &by))).await??;
            // A thousand values at most: the rest are counted as `other`.
            let mut values = std::collections::HashSet::new();
            for ((value, status), n) in counts {
                let value = if values.len() < 1000 || values.contains(&value) {
                    values.insert(value.clone());
                    value
                } else {
                    "other".to_owned()
                };
                let labels = metrics::LabelValueLabels { label: key.clone(), value, status };
                m.projects_labelled.get_or_create(&labels).inc_by(n);
            }
        }
        m.encode().map_err(|e| ActorError::Metrics(e.to_string()))
    }

    /// How many scrapers are live.
    pub async fn scrapers_live(&self) -> Result<usize, ActorError> {
        Ok(self.registry.send(ListScrapers).await?.len())
    }

    /// How many scrapers are still loading their state (start-up progress,
    /// without building a whole snapshot).
    pub async fn scrapers_starting(&self) -> Result<usize, ActorError> {
        Ok(self.supervisor.send(CountStarting).await?)
    }

    /// The poll side of the freshness SLO over `[from_ms, to_ms]`, per
    /// project, summed over the platforms it is polled on. Kept in memory
    /// for the last day since this node started (polls write no run rows).
    pub async fn poll_freshness(
        &self,
        project: Option<ProjectId>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<HashMap<ProjectId, Freshness>, ActorError> {
        let mut out: HashMap<ProjectId, Freshness> = HashMap::new();
        for (_, addr) in &self.sources {
            for (p, f) in addr.send(GetPollFreshness { project, from_ms, to_ms }).await? {
                let e = out.entry(p).or_insert(Freshness { slots: 0, met: 0, failed: 0, missed: 0, share: None });
                e.slots += f.slots;
                e.met += f.met;
                e.failed += f.failed;
                e.missed += f.missed;
                e.share = (e.slots > 0).then(|| e.met as f64 / e.slots as f64);
            }
        }
        Ok(out)
    }

    /// Every live actor's state.
    pub async fn snapshot(&self) -> Result<TreeSnapshot, ActorError> {
        let mut actors = vec![
            self.supervisor.send(GetSupervisorState).await?,
            self.registry.send(GetRegistryState).await?,
            self.ingest_state(),
        ];
        for (_, addr) in &self.sources {
            actors.push(addr.send(GetSourceState).await?);
        }
        actors.push(self.retention.send(GetRetentionState).await?);
        actors.push(self.compactor.send(GetCompactorState).await?);
        if let Some(archive) = &self.archive {
            actors.push(archive.send(crate::archive::GetArchiveState).await?);
        }
        if let Some(rates) = &self.rates {
            actors.push(rates.send(crate::rates::GetRatesState).await?);
        }
        let scrapers = self.registry.send(ListScrapers).await?;
        // A scraper that stops between the listing and the query is skipped.
        // Not counted in the mailbox: the query would count itself.
        let states = join_all(scrapers.iter().map(|(_, (addr, _))| addr.send(GetScraperState))).await;
        actors.extend(states.into_iter().flatten());
        // Projects without a live scraper: waiting for a restart, or quarantined.
        actors.extend(self.supervisor.send(ListDormant).await?);
        Ok(TreeSnapshot { node: self.config.node.clone(), taken_at_ms: now_millis(), actors })
    }
}
