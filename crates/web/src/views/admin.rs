//! What operators read: platforms, freshness, actors, the cluster, events.

use serde::{Deserialize, Serialize};
use trawler_actors as actors;
use trawler_actors::gates as gate;
use trawler_domain as domain;
use utoipa::{IntoParams, ToSchema};

use super::wire::{mirror_enum, Freshness, Platform, ProjectStatus};

/// Each platform's gate, and its capacity: what its active sources need
/// against its rate budget.
#[derive(Serialize, ToSchema)]
pub struct PlatformsView {
    /// The gates.
    #[serde(flatten)]
    pub gates: GatesSnapshot,
    /// One entry per platform.
    pub capacity: Vec<Capacity>,
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

/// Every gate at once.
#[derive(Serialize, ToSchema)]
pub struct GatesSnapshot {
    /// Requests in flight across platforms now.
    pub in_flight: usize,
    /// The global cap.
    pub max_in_flight: usize,
    /// One entry per platform.
    pub platforms: Vec<GateSnapshot>,
}

impl From<gate::GatesSnapshot> for GatesSnapshot {
    fn from(g: gate::GatesSnapshot) -> GatesSnapshot {
        let gate::GatesSnapshot { in_flight, max_in_flight, platforms } = g;
        GatesSnapshot { in_flight, max_in_flight, platforms: platforms.into_iter().map(GateSnapshot::from).collect() }
    }
}

/// A platform's gate: its rate, circuit, pause and traffic.
#[derive(Serialize, ToSchema)]
pub struct GateSnapshot {
    /// The platform.
    pub platform: Platform,
    /// Requests per second this node lets through: its share of the budget.
    pub rate_per_sec: f64,
    /// The platform's budget for the whole cluster, requests per second.
    pub budget_per_sec: f64,
    /// This node's share of the budget (1 outside cluster mode).
    pub share: f64,
    /// Largest burst the bucket allows.
    pub burst: u32,
    /// Tokens left in the bucket after the last request let through.
    pub tokens: u32,
    /// `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    /// Consecutive platform failures counted by a closed circuit.
    pub consecutive_failures: u32,
    /// Until when an open circuit refuses requests, epoch ms.
    pub circuit_open_until_ms: Option<i64>,
    /// How often the circuit has opened.
    pub circuit_opened_total: u64,
    /// Until when the platform asked us to pause, epoch ms (never more than
    /// `max_pause_secs` after the ask).
    pub paused_until_ms: Option<i64>,
    /// The longest pause a platform's answer can impose, seconds.
    pub max_pause_secs: u64,
    /// The last pause the platform or one of its hosts asked for.
    pub last_pause: Option<PauseAsked>,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Callers waiting for the pause, a token or a slot.
    pub waiting: usize,
    /// Requests let through since start.
    pub passed: u64,
    /// Throttling answers seen since start.
    pub throttled: u64,
    /// Platform failures seen since start.
    pub failures: u64,
    /// Generic platforms: the hosts that are failing, paused or recovering,
    /// each with its own circuit.
    pub hosts: Vec<HostCircuit>,
}

impl From<gate::GateSnapshot> for GateSnapshot {
    fn from(g: gate::GateSnapshot) -> GateSnapshot {
        let gate::GateSnapshot {
            platform,
            rate_per_sec,
            budget_per_sec,
            share,
            burst,
            tokens,
            circuit,
            consecutive_failures,
            circuit_open_until_ms,
            circuit_opened_total,
            paused_until_ms,
            max_pause_secs,
            last_pause,
            in_flight,
            max_in_flight,
            waiting,
            passed,
            throttled,
            failures,
            hosts,
        } = g;
        GateSnapshot {
            platform: platform.into(),
            rate_per_sec,
            budget_per_sec,
            share,
            burst,
            tokens,
            circuit,
            consecutive_failures,
            circuit_open_until_ms,
            circuit_opened_total,
            paused_until_ms,
            max_pause_secs,
            last_pause: last_pause.map(PauseAsked::from),
            in_flight,
            max_in_flight,
            waiting,
            passed,
            throttled,
            failures,
            hosts: hosts.into_iter().map(HostCircuit::from).collect(),
        }
    }
}

/// A host of a generic platform whose circuit is not plainly closed.
#[derive(Serialize, ToSchema)]
pub struct HostCircuit {
    /// `host:port`.
    pub host: String,
    /// `closed` (counting failures), `open` or `half_open`.
    pub circuit: &'static str,
    /// Consecutive failures counted while closed.
    pub consecutive_failures: u32,
    /// Until when an open circuit refuses requests, epoch ms.
    pub circuit_open_until_ms: Option<i64>,
    /// Until when the host asked us to pause, epoch ms.
    pub paused_until_ms: Option<i64>,
    /// How often its circuit has opened.
    pub circuit_opened_total: u64,
}

impl From<gate::HostCircuit> for HostCircuit {
    fn from(h: gate::HostCircuit) -> HostCircuit {
        let gate::HostCircuit {
            host,
            circuit,
            consecutive_failures,
            circuit_open_until_ms,
            paused_until_ms,
            circuit_opened_total,
        } = h;
        HostCircuit {
            host,
            circuit,
            consecutive_failures,
            circuit_open_until_ms,
            paused_until_ms,
            circuit_opened_total,
        }
    }
}

/// The last pause a platform (or one of its hosts) asked for, and what the
/// gate made of it.
#[derive(Serialize, ToSchema)]
pub struct PauseAsked {
    /// The host that asked (generic platforms), or none for the platform.
    pub host: Option<String>,
    /// When it was asked, epoch ms.
    pub at_ms: i64,
    /// The wait asked for, seconds (saturated at the largest integer).
    pub asked_secs: u64,
    /// The wait applied, seconds: the ask, cut to the gate's cap.
    pub applied_secs: u64,
    /// Whether the ask was longer than the cap.
    pub capped: bool,
}

impl From<gate::PauseAsked> for PauseAsked {
    fn from(p: gate::PauseAsked) -> PauseAsked {
        let gate::PauseAsked { host, at_ms, asked_secs, applied_secs, capped } = p;
        PauseAsked { host, at_ms, asked_secs, applied_secs, capped }
    }
}

/// One platform's requirement against its budget.
#[derive(Serialize, ToSchema)]
pub struct Capacity {
    /// The platform.
    pub platform: Platform,
    /// Active sources on it.
    pub sources: u64,
    /// Requests per second the sources need (full scrapes plus polls).
    pub required_per_sec: f64,
    /// Requests per second the node may send (its rate, times live nodes).
    pub budget_per_sec: f64,
    /// `required / budget`.
    pub share: f64,
    /// The shortest poll interval the budget allows with these sources and
    /// this full-scrape cadence, in seconds (`None` when the full scrapes
    /// alone exceed the budget).
    pub min_poll_interval_secs: Option<f64>,
    /// The shortest full-scrape interval the budget allows with these
    /// sources and this poll cadence, in seconds (`None` when the polls
    /// alone exceed the budget).
    pub min_full_interval_secs: Option<f64>,
    /// Set when the share passes 90%: what is wrong and what would fix it.
    pub warning: Option<String>,
}

impl From<domain::capacity::Capacity> for Capacity {
    fn from(c: domain::capacity::Capacity) -> Capacity {
        let domain::capacity::Capacity {
            platform,
            sources,
            required_per_sec,
            budget_per_sec,
            share,
            min_poll_interval_secs,
            min_full_interval_secs,
            warning,
        } = c;
        Capacity {
            platform: platform.into(),
            sources,
            required_per_sec,
            budget_per_sec,
            share,
            min_poll_interval_secs,
            min_full_interval_secs,
            warning,
        }
    }
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
            last_error,
        }
    }
}

