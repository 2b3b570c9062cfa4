//! Starting the tree, and the handle the rest of the program uses to talk to it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use trawler_domain::{now_millis, Platform, Point, ProjectId, ProjectStatus, RunId};
use trawler_sources::Adapters;
use trawler_store::lease::Holder;
use trawler_store::{Command, CommandKind, DbPool, Lease, Node, Project, StoreError};

use crate::cluster::{Control, Coordinator, CoordinatorView};
use crate::config::ActorsConfig;
use crate::db::{DbExecutor, Exec};
use crate::deps::SharedDeps;
use crate::error::ActorError;
use crate::events::{Event, EventBus};
use crate::ingest::{Flush, IngestActor};
use crate::metrics::{self, Metrics};
use crate::ownership::Ownership;
use crate::pipeline::{Imported, Pipeline};
use crate::registry::{GetRegistryState, ListScrapers, Lookup, Registry};
use crate::remote::{self, Outcome};
use crate::retention::{GetRetentionState, RetentionActor};
use crate::scraper::{GetScraperState, RunPhase, ScrapeNow};
use crate::source::{GetSourceState, SourceActor};
use crate::spool::Spool;
use crate::state::{ActorInfo, ActorStatus, Mailbox, TreeSnapshot};
use crate::supervisor::{
    CountChildren, CountStarting, ForceStopAll, GetSupervisorState, IsStarted, ListDormant, ProjectSupervisor,
    ReloadProject, ResumeProject, StartProject, StopAll, StopProject,
};
use crate::webhook::Webhooks;

/// The running tree: addresses of its long-lived actors.
#[derive(Clone)]
pub struct Tree {
    pipeline: Pipeline,
    supervisor: Addr<ProjectSupervisor>,
    registry: Addr<Registry>,
    ingest: Addr<IngestActor>,
    /// The ingest actor's last published state (read without messaging it:
    /// its mailbox pauses while it writes).
    ingest_info: Arc<Mutex<ActorInfo>>,
    ingest_mailbox: Mailbox,
    sources: Vec<(Platform, Addr<SourceActor>)>,
    retention: Option<Addr<RetentionActor>>,
    metrics: Metrics,
    db: Addr<DbExecutor>,
    adapters: Adapters,
    events: EventBus,
    webhooks: Webhooks,
    config: Arc<ActorsConfig>,
    /// This process's id in the node registry.
    instance: Arc<str>,
    /// Which projects this node runs.
    ownership: Arc<Ownership>,
    /// Shutdown's hold on the coordinator.
    control: Arc<tokio::sync::Mutex<Control>>,
    /// What the coordinator saw last.
    view: Arc<Mutex<CoordinatorView>>,
}

impl Tree {
    /// Starts the tree on the current actix system. Migrations must have run.
    /// Fails only when the spool cannot be opened.
    pub fn start(config: ActorsConfig, pool: DbPool, adapters: Adapters) -> Result<Tree, ActorError> {
        let spool = match &config.ingest.spool_dir {
            Some(dir) => {
                Some(Spool::open(dir, config.ingest.spool_max_bytes).map_err(|e| ActorError::Spool(e.to_string()))?)
            }
            None => None,
        };
        // PostgreSQL shares projects out by leases; SQLite runs one node.
        let cluster = pool.backend() == trawler_store::Backend::Postgres;
        let ownership = Arc::new(Ownership::new(cluster));
        let db_pool = pool.clone();
        let db = SyncArbiter::start(config.db_threads.max(1), move || DbExecutor::new(db_pool.clone()));
        let retention = config.retention.map(|keep| RetentionActor::new(db.clone(), keep).start());
        let metrics = Metrics::new();
        let waits = metrics.gate_wait_seconds.clone();
        adapters.gates().observe_waits(Arc::new(move |platform, waited| {
            waits
                .get_or_create(&metrics::PlatformLabel { platform: platform.to_string() })
                .observe(waited.as_secs_f64());
        }));
        let ingest_mailbox = Mailbox::default();
        let ingest_info = Arc::new(Mutex::new(ActorInfo::new("ingest", "ingest".into(), ActorStatus::Starting)));
        let ingest = IngestActor::new(
            db.clone(),
            config.ingest.clone(),
            ingest_mailbox.clone(),
            spool,
            ingest_info.clone(),
            metrics.clone(),
        )
        .start();
        let deps_mailbox = ingest_mailbox.clone();
        let events = EventBus::new();
        let slo = crate::webhook::SloCheck { full_interval: config.full_interval, target: config.slo_target };
        let webhooks = Webhooks::start(
            config.webhooks.clone(),
            config.cipher.clone(),
            slo,
            db.clone(),
            adapters.http().clone(),
            &events,
            metrics.clone(),
        );
        let pipeline = Pipeline {
            ingest: ingest.clone(),
            mailbox: ingest_mailbox,
            db: db.clone(),
            events: events.clone(),
            metrics: metrics.clone(),
        };
        let deps = Arc::new(SharedDeps {
            db: db.clone(),
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            adapters: adapters.clone(),
            config: Arc::new(config),
            events: events.clone(),
            ownership: ownership.clone(),
            fetching: Arc::default(),
        });
        let config = deps.config.clone();
        let registry = Registry::default().start();
        let sources: Vec<(Platform, Addr<SourceActor>)> =
            Platform::ALL.into_iter().map(|p| (p, SourceActor::new(p, deps.clone()).start())).collect();
        let supervisor =
            ProjectSupervisor::new(deps, registry.clone(), sources.iter().map(|(_, a)| a.clone()).collect()).start();
        // Tells this process from an earlier one under the same name.
        let instance: Arc<str> = format!("{:x}-{:x}", std::process::id(), now_millis()).into();
        let control = Arc::new(tokio::sync::Mutex::new(Control::default()));
        let view = Arc::new(Mutex::new(CoordinatorView { leases: cluster, ..CoordinatorView::default() }));
        let coordinator = Coordinator {
            db: db.clone(),
            supervisor: supervisor.clone(),
            ownership: ownership.clone(),
            gates: adapters.gates().clone(),
            node: config.node.clone(),
            instance: instance.clone(),
            control: control.clone(),
            view: view.clone(),
            events: events.clone(),
            metrics: metrics.clone(),
        };
        crate::task::spawn_supervised("coordinator", metrics.clone(), move || coordinator.clone().run());
        if cluster {
            crate::cluster::start_relay(pool.clone(), events.clone(), &config.node);
        }
        let tree = Tree {
            pipeline,
            supervisor,
            registry,
            ingest,
            ingest_info,
            ingest_mailbox: deps_mailbox,
            sources,
            retention,
            metrics,
            db,
            adapters,
            events,
            webhooks,
            config,
            instance,
            ownership,
            control,
            view,
        };
        if cluster {
            let handle = tree.clone();
            crate::task::spawn_supervised("commands", tree.metrics.clone(), move || {
                let tree = handle.clone();
                let (db, node, instance) = (tree.db.clone(), tree.config.node.clone(), tree.instance.to_string());
                remote::serve(db, node, instance, move |command| {
                    let tree = tree.clone();
                    async move { tree.carry_out(command).await }
                })
            });
        }
        Ok(tree)
    }

