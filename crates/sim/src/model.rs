//! The deterministic data behind the simulator: a function of the project's
//! reference and the seconds elapsed since the simulator's epoch. Two
//! simulators with the same epoch serve the same numbers.

use serde::Serialize;
use trawler_domain::schedule::mix64;

/// A stable 64-bit hash of a reference (FNV-1a, then mixed).
pub fn seed(reference: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in reference.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// A crowdfunding campaign at one moment. Money is in cents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// The platform's numeric id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// ISO currency code.
    pub currency: &'static str,
    /// The goal, cents.
    pub goal_cents: i64,
    /// Pledged so far, cents.
    pub pledged_cents: i64,
    /// Backers so far.
    pub backers: i64,
    /// Comments so far.
    pub comments: i64,
    /// The deadline, epoch seconds.
    pub deadline: i64,
    /// Kickstarter's word for its state: `live` until the deadline, then
    /// `successful` (the goal reached), `failed`, or `canceled` (when the
    /// campaign was given that end).
    pub state: &'static str,
}

/// How many times faster than in its middle days a campaign gains backers
/// in its first and its last 48 hours.
pub const BUSY_FACTOR: i64 = 3;
/// The busy stretch at each end of a campaign, seconds.
pub const BUSY_SECS: i64 = 48 * 3600;

/// The activity of a campaign lasting `span` seconds over its first
/// `elapsed` seconds, in seconds of its middle days: its first and last 48
/// hours count [`BUSY_FACTOR`] times (a campaign shorter than four days is
/// busy throughout).
pub fn activity(elapsed: i64, span: i64) -> i64 {
    let span = span.max(0);
    let t = elapsed.clamp(0, span);
    let early_end = BUSY_SECS.min(span);
    let late_start = span.saturating_sub(BUSY_SECS).max(early_end);
    let busy = t.min(early_end) + t.saturating_sub(late_start).max(0);
    t.saturating_add(busy.saturating_mul(BUSY_FACTOR - 1))
}

impl Campaign {
    /// The campaign of `reference`, `elapsed` seconds after `epoch`, with
    /// the default deadline (30 days after the epoch).
    pub fn at(reference: &str, epoch: i64, elapsed: i64) -> Campaign {
        Campaign::until(reference, epoch, elapsed, epoch + 30 * 86_400)
    }

    /// The campaign of `reference`, `elapsed` seconds after `epoch`, ending
    /// at `deadline` (epoch seconds): a busy start, quiet middle days and a
    /// busy end (see [`activity`]); past the deadline, its numbers stand
    /// still at their values at the deadline and its state is final.
    pub fn until(reference: &str, epoch: i64, elapsed: i64, deadline: i64) -> Campaign {
        let span = deadline.saturating_sub(epoch);
        Campaign::build(reference, epoch, elapsed, deadline, activity(elapsed.min(span), span))
    }

    /// The campaign of `reference` as if it moved at the same pace all
    /// along (the storage benchmark's steady load).
    pub fn steady(reference: &str, epoch: i64, elapsed: i64) -> Campaign {
        let deadline = epoch + 30 * 86_400;
        Campaign::build(reference, epoch, elapsed, deadline, elapsed.min(deadline - epoch).max(0))
    }

    /// Ends the campaign `canceled` if it is over.
    pub fn canceled(mut self) -> Campaign {
        if self.state != "live" {
            self.state = "canceled";
        }
        self
    }

    fn build(reference: &str, epoch: i64, elapsed: i64, deadline: i64, active: i64) -> Campaign {
        let s = seed(reference);
        let over = epoch.saturating_add(elapsed) >= deadline;
        let elapsed = active.max(0);
        let goal_cents = (5_000 + (s % 96) as i64 * 1_000) * 100;
        let avg_pledge_cents = 2_500 + ((s >> 8) % 10_000) as i64;
        // 0.05 to 0.55 backers a second: a demo screen moves every few seconds.
        let rate_milli = 50 + ((s >> 20) % 500) as i64;
        let backers = 3 + ((s >> 32) % 40) as i64 + elapsed * rate_milli / 1000;
        let pledged_cents = backers * avg_pledge_cents + (backers * 37) % 100;
        Campaign {
            id: (s >> 12) % 1_000_000_000 + 1,
            title: format!("Simulated campaign {reference}"),
            currency: ["USD", "EUR", "GBP", "CAD"][((s >> 40) % 4) as usize],
            goal_cents,
            pledged_cents,
            backers,
            comments: backers / 9,
            deadline,
            state: match (over, pledged_cents >= goal_cents) {
                (false, _) => "live",
                (true, true) => "successful",
                (true, false) => "failed",
            },
        }
    }

    /// Pledged, in currency units.
    pub fn pledged(&self) -> f64 {
        self.pledged_cents as f64 / 100.0
    }

    /// The goal, in currency units.
    pub fn goal(&self) -> f64 {
        self.goal_cents as f64 / 100.0
    }
}

