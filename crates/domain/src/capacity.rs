//! The capacity check: the request rate a platform's active sources need at
//! the configured cadences, against the rate budget the node may spend on
//! that platform. Every active source costs one request per full scrape and
//! one per fast poll.

use serde::Serialize;

use crate::Platform;

/// Above this share of its budget, a platform is flagged.
pub const WARN_SHARE: f64 = 0.9;

/// One platform's requirement against its budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// The platform.
    pub platform: Platform,
    /// Active sources on it.
    pub sources: u64,
    /// Requests per second the sources need (full scrapes plus polls).
    pub required_per_sec: f64,
    /// Requests per second the node may send (its rate, times live nodes).
    pub budget_per_sec: f64,
    /// `required / budget`.
    pub share: f64,
    /// The shortest poll interval the budget allows with these sources and
    /// this full-scrape cadence, in seconds (`None` when the full scrapes
    /// alone exceed the budget).
    pub min_poll_interval_secs: Option<f64>,
    /// The shortest full-scrape interval the budget allows with these
    /// sources and this poll cadence, in seconds (`None` when the polls
    /// alone exceed the budget).
    pub min_full_interval_secs: Option<f64>,
    /// Set when the share passes 90%: what is wrong and what would fix it.
    pub warning: Option<String>,
}

/// Computes a platform's capacity.
pub fn capacity(
    platform: Platform,
    sources: u64,
    full_interval_secs: f64,
    poll_interval_secs: f64,
    rate_per_sec: f64,
    nodes: u64,
) -> Capacity {
    let n = sources as f64;
    let full = n / full_interval_secs.max(1e-9);
    let polls = n / poll_interval_secs.max(1e-9);
    let required = full + polls;
    let budget = rate_per_sec * nodes.max(1) as f64;
    let share = if budget > 0.0 { required / budget } else { f64::INFINITY };
    // The budget left after full scrapes, spent on polls.
    let left = budget - full;
    let min_poll = (left > 0.0 && sources > 0).then(|| n / left);
    // The budget left after polls, spent on full scrapes.
    let left_for_full = budget - polls;
    let min_full = (left_for_full > 0.0 && sources > 0).then(|| n / left_for_full);
    let warning = (share > WARN_SHARE).then(|| {
        let fix = match (min_poll, min_full) {
            (Some(p), _) => format!("poll every {} or more, or raise the rate", human_secs(p.ceil())),
            (None, Some(f)) => format!(
                "the full scrapes alone exceed the budget: scrape every {} or more, or raise the rate",
                human_secs(f.ceil())
            ),
            (None, None) => "the polls alone exceed the budget: lengthen the poll interval or raise the rate".into(),
        };
        format!(
            "{platform}: {sources} sources need {required:.2} requests/s, {:.0}% of the budget of {budget:.2}/s; {fix}",
            share * 100.0
        )
    });
    Capacity {
        platform,
        sources,
        required_per_sec: required,
        budget_per_sec: budget,
        share,
        min_poll_interval_secs: min_poll,
        min_full_interval_secs: min_full,
        warning,
    }
}

/// The one interval (of full scrapes, or of polls) that asks as much of a
/// platform as `sources` projects at their own intervals asking `per_sec`
/// requests a second (infinite when none is scheduled), for [`capacity`].
pub fn equivalent_interval(sources: u64, per_sec: f64) -> f64 {
    if per_sec > 0.0 {
        sources as f64 / per_sec
    } else {
        f64::INFINITY
    }
}

/// [`capacity`] of `sources` whose projects, each at its own intervals,
/// ask `full_per_sec` full scrapes and `polls_per_sec` polls a second.
pub fn capacity_at_rates(
    platform: Platform,
    sources: u64,
    full_per_sec: f64,
    polls_per_sec: f64,
    rate_per_sec: f64,
    nodes: u64,
) -> Capacity {
    let full = equivalent_interval(sources, full_per_sec);
    let polls = equivalent_interval(sources, polls_per_sec);
    capacity(platform, sources, full, polls, rate_per_sec, nodes)
}

