//! Monitors on the numbers: rules that watch each source's metrics as they
//! arrive and raise an alert when something looks wrong or worth telling —
//! a metric that stands still while its campaign is live (stale), one that
//! goes down by more than a tolerance (drop) or moves more than N× in one
//! fetch (jump), one that a fetch stopped reporting (missing), and a
//! milestone crossed (100% funded, a spend threshold). Each alert fires
//! once and recovers once.
//!
//! Every platform has default rules (made from the node's settings); a
//! project adds its own, the most specific rule for a monitor, platform and
//! metric winning, and may silence a monitor altogether. The state machine
//! that applies them is in [`track`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::settings::Span;
use crate::{Metric, Platform};

pub mod track;

pub use track::{AlertKey, OpenAlert, Track, Transition};

/// What a monitor watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    /// A metric unchanged for longer than a duration while its campaign is
    /// live.
    Stale,
    /// A metric that went down by more than a tolerance.
    Drop,
    /// A metric that moved by more than a factor in one fetch.
    Jump,
    /// A metric that a successful fetch no longer reports.
    Missing,
    /// A threshold crossed (a share of the goal, a spend).
    Milestone,
}

impl MonitorKind {
    /// Every monitor, in display order.
    pub const ALL: [MonitorKind; 5] =
        [MonitorKind::Stale, MonitorKind::Drop, MonitorKind::Jump, MonitorKind::Missing, MonitorKind::Milestone];

    /// Its name in the API, the database and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Stale => "stale",
            MonitorKind::Drop => "drop",
            MonitorKind::Jump => "jump",
            MonitorKind::Missing => "missing",
            MonitorKind::Milestone => "milestone",
        }
    }

    /// The webhook event an alert of this monitor sends when it fires.
    pub fn event(self) -> &'static str {
        match self {
            MonitorKind::Stale => "project.data_stale",
            MonitorKind::Drop | MonitorKind::Jump | MonitorKind::Missing => "project.anomaly",
            MonitorKind::Milestone => "project.milestone",
        }
    }
}

/// The webhook event of an alert that recovered (any monitor).
pub const RECOVERED_EVENT: &str = "project.monitor_recovered";

impl fmt::Display for MonitorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MonitorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MonitorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown monitor `{s}` (expected stale, drop, jump, missing or milestone)"))
    }
}

/// The derived metric a funding milestone watches: pledged / goal × 100.
pub const FUNDED_PCT: &str = "funded_pct";

/// The metrics a platform reports (`None`: any, as its source maps them).
pub fn platform_metrics(platform: Platform) -> Option<&'static [&'static str]> {
    match platform {
        Platform::Kickstarter => Some(&[Metric::PLEDGED, Metric::BACKERS, Metric::GOAL, Metric::COMMENTS]),
        Platform::Indiegogo => Some(&[Metric::PLEDGED, Metric::BACKERS, Metric::GOAL]),
        Platform::MetaAds => {
            Some(&[Metric::SPEND, Metric::IMPRESSIONS, Metric::CLICKS, Metric::PURCHASES, Metric::PURCHASE_VALUE])
        }
        Platform::HttpJson | Platform::Html => None,
        // The node's own rates: no project watches them.
        Platform::Ecb => Some(&[]),
    }
}

fn crowdfunding(platform: Platform) -> bool {
    matches!(platform, Platform::Kickstarter | Platform::Indiegogo)
}

/// One rule: a monitor, where it applies (a platform, a metric, or every
/// one) and its setting. `off` turns the monitor off where the rule
/// applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The monitor.
    pub monitor: MonitorKind,
    /// The platform it applies to (every one when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The metric it applies to (every one when absent; required for a
    /// milestone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Stale: how long unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Span>,
    /// Drop: the share a metric may go down by (0.05 = 5%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Jump: the largest move in one fetch (10 = ten times up or down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Milestone: the thresholds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at: Vec<f64>,
    /// The monitor is off where this rule applies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off: bool,
}

impl Rule {
    /// How specific the rule is for `platform` and `metric` (`None` when it
    /// does not apply): a metric counts more than a platform.
    fn fits(&self, platform: Platform, metric: &str) -> Option<u8> {
        if self.platform.is_some_and(|p| p != platform) || self.metric.as_deref().is_some_and(|m| m != metric) {
            return None;
        }
        Some(u8::from(self.platform.is_some()) + 2 * u8::from(self.metric.is_some()))
    }
}

