//! The IngestActor: the single funnel from scrapers to the points table.
//!
//! Points arrive in `IngestPoints` messages and are buffered; the buffer is
//! flushed when it reaches `batch_size`, when it is `flush_interval` old, and
//! as soon as the mailbox has been drained (group commit: each flush carries
//! what arrived during the previous one). A sender's `send().await` resolves
//! only when its points are **durable**.
//!
//! With a spool (the default: `<data dir>/spool`), a flush appends the
//! batch to the spool's journal, fsyncs it and acknowledges it at once; the
//! journaled points are then written to the database *behind* the
//! acknowledgement, by one write at a time that carries everything journaled
//! meanwhile. So a database commit is not bounded by senders × points (each
//! sender waits for its acknowledgement before it sends again), and a busy
//! node writes big batches however few scrapers it runs. When the points
//! behind pass four batches, acknowledgements wait for the database again:
//! that is the back-pressure. Once a write is in, its journal segments are
//! let go. A message's `on_written` runs once its points are in the
//! database, so a `points` event never announces a point a reader cannot
//! see yet.
//!
//! When a write fails, the journal keeps everything not yet written and the
//! node goes on acknowledging from it (spooling); a drain replays the spool
//! with exponential backoff (1 s … 30 s) and lets it go once all is in. At
//! start-up the spool a previous process left is drained the same way.
//!
//! Without a spool, a flush writes to the database and acknowledges after the
//! commit; a failed write is retried every second while everyone waits.
//! Writes, appends and drains run on other threads; appends, drains and
//! retries pause the mailbox (`ctx.wait`) so that batches keep their order,
//! and the bounded mailbox then makes scrapers wait in `send().await`.
//! Nothing is dropped.

mod pending;
mod spooling;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::oneshot;
use trawler_domain::{now_millis, Point};

use crate::db::{DbExecutor, WritePoints};
use crate::metrics::Metrics;
use crate::spool::{Spool, SpoolDepth, SpoolError};
use crate::state::{ActorInfo, ActorStatus, Mailbox};
pub use pending::OnWritten;
use pending::Pending;

/// Longest wait between two drains of the spool.
const MAX_DRAIN_BACKOFF: Duration = Duration::from_secs(30);

/// Batches of points that may wait behind their acknowledgement.
const BEHIND_BATCHES: usize = 4;

/// Settings of the ingestion stage.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Points per database write.
    pub batch_size: usize,
    /// Longest a point waits in the buffer before a write.
    pub flush_interval: Duration,
    /// Messages the mailbox holds before senders wait.
    pub mailbox: usize,
    /// Where the spool lives; `None` disables it (senders then wait for
    /// every commit, and out a database outage).
    pub spool_dir: Option<PathBuf>,
    /// The spool's size bound in bytes; past it, senders wait.
    pub spool_max_bytes: u64,
}

impl Default for IngestConfig {
    /// The stage of the default settings, without a spool.
    fn default() -> Self {
        crate::ActorsSettings::default().ingest(None)
    }
}

/// Hands points to ingestion. Answered when they are durable (database or
/// spool), or with why they could not be stored.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct IngestPoints {
    points: Vec<Point>,
    on_written: Option<OnWritten>,
}

impl IngestPoints {
    /// The points of one scrape.
    pub fn new(points: Vec<Point>) -> IngestPoints {
        IngestPoints { points, on_written: None }
    }

    /// Runs `f` once the points are in the database (or, while it is down,
    /// once they wait in the spool for it): later than the acknowledgement
    /// when the spool acknowledges.
    pub fn on_written(mut self, f: impl FnOnce() + Send + 'static) -> IngestPoints {
        self.on_written = Some(Box::new(f));
        self
    }
}

/// Writes everything buffered and waits for the points behind to reach the
/// database (or the spool, while it is down); answers with the points that
/// were waiting (shutdown).
#[derive(Message)]
#[rtype(result = "Result<usize, String>")]
pub struct Flush;

/// Writes the buffer once the messages queued before it are handled.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushQueued;

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetIngestState;

