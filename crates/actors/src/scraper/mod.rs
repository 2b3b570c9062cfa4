//! The ScraperActor: one per active project. It runs the project's full
//! scrape on its own slot (every `full_interval`, at an offset hashed from
//! the project id), runs it now on `ScrapeNow` — joining a run already in
//! progress rather than starting a second — and records every run.
//!
//! A scrape runs as a spawned future, so the mailbox stays open: state
//! queries are answered mid-fetch. A panic inside a scrape is caught at this
//! boundary (actix does not catch panics, and an uncaught one kills every
//! actor on the thread), recorded as a failed run, and the actor stops so
//! its supervisor restarts it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use trawler_domain::{ProjectId, RunId, RunKind, RunStatus, RunTrigger};
use trawler_sources::Standing;
use trawler_store::{OwnedRunEnd, Project, Run, Source};

use crate::db::Exec;
use crate::deps::Deps;
use crate::error::ActorError;
use crate::events::Event;
use crate::runbook::{Begin, End};
use crate::scrape::{scrape, Outcome, Progress};
use crate::state::{ActorInfo, ActorStatus, Mailbox};
use crate::task::caught;

mod campaign;
mod cancel;
mod schedule;

pub(crate) use campaign::FinalScrape;
pub use cancel::CancelRun;
pub use schedule::Rearm;

/// Starts a full scrape now, or joins the one running; answers its run id.
#[derive(Message)]
#[rtype(result = "Result<RunId, ActorError>")]
pub struct ScrapeNow;

/// A new project's first scrape when its scraper already runs (a lease or
/// start-up loaded it first): a scheduled run now in place of the catch-up,
/// then the regular slots. Recorded as the schedule's, like any first run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ScrapeFirst;

/// Re-reads the project's sources and its schedule (paused, its own
/// interval) after an edit.
#[derive(Message)]
#[rtype(result = "Option<bool>")]
pub struct Reload;

/// Stops the actor for good (archive, shutdown): no restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopScraper;

/// Stops scheduling and stops once the run in progress, if any, has
/// finished (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetScraperState;

/// Asks where a run in progress stands (answered only by its project's
/// scraper, while the run is this one).
pub struct GetRunPhase(pub RunId);

impl Message for GetRunPhase {
    type Result = Option<RunPhase>;
}

/// Where a running run stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunPhase {
    /// `waiting`: its next request waits at a platform's gate (for a pause,
    /// a token or a slot); `fetching`: a request is in flight or its points
    /// are being stored.
    pub phase: &'static str,
    /// For a waiting run: its place in line and estimated start.
    pub wait: Option<Standing>,
    /// Its log so far (a run's log is stored when it ends).
    pub log: String,
}

/// A scraper's state as the supervisor loaded it at start-up.
pub(crate) struct Preloaded {
    /// The project's sources.
    pub(crate) sources: Vec<Source>,
    /// When its latest run started, epoch ms.
    pub(crate) last_started_ms: Option<i64>,
    /// Its schedule is paused.
    pub(crate) paused: bool,
    /// Its own full-scrape interval, ms (`None`: the node's; `0`: manual).
    pub(crate) full_interval_ms: Option<i64>,
    /// Its campaign ended once (an admin resumed it since).
    pub(crate) ended_once: bool,
}

/// How a start-up should treat the first run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRun {
    /// Run at once (a project just created).
    Now,
    /// Run soon if the last slot was missed, spread over a short window so
    /// a node starting with many projects does not burst.
    IfMissed,
}

/// What a scraper reports to its supervisor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum ChildReport {
    /// It finished starting.
    Ready(ProjectId),
    /// It stopped.
    Stopped {
        /// Whose scraper.
        project: ProjectId,
        /// Whether it crashed (restart) or was stopped (do not).
        crashed: bool,
        /// Its last error.
        reason: Option<String>,
    },
    /// Its campaign is over and the final scrape succeeded: the project
    /// ends.
    CampaignEnded {
        /// Whose campaign.
        project: ProjectId,
        /// What its platforms said.
        reason: String,
    },
}

