//! The SourceActor: one per platform, the fast poll. Every `poll_interval`
//! (a window) it reads the platform's sources of all active projects and
//! polls each one's hot metrics at its project's slots in the window: every
//! project's own poll interval (the node's by default) at an offset hashed
//! from its id, so the requests spread evenly instead of bursting at the
//! window's start.
//! Polls write points but no run rows (a run per project every five minutes
//! would bury the full scrapes); their outcome shows in `/admin/actors`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use trawler_domain::schedule::{current_slot_ms, next_slot_ms};
use trawler_domain::slo::Freshness;
use trawler_domain::{Platform, ProjectId, RunKind};
use trawler_sources::{LinePlace, RetryBudget};

use crate::deps::Deps;
use crate::ledger::PollLedger;
use crate::quiet::{Heard, Held, QUIET_FOR};
use crate::state::{ActorInfo, ActorStatus};
use crate::task::caught;

mod failing;
mod plan;
mod weigh;

use plan::{Planned, PollList};
pub use weigh::{poll_division, PollDivision};

/// A project was archived: stop polling it, including polls already planned.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProjectStopped(pub ProjectId);

/// A project became active again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProjectStarted(pub ProjectId);

/// A project was created or resumed, or its schedule may have changed (a
/// new poll interval, un-paused): its polls follow from now, not from the
/// next window.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProjectReplan(pub ProjectId);

/// Stops planning new polls (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPolling;

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetSourceState;

#[derive(Debug, Clone, Default, Serialize)]
struct Counters {
    windows: u64,
    polls_ok: u64,
    polls_failed: u64,
    polls_skipped_in_flight: u64,
    polls_skipped_busy: u64,
    /// Polls that came due while a full scrape fetched the source: satisfied
    /// by that fetch, not fetched again.
    polls_joined_full_scrape: u64,
    points: u64,
}

/// The fast poll of one platform.
pub struct SourceActor {
    platform: Platform,
    deps: Deps,
    /// The database thread that loads the windows' sources, apart from the
    /// shared queue: a burst of run bookkeeping there (a million projects'
    /// catch-up scrapes at start-up) made each load wait a minute, and the
    /// window's polls then all came due at once.
    loads: Addr<crate::db::DbExecutor>,
    /// Projects whose polls may run, with the poll interval (ms) they are
    /// planned at; a planned poll checks both when it fires (a poll planned
    /// at an interval since changed is not sent).
    active: HashMap<ProjectId, i64>,
    /// Archived projects, so that a source list loaded before the archive
    /// cannot bring them back.
    stopped: HashSet<ProjectId>,
    /// Polls in flight or waiting at the gate, by source: their project and
    /// task (aborted when the project stops here).
    in_flight: HashMap<i64, (ProjectId, tokio::task::JoinHandle<()>)>,
    /// The sources of the last window whose load succeeded, each with its
    /// project's poll interval (ms).
    known: PollList,
    sources: usize,
    /// Polls planned in the last window.
    window_slots: usize,
    /// The last window's projects by poll interval (ms).
    division: std::collections::BTreeMap<i64, usize>,
    /// The end of the last window planned, epoch ms.
    planned_until_ms: i64,
    /// The tasks sending the polls of projects replanned inside a window.
    replans: Vec<tokio::task::JoinHandle<()>>,
    counters: Counters,
    last_window_ms: Option<i64>,
    next_window_ms: Option<i64>,
    last_error: Option<String>,
    /// Poll failures logged a line per while (a platform down fails every
    /// poll).
    quiet: crate::quiet::Quiet,
    /// The tasks sending the polls due, by window: this window's, and the
    /// next one's once it is planned (ahead of its start).
    plans: Vec<(i64, tokio::task::JoinHandle<()>)>,
    /// The newest window whose plan set `active`, `known` and the counts.
    applied_window_ms: i64,
    /// How long the last window's load and plan took.
    last_load: Option<Duration>,
    halted: bool,
    /// Which poll slots started on time and succeeded (the poll SLO).
    ledger: PollLedger,
    /// The sources whose polls fail (spans of the timeline).
    failing: failing::Failing,
    /// Polls ended and not yet taken in (see [`Reports`]).
    reports: Arc<Reports>,
}

/// The reports of polls that ended, waiting for the actor. A poll that
/// finds the queue empty sends one [`TakeReports`]; the others join the
/// queue it will take. Under load a message takes in hundreds of reports
/// instead of one each (20,000 messages a second at 20,000 polls).
#[derive(Default)]
struct Reports(std::sync::Mutex<Vec<PollDone>>);

