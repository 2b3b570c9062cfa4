//! The CompactorActor: moves points whose window of time has closed from the
//! head (`points`) into chunks (store `Chunks::compact`), so the head holds
//! about one chunk span of points and everything older is stored
//! compressed. Runs every quarter of the span, at most every five minutes.

use std::time::Duration;

use actix::prelude::*;
use trawler_domain::clock::SharedClock;
use trawler_store::Chunks;

use crate::db::{DbExecutor, Exec};
use crate::state::{ActorInfo, ActorStatus};

/// Head points moved per transaction.
const BATCH: usize = 20_000;
/// How soon a pass that found the compaction lock held tries again.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetCompactorState;

/// Compacts the head on a schedule.
pub struct CompactorActor {
    db: Addr<DbExecutor>,
    clock: SharedClock,
    span: Duration,
    running: bool,
    last_run_ms: Option<i64>,
    next_run_ms: Option<i64>,
    moved_total: u64,
    last_error: Option<String>,
}

impl CompactorActor {
    /// Compacts into chunks of `span`.
    pub fn new(db: Addr<DbExecutor>, clock: SharedClock, span: Duration) -> CompactorActor {
        CompactorActor {
            db,
            clock,
            span,
            running: false,
            last_run_ms: None,
            next_run_ms: None,
            moved_total: 0,
            last_error: None,
        }
    }

    fn every(&self) -> Duration {
        (self.span / 4).clamp(Duration::from_secs(1), Duration::from_secs(300))
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        let now_ms = self.clock.now_ms();
        self.next_run_ms = Some(now_ms.saturating_add(self.every().as_millis() as i64));
        // One pass at a time: a long first pass (an upgrade moving a large
        // head) is not raced by the next tick.
        if self.running {
            return;
        }
        self.running = true;
        // The first pass also merges the windows that closed while no node
        // compacted.
        let first = self.last_run_ms.replace(now_ms).is_none();
        let span = i64::try_from(self.span.as_secs()).unwrap_or(i64::MAX).max(1);
        // Windows that have closed: everything before the current one.
        let before = now_ms.div_euclid(1000).div_euclid(span).saturating_mul(span);
        let job = self.db.send(Exec(move |conn| {
            let pass = Chunks::compact_pass(conn, before, span, BATCH)?;
            if first && !pass.busy {
                Chunks::merge_all_closed(conn, before, span, BATCH)?;
            }
            Ok(pass)
        }));
        ctx.spawn(job.into_actor(self).map(move |result, act, ctx| {
            act.running = false;
            match result {
                Ok(Ok(pass)) => {
                    if pass.moved > 0 {
                        log::debug!("compactor: moved {} points into chunks", pass.moved);
                    }
                    act.moved_total += pass.moved;
                    act.last_error = None;
                    if pass.busy {
                        // Another session held the lock (retention's pass,
                        // or another node's compactor): try again in a
                        // moment, not an interval later (up to 5 minutes
                        // of an upgrade's move lost at start-up). A first
                        // pass stays first, so its merges still run.
                        if first {
                            act.last_run_ms = None;
                        }
                        act.next_run_ms = Some(act.clock.now_ms().saturating_add(BUSY_RETRY.as_millis() as i64));
                        ctx.run_later(BUSY_RETRY, |act, ctx| act.run(ctx));
                    }
                }
                Ok(Err(e)) => act.last_error = Some(e.to_string()),
                Err(e) => act.last_error = Some(e.to_string()),
            }
        }));
    }
}

impl Actor for CompactorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.run(ctx);
        ctx.run_interval(self.every(), |act, ctx| act.run(ctx));
    }
}

impl Handler<GetCompactorState> for CompactorActor {
    type Result = MessageResult<GetCompactorState>;

    fn handle(&mut self, _: GetCompactorState, _: &mut Context<Self>) -> Self::Result {
        let status = if self.running { ActorStatus::Running } else { ActorStatus::Idle };
        let mut info = ActorInfo::new("compactor", "compactor".into(), status);
        info.last_run_ms = self.last_run_ms;
        info.next_run_ms = self.next_run_ms;
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "chunk_span_secs": self.span.as_secs(),
            "moved_total": self.moved_total,
        });
        MessageResult(info)
    }
}
