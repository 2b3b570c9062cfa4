//! The ProjectSupervisor: starts one ScraperActor per active project,
//! restarts a scraper that crashed (with a growing delay), and stops one for
//! good when its project is archived.
//!
//! Restart intensity works like OTP's `max_restarts` in `max_seconds`: a
//! project whose scraper crashes more than `max_restarts` times within
//! `restart_window` is **quarantined** — its status is stored, it is not
//! restarted (not even by a node restart), and an admin resumes it. No
//! crash loops.
//!
//! Start-up loads the active projects with one database call and starts the
//! children directly from its result — it never `send`s to itself and
//! awaits the answer, which would deadlock (the OTP "process attempted to
//! call itself" trap).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use trawler_domain::{ProjectId, ProjectStatus};
use trawler_store::{Project, Run, Source};

use crate::db::Exec;
use crate::deps::Deps;
use crate::events::Event;
use crate::registry::{Register, Registry, Unregister};
use crate::restart::{Crashes, Verdict};
use crate::scraper::{
    ChildReport, FirstRun, Parent, Preloaded, Reload, ScrapeFirst, ScrapeNow, ScraperActor, StopScraper,
};
use crate::source::{ProjectReplan, ProjectStarted, ProjectStopped, SourceActor};
use crate::state::{ActorInfo, ActorStatus, Mailbox};

mod campaign;
mod rearm;
mod shutdown;
pub use rearm::RearmAll;

/// Starts the scraper of a project (created or reactivated).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartProject {
    /// The project.
    pub project: ProjectId,
    /// Scrape it at once instead of waiting for its slot.
    pub scrape_now: bool,
}

/// Stops a project's scraper for good (archive).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopProject(pub ProjectId);

/// Makes a project's scraper re-read its sources.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadProject(pub ProjectId);

/// Starts a resumed project with a clean restart history.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ResumeProject(pub ProjectId);

/// Entries for projects without a live scraper: restarting or quarantined.
#[derive(Message)]
#[rtype(result = "Vec<ActorInfo>")]
pub struct ListDormant;

/// Stops all polling and scheduling; each scraper stops once its run in
/// progress has finished (graceful shutdown). Answers how many are left.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct StopAll;

/// Stops the scrapers still running now, their runs closed as aborted
/// (the shutdown deadline passed).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ForceStopAll;

/// How many scrapers have not finished starting (loading their state).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountStarting;

/// How many scrapers are still alive.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountChildren;

/// Whether start-up has started every active project.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsStarted;

/// Asks for the supervisor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetSupervisorState;

#[derive(Message)]
#[rtype(result = "()")]
struct StartAll;

/// Cluster mode: this node now holds these projects' leases; start them
/// (a scrape at once only if their current slot has none yet).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Adopt(pub(crate) Vec<ProjectId>);

/// Cluster mode: stop these projects here (handed to another node, lease
/// lost, or archived elsewhere). Answers once each scraper has stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Release(pub(crate) Vec<ProjectId>);

struct Child {
    addr: Addr<ScraperActor>,
    restarts: u32,
    stopping: bool,
}

/// A project the supervisor stopped restarting.
struct Quarantine {
    restarts: u32,
    reason: Option<String>,
    since_ms: i64,
}

/// A crashed scraper waiting for its restart.
struct Restart {
    restarts: u32,
    at_ms: i64,
    reason: Option<String>,
}

/// Supervises the scrapers.
pub struct ProjectSupervisor {
    deps: Deps,
    registry: Addr<Registry>,
    sources: Vec<Addr<SourceActor>>,
    children: HashMap<ProjectId, Child>,
    /// Crashed scrapers waiting for their restart.
    restarting: HashMap<ProjectId, Restart>,
    /// When each project's scraper crashed within the restart window.
    crashes: HashMap<ProjectId, Crashes>,
    quarantined: HashMap<ProjectId, Quarantine>,
    started: bool,
    /// Scrapers started but not yet ready.
    starting: std::collections::HashSet<ProjectId>,
    shutting_down: bool,
    total_restarts: u64,
    last_error: Option<String>,
    /// When this process's supervisor was made, epoch ms: runs started
    /// before it and still `running` were left by an earlier process.
    started_ms: i64,
    /// Where its scrapers report, made once it runs.
    parent: Option<Parent>,
}

