//! Metrics, points and the derived figures dashboards show.
//!
//! Raw metrics are cumulative counters or levels as the platform reports them
//! (pledged so far, lifetime ad spend). Derived metrics are computed over a
//! range from the change (Δ) of those counters, so "RoAS this week" means
//! Δpurchase_value / Δspend between the start and the end of the week.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::{Platform, ProjectId};

/// The name of a metric: one of the well-known ones below, or a custom name
/// (lower-case letters, digits and `_`, at most 64) mapped by an `http_json`
/// or `html` source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Metric(String);

impl Metric {
    /// Money pledged so far, in the campaign's currency.
    pub const PLEDGED: &'static str = "pledged";
    /// Number of backers so far.
    pub const BACKERS: &'static str = "backers";
    /// The campaign's funding goal.
    pub const GOAL: &'static str = "goal";
    /// Number of comments on the campaign.
    pub const COMMENTS: &'static str = "comments";
    /// Lifetime ad spend.
    pub const SPEND: &'static str = "spend";
    /// Lifetime ad impressions.
    pub const IMPRESSIONS: &'static str = "impressions";
    /// Lifetime ad clicks.
    pub const CLICKS: &'static str = "clicks";
    /// Lifetime purchases attributed to the ads.
    pub const PURCHASES: &'static str = "purchases";
    /// Lifetime value of the purchases attributed to the ads.
    pub const PURCHASE_VALUE: &'static str = "purchase_value";

    /// The well-known raw metrics, in display order.
    pub const KNOWN: [&'static str; 9] = [
        Self::PLEDGED,
        Self::BACKERS,
        Self::GOAL,
        Self::COMMENTS,
        Self::SPEND,
        Self::IMPRESSIONS,
        Self::CLICKS,
        Self::PURCHASES,
        Self::PURCHASE_VALUE,
    ];

    /// A metric from a name known to be valid (one of the constants above).
    pub fn known(name: &'static str) -> Metric {
        Metric(name.to_owned())
    }

    /// The metric's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The error for a metric name outside `[a-z0-9_]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metric name `{0}`: use 1-64 lower-case letters, digits or `_`")]
pub struct InvalidMetric(pub String);

impl FromStr for Metric {
    type Err = InvalidMetric;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Metric(s.to_owned()))
        } else {
            Err(InvalidMetric(s.to_owned()))
        }
    }
}

impl TryFrom<String> for Metric {
    type Error = InvalidMetric;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Metric> for String {
    fn from(m: Metric) -> String {
        m.0
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One observation: the value of a metric of a project on a platform at `ts`
/// (epoch seconds). Unique on (project, platform, metric, ts), so storing the
/// same point twice is a no-op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Whose number it is.
    pub project_id: ProjectId,
    /// Where it came from.
    pub platform: Platform,
    /// What it measures.
    pub metric: Metric,
    /// When it was observed, in epoch seconds.
    pub ts: i64,
    /// The value.
    pub value: f64,
}

/// How the points inside one `step` bucket of a series become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// The latest point of the bucket (right for cumulative counters).
    #[default]
    Last,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The mean.
    Avg,
}

impl FromStr for Agg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "last" => Ok(Agg::Last),
            "min" => Ok(Agg::Min),
            "max" => Ok(Agg::Max),
            "avg" => Ok(Agg::Avg),
            _ => Err(format!("unknown agg `{s}` (expected last, min, max or avg)")),
        }
    }
}

/// What a project's counters did over a range, summed over platforms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// The latest value of each metric at the end of the range.
    pub latest: BTreeMap<String, f64>,
    /// The change of each metric over the range: its value at the end minus
    /// its value at the start (0 when the metric had not been observed yet).
    pub delta: BTreeMap<String, f64>,
}

/// The latest value of one (platform, metric) of a project at some moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Where it came from.
    pub platform: Platform,
    /// What it measures.
    pub metric: Metric,
    /// When it was observed, epoch seconds.
    pub ts: i64,
    /// The value.
    pub value: f64,
}

impl Totals {
    /// Totals over a range from the observations at its end and at its start
    /// (each: the latest value per platform and metric at that moment).
    /// Values of one metric from several platforms add up (pledges on
    /// Kickstarter and Indiegogo are one campaign's money). A metric not yet
    /// observed at the start counts from 0 there.
    pub fn from_observations(end: &[Observation], start: &[Observation]) -> Totals {
        let mut t = Totals::default();
        for o in end {
            let before =
                start.iter().find(|s| s.platform == o.platform && s.metric == o.metric).map_or(0.0, |s| s.value);
            *t.latest.entry(o.metric.0.clone()).or_insert(0.0) += o.value;
            *t.delta.entry(o.metric.0.clone()).or_insert(0.0) += o.value - before;
        }
        t
    }
}

/// Reduces points sorted by time to one value per `step`-second bucket
/// (bucket start = ts rounded down to a multiple of `step`).
pub fn downsample(points: &[(i64, f64)], step: i64, agg: Agg) -> Vec<(i64, f64)> {
    let weighted: Vec<(i64, f64, f64)> = points.iter().map(|&(t, v)| (t, v, 1.0)).collect();
    downsample_weighted(&weighted, step, agg)
}

