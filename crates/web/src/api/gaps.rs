//! The gaps of a stored metric's series: each line's empty slots with their
//! cause (see `trawler_domain::gaps`), from the project's timeline, its
//! failed runs and each line's own cadence.
//!
//! A series whose slots are all filled costs nothing more: the timeline is
//! read only when a line has an empty slot.

use std::collections::BTreeMap;
use std::time::Duration;

use trawler_domain::gaps::{Explain, Span};
use trawler_domain::schedule::own_interval;
use trawler_domain::{Metric, Platform, ProjectId};
use trawler_store::{AnyConnection, Point, Project, Series, Source, StoreResult, Timeline};

use crate::views::Gap;

/// What explains a project's empty slots.
pub(super) struct Known {
    spans: Vec<Span>,
    created_ms: i64,
    /// The project's own cadences (ms; `None`: manual only).
    full_ms: Option<i64>,
    poll_ms: Option<i64>,
    /// Each platform's sources' hosts (generic platforms).
    hosts: BTreeMap<Platform, Vec<String>>,
    /// Each platform's metrics read by the project's sources.
    reads: Vec<Platform>,
    /// Each platform's last point of the metric before the range, epoch s.
    before: BTreeMap<Platform, i64>,
}

/// The node's cadences.
#[derive(Clone, Copy)]
pub(super) struct Cadences {
    pub(super) full: Duration,
    pub(super) poll: Duration,
}

/// Whether any line may have a gap: an empty bucket (wholly inside the
/// range and before now), a line with no point, or (raw) points further
/// apart than their own spacing allows. Decided from the points alone.
pub(super) fn may_have_gaps(lines: &[Series], (from, to): (i64, i64), step: Option<i64>, now: i64) -> bool {
    if lines.is_empty() || lines.iter().any(|l| l.points.is_empty()) {
        return true;
    }
    let end = to.min(now);
    lines.iter().any(|l| match step {
        Some(step) => {
            // The whole buckets: from the first starting at or after `from`
            // to the last ending by `to` (and starting before now).
            let first = from.div_euclid(step) * step + if from.rem_euclid(step) == 0 { 0 } else { step };
            let last =
                (to.saturating_add(1).div_euclid(step) - 1).saturating_mul(step).min(end.div_euclid(step) * step);
            if last < first {
                return false;
            }
            let buckets = (last - first) / step + 1;
            let filled = l.points.iter().filter(|(ts, _)| (first..=last).contains(ts)).count() as i64;
            filled < buckets
        }
        None => {
            let spacing = median_spacing(&l.points).unwrap_or(i64::MAX);
            let edges = [l.points[0].0 - from, end - l.points[l.points.len() - 1].0];
            edges.iter().chain(&spacings(&l.points)).any(|&d| d > spacing.saturating_add(spacing / 2))
        }
    })
}

fn spacings(points: &[(i64, f64)]) -> Vec<i64> {
    points.windows(2).map(|w| w[1].0 - w[0].0).collect()
}

/// The median time between points, if there are at least two spacings.
fn median_spacing(points: &[(i64, f64)]) -> Option<i64> {
    let mut d = spacings(points);
    if d.len() < 2 {
        return None;
    }
    d.sort_unstable();
    Some(d[d.len() / 2])
}

/// Reads what explains project `id`'s empty slots of `metric` in the range.
pub(super) fn load(
    conn: &mut AnyConnection,
    adapters: &trawler_actors::Adapters,
    id: ProjectId,
    metric: &Metric,
    (from, to): (i64, i64),
    cadences: Cadences,
) -> StoreResult<Known> {
    let project = Project::get(conn, id)?;
    let mut hosts: BTreeMap<Platform, Vec<String>> = BTreeMap::new();
    let mut reads = Vec::new();
    for source in Source::list_for_project(conn, id)? {
        let spec = trawler_actors::source_spec(&source);
        if adapters.metrics(&spec).iter().any(|m| m == metric.as_str()) {
            reads.push(source.platform);
        }
        if let Some(h) = adapters.circuit_host(&spec) {
            hosts.entry(source.platform).or_default().push(h);
        }
    }
    let before = Point::observations_at(conn, id, from.saturating_sub(1))?
        .into_iter()
        .filter(|o| o.metric == *metric)
        .map(|o| (o.platform, o.ts))
        .collect();
    let spans = Timeline::for_project(conn, id, from.saturating_mul(1000), to.saturating_mul(1000))?;
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as i64);
    Ok(Known {
        spans,
        created_ms: project.created_at_ms,
        full_ms: ms(own_interval(project.full_interval_ms, cadences.full)),
        poll_ms: ms(own_interval(project.poll_interval_ms, cadences.poll)),
        hosts,
        reads,
        before,
    })
}

