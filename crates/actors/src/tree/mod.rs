//! Starting the tree, and the handle the rest of the program uses to talk to it.

mod history;
mod inspect;
mod lifecycle;
mod reload;
mod reparse;

pub use lifecycle::{Bulk, BulkDone, BulkSkip, Cadence};
pub use reparse::Reparsed;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use trawler_domain::{now_millis, Platform, Point, ProjectId};
use trawler_sources::Adapters;
use trawler_store::lease::Holder;
use trawler_store::{DbPool, Lease, Node};

use crate::cluster::{Control, Coordinator, CoordinatorView};
use crate::compactor::CompactorActor;
use crate::config::ActorsConfig;
use crate::db::{DbExecutor, Exec};
use crate::deps::SharedDeps;
use crate::error::ActorError;
use crate::events::EventBus;
use crate::ingest::{Flush, IngestActor};
use crate::metrics::{self, Metrics};
use crate::ownership::Ownership;
use crate::pipeline::{Imported, Pipeline};
use crate::registry::{ListScrapers, Registry};
use crate::remote;
use crate::retention::RetentionActor;
use crate::runbook::RunBook;
use crate::source::SourceActor;
use crate::spool::Spool;
use crate::state::{ActorInfo, ActorStatus, Mailbox};
use crate::supervisor::{CountChildren, ForceStopAll, IsStarted, ProjectSupervisor, StopAll};
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
    /// Starts and ends of runs not yet committed.
    run_book_depth: Arc<AtomicUsize>,
    /// The response archive's writer, if answers are kept.
    archive: Option<Addr<crate::archive::ArchiveBook>>,
    /// The node's own samples over the last hours.
    history: Arc<crate::history::History>,
    sources: Vec<(Platform, Addr<SourceActor>)>,
    retention: Addr<RetentionActor>,
    compactor: Addr<CompactorActor>,
    /// Fetches the exchange rates (unless they are off).
    rates: Option<Addr<crate::rates::RatesActor>>,
    metrics: Metrics,
    db: Addr<DbExecutor>,
    adapters: Adapters,
    events: EventBus,
    webhooks: Webhooks,
    /// The configuration it started with (its name and cipher stay).
    config: Arc<ActorsConfig>,
    /// The configuration in force (a reload replaces it).
    live: crate::live::Live,
    /// What every actor shares (the monitors' defaults, for a reload).
    deps: crate::deps::Deps,
    /// This process's id in the node registry.
    instance: Arc<str>,
    /// Which projects this node runs.
    ownership: Arc<Ownership>,
    /// Shutdown's hold on the coordinator.
    control: Arc<tokio::sync::Mutex<Control>>,
    /// What the coordinator saw last.
    view: Arc<Mutex<CoordinatorView>>,
}

/// `threads` database threads (at least one) serving one queue of messages.
fn db_lane(pool: &DbPool, threads: usize) -> Addr<DbExecutor> {
    let pool = pool.clone();
    SyncArbiter::start(threads.max(1), move || DbExecutor::new(pool.clone()))
}

