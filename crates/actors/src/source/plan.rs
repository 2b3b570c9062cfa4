//! Planning the polls: a window's slots for every source at its project's
//! own poll interval, and a project's slots again, from now, when its
//! schedule changes inside a window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use trawler_domain::campaign::Phase;
use trawler_domain::schedule::{own_interval, slots_between, POLL_SEED};
use trawler_domain::{ProjectId, ProjectStatus};
use trawler_store::{Project, Source};

use super::weigh::{self, Budget};
use super::{PollsDue, ProjectReplan, SourceActor};
use crate::db::Exec;

/// One poll to send: a source, its slot, the poll interval (ms) its
/// project had when it was planned, and the source's own (longer when its
/// ad account or campaign is idle).
#[derive(Clone)]
pub(super) struct Planned {
    pub(super) at_ms: i64,
    pub(super) source: Arc<Source>,
    pub(super) base_ms: i64,
    pub(super) every_ms: i64,
}

/// Slots counted in the ledger per message: a few milliseconds of the
/// actor's thread.
const PLAN_SLICE: usize = 8192;

fn millis(d: Duration) -> i64 {
    d.as_millis().clamp(1, i64::MAX as u128) as i64
}

/// The polls of `sources` in `[from_ms, to_ms)`, in time order, each
/// project at its interval in `intervals` (ms). A source whose ad account
/// or campaign is idle is polled every `idle_ms` at most.
fn plan_slots(
    sources: &[(Arc<Source>, Option<i64>)],
    intervals: &HashMap<ProjectId, i64>,
    from_ms: i64,
    to_ms: i64,
    idle_ms: i64,
) -> Vec<Planned> {
    let mut planned = Vec::with_capacity(sources.len());
    for (source, _) in sources {
        let project = source.project_id;
        let Some(&base_ms) = intervals.get(&project) else { continue };
        let idle = source.campaign.as_ref().is_some_and(|c| c.phase == Phase::Idle);
        let every_ms = if idle { base_ms.max(idle_ms) } else { base_ms };
        let every = Duration::from_millis(every_ms as u64);
        for at_ms in slots_between(project.0 as u64, POLL_SEED, every, from_ms, to_ms) {
            planned.push(Planned { at_ms, source: source.clone(), base_ms, every_ms });
        }
    }
    planned.sort_unstable_by_key(|p| p.at_ms);
    planned
}

/// Sources to poll, each with its project's own poll interval (ms; `None`:
/// the node's, divided by activity).
pub(super) type PollList = Arc<Vec<(Arc<Source>, Option<i64>)>>;

/// What a window's load and plan produced.
struct WindowPlan {
    /// The freshly loaded source list (`None`: the load failed, and the
    /// last known list was planned).
    loaded: Option<PollList>,
    load_error: Option<String>,
    planned: Arc<Vec<Planned>>,
    intervals: HashMap<ProjectId, i64>,
    sources: usize,
    /// Why the division by activity could not be made, if so.
    division_error: Option<String>,
    /// Projects by poll interval (ms).
    division: std::collections::BTreeMap<i64, usize>,
}

