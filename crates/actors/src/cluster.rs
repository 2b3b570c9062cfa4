//! The node's place in the cluster: its heartbeat, and on PostgreSQL the
//! leases that decide which projects it runs.
//!
//! Every [`HEARTBEAT_MS`] the coordinator writes the node's heartbeat (which
//! renews all its leases at once) and reads which nodes are alive. Then it
//! takes a census — the leases it holds, how many projects are active, its
//! sources per platform — and moves towards a fair share, `ceil(active /
//! alive)`: below it, it takes free leases (never leased, or held by a node
//! that stopped heartbeating); above it by more than a twentieth (at least
//! one project), it hands the excess back. The gap keeps shares from
//! flapping as projects come and go. It also splits each platform's rate
//! across the live nodes, so the cluster as a whole keeps to the budget.
//!
//! The census reads every lease and project: milliseconds for a thousand
//! projects, seconds for a million. It is taken at most a tenth of the time
//! (a census of 3 s begins 30 s after the one before; a small node takes
//! one every round), and at once when a node joins or leaves.
//!
//! Ordering keeps one owner per project: a node stops a project's scraper
//! and polls before it deletes the lease, and a joining node can only take
//! what the others released, after they lowered their rate to the new share.
//! A node that cannot reach the database for longer than the TTL allows
//! stops its scrapers (fencing), since the others may take its projects.
//!
//! SQLite runs one node, which owns everything: the coordinator only
//! heartbeats.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use trawler_domain::gaps::Cause;
use trawler_domain::{now_millis, Platform, ProjectId};
use trawler_sources::Gates;
use trawler_store::lease::Holder;
use trawler_store::node::{HEARTBEAT_MS, TTL_MS};
use trawler_store::{Command, Lease, Node, Run, Timeline};

use crate::db::{DbExecutor, Exec};
use crate::events::{EventBus, Interest};
use crate::ownership::Ownership;
use crate::supervisor::{Adopt, ProjectSupervisor, Release};

/// What the coordinator saw at its last round, for `/admin/cluster`.
#[derive(Debug, Clone, Default, Serialize)]
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
    /// When the last census of leases and projects was taken, epoch ms.
    pub last_census_ms: Option<i64>,
    /// How long its reads took, ms (the next begins ten times as long
    /// after it began).
    pub census_took_ms: Option<i64>,
    /// The last round's error, if it failed.
    pub last_error: Option<String>,
}

/// Shutdown's hold on the coordinator.
#[derive(Default)]
pub(crate) struct Control {
    /// Stop taking or handing over projects (shutting down).
    halted: bool,
    /// Stop heartbeating: the node is marked stopped.
    done: bool,
}

/// The coordinator's handles.
#[derive(Clone)]
pub(crate) struct Coordinator {
    pub(crate) db: Addr<DbExecutor>,
    pub(crate) supervisor: Addr<ProjectSupervisor>,
    pub(crate) ownership: Arc<Ownership>,
    pub(crate) gates: Gates,
    pub(crate) node: String,
    pub(crate) instance: Arc<str>,
    pub(crate) control: Arc<tokio::sync::Mutex<Control>>,
    pub(crate) view: Arc<Mutex<CoordinatorView>>,
    pub(crate) events: EventBus,
    pub(crate) metrics: crate::metrics::Metrics,
}

/// How a round went: the heartbeat is what other nodes judge liveness by,
/// so it counts apart from the rest of the round.
struct RoundError {
    /// Whether the heartbeat was written before the failure.
    beat: bool,
    error: String,
}

/// One round's reading of the nodes.
struct Reading {
    now: i64,
    alive: Vec<String>,
    gone: Vec<String>,
    /// What the other live nodes' listeners follow.
    interests: Vec<Interest>,
}

/// The census of leases and projects a reconciliation works from.
struct Census {
    held: usize,
    active: i64,
    inactive: Vec<ProjectId>,
}