/// Ingestion counters, shown under `detail` in `/admin/actors`.
#[derive(Debug, Clone, Default, Serialize)]
struct Counters {
    received: u64,
    written: u64,
    duplicates: u64,
    batches: u64,
    failed_writes: u64,
    journaled: u64,
    spooled: u64,
    replayed: u64,
}

/// Buffers points and writes them in batches.
pub struct IngestActor {
    db: Addr<DbExecutor>,
    config: IngestConfig,
    mailbox: Mailbox,
    /// Received, not yet durable.
    buffer: Pending,
    /// Journaled, not yet in the database (never while spooling).
    behind: Pending,
    /// A write of points from behind is under way.
    writing: bool,
    /// A write failed: what the spool holds waits for a drain, and new
    /// batches are acknowledged from the spool alone.
    spooling: bool,
    /// The journal failed on its disk: flushes write to the database directly.
    journal_broken: bool,
    /// Flush requests waiting for everything to settle.
    settled: Vec<oneshot::Sender<()>>,
    spool: Option<Arc<Mutex<Spool>>>,
    spool_depth: SpoolDepth,
    next_drain: Instant,
    drain_backoff: Duration,
    counters: Counters,
    status: ActorStatus,
    last_flush_ms: Option<i64>,
    last_error: Option<String>,
    /// The actor's state, republished after every change so `/admin/actors`
    /// can read it while the mailbox is paused for a write.
    published: Arc<Mutex<ActorInfo>>,
    metrics: Metrics,
    /// A flush is planned for when the mailbox has been drained.
    flush_planned: bool,
}

type Step = ResponseActFuture<IngestActor, ()>;

fn done() -> Step {
    Box::pin(actix::fut::ready(()))
}

impl IngestActor {
    /// An ingest actor writing through `db`; `mailbox` counts the points
    /// messages waiting for it; `spool` journals batches (see the module).
    pub fn new(
        db: Addr<DbExecutor>,
        config: IngestConfig,
        mailbox: Mailbox,
        spool: Option<Spool>,
        published: Arc<Mutex<ActorInfo>>,
        metrics: Metrics,
    ) -> IngestActor {
        let spool_depth = spool.as_ref().map(Spool::depth).unwrap_or_default();
        IngestActor {
            published,
            metrics,
            flush_planned: false,
            db,
            config,
            mailbox,
            buffer: Pending::default(),
            behind: Pending::default(),
            writing: false,
            spooling: spool_depth.batches > 0,
            journal_broken: false,
            settled: Vec::new(),
            spool: spool.map(|s| Arc::new(Mutex::new(s))),
            spool_depth,
            next_drain: Instant::now(),
            drain_backoff: Duration::from_secs(1),
            counters: Counters::default(),
            status: ActorStatus::Idle,
            last_flush_ms: None,
            last_error: None,
        }
    }