    /// Seals and opens stored secrets.
    pub fn cipher(&self) -> &trawler_store::Cipher {
        &self.config.cipher
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.config.node
    }

    /// How many scrapers run on this node.
    pub async fn scraper_count(&self) -> Result<usize, ActorError> {
        Ok(self.registry.send(ListScrapers).await?.len())
    }

    /// The tree's settings (cadences, for the capacity check).
    pub fn config(&self) -> &ActorsConfig {
        &self.config
    }

    /// The event bus (runs, state changes).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The webhook dispatcher (wake it after queueing a delivery).
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// The adapters (validation of sources before they are saved).
    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// Stores points of the past into a project (see [`Pipeline::import`]).
    pub async fn import(&self, project: ProjectId, points: Vec<Point>) -> Result<Imported, ActorError> {
        self.pipeline.import(project, points).await
    }

    /// What the cluster coordinator saw at its last round.
    pub fn cluster_view(&self) -> CoordinatorView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
    async fn carry_out(&self, command: Command) -> Outcome {
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

    /// Whether the supervisor has started every active project.
    pub async fn is_started(&self) -> bool {
        self.supervisor.send(IsStarted).await.unwrap_or(false)
    }

    fn ingest_state(&self) -> ActorInfo {
        let mut info = self.ingest_info.lock().unwrap_or_else(|p| p.into_inner()).clone();
        info.mailbox = Some(self.ingest_mailbox.len());
        info
    }

    /// The node's metrics (the HTTP layer records its requests there).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics in Prometheus text format, gauges sampled now from the
    /// same state `/admin/actors` shows.
    pub async fn render_metrics(&self) -> Result<String, ActorError> {
        let snapshot = self.snapshot().await?;
        let m = &self.metrics;
        m.scrapers.clear();
        for a in snapshot.actors.iter().filter(|a| a.kind == "scraper") {
            let status = serde_json::to_value(a.status).ok().and_then(|v| v.as_str().map(str::to_owned));
            m.scrapers.get_or_create(&metrics::StatusLabel { status: status.unwrap_or_default() }).inc();
        }
        if let Some(ingest) = snapshot.actors.iter().find(|a| a.kind == "ingest") {
            let gauge = |path: &str| ingest.detail.pointer(path).and_then(serde_json::Value::as_i64).unwrap_or(0);
            m.spool_points.set(gauge("/spool/points"));
            m.spool_bytes.set(gauge("/spool/bytes"));
            m.ingest_buffered.set(gauge("/buffered"));
        }
        for gate in self.adapters.gates().snapshot().platforms {
            let label = metrics::PlatformLabel { platform: gate.platform.to_string() };
            let state = match gate.circuit {
                "open" => 2,
                "half_open" => 1,
                _ => 0,
            };
            m.circuit_state.get_or_create(&label).set(state);
            m.gate_waiting.get_or_create(&label).set(gate.waiting as i64);
            m.gate_in_flight.get_or_create(&label).set(gate.in_flight as i64);
            m.throttled.get_or_create(&label).set(gate.throttled as i64);
        }
        m.encode().map_err(|e| ActorError::Metrics(e.to_string()))
    }

    /// How many scrapers are live.
    pub async fn scrapers_live(&self) -> Result<usize, ActorError> {
        Ok(self.registry.send(ListScrapers).await?.len())
    }

    /// How many scrapers are still loading their state (start-up progress,
    /// without building a whole snapshot).
    pub async fn scrapers_starting(&self) -> Result<usize, ActorError> {
        Ok(self.supervisor.send(CountStarting).await?)
    }

    /// The poll side of the freshness SLO over `[from_ms, to_ms]`, per
    /// project, summed over the platforms it is polled on. Kept in memory
    /// for the last day since this node started (polls write no run rows).
    pub async fn poll_freshness(
        &self,
        project: Option<ProjectId>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<std::collections::HashMap<ProjectId, trawler_domain::slo::Freshness>, ActorError> {
        let mut out: std::collections::HashMap<ProjectId, trawler_domain::slo::Freshness> =
            std::collections::HashMap::new();
        for (_, addr) in &self.sources {
            for (p, f) in addr.send(crate::source::GetPollFreshness { project, from_ms, to_ms }).await? {
                let e = out.entry(p).or_insert(trawler_domain::slo::Freshness {
                    slots: 0,
                    met: 0,
                    failed: 0,
                    missed: 0,
                    share: None,
                });
                e.slots += f.slots;
                e.met += f.met;
                e.failed += f.failed;
                e.missed += f.missed;
                e.share = (e.slots > 0).then(|| e.met as f64 / e.slots as f64);
            }
        }
        Ok(out)
    }

    /// Every live actor's state.
    pub async fn snapshot(&self) -> Result<TreeSnapshot, ActorError> {
        let mut actors = vec![
            self.supervisor.send(GetSupervisorState).await?,
            self.registry.send(GetRegistryState).await?,
            self.ingest_state(),
        ];
        for (_, addr) in &self.sources {
            actors.push(addr.send(GetSourceState).await?);
        }
        if let Some(retention) = &self.retention {
            actors.push(retention.send(GetRetentionState).await?);
        }
        let scrapers = self.registry.send(ListScrapers).await?;
        // A scraper that stops between the listing and the query is skipped.
        // Not counted in the mailbox: the query would count itself.
        let states = join_all(scrapers.iter().map(|(_, (addr, _))| addr.send(GetScraperState))).await;
        actors.extend(states.into_iter().flatten());
        // Projects without a live scraper: waiting for a restart, or quarantined.
        actors.extend(self.supervisor.send(ListDormant).await?);
        Ok(TreeSnapshot { node: self.config.node.clone(), taken_at_ms: now_millis(), actors })
    }

    /// Graceful shutdown: stops scheduling and polling, lets scrapes in
    /// progress finish for up to `deadline` (then stops the rest, their runs
    /// closed as aborted), waits for requests in flight, and writes every
    /// buffered point. Returns the points written by the final flush.
    pub async fn shutdown(&self, deadline: Duration) -> Result<usize, ActorError> {
        let until = tokio::time::Instant::now() + deadline;
        // No more leases taken or handed over; the heartbeat goes on, so
        // other nodes wait for the scrapes in progress to finish.
        crate::cluster::halt(&self.control).await;
        let running = self.supervisor.send(StopAll).await?;
        log::info!("shutdown: waiting for {running} scrapers to finish (up to {deadline:?})");
        while tokio::time::Instant::now() < until {
            let left = self.supervisor.send(CountChildren).await?;
            let in_flight = self.adapters.gates().snapshot().in_flight;
            if left == 0 && in_flight == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let forced = self.supervisor.send(ForceStopAll).await?;
        if forced > 0 {
            log::warn!("shutdown: {forced} scrapers did not finish in time; their runs are closed as aborted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let written = self.ingest.send(Flush).await?.map_err(ActorError::Flush)?;
        // A barrier: every database call queued before it has run.
        let _ = self.db.send(Exec(|_| Ok(()))).await;
        // The heartbeat ends, then the leases go and the node is marked
        // stopped: other nodes take its projects at their next round.
        crate::cluster::finish(&self.control).await;
        let (name, instance) = (self.config.node.clone(), self.instance.clone());
        let stopped = self
            .db
            .send(Exec(move |conn| {
                Lease::release_all(conn, Holder { node: &name, instance: &instance })?;
                let now = Node::clock(conn)?;
                Node::stopped(conn, &name, &instance, now)
            }))
            .await;
        if !matches!(stopped, Ok(Ok(()))) {
            log::warn!("shutdown: marking the node stopped failed: {stopped:?}");
        }
        Ok(written)
    }
}