/// The whole tree at one moment.
#[derive(Serialize, ToSchema)]
pub struct TreeSnapshot {
    /// The node it describes (`TRAWLER_NODE_NAME`).
    pub node: String,
    /// When it was taken, epoch ms.
    pub taken_at_ms: i64,
    /// The supervisor, registry and ingest actor, then sources, then scrapers by project.
    pub actors: Vec<ActorInfo>,
}

impl From<actors::TreeSnapshot> for TreeSnapshot {
    fn from(t: actors::TreeSnapshot) -> TreeSnapshot {
        let actors::TreeSnapshot { node, taken_at_ms, actors } = t;
        TreeSnapshot { node, taken_at_ms, actors: actors.into_iter().map(ActorInfo::from).collect() }
    }
}

mirror_enum!(
    /// An actor's status.
    ActorStatus = actors::ActorStatus {
        /// Running and waiting for work.
        Idle,
        /// Starting up (loading its state).
        Starting,
        /// Fetching from a platform.
        Scraping,
        /// Writing to the database.
        Flushing,
        /// Waiting before a retry (database or platform down).
        BackingOff,
        /// Running (for actors without finer states).
        Running,
        /// Stopped after crashing too often; waits for an admin to resume it.
        Quarantined,
    }
);

/// One actor in the tree.
#[derive(Serialize, ToSchema)]
pub struct ActorInfo {
    /// `supervisor`, `registry`, `ingest`, `source` or `scraper`.
    pub kind: &'static str,
    /// A readable name (`scraper:42`, `source:kickstarter`).
    pub name: String,
    /// The project, for scrapers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<i64>,
    /// The platform, for source actors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Its status now.
    pub status: ActorStatus,
    /// When its last run started, epoch ms.
    pub last_run_ms: Option<i64>,
    /// When its next run is due, epoch ms.
    pub next_run_ms: Option<i64>,
    /// Times the supervisor restarted it.
    pub restarts: u32,
    /// Requests waiting in its mailbox or in hand, where counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<usize>,
    /// The last error it saw.
    pub last_error: Option<String>,
    /// Kind-specific figures (buffer sizes, counters).
    #[schema(value_type = Option<Object>)]
    pub detail: serde_json::Value,
}

