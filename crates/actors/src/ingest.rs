//! The IngestActor: the single funnel from scrapers to the points table.
//!
//! Points arrive in `IngestPoints` messages and are buffered; the buffer is
//! written in one batch when it reaches `batch_size` or when it is
//! `flush_interval` old, whichever comes first. Writes run on the
//! DbExecutor while this actor *waits* (`AtomicResponse` / `ctx.wait`): its
//! mailbox stops draining, the bounded mailbox fills, and scrapers block in
//! `send().await`. That is the back-pressure — a burst of scrapes slows the
//! scrapers down instead of flooding memory or the database. When a write
//! fails, the batch stays in the buffer and is retried; while the buffer is
//! over `max_buffered`, senders wait until a write succeeds.

use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use trawler_domain::{now_millis, Point};

use crate::db::{DbExecutor, WritePoints};
use crate::state::{ActorInfo, ActorStatus, Mailbox};

/// Settings of the ingestion stage.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Points per database write.
    pub batch_size: usize,
    /// Longest a point waits in the buffer before a write.
    pub flush_interval: Duration,
    /// Messages the mailbox holds before senders wait.
    pub mailbox: usize,
    /// Points buffered (e.g. while the database is down) before senders wait.
    pub max_buffered: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_size: 1000,
            flush_interval: Duration::from_millis(500),
            mailbox: 64,
            max_buffered: 100_000,
        }
    }
}

/// Hands points to ingestion. Answered once the points are buffered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct IngestPoints(pub Vec<Point>);

/// Writes everything buffered; answers with the points written (shutdown).
#[derive(Message)]
#[rtype(result = "Result<usize, String>")]
pub struct Flush;

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
}

/// Buffers points and writes them in batches.
pub struct IngestActor {
    db: Addr<DbExecutor>,
    config: IngestConfig,
    mailbox: Mailbox,
    buffer: Vec<Point>,
    counters: Counters,
    status: ActorStatus,
    last_flush_ms: Option<i64>,
    last_error: Option<String>,
}

impl IngestActor {
    /// An ingest actor writing through `db`; `mailbox` counts the points
    /// messages waiting for it.
    pub fn new(db: Addr<DbExecutor>, config: IngestConfig, mailbox: Mailbox) -> IngestActor {
        IngestActor {
            db,
            config,
            mailbox,
            buffer: Vec::new(),
            counters: Counters::default(),
            status: ActorStatus::Idle,
            last_flush_ms: None,
            last_error: None,
        }
    }

    /// A future writing the whole buffer once; on failure the points go back
    /// to the front of the buffer, in order.
    fn write_once(&mut self) -> impl ActorFuture<Self, Output = Result<usize, String>> {
        let batch = std::mem::take(&mut self.buffer);
        self.status = ActorStatus::Flushing;
        let db = self.db.clone();
        async move {
            if batch.is_empty() {
                return (batch, Ok(0));
            }
            match db.send(WritePoints(batch)).await {
                Ok((batch, r)) => (batch, r.map_err(|e| e.to_string())),
                // Only when the executor is gone (shutdown): nothing to keep.
                Err(e) => (Vec::new(), Err(format!("database executor unavailable: {e}"))),
            }
        }
        .into_actor(self)
        .map(|(batch, result), act, _| {
            act.last_flush_ms = Some(now_millis());
            match result {
                Ok(n) => {
                    act.counters.batches += 1;
                    act.counters.written += n as u64;
                    act.counters.duplicates += (batch.len() - n) as u64;
                    act.status = ActorStatus::Idle;
                    act.last_error = None;
                    Ok(n)
                }
                Err(e) => {
                    log::warn!("ingest: writing {} points failed, keeping them for a retry: {e}", batch.len());
                    act.counters.failed_writes += 1;
                    act.status = ActorStatus::BackingOff;
                    act.last_error = Some(e.clone());
                    let newer = std::mem::replace(&mut act.buffer, batch);
                    act.buffer.extend(newer);
                    Err(e)
                }
            }
        })
    }

    /// A future that writes until the buffer is below `max_buffered`,
    /// sleeping a second between failed tries (the mailbox stays paused).
    fn drain_below_cap(&mut self) -> ResponseActFuture<Self, ()> {
        Box::pin(self.write_once().then(|result, act, _| {
            let again = result.is_err() && act.buffer.len() >= act.config.max_buffered;
            async move {
                if again {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                again
            }
            .into_actor(act)
            .then(|again, act, _| -> ResponseActFuture<Self, ()> {
                if again {
                    act.drain_below_cap()
                } else {
                    Box::pin(actix::fut::ready(()))
                }
            })
        }))
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.config.mailbox);
        ctx.run_interval(self.config.flush_interval, |act, ctx| {
            if !act.buffer.is_empty() {
                // wait: no message is handled while the write runs.
                ctx.wait(act.write_once().map(|_, _, _| ()));
            }
        });
    }
}

impl Handler<IngestPoints> for IngestActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: IngestPoints, _: &mut Context<Self>) -> Self::Result {
        self.counters.received += msg.0.len() as u64;
        self.buffer.extend(msg.0);
        if self.buffer.len() >= self.config.max_buffered {
            AtomicResponse::new(self.drain_below_cap())
        } else if self.buffer.len() >= self.config.batch_size {
            AtomicResponse::new(Box::pin(self.write_once().map(|_, _, _| ())))
        } else {
            AtomicResponse::new(Box::pin(actix::fut::ready(())))
        }
    }
}

impl Handler<Flush> for IngestActor {
    type Result = AtomicResponse<Self, Result<usize, String>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(self.write_once()))
    }
}

impl Handler<GetIngestState> for IngestActor {
    type Result = MessageResult<GetIngestState>;

    fn handle(&mut self, _: GetIngestState, _: &mut Context<Self>) -> Self::Result {
        let mut info = ActorInfo::new("ingest", "ingest".into(), self.status);
        info.last_run_ms = self.last_flush_ms;
        info.mailbox = Some(self.mailbox.len());
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "buffered": self.buffer.len(),
            "batch_size": self.config.batch_size,
            "flush_interval_ms": self.config.flush_interval.as_millis() as u64,
            "max_buffered": self.config.max_buffered,
            "counters": self.counters,
        });
        MessageResult(info)
    }
}
