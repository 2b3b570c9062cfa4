//! Where each source's campaign stands, and a project's campaign end.

use diesel::prelude::*;
use trawler_domain::campaign::{CampaignReport, Phase};
use trawler_domain::gaps::Cause;
use trawler_domain::{ProjectId, ProjectStatus};

use super::{Project, Source};
use crate::schema::{projects, sources};
use crate::{AnyConnection, StoreError, StoreResult};

/// A source's campaign as its platform last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCampaign {
    /// The platform's own word (`live`, `successful`, `ACTIVE`).
    pub state: String,
    /// What it means here.
    pub phase: Phase,
    /// When it ends (or ended), epoch ms, if the platform says.
    pub deadline_ms: Option<i64>,
    /// When it launched, epoch ms, if the platform says.
    pub started_ms: Option<i64>,
    /// When it was last heard, epoch ms.
    pub seen_at_ms: i64,
    /// The currency its money is counted in, where the platform said.
    pub currency: Option<trawler_domain::Currency>,
}

impl SourceCampaign {
    /// Whether `report` says something this does not (its state, or a
    /// deadline it did not know or that moved).
    pub fn differs(&self, report: &CampaignReport) -> bool {
        self.state != report.state
            || self.phase != report.phase
            || (report.deadline_ms.is_some() && report.deadline_ms != self.deadline_ms)
            || (report.started_ms.is_some() && report.started_ms != self.started_ms)
            || (report.currency.is_some() && report.currency != self.currency)
    }

    /// This campaign after `report` at `now_ms`; a report without a
    /// deadline (a poll) keeps the one known.
    pub fn after(previous: Option<&SourceCampaign>, report: &CampaignReport, now_ms: i64) -> SourceCampaign {
        SourceCampaign {
            state: report.state.clone(),
            phase: report.phase,
            deadline_ms: report.deadline_ms.or(previous.and_then(|p| p.deadline_ms)),
            started_ms: report.started_ms.or(previous.and_then(|p| p.started_ms)),
            seen_at_ms: now_ms,
            currency: report.currency.or(previous.and_then(|p| p.currency)),
        }
    }
}

impl Source {
    /// Stores where source `id`'s campaign stands now.
    pub fn set_campaign(conn: &mut AnyConnection, id: i64, campaign: &SourceCampaign) -> StoreResult<()> {
        db_run!(conn: {
            diesel::update(sources::table.find(id))
                .set((
                    sources::campaign_state.eq(&campaign.state),
                    sources::campaign_phase.eq(campaign.phase.as_str()),
                    sources::deadline_ms.eq(campaign.deadline_ms),
                    sources::campaign_started_ms.eq(campaign.started_ms),
                    sources::campaign_seen_at_ms.eq(campaign.seen_at_ms),
                    sources::currency.eq(campaign.currency.map(String::from)),
                ))
                .execute(conn)?;
        });
        Ok(())
    }
}

impl Project {
    /// Ends an active project's campaign at `now_ms`: its status becomes
    /// `ended`, with `reason`. Returns the project, or `None` when it was
    /// not active (archived meanwhile, ended already) or had ended once
    /// before (an admin resumed it: its end is not declared twice).
    pub fn end(conn: &mut AnyConnection, id: ProjectId, reason: &str, now_ms: i64) -> StoreResult<Option<Project>> {
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            let n = db_run!(conn: {
                diesel::update(
                    projects::table
                        .find(id.0)
                        .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                        .filter(projects::ended_at_ms.is_null()),
                )
                .set((
                    projects::status.eq(ProjectStatus::Ended.as_str()),
                    projects::status_reason.eq(reason),
                    projects::ended_at_ms.eq(now_ms),
                    projects::updated_at_ms.eq(now_ms),
                ))
                .execute(conn)?
            });
            if n == 0 {
                return Ok(None);
            }
            crate::Timeline::open(conn, crate::Scope::project(id), Cause::CampaignEnded, reason, now_ms)?;
            Project::get(conn, id).map(Some)
        })
    }
}
