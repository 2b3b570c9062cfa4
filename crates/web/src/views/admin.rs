//! What operators read: platforms, freshness, actors, the cluster, events.

use serde::{Deserialize, Serialize};
use trawler_domain::ProjectId;
use utoipa::{IntoParams, ToSchema};

/// Each platform's gate, and its capacity: what its active sources need
/// against its rate budget.
#[derive(Serialize, ToSchema)]
pub struct PlatformsView {
    /// The gates.
    #[serde(flatten)]
    pub gates: trawler_actors::GatesSnapshot,
    /// One entry per platform.
    pub capacity: Vec<trawler_domain::capacity::Capacity>,
    /// The warnings of the entries over 90% of their budget.
    pub warnings: Vec<String>,
}

/// `?window=` of the freshness list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FreshnessParams {
    /// `24h` (default) or `7d`, ending now (or at `to`).
    #[param(pattern = "^(24h|7d)$")]
    pub window: Option<String>,
    /// Instead of `window`: the start, epoch seconds or RFC 3339.
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// The end, epoch seconds or RFC 3339 (default: now; later is cut to now).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
}

/// One project's freshness over the window.
#[derive(Serialize, ToSchema)]
pub struct FreshnessRow {
    /// The project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: trawler_domain::ProjectStatus,
    /// Its full-scrape slots and how they went.
    #[serde(flatten)]
    pub freshness: trawler_domain::slo::Freshness,
    /// Whether its full-scrape share is under the target.
    pub below_target: bool,
    /// Its fast-poll slots and how they went: kept in memory for the last
    /// day since the node started, so absent for a window this node has not
    /// seen (or a project without polls).
    pub polls: Option<trawler_domain::slo::Freshness>,
    /// Whether its poll share is under the target.
    pub polls_below_target: bool,
}

/// Every active or quarantined project's freshness, worst first.
#[derive(Serialize, ToSchema)]
pub struct FreshnessList {
    /// The window, in seconds.
    pub window_secs: i64,
    /// Its start, epoch ms.
    pub from_ms: i64,
    /// Its end, epoch ms.
    pub to_ms: i64,
    /// The target share (`TRAWLER_SLO_TARGET`).
    pub target: f64,
    /// The projects, lowest share first.
    pub projects: Vec<FreshnessRow>,
}

/// `GET /admin/actors` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActorsParams {
    /// Another live node of the cluster, whose tree this node fetches
    /// (default: the node answering).
    pub node: Option<String>,
}

/// `?token=` of the event streams.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// A read token or the admin token, for EventSource (which cannot send
    /// an Authorization header).
    pub token: Option<String>,
}

/// The query of `/admin/events`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminEventsParams {
    /// Also every project's points (many per second on a busy node).
    pub points: Option<bool>,
}

/// One node of the registry.
#[derive(Serialize, ToSchema)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// The version it runs.
    pub version: String,
    /// When it started, epoch ms.
    pub started_at_ms: i64,
    /// Its latest heartbeat, epoch ms.
    pub heartbeat_at_ms: i64,
    /// When it shut down cleanly, if it did.
    pub stopped_at_ms: Option<i64>,
    /// Heartbeating (within the TTL) and not stopped.
    pub alive: bool,
    /// Whether it is the node answering.
    pub this_node: bool,
    /// Projects it scrapes (known for the node answering).
    pub scrapers: Option<usize>,
    /// Project leases it holds (PostgreSQL; 0 for a node that is gone).
    pub leases: i64,
}

/// `GET /api/v1/admin/cluster`.
#[derive(Serialize, ToSchema)]
pub struct ClusterView {
    /// The node answering.
    pub node: String,
    /// `sqlite` (one node) or `postgres`.
    pub backend: String,
    /// How often nodes heartbeat, ms.
    pub heartbeat_ms: i64,
    /// Silence after which a node counts as gone, ms.
    pub ttl_ms: i64,
    /// Every node that has run on this database, by name.
    pub nodes: Vec<NodeView>,
    /// Projects leased by a live node, out of `active_projects`.
    pub leased: i64,
    /// Active projects.
    pub active_projects: i64,
    /// What this node's coordinator saw at its last round: live nodes,
    /// its fair share, leases taken and handed back.
    pub coordinator: trawler_actors::CoordinatorView,
}