impl ProjectSupervisor {
    pub(crate) fn new(deps: Deps, registry: Addr<Registry>, sources: Vec<Addr<SourceActor>>) -> ProjectSupervisor {
        ProjectSupervisor {
            started_ms: deps.clock.now_ms(),
            deps,
            registry,
            sources,
            children: HashMap::new(),
            restarting: HashMap::new(),
            crashes: HashMap::new(),
            quarantined: HashMap::new(),
            started: false,
            starting: Default::default(),
            shutting_down: false,
            total_restarts: 0,
            last_error: None,
            parent: None,
        }
    }

    fn start_child(&mut self, project: ProjectId, first_run: FirstRun, restarts: u32, ctx: &mut Context<Self>) {
        self.start_child_with(project, first_run, restarts, None, ctx);
    }

    fn start_child_with(
        &mut self,
        project: ProjectId,
        first_run: FirstRun,
        restarts: u32,
        preloaded: Option<Preloaded>,
        ctx: &mut Context<Self>,
    ) {
        if self.shutting_down || self.children.contains_key(&project) || !self.deps.ownership.owns(project) {
            return;
        }
        let mailbox = Mailbox::default();
        let scraper = ScraperActor::new(
            project,
            self.deps.clone(),
            self.parent.get_or_insert_with(|| Arc::new(ctx.address().recipient())).clone(),
            first_run,
            restarts,
            mailbox.clone(),
            preloaded,
        );
        let addr = scraper.start();
        self.registry.do_send(Register(project, addr.clone(), mailbox));
        self.starting.insert(project);
        self.children.insert(project, Child { addr, restarts, stopping: false });
    }
}

/// Sources by project, each project's list allocated to its length: its
/// scraper keeps the list for life, and a list grown one source at a time
/// reserves room for four (640 bytes for one source, on every project).
fn by_project(list: Vec<Source>) -> HashMap<ProjectId, Vec<Source>> {
    let mut counts: HashMap<ProjectId, usize> = HashMap::new();
    for s in &list {
        *counts.entry(s.project_id).or_default() += 1;
    }
    let mut groups: HashMap<ProjectId, Vec<Source>> = HashMap::with_capacity(counts.len());
    for s in list {
        let n = counts.get(&s.project_id).copied().unwrap_or(1);
        groups.entry(s.project_id).or_insert_with(|| Vec::with_capacity(n)).push(s);
    }
    groups
}

impl Actor for ProjectSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.deps.campaigns.tell(ctx.address().recipient());
        ctx.notify(StartAll);
    }
}

