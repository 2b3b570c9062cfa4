//! The vocabulary the API shares across resources: the names of platforms
//! and states, freshness, observations. Each mirrors a type of a lower
//! crate and is built from it (`From`); the conversions match every variant
//! and name every field, so a change below fails to compile here instead of
//! changing the API unseen.

use serde::Serialize;
use trawler_domain as domain;
use utoipa::ToSchema;

/// Declares an API enum that mirrors a lower crate's enum variant for
/// variant, with the same snake_case names and a conversion each way.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident = $krate:ident :: $src:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl From<$krate::$src> for $name {
            fn from(v: $krate::$src) -> $name {
                match v { $($krate::$src::$variant => $name::$variant),+ }
            }
        }

        impl From<$name> for $krate::$src {
            fn from(v: $name) -> $krate::$src {
                match v { $($name::$variant => $krate::$src::$variant),+ }
            }
        }
    };
}
pub(crate) use mirror_enum;

mirror_enum!(
    /// A platform adapter: where the numbers come from and in which shape.
    Platform = domain::Platform {
        /// Kickstarter: `stats.json` for the hot poll, the project page for the full scrape.
        Kickstarter,
        /// Indiegogo: the campaign JSON of its public API.
        Indiegogo,
        /// Meta (Facebook) Ads: Marketing API insights of an ad account or campaign.
        MetaAds,
        /// Any JSON endpoint, metrics picked by JSON pointer.
        HttpJson,
        /// Any HTML page, metrics picked by CSS selector.
        Html,
        /// The European Central Bank's euro reference rates: the node's own
        /// exchange rates, not a project's source.
        Ecb,
    }
);

mirror_enum!(
    /// Whether a project is being scraped.
    ProjectStatus = domain::ProjectStatus {
        /// Scraped on its schedule.
        Active,
        /// Stopped for good by an admin; its data stays readable.
        Archived,
        /// Stopped by the supervisor after crashing too often; an admin resumes it.
        Quarantined,
        /// Its campaign is over and its final numbers are in: nothing is
        /// scheduled, its data stays served; an admin may resume it.
        Ended,
    }
);

mirror_enum!(
    /// What a run fetched.
    RunKind = domain::RunKind {
        /// Every metric of every source of the project.
        Full,
        /// The hot metric only (the fast poll).
        Poll,
    }
);

mirror_enum!(
    /// Why a run started.
    RunTrigger = domain::RunTrigger {
        /// Its slot in the schedule came.
        Schedule,
        /// An admin asked for it.
        Manual,
        /// The campaign ended: the scrape of its final numbers.
        Final,
    }
);

mirror_enum!(
    /// Where a run stands.
    RunStatus = domain::RunStatus {
        /// Fetching now.
        Running,
        /// Every source answered and its points were handed to ingestion.
        Succeeded,
        /// Some sources answered, some failed.
        Partial,
        /// No source answered.
        Failed,
        /// The process stopped before the run finished.
        Aborted,
        /// An admin cancelled it; the points fetched before are kept.
        Cancelled,
    }
);

mirror_enum!(
    /// How the points inside one `step` bucket of a series become one value.
    Agg = domain::Agg {
        /// The latest point of the bucket (right for cumulative counters).
        Last,
        /// The smallest value.
        Min,
        /// The largest value.
        Max,
        /// The mean.
        Avg,
    }
);

/// A project's freshness over a window: its slots, and how they went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Freshness {
    /// Slots whose start window ended inside the window.
    pub slots: u64,
    /// Slots with a successful run started on time.
    pub met: u64,
    /// Slots with a run started on time that did not succeed.
    pub failed: u64,
    /// Slots with no run started on time (late or missing).
    pub missed: u64,
    /// `met / slots`; `None` without slots.
    pub share: Option<f64>,
}

impl From<domain::slo::Freshness> for Freshness {
    fn from(f: domain::slo::Freshness) -> Freshness {
        let domain::slo::Freshness { slots, met, failed, missed, share } = f;
        Freshness { slots, met, failed, missed, share }
    }
}

/// The latest value of one (platform, metric) of a project at some moment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Observation {
    /// Where it came from.
    pub platform: Platform,
    /// What it measures.
    #[schema(pattern = "^[a-z0-9_]{1,64}$", example = "pledged")]
    pub metric: String,
    /// When it was observed, epoch seconds.
    pub ts: i64,
    /// The value, as the platform reported it.
    pub value: f64,
    /// Its currency, for money (ISO 4217), where the source's is known.
    pub currency: Option<String>,
}

impl Observation {
    /// `o`, in `currency` if it is money.
    pub fn new(o: domain::Observation, currency: Option<domain::Currency>) -> Observation {
        let domain::Observation { platform, metric, ts, value } = o;
        let currency = currency.filter(|_| domain::money::is_money(metric.as_str())).map(String::from);
        Observation { platform: platform.into(), metric: metric.into(), ts, value, currency }
    }
}

/// The derived figures of a project over a range. `None` where an input is
/// missing or a denominator is zero: a dashboard shows "—", never `inf`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Derived {
    /// Return on ad spend: Δpurchase_value / Δspend.
    pub roas: Option<f64>,
    /// Blended RoAS: Δpledged / Δspend (all pledges, attributed or not).
    pub blended_roas: Option<f64>,
    /// Ad spend per new backer: Δspend / Δbackers.
    pub cost_per_backer: Option<f64>,
    /// Percent of the goal pledged: latest pledged / latest goal × 100.
    pub funded_pct: Option<f64>,
}

impl From<domain::Derived> for Derived {
    fn from(d: domain::Derived) -> Derived {
        let domain::Derived { roas, blended_roas, cost_per_backer, funded_pct } = d;
        Derived { roas, blended_roas, cost_per_backer, funded_pct }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_names_are_the_names_below() {
        for p in domain::Platform::ALL {
            let wire = serde_json::to_value(Platform::from(p)).expect("serialises");
            assert_eq!(wire, serde_json::Value::String(p.as_str().to_owned()));
            assert_eq!(domain::Platform::from(Platform::from(p)), p);
        }
        for s in [domain::RunStatus::Running, domain::RunStatus::Cancelled, domain::RunStatus::Aborted] {
            assert_eq!(serde_json::to_value(RunStatus::from(s)).expect("serialises"), s.as_str());
        }
        for s in [domain::ProjectStatus::Active, domain::ProjectStatus::Archived, domain::ProjectStatus::Quarantined] {
            assert_eq!(serde_json::to_value(ProjectStatus::from(s)).expect("serialises"), s.as_str());
        }
    }
}
