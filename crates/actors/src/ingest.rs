//! The IngestActor: the single funnel from scrapers to the points table.
//!
//! Points arrive in `IngestPoints` messages and are buffered; the buffer is
//! written in one batch when it reaches `batch_size` or when it is
//! `flush_interval` old, whichever comes first — and, since senders wait for
//! their acknowledgement, as soon as the mailbox has been drained (group
//! commit: each write carries what arrived during the previous one). A
//! sender's `send().await`
//! resolves only when its points are **durable** — in the database, or, when
//! the database is down, appended and fsync'd to the spool (spool.rs). That
//! is group commit: one write acknowledges every message in the batch.
//!
//! Writes run on the DbExecutor while this actor *waits* (`ctx.wait`): its
//! mailbox stops draining, the bounded mailbox fills, and scrapers block in
//! `send().await`. That is the back-pressure — a burst of scrapes, a slow
//! database or a full spool slows the scrapers instead of flooding memory.
//! Nothing is dropped: a batch that can go neither to the database nor to
//! the spool is retried every second while everyone waits.
//!
//! While the spool holds batches, a drain retries them against the database
//! with exponential backoff (1 s … 30 s) and empties the spool once all are
//! in. At start-up the spool a previous process left is drained the same way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::oneshot;
use trawler_domain::{now_millis, Point};

use crate::db::{DbExecutor, WritePoints};
use crate::metrics::Metrics;
use crate::spool::{Spool, SpoolDepth};
use crate::state::{ActorInfo, ActorStatus, Mailbox};

/// Longest wait between two drains of the spool.
const MAX_DRAIN_BACKOFF: Duration = Duration::from_secs(30);

/// Settings of the ingestion stage.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Points per database write.
    pub batch_size: usize,
    /// Longest a point waits in the buffer before a write.
    pub flush_interval: Duration,
    /// Messages the mailbox holds before senders wait.
    pub mailbox: usize,
    /// Where the spool lives; `None` disables it (senders then wait out a
    /// database outage).
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
pub struct IngestPoints(pub Vec<Point>);

/// Writes everything buffered; answers with the points written (shutdown).
#[derive(Message)]
#[rtype(result = "Result<usize, String>")]
pub struct Flush;

/// Writes the buffer once the messages queued before it are handled.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushQueued;

impl Handler<FlushQueued> for IngestActor {
    type Result = ();

    fn handle(&mut self, _: FlushQueued, ctx: &mut Context<Self>) {
        self.flush_planned = false;
        if !self.buffer.is_empty() {
            ctx.wait(self.flush());
        }
    }
}

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
    spooled: u64,
    replayed: u64,
}

type Waiter = oneshot::Sender<Result<(), String>>;

