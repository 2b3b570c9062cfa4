//! Where samples become durable points and their `points` event: the one
//! door for points, used by the scrapers and source actors (observed now,
//! through the ingest actor and its spool) and by imports (history, written
//! in chunks straight to the database).

use std::collections::BTreeMap;

use actix::prelude::*;
use trawler_domain::{now_secs, Platform, Point, ProjectId};
use trawler_sources::Sample;
use trawler_store::{Project, Source};

use crate::db::{DbExecutor, Exec};
use crate::error::ActorError;
use crate::events::{Event, EventBus};
use crate::ingest::{IngestActor, IngestPoints};
use crate::metrics::Metrics;
use crate::state::Mailbox;

/// Points per insert of an import.
const IMPORT_CHUNK: usize = 10_000;

/// The handles the pipeline writes through.
#[derive(Clone)]
pub(crate) struct Pipeline {
    pub(crate) ingest: Addr<IngestActor>,
    /// Counts the points messages waiting for the ingest actor.
    pub(crate) mailbox: Mailbox,
    pub(crate) db: Addr<DbExecutor>,
    pub(crate) events: EventBus,
    pub(crate) metrics: Metrics,
}

/// What an import stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Points received.
    pub points: usize,
    /// Points new to the store (the others were stored already).
    pub stored: usize,
}

impl Pipeline {
    /// Stamps a source's samples as points observed now and hands them to
    /// ingestion. `send().await` waits while ingestion is saturated (the
    /// back-pressure) and resolves once the points are durable (database or
    /// spool). Returns how many points were stored.
    pub(crate) async fn observed(&self, source: &Source, samples: Vec<Sample>) -> Result<usize, String> {
        let ts = now_secs();
        let points: Vec<Point> = samples
            .into_iter()
            .map(|s| Point {
                project_id: source.project_id,
                platform: source.platform,
                metric: s.metric,
                ts,
                value: s.value,
            })
            .collect();
        let n = points.len();
        // Built only for a project someone follows: a node stores thousands
        // of these a second.
        let values: Option<BTreeMap<String, f64>> = self
            .events
            .followed(source.project_id)
            .then(|| points.iter().map(|p| (p.metric.as_str().to_owned(), p.value)).collect());
        // The event goes out once the points are in the database, so a
        // follower who reads the series on hearing it finds them.
        let mut message = IngestPoints::new(points);
        if let Some(values) = values.filter(|_| n > 0) {
            let events = self.events.clone();
            let (project_id, platform) = (source.project_id, source.platform);
            message = message.on_written(move || events.publish(Event::Points { project_id, platform, ts, values }));
        }
        match self.mailbox.send(&self.ingest, message).await {
            Ok(Ok(())) => Ok(n),
            Ok(Err(e)) => Err(format!("points not stored: {e}")),
            Err(e) => Err(format!("ingestion unavailable: {e}")),
        }
    }

    /// Stores points of the past into an existing project (a point already
    /// stored is skipped, so a replay is harmless). A follower of the
    /// project hears one `points` event per platform, with the values at
    /// the latest time imported.
    pub(crate) async fn import(&self, project: ProjectId, points: Vec<Point>) -> Result<Imported, ActorError> {
        let total = points.len();
        let latest = self.events.followed(project).then(|| latest_per_platform(&points));
        let stored = self
            .db
            .send(Exec(move |conn| {
                Project::get(conn, project)?;
                let mut stored = 0;
                for chunk in points.chunks(IMPORT_CHUNK) {
                    stored += trawler_store::Point::insert_batch(conn, chunk)?;
                }
                Ok(stored)
            }))
            .await?
            .map_err(|e| match e {
                trawler_store::StoreError::NotFound(_) => ActorError::NotFound,
                other => ActorError::Store(other),
            })?;
        self.metrics.points_written.inc_by(stored as u64);
        for ((platform, ts), values) in latest.into_iter().flatten() {
            self.events.publish(Event::Points { project_id: project, platform, ts, values });
        }
        Ok(Imported { points: total, stored })
    }
}

/// The values at each platform's latest time among `points`.
fn latest_per_platform(points: &[Point]) -> Vec<((Platform, i64), BTreeMap<String, f64>)> {
    let mut latest: BTreeMap<Platform, (i64, BTreeMap<String, f64>)> = BTreeMap::new();
    for p in points {
        let entry = latest.entry(p.platform).or_insert((p.ts, BTreeMap::new()));
        if p.ts > entry.0 {
            *entry = (p.ts, BTreeMap::new());
        }
        if p.ts == entry.0 {
            entry.1.insert(p.metric.as_str().to_owned(), p.value);
        }
    }
    latest.into_iter().map(|(platform, (ts, values))| ((platform, ts), values)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::Metric;

    #[test]
    fn a_follower_hears_the_latest_values_of_each_platform() {
        let point = |platform, metric: &str, ts, value| Point {
            project_id: ProjectId(1),
            platform,
            metric: metric.parse::<Metric>().expect("a metric name"),
            ts,
            value,
        };
        let points = [
            point(Platform::Kickstarter, "pledged", 10, 1.0),
            point(Platform::Kickstarter, "pledged", 30, 3.0),
            point(Platform::Kickstarter, "backers", 30, 7.0),
            point(Platform::Kickstarter, "backers", 20, 2.0),
            point(Platform::MetaAds, "spend", 5, 9.5),
        ];
        let latest = latest_per_platform(&points);
        assert_eq!(
            latest,
            vec![
                ((Platform::Kickstarter, 30), BTreeMap::from([("backers".into(), 7.0), ("pledged".into(), 3.0)])),
                ((Platform::MetaAds, 5), BTreeMap::from([("spend".into(), 9.5)])),
            ]
        );
    }
}