impl Reports {
    /// Queues `done`; true when the queue was empty (the caller sends
    /// [`TakeReports`]).
    fn push(&self, done: PollDone) -> bool {
        let mut queue = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.push(done);
        queue.len() == 1
    }

    fn take(&self) -> Vec<PollDone> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl SourceActor {
    /// The fast-poll actor of `platform`.
    pub(crate) fn new(platform: Platform, deps: Deps, loads: Addr<crate::db::DbExecutor>) -> SourceActor {
        let failing = failing::Failing::new(platform, deps.config.get().node.clone());
        SourceActor {
            platform,
            deps,
            loads,
            active: HashMap::new(),
            stopped: HashSet::new(),
            in_flight: HashMap::new(),
            known: Arc::new(Vec::new()),
            sources: 0,
            window_slots: 0,
            division: Default::default(),
            planned_until_ms: 0,
            replans: Vec::new(),
            counters: Counters::default(),
            last_window_ms: None,
            next_window_ms: None,
            last_error: None,
            quiet: Default::default(),
            plans: Vec::new(),
            applied_window_ms: i64::MIN,
            last_load: None,
            halted: false,
            ledger: PollLedger::new(),
            failing,
            reports: Arc::default(),
        }
    }

    fn interval(&self) -> Duration {
        self.deps.config.get().poll_interval
    }

    /// How long before its window a window's sources are loaded and its
    /// polls planned: twice what the last load took and half a second more,
    /// at most a quarter of the interval. Loading a million sources takes
    /// seconds; begun at the window's start, it made that window's first
    /// polls late.
    fn lead(&self) -> Duration {
        let wanted = self.last_load.map_or(Duration::from_secs(1), |took| took * 2 + Duration::from_millis(500));
        wanted.min(self.interval() / 4)
    }

    /// Arms the timer for the first window after `after_ms` (windows are
    /// aligned to the interval), to open [`SourceActor::lead`] before it.
    fn schedule_window(&mut self, after_ms: i64, ctx: &mut Context<Self>) {
        if self.halted {
            return;
        }
        let now = self.deps.clock.now_ms();
        let next = next_slot_ms(now.max(after_ms), self.interval(), 0);
        self.next_window_ms = Some(next);
        let open_at = next - self.lead().as_millis() as i64;
        ctx.run_later(Duration::from_millis((open_at - now).max(0) as u64), move |act, ctx| {
            act.open_window(next, next, ctx);
            act.schedule_window(next, ctx);
        });
    }

    fn note_error(&mut self, error: String) {
        log::warn!(platform = self.platform.as_str(); "source {}: {error}", self.platform);
        self.last_error = Some(error);
    }

    /// A poll failed with an error of `kind`: logged at once, or counted
    /// and logged with the others of its while (see [`crate::quiet`]).
    fn note_poll_error(&mut self, kind: &'static str, error: String, ctx: &mut Context<Self>) {
        match self.quiet.hear(kind, 1, &error, std::time::Instant::now()) {
            Heard::Log => {
                self.log_held();
                log::warn!(platform = self.platform.as_str(); "source {}: {error}", self.platform);
            }
            Heard::Counted { first: true, in_ } => {
                ctx.run_later(in_, |act, _| act.log_held());
            }
            Heard::Counted { .. } => {}
        }
        self.last_error = Some(error);
    }

    /// Logs the poll failures counted and not logged, if any.
    fn log_held(&mut self) {
        if let Some(Held { total, kinds, last }) = self.quiet.take() {
            log::warn!(platform = self.platform.as_str();
                "source {}: {total} more polls failed within {} s ({kinds}); the last: {last}",
                self.platform, QUIET_FOR.as_secs());
        }
    }

    /// Polls one source's hot metrics, as a task of its own, for the slot
    /// planned (its time, for its lateness, and its project's interval).
    fn poll(&mut self, planned: &Planned, ctx: &mut Context<Self>) {
        let Planned { at_ms: slot_ms, ref source, base_ms, every_ms } = *planned;
        // In cluster mode the list holds every node's projects; the node
        // that owns a project at its moment polls it.
        if self.halted
            || self.active.get(&source.project_id) != Some(&base_ms)
            || !self.deps.ownership.owns(source.project_id)
        {
            return;
        }
        if self.in_flight.contains_key(&source.id) {
            self.counters.polls_skipped_in_flight += 1;
            self.deps.metrics.slot_skipped("poll");
            return;
        }
        // Overload: when more polls are in flight or waiting than could
        // still start on time, skip this one (counted) rather than queue it.
        // Waiting polls cost memory and scheduling, and past capacity a
        // longer queue only makes every poll later. "On time" allows 1% of
        // the interval: the polls that come due in that time (a hundredth
        // of the window's), or four times the platform's request slots if
        // that is more. A thread held for a moment releases a burst of
        // polls at once; a cap of request slots alone shed them although
        // they could all still start in time.
        let slots = 4 * self.deps.adapters.gates().get(self.platform).max_in_flight();
        let cap = slots.max(self.window_slots / 100);
        if self.in_flight.len() >= cap {
            self.counters.polls_skipped_busy += 1;
            self.deps.metrics.slot_skipped("poll");
            return;
        }
        let (id, project) = (source.id, source.project_id);
        let (source, deps, reports) = (source.clone(), self.deps.clone(), self.reports.clone());
        let addr = ctx.address();
        let task = actix::spawn(async move {
            let (source_id, project_id) = (source.id, source.project_id);
            let shared = deps.clone();
            // The poll reports back even when it panics: a poll that never
            // reported would leave its source "in flight" for ever.
            let done = caught(async move {
                let claim = match deps.fetching.try_claim(source.id) {
                    Ok(claim) => claim,
                    // A full scrape is fetching this source: its fetch is this
                    // slot's, and so is its outcome.
                    Err(in_flight) => {
                        let ok = crate::fetching::outcome(in_flight).await == Some(true);
                        let result = if ok {
                            Ok(0)
                        } else {
                            Err(format!(
                                "project {} {}: the full scrape's fetch of the source failed",
                                source.project_id, source.external_ref
                            ))
                        };
                        return (true, result, true, None);
                    }
                };
                // On time is within 1% of the project's poll interval after
                // the slot: the gate lets it pass before callers with more
                // time left.
                let tolerance = (every_ms / 100).max(1);
                let place = LinePlace::due_in_ms(slot_ms.saturating_add(tolerance).saturating_sub(deps.clock.now_ms()));
                // A poll retries at most once: the next window comes soon.
                let fetched = deps.fetch(&source, RunKind::Poll, &RetryBudget::new(1), Some(&place), None).await;
                claim.done(fetched.is_ok());
                let late = place.first_pass_ms().map(|first| first - slot_ms);
                if let Some(late) = late {
                    deps.metrics.slot_lateness("poll", late);
                }
                let kind = fetched.as_ref().err().map(|e| e.code());
                let result = match fetched {
                    Ok(f) => deps.keep(&source, RunKind::Poll, f.samples).await,
                    Err(e) => Err(format!("project {} {}: {e}", source.project_id, source.external_ref)),
                };
                (late.is_some_and(|l| l <= tolerance), result, false, kind)
            })
            .await;
            let (on_time, result, joined, error_kind) = done.unwrap_or_else(|msg| {
                shared.metrics.task_panic("poll");
                (false, Err(format!("project {project_id} source {source_id}: panic: {msg}")), false, None)
            });
            let done =
                PollDone { source: source_id, project: project_id, slot_ms, on_time, result, joined, error_kind };
            if reports.push(done) {
                addr.do_send(TakeReports);
            }
        });
        self.in_flight.insert(id, (project, task));
    }
}

/// The slots of `planned[range]` have come.
#[derive(Message)]
#[rtype(result = "()")]
struct PollsDue {
    planned: Arc<Vec<Planned>>,
    range: std::ops::Range<usize>,
}

/// Polls have ended: their reports wait in [`SourceActor::reports`].
#[derive(Message)]
#[rtype(result = "()")]
struct TakeReports;

/// A poll ended: points stored, or why not.
struct PollDone {
    source: i64,
    project: ProjectId,
    slot_ms: i64,
    /// Whether its request passed the gate within 1% of the interval.
    on_time: bool,
    result: Result<usize, String>,
    /// Whether a full scrape's fetch of the source served the slot.
    joined: bool,
    /// The fetch's error code, when the fetch itself failed.
    error_kind: Option<&'static str>,
}

impl Handler<PollsDue> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: PollsDue, ctx: &mut Context<Self>) {
        let Some(due) = msg.planned.get(msg.range) else { return };
        for planned in due {
            self.poll(planned, ctx);
        }
    }
}