/// [`downsample`] for samples that stand for several points each (an
/// hourly rollup's mean stands for `count` points): `(ts, value, weight)`.
/// The weight matters only to `avg`.
pub fn downsample_weighted(points: &[(i64, f64, f64)], step: i64, agg: Agg) -> Vec<(i64, f64)> {
    let step = step.max(1);
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut weight = 0.0f64;
    for &(ts, v, w) in points {
        let bucket = ts.div_euclid(step) * step;
        match out.last_mut() {
            Some((b, acc)) if *b == bucket => {
                weight += w;
                *acc = match agg {
                    Agg::Last => v,
                    Agg::Min => acc.min(v),
                    Agg::Max => acc.max(v),
                    // Running weighted mean.
                    Agg::Avg => *acc + (v - *acc) * w / weight,
                };
            }
            _ => {
                out.push((bucket, v));
                weight = w;
            }
        }
    }
    out
}

/// The derived figures of a project over a range. `None` where an input is
/// missing or a denominator is zero: a dashboard shows "—", never `inf`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// Return on ad spend: Δpurchase_value / Δspend.
    pub roas: Option<f64>,
    /// Blended RoAS: Δpledged / Δspend (all pledges, attributed or not).
    pub blended_roas: Option<f64>,
    /// Ad spend per new backer: Δspend / Δbackers.
    pub cost_per_backer: Option<f64>,
    /// Percent of the goal pledged: latest pledged / latest goal × 100.
    pub funded_pct: Option<f64>,
}

/// `num / den`, or `None` when either is missing or the result is not finite.
pub fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    let (n, d) = (num?, den?);
    if d == 0.0 {
        return None;
    }
    let r = n / d;
    r.is_finite().then_some(r)
}

impl Derived {
    /// Computes the derived figures from a range's totals.
    pub fn from_totals(t: &Totals) -> Derived {
        let delta = |m: &str| t.delta.get(m).copied();
        let latest = |m: &str| t.latest.get(m).copied();
        Derived {
            roas: ratio(delta(Metric::PURCHASE_VALUE), delta(Metric::SPEND)),
            blended_roas: ratio(delta(Metric::PLEDGED), delta(Metric::SPEND)),
            cost_per_backer: ratio(delta(Metric::SPEND), delta(Metric::BACKERS)),
            funded_pct: ratio(latest(Metric::PLEDGED), latest(Metric::GOAL)).map(|r| r * 100.0),
        }
    }

    /// The derived figures by name, as the API calls them.
    pub fn named(&self) -> [(&'static str, Option<f64>); 4] {
        [
            (Derived::ROAS, self.roas),
            (Derived::BLENDED_ROAS, self.blended_roas),
            (Derived::COST_PER_BACKER, self.cost_per_backer),
            (Derived::FUNDED_PCT, self.funded_pct),
        ]
    }

    /// Why each figure that is absent is: an input that could not be
    /// converted into the reporting currency (its reason in `unavailable`),
    /// an input never observed, or a denominator that did not move.
    pub fn reasons(&self, t: &Totals, unavailable: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, value) in self.named() {
            if value.is_some() {
                continue;
            }
            let Some((num, den, of_delta)) = Derived::inputs(name) else { continue };
            let values = if of_delta { &t.delta } else { &t.latest };
            let reason = [num, den]
                .iter()
                .find_map(|m| unavailable.get(*m).cloned())
                .or_else(|| [num, den].iter().find(|m| !values.contains_key(**m)).map(|m| format!("no {m} observed")))
                .unwrap_or_else(|| {
                    if of_delta {
                        format!("{den} did not change in the range")
                    } else {
                        format!("{den} is 0")
                    }
                });
            out.insert(name.to_owned(), reason);
        }
        out
    }

    /// The figures' names.
    pub const NAMES: [&'static str; 4] =
        [Derived::ROAS, Derived::BLENDED_ROAS, Derived::COST_PER_BACKER, Derived::FUNDED_PCT];

    /// Return on ad spend.
    pub const ROAS: &'static str = "roas";
    /// Blended RoAS.
    pub const BLENDED_ROAS: &'static str = "blended_roas";
    /// Ad spend per new backer.
    pub const COST_PER_BACKER: &'static str = "cost_per_backer";
    /// Percent of the goal pledged.
    pub const FUNDED_PCT: &'static str = "funded_pct";

    /// A derived figure's numerator and denominator, and whether it divides
    /// their changes over the range (else their latest values).
    pub fn inputs(name: &str) -> Option<(&'static str, &'static str, bool)> {
        match name {
            Derived::ROAS => Some((Metric::PURCHASE_VALUE, Metric::SPEND, true)),
            Derived::BLENDED_ROAS => Some((Metric::PLEDGED, Metric::SPEND, true)),
            Derived::COST_PER_BACKER => Some((Metric::SPEND, Metric::BACKERS, true)),
            Derived::FUNDED_PCT => Some((Metric::PLEDGED, Metric::GOAL, false)),
            _ => None,
        }
    }

    /// Sets one figure by name (an unknown name changes nothing).
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        match name {
            Derived::ROAS => self.roas = value,
            Derived::BLENDED_ROAS => self.blended_roas = value,
            Derived::COST_PER_BACKER => self.cost_per_backer = value,
            Derived::FUNDED_PCT => self.funded_pct = value,
            _ => {}
        }
    }

