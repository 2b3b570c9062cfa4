//! Pieces more than one page uses: filter forms, pagers, flash messages
//! and the figures of a project.

use super::*;

/// One choice of a filter: its value, its label, whether it is on.
pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) on: bool,
}

pub(super) fn choices<T: Copy + PartialEq>(all: &[T], on: &[T], text: impl Fn(T) -> &'static str) -> Vec<Choice> {
    all.iter()
        .map(|&v| Choice { value: text(v).to_owned(), label: text(v).replace('_', " "), on: on.contains(&v) })
        .collect()
}

/// The filter form's choices, shared by the projects and runs pages.
pub(super) struct FilterForm {
    pub(super) platforms: Vec<Choice>,
    pub(super) statuses: Vec<Choice>,
    pub(super) runs: Vec<Choice>,
    pub(super) nodes: Vec<Choice>,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) name: String,
    /// `client=acme,team` as typed.
    pub(super) labels: String,
    pub(super) any: bool,
}

pub(super) const RUN_STATUSES: [RunStatus; 6] = [
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Partial,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::Aborted,
];

pub(super) fn filter_form(f: &Filters, nodes: Vec<String>) -> FilterForm {
    FilterForm {
        platforms: choices(&Platform::SOURCES, &f.platforms, Platform::as_str),
        statuses: choices(
            &[ProjectStatus::Active, ProjectStatus::Quarantined, ProjectStatus::Ended, ProjectStatus::Archived],
            &f.project_statuses,
            ProjectStatus::as_str,
        ),
        runs: choices(&RUN_STATUSES, &f.run_statuses, RunStatus::as_str),
        nodes: nodes
            .into_iter()
            .filter(|n| !n.is_empty())
            .map(|n| Choice { on: f.nodes.contains(&n), label: n.clone(), value: n })
            .collect(),
        from: f.from.clone(),
        to: f.to.clone(),
        name: f.name.clone(),
        labels: f
            .labels
            .iter()
            .map(|(k, v)| v.as_ref().map_or_else(|| k.clone(), |v| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(","),
        any: f.any(),
    }
}

/// Links to the pages before and after this one.
pub(super) struct Pager {
    pub(super) page: usize,
    pub(super) pages: usize,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
}

pub(super) fn pager(base: &str, f: &Filters, projects: bool, total: usize) -> Pager {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let link = |page: usize| {
        let q = f.query(projects, page);
        if q.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{q}")
        }
    };
    Pager {
        page: f.page,
        pages,
        prev: (f.page > 1).then(|| link(f.page - 1)),
        next: (f.page < pages).then(|| link(f.page + 1)),
    }
}

#[derive(Deserialize)]
pub struct FlashQuery {
    pub(super) flash: Option<String>,
    pub(super) range: Option<String>,
}

pub(super) const RANGES: [(&str, &str, i64); 5] = [
    ("15m", "last 15 minutes", 900),
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86_400),
    ("7d", "last 7 days", 7 * 86_400),
    ("30d", "last 30 days", 30 * 86_400),
];

/// One figure of a project's page: its name, its value as shown, and the
/// currency of money.
pub(super) struct Figure {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) currency: Option<String>,
}

/// The figures and chart metrics of a project now, from its latest
/// observations: each metric summed over platforms in the reporting
/// currency, then the derived figures. An amount that cannot be converted
/// is left out (never added to another currency); its chart stays.
pub(super) fn figures(
    obs: &[trawler_domain::Observation],
    currencies: &trawler_domain::Currencies,
    fx: &trawler_domain::FxRates,
) -> (Vec<Figure>, Vec<String>) {
    use trawler_domain::Derived;
    let converted = currencies.totals(fx, obs, &[]);
    let unit = |money: bool| currencies.reporting.filter(|_| money).map(String::from);
    let mut out: Vec<Figure> = converted
        .totals
        .latest
        .iter()
        .map(|(m, v)| Figure {
            name: m.clone(),
            value: number(Some(*v)),
            currency: unit(trawler_domain::money::is_money(m)),
        })
        .collect();
    let (derived, _) = currencies.derived(&converted, obs, &[]);
    for name in Derived::NAMES {
        if let Some(v) = derived.get(name) {
            out.push(Figure {
                name: name.to_owned(),
                value: number(Some(v)),
                currency: unit(name == Derived::COST_PER_BACKER),
            });
        }
    }
    let mut metrics: Vec<String> = obs.iter().map(|o| o.metric.as_str().to_owned()).collect();
    metrics.sort();
    metrics.dedup();
    (out, metrics)
}