/// An ad account's lifetime insights at one moment. Money is in cents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ads {
    /// Lifetime spend, cents.
    pub spend_cents: i64,
    /// Lifetime impressions.
    pub impressions: i64,
    /// Lifetime clicks.
    pub clicks: i64,
    /// Lifetime purchases.
    pub purchases: i64,
    /// Lifetime purchase value, cents.
    pub purchase_value_cents: i64,
}

impl Ads {
    /// The currency the ad account `reference` is billed in.
    pub fn currency(reference: &str) -> &'static str {
        ["USD", "EUR", "GBP", "CAD"][((seed(reference) >> 24) % 4) as usize]
    }

    /// The account `reference`, `elapsed` seconds after the epoch.
    pub fn at(reference: &str, elapsed: i64) -> Ads {
        let s = seed(reference);
        let elapsed = elapsed.max(0);
        // 1 to 21 cents a second (about $860 to $18k a day).
        let cents_per_sec = 1 + (s % 21) as i64;
        let spend_cents = 1_000 + elapsed * cents_per_sec;
        let impressions = spend_cents * 8 / 10; // $8 CPM
        let clicks = impressions * 2 / 100;
        let purchases = clicks * 5 / 100;
        let order_cents = 3_000 + ((s >> 16) % 6_000) as i64;
        Ads { spend_cents, impressions, clicks, purchases, purchase_value_cents: purchases * order_cents }
    }

    /// Splits the account into two campaigns whose numbers add up to it
    /// (served as two pages of insights).
    pub fn split(&self) -> [Ads; 2] {
        let part = |v: i64| v * 3 / 5;
        let a = Ads {
            spend_cents: part(self.spend_cents),
            impressions: part(self.impressions),
            clicks: part(self.clicks),
            purchases: part(self.purchases),
            purchase_value_cents: part(self.purchase_value_cents),
        };
        let b = Ads {
            spend_cents: self.spend_cents - a.spend_cents,
            impressions: self.impressions - a.impressions,
            clicks: self.clicks - a.clicks,
            purchases: self.purchases - a.purchases,
            purchase_value_cents: self.purchase_value_cents - a.purchase_value_cents,
        };
        [a, b]
    }
}

/// Formats cents as `1234.50`.
pub fn money(cents: i64) -> String {
    format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, cents.abs() / 100, cents.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_deterministic_and_grow() {
        let a = Campaign::at("maker/lamp", 0, 100);
        assert_eq!(a, Campaign::at("maker/lamp", 0, 100));
        let b = Campaign::at("maker/lamp", 0, 10_000);
        assert!(b.backers > a.backers && b.pledged_cents > a.pledged_cents);
        assert_ne!(seed("maker/other"), seed("maker/lamp"));
        let ads = Ads::at("act_1", 1000);
        assert!(Ads::at("act_1", 2000).spend_cents > ads.spend_cents);
    }

    #[test]
    fn a_campaign_past_its_deadline_stands_still_and_says_so() {
        let live = Campaign::until("maker/lamp", 0, 99, 100);
        assert_eq!(live.state, "live");
        let at_end = Campaign::until("maker/lamp", 0, 100, 100);
        let later = Campaign::until("maker/lamp", 0, 5_000, 100);
        assert_eq!((later.backers, later.pledged_cents), (at_end.backers, at_end.pledged_cents));
        assert!(matches!(later.state, "successful" | "failed"));
        assert!(later.backers >= live.backers);
        assert_eq!(Campaign::at("maker/lamp", 0, 10).deadline, 30 * 86_400);
    }

    #[test]
    fn a_campaign_is_busy_at_its_start_and_end_and_quiet_between() {
        let day = 86_400;
        let span = 30 * day;
        let gained = |from: i64, to: i64| {
            Campaign::until("maker/lamp", 0, to, span).backers - Campaign::until("maker/lamp", 0, from, span).backers
        };
        // A day at the start, in the middle and at the end.
        let (start, middle, end) = (gained(0, day), gained(10 * day, 11 * day), gained(span - day, span));
        assert!(start >= 2 * middle && end >= 2 * middle, "{start} {middle} {end}");
        assert_eq!(activity(span, span), span + 2 * 2 * BUSY_SECS);
        // Shorter than four days: busy throughout.
        assert_eq!(activity(3_000, 3 * day), 3 * 3_000);
        assert_eq!(activity(-5, span), 0);
        assert_eq!(Campaign::until("maker/lamp", 0, span + 10, span).canceled().state, "canceled");
        assert_eq!(Campaign::until("maker/lamp", 0, 10, span).canceled().state, "live");
    }

    #[test]
    fn split_pages_add_up() {
        let ads = Ads::at("act_77", 12_345);
        let [a, b] = ads.split();
        assert_eq!(a.spend_cents + b.spend_cents, ads.spend_cents);
        assert_eq!(a.purchase_value_cents + b.purchase_value_cents, ads.purchase_value_cents);
    }

    #[test]
    fn money_formats_cents() {
        assert_eq!(money(123_450), "1234.50");
        assert_eq!(money(5), "0.05");
    }
}