impl Handler<StartAll> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, _: StartAll, ctx: &mut Context<Self>) {
        let me = self.deps.config.get().node.clone();
        let started_ms = self.started_ms;
        // In cluster mode the coordinator hands out projects (`Adopt`).
        let cluster = self.deps.ownership.is_cluster();
        let load = self.deps.db.send(Exec(move |conn| {
            // Runs a previous process left open can never finish: close them
            // before any new run starts (not those of other live nodes).
            let now = trawler_store::Node::clock(conn)?;
            let alive = trawler_store::Node::others_alive(conn, &me, now)?;
            let aborted = Run::abort_unfinished(conn, &alive, started_ms)?;
            // Projects created while no node ran are scheduled from now on:
            // their slots before this start are not misses.
            Project::mark_scheduled(conn, None, now)?;
            let projects = if cluster { Vec::new() } else { Project::list(conn, Some(ProjectStatus::Active))? };
            let quarantined = Project::list(conn, Some(ProjectStatus::Quarantined))?;
            // Three queries for every scraper's state, not two per scraper.
            let mut sources: HashMap<ProjectId, Vec<Source>> = HashMap::new();
            let mut last: HashMap<ProjectId, i64> = HashMap::new();
            if !cluster {
                sources = by_project(Source::list_active(conn)?);
                last = Run::last_started(conn)?.into_iter().collect();
            }
            // Alerts open before this start do not fire again.
            let alerts = trawler_store::Alert::open_all(conn)?;
            Ok((aborted, projects, quarantined, sources, last, alerts))
        }));
        ctx.wait(load.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok((aborted, projects, quarantined, mut sources, last, alerts))) => {
                act.deps.monitors.load(alerts);
                for p in quarantined {
                    let q = Quarantine { restarts: 0, reason: p.status_reason, since_ms: p.updated_at_ms };
                    act.quarantined.insert(p.id, q);
                }
                if aborted > 0 {
                    log::warn!("closed {aborted} runs left running by a previous process as aborted");
                }
                for p in &projects {
                    act.deps.monitors.set_rules(p.id, p.monitors.clone());
                    let preloaded = Preloaded {
                        sources: sources.remove(&p.id).unwrap_or_default(),
                        last_started_ms: last.get(&p.id).copied(),
                        paused: p.paused,
                        full_interval_ms: p.full_interval_ms,
                        ended_once: p.ended_at_ms.is_some(),
                    };
                    act.start_child_with(p.id, FirstRun::IfMissed, 0, Some(preloaded), ctx);
                }
                act.started = true;
                act.last_error = None;
                log::info!("supervisor: started {} project scrapers", projects.len());
            }
            other => {
                let error = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                log::error!("supervisor: loading projects failed, retrying in 2 s: {error}");
                act.last_error = Some(error);
                ctx.notify_later(StartAll, Duration::from_secs(2));
            }
        }));
    }
}

impl Handler<Adopt> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Adopt, ctx: &mut Context<Self>) {
        let ids = msg.0;
        let fallback = ids.clone();
        let deps = self.deps.clone();
        let load = self.deps.db.send(Exec(move |conn| {
            let monitors = &deps.monitors;
            let sources = by_project(Source::list_active_for_projects(conn, &ids)?);
            let last: HashMap<ProjectId, i64> = Run::last_started_for(conn, &ids)?.into_iter().collect();
            let schedules: HashMap<ProjectId, trawler_store::Schedule> =
                Project::schedules(conn, &ids)?.into_iter().map(|s| (s.id, s)).collect();
            for (id, rules) in Project::monitors_of(conn, &ids)? {
                monitors.set_rules(id, Some(rules));
            }
            Ok((ids, sources, last, schedules))
        }));
        // wait: a Release of the same projects is handled after their start.
        ctx.wait(load.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Ok((ids, mut sources, last, schedules))) => {
                for id in ids {
                    for s in &act.sources {
                        s.do_send(ProjectStarted(id));
                    }
                    let preloaded = Preloaded {
                        sources: sources.remove(&id).unwrap_or_default(),
                        last_started_ms: last.get(&id).copied(),
                        paused: schedules.get(&id).is_some_and(|s| s.paused),
                        full_interval_ms: schedules.get(&id).and_then(|s| s.full_interval_ms),
                        ended_once: schedules.get(&id).is_some_and(|s| s.ended_once),
                    };
                    act.start_child_with(id, FirstRun::IfMissed, 0, Some(preloaded), ctx);
                }
            }
            other => {
                // The leases stay held: start each scraper on its own, which
                // loads its state and retries through restarts.
                let error = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                log::error!("supervisor: loading {} adopted projects failed: {error}", fallback.len());
                act.last_error = Some(format!("loading adopted projects failed: {error}"));
                for id in fallback {
                    act.start_child(id, FirstRun::IfMissed, 0, ctx);
                }
            }
        }));
    }
}

impl Handler<Release> for ProjectSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Release, _: &mut Context<Self>) -> Self::Result {
        let mut stopping = Vec::new();
        for project in msg.0 {
            self.restarting.remove(&project);
            self.crashes.remove(&project);
            self.quarantined.remove(&project);
            self.starting.remove(&project);
            if let Some(child) = self.children.get_mut(&project) {
                child.stopping = true;
                stopping.push(child.addr.send(StopScraper));
            }
            self.registry.do_send(Unregister(project));
            for s in &self.sources {
                s.do_send(ProjectStopped(project));
            }
        }
        Box::pin(async move {
            futures_util::future::join_all(stopping).await;
        })
    }
}

