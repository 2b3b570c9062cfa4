//! Series, summaries and exports of a project's numbers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use super::wire::{Agg, Derived, Freshness, Observation, Platform};

/// The query of `GET /projects/{id}/series`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// The metric: `pledged`, `backers`, `spend`, …, or a derived figure:
    /// `roas`, `blended_roas`, `cost_per_backer`, `funded_pct` (these need a
    /// `step`).
    #[param(required = true, value_type = String, pattern = "^[a-z0-9_]{1,64}$")]
    pub metric: Option<String>,
    /// Start, epoch seconds or RFC 3339 (default: `to` minus 7 days).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// End, epoch seconds or RFC 3339 (default: now).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
    /// Bucket width in seconds, up to a year; at most 100,000 buckets per
    /// series. Without it, raw points.
    #[param(minimum = 1, maximum = 31_622_400)]
    pub step: Option<i64>,
    /// `last` (default), `min`, `max` or `avg` per bucket.
    #[param(value_type = Option<Agg>)]
    pub agg: Option<String>,
    /// One platform only.
    #[param(value_type = Option<Platform>)]
    pub platform: Option<String>,
    /// For a derived figure: `cumulative` (the default: each bucket's value
    /// is the figure from `from` to the bucket's end, as the summary over
    /// that range gives it) or `bucket` (the figure over each bucket alone).
    #[param(pattern = "^(cumulative|bucket)$")]
    pub over: Option<String>,
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}

/// One platform's line of a series.
#[derive(Serialize, ToSchema)]
pub struct SeriesLine {
    /// The platform; `null` for a derived figure (computed across them).
    pub platform: Option<Platform>,
    /// The currency of the values, for money (ISO 4217): the source's for a
    /// platform's line, the reporting currency for a derived figure.
    pub currency: Option<String>,
    /// `[ts, value]` pairs, `ts` in epoch seconds.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
}

/// Slots of a line without a point (or of a derived series without a
/// value), one cause for all of them.
#[derive(Serialize, ToSchema)]
pub struct Gap {
    /// The first empty slot's start, epoch seconds.
    pub ts: i64,
    /// The end of the last empty slot (exclusive), epoch seconds.
    pub until: i64,
    /// The line (platform) it belongs to; `null` for a derived figure.
    pub platform: Option<Platform>,
    /// Why, in a word: `archived`, `campaign_ended`, `paused` (the schedule),
    /// `quarantined`, `node_fenced`, `circuit_open` (the platform or its
    /// host was down), `throttled`, `source_edited`, `failed` (the fetch
    /// failed), `not_yet_due` (no scrape was due: before the project's
    /// first, or between the scrapes of a slower metric), `missed` (nothing
    /// was recorded: the node was not running); `no_value` for a derived
    /// figure.
    #[schema(example = "circuit_open")]
    pub cause: String,
    /// Why, for a person: the platform's error, the quarantine's reason, the
    /// input a derived figure lacks.
    pub reason: String,
}

/// A metric over time.
#[derive(Serialize, ToSchema)]
pub struct SeriesResponse {
    /// The project.
    pub project_id: i64,
    /// The metric.
    #[schema(pattern = "^[a-z0-9_]{1,64}$", example = "pledged")]
    pub metric: String,
    /// Start, epoch seconds.
    pub from: i64,
    /// End, epoch seconds.
    pub to: i64,
    /// Bucket width, if downsampled.
    pub step: Option<i64>,
    /// The aggregate per bucket.
    pub agg: Agg,
    /// Whether the raw points were cut at the limit (ask with a `step`).
    pub truncated: bool,
    /// One line per platform.
    pub series: Vec<SeriesLine>,
    /// The slots without a point, each run of them with its cause, by line
    /// then time; `not_yet_due` slots say no point was expected.
    pub gaps: Vec<Gap>,
}

/// The query of `GET /projects/{id}/summary`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// Start of the range, epoch seconds or RFC 3339 (default: the whole history).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// End of the range, epoch seconds or RFC 3339 (default: now).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}

/// A metric's latest value.
#[derive(Serialize, ToSchema)]
pub struct LatestValue {
    /// The value (summed over platforms).
    pub value: f64,
    /// When it was observed, epoch seconds.
    pub ts: Option<i64>,
}

/// How old the exchange rates in use are.
#[derive(Serialize, ToSchema)]
pub struct RatesAge {
    /// The day of the newest rate stored (the ECB's fixing), `YYYY-MM-DD`.
    #[schema(example = "2026-12-04")]
    pub newest: Option<String>,
    /// Seconds since that day began; above about four days the rate source
    /// has been failing (see the `rates` actor in `/admin/actors`), and the
    /// last rates known stay in use.
    pub age_secs: Option<i64>,
}

/// A project's freshness SLO over the last 24 hours.
#[derive(Serialize, ToSchema)]
pub struct SummaryFreshness {
    /// The window, in seconds.
    pub window_secs: i64,
    /// The target share (`TRAWLER_SLO_TARGET`).
    pub target: f64,
    /// Its full-scrape slots: started within 1% of the interval and succeeded.
    pub full: Option<Freshness>,
    /// Its fast-poll slots (kept in memory since the node started).
    pub polls: Option<Freshness>,
    /// Whether the full-scrape share is under the target.
    pub below_target: bool,
}

/// Latest values, changes and derived figures over a range.
#[derive(Serialize, ToSchema)]
pub struct SummaryResponse {
    /// The project.
    pub project_id: i64,
    /// Start of the range, if one was given.
    pub from: Option<i64>,
    /// End of the range.
    pub to: i64,
    /// Each metric's value at `to`.
    pub latest: BTreeMap<String, LatestValue>,
    /// Each metric's change over the range.
    pub delta: BTreeMap<String, f64>,
    /// RoAS, blended RoAS, cost per backer, funded %.
    pub derived: Derived,
    /// The currency of every money figure in `latest`, `delta` and
    /// `derived` (ISO 4217): the project's reporting currency, by default
    /// its campaign's; `null` when no source's currency is known (nothing
    /// is converted).
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Why each figure left out of `latest`, `delta` and `derived` is
    /// absent (an amount without a rate into the reporting currency, an
    /// input never observed, a denominator that did not move).
    pub absent: BTreeMap<String, String>,
    /// The exchange rates the conversions used, when money was converted.
    pub exchange_rates: Option<RatesAge>,
    /// The observations behind `latest`, per platform.
    pub observations: Vec<Observation>,
    /// The project's freshness over the last 24 hours (whatever the range).
    pub freshness: SummaryFreshness,
}

/// The query of the exports.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// One metric only.
    #[param(pattern = "^[a-z0-9_]{1,64}$")]
    pub metric: Option<String>,
    /// Start, epoch seconds or RFC 3339.
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// End, epoch seconds or RFC 3339.
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}