/// When the census is due: at most a tenth of the time, and at once when
/// the live nodes change.
#[derive(Debug, Default)]
struct Duty {
    /// When the last census started (this process's clock, ms) and how
    /// long it took with its moves.
    last: Option<(i64, i64)>,
    /// The live nodes it was taken with.
    alive: Vec<String>,
}

impl Duty {
    fn due(&self, now_ms: i64, alive: &[String]) -> bool {
        match self.last {
            None => true,
            Some((at, took)) => alive != self.alive.as_slice() || now_ms - at >= 10 * took,
        }
    }
}

impl Coordinator {
    fn holder<'a>(node: &'a str, instance: &'a str) -> Holder<'a> {
        Holder { node, instance }
    }

    /// Runs rounds until the node is marked stopped.
    pub(crate) async fn run(self) {
        let started = now_millis();
        // The last heartbeat written, epoch ms, and whether other nodes were
        // alive then: the watchdog fences from these.
        let last_beat = Arc::new(std::sync::atomic::AtomicI64::new(now_millis()));
        let others_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // When the watchdog fenced the node (epoch ms; 0: it did not), for
        // the timeline once the database answers again.
        let fenced_at = Arc::new(std::sync::atomic::AtomicI64::new(0));
        // The watchdog lives as long as this run of the loop: a restart
        // after a panic starts a fresh one with fresh clocks.
        let _watchdog = self.ownership.is_cluster().then(|| {
            let (last_beat, others_seen, fenced_at) = (last_beat.clone(), others_seen.clone(), fenced_at.clone());
            let (ownership, supervisor, node) = (self.ownership.clone(), self.supervisor.clone(), self.node.clone());
            crate::task::AbortOnDrop(crate::task::spawn_supervised("watchdog", self.metrics.clone(), move || {
                let fence = Fence {
                    last_beat: last_beat.clone(),
                    others_seen: others_seen.clone(),
                    fenced_at: fenced_at.clone(),
                };
                watchdog(fence, ownership.clone(), supervisor.clone(), node.clone())
            }))
        });
        let mut failing = false;
        let mut round: u64 = 0;
        let mut duty = Duty::default();
        loop {
            {
                let control = self.control.lock().await;
                if control.done {
                    return;
                }
                // The heartbeat goes out first thing in the round: the
                // watchdog counts from when it was sent (no later than the
                // database wrote it), not from when the round's lease work
                // ended, which can come much later.
                let sent = now_millis();
                match self.round(started, control.halted, round, &mut duty).await {
                    Ok(others) => {
                        last_beat.store(sent, Ordering::Relaxed);
                        others_seen.store(others, Ordering::Relaxed);
                        if failing {
                            log::info!("node {}: the database answers again", self.node);
                        }
                        failing = false;
                        let fenced = fenced_at.swap(0, Ordering::Relaxed);
                        if fenced != 0 {
                            self.record_fence(fenced).await;
                        }
                    }
                    Err(RoundError { beat, error }) => {
                        if beat {
                            last_beat.store(sent, Ordering::Relaxed);
                        }
                        if !failing {
                            let what = if beat { "a round failed after its heartbeat" } else { "heartbeat failed" };
                            log::warn!("node {}: {what}: {error}", self.node);
                        }
                        failing = true;
                        self.lock_view().last_error = Some(error);
                    }
                }
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(HEARTBEAT_MS as u64)).await;
        }
    }

    /// Writes the span the node stood fenced in to the timeline: the
    /// series of its projects say why they have no points then.
    async fn record_fence(&self, since_ms: i64) {
        let node = self.node.clone();
        let now = now_millis();
        let detail = format!(
            "node {node} lost the database for {:.0} s and stopped its scrapers until other nodes took its projects",
            (now - since_ms) as f64 / 1000.0
        );
        let scope = move |conn: &mut trawler_store::AnyConnection| {
            let scope = trawler_store::Scope { node: Some(&node), ..Default::default() };
            Timeline::record(conn, scope, Cause::NodeFenced, &detail, since_ms, Some(now))
        };
        if let Err(e) = self.exec(scope).await {
            log::warn!("node {}: recording its fencing in the timeline failed: {e}", self.node);
        }
    }