impl Handler<StartProject> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: StartProject, ctx: &mut Context<Self>) {
        // Its polls start now, not from the next poll window (a window
        // planned just before the project was created lacks it).
        for s in &self.sources {
            s.do_send(ProjectStarted(msg.project));
            s.do_send(ProjectReplan(msg.project));
        }
        match self.children.get(&msg.project) {
            // Already started (start-up or a lease loaded it first): its
            // first run starts now, as the schedule's.
            Some(child) if msg.scrape_now => child.addr.do_send(ScrapeFirst),
            Some(_) => {}
            None => {
                let first = if msg.scrape_now { FirstRun::Now } else { FirstRun::IfMissed };
                self.start_child(msg.project, first, 0, ctx);
            }
        }
    }
}

impl Handler<StopProject> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: StopProject, _: &mut Context<Self>) {
        self.restarting.remove(&msg.0);
        self.crashes.remove(&msg.0);
        self.quarantined.remove(&msg.0);
        if let Some(child) = self.children.get_mut(&msg.0) {
            child.stopping = true;
            child.addr.do_send(StopScraper);
        }
        self.registry.do_send(Unregister(msg.0));
        for s in &self.sources {
            s.do_send(ProjectStopped(msg.0));
        }
    }
}

impl Handler<ReloadProject> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ReloadProject, ctx: &mut Context<Self>) {
        let Some(child) = self.children.get(&msg.0) else { return };
        let project = msg.0;
        // Its polls follow the scraper's schedule: stopped while paused;
        // resumed, or at a new poll interval, planned again from now.
        ctx.spawn(child.addr.send(Reload).into_actor(self).map(move |paused, act, _| match paused {
            Ok(Some(true)) => act.sources.iter().for_each(|s| s.do_send(ProjectStopped(project))),
            Ok(Some(false)) => act.sources.iter().for_each(|s| {
                s.do_send(ProjectStarted(project));
                s.do_send(ProjectReplan(project));
            }),
            _ => {}
        }));
    }
}

impl Handler<ChildReport> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildReport, ctx: &mut Context<Self>) {
        match msg {
            ChildReport::Ready(project) => {
                self.starting.remove(&project);
            }
            ChildReport::Stopped { project, crashed, reason } => self.child_stopped(project, crashed, reason, ctx),
            ChildReport::CampaignEnded { project, reason } => self.campaign_ended(project, reason, ctx),
        }
    }
}

impl ProjectSupervisor {
    /// A scraper stopped: restarted after a crash, within the intensity.
    fn child_stopped(&mut self, project: ProjectId, crashed: bool, reason: Option<String>, ctx: &mut Context<Self>) {
        self.starting.remove(&project);
        let Some(child) = self.children.remove(&project) else {
            return;
        };
        self.registry.do_send(Unregister(project));
        if child.stopping || self.shutting_down || !crashed {
            return;
        }
        self.last_error = reason.as_ref().map(|r| format!("project {project}: {r}"));
        // Restart intensity: crashes inside the window, this one included.
        let now = self.deps.clock.now_ms();
        let (max, window) = (self.deps.config.get().max_restarts, self.deps.config.get().restart_window);
        let delay = match self.crashes.entry(project).or_default().record(now, child.restarts, max, window) {
            Verdict::Quarantine => {
                self.quarantine(project, child.restarts, reason, ctx);
                return;
            }
            Verdict::Restart(delay) => delay,
        };
        let restarts = child.restarts + 1;
        self.total_restarts += 1;
        self.deps.metrics.restarts.inc();
        log::warn!(project = project.0; "supervisor: scraper {project} crashed; restart {restarts} in {delay:?}");
        let at_ms = now.saturating_add(delay.as_millis() as i64);
        self.restarting.insert(project, Restart { restarts, at_ms, reason });
        ctx.run_later(delay, move |act, ctx| {
            if let Some(r) = act.restarting.remove(&project) {
                act.start_child(project, FirstRun::IfMissed, r.restarts, ctx);
            }
        });
    }
}

