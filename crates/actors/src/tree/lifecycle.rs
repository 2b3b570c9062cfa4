//! What the tree does on request: create, edit, archive or resume a project
//! (stored first, then its actors told), scrape now, cancel a run — here, or
//! on the node that runs the project (cluster mode), through the command
//! table. The API and the UI call one method each.

use std::collections::HashMap;

use trawler_domain::{now_millis, ProjectId, ProjectStatus, RunId};
use trawler_store::lease::Holder;
use trawler_store::{Command, CommandKind, Lease, NewSource, Project, ProjectPatch, Source, StoreError};

use super::Tree;
use crate::db::Exec;
use crate::error::ActorError;
use crate::events::Event;
use crate::registry::Lookup;
use crate::remote::{self, Outcome};
use crate::scraper::{RunPhase, ScrapeNow};
use crate::supervisor::{ReloadProject, ResumeProject, StartProject, StopProject};

/// An action applied to many projects at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    /// Start a full scrape now (active projects).
    Trigger,
    /// Make quarantined, ended or archived projects active again.
    Resume,
    /// Stop scraping (projects not yet archived).
    Archive,
    /// Pause the schedule (the project stays active; triggers still scrape).
    Pause,
    /// Resume a paused schedule.
    Unpause,
    /// Give each its own cadences.
    Cadence(Cadence),
}

/// A change of a project's own cadences: each field given is set, each
/// to an interval in ms, `None` (the node's setting) or `Some(0)` (manual
/// only: nothing of that kind runs on a schedule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cadence {
    /// Its full-scrape interval.
    pub full_ms: Option<Option<i64>>,
    /// Its poll interval.
    pub poll_ms: Option<Option<i64>>,
}

impl Cadence {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.full_ms.is_none() && self.poll_ms.is_none()
    }

    /// Stores the change (each interval only when it differs); the full
    /// scrape's slots move, so its schedule counts for the SLO from `now_ms`.
    fn store(self, conn: &mut trawler_store::AnyConnection, id: ProjectId, now_ms: i64) -> Result<Project, StoreError> {
        if let Some(full) = self.full_ms {
            Project::set_full_interval(conn, id, full, now_ms)?;
        }
        if let Some(poll) = self.poll_ms {
            Project::set_poll_interval(conn, id, poll, now_ms)?;
        }
        Project::get(conn, id)
    }
}

/// Why a bulk action left a project alone.
#[derive(Debug)]
pub enum BulkSkip {
    /// No such project.
    NotFound,
    /// A trigger of a project that is not active.
    NotActive,
    /// A resume of an active project.
    AlreadyActive,
    /// An archive of an archived project.
    AlreadyArchived,
    /// The action failed for this project.
    Failed(ActorError),
}

impl From<ActorError> for BulkSkip {
    fn from(e: ActorError) -> BulkSkip {
        BulkSkip::Failed(e)
    }
}

/// What a bulk action did.
#[derive(Debug, Default)]
pub struct BulkDone {
    /// Projects it was applied to, by id.
    pub done: Vec<ProjectId>,
    /// Projects it left alone, and why.
    pub skipped: Vec<(ProjectId, BulkSkip)>,
}

impl Tree {
    /// Creates a project with its (checked, sealed) sources and its own
    /// cadences, if given (see [`Tree::set_cadence`]), and starts its
    /// scraper, which scrapes it at once.
    pub async fn create_project(
        &self,
        name: String,
        sources: Vec<NewSource>,
        cadence: Cadence,
        monitors: Option<trawler_domain::monitor::ProjectMonitors>,
    ) -> Result<(Project, Vec<Source>), ActorError> {
        let (project, sources) = self
            .db
            .send(Exec(move |conn| {
                let (project, sources) = Project::create(conn, &name, &sources)?;
                // Its scraper starts now: its schedule counts from here.
                let id = project.id;
                Project::mark_scheduled(conn, Some(&[id]), project.created_at_ms)?;
                if monitors.is_some() {
                    // Before its scraper starts: its first fetch follows them.
                    Project::set_monitors(conn, id, monitors.as_ref(), project.created_at_ms)?;
                }
                Ok((cadence.store(conn, id, project.created_at_ms)?, sources))
            }))
            .await??;
        self.project_created(project.id).await?;
        let (project_id, name) = (project.id, project.name.clone());
        self.events.publish(Event::ProjectCreated { project_id, name, at_ms: project.created_at_ms });
        Ok((project, sources))
    }

