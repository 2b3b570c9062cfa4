//! The RetentionActor: rolls raw points older than the retention period into
//! hourly rollups (store `Point::roll_up_before`), so the points table stays
//! bounded while series and summaries keep reading the whole history at an
//! hour's resolution. Runs every tenth of the period, at most hourly.

use std::time::Duration;

use actix::prelude::*;
use trawler_domain::{now_millis, now_secs};
use trawler_store::Point;

use crate::db::{DbExecutor, Exec};
use crate::state::{ActorInfo, ActorStatus};

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetRetentionState;

/// Rolls up old points on a schedule.
pub struct RetentionActor {
    db: Addr<DbExecutor>,
    keep: Duration,
    last_run_ms: Option<i64>,
    next_run_ms: Option<i64>,
    rolled_total: u64,
    last_error: Option<String>,
}

impl RetentionActor {
    /// Keeps raw points for `keep`.
    pub fn new(db: Addr<DbExecutor>, keep: Duration) -> RetentionActor {
        RetentionActor { db, keep, last_run_ms: None, next_run_ms: None, rolled_total: 0, last_error: None }
    }

    fn every(&self) -> Duration {
        (self.keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        let cutoff = now_secs() - self.keep.as_secs() as i64;
        self.last_run_ms = Some(now_millis());
        self.next_run_ms = Some(now_millis() + self.every().as_millis() as i64);
        let job = self.db.send(Exec(move |conn| Point::roll_up_before(conn, cutoff)));
        // spawn: a long roll-up never keeps the state query waiting.
        ctx.spawn(job.into_actor(self).map(|result, act, _| match result {
            Ok(Ok(n)) => {
                if n > 0 {
                    log::info!("retention: rolled {n} raw points into hourly rollups");
                }
                act.rolled_total += n;
                act.last_error = None;
            }
            Ok(Err(e)) => act.last_error = Some(e.to_string()),
            Err(e) => act.last_error = Some(e.to_string()),
        }));
    }
}

impl Actor for RetentionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.run(ctx);
        ctx.run_interval(self.every(), |act, ctx| act.run(ctx));
    }
}

impl Handler<GetRetentionState> for RetentionActor {
    type Result = MessageResult<GetRetentionState>;

    fn handle(&mut self, _: GetRetentionState, _: &mut Context<Self>) -> Self::Result {
        let mut info = ActorInfo::new("retention", "retention".into(), ActorStatus::Idle);
        info.last_run_ms = self.last_run_ms;
        info.next_run_ms = self.next_run_ms;
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "keep_raw_secs": self.keep.as_secs(),
            "rolled_total": self.rolled_total,
        });
        MessageResult(info)
    }
}