/// Buffers points and writes them in batches.
pub struct IngestActor {
    db: Addr<DbExecutor>,
    config: IngestConfig,
    mailbox: Mailbox,
    buffer: Vec<Point>,
    waiters: Vec<Waiter>,
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

fn ack(waiters: Vec<Waiter>, result: Result<(), String>) {
    for w in waiters {
        // A sender that gave up waiting is gone; nothing to tell it.
        let _ = w.send(result.clone());
    }
}

impl IngestActor {
    /// An ingest actor writing through `db`; `mailbox` counts the points
    /// messages waiting for it; `spool` takes batches the database refuses.
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
            buffer: Vec::new(),
            waiters: Vec::new(),
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
            "waiting_senders": self.waiters.len(),
            "batch_size": self.config.batch_size,
            "flush_interval_ms": self.config.flush_interval.as_millis() as u64,
            "spool": if self.spool.is_some() { serde_json::json!(self.spool_depth) } else { serde_json::Value::Null },
            "counters": self.counters,
        });
        info
    }

    fn publish(&self) {
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = self.info();
    }

    /// Writes the buffer: to the database, else to the spool, else holds it
    /// and tries again every second (the mailbox stays paused meanwhile).
    fn flush(&mut self) -> ResponseActFuture<Self, ()> {
        if self.buffer.is_empty() {
            return Box::pin(actix::fut::ready(()));
        }
        let batch = std::mem::take(&mut self.buffer);
        let waiters = std::mem::take(&mut self.waiters);
        self.status = ActorStatus::Flushing;
        self.publish();
        let write = self.db.send(WritePoints(batch));
        Box::pin(write.into_actor(self).then(move |result, act, _| {
            act.last_flush_ms = Some(now_millis());
            match result {
                Ok((batch, Ok(n))) => {
                    act.counters.batches += 1;
                    act.counters.written += n as u64;
                    act.metrics.points_written.inc_by(n as u64);
                    act.metrics.batch_points.observe(batch.len() as f64);
                    act.counters.duplicates += (batch.len() - n) as u64;
                    act.status = ActorStatus::Idle;
                    act.last_error = None;
                    ack(waiters, Ok(()));
                    act.publish();
                    Box::pin(actix::fut::ready(())) as ResponseActFuture<Self, ()>
                }
                Ok((batch, Err(e))) => {
                    act.counters.failed_writes += 1;
                    act.last_error = Some(format!("database: {e}"));
                    act.publish();
                    act.spool_or_hold(batch, waiters)
                }
                Err(e) => {
                    // The executor is gone (shutdown): nothing can store these.
                    ack(waiters, Err(format!("database executor unavailable: {e}")));
                    Box::pin(actix::fut::ready(()))
                }
            }
        }))
    }

    /// Appends a batch the database refused to the spool and acknowledges it;
    /// without a spool, or with a full one, holds it for another try.
    fn spool_or_hold(&mut self, batch: Vec<Point>, waiters: Vec<Waiter>) -> ResponseActFuture<Self, ()> {
        self.status = ActorStatus::BackingOff;
        let Some(spool) = self.spool.clone() else {
            return self.hold(batch, waiters);
        };
        let append = tokio::task::spawn_blocking(move || {
            let mut s = spool.lock().unwrap_or_else(|p| p.into_inner());
            let result = s.append(&batch).map_err(|e| e.to_string());
            (batch, result, s.depth())
        });
        Box::pin(append.into_actor(self).then(move |joined, act, _| match joined {
            Ok((batch, Ok(()), depth)) => {
                act.spool_depth = depth;
                act.counters.spooled += batch.len() as u64;
                act.metrics.points_spooled.inc_by(batch.len() as u64);
                ack(waiters, Ok(()));
                act.publish();
                Box::pin(actix::fut::ready(())) as ResponseActFuture<Self, ()>
            }
            Ok((batch, Err(e), depth)) => {
                act.spool_depth = depth;
                log::warn!("ingest: the database and the spool both refused {} points: {e}", batch.len());
                act.last_error = Some(format!("spool: {e}"));
                act.publish();
                act.hold(batch, waiters)
            }
            Err(e) => {
                log::error!("ingest: spool task failed: {e}");
                ack(waiters, Err(format!("spool task failed: {e}")));
                Box::pin(actix::fut::ready(()))
            }
        }))
    }

    /// Puts a batch back in front of the buffer and tries again in a second.
    fn hold(&mut self, batch: Vec<Point>, waiters: Vec<Waiter>) -> ResponseActFuture<Self, ()> {
        let newer = std::mem::replace(&mut self.buffer, batch);
        self.buffer.extend(newer);
        let newer = std::mem::replace(&mut self.waiters, waiters);
        self.waiters.extend(newer);
        Box::pin(tokio::time::sleep(Duration::from_secs(1)).into_actor(self).then(|_, act, _| act.flush()))
    }

    /// Replays the spool into the database; empties it when every batch is in.
    fn drain(&mut self) -> ResponseActFuture<Self, ()> {
        let Some(spool) = self.spool.clone() else {
            return Box::pin(actix::fut::ready(()));
        };
        let read = tokio::task::spawn_blocking({
            let spool = spool.clone();
            move || spool.lock().unwrap_or_else(|p| p.into_inner()).read_all().map_err(|e| e.to_string())
        });
        let db = self.db.clone();
        let replay = async move {
            let batches = read.await.map_err(|e| e.to_string())??;
            let mut replayed = 0u64;
            for batch in batches {
                let (batch, result) = db.send(WritePoints(batch)).await.map_err(|e| e.to_string())?;
                result.map_err(|e| e.to_string())?;
                replayed += batch.len() as u64;
            }
            let depth = tokio::task::spawn_blocking(move || {
                let mut s = spool.lock().unwrap_or_else(|p| p.into_inner());
                s.clear().map(|()| s.depth()).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??;
            Ok::<_, String>((replayed, depth))
        };
        Box::pin(replay.into_actor(self).map(|result, act, _| match result {
            Ok((replayed, depth)) => {
                log::info!("ingest: the spool drained ({replayed} points replayed)");
                act.counters.replayed += replayed;
                act.metrics.points_written.inc_by(replayed);
                act.spool_depth = depth;
                act.drain_backoff = Duration::from_secs(1);
                act.status = ActorStatus::Idle;
                act.publish();
            }
            Err(e) => {
                act.next_drain = Instant::now() + act.drain_backoff;
                act.drain_backoff = (act.drain_backoff * 2).min(MAX_DRAIN_BACKOFF);
                act.last_error = Some(format!("draining the spool: {e}"));
                act.publish();
            }
        }))
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.config.mailbox);
        if self.spool_depth.batches > 0 {
            log::warn!("ingest: {} points wait in the spool from before; replaying", self.spool_depth.points);
        }
        self.publish();
        ctx.run_interval(self.config.flush_interval, |act, ctx| {
            act.publish();
            // wait: no message is handled while a write or a drain runs.
            if !act.buffer.is_empty() {
                ctx.wait(act.flush());
            }
            if act.spool_depth.batches > 0 && Instant::now() >= act.next_drain {
                ctx.wait(act.drain());
            }
        });
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        ack(std::mem::take(&mut self.waiters), Err("ingestion stopped".into()));
        Running::Stop
    }
}

impl Handler<IngestPoints> for IngestActor {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, msg: IngestPoints, ctx: &mut Context<Self>) -> Self::Result {
        self.counters.received += msg.0.len() as u64;
        self.buffer.extend(msg.0);
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        self.publish();
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

impl Handler<Flush> for IngestActor {
    type Result = AtomicResponse<Self, Result<usize, String>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let n = self.buffer.len();
        AtomicResponse::new(Box::pin(self.flush().map(move |(), act, _| match &act.last_error {
            Some(e) if !act.buffer.is_empty() => Err(e.clone()),
            _ => Ok(n),
        })))
    }
}

impl Handler<GetIngestState> for IngestActor {
    type Result = MessageResult<GetIngestState>;

    fn handle(&mut self, _: GetIngestState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info())
    }
}
