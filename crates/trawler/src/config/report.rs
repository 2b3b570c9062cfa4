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
    /// per platform, warnings first marked `WARNING`, with how its polls
    /// would be divided by activity; a platform whose projects' own poll
    /// intervals do not fit its budget is an `ERROR` line, and the second
    /// value says whether there is one. Reads an existing database only (a
    /// missing SQLite file is not created).
    pub fn capacity_report(&self) -> Result<(Vec<String>, bool)> {
        let store = self.store.store();
        if let DbUrl::Sqlite(path) = &store.url {
            if !path.exists() {
                return Ok((
                    vec![format!("# capacity: no database at {} yet; nothing to check", path.display())],
                    false,
                ));
            }
        }
        let pool = trawler_store::DbPool::open(&store)?;
        let mut conn = pool.get()?;
        if trawler_store::migrations_pending(&mut conn)? {
            return Ok((
                vec!["# capacity: the database's migrations are pending; run `trawler migrate` first".into()],
                false,
            ));
        }
        let load = trawler_store::Source::scheduled_load(
            &mut conn,
            self.actors.full_interval.get(),
            self.actors.poll_interval.get(),
            self.actors.idle_poll_interval.get(),
        )?;
        let mut lines = Vec::new();
        let mut failed = false;
        let now_ms = trawler_domain::now_millis();
        for (platform, rate) in &self.sources.rates() {
            let (sources, full, polls) = load
                .iter()
                .find(|l| l.platform == *platform)
                .map_or((0, 0.0, 0.0), |l| (l.sources, l.full_per_sec, l.polls_per_sec));
            let c = trawler_domain::capacity::capacity_at_rates(*platform, sources, full, polls, *rate, 1);
            lines.push(match &c.warning {
                Some(w) => format!("WARNING capacity {w}"),
                None => format!(
                    "# capacity {platform}: {sources} sources need {:.2} requests/s, {:.0}% of {:.2}/s",
                    c.required_per_sec,
                    c.share * 100.0,
                    c.budget_per_sec
                ),
            });
            if sources == 0 {
                continue;
            }
            let listed = trawler_store::Source::list_active_for_platform(&mut conn, *platform)?;
            let division = trawler_actors::poll_division(listed, &self.actors, *rate, now_ms);
            if let Some(e) = &division.error {
                failed = true;
                lines.push(format!("ERROR capacity {platform}: its polls cannot be divided: {e}"));
            } else if division.by_interval.len() > 1 {
                let parts: Vec<String> = division
                    .by_interval
                    .iter()
                    .map(|(ms, n)| {
                        let every = humantime::format_duration(std::time::Duration::from_millis(*ms as u64));
                        format!("{n} every {every}")
                    })
                    .collect();
                lines.push(format!("# capacity {platform}: polls divided by activity: {}", parts.join(", ")));
            }
        }
        Ok((lines, failed))
    }
}
