//! The RatesActor keeps the exchange rates money is converted with: the
//! European Central Bank's euro reference rates, fetched through the `ecb`
//! platform's gate like any source (rate, circuit, retries), every
//! `exchange_rates_interval` (the ECB fixes once a working day). The first
//! fetch, or one after rates older than a few days, reads the last 90 days
//! at once. Rates are stored as points of the node's own series (store
//! `RATES_PROJECT`), dated by the day they were fixed; only days newer than
//! the newest stored are written. A failed fetch leaves the rates stored in
//! use, tries again sooner, and shows in `/admin/actors`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use trawler_domain::{now_millis, now_secs, Platform, Point, RunKind};
use trawler_sources::{Adapters, SourceSpec};
use trawler_store::RATES_PROJECT;

use crate::db::{DbExecutor, Exec};
use crate::state::{ActorInfo, ActorStatus};

/// Rates older than this are topped up from the 90-day file.
const HISTORY_AFTER_SECS: i64 = 5 * 86_400;
/// How long after start the first fetch waits.
const START_DELAY: Duration = Duration::from_secs(2);
/// The first retry after a failure; it doubles up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(60);

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetRatesState;

/// Fetches and stores the exchange rates on a schedule.
pub struct RatesActor {
    adapters: Adapters,
    db: Addr<DbExecutor>,
    every: Duration,
    running: bool,
    failures: u32,
    last_run_ms: Option<i64>,
    next_run_ms: Option<i64>,
    last_ok_ms: Option<i64>,
    /// The day of the newest rate stored, epoch seconds.
    newest: Option<i64>,
    stored_total: u64,
    last_error: Option<String>,
}

impl RatesActor {
    /// Fetches every `every`.
    pub fn new(adapters: Adapters, db: Addr<DbExecutor>, every: Duration) -> RatesActor {
        RatesActor {
            adapters,
            db,
            every: every.max(Duration::from_secs(1)),
            running: false,
            failures: 0,
            last_run_ms: None,
            next_run_ms: None,
            last_ok_ms: None,
            newest: None,
            stored_total: 0,
            last_error: None,
        }
    }

    fn arm(&mut self, after: Duration, ctx: &mut Context<Self>) {
        self.next_run_ms = Some(now_millis().saturating_add(after.as_millis() as i64));
        ctx.run_later(after, |act, ctx| act.run(ctx));
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        self.last_run_ms = Some(now_millis());
        let (adapters, db) = (self.adapters.clone(), self.db.clone());
        let job = async move {
            let newest = db.send(Exec(trawler_store::Point::newest_rate)).await.map_err(|e| e.to_string())?;
            let newest = newest.map_err(|e| e.to_string())?;
            let history = newest.is_none_or(|day| now_secs().saturating_sub(day) > HISTORY_AFTER_SECS);
            let spec = SourceSpec {
                platform: Platform::Ecb,
                external_ref: if history { trawler_sources::ecb::HISTORY } else { "daily" }.into(),
                options: Arc::new(serde_json::json!({})),
                secret: None,
            };
            let fetched = adapters
                .fetch(&spec, RunKind::Full, &adapters.run_budget(), None, &trawler_sources::Keeper::off())
                .await
                .map_err(|e| format!("ecb: {e}"))?;
            let points: Vec<Point> = fetched
                .dated
                .into_iter()
                .filter(|(ts, _)| newest.is_none_or(|n| *ts > n))
                .map(|(ts, s)| Point {
                    project_id: RATES_PROJECT,
                    platform: Platform::Ecb,
                    metric: s.metric,
                    ts,
                    value: s.value,
                })
                .collect();
            let latest = points.iter().map(|p| p.ts).max().or(newest);
            let stored = db
                .send(Exec(move |conn| trawler_store::Point::insert_batch(conn, &points)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((stored, latest))
        };
        ctx.spawn(job.into_actor(self).map(|result, act, ctx| {
            act.running = false;
            match result {
                Ok((stored, newest)) => {
                    if stored > 0 {
                        log::info!("exchange rates: stored {stored} rates");
                    }
                    act.stored_total += stored as u64;
                    act.newest = newest;
                    act.last_ok_ms = Some(now_millis());
                    act.last_error = None;
                    act.failures = 0;
                    act.arm(act.every, ctx);
                }
                Err(e) => {
                    log::warn!("exchange rates: {e} (the rates stored stay in use)");
                    act.last_error = Some(e);
                    let retry = FIRST_RETRY.saturating_mul(1 << act.failures.min(10)).min(act.every);
                    act.failures = act.failures.saturating_add(1);
                    act.arm(retry, ctx);
                }
            }
        }));
    }
}

impl Actor for RatesActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Off the start-up's busiest seconds (the node's first heartbeat,
        // the catch-up scrapes), but soon: summaries wait for the rates.
        self.arm(START_DELAY, ctx);
    }
}

impl Handler<GetRatesState> for RatesActor {
    type Result = MessageResult<GetRatesState>;

    fn handle(&mut self, _: GetRatesState, _: &mut Context<Self>) -> Self::Result {
        let status = if self.running { ActorStatus::Scraping } else { ActorStatus::Idle };
        let mut info = ActorInfo::new("rates", "rates:ecb".into(), status);
        info.platform = Some(Platform::Ecb);
        info.last_run_ms = self.last_run_ms;
        info.next_run_ms = self.next_run_ms;
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "interval_secs": self.every.as_secs(),
            "last_ok_ms": self.last_ok_ms,
            "newest_rate_day": self.newest.map(trawler_domain::time::rfc3339),
            "failures_in_a_row": self.failures,
            "stored_total": self.stored_total,
        });
        MessageResult(info)
    }
}
