//! The spool's side of ingestion: batches the database refused, held
//! batches, and the drain that replays the spool.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{done, IngestActor, Pending, Step, MAX_DRAIN_BACKOFF};
use crate::db::WritePoints;
use crate::state::ActorStatus;

impl IngestActor {
    /// Appends a batch the database refused to the spool and acknowledges it;
    /// without a spool, or with a full one, holds it for another try.
    pub(super) fn spool_or_hold(&mut self, batch: Pending) -> Step {
        self.status = ActorStatus::BackingOff;
        let Some(spool) = self.spool.clone() else {
            return self.hold(batch);
        };
        let (points, rest) = batch.split();
        let append = tokio::task::spawn_blocking(move || {
            let mut s = spool.lock().unwrap_or_else(|p| p.into_inner());
            let result = s.append(&points).map_err(|e| e.to_string());
            (points, result, s.depth())
        });
        Box::pin(append.into_actor(self).then(move |joined, act, _| match joined {
            Ok((points, Ok(_), depth)) => {
                act.spool_depth = depth;
                act.spooled(rest.join(points));
                act.settle();
                act.publish();
                done()
            }
            Ok((points, Err(e), depth)) => {
                act.spool_depth = depth;
                log::warn!("ingest: the database and the spool both refused {} points: {e}", points.len());
                act.last_error = Some(format!("spool: {e}"));
                act.publish();
                act.hold(rest.join(points))
            }
            Err(e) => {
                log::error!("ingest: spool task failed: {e}");
                rest.join(Vec::new()).finish(Err(format!("spool task failed: {e}")));
                act.settle();
                done()
            }
        }))
    }

    /// Puts a batch back in front of the buffer and tries again in a second
    /// (after a drain, when the spool holds batches).
    pub(super) fn hold(&mut self, batch: Pending) -> Step {
        self.status = ActorStatus::BackingOff;
        self.buffer.prepend(batch);
        Box::pin(tokio::time::sleep(Duration::from_secs(1)).into_actor(self).then(|_, act, _| {
            let drain = if act.spooling { act.drain() } else { done() };
            drain.then(|_, act, _| act.flush())
        }))
    }

    /// Replays the spool into the database; lets it go when every batch is in.
    pub(super) fn drain(&mut self) -> Step {
        let Some(spool) = self.spool.clone() else {
            self.spooling = false;
            return done();
        };
        let read = tokio::task::spawn_blocking({
            let spool = spool.clone();
            move || {
                let s = spool.lock().unwrap_or_else(|p| p.into_inner());
                s.read_all().map(|batches| (batches, s.last_seq())).map_err(|e| e.to_string())
            }
        });
        let db = self.db.clone();
        let replay = async move {
            let (batches, through) = read.await.map_err(|e| e.to_string())??;
            let mut replayed = 0u64;
            for batch in batches {
                let (batch, result) = db.send(WritePoints(batch)).await.map_err(|e| e.to_string())?;
                result.map_err(|e| e.to_string())?;
                replayed += batch.len() as u64;
            }
            let depth = tokio::task::spawn_blocking(move || {
                let mut s = spool.lock().unwrap_or_else(|p| p.into_inner());
                s.written_through(through).map(|()| s.depth()).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??;
            Ok::<_, String>((replayed, depth))
        };
        Box::pin(replay.into_actor(self).map(|result, act, ctx| match result {
            Ok((replayed, depth)) => {
                log::info!("ingest: the spool drained ({replayed} points replayed)");
                act.counters.replayed += replayed;
                act.metrics.points_written.inc_by(replayed);
                act.spool_depth = depth;
                act.drain_backoff = Duration::from_secs(1);
                act.spooling = false;
                act.status = ActorStatus::Idle;
                act.last_error = None;
                act.write_behind(ctx);
                act.settle();
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