impl Handler<TakeReports> for SourceActor {
    type Result = ();
    fn handle(&mut self, _: TakeReports, ctx: &mut Context<Self>) {
        for done in self.reports.take() {
            self.poll_done(done, ctx);
        }
    }
}

impl SourceActor {
    /// Takes in one poll's report.
    fn poll_done(&mut self, msg: PollDone, ctx: &mut Context<Self>) {
        self.in_flight.remove(&msg.source);
        self.ledger.record(msg.project, msg.slot_ms, msg.on_time, msg.result.is_ok());
        if msg.joined {
            self.counters.polls_joined_full_scrape += 1;
        }
        let now = self.deps.clock.now_ms();
        match msg.result {
            Ok(n) => {
                self.counters.polls_ok += 1;
                self.counters.points += n as u64;
                self.failing.succeeded(&self.deps.db, msg.source, now);
            }
            Err(e) => {
                self.counters.polls_failed += 1;
                if let Some(kind) = msg.error_kind {
                    self.failing.failed(&self.deps.db, msg.source, msg.project, kind, &e, now);
                }
                self.note_poll_error(msg.error_kind.unwrap_or("error"), e, ctx);
            }
        }
    }
}

impl Actor for SourceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The window under way is polled from now on: a restart leaves no
        // gap of up to an interval before the next window.
        let now = self.deps.clock.now_ms();
        self.failing.close_stale(&self.deps.db, now);
        let current = current_slot_ms(now, self.interval(), 0);
        if current < now {
            self.open_window(current, now, ctx);
        }
        self.schedule_window(now, ctx);
    }
}