fn human_secs(secs: f64) -> String {
    let s = secs as u64;
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_sources_against_a_budget_of_eight_hundred_per_interval_warn() {
        // 1,000 sources polled every 100 s need 10/s for polls; a budget of
        // 8/s covers 800 per interval. Full scrapes every 4 h add 0.07/s.
        let c = capacity(Platform::Kickstarter, 1000, 14_400.0, 100.0, 8.0, 1);
        assert!((c.required_per_sec - (10.0 + 1000.0 / 14_400.0)).abs() < 1e-9);
        assert!((c.share - c.required_per_sec / 8.0).abs() < 1e-9);
        let min = c.min_poll_interval_secs.expect("feasible");
        assert!((min - 1000.0 / (8.0 - 1000.0 / 14_400.0)).abs() < 1e-9, "{min}");
        let w = c.warning.expect("over 90%");
        assert!(w.contains("1000 sources") && w.contains("126%") && w.contains("poll every 2m7s"), "{w}");
    }

    #[test]
    fn projects_at_their_own_intervals_weigh_by_their_rate() {
        // 100 at an hour, 100 every 10 s, 100 manual: 100/3600 + 10 per s.
        let per_sec = 100.0 / 3600.0 + 100.0 / 10.0;
        let full = equivalent_interval(300, per_sec);
        let c = capacity(Platform::Html, 300, full, 604_800.0, 100.0, 1);
        assert!((c.required_per_sec - (per_sec + 300.0 / 604_800.0)).abs() < 1e-9, "{c:?}");
        // None scheduled: no full-scrape load at all.
        let c = capacity(Platform::Html, 300, equivalent_interval(300, 0.0), 604_800.0, 100.0, 1);
        assert!((c.required_per_sec - 300.0 / 604_800.0).abs() < 1e-12, "{c:?}");
        // Polls too: 200 every minute and 100 every 2 s.
        let polls = 200.0 / 60.0 + 100.0 / 2.0;
        let c = capacity(Platform::Html, 300, full, equivalent_interval(300, polls), 100.0, 1);
        assert!((c.required_per_sec - (per_sec + polls)).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn within_budget_is_quiet_and_nodes_multiply_the_budget() {
        let c = capacity(Platform::MetaAds, 100, 14_400.0, 300.0, 10.0, 1);
        assert!(c.share < 0.1 && c.warning.is_none());
        let one = capacity(Platform::Html, 1000, 14_400.0, 100.0, 8.0, 1);
        let two = capacity(Platform::Html, 1000, 14_400.0, 100.0, 8.0, 2);
        assert!(one.warning.is_some() && two.warning.is_none() && (one.share / two.share - 2.0).abs() < 1e-9);
    }

    #[test]
    fn full_scrapes_alone_over_budget_say_so() {
        let c = capacity(Platform::Indiegogo, 100_000, 3600.0, 300.0, 5.0, 1);
        assert_eq!(c.min_poll_interval_secs, None);
        assert_eq!(c.min_full_interval_secs, None, "the polls alone need 333/s");
        assert!(c.warning.expect("over").contains("polls alone"));
        // 1,000 sources scraped every 10 s against 800 per interval: the
        // shortest full interval is sources ÷ budget (polls a week apart).
        let c = capacity(Platform::Kickstarter, 1000, 10.0, 604_800.0, 80.0, 1);
        let min = c.min_full_interval_secs.expect("feasible");
        assert!((min - 1000.0 / (80.0 - 1000.0 / 604_800.0)).abs() < 1e-9, "{min}");
        let w = c.warning.expect("over");
        assert!(w.contains("full scrapes alone") && w.contains("scrape every 13s") && w.contains("125%"), "{w}");
    }
}
