//! Money in one currency: where a project's money is counted, in what its
//! figures are reported, and the rates they are converted with — for the
//! API's summaries, series and exports and the UI's figures.

use std::collections::BTreeMap;

use trawler_domain::{now_secs, Currencies, Currency, FxRates, Platform, ProjectId};
use trawler_store::{AnyConnection, Point, Project, Source, StoreResult};

use crate::views::RatesAge;

/// The currency of each of project `id`'s platforms, where known.
pub(crate) fn source_currencies(conn: &mut AnyConnection, id: ProjectId) -> StoreResult<BTreeMap<Platform, Currency>> {
    let mut of = BTreeMap::new();
    for source in Source::list_for_project(conn, id)? {
        if let Some(c) = source.currency() {
            of.entry(source.platform).or_insert(c);
        }
    }
    Ok(of)
}

/// What converting `project`'s money takes: where it is counted, in what it
/// is reported, and the rates (read only when a conversion is needed).
pub(crate) fn money(conn: &mut AnyConnection, project: &Project) -> StoreResult<(Currencies, FxRates)> {
    let currencies = Currencies::new(source_currencies(conn, project.id)?, project.reporting_currency);
    let fx = match currencies.reporting {
        Some(to) if currencies.of.values().any(|c| *c != to) => {
            let mut needed: Vec<Currency> = currencies.of.values().copied().chain([to]).collect();
            needed.sort();
            needed.dedup();
            Point::rates(conn, &needed)?
        }
        _ => FxRates::new(),
    };
    Ok((currencies, fx))
}

/// How old the rates are, when money is converted at all.
pub(crate) fn rates_age(currencies: &Currencies, fx: &FxRates) -> Option<RatesAge> {
    let to = currencies.reporting?;
    if !currencies.of.values().any(|c| *c != to) {
        return None;
    }
    let newest = fx.newest();
    Some(RatesAge {
        newest: newest.map(|d| trawler_domain::time::rfc3339(d).chars().take(10).collect()),
        age_secs: newest.map(|d| now_secs().saturating_sub(d)),
    })
}
