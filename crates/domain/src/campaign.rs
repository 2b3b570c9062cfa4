//! A campaign's state as its platform reports it: live, over for good (a
//! crowdfunding campaign past its end), or idle (an ad account paused or
//! finished, which may run again), with its deadline where it has one.

use serde::{Deserialize, Serialize};

/// The earliest and latest deadline believed: a platform's date outside
/// these is noise (a zero, a year 9999), not a campaign's end.
const EARLIEST_MS: i64 = 946_684_800_000; // 2000-01-01
const LATEST_MS: i64 = 4_102_444_800_000; // 2100-01-01

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running: its numbers move.
    Live,
    /// A crowdfunding campaign that is over (successful, failed, cancelled,
    /// suspended): its numbers are final.
    Ended,
    /// An ad account or campaign that is paused or finished for now.
    Idle,
}

impl Phase {
    /// The name stored and sent by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Live => "live",
            Phase::Ended => "ended",
            Phase::Idle => "idle",
        }
    }

    /// The phase of a stored name.
    pub fn parse(text: &str) -> Option<Phase> {
        match text {
            "live" => Some(Phase::Live),
            "ended" => Some(Phase::Ended),
            "idle" => Some(Phase::Idle),
            _ => None,
        }
    }
}

/// What one fetch said of its campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignReport {
    /// The platform's own word for its state (`live`, `successful`,
    /// `ACTIVE`), at most 40 characters.
    pub state: String,
    /// What that word means here.
    pub phase: Phase,
    /// When it ends (ended), epoch ms, if the platform says.
    pub deadline_ms: Option<i64>,
    /// When it launched, epoch ms, if the platform says.
    pub started_ms: Option<i64>,
    /// The currency its money is counted in, if the platform says.
    pub currency: Option<crate::Currency>,
}

impl CampaignReport {
    /// A report of `state` (trimmed to 40 characters of letters, digits,
    /// `_` and `-`; anything else is dropped) in `phase`.
    pub fn new(state: &str, phase: Phase) -> CampaignReport {
        let state: String =
            state.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(40).collect();
        CampaignReport { state, phase, deadline_ms: None, started_ms: None, currency: None }
    }

    /// The same report with a deadline, if it is a believable one.
    pub fn with_deadline(mut self, deadline_ms: Option<i64>) -> CampaignReport {
        self.deadline_ms = deadline_ms.filter(|ms| (EARLIEST_MS..=LATEST_MS).contains(ms));
        self
    }

    /// The same report with the currency the platform names, if it is a
    /// currency code at all.
    pub fn with_currency(mut self, code: Option<&str>) -> CampaignReport {
        self.currency = code.and_then(|c| crate::Currency::code(c).ok());
        self
    }

    /// The same report with a launch time, if it is a believable one.
    pub fn with_start(mut self, started_ms: Option<i64>) -> CampaignReport {
        self.started_ms = started_ms.filter(|ms| (EARLIEST_MS..=LATEST_MS).contains(ms));
        self
    }
}

/// A crowdfunding platform's state word as a phase: Kickstarter's `live`,
/// `submitted` and `started` (not launched yet) are live; `successful`,
/// `failed`, `canceled`, `suspended` and `purged` are over; Indiegogo's
/// `open` is live, `closed` and `ended` are over. An unknown word is taken
/// as live (`None` is never ended by a word nobody knows).
pub fn crowdfunding_phase(state: &str) -> Phase {
    match state.to_ascii_lowercase().as_str() {
        "successful" | "failed" | "canceled" | "cancelled" | "suspended" | "purged" | "closed" | "ended" => {
            Phase::Ended
        }
        _ => Phase::Live,
    }
}

/// An ad platform's `effective_status` (or an account's status) as a
/// phase: `ACTIVE` (and states on the way to it: `IN_PROCESS`,
/// `WITH_ISSUES`, `PENDING_REVIEW`; an account in its grace period) is
/// live; every paused, deleted, archived, disabled or closed state is idle.
pub fn ads_phase(effective_status: &str) -> Phase {
    match effective_status.to_ascii_uppercase().as_str() {
        "ACTIVE"
        | "IN_PROCESS"
        | "WITH_ISSUES"
        | "PENDING_REVIEW"
        | "PREAPPROVED"
        | "PENDING_BILLING_INFO"
        | "IN_GRACE_PERIOD"
        | "ANY_ACTIVE" => Phase::Live,
        _ => Phase::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_words_map_to_phases() {
        for live in ["live", "submitted", "started", "open", "LIVE", "something new"] {
            assert_eq!(crowdfunding_phase(live), Phase::Live, "{live}");
        }
        for over in ["successful", "failed", "canceled", "cancelled", "suspended", "closed", "Ended"] {
            assert_eq!(crowdfunding_phase(over), Phase::Ended, "{over}");
        }
        assert_eq!(ads_phase("ACTIVE"), Phase::Live);
        for idle in ["PAUSED", "CAMPAIGN_PAUSED", "ADSET_PAUSED", "DELETED", "ARCHIVED", "DISAPPROVED"] {
            assert_eq!(ads_phase(idle), Phase::Idle, "{idle}");
        }
        for p in [Phase::Live, Phase::Ended, Phase::Idle] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn hostile_words_and_dates_are_cut_down() {
        let r = CampaignReport::new("live<script>alert(1)</script>\n", Phase::Live);
        assert_eq!(r.state, "livescriptalert1script");
        assert_eq!(CampaignReport::new(&"x".repeat(500), Phase::Live).state.len(), 40);
        let r = CampaignReport::new("live", Phase::Live);
        assert_eq!(r.clone().with_deadline(Some(0)).deadline_ms, None);
        assert_eq!(r.clone().with_deadline(Some(i64::MAX)).deadline_ms, None);
        assert_eq!(r.with_deadline(Some(1_767_225_600_000)).deadline_ms, Some(1_767_225_600_000));
    }
}
