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
    /// The metric: `pledged`, `backers`, `spend`, …
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
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}

/// One platform's line of a series.
#[derive(Serialize, ToSchema)]
pub struct SeriesLine {
    /// The platform.
    pub platform: Platform,
    /// `[ts, value]` pairs, `ts` in epoch seconds.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
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