    /// Renames a project or replaces its sources; an active project's
    /// scraper and polls re-read them.
    pub async fn update_project(
        &self,
        id: ProjectId,
        patch: ProjectPatch,
    ) -> Result<(Project, Vec<Source>), ActorError> {
        let reload = patch.sources.is_some();
        let (project, sources) = self
            .db
            .send(Exec(move |conn| {
                let p = Project::update(conn, id, &patch)?;
                Ok((p, Source::list_for_project(conn, id)?))
            }))
            .await??;
        if reload && project.status == ProjectStatus::Active {
            self.project_updated(id).await?;
        }
        Ok((project, sources))
    }

    /// Archives (`Archived`: its actors stop for good, its data stays) or
    /// resumes (`Active`: its scraper starts with a clean restart history) a
    /// project. A project whose campaign ended and that is resumed is
    /// scheduled again and not ended a second time.
    pub async fn set_project_status(
        &self,
        id: ProjectId,
        status: ProjectStatus,
    ) -> Result<(Project, Vec<Source>), ActorError> {
        let (project, sources) = self
            .db
            .send(Exec(move |conn| {
                let before = Project::get(conn, id)?.status;
                let mut p = Project::set_status(conn, id, status, None)?;
                // Slots while it was archived or ended are not misses;
                // those of a quarantine (its scrapes crashed) are.
                let stood_still = matches!(before, ProjectStatus::Archived | ProjectStatus::Ended);
                if stood_still && status == ProjectStatus::Active {
                    let now = now_millis();
                    Project::mark_scheduled(conn, Some(&[id]), now)?;
                    p.scheduled_from_ms = Some(now);
                }
                Ok((p, Source::list_for_project(conn, id)?))
            }))
            .await??;
        match status {
            ProjectStatus::Archived => self.project_archived(id).await?,
            _ => self.project_resumed(id).await?,
        }
        Ok((project, sources))
    }

    /// Pauses (`true`) or resumes a project's schedule. Paused, an active
    /// project keeps serving its data and scrapes when triggered, but no
    /// full scrape or poll runs on a schedule; resumed, it gets a catch-up
    /// run if its slot passed meanwhile, and its slots count for the SLO
    /// from now. The flag stays with an archived or quarantined project.
    pub async fn set_paused(&self, id: ProjectId, paused: bool) -> Result<(Project, Vec<Source>), ActorError> {
        self.reschedule(id, move |conn| Project::set_paused(conn, id, paused, now_millis())).await
    }

    /// Gives a project its own cadences: a full-scrape interval (its slots
    /// move, and count for the SLO from now) and a poll interval (its polls
    /// follow from now, not from the next window), each `None` for the
    /// node's or `Some(0)` for manual only (scraped when triggered; no
    /// polls).
    pub async fn set_cadence(&self, id: ProjectId, cadence: Cadence) -> Result<(Project, Vec<Source>), ActorError> {
        self.reschedule(id, move |conn| cadence.store(conn, id, now_millis())).await
    }

    /// Gives a project its own monitor rules and silenced monitors (`None`:
    /// the defaults alone); the node running it follows them from its next
    /// fetch.
    pub async fn set_monitors(
        &self,
        id: ProjectId,
        monitors: Option<trawler_domain::monitor::ProjectMonitors>,
    ) -> Result<(Project, Vec<Source>), ActorError> {
        self.reschedule(id, move |conn| Project::set_monitors(conn, id, monitors.as_ref(), now_millis())).await
    }

    /// Stores a change of a project's schedule (`change`), then has an
    /// active project's scraper and polls follow it, wherever they run.
    async fn reschedule(
        &self,
        id: ProjectId,
        change: impl FnOnce(&mut trawler_store::AnyConnection) -> Result<Project, StoreError> + Send + 'static,
    ) -> Result<(Project, Vec<Source>), ActorError> {
        let (project, sources) =
            self.db.send(Exec(move |conn| Ok((change(conn)?, Source::list_for_project(conn, id)?)))).await??;
        if project.status == ProjectStatus::Active {
            self.project_updated(id).await?;
        }
        Ok((project, sources))
    }

