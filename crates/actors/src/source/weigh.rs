//! Each project's poll interval for a window: its own where an admin set
//! one (a floor the division keeps), otherwise its share of what the node's
//! default cadence would spend, divided by how lively its numbers are (see
//! `trawler_domain::allocation`): a campaign in its first or last 48 hours
//! is polled more often, one in its middle days less, and the platform's
//! budget is never exceeded. Projects that are all alike keep the default.

use std::collections::HashMap;
use std::sync::Arc;

use trawler_domain::allocation::{allocate, campaign_activity, Activity, Demand, Limits};
use trawler_domain::campaign::Phase;
use trawler_domain::ProjectId;
use trawler_store::Source;

use crate::campaign::ends;

/// The share of the platform's rate polls and full scrapes may plan for
/// (the rest absorbs triggers, retries and bursts).
const HEADROOM: f64 = 0.9;

/// What the division works with.
pub(super) struct Budget {
    /// The node's poll interval, ms.
    pub(super) default_ms: i64,
    /// The poll interval of idle sources (the slowest), ms.
    pub(super) idle_ms: i64,
    /// The shortest interval a project may get, ms.
    pub(super) min_ms: i64,
    /// The node's full-scrape interval, ms.
    pub(super) full_ms: i64,
    /// Requests a second this node may send to the platform.
    pub(super) rate_per_sec: f64,
    /// Divide by activity (`false`: every project at its own or the
    /// node's interval).
    pub(super) weighted: bool,
    pub(super) now_ms: i64,
    /// Which ad sources spent in the last hour, and which did not.
    pub(super) spending: crate::spend::Spending,
}

/// One project as the division sees it.
struct Project {
    own_ms: Option<i64>,
    /// Sources polled at its interval (not idle).
    polled: u32,
    all: u32,
    started_ms: i64,
    deadline_ms: Option<i64>,
    crowdfunding: bool,
    /// An ad source of it spent in the last hour.
    spending: bool,
    /// Its ad sources were watched for an hour and none spent.
    still: bool,
}

/// The quantised intervals, as multiples of the default: slots stay put
/// while the division moves a little, and rounding an interval up only
/// lowers the spend.
const STEPS: [(i64, i64); 17] = [
    (1, 8),
    (1, 6),
    (1, 4),
    (1, 3),
    (1, 2),
    (2, 3),
    (1, 1),
    (3, 2),
    (2, 1),
    (3, 1),
    (4, 1),
    (6, 1),
    (8, 1),
    (12, 1),
    (16, 1),
    (24, 1),
    (32, 1),
];

fn quantize(raw_ms: f64, default_ms: i64, min_ms: i64) -> i64 {
    let step =
        STEPS.iter().map(|(n, d)| default_ms.saturating_mul(*n) / d).find(|cand| *cand as f64 >= raw_ms * (1.0 - 1e-9));
    step.unwrap_or_else(|| raw_ms.ceil().min(i64::MAX as f64) as i64).max(min_ms.min(default_ms)).max(1)
}

