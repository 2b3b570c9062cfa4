//! The node's own sampler: every [`STEP`] it reads its counters and a few
//! gauges into the history's ring (see `crate::history`).

use std::sync::Arc;

use super::Tree;
use crate::history::{Counters, History, Sample, STEP};

impl Tree {
    /// The last six hours of the node's own samples.
    pub fn history(&self) -> &Arc<History> {
        &self.history
    }

    /// Starts the sampler (one per tree).
    pub(crate) fn start_history(&self) {
        let tree = self.clone();
        crate::task::spawn_supervised("history", self.metrics.clone(), move || {
            let tree = tree.clone();
            async move {
                let mut before = Counters::read(&tree.metrics.encode().unwrap_or_default());
                let mut at = std::time::Instant::now();
                let mut tick = tokio::time::interval(STEP);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let now = Counters::read(&tree.metrics.encode().unwrap_or_default());
                    let secs = at.elapsed().as_secs_f64().max(1.0);
                    at = std::time::Instant::now();
                    let sample = tree.sample(&now, &before, secs);
                    tree.history.push(sample);
                    before = now;
                }
            }
        });
    }

    fn sample(&self, now: &Counters, before: &Counters, secs: f64) -> Sample {
        let (fetches, points, requests) = now.rates(before, secs);
        let gates = self.adapters.gates().snapshot();
        let waiting = gates.platforms.iter().map(|g| (g.platform.as_str().to_owned(), g.waiting as i64)).collect();
        let in_flight = gates.platforms.iter().map(|g| (g.platform.as_str().to_owned(), g.in_flight as i64)).collect();
        let ingest = self.ingest_state();
        Sample {
            ts: trawler_domain::now_secs(),
            fetches,
            points,
            waiting,
            in_flight,
            spool_bytes: ingest.detail.pointer("/spool/bytes").and_then(serde_json::Value::as_i64).unwrap_or(0),
            listeners: i64::try_from(self.events.listeners()).unwrap_or(i64::MAX),
            requests,
        }
    }
}