    /// Applies one action to many projects, each as its own method would:
    /// what was done, and what was left alone and why. Only the database
    /// failing ends it early (an error); every other failure is that
    /// project's skip.
    pub async fn bulk(&self, action: Bulk, ids: Vec<ProjectId>) -> Result<BulkDone, ActorError> {
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        let wanted = ids.clone();
        let found: HashMap<ProjectId, ProjectStatus> =
            self.db.send(Exec(move |conn| Project::statuses(conn, &wanted))).await??.into_iter().collect();
        let mut result = BulkDone::default();
        for id in ids {
            let Some(&status) = found.get(&id) else {
                result.skipped.push((id, BulkSkip::NotFound));
                continue;
            };
            let outcome = match (action, status) {
                (Bulk::Trigger, ProjectStatus::Active) => self.trigger(id).await.map(|_| ()).map_err(BulkSkip::from),
                (Bulk::Trigger, _) => Err(BulkSkip::NotActive),
                (Bulk::Resume, ProjectStatus::Active) => Err(BulkSkip::AlreadyActive),
                (Bulk::Resume, _) => {
                    self.set_project_status(id, ProjectStatus::Active).await.map(|_| ()).map_err(BulkSkip::from)
                }
                (Bulk::Archive, ProjectStatus::Archived) => Err(BulkSkip::AlreadyArchived),
                (Bulk::Archive, _) => {
                    self.set_project_status(id, ProjectStatus::Archived).await.map(|_| ()).map_err(BulkSkip::from)
                }
                (Bulk::Pause | Bulk::Unpause, _) => {
                    self.set_paused(id, action == Bulk::Pause).await.map(|_| ()).map_err(BulkSkip::from)
                }
                (Bulk::Cadence(c), _) => self.set_cadence(id, c).await.map(|_| ()).map_err(BulkSkip::from),
            };
            match outcome {
                Ok(()) => result.done.push(id),
                // The database or the tree going away fails the whole call:
                // the caller retries.
                Err(BulkSkip::Failed(e)) if e.is_unavailable() => return Err(e),
                Err(skip) => result.skipped.push((id, skip)),
            }
        }
        Ok(result)
    }

    /// In cluster mode, the live node other than this one that runs
    /// `project`, if any.
    async fn owner_elsewhere(&self, project: ProjectId) -> Result<Option<(String, String)>, ActorError> {
        if !self.ownership.is_cluster() || self.ownership.owns(project) {
            return Ok(None);
        }
        let owner = self
            .db
            .send(Exec(move |conn| {
                let live_since = trawler_store::Node::clock(conn)? - trawler_store::node::TTL_MS;
                Lease::owner(conn, project, live_since)
            }))
            .await??;
        Ok(owner.filter(|(node, _)| *node != self.config.node))
    }

    /// In cluster mode, takes the lease of an active project nobody runs
    /// and starts it here. Returns whether this node runs it now.
    async fn adopt_free(&self, project: ProjectId) -> Result<bool, ActorError> {
        if !self.ownership.is_cluster() {
            return Ok(true);
        }
        if self.ownership.owns(project) {
            return Ok(true);
        }
        let (node, instance) = (self.config.node.clone(), self.instance.clone());
        let taken = self
            .db
            .send(Exec(move |conn| {
                let now = trawler_store::Node::clock(conn)?;
                let live_since = now - trawler_store::node::TTL_MS;
                Lease::acquire_one(conn, Holder { node: &node, instance: &instance }, project, live_since, now)
            }))
            .await??;
        if taken {
            self.ownership.add(&[project]);
        }
        Ok(taken)
    }

    /// Asks the node process `to` (name, instance) that runs `project` to
    /// carry out `kind`, and waits for its outcome.
    async fn remote(
        &self,
        to: (String, String),
        project: ProjectId,
        kind: CommandKind,
        run: Option<RunId>,
    ) -> Result<Outcome, ActorError> {
        remote::ask(&self.db, to, project, kind, run).await
    }

