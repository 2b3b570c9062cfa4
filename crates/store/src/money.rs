//! Exchange rates as the node keeps them: points of its own series (project
//! [`RATES_PROJECT`], platform `ecb`, one metric per currency: units per
//! euro, dated by the day they were fixed), and the currencies of a
//! project's sources and figures.

use std::collections::BTreeMap;

use diesel::prelude::*;
use trawler_domain::time::MAX_EPOCH;
use trawler_domain::{Agg, Currency, FxRates, Platform, ProjectId};

use crate::schema::projects;
use crate::{AnyConnection, Point, Project, SeriesQuery, Source, StoreError, StoreResult};

/// The project id the exchange rates are stored under: no project has it
/// (ids start at 1), so no project's reads, exports or retention by project
/// meet them.
pub const RATES_PROJECT: ProjectId = ProjectId(0);

impl Point {
    /// Every stored rate of `currencies` (the euro needs none).
    pub fn rates(conn: &mut AnyConnection, currencies: &[Currency]) -> StoreResult<FxRates> {
        let mut fx = FxRates::new();
        for &currency in currencies.iter().filter(|c| **c != Currency::EUR) {
            let q = SeriesQuery {
                project: RATES_PROJECT,
                metric: currency.rate_metric(),
                platform: Some(Platform::Ecb),
                from: 0,
                to: MAX_EPOCH,
                step: None,
                agg: Agg::Last,
            };
            for series in Point::series(conn, &q)?.series {
                for (ts, rate) in series.points {
                    fx.insert(currency, ts, rate);
                }
            }
        }
        Ok(fx)
    }

    /// The day of the newest rate stored, epoch seconds.
    pub fn newest_rate(conn: &mut AnyConnection) -> StoreResult<Option<i64>> {
        Ok(Point::observations_at(conn, RATES_PROJECT, MAX_EPOCH)?.iter().map(|o| o.ts).max())
    }
}

impl Source {
    /// The currency of each platform of `sources` (one project's): its
    /// first source's with a known currency.
    pub fn currencies<'a>(sources: impl IntoIterator<Item = &'a Source>) -> BTreeMap<Platform, Currency> {
        let mut of = BTreeMap::new();
        for source in sources {
            if let Some(c) = source.currency() {
                of.entry(source.platform).or_insert(c);
            }
        }
        of
    }

    /// The currency of the source's money: as its platform last reported
    /// it, else the source's `currency` option.
    pub fn currency(&self) -> Option<Currency> {
        self.campaign.as_ref().and_then(|c| c.currency).or_else(|| {
            self.options.get("currency").and_then(serde_json::Value::as_str).and_then(|c| Currency::code(c).ok())
        })
    }
}

impl Project {
    /// Sets the currency `id`'s figures are reported in (`None`: its
    /// campaign's).
    pub fn set_reporting_currency(
        conn: &mut AnyConnection,
        id: ProjectId,
        currency: Option<Currency>,
        now_ms: i64,
    ) -> StoreResult<Project> {
        let n = db_run!(conn: {
            diesel::update(projects::table.find(id.0))
                .set((projects::reporting_currency.eq(currency.map(String::from)), projects::updated_at_ms.eq(now_ms)))
                .execute(conn)?
        });
        if n == 0 {
            return Err(StoreError::NotFound("project"));
        }
        Project::get(conn, id)
    }
}