/// A project's own monitor settings: rules over the platform defaults, and
/// the monitors silenced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectMonitors {
    /// Its rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Monitors that raise nothing for it.
    #[serde(default)]
    pub silenced: BTreeSet<MonitorKind>,
}

/// The node's default rules, by platform.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorDefaults {
    /// Monitors run at all.
    pub enabled: bool,
    /// Stale after (pledged and backers; spend and impressions of a running
    /// ad account).
    pub stale_after: Span,
    /// Drop tolerance of counters that only grow.
    pub drop_tolerance: f64,
    /// Jump factor of every metric.
    pub jump_factor: f64,
    /// Funding milestones, percent of the goal.
    pub funded_milestones: Vec<f64>,
}

impl Default for MonitorDefaults {
    fn default() -> Self {
        MonitorDefaults {
            enabled: true,
            stale_after: Span::secs(6 * 3600),
            drop_tolerance: 0.05,
            jump_factor: 10.0,
            funded_milestones: vec![100.0, 200.0],
        }
    }
}

/// The rules in force for one source: a project's over its platform's
/// defaults.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The project's own.
    pub project: &'a ProjectMonitors,
    /// The node's.
    pub defaults: &'a MonitorDefaults,
    /// The source's platform.
    pub platform: Platform,
}

impl Rules<'_> {
    /// The project's most specific rule for `monitor` on `metric`, or, when
    /// it has none, whether the default applies (`Err(())`: it does not;
    /// `Ok(None)`: it does, with default settings).
    fn pick(&self, monitor: MonitorKind, metric: &str) -> Option<Option<&Rule>> {
        if !self.defaults.enabled || self.project.silenced.contains(&monitor) {
            return None;
        }
        let best = self
            .project
            .rules
            .iter()
            .filter(|r| r.monitor == monitor)
            .filter_map(|r| r.fits(self.platform, metric).map(|score| (score, r)))
            .max_by_key(|(score, _)| *score)
            .map(|(_, r)| r);
        match best {
            Some(r) if r.off => None,
            Some(r) => Some(Some(r)),
            None => self.default_applies(monitor, metric).then_some(None),
        }
    }

    fn default_applies(&self, monitor: MonitorKind, metric: &str) -> bool {
        let p = self.platform;
        match monitor {
            MonitorKind::Stale => match p {
                _ if crowdfunding(p) => metric == Metric::PLEDGED || metric == Metric::BACKERS,
                Platform::MetaAds => metric == Metric::SPEND || metric == Metric::IMPRESSIONS,
                _ => false,
            },
            MonitorKind::Drop => match p {
                _ if crowdfunding(p) => metric == Metric::PLEDGED || metric == Metric::BACKERS,
                Platform::MetaAds => true,
                _ => false,
            },
            MonitorKind::Jump | MonitorKind::Missing => true,
            MonitorKind::Milestone => crowdfunding(p) && metric == FUNDED_PCT,
        }
    }

    /// Stale: how long `metric` may stand still, ms.
    pub fn stale_after_ms(&self, metric: &str) -> Option<i64> {
        let rule = self.pick(MonitorKind::Stale, metric)?;
        let span = rule.and_then(|r| r.after).unwrap_or(self.defaults.stale_after);
        Some(i64::try_from(span.get().as_millis()).unwrap_or(i64::MAX))
    }

    /// Drop: the share `metric` may go down by.
    pub fn drop_tolerance(&self, metric: &str) -> Option<f64> {
        let rule = self.pick(MonitorKind::Drop, metric)?;
        Some(rule.and_then(|r| r.tolerance).unwrap_or(self.defaults.drop_tolerance))
    }

    /// Jump: the largest factor `metric` may move by in one fetch.
    pub fn jump_factor(&self, metric: &str) -> Option<f64> {
        let rule = self.pick(MonitorKind::Jump, metric)?;
        Some(rule.and_then(|r| r.factor).unwrap_or(self.defaults.jump_factor))
    }

    /// Missing: whether `metric` is watched for going missing.
    pub fn missing(&self, metric: &str) -> bool {
        self.pick(MonitorKind::Missing, metric).is_some()
    }

    /// Milestones: each watched metric with its thresholds.
    pub fn milestones(&self) -> Vec<(String, Vec<f64>)> {
        let mut metrics: BTreeSet<String> = self
            .project
            .rules
            .iter()
            .filter(|r| r.monitor == MonitorKind::Milestone && r.platform.is_none_or(|p| p == self.platform))
            .filter_map(|r| r.metric.clone())
            .collect();
        if crowdfunding(self.platform) {
            metrics.insert(FUNDED_PCT.to_owned());
        }
        metrics
            .into_iter()
            .filter_map(|m| {
                let at = match self.pick(MonitorKind::Milestone, &m)? {
                    Some(rule) => rule.at.clone(),
                    None => self.defaults.funded_milestones.clone(),
                };
                (!at.is_empty()).then_some((m, at))
            })
            .collect()
    }
}

