//! The run book: every start and end of a run is recorded through one actor
//! that writes them in batches, one transaction each, on a database thread
//! of its own.
//!
//! A run costs two writes (its row, then its outcome). One transaction per
//! write held a node starting with a million projects never scraped — each
//! owes a catch-up run within a minute — to the rate of commits (about a
//! thousand runs a second on PostgreSQL), and every other write queued
//! behind them. Here, while one batch is being written, the next gathers
//! whatever arrives meanwhile (group commit): an idle node writes each
//! entry at once, a busy one writes hundreds per commit. A caller's answer
//! comes after the commit, so a run's row exists before anyone hears of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use trawler_domain::{ProjectId, RunId, RunKind, RunTrigger};
use trawler_store::{Booked, Booking, OwnedRunEnd, Run, StoreError, StoreResult};

use crate::db::{DbExecutor, Exec};

/// Most entries one transaction carries.
const MAX_BATCH: usize = 1024;

/// Records starts and ends of runs in batches.
pub(crate) struct RunBook {
    /// The database thread the batches are written on.
    lane: Addr<DbExecutor>,
    /// The node the runs are recorded on.
    node: Arc<str>,
    /// Entries waiting for the next batch, with their callers.
    queue: Vec<(Booking, Reply)>,
    /// Whether a batch is being written now.
    writing: bool,
    /// Entries waiting or being written, for the node's state views.
    depth: Arc<AtomicUsize>,
}

/// Where an entry's answer goes.
enum Reply {
    Started(oneshot::Sender<StoreResult<Run>>),
    Finished(oneshot::Sender<StoreResult<()>>),
}

impl RunBook {
    /// A book over its own database thread; `depth` counts the entries in
    /// it.
    pub(crate) fn new(lane: Addr<DbExecutor>, node: &str, depth: Arc<AtomicUsize>) -> RunBook {
        RunBook { lane, node: node.into(), queue: Vec::new(), writing: false, depth }
    }

    fn enqueue(&mut self, entry: Booking, reply: Reply, ctx: &mut Context<Self>) {
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.queue.push((entry, reply));
        self.write(ctx);
    }

    /// Writes what waits, unless a batch is being written: then it goes
    /// when that one is in.
    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.queue.is_empty() {
            return;
        }
        let n = self.queue.len().min(MAX_BATCH);
        let (entries, replies): (Vec<Booking>, Vec<Reply>) = self.queue.drain(..n).unzip();
        self.writing = true;
        let node = self.node.clone();
        let batch = self.lane.send(Exec(move |conn| Ok(Run::book(conn, &node, &entries))));
        ctx.spawn(batch.into_actor(self).map(move |result, act, ctx| {
            act.writing = false;
            act.depth.fetch_sub(replies.len(), Ordering::Relaxed);
            let answers: Vec<StoreResult<Booked>> = match result {
                Ok(Ok(answers)) => answers,
                Ok(Err(e)) => replies.iter().map(|_| Err(e.shared())).collect(),
                Err(e) => {
                    replies.iter().map(|_| Err(StoreError::Unavailable(format!("database thread: {e}")))).collect()
                }
            };
            for (reply, answer) in replies.into_iter().zip(answers) {
                reply.send(answer);
            }
            act.write(ctx);
        }));
    }
}

impl Reply {
    /// Answers the caller (who may have gone: a fire-and-forget end).
    fn send(self, answer: StoreResult<Booked>) {
        let mismatch = || StoreError::Corrupt("the run book answered an entry with another's kind".into());
        match self {
            Reply::Started(tx) => {
                let _ = tx.send(answer.and_then(|b| match b {
                    Booked::Started(run) => Ok(run),
                    Booked::Finished => Err(mismatch()),
                }));
            }
            Reply::Finished(tx) => {
                let _ = tx.send(answer.and_then(|b| match b {
                    Booked::Finished => Ok(()),
                    Booked::Started(_) => Err(mismatch()),
                }));
            }
        }
    }
}

impl Actor for RunBook {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Every scraper may send at once; waiting happens in the queue.
        ctx.set_mailbox_capacity(usize::MAX);
    }
}

/// Records the start of a run now; answers with its row once committed.
pub(crate) struct Begin {
    pub(crate) project: ProjectId,
    pub(crate) kind: RunKind,
    pub(crate) trigger: RunTrigger,
    pub(crate) at_ms: i64,
}

impl Message for Begin {
    type Result = StoreResult<Run>;
}

impl Handler<Begin> for RunBook {
    type Result = ResponseFuture<StoreResult<Run>>;

    fn handle(&mut self, msg: Begin, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let Begin { project, kind, trigger, at_ms } = msg;
        self.enqueue(Booking::Start { project, kind, trigger, at_ms }, Reply::Started(tx), ctx);
        Box::pin(
            async move { rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the run book stopped".into()))) },
        )
    }
}

/// Records how a run ended; answers once committed.
pub(crate) struct End {
    pub(crate) run: RunId,
    pub(crate) end: OwnedRunEnd,
}

impl Message for End {
    type Result = StoreResult<()>;
}

impl Handler<End> for RunBook {
    type Result = ResponseFuture<StoreResult<()>>;

    fn handle(&mut self, msg: End, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Booking::Finish { run: msg.run, end: msg.end }, Reply::Finished(tx), ctx);
        Box::pin(
            async move { rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the run book stopped".into()))) },
        )
    }
}
