//! The RetentionActor keeps the database bounded under a steady load:
//! - raw points older than the retention period become hourly rollups
//!   (store `Point::roll_up_before`), so series and summaries keep reading
//!   the whole history at an hour's resolution;
//! - operational rows are pruned (store `prune`): finished runs with their
//!   logs and webhook deliveries past their age (each project and webhook
//!   keeping its newest), commands done a day ago, expired sessions, rows of
//!   nodes long silent.
//!
//! Runs every tenth of the shortest retention, at most hourly.

use std::time::Duration;

use actix::prelude::*;
use trawler_domain::{now_millis, now_secs};
use trawler_store::prune::{self, Policy, Pruned};
use trawler_store::Point;

use crate::config::Housekeeping;
use crate::db::{DbExecutor, Exec};
use crate::state::{ActorInfo, ActorStatus};

/// Done commands are kept a day: long enough to read an outcome back.
const COMMANDS_KEPT: Duration = Duration::from_secs(86_400);

/// Rows per delete statement.
const BATCH: u32 = 5_000;

/// How soon a roll-up that found the compaction lock held tries again.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetRetentionState;

/// Rolls up old points and prunes old operational rows on a schedule.
pub struct RetentionActor {
    db: Addr<DbExecutor>,
    /// Raw points' retention; `None` keeps them all.
    keep: Option<Duration>,
    housekeeping: Housekeeping,
    last_run_ms: Option<i64>,
    next_run_ms: Option<i64>,
    rolled_total: u64,
    pruned_total: Pruned,
    last_pruned: Pruned,
    last_error: Option<String>,
    /// Roll-ups that found the compaction lock held and tried again a
    /// second later.
    busy_retries: u64,
    /// A retry is armed.
    retry_armed: bool,
}

impl RetentionActor {
    /// Keeps raw points for `keep` and operational rows by `housekeeping`.
    pub fn new(db: Addr<DbExecutor>, keep: Option<Duration>, housekeeping: Housekeeping) -> RetentionActor {
        RetentionActor {
            db,
            keep,
            housekeeping,
            last_run_ms: None,
            next_run_ms: None,
            rolled_total: 0,
            pruned_total: Pruned::default(),
            last_pruned: Pruned::default(),
            last_error: None,
            busy_retries: 0,
            retry_armed: false,
        }
    }

    fn every(&self) -> Duration {
        let h = &self.housekeeping;
        [self.keep, h.runs, h.deliveries, h.nodes, h.alerts, h.audit]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_secs(3600), |shortest| shortest / 10)
            .clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }

    fn policy(&self, now_ms: i64) -> Policy {
        let h = &self.housekeeping;
        let before = |age: Option<Duration>| {
            age.map(|a| now_ms.saturating_sub(i64::try_from(a.as_millis()).unwrap_or(i64::MAX)))
        };
        Policy {
            runs_before_ms: before(h.runs),
            runs_keep: h.runs_keep,
            deliveries_before_ms: before(h.deliveries),
            deliveries_keep: h.deliveries_keep,
            commands_before_ms: before(Some(COMMANDS_KEPT)).unwrap_or(i64::MIN),
            sessions_before_ms: now_ms,
            nodes_before_ms: before(h.nodes),
            alerts_before_ms: before(h.alerts),
            audit_before_ms: before(h.audit),
            batch: BATCH,
        }
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        let now_ms = now_millis();
        self.last_run_ms = Some(now_ms);
        self.next_run_ms = Some(now_ms + self.every().as_millis() as i64);
        let cutoff = self.keep.map(|keep| now_secs() - keep.as_secs() as i64);
        let policy = self.policy(now_ms);
        let job = self.db.send(Exec(move |conn| {
            let rolled = match cutoff {
                Some(cutoff) => Point::roll_up_before(conn, cutoff)?,
                None => trawler_store::Pass::default(),
            };
            Ok((rolled, prune::prune(conn, &policy)?))
        }));
        // spawn: a long pass never keeps the state query waiting.
        ctx.spawn(job.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok((pass, pruned))) => {
                let rolled = pass.moved;
                // The compactor (this node's or another's) holds the lock:
                // the rest waits a second, not a whole interval (an hour).
                if pass.busy && !act.retry_armed {
                    act.busy_retries += 1;
                    act.retry_armed = true;
                    ctx.run_later(BUSY_RETRY, |act, ctx| {
                        act.retry_armed = false;
                        act.run(ctx);
                    });
                }
                if rolled > 0 {
                    log::info!("retention: rolled {rolled} raw points into hourly rollups");
                }
                if pruned.total() > 0 {
                    log::info!(
                        "retention: pruned {} runs, {} webhook deliveries, {} commands, {} sessions, {} nodes, {} alerts",
                        pruned.runs,
                        pruned.deliveries,
                        pruned.commands,
                        pruned.sessions,
                        pruned.nodes,
                        pruned.alerts
                    );
                }
                act.rolled_total += rolled;
                act.pruned_total.add(pruned);
                act.last_pruned = pruned;
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

/// Puts new retention settings in force (a reload): the next pass keeps
/// and deletes by them.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Reconfigure {
    /// Raw points' retention; `None` keeps them all.
    pub(crate) keep: Option<Duration>,
    /// What operational retention deletes.
    pub(crate) housekeeping: Housekeeping,
}

impl Handler<Reconfigure> for RetentionActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, _: &mut Context<Self>) {
        self.keep = msg.keep;
        self.housekeeping = msg.housekeeping;
    }
}

impl Handler<GetRetentionState> for RetentionActor {
    type Result = MessageResult<GetRetentionState>;

    fn handle(&mut self, _: GetRetentionState, _: &mut Context<Self>) -> Self::Result {
        let mut info = ActorInfo::new("retention", "retention".into(), ActorStatus::Idle);
        info.last_run_ms = self.last_run_ms;
        info.next_run_ms = self.next_run_ms;
        info.last_error = self.last_error.clone();
        let h = &self.housekeeping;
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs());
        info.detail = serde_json::json!({
            "keep_raw_secs": secs(self.keep),
            "rolled_total": self.rolled_total,
            "busy_retries": self.busy_retries,
            "keep": {
                "runs_secs": secs(h.runs),
                "runs_min_per_project": h.runs_keep,
                "deliveries_secs": secs(h.deliveries),
                "deliveries_min_per_webhook": h.deliveries_keep,
                "commands_secs": COMMANDS_KEPT.as_secs(),
                "nodes_secs": secs(h.nodes),
                "alerts_secs": secs(h.alerts),
            },
            "pruned_last": self.last_pruned,
            "pruned_total": self.pruned_total,
        });
        MessageResult(info)
    }
}
