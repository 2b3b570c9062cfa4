//! Campaigns that end: a poll that finds one over has its project's final
//! scrape run at once; a scraper whose final scrape succeeded with the
//! campaign over has its project end here — stored as `ended`, its scraper
//! and polls stopped, `campaign_ended` announced.

use actix::prelude::*;
use trawler_domain::ProjectId;
use trawler_store::Project;

use super::ProjectSupervisor;
use crate::campaign::CampaignOver;
use crate::db::Exec;
use crate::events::Event;
use crate::scraper::FinalScrape;

impl Handler<CampaignOver> for ProjectSupervisor {
    type Result = ();
    fn handle(&mut self, msg: CampaignOver, _: &mut Context<Self>) {
        if let Some(child) = self.children.get(&msg.0).filter(|c| !c.stopping) {
            child.addr.do_send(FinalScrape);
        }
    }
}

impl ProjectSupervisor {
    /// Ends `project` (still active, never ended before), then stops what
    /// ran for it and announces the end.
    pub(super) fn campaign_ended(&mut self, project: ProjectId, reason: String, ctx: &mut Context<Self>) {
        let now = self.deps.clock.now_ms();
        let text = reason.clone();
        let store = self.deps.db.send(Exec(move |conn| Project::end(conn, project, &text, now)));
        ctx.spawn(store.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Ok(Some(_))) => {
                log::info!(project = project.0; "project {project}: {reason}; its final numbers are in, nothing more is scheduled");
                act.handle(super::StopProject(project), ctx);
                act.deps.events.publish(Event::CampaignEnded { project_id: project, reason, at_ms: now });
            }
            // Archived or paused meanwhile, or ended before: nothing to do.
            Ok(Ok(None)) => {}
            Ok(Err(e)) => log::warn!("project {project}: storing its campaign's end failed: {e}"),
            Err(e) => log::warn!("project {project}: storing its campaign's end failed: {e}"),
        }));
    }
}
