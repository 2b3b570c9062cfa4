//! Cadence that follows the action: a platform's poll budget divided across
//! its projects by weight, so polls go where numbers move (a campaign's
//! first and last 48 hours, an ad account spending) and fewer go to quiet
//! projects — never above the budget.
//!
//! Each project gets a poll rate `clamp(weight × λ, lo, hi)` (water-filling):
//! `lo` is the slowest it may be polled (or the rate of the poll interval an
//! admin set, a floor), `hi` the fastest. One λ is found so that the
//! requests of all projects (rate × sources) spend the target, which is at
//! most the budget.

use std::time::Duration;

/// How lively a project's numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// The first or last 48 hours of a campaign, an ad account spending.
    Hot,
    /// A campaign in its middle days.
    Normal,
    /// Numbers that hardly move.
    Quiet,
}

impl Activity {
    /// Its weight in the division of the budget.
    pub fn weight(self) -> f64 {
        match self {
            Activity::Hot => 4.0,
            Activity::Normal => 1.0,
            Activity::Quiet => 0.25,
        }
    }
}

/// How long at each end of a campaign it counts as hot.
pub const HOT_EDGE: Duration = Duration::from_secs(48 * 3600);

/// A crowdfunding campaign's activity at `now_ms`: hot in its first 48
/// hours (from `started_ms`) and its last 48 (before `deadline_ms`),
/// normal between.
pub fn campaign_activity(started_ms: i64, deadline_ms: Option<i64>, now_ms: i64) -> Activity {
    let edge = HOT_EDGE.as_millis() as i64;
    let new = now_ms.saturating_sub(started_ms) < edge;
    let ending = deadline_ms.is_some_and(|d| d.saturating_sub(now_ms) < edge);
    if new || ending {
        Activity::Hot
    } else {
        Activity::Normal
    }
}

/// What one project asks of a platform's poll budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// Requests one poll of it makes (its sources on the platform).
    pub sources: u32,
    /// Its weight ([`Activity::weight`]).
    pub weight: f64,
    /// The poll rate an admin set for it (polls/s): a floor; 0 for none.
    pub floor_per_sec: f64,
}

/// The range of poll rates a project may get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The fastest, polls/s (one poll per `TRAWLER_MIN_INTERVAL`).
    pub fastest_per_sec: f64,
    /// The slowest, polls/s.
    pub slowest_per_sec: f64,
}

/// The floors alone ask more than the budget: a configuration error.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("the poll intervals set on projects need {need_per_sec:.2} requests/s, more than the budget of {budget_per_sec:.2}/s")]
pub struct DoesNotFit {
    /// What the floors (and the slowest rate of the others) need.
    pub need_per_sec: f64,
    /// The budget.
    pub budget_per_sec: f64,
}