/// Each project's poll interval (ms) for the window, and why the division
/// could not be made (the full scrapes or the floors exceed the budget), if
/// so.
pub(super) fn intervals(
    sources: &[(Arc<Source>, Option<i64>)],
    b: &Budget,
) -> (HashMap<ProjectId, i64>, Option<Unfit>) {
    let mut projects: HashMap<ProjectId, Project> = HashMap::new();
    for (source, own) in sources {
        let p = projects.entry(source.project_id).or_insert(Project {
            own_ms: *own,
            polled: 0,
            all: 0,
            started_ms: i64::MAX,
            deadline_ms: None,
            crowdfunding: false,
            spending: false,
            still: true,
        });
        p.all += 1;
        let campaign = source.campaign.as_ref();
        if !campaign.is_some_and(|c| c.phase == Phase::Idle) {
            p.polled += 1;
        }
        if source.platform == trawler_domain::Platform::MetaAds {
            p.spending |= b.spending.spending.contains(&source.id);
            p.still &= b.spending.still.contains(&source.id);
        } else {
            p.still = false;
        }
        if ends(source.platform) {
            p.crowdfunding = true;
            // When it launched; when it was added here if the platform
            // has not said.
            let started = campaign.and_then(|c| c.started_ms).unwrap_or(source.created_at_ms);
            p.started_ms = p.started_ms.min(started);
            if let Some(d) = campaign.and_then(|c| c.deadline_ms) {
                p.deadline_ms = Some(p.deadline_ms.map_or(d, |x| x.max(d)));
            }
        }
    }
    let base = |p: &Project| p.own_ms.unwrap_or(b.default_ms).max(1);
    let even: HashMap<ProjectId, i64> = projects.iter().map(|(id, p)| (*id, base(p))).collect();
    let free = projects.values().filter(|p| p.own_ms.is_none() && p.polled > 0).count();
    if !b.weighted || free == 0 {
        return (even, None);
    }
    let list: Vec<(&ProjectId, &Project)> = projects.iter().filter(|(_, p)| p.polled > 0).collect();
    let per_sec = |ms: i64| 1000.0 / ms.max(1) as f64;
    let demands: Vec<Demand> = list
        .iter()
        .map(|(_, p)| {
            // A campaign by its dates; an ad account spending now is hot,
            // one that spent nothing for an hour quiet.
            let campaign = p.crowdfunding.then(|| campaign_activity(p.started_ms, p.deadline_ms, b.now_ms));
            let activity = match (campaign, p.spending, p.still) {
                (_, true, _) => Activity::Hot,
                (Some(a), false, _) => a,
                (None, false, true) => Activity::Quiet,
                (None, false, false) => Activity::Normal,
            };
            let floor_per_sec = p.own_ms.map_or(0.0, per_sec);
            Demand { sources: p.polled, weight: activity.weight(), floor_per_sec }
        })
        .collect();
    // What the cadences in force would spend: the division moves it
    // between projects, it does not add to it.
    let target: f64 = list.iter().map(|(_, p)| f64::from(p.polled) * per_sec(base(p))).sum();
    let all: u32 = projects.values().map(|p| p.all).sum();
    let budget = b.rate_per_sec * HEADROOM - f64::from(all) * per_sec(b.full_ms);
    if budget <= 0.0 {
        let why = format!(
            "the full scrapes alone need {:.2} requests/s of the {:.2}/s this node may send",
            f64::from(all) * per_sec(b.full_ms),
            b.rate_per_sec * HEADROOM
        );
        return (even, Some(Unfit::FullScrapes(why)));
    }
    let limits = Limits {
        fastest_per_sec: per_sec(b.min_ms.min(b.default_ms)),
        slowest_per_sec: per_sec(b.idle_ms.max(b.default_ms)),
    };
    match allocate(target, budget, &demands, limits) {
        Ok(rates) => {
            let mut out = even;
            for ((id, p), rate) in list.iter().zip(rates) {
                if p.own_ms.is_none() && rate > 0.0 {
                    out.insert(**id, quantize(1000.0 / rate, b.default_ms, b.min_ms));
                }
            }
            (out, None)
        }
        Err(e) => (even, Some(Unfit::Floors(e.to_string()))),
    }
}

/// Why the polls could not be divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unfit {
    /// The full scrapes alone take the budget (the capacity check warns).
    FullScrapes(String),
    /// The intervals admins set on projects need more than the budget: a
    /// configuration error.
    Floors(String),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::FullScrapes(why) | Unfit::Floors(why) => f.write_str(why),
        }
    }
}

/// How one platform's polls would be divided now (`trawler config check`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollDivision {
    /// Projects per poll interval, ms.
    pub by_interval: std::collections::BTreeMap<i64, u64>,
    /// Why the polls cannot be divided: the projects' own intervals need
    /// more than the budget (a configuration error).
    pub error: Option<String>,
    /// The full scrapes alone take the budget: the polls go at their
    /// intervals in force (the capacity check warns of it).
    pub full_scrapes_too_many: bool,
}