/// Where scrapers report: their supervisor, one handle shared by all.
pub(crate) type Parent = Arc<Recipient<ChildReport>>;

/// The scraper of one project.
pub struct ScraperActor {
    project: ProjectId,
    deps: Deps,
    supervisor: Parent,
    first_run: FirstRun,
    restarts: u32,
    mailbox: Mailbox,
    /// State the supervisor loaded for many scrapers at once (start-up),
    /// boxed: it is read once, and every idle scraper would carry its room.
    preloaded: Option<Box<Preloaded>>,
    sources: Vec<Source>,
    status: ActorStatus,
    current_run: Option<RunId>,
    last_run_ms: Option<i64>,
    last_status: Option<RunStatus>,
    last_error: Option<String>,
    next_run_ms: Option<i64>,
    /// The slot time of the scheduled run about to start (for its lateness).
    slot_ms: Option<i64>,
    /// The next run is a new project's first: someone waits for it.
    first_awaited: bool,
    timer: Option<SpawnHandle>,
    /// The scrape in progress and what it has done so far (for a cancel).
    exec: Option<(SpawnHandle, Arc<Progress>)>,
    stopping_normally: bool,
    /// Shutting down: stop when the run in progress ends.
    draining: bool,
    crashed: bool,
    /// Its schedule is paused: runs start only when triggered.
    paused: bool,
    /// Its own full-scrape interval, ms (`None`: the node's; `0`: manual).
    full_interval_ms: Option<i64>,
    /// Its campaign ended once: it is not ended again.
    ended_once: bool,
    /// A final scrape is due once the run in progress ends.
    final_due: bool,
    /// The timer of the final scrape (the campaign's deadline).
    final_timer: Option<SpawnHandle>,
}

impl ScraperActor {
    /// A scraper for `project`; `restarts` is how often its supervisor has
    /// restarted it so far.
    pub(crate) fn new(
        project: ProjectId,
        deps: Deps,
        supervisor: Parent,
        first_run: FirstRun,
        restarts: u32,
        mailbox: Mailbox,
        preloaded: Option<Preloaded>,
    ) -> ScraperActor {
        ScraperActor {
            preloaded: preloaded.map(Box::new),
            project,
            deps,
            supervisor,
            first_run,
            restarts,
            mailbox,
            sources: Vec::new(),
            status: ActorStatus::Starting,
            current_run: None,
            last_run_ms: None,
            last_status: None,
            last_error: None,
            next_run_ms: None,
            slot_ms: None,
            first_awaited: false,
            timer: None,
            exec: None,
            stopping_normally: false,
            draining: false,
            crashed: false,
            paused: false,
            full_interval_ms: None,
            ended_once: false,
            final_due: false,
            final_timer: None,
        }
    }
}

impl Actor for ScraperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(pre) = self.preloaded.take() {
            self.sources = pre.sources;
            self.status = ActorStatus::Idle;
            self.last_run_ms = pre.last_started_ms;
            self.paused = pre.paused;
            self.full_interval_ms = pre.full_interval_ms;
            self.ended_once = pre.ended_once;
            self.supervisor.do_send(ChildReport::Ready(self.project));
            self.schedule_first(pre.last_started_ms, ctx);
            self.watch_campaign(ctx);
            return;
        }
        let project = self.project;
        let load = self.deps.db.send(Exec(move |conn| {
            let sources = Source::list_for_project(conn, project)?;
            let last = Run::list_for_project(conn, project, 1)?.into_iter().next();
            let p = Project::get(conn, project)?;
            Ok((sources, last, p))
        }));
        // wait: no ScrapeNow is handled before the sources are known.
        ctx.wait(load.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok((sources, last, p))) => {
                act.sources = sources;
                act.paused = p.paused;
                act.full_interval_ms = p.full_interval_ms;
                act.ended_once = p.ended_at_ms.is_some();
                act.deps.monitors.set_rules(p.id, p.monitors.clone());
                act.status = ActorStatus::Idle;
                act.supervisor.do_send(ChildReport::Ready(act.project));
                if let Some(run) = &last {
                    act.last_run_ms = Some(run.started_at_ms);
                    act.last_status = Some(run.status);
                    act.last_error = run.error.clone();
                }
                act.schedule_first(last.map(|r| r.started_at_ms), ctx);
                act.watch_campaign(ctx);
            }
            Ok(Err(e)) => act.crash(format!("loading the project failed: {e}"), ctx),
            Err(e) => act.crash(format!("database executor unavailable: {e}"), ctx),
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(run) = self.current_run.take() {
            // The scrape future was dropped with the actor: close its run.
            let error =
                if self.stopping_normally { "stopped (archived or shutting down)" } else { "the scraper crashed" };
            let end =
                OwnedRunEnd { error: Some(("aborted".into(), error.into())), ..OwnedRunEnd::new(RunStatus::Aborted) };
            self.deps.runs.do_send(End { run, end });
        }
        self.supervisor.do_send(ChildReport::Stopped {
            project: self.project,
            crashed: self.crashed || !self.stopping_normally,
            reason: self.last_error.clone(),
        });
    }
}

