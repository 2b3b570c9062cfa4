//! Read models: what one page shows, read in a fixed number of queries
//! whatever the number of rows or of projects in the database.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use trawler_domain::{Observation, ProjectId};

use crate::run::{Run, RunFilter};
use crate::schema::projects;
use crate::{AnyConnection, StoreError, StoreResult};

/// A page of runs (as [`Run::search`] finds them) with the name of each
/// run's project: two queries, the second for the page's projects only.
pub fn runs_with_project_names(conn: &mut AnyConnection, filter: &RunFilter) -> StoreResult<Vec<(Run, String)>> {
    let runs = Run::search(conn, filter)?;
    let mut ids: Vec<ProjectId> = runs.iter().map(|r| r.project_id).collect();
    ids.sort();
    ids.dedup();
    let mut names: HashMap<i64, String> = HashMap::with_capacity(ids.len());
    for chunk in crate::id_chunks(&ids) {
        let rows: Vec<(i64, String)> = db_run!(conn: {
            projects::table
                .filter(projects::id.eq_any(&chunk))
                .select((projects::id, projects::name))
                .load(conn)?
        });
        names.extend(rows);
    }
    Ok(runs
        .into_iter()
        .map(|r| {
            let name = names.get(&r.project_id.0).cloned().unwrap_or_else(|| format!("#{}", r.project_id));
            (r, name)
        })
        .collect())
}

/// The nodes on this database as the cluster pages show them.
pub struct Cluster {
    /// The database's clock, epoch ms (liveness is judged by it).
    pub now_ms: i64,
    /// Every node process recorded, live or not.
    pub nodes: Vec<crate::node::Node>,
    /// Leases held per live node name.
    pub leases: Vec<(String, i64)>,
    /// Active projects in the database.
    pub active_projects: i64,
}

impl Cluster {
    /// The cluster now: one read of nodes, lease counts and active projects.
    pub fn read(conn: &mut AnyConnection) -> StoreResult<Cluster> {
        let now_ms = crate::node::Node::clock(conn)?;
        Ok(Cluster {
            now_ms,
            nodes: crate::node::Node::list(conn)?,
            leases: crate::lease::Lease::counts(conn, now_ms - crate::node::TTL_MS)?,
            active_projects: crate::lease::Lease::active_projects(conn)?,
        })
    }

    /// Projects leased out, over every live node.
    pub fn leased(&self) -> i64 {
        self.leases.iter().map(|(_, c)| c).sum()
    }

    /// The leases node `name` holds.
    pub fn leases_of(&self, name: &str) -> i64 {
        self.leases.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c)
    }
}

/// The latest value at or before `at` of every series (metric and platform)
/// of each of `projects`, raw points and hourly rollups together: two
/// queries for the whole page, whatever its number of rows. Sorted by
/// platform and metric within a project, as [`Point::observations_at`]
/// sorts one project's.
///
/// [`Point::observations_at`]: crate::Point::observations_at
pub fn latest_values(
    conn: &mut AnyConnection,
    projects: &[ProjectId],
    at: i64,
) -> StoreResult<HashMap<ProjectId, Vec<Observation>>> {
    let mut latest: HashMap<(i64, String, String), (i64, f64)> = HashMap::new();
    for chunk in crate::id_chunks(projects) {
        // Integers only: written into the statement as they are.
        let ids = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        for (table, ts) in [("points", "ts"), ("points_hourly", "last_ts")] {
            let value = if table == "points" { "value" } else { "last_value" };
            let sql = format!(
                "SELECT project_id, metric, platform, {ts} AS ts, {value} AS value FROM ( \
                   SELECT project_id, metric, platform, {ts}, {value}, ROW_NUMBER() OVER \
                     (PARTITION BY project_id, metric, platform ORDER BY {ts} DESC) AS rn \
                   FROM {table} WHERE project_id IN ({ids}) AND {ts} <= $1) latest \
                 WHERE rn = 1"
            );
            let sql = match conn {
                AnyConnection::Postgresql(_) => sql,
                AnyConnection::Sqlite(_) => sql.replace("$1", "?"),
            };
            let rows: Vec<crate::point::PointRow> =
                db_run!(conn: { diesel::sql_query(&sql).bind::<BigInt, _>(at).load(conn)? });
            for r in rows {
                // Rolled-up hours are older than raw points, save late
                // arrivals: the later of the two wins.
                let entry = latest.entry((r.project_id, r.metric, r.platform)).or_insert((r.ts, r.value));
                if r.ts > entry.0 {
                    *entry = (r.ts, r.value);
                }
            }
        }
    }
    // Then the chunks, read after the head: a point compacted meanwhile is
    // found there. One query for the latest chunk of every series; a chunk
    // that reaches past `at` is decoded to find its last point before it.
    #[derive(QueryableByName)]
    struct LatestChunk {
        #[diesel(sql_type = BigInt)]
        project_id: i64,
        #[diesel(sql_type = Text)]
        metric: String,
        #[diesel(sql_type = Text)]
        platform: String,
        #[diesel(sql_type = BigInt)]
        series_id: i64,
        #[diesel(sql_type = BigInt)]
        end_ts: i64,
        #[diesel(sql_type = Double)]
        last_value: f64,
    }
    for chunk in crate::id_chunks(projects) {
        let ids = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT s.project_id, s.metric, s.platform, c.series_id, c.end_ts, c.last_value FROM ( \
               SELECT series_id, end_ts, last_value, ROW_NUMBER() OVER \
                 (PARTITION BY series_id ORDER BY start_ts DESC) AS rn \
               FROM chunks WHERE start_ts <= $1 \
                 AND series_id IN (SELECT id FROM series WHERE project_id IN ({ids}))) c \
             JOIN series s ON s.id = c.series_id WHERE c.rn = 1"
        );
        let sql = match conn {
            AnyConnection::Postgresql(_) => sql,
            AnyConnection::Sqlite(_) => sql.replace("$1", "?"),
        };
        let rows: Vec<LatestChunk> = db_run!(conn: { diesel::sql_query(&sql).bind::<BigInt, _>(at).load(conn)? });
        for r in rows {
            let point = if r.end_ts <= at {
                Some((r.end_ts, r.last_value))
            } else {
                crate::Chunks::latest_at(conn, r.series_id, at)?
            };
            let Some((ts, value)) = point else { continue };
            let entry = latest.entry((r.project_id, r.metric, r.platform)).or_insert((ts, value));
            if ts > entry.0 {
                *entry = (ts, value);
            }
        }
    }
    let mut out: HashMap<ProjectId, Vec<Observation>> = HashMap::new();
    for ((project, metric, platform), (ts, value)) in latest {
        out.entry(ProjectId(project)).or_default().push(Observation {
            platform: platform
                .parse()
                .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?,
            metric: metric
                .parse()
                .map_err(|e: trawler_domain::metric::InvalidMetric| StoreError::Corrupt(e.to_string()))?,
            ts,
            value,
        });
    }
    for obs in out.values_mut() {
        obs.sort_by(|a, b| (a.platform, &a.metric).cmp(&(b.platform, &b.metric)));
    }
    Ok(out)
}