/// Divides the polls of one platform's active sources (`(source, its
/// project's own poll interval)`) as a node with `settings` sending
/// `rate_per_sec` would at `now_ms`; ad spend is not known offline.
pub fn poll_division(
    sources: Vec<(Source, Option<i64>)>,
    settings: &crate::ActorsSettings,
    rate_per_sec: f64,
    now_ms: i64,
) -> PollDivision {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let budget = Budget {
        default_ms: ms(settings.poll_interval.get()),
        idle_ms: ms(settings.idle_poll_interval.get()),
        min_ms: ms(settings.min_interval.get()),
        full_ms: ms(settings.full_interval.get()),
        rate_per_sec,
        weighted: settings.weighted_polls,
        now_ms,
        spending: Default::default(),
    };
    let list: Vec<(Arc<Source>, Option<i64>)> = sources.into_iter().map(|(s, own)| (Arc::new(s), own)).collect();
    let (intervals, error) = intervals(&list, &budget);
    let mut by_interval = std::collections::BTreeMap::new();
    for every in intervals.into_values().filter(|ms| *ms > 0) {
        *by_interval.entry(every).or_insert(0) += 1;
    }
    PollDivision {
        by_interval,
        full_scrapes_too_many: matches!(error, Some(Unfit::FullScrapes(_))),
        error: match error {
            Some(Unfit::Floors(why)) => Some(why),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::Platform;
    use trawler_store::SourceCampaign;

    const DAY: i64 = 86_400_000;

    fn source(id: i64, created_at_ms: i64, deadline_ms: i64) -> (Arc<Source>, Option<i64>) {
        let campaign = SourceCampaign {
            state: "live".into(),
            phase: Phase::Live,
            deadline_ms: Some(deadline_ms),
            started_ms: None,
            seen_at_ms: 0,
            currency: None,
        };
        let s = Source {
            id,
            project_id: ProjectId(id),
            platform: Platform::Kickstarter,
            external_ref: format!("a/{id}"),
            options: Arc::new(serde_json::json!({})),
            secret: None,
            created_at_ms,
            campaign: Some(campaign),
        };
        (Arc::new(s), None)
    }

    fn budget(now_ms: i64) -> Budget {
        Budget {
            default_ms: 300_000,
            idle_ms: 3_600_000,
            min_ms: 60_000,
            full_ms: 14_400_000,
            rate_per_sec: 10.0,
            weighted: true,
            now_ms,
            spending: Default::default(),
        }
    }

    #[test]
    fn campaigns_alike_keep_the_default_and_hot_ones_take_from_quiet_ones() {
        let now = 100 * DAY;
        // Ten campaigns in their middle days: all at the default.
        let middle: Vec<_> = (1..=10).map(|i| source(i, now - 10 * DAY, now + 10 * DAY)).collect();
        let (got, error) = intervals(&middle, &budget(now));
        assert!(error.is_none() && got.values().all(|ms| *ms == 300_000), "{got:?}");
        // One of them in its last day: polled more often, the others less,
        // and the whole spends no more than before.
        let mut mixed = middle.clone();
        mixed[0] = source(1, now - 10 * DAY, now + DAY / 2);
        let (got, _) = intervals(&mixed, &budget(now));
        assert!(got[&ProjectId(1)] < 300_000 && got[&ProjectId(2)] > 300_000, "{got:?}");
        let spend: f64 = got.values().map(|ms| 1.0 / *ms as f64).sum();
        assert!(spend <= 10.0 / 300_000.0 * (1.0 + 1e-9), "{spend}");
        // Off: everyone at the default.
        let (got, _) = intervals(&mixed, &Budget { weighted: false, ..budget(now) });
        assert!(got.values().all(|ms| *ms == 300_000));
    }

    #[test]
    fn floors_that_do_not_fit_keep_every_interval_and_say_why() {
        let now = 100 * DAY;
        let mut list: Vec<_> = (1..=3).map(|i| source(i, now - DAY, now + 20 * DAY)).collect();
        list[0].1 = Some(1_000); // one poll a second…
        let b = Budget { rate_per_sec: 0.5, ..budget(now) }; // …on half a request a second
        let (got, error) = intervals(&list, &b);
        assert_eq!(got[&ProjectId(1)], 1_000);
        assert_eq!(got[&ProjectId(2)], 300_000);
        assert!(matches!(error, Some(Unfit::Floors(e)) if e.contains("more than the budget")));
    }

    fn ads(id: i64) -> (Arc<Source>, Option<i64>) {
        let (s, own) = source(id, 0, 0);
        let s = Source { platform: Platform::MetaAds, campaign: None, ..(*s).clone() };
        (Arc::new(s), own)
    }

    #[test]
    fn an_ad_account_spending_now_is_polled_more_often_than_one_that_is_not() {
        let now = 100 * DAY;
        let list: Vec<_> = (1..=6).map(ads).collect();
        // Nothing known of their spend: all alike.
        let (got, _) = intervals(&list, &budget(now));
        assert!(got.values().all(|ms| *ms == 300_000), "{got:?}");
        let spending =
            crate::spend::Spending { spending: [1].into_iter().collect(), still: [2, 3, 4, 5].into_iter().collect() };
        let (got, _) = intervals(&list, &Budget { spending, ..budget(now) });
        // Spending: faster than the default; still for an hour: slower; not
        // known for an hour yet (6): between.
        assert!(got[&ProjectId(1)] < 300_000, "{got:?}");
        assert!(got[&ProjectId(2)] > got[&ProjectId(6)] && got[&ProjectId(6)] >= got[&ProjectId(1)], "{got:?}");
        let spend: f64 = got.values().map(|ms| 1.0 / *ms as f64).sum();
        assert!(spend <= 6.0 / 300_000.0 * (1.0 + 1e-9), "{spend}");
    }
}