    /// The actor's state as `/admin/actors` shows it.
    fn info(&self) -> ActorInfo {
        let mut info = ActorInfo::new("ingest", "ingest".into(), self.status);
        info.last_run_ms = self.last_flush_ms;
        info.mailbox = Some(self.mailbox.len());
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "buffered": self.buffer.len(),
            "behind": self.behind.len(),
            "waiting_senders": self.buffer.senders() + self.behind.senders(),
            "batch_size": self.config.batch_size,
            "flush_interval_ms": self.config.flush_interval.as_millis() as u64,
            "journal": self.spool.is_some() && !self.journal_broken,
            "spool": if self.spool.is_some() { serde_json::json!(self.spool_depth) } else { serde_json::Value::Null },
            "counters": self.counters,
        });
        info
    }

    fn publish(&self) {
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = self.info();
    }

    /// Nothing is buffered, and nothing journaled waits for a write that can
    /// happen now.
    fn is_settled(&self) -> bool {
        self.buffer.is_empty() && (self.spooling || (self.behind.is_empty() && !self.writing))
    }

    fn settle(&mut self) {
        if self.is_settled() {
            for s in self.settled.drain(..) {
                let _ = s.send(());
            }
        }
    }

    /// Makes the buffer durable: into the journal when there is one, else
    /// into the database.
    fn flush(&mut self) -> Step {
        if self.buffer.is_empty() {
            return done();
        }
        let batch = self.buffer.take();
        match self.spool.clone() {
            Some(spool) if !self.journal_broken => self.journal(spool, batch),
            _ => self.write_now(batch),
        }
    }

    /// Appends a batch to the journal, acknowledges it, and queues it for
    /// the database.
    fn journal(&mut self, spool: Arc<Mutex<Spool>>, batch: Pending) -> Step {
        self.status = ActorStatus::Flushing;
        self.publish();
        let (points, rest) = batch.split();
        let append = tokio::task::spawn_blocking(move || {
            let mut s = spool.lock().unwrap_or_else(|p| p.into_inner());
            let result = s.append(&points);
            (points, result, s.depth())
        });
        Box::pin(append.into_actor(self).then(move |joined, act, ctx| {
            let Ok((points, result, depth)) = joined else {
                log::error!("ingest: the journal's task failed");
                act.journal_broken = true;
                return act.write_now(rest.join(Vec::new()));
            };
            act.spool_depth = depth;
            let mut batch = rest.join(points);
            match result {
                Ok(_) => {
                    act.counters.journaled += batch.len() as u64;
                    if act.spooling {
                        act.spooled(batch);
                    } else {
                        if act.behind.len() < BEHIND_BATCHES * act.config.batch_size.max(1) {
                            batch.acknowledge();
                        }
                        act.behind.append(batch);
                        act.write_behind(ctx);
                    }
                    act.status = ActorStatus::Idle;
                    act.settle();
                    act.publish();
                    done()
                }
                Err(SpoolError::Full { .. }) if act.spooling => act.hold(batch),
                Err(e) => {
                    // Full while the database takes writes (a bound smaller
                    // than the points behind), or the disk failed: this
                    // batch goes straight to the database.
                    if !matches!(e, SpoolError::Full { .. }) {
                        log::error!("ingest: the journal failed ({e}); writing to the database directly");
                        act.journal_broken = true;
                    }
                    act.last_error = Some(format!("journal: {e}"));
                    act.write_now(batch)
                }
            }
        }))
    }

    /// Writes what the journal holds and the database does not, if no write
    /// is under way; runs beside the mailbox.
    fn write_behind(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.spooling || self.behind.is_empty() {
            return;
        }
        let through = self.spool.as_ref().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).last_seq());
        let (points, rest) = self.behind.take().split();
        self.writing = true;
        let write = self.db.send(WritePoints(points));
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.writing = false;
            act.last_flush_ms = Some(now_millis());
            match result {
                Ok((points, Ok(n))) => {
                    act.written(points.len(), n);
                    if let (Some(spool), Some(seq)) = (&act.spool, through) {
                        let mut s = spool.lock().unwrap_or_else(|p| p.into_inner());
                        if let Err(e) = s.written_through(seq) {
                            log::warn!("ingest: letting go of written journal segments: {e}");
                        }
                        act.spool_depth = s.depth();
                    }
                    rest.join(points).finish(Ok(()));
                }
                Ok((points, Err(e))) => {
                    // The journal holds these and everything after them.
                    act.counters.failed_writes += 1;
                    act.last_error = Some(format!("database: {e}"));
                    act.status = ActorStatus::BackingOff;
                    act.next_drain = Instant::now() + act.drain_backoff;
                    let mut all = rest.join(points);
                    all.append(act.behind.take());
                    act.spooled(all);
                }
                Err(e) => {
                    // The executor is gone (shutdown); the journal keeps the
                    // points for the next start.
                    act.spooling = true;
                    act.last_error = Some(format!("database executor unavailable: {e}"));
                    let mut all = rest.join(Vec::new());
                    all.append(act.behind.take());
                    all.finish(Ok(()));
                }
            }
            act.write_behind(ctx);
            act.settle();
            act.publish();
        }));
    }

    /// Acknowledges a batch the spool holds until a drain writes it: the
    /// node is spooling.
    fn spooled(&mut self, batch: Pending) {
        self.spooling = true;
        self.counters.spooled += batch.len() as u64;
        self.metrics.points_spooled.inc_by(batch.len() as u64);
        batch.finish(Ok(()));
    }

    /// Counts a write of `batch` points of which `new` were new.
    fn written(&mut self, batch: usize, new: usize) {
        self.counters.batches += 1;
        self.counters.written += new as u64;
        self.counters.duplicates += (batch - new.min(batch)) as u64;
        self.metrics.points_written.inc_by(new as u64);
        self.metrics.batch_points.observe(batch as f64);
        self.status = ActorStatus::Idle;
        self.last_error = None;
    }

    /// Writes a batch to the database and acknowledges it after the commit;
    /// a failed write goes to the spool, or waits for another try.
    fn write_now(&mut self, batch: Pending) -> Step {
        self.status = ActorStatus::Flushing;
        self.publish();
        let (points, rest) = batch.split();
        let write = self.db.send(WritePoints(points));
        Box::pin(write.into_actor(self).then(move |result, act, _| {
            act.last_flush_ms = Some(now_millis());
            match result {
                Ok((points, Ok(n))) => {
                    act.written(points.len(), n);
                    rest.join(points).finish(Ok(()));
                    act.settle();
                    act.publish();
                    done()
                }
                Ok((points, Err(e))) => {
                    act.counters.failed_writes += 1;
                    act.last_error = Some(format!("database: {e}"));
                    act.publish();
                    act.spool_or_hold(rest.join(points))
                }
                Err(e) => {
                    // The executor is gone (shutdown): nothing can store these.
                    rest.join(Vec::new()).finish(Err(format!("database executor unavailable: {e}")));
                    act.settle();
                    done()
                }
            }
        }))
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.config.mailbox);
        if self.spooling {
            log::warn!("ingest: {} points wait in the spool from before; replaying", self.spool_depth.points);
        }
        self.publish();
        ctx.run_interval(self.config.flush_interval, |act, ctx| {
            act.publish();
            // wait: no message is handled while an append or a drain runs.
            if !act.buffer.is_empty() {
                ctx.wait(act.flush());
            }
            if act.spooling && !act.writing && Instant::now() >= act.next_drain {
                ctx.wait(act.drain());
            }
        });
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.buffer.take().finish(Err("ingestion stopped".into()));
        // What waits behind is in the journal: the next start writes it.
        self.behind.take().finish(Ok(()));
        Running::Stop
    }
}