/// Each project's poll rate (polls/s, in the order of `demands`): the
/// requests they make together spend at most `min(target, budget)`, each
/// project within its bounds, its floor kept. `Err` when the floors and
/// the slowest rate of the others already exceed the budget.
pub fn allocate(
    target_per_sec: f64,
    budget_per_sec: f64,
    demands: &[Demand],
    limits: Limits,
) -> Result<Vec<f64>, DoesNotFit> {
    let bounds: Vec<(f64, f64)> = demands
        .iter()
        .map(|d| {
            let lo = d.floor_per_sec.max(limits.slowest_per_sec).max(0.0);
            (lo, limits.fastest_per_sec.max(lo))
        })
        .collect();
    let spend = |rates: &mut dyn Iterator<Item = f64>| -> f64 {
        demands.iter().zip(rates).map(|(d, r)| f64::from(d.sources) * r).sum()
    };
    let need = spend(&mut bounds.iter().map(|b| b.0));
    let budget = budget_per_sec.max(0.0);
    if need > budget {
        return Err(DoesNotFit { need_per_sec: need, budget_per_sec: budget });
    }
    let available = target_per_sec.min(budget).max(need);
    if spend(&mut bounds.iter().map(|b| b.1)) <= available {
        return Ok(bounds.iter().map(|b| b.1).collect());
    }
    let rates_at = |lambda: f64| -> Vec<f64> {
        demands.iter().zip(&bounds).map(|(d, (lo, hi))| (d.weight.max(0.0) * lambda).clamp(*lo, *hi)).collect()
    };
    // The spend grows with λ: find the largest λ that stays within.
    let (mut low, mut high) = (0.0f64, 1.0f64);
    while spend(&mut rates_at(high).into_iter()) <= available && high < 1e18 {
        low = high;
        high *= 2.0;
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if spend(&mut rates_at(mid).into_iter()) <= available {
            low = mid;
        } else {
            high = mid;
        }
    }
    Ok(rates_at(low))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits { fastest_per_sec: 1.0 / 60.0, slowest_per_sec: 1.0 / 3600.0 };

    #[test]
    fn hot_projects_get_more_of_the_same_spend() {
        // 10 hot and 90 normal projects, one source each; the default
        // cadence (every 5 minutes) would spend 100/300 requests a second.
        let mut demands = vec![Demand { sources: 1, weight: Activity::Hot.weight(), floor_per_sec: 0.0 }; 10];
        demands.extend(vec![Demand { sources: 1, weight: Activity::Normal.weight(), floor_per_sec: 0.0 }; 90]);
        let target = 100.0 / 300.0;
        let rates = allocate(target, 10.0, &demands, LIMITS).expect("fits");
        let total: f64 = rates.iter().sum();
        assert!((total - target).abs() < 1e-9, "{total}");
        assert!((rates[0] / rates[99] - 4.0).abs() < 1e-6, "hot four times as often: {rates:?}");
        assert!(rates[99] < 1.0 / 300.0 && rates[0] > 1.0 / 300.0);
    }

    #[test]
    fn floors_are_kept_and_a_budget_they_exceed_is_an_error() {
        let floor = Demand { sources: 2, weight: 1.0, floor_per_sec: 0.5 };
        let free = Demand { sources: 1, weight: 1.0, floor_per_sec: 0.0 };
        let rates = allocate(0.05, 5.0, &[floor, free], LIMITS).expect("fits");
        assert!(rates[0] >= 0.5 && rates[1] >= LIMITS.slowest_per_sec);
        let err = allocate(0.05, 0.9, &[floor, free], LIMITS).expect_err("two sources at 0.5/s need 1/s");
        assert!(err.to_string().contains("need 1.00 requests/s"), "{err}");
    }

    #[test]
    fn an_ending_campaign_is_hot() {
        let day = 86_400_000;
        assert_eq!(campaign_activity(0, Some(30 * day), day), Activity::Hot, "first day");
        assert_eq!(campaign_activity(0, Some(30 * day), 10 * day), Activity::Normal);
        assert_eq!(campaign_activity(0, Some(30 * day), 29 * day), Activity::Hot, "last day");
        assert_eq!(campaign_activity(0, None, 10 * day), Activity::Normal);
    }

    fn demand() -> impl Strategy<Value = Demand> {
        (1u32..6, prop_oneof![Just(4.0), Just(1.0), Just(0.25)], prop_oneof![Just(0.0), 0.0001f64..0.02])
            .prop_map(|(sources, weight, floor_per_sec)| Demand { sources, weight, floor_per_sec })
    }

    proptest! {
        /// Random projects, activities, floors, budgets and node counts:
        /// what the projects of one node ask together never exceeds the
        /// node's share of the budget, each keeps its floor, and a refusal
        /// means the floors alone do not fit.
        #[test]
        fn the_spend_never_exceeds_the_nodes_share(
            demands in proptest::collection::vec(demand(), 0..300),
            rate in 0.01f64..50.0,
            nodes in 1u32..8,
            target in 0.0f64..50.0,
        ) {
            let share = rate / f64::from(nodes);
            match allocate(target, share, &demands, LIMITS) {
                Ok(rates) => {
                    let spend: f64 = demands.iter().zip(&rates).map(|(d, r)| f64::from(d.sources) * r).sum();
                    prop_assert!(spend <= share * (1.0 + 1e-9) + 1e-12, "spend {spend} over the share {share}");
                    for (d, r) in demands.iter().zip(&rates) {
                        prop_assert!(*r >= d.floor_per_sec.max(LIMITS.slowest_per_sec) * (1.0 - 1e-12));
                        prop_assert!(*r <= LIMITS.fastest_per_sec.max(d.floor_per_sec) * (1.0 + 1e-12));
                    }
                }
                Err(e) => prop_assert!(e.need_per_sec > share),
            }
        }
    }
}