impl Tree {
    /// Starts the tree on the current actix system. Migrations must have run.
    /// Fails only when the spool cannot be opened.
    pub fn start(config: ActorsConfig, pool: DbPool, adapters: Adapters) -> Result<Tree, ActorError> {
        let live = crate::live::Live::new(Arc::new(config));
        let config = live.get();
        let spool = match &config.ingest.spool_dir {
            Some(dir) => {
                Some(Spool::open(dir, config.ingest.spool_max_bytes).map_err(|e| ActorError::Spool(e.to_string()))?)
            }
            None => None,
        };
        // PostgreSQL shares projects out by leases; SQLite runs one node.
        let cluster = pool.backend() == trawler_store::Backend::Postgres;
        let ownership = Arc::new(Ownership::new(cluster));
        let db = db_lane(&pool, config.db_threads);
        let retention = RetentionActor::new(db.clone(), config.retention, config.housekeeping).start();
        let compactor = CompactorActor::new(db.clone(), trawler_domain::clock::system(), config.chunk_span).start();
        let rates = config
            .exchange_rates
            .map(|every| crate::rates::RatesActor::new(adapters.clone(), db.clone(), every).start());
        let metrics = Metrics::new();
        crate::stall::start(metrics.clone());
        crate::timeline::start(db.clone(), adapters.gates().clone(), config.node.clone(), metrics.clone());
        crate::cookies::restore(&pool, &adapters, &config.cipher);
        crate::cookies::start(db.clone(), adapters.clone(), config.cipher.clone(), metrics.clone());
        let waits = metrics.gate_wait_seconds.clone();
        adapters.gates().observe_waits(Arc::new(move |platform, waited| {
            waits.get_or_create(&metrics::PlatformLabel { platform: platform.as_str() }).observe(waited.as_secs_f64());
        }));
        let ingest_mailbox = Mailbox::default();
        let ingest_info = Arc::new(Mutex::new(ActorInfo::new("ingest", "ingest".into(), ActorStatus::Starting)));
        // Points get a database thread of their own. Behind the shared
        // queue, a burst of run bookkeeping (a million projects' catch-up
        // scrapes at start-up, on PostgreSQL a round trip each) held every
        // write of points for minutes, and with it every poll waiting for
        // its acknowledgement.
        let ingest_db = db_lane(&pool, 1);
        let ingest = IngestActor::new(
            ingest_db,
            config.ingest.clone(),
            ingest_mailbox.clone(),
            spool,
            ingest_info.clone(),
            metrics.clone(),
        )
        .start();
        let deps_mailbox = ingest_mailbox.clone();
        let events = EventBus::new();
        let webhooks = Webhooks::start(
            live.clone(),
            config.cipher.clone(),
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
        // Runs' starts and ends are written in batches on a thread of
        // their own too (see `RunBook`).
        let run_book_depth = Arc::new(AtomicUsize::new(0));
        let runs = RunBook::new(db_lane(&pool, 1), &config.node, run_book_depth.clone()).start();
        let monitor_defaults = config.monitors.clone();
        // Kept answers are compressed and written on a thread of their own.
        let archive_stats = Arc::new(crate::archive::ArchiveStats::default());
        let clock = trawler_domain::clock::system();
        let archive = config.archive.map(|(bounds, _)| {
            crate::archive::ArchiveBook::new(db_lane(&pool, 1), bounds, clock.clone(), archive_stats.clone()).start()
        });
        let archiving = archive.clone().zip(config.archive).map(|(book, (_, polls_every))| crate::archive::Archiving {
            book,
            sampler: crate::archive::Sampler::new(polls_every),
        });
        let deps = Arc::new(SharedDeps {
            db: db.clone(),
            runs,
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            adapters: adapters.clone(),
            config: live.clone(),
            events: events.clone(),
            ownership: ownership.clone(),
            fetching: Arc::default(),
            clock,
            campaigns: Default::default(),
            monitors: crate::monitor::MonitorBook::new(monitor_defaults),
            spending: Default::default(),
            archive: archiving,
        });
        let registry = Registry::default().start();
        // The poll windows' loads get a thread of their own too (see
        // `SourceActor::loads`).
        let loads = db_lane(&pool, 1);
        let sources: Vec<(Platform, Addr<SourceActor>)> = Platform::SOURCES
            .into_iter()
            .map(|p| (p, SourceActor::new(p, deps.clone(), loads.clone()).start()))
            .collect();
        let shared = deps.clone();
        let supervisor =
            ProjectSupervisor::new(deps, registry.clone(), sources.iter().map(|(_, a)| a.clone()).collect()).start();
        // Tells this process from an earlier one under the same name.
        let instance: Arc<str> = format!("{:x}-{:x}", std::process::id(), now_millis()).into();
        let control = Arc::new(tokio::sync::Mutex::new(Control::default()));
        let view = Arc::new(Mutex::new(CoordinatorView { leases: cluster, ..CoordinatorView::default() }));
        let coordinator = Coordinator {
            // A lane of its own: a heartbeat queued behind other work could
            // come late enough to fence the node.
            db: db_lane(&pool, 1),
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
            crate::relay::start_relay(pool.clone(), events.clone(), &config.node);
        }
        let tree = Tree {
            pipeline,
            supervisor,
            registry,
            ingest,
            ingest_info,
            ingest_mailbox: deps_mailbox,
            run_book_depth,
            archive,
            history: Arc::default(),
            sources,
            retention,
            compactor,
            rates,
            metrics,
            db,
            adapters,
            events,
            webhooks,
            config,
            live,
            deps: shared,
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
        tree.start_history();
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
    pub fn config(&self) -> Arc<ActorsConfig> {
        self.live.get()
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

    /// Whether the supervisor has started every active project.
    pub async fn is_started(&self) -> bool {
        self.supervisor.send(IsStarted).await.unwrap_or(false)
    }

    /// The node's metrics (the HTTP layer records its requests there).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
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