    /// One figure by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.named().into_iter().find(|(n, _)| *n == name).and_then(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(latest: &[(&str, f64)], delta: &[(&str, f64)]) -> Totals {
        Totals {
            latest: latest.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            delta: delta.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn derived_metrics_are_ratios_of_deltas() {
        let t = totals(
            &[("pledged", 15_000.0), ("goal", 10_000.0)],
            &[("pledged", 6_000.0), ("spend", 1_500.0), ("purchase_value", 4_500.0), ("backers", 60.0)],
        );
        let d = Derived::from_totals(&t);
        assert_eq!(d.roas, Some(3.0));
        assert_eq!(d.blended_roas, Some(4.0));
        assert_eq!(d.cost_per_backer, Some(25.0));
        assert_eq!(d.funded_pct, Some(150.0));
    }

    #[test]
    fn division_by_zero_gives_none() {
        let t =
            totals(&[("pledged", 100.0), ("goal", 0.0)], &[("spend", 0.0), ("purchase_value", 10.0), ("backers", 0.0)]);
        let d = Derived::from_totals(&t);
        assert_eq!(d.roas, None, "no spend: no RoAS");
        assert_eq!(d.cost_per_backer, None, "no new backers: no cost per backer");
        assert_eq!(d.funded_pct, None, "zero goal: no funded percent");
    }

    #[test]
    fn missing_data_gives_none() {
        let d = Derived::from_totals(&Totals::default());
        assert_eq!(d, Derived::default());
        // Spend but no pledges tracked: blended RoAS unknown, not zero.
        let d = Derived::from_totals(&totals(&[], &[("spend", 50.0)]));
        assert_eq!(d.blended_roas, None);
        assert_eq!(d.roas, None);
    }

    #[test]
    fn zero_numerator_is_a_real_zero() {
        let d = Derived::from_totals(&totals(&[], &[("spend", 50.0), ("purchase_value", 0.0)]));
        assert_eq!(d.roas, Some(0.0));
    }

    fn obs(platform: Platform, metric: &str, value: f64) -> Observation {
        Observation { platform, metric: Metric(metric.into()), ts: 0, value }
    }

    #[test]
    fn totals_sum_platforms_and_count_unseen_metrics_from_zero() {
        let end = [
            obs(Platform::Kickstarter, "pledged", 1000.0),
            obs(Platform::Indiegogo, "pledged", 500.0),
            obs(Platform::MetaAds, "spend", 300.0),
        ];
        let start = [obs(Platform::Kickstarter, "pledged", 400.0)];
        let t = Totals::from_observations(&end, &start);
        assert_eq!(t.latest.get("pledged"), Some(&1500.0));
        // Kickstarter grew by 600, Indiegogo was not seen at the start: +500.
        assert_eq!(t.delta.get("pledged"), Some(&1100.0));
        assert_eq!(t.delta.get("spend"), Some(&300.0));
    }

    #[test]
    fn downsampling_buckets_by_step() {
        let pts = [(0, 1.0), (30, 5.0), (59, 3.0), (60, 10.0), (125, 7.0), (130, 9.0)];
        assert_eq!(downsample(&pts, 60, Agg::Last), vec![(0, 3.0), (60, 10.0), (120, 9.0)]);
        assert_eq!(downsample(&pts, 60, Agg::Min), vec![(0, 1.0), (60, 10.0), (120, 7.0)]);
        assert_eq!(downsample(&pts, 60, Agg::Max), vec![(0, 5.0), (60, 10.0), (120, 9.0)]);
        assert_eq!(downsample(&pts, 60, Agg::Avg), vec![(0, 3.0), (60, 10.0), (120, 8.0)]);
        assert!(downsample(&[], 60, Agg::Avg).is_empty());
        // A rollup standing for three points weighs three times as much.
        let w = [(0, 10.0, 3.0), (10, 2.0, 1.0)];
        assert_eq!(downsample_weighted(&w, 60, Agg::Avg), vec![(0, 8.0)]);
    }

    #[test]
    fn metric_names_are_validated() {
        assert!("pledged".parse::<Metric>().is_ok());
        assert!("followers_2".parse::<Metric>().is_ok());
        assert!("".parse::<Metric>().is_err());
        assert!("Pledged".parse::<Metric>().is_err());
        assert!("a b".parse::<Metric>().is_err());
        assert!("x".repeat(65).parse::<Metric>().is_err());
    }

    #[test]
    fn agg_parses() {
        assert_eq!("avg".parse::<Agg>(), Ok(Agg::Avg));
        assert!("median".parse::<Agg>().is_err());
    }
}
