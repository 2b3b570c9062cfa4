//! Money in one currency: where a project's money is counted, in what its
//! figures are reported, and the rates they are converted with — for the
//! API's summaries, series and exports and the UI's figures.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use trawler_domain::{now_secs, Currencies, Currency, FxRates, Platform, ProjectId};
use trawler_store::{AnyConnection, Point, Project, Source, StoreResult};

use crate::views::RatesAge;

/// The currency of each of project `id`'s platforms, where known.
pub(crate) fn source_currencies(conn: &mut AnyConnection, id: ProjectId) -> StoreResult<SourceCurrencies> {
    Ok(Source::currencies(&Source::list_for_project(conn, id)?))
}

/// How long a project's source currencies are remembered.
const REMEMBERED: Duration = Duration::from_secs(60);
/// Most projects remembered at once (past it, the memory starts afresh).
const REMEMBERED_MAX: usize = 100_000;

/// Each project's source currencies, remembered a minute, so that a series
/// of money names its currency without a query on every read (the series
/// route is the hot one). A platform's currency is learnt once and rarely
/// changes; a change shows within the minute.
#[derive(Default)]
pub struct CurrencyMemo {
    known: Mutex<HashMap<ProjectId, (Instant, SourceCurrencies)>>,
}

/// The currency of each of a project's platforms, where known.
type SourceCurrencies = BTreeMap<Platform, Currency>;

impl CurrencyMemo {
    /// Project `id`'s source currencies, read when not remembered.
    pub(crate) fn of(&self, conn: &mut AnyConnection, id: ProjectId) -> StoreResult<SourceCurrencies> {
        let lock = || self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, of)) = lock().get(&id) {
            if at.elapsed() < REMEMBERED {
                return Ok(of.clone());
            }
        }
        let of = source_currencies(conn, id)?;
        let mut known = lock();
        if known.len() >= REMEMBERED_MAX {
            known.clear();
        }
        known.insert(id, (Instant::now(), of.clone()));
        Ok(of)
    }
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