    /// Triggers a full scrape of a project now, or joins the one running.
    /// In cluster mode the node that runs the project does it.
    pub async fn trigger(&self, project: ProjectId) -> Result<RunId, ActorError> {
        if let Some((addr, mailbox)) = self.registry.send(Lookup(project)).await? {
            return mailbox.send(&addr, ScrapeNow).await?;
        }
        if let Some(owner) = self.owner_elsewhere(project).await? {
            return match self.remote(owner, project, CommandKind::Trigger, None).await? {
                Outcome::Run { run_id } => Ok(RunId(run_id)),
                other => Err(ActorError::Remote(format!("unexpected answer {}", other.to_text()))),
            };
        }
        // Nobody runs it: a free active project starts here.
        if self.ownership.is_cluster() && !self.ownership.owns(project) && self.adopt_free(project).await? {
            self.supervisor.send(StartProject { project, scrape_now: false }).await?;
            if let Some((addr, mailbox)) = self.registry.send(Lookup(project)).await? {
                return mailbox.send(&addr, ScrapeNow).await?;
            }
        }
        self.trigger_local(project).await
    }

    /// Triggers a scrape of a project run on this node, or says why not.
    async fn trigger_local(&self, project: ProjectId) -> Result<RunId, ActorError> {
        if let Some((addr, mailbox)) = self.registry.send(Lookup(project)).await? {
            return mailbox.send(&addr, ScrapeNow).await?;
        }
        // No live scraper: say why.
        let found = self.db.send(Exec(move |conn| Project::get(conn, project))).await?;
        match found {
            Ok(p) if p.status == ProjectStatus::Archived => Err(ActorError::Archived),
            Ok(p) if p.status == ProjectStatus::Quarantined => Err(ActorError::Quarantined),
            Ok(_) => Err(ActorError::NotRunning),
            Err(StoreError::NotFound(_)) => Err(ActorError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Where a running run of `project` stands: waiting at a gate (with its
    /// place and estimated start) or fetching. `None` when the run is not
    /// in progress on this node.
    pub async fn run_phase(&self, project: ProjectId, run: RunId) -> Result<Option<RunPhase>, ActorError> {
        let Some((addr, mailbox)) = self.registry.send(Lookup(project)).await? else {
            return Ok(None);
        };
        Ok(mailbox.send(&addr, crate::scraper::GetRunPhase(run)).await?)
    }

    /// Cancels a running run: its scrape stops, the points stored so far
    /// stay, it ends `cancelled`. Returns the run as recorded.
    pub async fn cancel(&self, run: RunId) -> Result<trawler_store::Run, ActorError> {
        let found = self.db.send(Exec(move |conn| trawler_store::Run::get(conn, run))).await??;
        if found.status != trawler_domain::RunStatus::Running {
            return Err(ActorError::RunNotRunning);
        }
        if let Some(owner) = self.owner_elsewhere(found.project_id).await? {
            self.remote(owner, found.project_id, CommandKind::Cancel, Some(run)).await?;
        } else {
            self.cancel_local(found.project_id, run).await?;
        }
        Ok(self.db.send(Exec(move |conn| trawler_store::Run::get(conn, run))).await??)
    }

    async fn cancel_local(&self, project: ProjectId, run: RunId) -> Result<(), ActorError> {
        let Some((addr, mailbox)) = self.registry.send(Lookup(project)).await? else {
            return Err(ActorError::RunNotRunning);
        };
        mailbox.send(&addr, crate::scraper::CancelRun(run)).await??;
        Ok(())
    }

    /// Starts the scraper of a new project and scrapes it at once. In
    /// cluster mode the node that created it takes its lease; shares even
    /// out later.
    pub async fn project_created(&self, project: ProjectId) -> Result<(), ActorError> {
        if !self.adopt_free(project).await? {
            if let Some(owner) = self.owner_elsewhere(project).await? {
                self.remote(owner, project, CommandKind::Trigger, None).await?;
            }
            return Ok(());
        }
        Ok(self.supervisor.send(StartProject { project, scrape_now: true }).await?)
    }

    /// Stops a project's scraper and polls for good (wherever it runs).
    pub async fn project_archived(&self, project: ProjectId) -> Result<(), ActorError> {
        match self.owner_elsewhere(project).await? {
            // Its node also notices at its next round if this is lost.
            Some(owner) => {
                if let Err(e) = self.remote(owner, project, CommandKind::Stop, None).await {
                    log::warn!("archiving project {project}: its node did not confirm: {e}");
                }
            }
            None => self.stop_local(project).await?,
        }
        self.events.publish(Event::ProjectArchived { project_id: project, at_ms: now_millis() });
        Ok(())
    }

    async fn stop_local(&self, project: ProjectId) -> Result<(), ActorError> {
        self.supervisor.send(StopProject(project)).await?;
        if self.ownership.is_cluster() && self.ownership.owns(project) {
            self.ownership.remove(&[project]);
            let (node, instance) = (self.config.node.clone(), self.instance.clone());
            self.db
                .send(Exec(move |conn| Lease::release(conn, Holder { node: &node, instance: &instance }, &[project])))
                .await??;
        }
        Ok(())
    }

    /// Starts a resumed project's scraper (quarantined or archived before;
    /// the caller has set it active) with a clean restart history.
    pub async fn project_resumed(&self, project: ProjectId) -> Result<(), ActorError> {
        if self.adopt_free(project).await? {
            self.supervisor.send(ResumeProject(project)).await?;
        } else if let Some(owner) = self.owner_elsewhere(project).await? {
            self.remote(owner, project, CommandKind::Trigger, None).await?;
        }
        self.events.publish(Event::ProjectResumed { project_id: project, at_ms: now_millis() });
        Ok(())
    }

    /// Makes a project's scraper re-read its sources (wherever it runs).
    pub async fn project_updated(&self, project: ProjectId) -> Result<(), ActorError> {
        if let Some(owner) = self.owner_elsewhere(project).await? {
            self.remote(owner, project, CommandKind::Reload, None).await?;
            return Ok(());
        }
        Ok(self.supervisor.send(ReloadProject(project)).await?)
    }

    /// The supervision tree of `node` (this one, or another live node of
    /// the cluster, asked through the command table), as JSON.
    pub async fn snapshot_of(&self, node: &str) -> Result<serde_json::Value, ActorError> {
        if node == self.config.node {
            return serde_json::to_value(self.snapshot().await?).map_err(|e| ActorError::Remote(e.to_string()));
        }
        let (nodes, now) = self
            .db
            .send(Exec(|conn| Ok((trawler_store::Node::list(conn)?, trawler_store::Node::clock(conn)?))))
            .await??;
        let Some(target) = nodes.into_iter().find(|n| n.name == node && n.alive(now, trawler_store::node::TTL_MS))
        else {
            return Err(ActorError::NodeNotFound(node.to_owned()));
        };
        match self.remote((target.name, target.instance), ProjectId(0), CommandKind::Snapshot, None).await? {
            Outcome::Snapshot(tree) => Ok(tree),
            other => Err(ActorError::Remote(format!("unexpected answer {}", other.to_text()))),
        }
    }

    /// Carries out a command another node queued for a project run here.
    pub(super) async fn carry_out(&self, command: Command) -> Outcome {
        let project = command.project_id;
        let done = |r: Result<(), ActorError>| r.map(|()| Outcome::Done { ok: true });
        Outcome::of(match command.kind {
            CommandKind::Trigger => self.trigger_local(project).await.map(|run| Outcome::Run { run_id: run.0 }),
            CommandKind::Cancel => match command.run_id {
                Some(run) => done(self.cancel_local(project, run).await),
                None => Err(ActorError::RunNotRunning),
            },
            CommandKind::Stop => done(self.stop_local(project).await),
            CommandKind::Reload => done(self.supervisor.send(ReloadProject(project)).await.map_err(ActorError::from)),
            CommandKind::Snapshot => self
                .snapshot()
                .await
                .and_then(|s| serde_json::to_value(s).map_err(|e| ActorError::Remote(e.to_string())))
                .map(Outcome::Snapshot),
        })
    }
}
