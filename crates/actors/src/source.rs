//! The SourceActor: one per platform, the fast poll. Every `poll_interval`
//! it reads the platform's sources of all active projects and polls each
//! one's hot metrics at the project's own offset inside the interval, so the
//! requests spread evenly over the window instead of bursting at its start.
//! Polls write points but no run rows (a run per project every five minutes
//! would bury the full scrapes); their outcome shows in `/admin/actors`.

use std::collections::HashSet;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use trawler_domain::schedule::{next_slot_ms, offset_ms, POLL_SEED};
use trawler_domain::{now_millis, Platform, ProjectId, RunKind};
use trawler_sources::RetryBudget;
use trawler_store::Source;

use crate::db::Exec;
use crate::state::{ActorInfo, ActorStatus};
use crate::tree::Deps;

/// A project was archived: stop polling it, including polls already planned.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProjectStopped(pub ProjectId);

/// A project became active again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProjectStarted(pub ProjectId);

/// Stops planning new polls (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPolling;

/// Asks for the actor's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetSourceState;

#[derive(Debug, Clone, Default, Serialize)]
struct Counters {
    windows: u64,
    polls_ok: u64,
    polls_failed: u64,
    polls_skipped_in_flight: u64,
    points: u64,
}

/// The fast poll of one platform.
pub struct SourceActor {
    platform: Platform,
    deps: Deps,
    /// Projects whose polls may run; a planned poll checks it when it fires.
    active: HashSet<ProjectId>,
    /// Archived projects, so that a source list loaded before the archive
    /// cannot bring them back.
    stopped: HashSet<ProjectId>,
    in_flight: HashSet<i64>,
    /// The source list of the last window whose load succeeded.
    known: Vec<Source>,
    sources: usize,
    counters: Counters,
    last_window_ms: Option<i64>,
    next_window_ms: Option<i64>,
    last_error: Option<String>,
    planned: Vec<SpawnHandle>,
    halted: bool,
}

impl SourceActor {
    /// The fast-poll actor of `platform`.
    pub(crate) fn new(platform: Platform, deps: Deps) -> SourceActor {
        SourceActor {
            platform,
            deps,
            active: HashSet::new(),
            stopped: HashSet::new(),
            in_flight: HashSet::new(),
            known: Vec::new(),
            sources: 0,
            counters: Counters::default(),
            last_window_ms: None,
            next_window_ms: None,
            last_error: None,
            planned: Vec::new(),
            halted: false,
        }
    }

    fn interval(&self) -> Duration {
        self.deps.config.poll_interval
    }

    /// Arms the timer for the next window (windows are aligned to the interval).
    fn schedule_window(&mut self, ctx: &mut Context<Self>) {
        if self.halted {
            return;
        }
        let now = now_millis();
        let next = next_slot_ms(now, self.interval(), 0);
        self.next_window_ms = Some(next);
        ctx.run_later(Duration::from_millis((next - now).max(0) as u64), move |act, ctx| {
            act.open_window(next, ctx);
            act.schedule_window(ctx);
        });
    }

    /// Loads the sources and plans one poll per source inside the window.
    fn open_window(&mut self, window_ms: i64, ctx: &mut Context<Self>) {
        self.last_window_ms = Some(window_ms);
        self.counters.windows += 1;
        for handle in self.planned.drain(..) {
            ctx.cancel_future(handle);
        }
        let platform = self.platform;
        let load = self.deps.db.send(Exec(move |conn| Source::list_active_for_platform(conn, platform)));
        ctx.spawn(load.into_actor(self).map(move |result, act, ctx| {
            // With the database down, poll the list loaded last time: the
            // points go to the spool and the series keeps no hole.
            let sources = match result {
                Ok(Ok(s)) => {
                    act.known = s.clone();
                    s
                }
                Ok(Err(e)) => {
                    act.note_error(format!("loading sources failed, polling the last known list: {e}"));
                    act.known.clone()
                }
                Err(e) => return act.note_error(format!("database executor unavailable: {e}")),
            };
            act.sources = sources.len();
            act.active = sources.iter().map(|s| s.project_id).filter(|p| !act.stopped.contains(p)).collect();
            let now = now_millis();
            for source in sources {
                let offset = offset_ms(source.project_id.0 as u64, POLL_SEED, act.interval()) as i64;
                let delay = Duration::from_millis((window_ms + offset - now).max(0) as u64);
                let handle = ctx.run_later(delay, move |act, ctx| act.poll(source, ctx));
                act.planned.push(handle);
            }
        }));
    }

    fn note_error(&mut self, error: String) {
        log::warn!("source {}: {error}", self.platform);
        self.last_error = Some(error);
    }

    /// Polls one source's hot metrics.
    fn poll(&mut self, source: Source, ctx: &mut Context<Self>) {
        if self.halted || !self.active.contains(&source.project_id) {
            return;
        }
        if !self.in_flight.insert(source.id) {
            self.counters.polls_skipped_in_flight += 1;
            return;
        }
        let deps = self.deps.clone();
        let fut = async move {
            // A poll retries at most once: the next window comes soon.
            let result = match deps.fetch(&source, RunKind::Poll, &RetryBudget::new(1)).await {
                Ok(f) => deps.ingest(&source, f.samples).await,
                Err(e) => Err(format!("project {} {}: {e}", source.project_id, source.external_ref)),
            };
            (source.id, result)
        };
        ctx.spawn(fut.into_actor(self).map(|(id, result), act, _| {
            act.in_flight.remove(&id);
            match result {
                Ok(n) => {
                    act.counters.polls_ok += 1;
                    act.counters.points += n as u64;
                }
                Err(e) => {
                    act.counters.polls_failed += 1;
                    act.note_error(e);
                }
            }
        }));
    }
}

impl Actor for SourceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_window(ctx);
    }
}

impl Handler<ProjectStopped> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: ProjectStopped, _: &mut Context<Self>) {
        self.active.remove(&msg.0);
        self.stopped.insert(msg.0);
    }
}

impl Handler<ProjectStarted> for SourceActor {
    type Result = ();
    fn handle(&mut self, msg: ProjectStarted, _: &mut Context<Self>) {
        self.stopped.remove(&msg.0);
    }
}

impl Handler<StopPolling> for SourceActor {
    type Result = ();
    fn handle(&mut self, _: StopPolling, ctx: &mut Context<Self>) {
        self.halted = true;
        self.next_window_ms = None;
        for handle in self.planned.drain(..) {
            ctx.cancel_future(handle);
        }
    }
}

impl Handler<GetSourceState> for SourceActor {
    type Result = MessageResult<GetSourceState>;
    fn handle(&mut self, _: GetSourceState, _: &mut Context<Self>) -> Self::Result {
        let status = if self.in_flight.is_empty() { ActorStatus::Idle } else { ActorStatus::Scraping };
        let mut info = ActorInfo::new("source", format!("source:{}", self.platform), status);
        info.platform = Some(self.platform);
        info.last_run_ms = self.last_window_ms;
        info.next_run_ms = self.next_window_ms;
        info.last_error = self.last_error.clone();
        info.detail = serde_json::json!({
            "poll_interval_ms": self.interval().as_millis() as u64,
            "sources": self.sources,
            "in_flight": self.in_flight.len(),
            "counters": self.counters,
            "gate": self.deps.adapters.gates().get(self.platform).snapshot(),
        });
        MessageResult(info)
    }
}
