//! Where each source's campaign stands: what its fetches report is kept in
//! memory and stored when it changes, and a campaign that a poll finds over
//! is announced, so its project's final scrape runs at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use actix::prelude::*;
use trawler_domain::campaign::{CampaignReport, Phase};
use trawler_domain::{Platform, ProjectId};
use trawler_store::{Source, SourceCampaign};

/// A poll found a project's crowdfunding campaign over: its final scrape
/// is due.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CampaignOver(pub(crate) ProjectId);

/// Whether `platform` runs crowdfunding campaigns, which end for good.
pub(crate) fn ends(platform: Platform) -> bool {
    matches!(platform, Platform::Kickstarter | Platform::Indiegogo)
}

/// The campaigns of this node's sources, as last reported.
#[derive(Default)]
pub(crate) struct CampaignBook {
    known: Mutex<HashMap<i64, SourceCampaign>>,
    /// Told when a poll finds a campaign over (the supervisor).
    over: OnceLock<Recipient<CampaignOver>>,
}

/// What a report changed.
pub(crate) struct Change {
    /// The campaign to store.
    pub(crate) campaign: SourceCampaign,
    /// It has just ended (it was not known to be over before).
    pub(crate) ended: bool,
}

impl CampaignBook {
    /// Sets who is told of campaigns found over (once).
    pub(crate) fn tell(&self, recipient: Recipient<CampaignOver>) {
        let _ = self.over.set(recipient);
    }

    /// Announces that `project`'s campaign was found over.
    pub(crate) fn announce(&self, project: ProjectId) {
        if let Some(over) = self.over.get() {
            over.do_send(CampaignOver(project));
        }
    }

    /// Takes in what a fetch of `source` reported at `now_ms`: the change
    /// to store, if it says something new (the state, or a deadline).
    pub(crate) fn observe(&self, source: &Source, report: &CampaignReport, now_ms: i64) -> Option<Change> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let before = known.get(&source.id).or(source.campaign.as_ref());
        if before.is_some_and(|b| !b.differs(report)) {
            return None;
        }
        let was_over = before.is_some_and(|b| b.phase == Phase::Ended);
        let campaign = SourceCampaign::after(before, report, now_ms);
        known.insert(source.id, campaign.clone());
        Some(Change { ended: campaign.phase == Phase::Ended && !was_over, campaign })
    }

    /// What is known of `source`'s campaign now.
    pub(crate) fn current(&self, source: &Source) -> Option<SourceCampaign> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(&source.id).or(source.campaign.as_ref()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn source(campaign: Option<SourceCampaign>) -> Source {
        Source {
            id: 7,
            project_id: ProjectId(1),
            platform: Platform::Kickstarter,
            external_ref: "a/b".into(),
            options: Arc::new(serde_json::json!({})),
            secret: None,
            created_at_ms: 0,
            campaign,
        }
    }

    #[test]
    fn a_change_is_stored_once_and_an_end_is_announced_once() {
        let book = CampaignBook::default();
        let s = source(None);
        let live = CampaignReport::new("live", Phase::Live).with_deadline(Some(1_767_225_600_000));
        let first = book.observe(&s, &live, 1_000).expect("new");
        assert!(!first.ended && first.campaign.deadline_ms == Some(1_767_225_600_000));
        assert!(book.observe(&s, &live, 2_000).is_none(), "nothing new");
        // A poll says the same without a deadline: the deadline stays.
        assert!(book.observe(&s, &CampaignReport::new("live", Phase::Live), 3_000).is_none());
        let over = book.observe(&s, &CampaignReport::new("successful", Phase::Ended), 4_000).expect("over");
        assert!(over.ended && over.campaign.deadline_ms == Some(1_767_225_600_000));
        assert!(book.observe(&s, &CampaignReport::new("successful", Phase::Ended), 5_000).is_none());
        // A different word for the same end is stored, not announced.
        let moved = book.observe(&s, &CampaignReport::new("failed", Phase::Ended), 6_000).expect("new word");
        assert!(!moved.ended);
        // Known over from the database: not announced again.
        let stored = SourceCampaign {
            state: "successful".into(),
            phase: Phase::Ended,
            deadline_ms: None,
            started_ms: None,
            seen_at_ms: 1,
            currency: None,
        };
        let other = Source { id: 8, ..source(Some(stored)) };
        let again = book.observe(&other, &CampaignReport::new("canceled", Phase::Ended), 7_000).expect("new word");
        assert!(!again.ended);
        assert_eq!(book.current(&other).map(|c| c.state), Some("canceled".into()));
    }
}