impl From<actors::ActorInfo> for ActorInfo {
    fn from(a: actors::ActorInfo) -> ActorInfo {
        let actors::ActorInfo {
            kind,
            name,
            project_id,
            platform,
            status,
            last_run_ms,
            next_run_ms,
            restarts,
            mailbox,
            last_error,
            detail,
        } = a;
        ActorInfo {
            kind,
            name,
            project_id: project_id.map(|p| p.0),
            platform: platform.map(Platform::from),
            status: status.into(),
            last_run_ms,
            next_run_ms,
            restarts,
            mailbox,
            last_error,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/admin/actors?node=` relays another node's snapshot as that node's
    /// actors serialised it; it must read the same as this node's answer.
    #[test]
    fn a_relayed_snapshot_has_the_shape_of_a_local_one() {
        let mut scraper = actors::ActorInfo::new("scraper", "scraper:7".into(), actors::ActorStatus::BackingOff);
        scraper.project_id = Some(domain::ProjectId(7));
        scraper.last_run_ms = Some(1_000);
        scraper.restarts = 2;
        scraper.last_error = Some("timeout".into());
        let mut source = actors::ActorInfo::new("source", "source:meta_ads".into(), actors::ActorStatus::Idle);
        source.platform = Some(domain::Platform::MetaAds);
        source.mailbox = Some(3);
        source.detail = serde_json::json!({"in_flight": 1});
        let snapshot = actors::TreeSnapshot { node: "a".into(), taken_at_ms: 5, actors: vec![scraper, source] };
        let relayed = serde_json::to_value(&snapshot).expect("serialises");
        let local = serde_json::to_value(TreeSnapshot::from(snapshot)).expect("serialises");
        assert_eq!(relayed, local);
        assert_eq!(local["actors"][0]["status"], "backing_off");
        assert_eq!(local["actors"][1]["platform"], "meta_ads");
    }
}