impl Handler<ScrapeNow> for ScraperActor {
    type Result = AtomicResponse<Self, Result<RunId, ActorError>>;

    fn handle(&mut self, _: ScrapeNow, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.start_run(RunTrigger::Manual))
    }
}

impl Handler<ScrapeFirst> for ScraperActor {
    type Result = ();

    fn handle(&mut self, _: ScrapeFirst, ctx: &mut Context<Self>) {
        self.first_awaited = true;
        ctx.wait(self.start_run(RunTrigger::Schedule).map(|_, _, _| ()));
        self.schedule_next(ctx);
    }
}

impl Handler<Reload> for ScraperActor {
    type Result = AtomicResponse<Self, Option<bool>>;

    /// Re-reads the sources and the schedule (paused, its own interval),
    /// and arms or disarms the schedule to match. Answers whether it is paused now
    /// (`None` if the project could not be read).
    fn handle(&mut self, _: Reload, _: &mut Context<Self>) -> Self::Result {
        let project = self.project;
        let load = self.deps.db.send(Exec(move |conn| {
            let p = Project::get(conn, project)?;
            Ok((Source::list_for_project(conn, project)?, p.paused, p.full_interval_ms, p.monitors))
        }));
        AtomicResponse::new(Box::pin(load.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok((sources, paused, full_interval_ms, monitors))) => {
                act.deps.monitors.set_rules(act.project, monitors);
                act.sources = sources;
                act.set_schedule(paused, full_interval_ms, ctx);
                act.watch_campaign(ctx);
                Some(paused)
            }
            Ok(Err(e)) => {
                log::warn!(project = act.project.0; "scraper {}: reloading the project failed: {e}", act.project);
                None
            }
            Err(e) => {
                log::warn!(project = act.project.0; "scraper {}: reloading the project failed: {e}", act.project);
                None
            }
        })))
    }
}

impl Handler<StopScraper> for ScraperActor {
    type Result = ();

    fn handle(&mut self, _: StopScraper, ctx: &mut Context<Self>) {
        self.stopping_normally = true;
        ctx.stop();
    }
}

impl Handler<Drain> for ScraperActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.stopping_normally = true;
        self.draining = true;
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if self.status != ActorStatus::Scraping {
            ctx.stop();
        }
    }
}

impl Handler<GetScraperState> for ScraperActor {
    type Result = MessageResult<GetScraperState>;

    fn handle(&mut self, _: GetScraperState, _: &mut Context<Self>) -> Self::Result {
        let mut info = ActorInfo::new("scraper", format!("scraper:{}", self.project), self.status);
        info.project_id = Some(self.project);
        info.last_run_ms = self.last_run_ms;
        info.next_run_ms = self.next_run_ms;
        info.restarts = self.restarts;
        info.mailbox = Some(self.mailbox.len());
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "sources": self.sources.len(),
            "current_run": self.current_run,
            "last_status": self.last_status,
            // Its schedule: the interval its slots follow, and whether
            // they run (not when paused or manual only).
            "full_interval_ms": self.interval().as_millis() as u64,
            "paused": self.paused,
            "manual": self.full_interval_ms.is_some_and(|ms| ms <= 0),
        });
        MessageResult(info)
    }
}

