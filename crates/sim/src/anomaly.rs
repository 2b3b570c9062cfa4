//! Numbers made to go wrong on purpose, per reference, so the monitors on
//! the numbers can be shown firing and recovering: numbers that stand still
//! while the campaign is live (`freeze`), numbers multiplied by a factor
//! (`scale`: below 1 a drop, above 1 a jump), and a metric left out of the
//! poll answer (`omit`: Kickstarter's `comments_count`, the generic JSON's
//! `supporters`).

use serde::{Deserialize, Serialize};

use crate::model::{Ads, Campaign};

/// What is wrong with one reference's numbers from now on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// The numbers stand still at their value at `since` (epoch seconds);
    /// the campaign stays live.
    Freeze {
        /// When they stopped moving.
        since: i64,
    },
    /// Every count and amount multiplied by `factor`.
    Scale {
        /// The factor (0.5 halves them; 50 makes them jump).
        factor: f64,
    },
    /// A metric left out of the poll answer.
    Omit,
}

impl Anomaly {
    /// The moment whose numbers are served at `at` (a frozen reference
    /// serves its numbers of the moment it froze).
    pub fn moment(self, at: i64) -> i64 {
        match self {
            Anomaly::Freeze { since } => at.min(since),
            _ => at,
        }
    }

    /// Applies a scale to a campaign's numbers.
    pub fn campaign(self, mut c: Campaign) -> Campaign {
        if let Anomaly::Scale { factor } = self {
            let scale = |v: i64| (v as f64 * factor).round() as i64;
            c.backers = scale(c.backers);
            c.pledged_cents = scale(c.pledged_cents);
            c.comments = scale(c.comments);
        }
        c
    }

    /// Applies a scale to an ad account's numbers.
    pub fn ads(self, mut a: Ads) -> Ads {
        if let Anomaly::Scale { factor } = self {
            let scale = |v: i64| (v as f64 * factor).round() as i64;
            a.spend_cents = scale(a.spend_cents);
            a.impressions = scale(a.impressions);
            a.clicks = scale(a.clicks);
            a.purchases = scale(a.purchases);
            a.purchase_value_cents = scale(a.purchase_value_cents);
        }
        a
    }

    /// Whether the poll answer leaves a metric out.
    pub fn omits(self) -> bool {
        self == Anomaly::Omit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_campaign_serves_its_numbers_of_the_moment_it_froze_and_stays_live() {
        let epoch = 1_700_000_000;
        let freeze = Anomaly::Freeze { since: epoch + 100 };
        let at = epoch + 5_000;
        let c = Campaign::at("a/b", epoch, freeze.moment(at) - epoch);
        assert_eq!(c, Campaign::at("a/b", epoch, 100));
        assert_eq!(c.state, "live");
        let halved = Anomaly::Scale { factor: 0.5 }.campaign(Campaign::at("a/b", epoch, 100));
        assert_eq!(halved.backers, (Campaign::at("a/b", epoch, 100).backers as f64 * 0.5).round() as i64);
    }
}
