//! What `trawler config check` prints: every setting with its value,
//! secrets masked, and the capacity check against the database.

use anyhow::Result;
use trawler_store::DbUrl;

use super::{env_name, fields, Settings};

impl Settings {
    /// Every setting as `(variable, value)`, secrets masked.
    pub fn describe(&self) -> Vec<(String, String)> {
        fields().map(|f| (env_name(f.key), self.show(f.key).unwrap_or_default())).collect()
    }

    /// The capacity check against the database's active sources: one line
    /// per platform, warnings first marked `WARNING`. Reads an existing
    /// database only (a missing SQLite file is not created).
    pub fn capacity_report(&self) -> Result<Vec<String>> {
        let store = self.store.store();
        if let DbUrl::Sqlite(path) = &store.url {
            if !path.exists() {
                return Ok(vec![format!("# capacity: no database at {} yet; nothing to check", path.display())]);
            }
        }
        let pool = trawler_store::DbPool::open(&store)?;
        let mut conn = pool.get()?;
        if trawler_store::migrations_pending(&mut conn)? {
            return Ok(vec!["# capacity: the database's migrations are pending; run `trawler migrate` first".into()]);
        }
        let load = trawler_store::Source::full_scrape_load(&mut conn, self.actors.full_interval.get())?;
        let mut lines = Vec::new();
        for (platform, rate) in &self.sources.rates() {
            let (sources, full_per_sec) =
                load.iter().find(|(p, _, _)| p == platform).map_or((0, 0.0), |(_, n, f)| (*n, *f));
            let c = trawler_domain::capacity::capacity(
                *platform,
                sources,
                trawler_domain::capacity::equivalent_full_interval(sources, full_per_sec),
                self.actors.poll_interval.get().as_secs_f64(),
                *rate,
                1,
            );
            lines.push(match &c.warning {
                Some(w) => format!("WARNING capacity {w}"),
                None => format!(
                    "# capacity {platform}: {sources} sources need {:.2} requests/s, {:.0}% of {:.2}/s",
                    c.required_per_sec,
                    c.share * 100.0,
                    c.budget_per_sec
                ),
            });
        }
        Ok(lines)
    }
}