/// Each line's gaps, platform by platform; a platform whose sources read
/// the metric but that has no point in the range is a line of gaps too.
pub(super) fn explain(known: &Known, lines: &[Series], range: (i64, i64), step: Option<i64>, now_ms: i64) -> Vec<Gap> {
    let mut platforms: Vec<Platform> = lines.iter().map(|l| l.platform).collect();
    platforms
        .extend(known.reads.iter().chain(known.before.keys()).filter(|p| !lines.iter().any(|l| l.platform == **p)));
    platforms.sort();
    platforms.dedup();
    let mut gaps = Vec::new();
    for platform in platforms {
        let points = lines.iter().find(|l| l.platform == platform).map_or(&[][..], |l| &l.points[..]);
        let no_hosts = Vec::new();
        let hosts = known.hosts.get(&platform).unwrap_or(&no_hosts);
        let spans: Vec<Span> = known.spans.iter().filter(|s| s.concerns(platform, hosts)).cloned().collect();
        let explain =
            Explain { spans: &spans, created_ms: known.created_ms, now_ms, cadence_ms: cadence_ms(known, points) };
        let before = known.before.get(&platform).copied();
        let found = match step {
            Some(step) => explain.stepped(points, before, range, step),
            None => explain.raw(points, before, range),
        };
        gaps.extend(found.into_iter().map(|g| Gap {
            ts: g.from,
            until: g.until,
            platform: Some(platform.into()),
            cause: g.cause.as_str().to_owned(),
            reason: g.reason,
        }));
    }
    gaps
}

/// How often a line gets a point: its median spacing, never below the
/// project's poll interval; with too few points to tell, the full-scrape
/// interval (the slower cadence: a slot it leaves empty is "not yet due",
/// never a false "missed"). Manual only: never due.
fn cadence_ms(known: &Known, points: &[(i64, f64)]) -> i64 {
    const NEVER: i64 = i64::MAX / 4;
    let floor = known.poll_ms.or(known.full_ms);
    match (median_spacing(points), floor) {
        (Some(s), Some(f)) => s.saturating_mul(1000).max(f),
        (None, _) => known.full_ms.or(known.poll_ms).unwrap_or(NEVER),
        (Some(s), None) => s.saturating_mul(1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: &[i64]) -> Series {
        Series { platform: Platform::Kickstarter, points: ts.iter().map(|t| (*t, 1.0)).collect() }
    }

    #[test]
    fn only_an_empty_whole_bucket_reads_the_timeline() {
        let now = 10_000;
        // Range [105, 395]: whole buckets of 100 at 200 and 300 (100 and
        // 400 stick out of the range).
        assert!(!may_have_gaps(&[line(&[200, 300])], (105, 399), Some(100), now));
        assert!(!may_have_gaps(&[line(&[100, 200, 300])], (105, 399), Some(100), now));
        assert!(may_have_gaps(&[line(&[200])], (105, 399), Some(100), now), "300 is empty");
        assert!(may_have_gaps(&[line(&[200, 300]), line(&[])], (105, 399), Some(100), now), "a line without points");
        // A range inside one bucket has no whole bucket.
        assert!(!may_have_gaps(&[line(&[100])], (110, 150), Some(100), now));
        // Buckets from now on are not due.
        assert!(!may_have_gaps(&[line(&[200])], (200, 999), Some(100), 250));
        // Raw points: a hole wider than one and a half spacings.
        assert!(!may_have_gaps(&[line(&[0, 10, 20, 30, 40])], (0, 45), None, now));
        assert!(may_have_gaps(&[line(&[0, 10, 20, 50, 60])], (0, 65), None, now));
    }
}