impl Handler<GetRunPhase> for ScraperActor {
    type Result = Option<RunPhase>;

    fn handle(&mut self, msg: GetRunPhase, _: &mut Context<Self>) -> Self::Result {
        if self.current_run != Some(msg.0) {
            return None;
        }
        let gates = self.deps.adapters.gates();
        let (_, progress) = self.exec.as_ref()?;
        let (_, log) = progress.snapshot();
        if let Some(standing) = gates.standing(&progress.place) {
            return Some(RunPhase { phase: "waiting", wait: Some(standing), log });
        }
        if progress.begun.load(Ordering::Relaxed) {
            return Some(RunPhase { phase: "fetching", wait: None, log });
        }
        // Spawned but not yet polled: it is about to join the first
        // source's line, behind everyone there now.
        let first = self.sources.first()?;
        Some(RunPhase { phase: "waiting", wait: Some(gates.get(first.platform).standing_if_joined()), log })
    }
}

impl ScraperActor {
    /// Records a crash and stops; the supervisor restarts the actor.
    fn crash(&mut self, error: String, ctx: &mut Context<Self>) {
        log::error!(project = self.project.0; "scraper {} crashed: {error}", self.project);
        self.last_error = Some(error);
        self.crashed = true;
        ctx.stop();
    }

    /// Creates the run row and spawns the scrape; joins a run in progress.
    ///
    /// When the database is down, a scheduled run scrapes anyway without a
    /// run row — its points go to the spool, so the series has no hole — and
    /// a manual trigger is refused (it has no run id to answer with).
    fn start_run(&mut self, trigger: RunTrigger) -> ResponseActFuture<Self, Result<RunId, ActorError>> {
        let slot = self.slot_ms.take().filter(|_| trigger == RunTrigger::Schedule);
        let awaited = std::mem::take(&mut self.first_awaited) || trigger == RunTrigger::Manual;
        if let Some(run) = self.current_run {
            return Box::pin(actix::fut::ready(Ok(run)));
        }
        if self.status == ActorStatus::Scraping {
            // An unrecorded run (database down) is in progress.
            return Box::pin(actix::fut::ready(Err(ActorError::NotRunning)));
        }
        let project = self.project;
        let now = self.deps.clock.now_ms();
        let create = self.deps.runs.send(Begin { project, kind: RunKind::Full, trigger, at_ms: now });
        Box::pin(create.into_actor(self).map(move |result, act, ctx| {
            let run = match result {
                Ok(Ok(run)) => run,
                Ok(Err(e)) if trigger == RunTrigger::Schedule && e.is_unavailable() => {
                    log::warn!(
                        "scraper {}: the database is unavailable; scraping without a run record: {e}",
                        act.project
                    );
                    act.status = ActorStatus::Scraping;
                    act.last_run_ms = Some(act.deps.clock.now_ms());
                    let progress = Arc::new(Progress::for_run(slot, awaited, act.deps.clock.now_ms(), act.interval()));
                    let handle = ctx.spawn(act.execute(None, progress.clone(), slot));
                    act.exec = Some((handle, progress));
                    return Err(e.into());
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(e) => return Err(e.into()),
            };
            act.current_run = Some(run.id);
            act.status = ActorStatus::Scraping;
            act.last_run_ms = Some(run.started_at_ms);
            act.deps.events.publish(Event::RunStarted {
                project_id: project,
                run_id: run.id,
                kind: run.kind,
                triggered_by: run.triggered_by,
                at_ms: run.started_at_ms,
            });
            let mut progress = Progress::for_run(slot, awaited, act.deps.clock.now_ms(), act.interval());
            progress.tap = Some((act.deps.events.clone(), project, run.id));
            let progress = Arc::new(progress);
            let handle = ctx.spawn(act.execute(Some(run.id), progress.clone(), slot));
            act.exec = Some((handle, progress));
            Ok(run.id)
        }))
    }

    /// The scrape itself, as a future on this actor's context.
    /// `slot` is the slot time of a scheduled run, for its lateness.
    fn execute(
        &mut self,
        run: Option<RunId>,
        progress: Arc<Progress>,
        slot: Option<i64>,
    ) -> impl ActorFuture<Self, Output = ()> {
        let project = self.project;
        let sources = self.sources.clone();
        let deps = self.deps.clone();
        let deadline = deps.config.get().run_deadline;
        let started_ms = deps.clock.now_ms();
        async move {
            // Boxed: a run waiting at its platform's gate holds this future
            // the whole time (a million catch-up runs wait at once on a
            // node's first start), and inline under the deadline and the
            // panic guard it took twice its size.
            let bounded = tokio::time::timeout(deadline, Box::pin(scrape(&sources, &deps, &progress, run)));
            let outcome = caught(bounded).await;
            let (outcome, panicked) = match outcome {
                Ok(Ok(o)) => (o, false),
                Ok(Err(_)) => {
                    // Past the deadline: the scrape future is dropped with
                    // its requests; what it stored stays.
                    let (points, mut log) = progress.snapshot();
                    log.push_str(&format!("stopped at the run deadline ({} s)\n", deadline.as_secs()));
                    let error =
                        format!("the run passed its deadline of {} s (TRAWLER_RUN_DEADLINE)", deadline.as_secs());
                    let outcome = Outcome { status: RunStatus::Failed, error: Some(("deadline", error)), points, log, platform: None };
                    (outcome, false)
                }
                Err(msg) => (
                    Outcome {
                        status: RunStatus::Failed,
                        error: Some(("panic", format!("panic: {msg}"))),
                        points: 0,
                        log: format!("panic: {msg}\n"),
                        platform: None,
                    },
                    true,
                ),
            };
            let Outcome { status, error, points, log, platform } = outcome;
            if matches!(status, RunStatus::Failed | RunStatus::Partial) {
                let (kind, message) = error.as_ref().map_or(("", ""), |(k, m)| (*k, m.as_str()));
                let (run_id, platform) = (run.map_or(0, |r| r.0), platform.map_or("", |p| p.as_str()));
                // An open circuit fails every run of its platform at the
                // gate, which logged its opening: a line per run would be a
                // million at a million projects. The run keeps its error.
                let level = if kind == "circuit_open" { log::Level::Debug } else { log::Level::Warn };
                log::log!(level, project = project.0, run = run_id, platform = platform, error_kind = kind;
                    "project {project}: run {run_id} {status}: {message}");
            }
            if let (Some(slot), Some(first)) = (slot, progress.place.first_pass_ms()) {
                deps.metrics.slot_lateness("full", first - slot);
            }
            if let Some(run) = run {
                let end = OwnedRunEnd {
                    status,
                    error: error.as_ref().map(|(k, m)| ((*k).to_owned(), m.clone())),
                    points_written: points,
                    log,
                    fetch_started_at_ms: progress.place.first_pass_ms(),
                };
                let recorded = deps.runs.send(End { run, end }).await;
                if !matches!(recorded, Ok(Ok(()))) {
                    log::warn!(project = project.0, run = run.0; "scraper {project}: recording the end of run {run} failed: {recorded:?}");
                }
            }
            (status, error, panicked, points)
        }
        .into_actor(self)
        .map(move |(status, error, panicked, points), act, ctx| {
            act.exec = None;
            act.deps.events.publish(Event::RunFinished {
                project_id: project,
                run_id: run,
                status,
                error_kind: error.as_ref().map(|(k, _)| (*k).to_owned()),
                error: error.as_ref().map(|(_, m)| m.clone()),
                points,
                at_ms: act.deps.clock.now_ms(),
            });
            act.current_run = None;
            act.status = ActorStatus::Idle;
            act.last_status = Some(status);
            act.last_error = error.map(|(_, message)| message);
            if panicked {
                let message = act.last_error.clone().unwrap_or_default();
                act.crash(message, ctx);
            } else if act.draining {
                ctx.stop();
            } else {
                act.after_run(status, started_ms, ctx);
            }
        })
    }
}
