//! Writes the gates' circuit and pause changes to the timeline, where a
//! series reads why it has no point ("the platform was down", "throttled").
//!
//! A change is one row for every project of its platform (or host), so a
//! platform going down writes one row, not one per project. Changes wait in
//! the gates until written; a write that fails is tried again a second
//! later with what came meanwhile (at most a gate's bounded queue each).

use std::time::Duration;

use actix::Addr;
use trawler_domain::gaps::Cause;
use trawler_domain::now_millis;
use trawler_sources::{GateChange, GateEvent, Gates};
use trawler_store::{AnyConnection, Scope, StoreResult, Timeline};

use crate::db::{DbExecutor, Exec};
use crate::metrics::Metrics;

/// How often the gates' changes are written.
const EVERY: Duration = Duration::from_secs(1);

/// Most changes held while the database does not answer.
const MAX_PENDING: usize = 10_000;

/// Starts writing `gates`' changes for node `node`. Spans a previous run
/// of this node left open (it stopped with a circuit open) end now.
pub(crate) fn start(db: Addr<DbExecutor>, gates: Gates, node: String, metrics: Metrics) {
    crate::task::spawn_supervised("timeline", metrics, move || run(db.clone(), gates.clone(), node.clone()));
}

async fn run(db: Addr<DbExecutor>, gates: Gates, node: String) {
    let mut pending: Vec<GateChange> = Vec::new();
    let mut closed_stale = false;
    loop {
        if !closed_stale {
            let (me, now) = (node.clone(), now_millis());
            let close = move |conn: &mut AnyConnection| {
                let scope = Scope { node: Some(&me), ..Scope::default() };
                Timeline::close(conn, scope, &[Cause::CircuitOpen], now)
            };
            closed_stale = matches!(db.send(Exec(close)).await, Ok(Ok(_)));
        }
        pending.extend(gates.take_changes());
        if pending.len() > MAX_PENDING {
            let drop = pending.len() - MAX_PENDING;
            log::warn!("timeline: {drop} circuit and pause changes dropped while the database did not answer");
            pending.drain(..drop);
        }
        if closed_stale && !pending.is_empty() {
            let batch = pending.clone();
            let me = node.clone();
            let write = move |conn: &mut AnyConnection| write(conn, &me, &batch);
            match db.send(Exec(write)).await {
                Ok(Ok(())) => pending.clear(),
                Ok(Err(e)) => log::warn!("timeline: writing {} gate changes failed: {e}", pending.len()),
                Err(e) => log::warn!("timeline: the database executor is unavailable: {e}"),
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

fn write(conn: &mut AnyConnection, node: &str, changes: &[GateChange]) -> StoreResult<()> {
    trawler_store::write_transaction(conn, |conn| {
        for c in changes {
            let scope =
                Scope { platform: Some(c.platform), host: c.host.as_deref(), node: Some(node), ..Scope::default() };
            match &c.event {
                GateEvent::CircuitOpened(why) => {
                    let detail = format!("{} was failing and its circuit opened: {why}", who(c));
                    Timeline::open(conn, scope, Cause::CircuitOpen, &detail, c.at_ms)?;
                }
                GateEvent::CircuitClosed => {
                    Timeline::close(conn, scope, &[Cause::CircuitOpen], c.at_ms)?;
                }
                GateEvent::Paused { until_ms, detail } => {
                    let detail = format!("{} asked to slow down: {detail}", who(c));
                    Timeline::record(conn, scope, Cause::Throttled, &detail, c.at_ms, Some(*until_ms))?;
                }
            }
        }
        Ok(())
    })
}

fn who(c: &GateChange) -> String {
    match &c.host {
        Some(h) => format!("{} host {h}", c.platform),
        None => c.platform.to_string(),
    }
}
