//! The state machine of one source's monitors: it keeps the last value of
//! each metric (and since when it has not changed), the metrics each kind
//! of fetch reports, and the alerts open; each fetch's values go through
//! [`Track::observe`], which says which alerts fire and which recover.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{MonitorKind, Rules, FUNDED_PCT};
use crate::Metric;

/// What an alert is about: a monitor on a metric (and, for a milestone,
/// its threshold, as written).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    /// The monitor.
    pub monitor: MonitorKind,
    /// The metric.
    pub metric: String,
    /// A milestone's threshold (empty for the other monitors).
    pub at: String,
}

impl AlertKey {
    /// The key of `monitor` on `metric`.
    pub fn new(monitor: MonitorKind, metric: &str) -> AlertKey {
        AlertKey { monitor, metric: metric.to_owned(), at: String::new() }
    }

    /// A milestone's key.
    pub fn milestone(metric: &str, at: f64) -> AlertKey {
        AlertKey { monitor: MonitorKind::Milestone, metric: metric.to_owned(), at: threshold_text(at) }
    }
}

/// A threshold as keys and messages write it (`100`, `2.5`).
pub fn threshold_text(at: f64) -> String {
    format!("{at}")
}

/// An alert that has fired and not recovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    /// The level it is measured against: the value before a drop or a
    /// jump, the threshold of a milestone.
    pub level: Option<f64>,
}

/// An alert firing or recovering.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// What it is about.
    pub key: AlertKey,
    /// It fired (false: it recovered).
    pub fired: bool,
    /// The metric's value now (the share of the goal for `funded_pct`).
    pub value: Option<f64>,
    /// The level it is measured against (see [`OpenAlert::level`]).
    pub level: Option<f64>,
    /// What happened, in a sentence.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    value: f64,
    /// When the value last changed (or was first seen), ms.
    changed_ms: i64,
}

/// A metric name shared by every track that holds it: a node keeps one
/// track per source, and a million sources must not hold a million copies
/// of `pledged`.
fn intern(name: &str) -> Arc<str> {
    static NAMES: Mutex<Option<HashSet<Arc<str>>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(known) = names.get(name) {
        return known.clone();
    }
    let new: Arc<str> = Arc::from(name);
    names.insert(new.clone());
    new
}

/// One source's monitor state, kept small (a few hundred bytes): sorted
/// vectors of shared names, and an alert map that allocates only when an
/// alert is open.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// The last value of each metric, by name.
    values: Vec<(Arc<str>, Seen)>,
    /// The metrics reported by polls ([0]) and full scrapes ([1]), sorted.
    expected: [Vec<Arc<str>>; 2],
    open: BTreeMap<AlertKey, OpenAlert>,
}

/// Adds `name` to a sorted list of names, once.
fn add_name(list: &mut Vec<Arc<str>>, name: &str) {
    if let Err(i) = list.binary_search_by(|n| (**n).cmp(name)) {
        list.insert(i, intern(name));
    }
}

impl Track {
    /// A track that knows the alerts already open (after a restart).
    pub fn with_open(open: impl IntoIterator<Item = (AlertKey, OpenAlert)>) -> Track {
        let open: BTreeMap<AlertKey, OpenAlert> = open.into_iter().collect();
        let mut track = Track { open, ..Track::default() };
        // A metric missing before the restart is still expected.
        let missing: Vec<String> =
            track.open.keys().filter(|k| k.monitor == MonitorKind::Missing).map(|k| k.metric.clone()).collect();
        for metric in missing {
            add_name(&mut track.expected[0], &metric);
            add_name(&mut track.expected[1], &metric);
        }
        track
    }

    /// The alerts open now.
    pub fn open(&self) -> &BTreeMap<AlertKey, OpenAlert> {
        &self.open
    }

    fn seen(&self, metric: &str) -> Option<Seen> {
        self.values.binary_search_by(|(n, _)| (**n).cmp(metric)).ok().map(|i| self.values[i].1)
    }

