//! What operators read: freshness, the cluster, event streams.

use serde::{Deserialize, Serialize};
use trawler_actors as actors;
use utoipa::{IntoParams, ToSchema};

use super::wire::{Freshness, ProjectStatus};

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
    pub project_id: i64,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: ProjectStatus,
    /// Its full-scrape slots and how they went.
    #[serde(flatten)]
    pub freshness: Freshness,
    /// Whether its full-scrape share is under the target.
    pub below_target: bool,
    /// Its fast-poll slots and how they went: kept in memory for the last
    /// day since the node started, so absent for a window this node has not
    /// seen (or a project without polls).
    pub polls: Option<Freshness>,
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
    pub coordinator: CoordinatorView,
}
/// What the coordinator saw at its last round.
#[derive(Serialize, ToSchema)]
pub struct CoordinatorView {
    /// Whether projects are shared out by leases (PostgreSQL).
    pub leases: bool,
    /// Live nodes, this one included.
    pub nodes_alive: usize,
    /// Active projects in the database.
    pub active_projects: i64,
    /// The share this node aims at: `ceil(active / alive)`.
    pub fair_share: usize,
    /// Projects this node holds.
    pub held: usize,
    /// Leases taken since start.
    pub acquired_total: u64,
    /// Leases handed back since start (rebalancing, archived projects).
    pub released_total: u64,
    /// Leases found taken by another node (this node missed heartbeats).
    pub lost_total: u64,
    /// When the last round succeeded, epoch ms.
    pub last_round_ms: Option<i64>,
    /// When the last census of leases and projects was taken, epoch ms
    /// (at most a tenth of the time: seconds apart on a big database).
    pub last_census_ms: Option<i64>,
    /// How long that census's reads took, ms.
    pub census_took_ms: Option<i64>,
    /// The last round's error, if it failed.
    pub last_error: Option<String>,
}

impl From<actors::CoordinatorView> for CoordinatorView {
    fn from(c: actors::CoordinatorView) -> CoordinatorView {
        let actors::CoordinatorView {
            leases,
            nodes_alive,
            active_projects,
            fair_share,
            held,
            acquired_total,
            released_total,
            lost_total,
            last_round_ms,
            last_census_ms,
            census_took_ms,
            last_error,
        } = c;
        CoordinatorView {
            leases,
            nodes_alive,
            active_projects,
            fair_share,
            held,
            acquired_total,
            released_total,
            lost_total,
            last_round_ms,
            last_census_ms,
            census_took_ms,
            last_error,
        }
    }
}