    fn moved(&self, change: &'static str, n: usize) {
        self.metrics.lease_moves.get_or_create(&crate::metrics::MoveLabel { change }).inc_by(n as u64);
    }

    fn lock_view(&self) -> std::sync::MutexGuard<'_, CoordinatorView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a database call on the executor.
    async fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut trawler_store::AnyConnection) -> trawler_store::StoreResult<T> + Send + 'static,
    ) -> Result<T, String> {
        match self.db.send(Exec(f)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("database executor unavailable: {e}")),
        }
    }

    /// One round: heartbeat, then (in cluster mode) reconcile the leases.
    /// Returns whether other nodes are alive.
    async fn round(&self, started: i64, halted: bool, round: u64, duty: &mut Duty) -> Result<bool, RoundError> {
        let (node, instance) = (self.node.clone(), self.instance.clone());
        let cluster = self.ownership.is_cluster();
        let following = cluster.then(|| serde_json::to_string(&self.events.interest()).unwrap_or_default());
        self.exec(move |conn| {
            let version = env!("CARGO_PKG_VERSION");
            // The database's clock, not this node's: see `Node::clock`.
            let now = Node::clock(conn)?;
            Node::heartbeat(conn, &node, &instance, version, started, now, following.as_deref())
        })
        .await
        .map_err(|error| RoundError { beat: false, error })?;
        let after_beat = |error: String| RoundError { beat: true, error };
        if !cluster {
            let mut view = self.lock_view();
            view.last_round_ms = Some(now_millis());
            view.last_error = None;
            return Ok(false);
        }
        let node = self.node.clone();
        let reading = self
            .exec(move |conn| {
                let now = Node::clock(conn)?;
                let (alive, gone): (Vec<Node>, Vec<Node>) =
                    Node::list(conn)?.into_iter().partition(|n| n.alive(now, TTL_MS));
                let interests = alive
                    .iter()
                    .filter(|n| n.name != node)
                    .filter_map(|n| serde_json::from_str(n.following.as_deref()?).ok())
                    .collect();
                Ok(Reading {
                    interests,
                    now,
                    alive: alive.into_iter().map(|n| n.name).collect(),
                    gone: gone.into_iter().map(|n| n.name).collect(),
                })
            })
            .await
            .map_err(after_beat)?;
        let nodes = reading.alive.len().max(1);
        self.events.set_remote_interest(&reading.interests);
        if round.is_multiple_of(30) && !reading.gone.is_empty() {
            let gone = reading.gone.clone();
            let now = reading.now;
            self.exec(move |conn| Command::expire(conn, &gone, now - 3_600_000, now)).await.map_err(after_beat)?;
        }
        let begun = now_millis();
        if !halted && duty.due(begun, &reading.alive) {
            let (node, instance) = (self.node.clone(), self.instance.clone());
            let census = self
                .exec(move |conn| {
                    let holder = Coordinator::holder(&node, &instance);
                    Ok(Census {
                        held: Lease::held_count(conn, holder)?,
                        active: Lease::active_projects(conn)?,
                        inactive: Lease::held_inactive(conn, holder)?,
                    })
                })
                .await
                .map_err(after_beat)?;
            let read = now_millis() - begun;
            // Its reads only: taking or handing over leases (a million at
            // a node's first round) is not the census's cost to repeat.
            let rates = self.reconcile(&reading, &census, nodes).await.map_err(after_beat)?;
            let took = (read + rates).max(0);
            *duty = Duty { last: Some((begun, took)), alive: reading.alive.clone() };
            let mut view = self.lock_view();
            view.last_census_ms = Some(reading.now);
            view.census_took_ms = Some(took);
        }
        let mut view = self.lock_view();
        view.nodes_alive = nodes;
        self.metrics.cluster_nodes.set(nodes as i64);
        view.last_round_ms = Some(reading.now);
        view.last_error = None;
        Ok(nodes > 1)
    }

    /// Brings the projects run here in line with the leases held, then
    /// moves towards the fair share. Returns how long setting the rate
    /// shares took, ms (their reads are part of the census).
    async fn reconcile(&self, reading: &Reading, census: &Census, nodes: usize) -> Result<i64, String> {
        let (node, instance) = (self.node.clone(), self.instance.clone());
        // Leases lost to another node, or held but not run: rare, so the
        // whole list is read only when the count disagrees.
        if census.held != self.ownership.len() {
            let (n, i) = (node.clone(), instance.clone());
            let held: HashSet<ProjectId> =
                self.exec(move |conn| Lease::held(conn, Coordinator::holder(&n, &i))).await?.into_iter().collect();
            let owned: HashSet<ProjectId> = self.ownership.owned().into_iter().collect();
            let lost: Vec<ProjectId> = owned.difference(&held).copied().collect();
            let unrun: Vec<ProjectId> = held.difference(&owned).copied().collect();
            if !lost.is_empty() {
                log::warn!("node {node}: {} leases were taken over by other nodes; stopping them here", lost.len());
                self.ownership.remove(&lost);
                self.lock_view().lost_total += lost.len() as u64;
                self.moved("lost", lost.len());
                let _ = self.supervisor.send(Release(lost)).await;
            }
            if !unrun.is_empty() {
                self.ownership.add(&unrun);
                self.supervisor.do_send(Adopt(unrun));
            }
        }
        if !census.inactive.is_empty() {
            self.release(census.inactive.clone()).await?;
        }
        let active = census.active.max(0) as usize;
        let share = active.div_ceil(nodes);
        let slack = (share / 20).max(1);
        let held = self.ownership.len();
        if held < share {
            let (want, live_since, now) = (share - held, reading.now - TTL_MS, reading.now);
            let alive = reading.alive.clone();
            let taken = self
                .exec(move |conn| {
                    let taken = Lease::acquire(conn, Coordinator::holder(&node, &instance), want, live_since, now)?;
                    // Runs their previous node left open cannot finish now.
                    Run::abort_orphaned(conn, &taken, &alive)?;
                    Ok(taken)
                })
                .await?;
            if !taken.is_empty() {
                log::info!("node {}: took {} projects (share {share} of {active})", self.node, taken.len());
                self.ownership.add(&taken);
                self.lock_view().acquired_total += taken.len() as u64;
                self.moved("taken", taken.len());
                self.supervisor.do_send(Adopt(taken));
            }
        } else if held > share + slack {
            let owned = self.ownership.owned();
            let excess = owned[share..].to_vec();
            log::info!("node {}: handing {} projects back (share {share} of {active})", self.node, excess.len());
            self.release(excess).await?;
        }
        let rates_begun = now_millis();
        self.share_rates(nodes).await?;
        let rates = now_millis() - rates_begun;
        let mut view = self.lock_view();
        view.leases = true;
        view.active_projects = census.active;
        view.fair_share = share;
        view.held = self.ownership.len();
        self.metrics.leases_held.set(view.held as i64);
        Ok(rates)
    }

    /// Sets this node's share of each platform's rate from the sources it
    /// holds now: `(held + 1) / (total + nodes)`. The shares of the live
    /// nodes add up to at most 1, each node's follows its own demand, and a
    /// node holding none of a platform's sources keeps a small share for a
    /// project created through it. Run after this round's releases and
    /// takeovers: a node lowers its share before another can raise its own.
    async fn share_rates(&self, nodes: usize) -> Result<(), String> {
        let (node, instance) = (self.node.clone(), self.instance.clone());
        let (held, total) = self
            .exec(move |conn| {
                let held = Lease::held_sources_by_platform(conn, Coordinator::holder(&node, &instance))?;
                Ok((held, trawler_store::Source::count_active_by_platform(conn)?))
            })
            .await?;
        let shares: std::collections::BTreeMap<Platform, f64> = Platform::SOURCES
            .into_iter()
            .map(|p| {
                let mine = held.iter().find(|(name, _)| name == p.as_str()).map_or(0, |(_, n)| *n) as f64;
                let all = total.iter().find(|(q, _)| *q == p).map_or(0, |(_, n)| *n) as f64;
                (p, (mine + 1.0) / (all + nodes as f64))
            })
            .collect();
        for p in self.gates.set_shares(&shares) {
            log::info!("node {}: {p} rate share now {:.3} ({nodes} live nodes)", self.node, shares[&p]);
        }
        Ok(())
    }

    /// Stops projects here, then gives up their leases.
    async fn release(&self, projects: Vec<ProjectId>) -> Result<(), String> {
        self.ownership.remove(&projects);
        let _ = self.supervisor.send(Release(projects.clone())).await;
        self.lock_view().released_total += projects.len() as u64;
        self.moved("released", projects.len());
        let (node, instance) = (self.node.clone(), self.instance.clone());
        self.exec(move |conn| Lease::release(conn, Coordinator::holder(&node, &instance), &projects).map(drop)).await
    }
}