    fn keep(&mut self, metric: &str, seen: Seen) {
        match self.values.binary_search_by(|(n, _)| (**n).cmp(metric)) {
            Ok(i) => self.values[i].1 = seen,
            Err(i) => self.values.insert(i, (intern(metric), seen)),
        }
    }

    fn fire(
        &mut self,
        out: &mut Vec<Transition>,
        key: AlertKey,
        value: Option<f64>,
        level: Option<f64>,
        detail: String,
    ) {
        if self.open.contains_key(&key) {
            return;
        }
        self.open.insert(key.clone(), OpenAlert { level });
        out.push(Transition { key, fired: true, value, level, detail });
    }

    fn recover(&mut self, out: &mut Vec<Transition>, key: &AlertKey, value: Option<f64>, detail: String) {
        if let Some(was) = self.open.remove(key) {
            out.push(Transition { key: key.clone(), fired: false, value, level: was.level, detail });
        }
    }

    /// Takes in one successful fetch's values at `now_ms` (`full`: a full
    /// scrape, else a poll; `live`: the campaign is running, so standing
    /// still is news). Returns the alerts that fired and recovered.
    pub fn observe(
        &mut self,
        rules: &Rules<'_>,
        full: bool,
        values: &BTreeMap<String, f64>,
        live: bool,
        now_ms: i64,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        self.missing(rules, usize::from(full), values, &mut out);
        for (metric, &value) in values {
            let prev = self.seen(metric);
            if let Some(factor) = rules.jump_factor(metric) {
                self.jump(metric, prev.map(|p| p.value), value, factor, &mut out);
            }
            if let Some(tolerance) = rules.drop_tolerance(metric) {
                self.drop(metric, prev.map(|p| p.value), value, tolerance, &mut out);
            }
            let changed = prev.is_none_or(|p| p.value != value);
            let changed_ms = match prev {
                Some(p) if !changed => p.changed_ms,
                _ => now_ms,
            };
            let key = AlertKey::new(MonitorKind::Stale, metric);
            match rules.stale_after_ms(metric) {
                None => {}
                Some(_) if !live => {
                    self.recover(&mut out, &key, Some(value), format!("{metric}: the campaign is not live"));
                }
                Some(after) if !changed && now_ms.saturating_sub(changed_ms) > after => {
                    let secs = now_ms.saturating_sub(changed_ms) as f64 / 1000.0;
                    let limit = after as f64 / 1000.0;
                    let detail = format!("{metric} unchanged at {value} for {secs:.1} s (limit {limit} s)");
                    self.fire(&mut out, key, Some(value), None, detail);
                }
                // Changed since a value this track has seen (after a
                // restart, the first value is only a start): moving again.
                Some(_) if changed && prev.is_some() => {
                    self.recover(&mut out, &key, Some(value), format!("{metric} moves again ({value})"));
                }
                Some(_) => {}
            }
            self.keep(metric, Seen { value, changed_ms });
        }
        self.milestones(rules, &mut out);
        self.unwatched(rules, &mut out);
        out
    }

    /// Recovers the open alerts whose monitor no longer watches their
    /// metric (silenced, turned off, a milestone removed): nothing would
    /// ever close them otherwise.
    fn unwatched(&mut self, rules: &Rules<'_>, out: &mut Vec<Transition>) {
        let milestones = rules.milestones();
        let gone: Vec<AlertKey> = self
            .open
            .keys()
            .filter(|k| {
                let metric = k.metric.as_str();
                !match k.monitor {
                    MonitorKind::Stale => rules.stale_after_ms(metric).is_some(),
                    MonitorKind::Drop => rules.drop_tolerance(metric).is_some(),
                    MonitorKind::Jump => rules.jump_factor(metric).is_some(),
                    MonitorKind::Missing => rules.missing(metric),
                    MonitorKind::Milestone => {
                        milestones.iter().any(|(m, at)| m == metric && at.iter().any(|t| threshold_text(*t) == k.at))
                    }
                }
            })
            .cloned()
            .collect();
        for key in gone {
            let detail = format!("{} no longer watches {} (silenced or off)", key.monitor, key.metric);
            self.recover(out, &key, None, detail);
        }
    }

