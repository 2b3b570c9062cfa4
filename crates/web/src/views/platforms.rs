//! The platforms' gates and their capacity, as `/admin/platforms` shows them.

use serde::Serialize;
use trawler_actors::gates as gate;
use trawler_domain as domain;
use utoipa::ToSchema;

use super::wire::Platform;

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
    /// The proxies (`TRAWLER_PROXIES`) and their health.
    pub proxies: Vec<ProxyState>,
}

/// A proxy and its health.
#[derive(Serialize, ToSchema)]
pub struct ProxyState {
    /// The proxy's URL, without its credentials.
    pub proxy: String,
    /// The platform or host pattern it serves.
    pub serves: String,
    /// `ok`, or `benched` (it could not be reached; the others carry its
    /// requests until then).
    pub state: &'static str,
    /// Until when it is benched, epoch ms.
    pub benched_until_ms: Option<i64>,
    /// Times in a row it could not be reached.
    pub failures_in_row: u32,
    /// Requests sent through it.
    pub used: u64,
    /// Requests that could not reach it.
    pub failed: u64,
}

impl From<gate::ProxyState> for ProxyState {
    fn from(p: gate::ProxyState) -> ProxyState {
        let gate::ProxyState { proxy, serves, state, benched_until_ms, failures_in_row, used, failed } = p;
        ProxyState { proxy, serves, state, benched_until_ms, failures_in_row, used, failed }
    }
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
    /// Generic platforms: the hosts with a rate of their own
    /// (`TRAWLER_HOST_RATES`) seen so far.
    pub host_rates: Vec<HostRate>,
}

/// A generic host with a rate of its own.
#[derive(Serialize, ToSchema)]
pub struct HostRate {
    /// `host:port`.
    pub host: String,
    /// Its requests per second at this node (its share included).
    pub rate_per_sec: f64,
    /// The pattern of `TRAWLER_HOST_RATES` that gave it.
    pub pattern: String,
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
            host_rates,
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
            host_rates: host_rates
                .into_iter()
                .map(|h| HostRate { host: h.host, rate_per_sec: h.rate_per_sec, pattern: h.pattern })
                .collect(),
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
    /// This node's division of the platform's polls in its last window:
    /// how many projects it polled at each interval (see
    /// `TRAWLER_WEIGHTED_POLLS`), shortest first.
    pub poll_division: Vec<PollShare>,
}

/// Projects polled at one interval.
#[derive(Serialize, ToSchema)]
pub struct PollShare {
    /// The interval, ms.
    pub interval_ms: i64,
    /// How many projects.
    pub projects: u64,
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
            poll_division: Vec::new(),
        }
    }
}
