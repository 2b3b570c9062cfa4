//! The node over time, without Prometheus: every step (30 s) the node
//! samples its own counters — read from the same registry `/metrics`
//! exports, so the two never disagree — and a few gauges, and keeps the
//! last six hours in a ring. The admin UI draws them (`/ui/node`) and
//! `GET /api/v1/admin/history` serves them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How often the node samples itself.
pub const STEP: Duration = Duration::from_secs(30);
/// Samples kept: six hours of steps.
const KEPT: usize = 720;

/// What the node did over one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// The step's end, epoch seconds.
    pub ts: i64,
    /// Fetches per second, by `platform outcome` (`kickstarter ok`,
    /// `html parse`).
    pub fetches: BTreeMap<String, f64>,
    /// Points written per second.
    pub points: f64,
    /// Requests waiting at each platform's gate, at the step's end.
    pub waiting: BTreeMap<String, i64>,
    /// Requests in flight to each platform, at the step's end.
    pub in_flight: BTreeMap<String, i64>,
    /// Bytes in the spool, at the step's end.
    pub spool_bytes: i64,
    /// Live-update streams open (SSE subscribers), at the step's end.
    pub listeners: i64,
    /// HTTP requests served per second.
    pub requests: f64,
}

/// Counters read from the metrics' text at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    /// `platform outcome` → fetches so far.
    pub(crate) fetches: BTreeMap<String, f64>,
    pub(crate) points: f64,
    pub(crate) requests: f64,
}

/// The value of a label in a sample line's label set (`{a="x",b="y"}`).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let at = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[at..];
    Some(&rest[..rest.find('"')?])
}

impl Counters {
    /// Reads the counters out of the Prometheus text of the metrics.
    pub(crate) fn read(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            match name {
                "trawler_fetches_total" => {
                    let key = format!(
                        "{} {}",
                        label(labels, "platform").unwrap_or("?"),
                        label(labels, "outcome").unwrap_or("?")
                    );
                    *c.fetches.entry(key).or_default() += value;
                }
                "trawler_points_written_total" => c.points += value,
                "trawler_http_requests_total" => c.requests += value,
                _ => {}
            }
        }
        c
    }

    /// The rates per second from `before` to `self`, `secs` apart (a
    /// counter that went down started again: its rate is from zero).
    pub(crate) fn rates(&self, before: &Counters, secs: f64) -> (BTreeMap<String, f64>, f64, f64) {
        let per_s = |now: f64, then: f64| if now >= then { (now - then) / secs } else { now / secs };
        let fetches = self
            .fetches
            .iter()
            .map(|(k, now)| (k.clone(), per_s(*now, before.fetches.get(k).copied().unwrap_or(0.0))))
            .filter(|(_, r)| *r > 0.0)
            .collect();
        (fetches, per_s(self.points, before.points), per_s(self.requests, before.requests))
    }
}

/// The last six hours of samples.
#[derive(Debug, Default)]
pub struct History {
    ring: Mutex<VecDeque<Sample>>,
}

impl History {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a sample, dropping the oldest past six hours.
    pub(crate) fn push(&self, sample: Sample) {
        let mut ring = self.lock();
        if ring.len() >= KEPT {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    /// The samples since `from` (epoch seconds), oldest first.
    pub fn since(&self, from: i64) -> Vec<Sample> {
        self.lock().iter().filter(|s| s.ts >= from).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP trawler_fetches Platform fetches by outcome.
# TYPE trawler_fetches counter
trawler_fetches_total{platform="kickstarter",kind="poll",outcome="ok"} 90
trawler_fetches_total{platform="kickstarter",kind="full",outcome="ok"} 10
trawler_fetches_total{platform="html",kind="poll",outcome="parse"} 3
trawler_points_written_total 600
trawler_http_requests_total{method="GET",route="/healthz",status="200"} 30
trawler_spool_points 0
"#;

    #[test]
    fn counters_are_read_from_the_metrics_text_and_become_rates() {
        let now = Counters::read(TEXT);
        assert_eq!(now.fetches.get("kickstarter ok"), Some(&100.0), "full and poll together");
        assert_eq!(now.fetches.get("html parse"), Some(&3.0));
        assert_eq!((now.points, now.requests), (600.0, 30.0));
        let before = Counters::read(&TEXT.replace("} 90", "} 30").replace(" 600", " 300"));
        let (fetches, points, requests) = now.rates(&before, 30.0);
        assert_eq!(fetches.get("kickstarter ok"), Some(&2.0));
        assert_eq!(fetches.get("html parse"), None, "nothing new");
        assert_eq!((points, requests), (10.0, 0.0));
        // A restart: the counters start from zero again.
        let (_, points, _) = Counters::default().rates(&now, 30.0);
        assert_eq!(points, 0.0);
    }

    #[test]
    fn the_ring_keeps_six_hours() {
        let h = History::default();
        for i in 0..(KEPT as i64 + 10) {
            h.push(Sample { ts: i * 30, ..Sample::default() });
        }
        let all = h.since(0);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].ts, 300, "the oldest went");
        assert_eq!(h.since(all[KEPT - 2].ts).len(), 2);
    }
}