impl SourceActor {
    /// Loads the sources and plans their polls inside the window.
    ///
    /// The plan runs as one task outside this actor's context, sending
    /// the polls due at each slot, and each poll runs as its own task that
    /// queues its report (see `Reports`). An actix context polls every future
    /// spawned on it at each wake-up and cancels them one linear search at a
    /// time, so thousands of per-source futures on the context made a window
    /// cost grow with the square of the sources (profiled: most of the CPU at
    /// 20,000 sources).
    /// Slots before `from_ms` are left out: at start-up the window under
    /// way is planned from now on (its earlier slots were a predecessor's).
    pub(super) fn open_window(&mut self, window_ms: i64, from_ms: i64, ctx: &mut Context<Self>) {
        // Opened ahead of its start: shown once it has begun.
        self.last_window_ms = Some(window_ms.min(self.deps.clock.now_ms()));
        self.counters.windows += 1;
        let began = Instant::now();
        let platform = self.platform;
        let interval = self.interval();
        let end_ms = window_ms.saturating_add(millis(interval));
        // Loading a million sources takes seconds on the database thread,
        // planning and ordering their slots a good part of one on a
        // blocking thread: this actor's thread (which every poll shares) is
        // not held.
        let load = self.loads.send(Exec(move |conn| {
            let rows = Source::list_active_for_platform(conn, platform)?;
            Ok(Arc::new(rows.into_iter().map(|(s, own)| (Arc::new(s), own)).collect::<Vec<_>>()))
        }));
        let known = self.known.clone();
        let config = self.deps.config.get();
        let idle_ms = millis(config.idle_poll_interval);
        let budget = Budget {
            default_ms: millis(interval),
            idle_ms,
            min_ms: millis(config.min_interval),
            full_ms: millis(config.full_interval),
            rate_per_sec: self.deps.adapters.gates().get(platform).snapshot().rate_per_sec,
            weighted: config.weighted_polls,
            now_ms: window_ms,
            spending: self.deps.spending.at(window_ms),
        };
        // In cluster mode the list holds every node's projects: only this
        // node's share its budget (the others keep their base interval, in
        // case one comes over during the window).
        let owned: Option<std::collections::HashSet<ProjectId>> =
            self.deps.ownership.is_cluster().then(|| self.deps.ownership.owned().into_iter().collect());
        let work = async move {
            // With the database down, poll the list loaded last time: the
            // points go to the spool and the series keeps no hole.
            let (loaded, load_error) = match load.await {
                Ok(Ok(list)) => (Some(list), None),
                Ok(Err(e)) => (None, Some(format!("loading sources failed, polling the last known list: {e}"))),
                Err(e) => return Err(format!("database executor unavailable: {e}")),
            };
            let list = loaded.clone().unwrap_or(known);
            let sources = list.len();
            let (planned, intervals, division_error, division) = tokio::task::spawn_blocking(move || {
                let default_ms = budget.default_ms;
                let mine = |id: &ProjectId| owned.as_ref().is_none_or(|o| o.contains(id));
                let (ours, others): (Vec<_>, Vec<_>) = list.iter().cloned().partition(|(s, _)| mine(&s.project_id));
                let (mut intervals, error) = weigh::intervals(&ours, &budget);
                let mut division = std::collections::BTreeMap::new();
                for every in intervals.values() {
                    *division.entry(*every).or_insert(0) += 1;
                }
                for (s, own) in &others {
                    intervals.entry(s.project_id).or_insert_with(|| own.unwrap_or(default_ms).max(1));
                }
                (plan_slots(&list, &intervals, window_ms, end_ms, idle_ms), intervals, error, division)
            })
            .await
            .map_err(|e| format!("planning the window failed: {e}"))?;
            let planned = Arc::new(planned);
            let division_error = division_error.map(|e| e.to_string());
            Ok(WindowPlan { loaded, load_error, planned, intervals, sources, division_error, division })
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            let plan = match result {
                Ok(plan) => plan,
                Err(e) => return act.note_error(e),
            };
            if let Some(e) = plan.division_error {
                act.note_error(format!("polls not divided by activity: {e}"));
            }
            if let Some(e) = plan.load_error {
                act.note_error(e);
            }
            // Plans can come back out of order (each is made on a blocking
            // thread of its own): what the actor knows follows the newest
            // window only.
            if window_ms >= act.applied_window_ms {
                act.applied_window_ms = window_ms;
                if let Some(list) = plan.loaded {
                    // What is kept of sources no longer active is forgotten.
                    let ids: std::collections::HashSet<i64> = list.iter().map(|(s, _)| s.id).collect();
                    act.deps.monitors.retain(act.platform, &ids);
                    if act.platform == trawler_domain::Platform::MetaAds {
                        act.deps.spending.retain(|id| ids.contains(&id));
                    }
                    act.known = list;
                }
                act.active = plan.intervals;
                for p in &act.stopped {
                    act.active.remove(p);
                }
                act.sources = plan.sources;
                act.division = plan.division;
                act.window_slots = plan.planned.len();
            }
            act.planned_until_ms = act.planned_until_ms.max(end_ms);
            act.last_load = Some(began.elapsed());
            let planned = plan.planned;
            let first = planned.partition_point(|p| p.at_ms < from_ms);
            // The window before this one may still be sending its last
            // polls; a plan of any older window is over (or overran: stop
            // it).
            let oldest_kept = window_ms.saturating_sub(millis(interval));
            act.plans.retain(|(window, task)| {
                let keep = *window >= oldest_kept;
                if !keep {
                    task.abort();
                }
                keep
            });
            let addr = ctx.address();
            // The window's slots are counted in the ledger a slice at a time,
            // in time order, ahead of their polls: counting a million at
            // once held this thread (and every poll due) for 0.6 s.
            let count = {
                let (addr, planned) = (addr.clone(), planned.clone());
                async move {
                    for start in (first..planned.len()).step_by(PLAN_SLICE) {
                        let range = start..(start + PLAN_SLICE).min(planned.len());
                        if addr.send(CountSlots { planned: planned.clone(), range }).await.is_err() {
                            return;
                        }
                    }
                }
            };
            let send = send_polls(addr, act.deps.clock.clone(), planned, first);
            let task = actix::spawn(async move {
                futures_util::join!(count, send);
            });
            act.plans.push((window_ms, task));
        }));
    }

    /// Plans one project's polls again from now to the end of the windows
    /// planned, after its schedule changed: resumed, a new poll interval,
    /// or manual (no polls). Polls planned at its old interval are not sent
    /// (see [`SourceActor::poll`]).
    fn replan(&mut self, project: Project, sources: Vec<Source>, ctx: &mut Context<Self>) {
        let id = project.id;
        if self.halted || self.stopped.contains(&id) {
            return;
        }
        let scheduled = project.status == ProjectStatus::Active && !project.paused && !sources.is_empty();
        let Some(every) = own_interval(project.poll_interval_ms, self.interval()).filter(|_| scheduled) else {
            if self.active.remove(&id).is_some() {
                self.ledger.forget(id);
            }
            return;
        };
        let every_ms = millis(every);
        // A project at the node's interval is planned at it until the next
        // window divides the polls again.
        if self.active.get(&id) == Some(&every_ms) {
            return; // planned at this interval already
        }
        self.active.insert(id, every_ms);
        let sources: Vec<(Arc<Source>, Option<i64>)> = sources.into_iter().map(|s| (Arc::new(s), None)).collect();
        let idle_ms = millis(self.deps.config.get().idle_poll_interval);
        let intervals = HashMap::from([(id, every_ms)]);
        let planned = plan_slots(&sources, &intervals, self.deps.clock.now_ms(), self.planned_until_ms, idle_ms);
        if self.deps.ownership.owns(id) {
            for p in planned.iter().filter(|p| p.every_ms == p.base_ms) {
                self.ledger.plan(id, p.at_ms, every);
            }
        }
        self.replans.retain(|task| !task.is_finished());
        let send = send_polls(ctx.address(), self.deps.clock.clone(), Arc::new(planned), 0);
        self.replans.push(actix::spawn(send));
    }
}