impl ProjectSupervisor {
    /// Stops restarting a project: stores its status and stops its polls.
    fn quarantine(&mut self, project: ProjectId, restarts: u32, reason: Option<String>, ctx: &mut Context<Self>) {
        log::error!(project = project.0;
            "supervisor: project {project} crashed more than {} times in {:?}; quarantined",
            self.deps.config.get().max_restarts,
            self.deps.config.get().restart_window
        );
        self.crashes.remove(&project);
        self.deps.metrics.quarantines.inc();
        for s in &self.sources {
            s.do_send(ProjectStopped(project));
        }
        let text = format!(
            "crashed more than {} times in {} s; last: {}",
            self.deps.config.get().max_restarts,
            self.deps.config.get().restart_window.as_secs(),
            reason.as_deref().unwrap_or("unknown")
        );
        self.quarantined
            .insert(project, Quarantine { restarts, reason: Some(text.clone()), since_ms: self.deps.clock.now_ms() });
        self.deps.events.publish(Event::quarantined(project, text.clone()));
        let store = self.deps.db.send(Exec(move |conn| {
            Project::set_status(conn, project, ProjectStatus::Quarantined, Some(&text)).map(drop)
        }));
        ctx.spawn(store.into_actor(self).map(move |result, _, _| {
            if !matches!(result, Ok(Ok(()))) {
                log::error!(project = project.0; "supervisor: storing the quarantine of project {project} failed: {result:?}");
            }
        }));
    }
}

impl Handler<ResumeProject> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ResumeProject, ctx: &mut Context<Self>) {
        self.quarantined.remove(&msg.0);
        self.crashes.remove(&msg.0);
        self.restarting.remove(&msg.0);
        for s in &self.sources {
            s.do_send(ProjectStarted(msg.0));
            s.do_send(ProjectReplan(msg.0));
        }
        match self.children.get(&msg.0) {
            Some(child) => child.addr.do_send(ScrapeNow),
            None => self.start_child(msg.0, FirstRun::Now, 0, ctx),
        }
    }
}

impl Handler<ListDormant> for ProjectSupervisor {
    type Result = MessageResult<ListDormant>;

    fn handle(&mut self, _: ListDormant, _: &mut Context<Self>) -> Self::Result {
        let mut out = Vec::new();
        for (id, r) in &self.restarting {
            let mut info = ActorInfo::new("scraper", format!("scraper:{id}"), ActorStatus::BackingOff);
            info.project_id = Some(*id);
            info.restarts = r.restarts;
            info.next_run_ms = Some(r.at_ms);
            info.last_error = r.reason.clone();
            out.push(info);
        }
        for (id, q) in &self.quarantined {
            let mut info = ActorInfo::new("scraper", format!("scraper:{id}"), ActorStatus::Quarantined);
            info.project_id = Some(*id);
            info.restarts = q.restarts;
            info.last_error = q.reason.clone();
            info.detail = serde_json::json!({ "quarantined_since_ms": q.since_ms });
            out.push(info);
        }
        out.sort_by_key(|i| i.project_id);
        MessageResult(out)
    }
}

impl Handler<GetSupervisorState> for ProjectSupervisor {
    type Result = MessageResult<GetSupervisorState>;

    fn handle(&mut self, _: GetSupervisorState, _: &mut Context<Self>) -> Self::Result {
        let status = if self.started { ActorStatus::Running } else { ActorStatus::Starting };
        let mut info = ActorInfo::new("supervisor", "project_supervisor".into(), status);
        info.last_error = self.last_error.clone();
        info.restarts = self.total_restarts.min(u64::from(u32::MAX)) as u32;
        info.detail = serde_json::json!({
            "children": self.children.len(),
            "restarting": self.restarting.len(),
            "quarantined": self.quarantined.len(),
            "max_restarts": self.deps.config.get().max_restarts,
            "restart_window_ms": self.deps.config.get().restart_window.as_millis() as u64,
            "shutting_down": self.shutting_down,
            "full_interval_ms": self.deps.config.get().full_interval.as_millis() as u64,
        });
        MessageResult(info)
    }
}
