//! When a project's full scrapes run: the first after a start (a catch-up
//! if its slot passed without a run), then every slot of its interval at
//! the project's hashed offset; nothing while its schedule is paused or
//! manual only.

use std::time::Duration;

use actix::prelude::*;
use trawler_domain::schedule::{catch_up_delay, next_slot_ms, offset_ms, own_interval, FULL_SEED};
use trawler_domain::RunTrigger;

use super::{FirstRun, ScraperActor};
use crate::state::ActorStatus;

impl ScraperActor {
    /// The project's full-scrape interval: its own, or the node's (also
    /// for a manual-only project, whose wait estimates need one).
    pub(super) fn interval(&self) -> Duration {
        own_interval(self.full_interval_ms, self.deps.config.get().full_interval)
            .unwrap_or(self.deps.config.get().full_interval)
    }

    /// Whether runs start on a schedule: not paused, not manual only.
    fn scheduled(&self) -> bool {
        !self.paused && own_interval(self.full_interval_ms, self.deps.config.get().full_interval).is_some()
    }

    fn offset(&self) -> u64 {
        offset_ms(self.project.0 as u64, FULL_SEED, self.interval())
    }

    /// Pauses or resumes the schedule, or gives it another interval.
    /// Scheduled again, the project gets one catch-up run if its slot
    /// passed meanwhile, then its slots.
    pub(super) fn set_schedule(&mut self, paused: bool, full_interval_ms: Option<i64>, ctx: &mut Context<Self>) {
        if (paused, full_interval_ms) == (self.paused, self.full_interval_ms) {
            return;
        }
        self.paused = paused;
        self.full_interval_ms = full_interval_ms;
        // The timer of the old schedule goes, whatever comes next.
        self.disarm(ctx);
        if self.scheduled() {
            self.first_run = FirstRun::IfMissed;
            self.schedule_first(self.last_run_ms, ctx);
        }
    }

    /// No scheduled run is due any more (a run under way goes on).
    fn disarm(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        self.next_run_ms = None;
    }

    /// Schedules the first run after start-up, then the regular slots.
    /// A paused or manual schedule runs nothing but a new project's first
    /// scrape.
    pub(super) fn schedule_first(&mut self, last_started_ms: Option<i64>, ctx: &mut Context<Self>) {
        if !self.scheduled() && self.first_run != FirstRun::Now {
            return self.disarm(ctx);
        }
        let now = self.deps.clock.now_ms();
        let catch_up = catch_up_delay(self.project.0 as u64, last_started_ms, now, self.interval());
        match (self.first_run, catch_up) {
            (FirstRun::Now, _) => {
                self.first_awaited = true;
                ctx.wait(self.start_run(RunTrigger::Schedule).map(|_, _, _| ()));
            }
            (FirstRun::IfMissed, Some(delay)) => {
                // One catch-up run (never one per missed slot).
                self.next_run_ms = Some(now + delay.as_millis() as i64);
                self.timer = Some(ctx.run_later(delay, |act, ctx| {
                    ctx.wait(act.start_run(RunTrigger::Schedule).map(|_, _, _| ()));
                    act.schedule_next(ctx);
                }));
                return;
            }
            (FirstRun::IfMissed, None) => {}
        }
        self.schedule_next(ctx);
    }

    /// Arms the timer for the next slot.
    pub(super) fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        if !self.scheduled() {
            return self.disarm(ctx);
        }
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let now = self.deps.clock.now_ms();
        let next = next_slot_ms(now, self.interval(), self.offset());
        self.next_run_ms = Some(next);
        let delay = Duration::from_millis((next - now).max(0) as u64);
        self.timer = Some(ctx.run_later(delay, move |act, ctx| {
            act.timer = None;
            if act.current_run.is_some() || act.status == ActorStatus::Scraping {
                // The previous run still goes: this slot joins it.
                act.deps.metrics.slot_skipped("full");
            }
            act.slot_ms = Some(next);
            // wait: the run row exists before any ScrapeNow is handled.
            ctx.wait(act.start_run(RunTrigger::Schedule).map(|_, _, _| ()));
            act.schedule_next(ctx);
        }));
    }
}

/// The node's full-scrape interval may have changed (a reload): a project
/// on the node's interval arms its schedule again at once, so a shorter
/// interval is not waited out at the old one (a project with its own
/// interval, paused or manual is left as it is).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Rearm;

impl Handler<Rearm> for ScraperActor {
    type Result = ();

    fn handle(&mut self, _: Rearm, ctx: &mut Context<Self>) {
        if self.full_interval_ms.is_some() || !self.scheduled() || self.timer.is_none() {
            return;
        }
        self.disarm(ctx);
        self.first_run = FirstRun::IfMissed;
        self.schedule_first(self.last_run_ms, ctx);
    }
}