impl Handler<IngestPoints> for IngestActor {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, msg: IngestPoints, ctx: &mut Context<Self>) -> Self::Result {
        self.counters.received += msg.points.len() as u64;
        // Not published here: once per batch is enough (the flush that
        // follows publishes), and building the state at every message was
        // a few percent of the actors' thread under a flat-out load.
        let rx = self.buffer.push(msg.points, msg.on_written);
        if self.buffer.len() >= self.config.batch_size {
            ctx.wait(self.flush());
        } else if !self.flush_planned {
            // Group commit: a note to self queues behind the messages
            // already waiting, so one write carries everything that arrived
            // meanwhile and no sender waits for the flush interval.
            self.flush_planned = true;
            ctx.notify(FlushQueued);
        }
        Box::pin(
            async move { rx.await.unwrap_or_else(|_| Err("ingestion stopped before the points were stored".into())) },
        )
    }
}

impl Handler<FlushQueued> for IngestActor {
    type Result = ();

    fn handle(&mut self, _: FlushQueued, ctx: &mut Context<Self>) {
        self.flush_planned = false;
        if !self.buffer.is_empty() {
            ctx.wait(self.flush());
        }
    }
}

impl Handler<Flush> for IngestActor {
    type Result = ResponseFuture<Result<usize, String>>;

    fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) -> Self::Result {
        let n = self.buffer.len() + self.behind.len();
        let (tx, rx) = oneshot::channel();
        self.settled.push(tx);
        // A flush under way settles when it ends.
        if self.buffer.is_empty() {
            self.settle();
        } else {
            ctx.wait(self.flush());
        }
        Box::pin(async move { rx.await.map(|()| n).map_err(|_| "ingestion stopped before the flush ended".into()) })
    }
}

impl Handler<GetIngestState> for IngestActor {
    type Result = MessageResult<GetIngestState>;

    fn handle(&mut self, _: GetIngestState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info())
    }
}