/// The most rules a project holds.
pub const MAX_RULES: usize = 50;
/// The most thresholds a milestone rule holds.
pub const MAX_THRESHOLDS: usize = 20;
/// The longest a stale rule waits.
const LONGEST_STALE: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// A rule as a client writes it, checked by [`ProjectMonitors::parse`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    monitor: String,
    platform: Option<String>,
    metric: Option<String>,
    after: Option<serde_json::Value>,
    tolerance: Option<serde_json::Value>,
    factor: Option<serde_json::Value>,
    at: Option<serde_json::Value>,
    #[serde(default)]
    off: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorsText {
    #[serde(default)]
    rules: Vec<serde_json::Value>,
    #[serde(default)]
    silenced: Vec<serde_json::Value>,
}

/// A number from JSON, finite, within `lo..=hi`.
fn number(field: &str, value: &serde_json::Value, lo: f64, hi: f64, range: &str) -> Result<f64, String> {
    match value.as_f64() {
        Some(v) if v.is_finite() && v >= lo && v <= hi => Ok(v),
        _ => Err(format!("`{field}` must be a number {range}, not {value}")),
    }
}

impl ProjectMonitors {
    /// Reads and checks a client's monitor settings (the field is named
    /// `monitors` in messages). `min_stale` is the shortest stale duration
    /// allowed.
    pub fn parse(value: &serde_json::Value, min_stale: std::time::Duration) -> Result<ProjectMonitors, String> {
        let text: MonitorsText =
            serde_json::from_value(value.clone()).map_err(|e| format!("`monitors`: {e} (fields: rules, silenced)"))?;
        if text.rules.len() > MAX_RULES {
            return Err(format!("`monitors.rules` holds at most {MAX_RULES} rules"));
        }
        let mut rules = Vec::with_capacity(text.rules.len());
        for (i, raw) in text.rules.iter().enumerate() {
            rules.push(parse_rule(&format!("monitors.rules[{i}]"), raw, min_stale)?);
        }
        let mut silenced = BTreeSet::new();
        for (i, raw) in text.silenced.iter().enumerate() {
            let field = format!("monitors.silenced[{i}]");
            let name = raw.as_str().ok_or_else(|| format!("`{field}` must be a monitor name"))?;
            silenced.insert(name.parse::<MonitorKind>().map_err(|e| format!("`{field}`: {e}"))?);
        }
        Ok(ProjectMonitors { rules, silenced })
    }
}

