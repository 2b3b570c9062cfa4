//! Cancelling the run in progress: its request is dropped, the points
//! stored so far stay, the run ends `cancelled`.

use actix::prelude::*;
use trawler_domain::{RunId, RunStatus};
use trawler_store::OwnedRunEnd;

use super::ScraperActor;
use crate::error::ActorError;
use crate::events::Event;
use crate::runbook::End;
use crate::state::ActorStatus;

/// Cancels the run in progress if it is this one: its request is dropped,
/// the points stored so far stay, the run ends `cancelled`.
pub struct CancelRun(pub RunId);

impl Message for CancelRun {
    type Result = Result<(), ActorError>;
}

impl Handler<CancelRun> for ScraperActor {
    type Result = AtomicResponse<Self, Result<(), ActorError>>;

    fn handle(&mut self, msg: CancelRun, ctx: &mut Context<Self>) -> Self::Result {
        if self.current_run != Some(msg.0) {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(ActorError::RunNotRunning))));
        }
        let progress = match self.exec.take() {
            Some((handle, progress)) => {
                ctx.cancel_future(handle);
                Some(progress)
            }
            None => None,
        };
        let fetch_started_at_ms = progress.as_ref().and_then(|p| p.place.first_pass_ms());
        let (points, mut log) = progress.map_or((0, String::new()), |p| p.snapshot());
        log.push_str("cancelled by an admin\n");
        let run = msg.0;
        let end = OwnedRunEnd {
            status: RunStatus::Cancelled,
            error: Some(("cancelled".into(), "cancelled by an admin".into())),
            points_written: points,
            log,
            fetch_started_at_ms,
        };
        let record = self.deps.runs.send(End { run, end });
        AtomicResponse::new(Box::pin(record.into_actor(self).map(move |result, act, ctx| {
            act.deps.events.publish(Event::RunFinished {
                project_id: act.project,
                run_id: Some(run),
                status: RunStatus::Cancelled,
                error_kind: Some("cancelled".into()),
                error: Some("cancelled by an admin".into()),
                points,
                at_ms: act.deps.clock.now_ms(),
            });
            act.current_run = None;
            act.status = ActorStatus::Idle;
            act.last_status = Some(RunStatus::Cancelled);
            act.last_error = None;
            if act.draining {
                ctx.stop();
            }
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            }
        })))
    }
}
