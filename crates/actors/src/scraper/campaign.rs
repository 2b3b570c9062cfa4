//! A crowdfunding campaign's end: one final full scrape once it is over
//! (at once when a fetch says so, `final_scrape_delay` after its deadline
//! when none has), then the project ends (its supervisor stores and
//! announces it). A project whose campaign ended once, and that an admin
//! resumed, is not ended again.

use std::time::Duration;

use actix::prelude::*;
use trawler_domain::campaign::Phase;
use trawler_domain::schedule::offset_ms;
use trawler_domain::{RunStatus, RunTrigger};

use super::{ChildReport, ScraperActor};
use crate::campaign::ends;
use crate::state::ActorStatus;

/// Seed of the final scrapes' spread after a start ("END").
const END_SEED: u64 = 0x0045_4e44;

/// The longest the final-scrape timer sleeps before it looks again (a
/// deadline months away is armed a day at a time).
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// Its project's campaign is over: run its final scrape (after the run in
/// progress, if any).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FinalScrape;

impl Handler<FinalScrape> for ScraperActor {
    type Result = ();
    fn handle(&mut self, _: FinalScrape, ctx: &mut Context<Self>) {
        if self.campaign_end_due(self.deps.clock.now_ms()).is_some() {
            self.run_final(ctx);
        }
    }
}

impl ScraperActor {
    fn final_delay_ms(&self) -> i64 {
        self.deps.config.get().final_scrape_delay.as_millis().min(i64::MAX as u128) as i64
    }

    /// Why the project's campaign counts as over at `at_ms`, if it does:
    /// it has crowdfunding sources, and each of them said it ended or is
    /// `final_scrape_delay` past its deadline. `None` too when it ended once
    /// already (an admin resumed it).
    pub(super) fn campaign_end_due(&self, at_ms: i64) -> Option<String> {
        if self.ended_once {
            return None;
        }
        let delay = self.final_delay_ms();
        let mut said = Vec::new();
        for source in self.sources.iter().filter(|s| ends(s.platform)) {
            let c = self.deps.campaigns.current(source)?;
            let past = c.deadline_ms.is_some_and(|d| d.saturating_add(delay) <= at_ms);
            if c.phase != Phase::Ended && !past {
                return None;
            }
            said.push(format!("{} {}", source.platform, c.state));
        }
        (!said.is_empty()).then(|| format!("campaign ended ({})", said.join(", ")))
    }

    /// When the final scrape is due by the deadlines alone: the latest
    /// deadline of its crowdfunding sources plus the delay (`None` when
    /// one has no known deadline).
    fn final_due_ms(&self) -> Option<i64> {
        if self.ended_once {
            return None;
        }
        let mut due: Option<i64> = None;
        for source in self.sources.iter().filter(|s| ends(s.platform)) {
            let deadline = self.deps.campaigns.current(source)?.deadline_ms?;
            due = Some(due.map_or(deadline, |d| d.max(deadline)));
        }
        due.map(|d| d.saturating_add(self.final_delay_ms()))
    }

    /// Looks at the campaign after a start or a reload: over already (it
    /// ended while no node ran, or a poll found it over just before a
    /// restart), its final scrape runs soon; otherwise the final-scrape
    /// timer is armed for its deadline.
    pub(super) fn watch_campaign(&mut self, ctx: &mut Context<Self>) {
        if self.campaign_end_due(self.deps.clock.now_ms()).is_none() {
            return self.arm_final(ctx);
        }
        // Spread over up to a minute, as catch-up runs are.
        let delay = Duration::from_millis(offset_ms(self.project.0 as u64, END_SEED, Duration::from_secs(60)));
        ctx.run_later(delay, |act, ctx| act.run_final(ctx));
    }

    /// Arms the timer of the final scrape for the deadline (and the delay).
    fn arm_final(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.final_timer.take() {
            ctx.cancel_future(timer);
        }
        let now = self.deps.clock.now_ms();
        let Some(due) = self.final_due_ms().filter(|due| *due > now) else { return };
        let wait = Duration::from_millis((due - now) as u64).min(MAX_WAIT);
        self.final_timer = Some(ctx.run_later(wait, |act, ctx| {
            act.final_timer = None;
            if act.campaign_end_due(act.deps.clock.now_ms()).is_some() {
                act.run_final(ctx);
            } else {
                act.arm_final(ctx);
            }
        }));
    }

    /// Runs the final scrape now, or after the run in progress. Not while
    /// the schedule is paused (un-pausing looks again).
    fn run_final(&mut self, ctx: &mut Context<Self>) {
        if self.paused || self.draining {
            return;
        }
        if self.current_run.is_some() || self.status == ActorStatus::Scraping {
            self.final_due = true;
            return;
        }
        ctx.wait(self.start_run(RunTrigger::Final).map(|_, _, _| ()));
    }

    /// After a full scrape that started at `started_ms`: a successful one
    /// with the campaign over ends the project; otherwise a final scrape
    /// asked for meanwhile runs now, and the timer follows the deadlines
    /// the scrape brought.
    pub(super) fn after_run(&mut self, status: RunStatus, started_ms: i64, ctx: &mut Context<Self>) {
        if status == RunStatus::Succeeded {
            if let Some(reason) = self.campaign_end_due(started_ms) {
                self.ended_once = true;
                if let Some(timer) = self.final_timer.take() {
                    ctx.cancel_future(timer);
                }
                self.supervisor.do_send(ChildReport::CampaignEnded { project: self.project, reason });
                return;
            }
        }
        if std::mem::take(&mut self.final_due) && self.campaign_end_due(self.deps.clock.now_ms()).is_some() {
            return self.run_final(ctx);
        }
        self.arm_final(ctx);
    }
}