/// What the watchdog reads and writes: the last heartbeat written (epoch
/// ms), whether other nodes were alive then, and when it fenced the node.
struct Fence {
    last_beat: Arc<std::sync::atomic::AtomicI64>,
    others_seen: Arc<std::sync::atomic::AtomicBool>,
    fenced_at: Arc<std::sync::atomic::AtomicI64>,
}

/// Fencing, on its own timer so that slow database calls cannot delay it:
/// past `TTL - 2 heartbeats` since the last heartbeat written, a node that
/// saw other nodes alive stops all its scrapers, since those nodes may take
/// its projects once the TTL has passed.
async fn watchdog(fence: Fence, ownership: Arc<Ownership>, supervisor: Addr<ProjectSupervisor>, node: String) {
    let fence_after = TTL_MS - 2 * HEARTBEAT_MS;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let silent = now_millis() - fence.last_beat.load(Ordering::Relaxed);
        if silent <= fence_after || !fence.others_seen.load(Ordering::Relaxed) {
            continue;
        }
        let all = ownership.owned();
        if all.is_empty() {
            continue;
        }
        let _ = fence.fenced_at.compare_exchange(0, now_millis(), Ordering::Relaxed, Ordering::Relaxed);
        log::warn!(
            "node {node}: no heartbeat for {:.1} s; stopping its {} projects, which other nodes may take over",
            silent as f64 / 1000.0,
            all.len()
        );
        ownership.remove(&all);
        let _ = supervisor.send(Release(all)).await;
    }
}