/// Polls sent in one message at most: a thread held for a moment releases
/// the polls due meanwhile a slice at a time, with the polls' reports
/// handled in between.
const DUE_SLICE: usize = 1024;

/// Sends `planned[first..]` to the actor as their slots come: every poll
/// due by now in one `PollsDue`, instead of a message each.
async fn send_polls(
    addr: Addr<SourceActor>,
    clock: trawler_domain::clock::SharedClock,
    planned: Arc<Vec<Planned>>,
    first: usize,
) {
    let mut next = first;
    while let Some(p) = planned.get(next) {
        let wait = p.at_ms - clock.now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        let now = clock.now_ms();
        let rest = &planned[next..];
        let due = rest.partition_point(|p| p.at_ms <= now).clamp(1, DUE_SLICE);
        addr.do_send(PollsDue { planned: planned.clone(), range: next..next + due });
        next += due;
    }
}

/// Counts the slots of `planned[range]` as planned (the poll SLO's
/// denominator).
#[derive(Message)]
#[rtype(result = "()")]
struct CountSlots {
    planned: Arc<Vec<Planned>>,
    range: std::ops::Range<usize>,
}

impl Handler<CountSlots> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: CountSlots, _: &mut Context<Self>) {
        let Some(slice) = msg.planned.get(msg.range) else { return };
        for p in slice {
            let project = p.source.project_id;
            // An idle source's slow polls are not counted for the SLO.
            let counted = p.every_ms == p.base_ms && self.active.get(&project) == Some(&p.base_ms);
            if counted && self.deps.ownership.owns(project) {
                self.ledger.plan(project, p.at_ms, Duration::from_millis(p.every_ms as u64));
            }
        }
    }
}

impl Handler<ProjectReplan> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: ProjectReplan, ctx: &mut Context<Self>) {
        let (id, platform) = (msg.0, self.platform);
        let load = self.loads.send(Exec(move |conn| {
            let project = Project::get(conn, id)?;
            let sources: Vec<Source> =
                Source::list_for_project(conn, id)?.into_iter().filter(|s| s.platform == platform).collect();
            Ok((project, sources))
        }));
        ctx.spawn(load.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Ok((project, sources))) => act.replan(project, sources, ctx),
            Ok(Err(e)) => act.note_error(format!("replanning project {id}'s polls failed: {e}")),
            Err(e) => act.note_error(format!("database executor unavailable: {e}")),
        }));
    }
}
