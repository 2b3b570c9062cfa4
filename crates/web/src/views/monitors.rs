//! Monitors on the numbers: a project's rules and its alerts.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A project's monitor settings, with the node's defaults they override.
#[derive(Serialize, ToSchema)]
pub struct MonitorsView {
    /// The project.
    pub project_id: i64,
    /// Its own rules: `{monitor, platform?, metric?, after? (stale),
    /// tolerance? (drop), factor? (jump), at? (milestone), off?}`; the most
    /// specific rule for a monitor, platform and metric wins over the
    /// defaults.
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
    /// Monitors that raise nothing for it.
    pub silenced: Vec<String>,
    /// The node's defaults.
    pub defaults: MonitorDefaultsView,
}

/// The node's monitor defaults (settings `TRAWLER_MONITOR_*`).
#[derive(Serialize, ToSchema)]
pub struct MonitorDefaultsView {
    /// Monitors run at all (`TRAWLER_MONITORS`).
    pub enabled: bool,
    /// Stale after this long unchanged (pledged and backers of a live
    /// campaign; spend and impressions of a running ad account).
    #[schema(example = "6h")]
    pub stale_after: String,
    /// The share a counter that only grows may go down by.
    pub drop_tolerance: f64,
    /// The factor any metric may move by in one fetch.
    pub jump_factor: f64,
    /// Funding milestones, percent of the goal.
    pub funded_milestones: Vec<f64>,
}

/// `PUT /projects/{id}/monitors`: the project's rules and silenced
/// monitors, replacing the ones it had (an empty body: the defaults alone).
#[derive(Deserialize, ToSchema)]
pub struct PutMonitors {
    /// Rules, at most 50.
    #[schema(value_type = Option<Vec<Object>>, max_items = 50)]
    pub rules: Option<Value>,
    /// Monitors to silence: `stale`, `drop`, `jump`, `missing`, `milestone`.
    pub silenced: Option<Vec<String>>,
}

/// An alert raised by a monitor.
#[derive(Serialize, ToSchema)]
pub struct AlertView {
    /// Its id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The source whose numbers raised it.
    pub source_id: i64,
    /// Its platform.
    pub platform: String,
    /// `stale`, `drop`, `jump`, `missing` or `milestone`.
    pub monitor: String,
    /// The metric (`funded_pct` for a funding milestone).
    pub metric: String,
    /// A milestone's threshold.
    pub threshold: Option<String>,
    /// `open` or `recovered`.
    pub state: String,
    /// The value when it fired.
    pub value: Option<f64>,
    /// The level it was measured against (the value before a drop or a
    /// jump, a milestone's threshold).
    pub level: Option<f64>,
    /// What happened.
    pub detail: String,
    /// When it fired, epoch ms.
    pub fired_at_ms: i64,
    /// When it recovered, epoch ms.
    pub recovered_at_ms: Option<i64>,
    /// How it recovered.
    pub recovered_detail: Option<String>,
}

impl From<trawler_store::Alert> for AlertView {
    fn from(a: trawler_store::Alert) -> AlertView {
        AlertView {
            id: a.id,
            project_id: a.project_id.0,
            source_id: a.source_id,
            platform: a.platform.as_str().to_owned(),
            monitor: a.key.monitor.as_str().to_owned(),
            metric: a.key.metric,
            threshold: Some(a.key.at).filter(|t| !t.is_empty()),
            state: if a.recovered_at_ms.is_some() { "recovered" } else { "open" }.to_owned(),
            value: a.value,
            level: a.level,
            detail: a.detail,
            fired_at_ms: a.fired_at_ms,
            recovered_at_ms: a.recovered_at_ms,
            recovered_detail: a.recovered_detail,
        }
    }
}

/// `GET /projects/{id}/alerts`.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    /// The project.
    pub project_id: i64,
    /// Its alerts, newest first.
    pub alerts: Vec<AlertView>,
}

/// Which alerts to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open` (the default) or `all`.
    pub state: Option<String>,
    /// At most this many (1 to 1000; 100 by default).
    pub limit: Option<String>,
}