/// Stops the coordinator taking or handing over projects (shutdown).
pub(crate) async fn halt(control: &tokio::sync::Mutex<Control>) {
    control.lock().await.halted = true;
}

/// Ends the heartbeat: after this, the node can be marked stopped.
pub(crate) async fn finish(control: &tokio::sync::Mutex<Control>) {
    control.lock().await.done = true;
}

#[cfg(test)]
mod tests {
    use super::Duty;

    #[test]
    fn the_census_takes_at_most_a_tenth_of_the_time_and_comes_at_once_when_nodes_change() {
        let nodes = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(Duty::default().due(0, &nodes(&["a"])), "the first round takes one");
        let duty = Duty { last: Some((1_000, 3_000)), alive: nodes(&["a", "b"]) };
        assert!(!duty.due(4_000, &nodes(&["a", "b"])));
        assert!(!duty.due(30_999, &nodes(&["a", "b"])));
        assert!(duty.due(31_000, &nodes(&["a", "b"])), "ten times its length after it began");
        assert!(duty.due(4_000, &nodes(&["a"])), "a node left");
        assert!(duty.due(4_000, &nodes(&["a", "b", "c"])), "a node joined");
        let quick = Duty { last: Some((1_000, 2)), alive: nodes(&["a"]) };
        assert!(quick.due(1_020, &nodes(&["a"])), "a small node takes one every round");
    }
}
