//! The ProjectSupervisor: starts one ScraperActor per active project,
//! restarts a scraper that crashed (with a growing delay), and stops one for
//! good when its project is archived.
//!
//! Start-up loads the active projects with one database call and starts the
//! children directly from its result — it never `send`s to itself and
//! awaits the answer, which would deadlock (the OTP "process attempted to
//! call itself" trap).

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use trawler_domain::{ProjectId, ProjectStatus};
use trawler_store::{Project, Run};

use crate::db::Exec;
use crate::registry::{Register, Registry, Unregister};
use crate::scraper::{FirstRun, Reload, ScrapeNow, ScraperActor, StopScraper};
use crate::source::{ProjectStarted, ProjectStopped, SourceActor, StopPolling};
use crate::state::{ActorInfo, ActorStatus};
use crate::tree::Deps;

/// Longest wait before restarting a crashed scraper.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

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

/// Sent by a scraper when it stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildStopped {
    /// Whose scraper.
    pub project: ProjectId,
    /// Whether it crashed (restart) or was stopped (do not).
    pub crashed: bool,
    /// Its last error.
    pub reason: Option<String>,
}

/// Stops every scraper and all polling (shutdown).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct StopAll;

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

struct Child {
    addr: Addr<ScraperActor>,
    restarts: u32,
    stopping: bool,
}

/// Supervises the scrapers.
pub struct ProjectSupervisor {
    deps: Deps,
    registry: Addr<Registry>,
    sources: Vec<Addr<SourceActor>>,
    children: HashMap<ProjectId, Child>,
    /// Crashed scrapers waiting for their restart, with their restart count.
    restarting: HashMap<ProjectId, u32>,
    started: bool,
    shutting_down: bool,
    total_restarts: u64,
    last_error: Option<String>,
}

impl ProjectSupervisor {
    pub(crate) fn new(deps: Deps, registry: Addr<Registry>, sources: Vec<Addr<SourceActor>>) -> ProjectSupervisor {
        ProjectSupervisor {
            deps,
            registry,
            sources,
            children: HashMap::new(),
            restarting: HashMap::new(),
            started: false,
            shutting_down: false,
            total_restarts: 0,
            last_error: None,
        }
    }

    fn start_child(&mut self, project: ProjectId, first_run: FirstRun, restarts: u32, ctx: &mut Context<Self>) {
        if self.shutting_down || self.children.contains_key(&project) {
            return;
        }
        let addr = ScraperActor::new(project, self.deps.clone(), ctx.address(), first_run, restarts).start();
        self.registry.do_send(Register(project, addr.clone()));
        self.children.insert(project, Child { addr, restarts, stopping: false });
    }
}

impl Actor for ProjectSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(StartAll);
    }
}

impl Handler<StartAll> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, _: StartAll, ctx: &mut Context<Self>) {
        let load = self.deps.db.send(Exec(|conn| {
            // Runs a previous process left open can never finish: close them
            // before any new run starts.
            let aborted = Run::abort_unfinished(conn)?;
            let projects = Project::list(conn, Some(ProjectStatus::Active))?;
            Ok((aborted, projects))
        }));
        ctx.wait(load.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok((aborted, projects))) => {
                if aborted > 0 {
                    log::warn!("closed {aborted} runs left running by a previous process as aborted");
                }
                for p in &projects {
                    act.start_child(p.id, FirstRun::IfMissed, 0, ctx);
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

impl Handler<StartProject> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: StartProject, ctx: &mut Context<Self>) {
        for s in &self.sources {
            s.do_send(ProjectStarted(msg.project));
        }
        match self.children.get(&msg.project) {
            // Already started (start-up loaded it first): just scrape it now.
            Some(child) if msg.scrape_now => child.addr.do_send(ScrapeNow),
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

    fn handle(&mut self, msg: ReloadProject, _: &mut Context<Self>) {
        if let Some(child) = self.children.get(&msg.0) {
            child.addr.do_send(Reload);
        }
    }
}

impl Handler<ChildStopped> for ProjectSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildStopped, ctx: &mut Context<Self>) {
        let Some(child) = self.children.remove(&msg.project) else {
            return;
        };
        self.registry.do_send(Unregister(msg.project));
        if child.stopping || self.shutting_down || !msg.crashed {
            return;
        }
        // A crash: restart after 1 s, 2 s, 4 s … up to a minute.
        let restarts = child.restarts + 1;
        self.total_restarts += 1;
        self.last_error = msg.reason.map(|r| format!("project {}: {r}", msg.project));
        let delay = Duration::from_secs(1u64 << child.restarts.min(6)).min(MAX_RESTART_DELAY);
        log::warn!("supervisor: scraper {} crashed; restart {restarts} in {delay:?}", msg.project);
        self.restarting.insert(msg.project, restarts);
        let project = msg.project;
        ctx.run_later(delay, move |act, ctx| {
            if let Some(restarts) = act.restarting.remove(&project) {
                act.start_child(project, FirstRun::IfMissed, restarts, ctx);
            }
        });
    }
}

impl Handler<StopAll> for ProjectSupervisor {
    type Result = usize;

    fn handle(&mut self, _: StopAll, _: &mut Context<Self>) -> usize {
        self.shutting_down = true;
        self.restarting.clear();
        for s in &self.sources {
            s.do_send(StopPolling);
        }
        for child in self.children.values_mut() {
            child.stopping = true;
            child.addr.do_send(StopScraper);
        }
        self.children.len()
    }
}

impl Handler<IsStarted> for ProjectSupervisor {
    type Result = bool;

    fn handle(&mut self, _: IsStarted, _: &mut Context<Self>) -> bool {
        self.started
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
            "shutting_down": self.shutting_down,
            "full_interval_ms": self.deps.config.full_interval.as_millis() as u64,
        });
        MessageResult(info)
    }
}