    fn missing(&mut self, rules: &Rules<'_>, kind: usize, values: &BTreeMap<String, f64>, out: &mut Vec<Transition>) {
        let gone: Vec<Arc<str>> =
            self.expected[kind].iter().filter(|m| !values.contains_key(&***m) && rules.missing(m)).cloned().collect();
        for metric in gone {
            let detail = format!("{metric} is missing from a successful fetch");
            self.fire(out, AlertKey::new(MonitorKind::Missing, &metric), None, None, detail);
        }
        for (metric, value) in values {
            let key = AlertKey::new(MonitorKind::Missing, metric);
            self.recover(out, &key, Some(*value), format!("{metric} is reported again"));
            add_name(&mut self.expected[kind], metric);
        }
    }

    fn jump(&mut self, metric: &str, prev: Option<f64>, value: f64, factor: f64, out: &mut Vec<Transition>) {
        let Some(prev) = prev else { return };
        let key = AlertKey::new(MonitorKind::Jump, metric);
        let (lo, hi) = (prev.abs().min(value.abs()), prev.abs().max(value.abs()));
        // Moves through zero or below one are not measured as factors.
        let comparable = lo >= 1.0 && prev.signum() == value.signum();
        if comparable && hi / lo > factor {
            let detail = format!("{metric} moved from {prev} to {value} in one fetch (more than {factor}×)");
            self.fire(out, key, Some(value), Some(prev), detail);
        } else {
            self.recover(out, &key, Some(value), format!("{metric} moves within {factor}× again ({value})"));
        }
    }

    fn drop(&mut self, metric: &str, prev: Option<f64>, value: f64, tolerance: f64, out: &mut Vec<Transition>) {
        let key = AlertKey::new(MonitorKind::Drop, metric);
        let floor = |level: f64| level - tolerance * level.abs();
        if let Some(level) = self.open.get(&key).map(|a| a.level) {
            // Recovered once back at the level it fell from (within the
            // tolerance); an alert from before a restart without a level
            // recovers at the next value that does not fall.
            let back = match (level, prev) {
                (Some(level), _) => value >= floor(level),
                (None, Some(prev)) => value >= floor(prev),
                (None, None) => false,
            };
            if back {
                self.recover(out, &key, Some(value), format!("{metric} is back at {value}"));
            }
            return;
        }
        if let Some(prev) = prev.filter(|p| value < floor(*p)) {
            let detail = format!(
                "{metric} went down from {prev} to {value} (more than {}%)",
                (tolerance * 100.0 * 1000.0).round() / 1000.0
            );
            self.fire(out, key, Some(value), Some(prev), detail);
        }
    }

    /// The value a milestone watches: a metric's, or the share of the goal.
    fn milestone_value(&self, metric: &str) -> Option<f64> {
        if metric == FUNDED_PCT {
            let pledged = self.seen(Metric::PLEDGED)?.value;
            let goal = self.seen(Metric::GOAL)?.value;
            let pct = crate::metric::ratio(Some(pledged), Some(goal))? * 100.0;
            return pct.is_finite().then_some(pct);
        }
        self.seen(metric).map(|s| s.value)
    }

    fn milestones(&mut self, rules: &Rules<'_>, out: &mut Vec<Transition>) {
        for (metric, thresholds) in rules.milestones() {
            let Some(value) = self.milestone_value(&metric) else { continue };
            for at in thresholds {
                let key = AlertKey::milestone(&metric, at);
                let shown = threshold_text(at);
                if value >= at {
                    let detail = format!("{metric} reached {shown} ({value:.2})");
                    self.fire(out, key, Some(value), Some(at), detail);
                } else {
                    self.recover(out, &key, Some(value), format!("{metric} is below {shown} again ({value:.2})"));
                }
            }
        }
    }
}