fn parse_rule(field: &str, raw: &serde_json::Value, min_stale: std::time::Duration) -> Result<Rule, String> {
    let text: RuleText = serde_json::from_value(raw.clone()).map_err(|e| {
        format!("`{field}`: {e} (fields: monitor, platform, metric, after, tolerance, factor, at, off)")
    })?;
    let monitor = text.monitor.parse::<MonitorKind>().map_err(|e| format!("`{field}.monitor`: {e}"))?;
    let platform = text
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| format!("`{field}.platform`: {e}"))?;
    let metric = match text.metric.as_deref() {
        None => None,
        Some(m) => Some(check_metric(&format!("{field}.metric"), monitor, platform, m)?),
    };
    let only = |name: &str, kind: MonitorKind, present: bool| {
        if present && monitor != kind {
            Err(format!("`{field}.{name}` goes with monitor `{kind}` only"))
        } else {
            Ok(())
        }
    };
    only("after", MonitorKind::Stale, text.after.is_some())?;
    only("tolerance", MonitorKind::Drop, text.tolerance.is_some())?;
    only("factor", MonitorKind::Jump, text.factor.is_some())?;
    only("at", MonitorKind::Milestone, text.at.is_some())?;
    let after = match &text.after {
        None => None,
        Some(v) => {
            let range = format!(
                "`{field}.after` must be a duration between {} and 365d",
                Span::new(min_stale).map_or_else(|_| format!("{min_stale:?}"), |s| s.to_string())
            );
            let span = v.as_str().and_then(|s| Span::parse(s).ok()).ok_or_else(|| range.clone())?;
            if span.get() < min_stale || span.get() > LONGEST_STALE {
                return Err(range);
            }
            Some(span)
        }
    };
    let tolerance = text
        .tolerance
        .as_ref()
        .map(|v| number(&format!("{field}.tolerance"), v, 0.0, 1.0, "from 0 to 1"))
        .transpose()?;
    let factor = text
        .factor
        .as_ref()
        .map(|v| number(&format!("{field}.factor"), v, 1.01, 1e6, "from 1.01 to 1000000"))
        .transpose()?;
    let at = match &text.at {
        None => Vec::new(),
        Some(v) => {
            let items = v.as_array().ok_or_else(|| format!("`{field}.at` must be a list of numbers"))?;
            if items.is_empty() || items.len() > MAX_THRESHOLDS {
                return Err(format!("`{field}.at` must hold 1 to {MAX_THRESHOLDS} numbers"));
            }
            let mut at = items
                .iter()
                .enumerate()
                .map(|(j, v)| number(&format!("{field}.at[{j}]"), v, -1e15, 1e15, "between -1e15 and 1e15"))
                .collect::<Result<Vec<f64>, String>>()?;
            at.sort_by(f64::total_cmp);
            at.dedup();
            at
        }
    };
    if monitor == MonitorKind::Milestone && !text.off {
        if metric.is_none() {
            return Err(format!("`{field}.metric` is required for a milestone (`{FUNDED_PCT}` or a metric)"));
        }
        if at.is_empty() {
            return Err(format!("`{field}.at` is required for a milestone: a list of numbers"));
        }
    }
    Ok(Rule { monitor, platform, metric, after, tolerance, factor, at, off: text.off })
}

/// Checks that `metric` exists where a rule puts it.
fn check_metric(field: &str, monitor: MonitorKind, platform: Option<Platform>, metric: &str) -> Result<String, String> {
    if metric == FUNDED_PCT {
        return match (monitor, platform) {
            (MonitorKind::Milestone, None) => Ok(metric.to_owned()),
            (MonitorKind::Milestone, Some(p)) if crowdfunding(p) => Ok(metric.to_owned()),
            _ => Err(format!("`{field}`: `{FUNDED_PCT}` is a milestone of kickstarter and indiegogo campaigns only")),
        };
    }
    let parsed = metric.parse::<Metric>().map_err(|e| format!("`{field}`: {e}"))?;
    let known = match platform {
        Some(p) => platform_metrics(p),
        None => None,
    };
    match known {
        Some(list) if !list.contains(&parsed.as_str()) => Err(format!(
            "`{field}`: {} reports no metric `{metric}` (it reports {})",
            platform.map_or("", Platform::as_str),
            list.join(", ")
        )),
        _ => Ok(parsed.as_str().to_owned()),
    }
}

#[cfg(test)]
mod tests;

/// A jump factor as a setting: more than 1, at most a million.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Factor(f64);

impl Factor {
    /// `v` (checked when the program is built).
    pub const fn of(v: f64) -> Factor {
        assert!(v >= 1.01 && v <= 1e6, "a factor outside its bounds");
        Factor(v)
    }

    /// The factor.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl crate::settings::Show for Factor {
    fn show(&self) -> String {
        self.0.to_string()
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Factor, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && (1.01..=1e6).contains(&v) {
            Ok(Factor(v))
        } else {
            Err(serde::de::Error::custom(format!("`{v}` must be a factor from 1.01 to 1000000")))
        }
    }
}