impl Handler<ProjectStopped> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: ProjectStopped, _: &mut Context<Self>) {
        // A poll still waiting at the gate must not go out for a project
        // archived, or handed to another node.
        self.in_flight.retain(|_, (project, task)| {
            let keep = *project != msg.0;
            if !keep {
                task.abort();
            }
            keep
        });
        self.active.remove(&msg.0);
        self.stopped.insert(msg.0);
        self.ledger.forget(msg.0);
        self.failing.stopped(&self.deps.db, msg.0, self.deps.clock.now_ms());
    }
}

/// Asks for the poll side of the freshness SLO over `[from_ms, to_ms]`.
pub struct GetPollFreshness {
    /// One project only, or all.
    pub project: Option<ProjectId>,
    /// Start of the window, epoch ms.
    pub from_ms: i64,
    /// End of the window, epoch ms.
    pub to_ms: i64,
}

impl Message for GetPollFreshness {
    type Result = Vec<(ProjectId, Freshness)>;
}

impl Handler<GetPollFreshness> for SourceActor {
    type Result = MessageResult<GetPollFreshness>;
    fn handle(&mut self, msg: GetPollFreshness, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.ledger.freshness(msg.project, msg.from_ms, msg.to_ms))
    }
}

impl Handler<ProjectStarted> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: ProjectStarted, _: &mut Context<Self>) {
        self.stopped.remove(&msg.0);
    }
}

impl Handler<StopPolling> for SourceActor {
    type Result = ();
    fn handle(&mut self, _: StopPolling, _: &mut Context<Self>) {
        self.halted = true;
        self.next_window_ms = None;
        for plan in self.plans.drain(..).map(|(_, task)| task).chain(self.replans.drain(..)) {
            plan.abort();
        }
    }
}

impl Handler<GetSourceState> for SourceActor {
    type Result = MessageResult<GetSourceState>;
    fn handle(&mut self, _: GetSourceState, _: &mut Context<Self>) -> Self::Result {
        let status = if self.in_flight.is_empty() { ActorStatus::Idle } else { ActorStatus::Scraping };
        let mut info = ActorInfo::new("source", format!("source:{}", self.platform), status);
        info.platform = Some(self.platform);
        info.last_run_ms = self.last_window_ms;
        info.next_run_ms = self.next_window_ms;
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "poll_interval_ms": self.interval().as_millis() as u64,
            "sources": self.sources,
            // Polls planned in the last window (each project at its own
            // poll interval).
            "window_slots": self.window_slots,
            // How many projects the last window polled at each interval
            // (ms): the division of the polls by activity.
            "projects_by_poll_interval_ms": self.division,
            // Loading the sources and planning a window's polls: done this
            // long before the window opens, twice over.
            "last_load_ms": self.last_load.map(|d| d.as_millis() as u64),
            "lead_ms": self.lead().as_millis() as u64,
            "in_flight": self.in_flight.len(),
            // Sources whose last poll failed (not counting an open circuit).
            "failing_sources": self.failing.len(),
            // Sources of every platform being fetched now (polls and full scrapes).
            "fetching_sources": self.deps.fetching.len(),
            "counters": self.counters,
            "gate": self.deps.adapters.gates().get(self.platform).snapshot(),
        });
        MessageResult(info)
    }
}
