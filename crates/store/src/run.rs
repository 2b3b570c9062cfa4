//! Runs: one row per full scrape, with its outcome and log.

use diesel::prelude::*;
use trawler_domain::{now_millis, ProjectId, RunId, RunKind, RunStatus, RunTrigger};

use crate::schema::runs;
use crate::{AnyConnection, StoreError, StoreResult};

/// Longest log kept per run; a longer log keeps its head and says so.
pub const MAX_LOG_BYTES: usize = 64 * 1024;

/// A scrape run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// The project scraped.
    pub project_id: ProjectId,
    /// Full scrape or fast poll.
    pub kind: RunKind,
    /// Schedule or manual trigger.
    pub triggered_by: RunTrigger,
    /// Where it stands.
    pub status: RunStatus,
    /// When it started, epoch ms.
    pub started_at_ms: i64,
    /// When it ended, epoch ms.
    pub finished_at_ms: Option<i64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Points handed to ingestion.
    pub points_written: i64,
    /// What happened, one line per step.
    pub log: String,
    /// The class of the error (timeout, throttled, http_status, parse,
    /// too_large, redirect, connect, blocked, circuit_open, config, panic, …).
    pub error_kind: Option<String>,
    /// The node that ran it (`TRAWLER_NODE_NAME`).
    pub node: String,
    /// When its first request passed the platform's gate, epoch ms: the
    /// start the freshness SLO counts (a run can wait in line after
    /// `started_at_ms`). Set when the run ends; none if nothing passed.
    pub fetch_started_at_ms: Option<i64>,
    /// When a re-parse of the answers it kept recovered the points it
    /// missed, epoch ms.
    pub recovered_at_ms: Option<i64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEnd<'a> {
    /// Its outcome.
    pub status: RunStatus,
    /// `(kind, message)` of its first error.
    pub error: Option<(&'a str, &'a str)>,
    /// Points it handed to ingestion.
    pub points_written: i64,
    /// Its log.
    pub log: &'a str,
    /// When its first request passed the platform's gate, epoch ms.
    pub fetch_started_at_ms: Option<i64>,
}

impl<'a> RunEnd<'a> {
    /// An end with no points, no log and no fetch.
    pub fn new(status: RunStatus) -> RunEnd<'a> {
        RunEnd { status, error: None, points_written: 0, log: "", fetch_started_at_ms: None }
    }
}

/// What the runs page and `GET /api/v1/runs` filter by; empty lists match
/// everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Runs of projects with a source on one of these platforms.
    pub platforms: Vec<trawler_domain::Platform>,
    /// Runs in one of these states.
    pub statuses: Vec<RunStatus>,
    /// Runs on one of these nodes.
    pub nodes: Vec<String>,
    /// Runs of one of these projects.
    pub projects: Vec<ProjectId>,
    /// Started at or after, epoch ms.
    pub from_ms: Option<i64>,
    /// Started before, epoch ms.
    pub to_ms: Option<i64>,
    /// Only runs with a smaller id (the next page).
    pub before_id: Option<i64>,
    /// Most runs returned.
    pub limit: i64,
}

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = runs)]
pub(crate) struct RunRow {
    id: i64,
    project_id: i64,
    kind: String,
    triggered_by: String,
    status: String,
    started_at_ms: i64,
    finished_at_ms: Option<i64>,
    error: Option<String>,
    points_written: i64,
    log: String,
    error_kind: Option<String>,
    node: String,
    fetch_started_at_ms: Option<i64>,
    recovered_at_ms: Option<i64>,
}

/// The runs matching every part of a [`RunFilter`] (its `limit` aside), as
/// a boxed query of the connection in scope.
macro_rules! filtered_runs {
    ($filter:expr) => {{
        use crate::schema::sources;
        let filter: &RunFilter = $filter;
        let mut q = runs::table.into_boxed();
        if !filter.platforms.is_empty() {
            let platforms: Vec<&str> = filter.platforms.iter().map(|p| p.as_str()).collect();
            q = q.filter(
                runs::project_id
                    .eq_any(sources::table.filter(sources::platform.eq_any(platforms)).select(sources::project_id)),
            );
        }
        if !filter.statuses.is_empty() {
            q = q.filter(runs::status.eq_any(filter.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
        }
        if !filter.nodes.is_empty() {
            q = q.filter(runs::node.eq_any(filter.nodes.clone()));
        }
        if !filter.projects.is_empty() {
            q = q.filter(runs::project_id.eq_any(filter.projects.iter().map(|p| p.0).collect::<Vec<_>>()));
        }
        if let Some(from) = filter.from_ms {
            q = q.filter(runs::started_at_ms.ge(from));
        }
        if let Some(to) = filter.to_ms {
            q = q.filter(runs::started_at_ms.lt(to));
        }
        if let Some(before) = filter.before_id {
            q = q.filter(runs::id.lt(before));
        }
        q
    }};
}

fn corrupt(e: trawler_domain::project::UnknownName) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl TryFrom<RunRow> for Run {
    type Error = StoreError;
    fn try_from(r: RunRow) -> StoreResult<Run> {
        Ok(Run {
            id: RunId(r.id),
            project_id: ProjectId(r.project_id),
            kind: r.kind.parse().map_err(corrupt)?,
            triggered_by: r.triggered_by.parse().map_err(corrupt)?,
            status: r.status.parse().map_err(corrupt)?,
            started_at_ms: r.started_at_ms,
            finished_at_ms: r.finished_at_ms,
            error: r.error,
            points_written: r.points_written,
            log: r.log,
            error_kind: r.error_kind,
            node: r.node,
            fetch_started_at_ms: r.fetch_started_at_ms,
            recovered_at_ms: r.recovered_at_ms,
        })
    }
}

/// Cuts `log` to [`MAX_LOG_BYTES`] on a character boundary.
pub(crate) fn clip_log(log: &str) -> String {
    if log.len() <= MAX_LOG_BYTES {
        return log.to_owned();
    }
    let mut end = MAX_LOG_BYTES;
    while !log.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… log truncated ({} bytes in all)", &log[..end], log.len())
}

impl Run {
    /// Records the start of a run on `node` now; returns it with its id.
    pub fn start(
        conn: &mut AnyConnection,
        project: ProjectId,
        kind: RunKind,
        trigger: RunTrigger,
        node: &str,
    ) -> StoreResult<Run> {
        Run::start_at(conn, project, kind, trigger, node, now_millis())
    }

    /// Records the start of a run on `node` at `now` (epoch ms, from the
    /// caller's clock); returns it with its id.
    pub fn start_at(
        conn: &mut AnyConnection,
        project: ProjectId,
        kind: RunKind,
        trigger: RunTrigger,
        node: &str,
        now: i64,
    ) -> StoreResult<Run> {
        let row: RunRow = db_run!(conn: {
            diesel::insert_into(runs::table)
                .values((
                    runs::project_id.eq(project.0),
                    runs::kind.eq(kind.as_str()),
                    runs::triggered_by.eq(trigger.as_str()),
                    runs::status.eq(RunStatus::Running.as_str()),
                    runs::started_at_ms.eq(now),
                    runs::points_written.eq(0i64),
                    runs::log.eq(""),
                    runs::node.eq(node),
                ))
                .returning(RunRow::as_returning())
                .get_result(conn)?
        });
        row.try_into()
    }

    /// Records the end of a run; `error` is `(kind, message)`.
    pub fn finish(conn: &mut AnyConnection, id: RunId, end: RunEnd<'_>) -> StoreResult<()> {
        let RunEnd { status, error, points_written, log, fetch_started_at_ms } = end;
        let log = clip_log(log);
        let n = db_run!(conn: {
            diesel::update(runs::table.find(id.0))
                .set((
                    runs::status.eq(status.as_str()),
                    runs::finished_at_ms.eq(Some(now_millis())),
                    runs::error.eq(error.map(|e| e.1)),
                    runs::error_kind.eq(error.map(|e| e.0)),
                    runs::points_written.eq(points_written),
                    runs::log.eq(&log),
                    runs::fetch_started_at_ms.eq(fetch_started_at_ms),
                ))
                .execute(conn)?
        });
        if n == 0 {
            return Err(StoreError::NotFound("run"));
        }
        Ok(())
    }

    /// How many runs are stored.
    pub fn count(conn: &mut AnyConnection) -> StoreResult<i64> {
        Ok(db_run!(conn: { runs::table.count().get_result(conn)? }))
    }

    /// One run, or `NotFound`.
    pub fn get(conn: &mut AnyConnection, id: RunId) -> StoreResult<Run> {
        let row: Option<RunRow> = db_run!(conn: {
            runs::table.find(id.0).select(RunRow::as_select()).first(conn).optional()?
        });
        row.ok_or(StoreError::NotFound("run"))?.try_into()
    }

    /// When each project's latest run started, epoch ms, for every project
    /// that has runs.
    pub fn last_started(conn: &mut AnyConnection) -> StoreResult<Vec<(ProjectId, i64)>> {
        let rows: Vec<(i64, Option<i64>)> = db_run!(conn: {
            runs::table
                .group_by(runs::project_id)
                .select((runs::project_id, diesel::dsl::max(runs::started_at_ms)))
                .load(conn)?
        });
        Ok(rows.into_iter().filter_map(|(p, t)| Some((ProjectId(p), t?))).collect())
    }

    /// When each of `projects` last started a run.
    pub fn last_started_for(conn: &mut AnyConnection, projects: &[ProjectId]) -> StoreResult<Vec<(ProjectId, i64)>> {
        let mut out = Vec::new();
        for ids in crate::id_chunks(projects) {
            let rows: Vec<(i64, Option<i64>)> = db_run!(conn: {
                runs::table
                    .filter(runs::project_id.eq_any(&ids))
                    .group_by(runs::project_id)
                    .select((runs::project_id, diesel::dsl::max(runs::started_at_ms)))
                    .load(conn)?
            });
            out.extend(rows.into_iter().filter_map(|(p, t)| Some((ProjectId(p), t?))));
        }
        Ok(out)
    }

    /// Closes the runs of `projects` left `running` by a node that is no
    /// longer alive (a project taken over after its node died).
    pub fn abort_orphaned(conn: &mut AnyConnection, projects: &[ProjectId], alive: &[String]) -> StoreResult<usize> {
        let mut closed = 0;
        for ids in crate::id_chunks(projects) {
            closed += db_run!(conn: {
                diesel::update(
                    runs::table
                        .filter(runs::status.eq(RunStatus::Running.as_str()))
                        .filter(runs::project_id.eq_any(&ids))
                        .filter(diesel::dsl::not(runs::node.eq_any(alive))),
                )
                .set((
                    runs::status.eq(RunStatus::Aborted.as_str()),
                    runs::finished_at_ms.eq(Some(now_millis())),
                    runs::error.eq(Some("its node stopped before the run finished")),
                    runs::error_kind.eq(Some("aborted")),
                ))
                .execute(conn)?
            });
        }
        Ok(closed)
    }

    /// Full scrapes started in `[from_ms, to_ms]`, of some projects or of all:
    /// `(project, started_at_ms, status)`, for the freshness SLO.
    pub fn full_starts_between(
        conn: &mut AnyConnection,
        projects: Option<&[ProjectId]>,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(ProjectId, i64, RunStatus)>> {
        // A run counts from its first request through the gate when it has
        // one; it was recorded before that, by less than a day (runs stop at
        // their deadline).
        let recorded_from = from_ms - 86_400_000;
        type Row = (i64, i64, Option<i64>, String);
        let rows: Vec<Row> = match projects {
            Some(projects) => {
                let mut rows = Vec::new();
                for ids in crate::id_chunks(projects) {
                    let chunk: Vec<Row> = db_run!(conn: {
                        runs::table
                            .filter(runs::project_id.eq_any(&ids))
                            .filter(runs::kind.eq(RunKind::Full.as_str()))
                            .filter(runs::started_at_ms.between(recorded_from, to_ms))
                            .select((runs::project_id, runs::started_at_ms, runs::fetch_started_at_ms, runs::status))
                            .load(conn)?
                    });
                    rows.extend(chunk);
                }
                rows
            }
            None => db_run!(conn: {
                runs::table
                    .filter(runs::kind.eq(RunKind::Full.as_str()))
                    .filter(runs::started_at_ms.between(recorded_from, to_ms))
                    .select((runs::project_id, runs::started_at_ms, runs::fetch_started_at_ms, runs::status))
                    .load(conn)?
            }),
        };
        let mut out = Vec::with_capacity(rows.len());
        for (p, recorded, fetched, status) in rows {
            let status: RunStatus = status.parse().map_err(corrupt)?;
            // A run still running without a fetch time is still waiting in
            // line (the time is written when the run ends; a fetch takes far
            // less than a run may wait): it has not started yet.
            let start = match (fetched, status) {
                (Some(t), _) => t,
                (None, RunStatus::Running) => continue,
                (None, _) => recorded,
            };
            if (from_ms..=to_ms).contains(&start) {
                out.push((ProjectId(p), start, status));
            }
        }
        Ok(out)
    }

    /// The freshness SLO of `projects` over `[from_ms, to_ms]` with full
    /// scrapes every `interval` (or each project's own), from one read of the runs: one entry per
    /// project, in order. A project's window starts no earlier than its
    /// schedule ([`crate::Project::scheduled_from_ms`]): slots before a node
    /// first scheduled it, or before it was last resumed, are not misses;
    /// slots while its node was down are.
    pub fn freshness(
        conn: &mut AnyConnection,
        interval: std::time::Duration,
        projects: &[crate::Project],
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<trawler_domain::slo::Freshness>> {
        use trawler_domain::schedule::{offset_ms, FULL_SEED};
        // A page of projects reads its own runs (by the `runs_project`
        // index); many projects read the window's runs in one pass.
        let ids: Vec<ProjectId> = projects.iter().map(|p| p.id).collect();
        let only = (ids.len() <= 1_000).then_some(&ids[..]);
        let mut by_project: std::collections::HashMap<ProjectId, Vec<(i64, RunStatus)>> =
            std::collections::HashMap::new();
        for (p, t, s) in Run::full_starts_between(conn, only, from_ms, to_ms)? {
            by_project.entry(p).or_default().push((t, s));
        }
        Ok(projects
            .iter()
            .map(|p| {
                let runs = by_project.get(&p.id).map_or(&[][..], Vec::as_slice);
                // Its own interval; a paused or manual schedule has no slots
                // to miss.
                let own = trawler_domain::schedule::own_interval(p.full_interval_ms, interval);
                let interval = own.unwrap_or(interval);
                let offset = offset_ms(p.id.0 as u64, FULL_SEED, interval);
                let scheduled = !p.paused && own.is_some();
                // An ended campaign has no slots after its end.
                let to = match (p.status, p.ended_at_ms) {
                    (trawler_domain::ProjectStatus::Ended, Some(end)) => to_ms.min(end),
                    _ => to_ms,
                };
                let from = if scheduled { from_ms.max(p.scheduled_from_ms.unwrap_or(to)) } else { to };
                trawler_domain::slo::freshness(runs, interval, offset, from.min(to), to)
            })
            .collect())
    }

    /// A project's runs, newest first.
    pub fn list_for_project(conn: &mut AnyConnection, project: ProjectId, limit: i64) -> StoreResult<Vec<Run>> {
        let rows: Vec<RunRow> = db_run!(conn: {
            runs::table
                .filter(runs::project_id.eq(project.0))
                .order(runs::id.desc())
                .limit(limit)
                .select(RunRow::as_select())
                .load(conn)?
        });
        rows.into_iter().map(Run::try_from).collect()
    }

    /// Runs matching every part of `filter`, newest first.
    pub fn search(conn: &mut AnyConnection, filter: &RunFilter) -> StoreResult<Vec<Run>> {
        let rows: Vec<RunRow> = db_run!(conn: {
            filtered_runs!(filter)
                .order(runs::id.desc())
                .limit(filter.limit.max(0))
                .select(RunRow::as_select())
                .load(conn)?
        });
        rows.into_iter().map(Run::try_from).collect()
    }

    /// The projects of every run matching `filter` (its `limit` aside), by
    /// id, ascending: what a job over a runs view acts on.
    pub fn projects_matching(conn: &mut AnyConnection, filter: &RunFilter) -> StoreResult<Vec<ProjectId>> {
        let ids: Vec<i64> = db_run!(conn: {
            filtered_runs!(filter).select(runs::project_id).distinct().order(runs::project_id).load(conn)?
        });
        Ok(ids.into_iter().map(ProjectId).collect())
    }

    /// The latest run of every project that has runs.
    pub fn latest_per_project(conn: &mut AnyConnection) -> StoreResult<Vec<Run>> {
        Run::latest_of(conn, None)
    }

    /// The latest run of each of `projects` that has one (a page of the
    /// projects list needs only its own).
    pub fn latest_for(conn: &mut AnyConnection, projects: &[ProjectId]) -> StoreResult<Vec<Run>> {
        let mut out = Vec::new();
        for ids in crate::id_chunks(projects) {
            out.extend(Run::latest_of(conn, Some(&ids))?);
        }
        Ok(out)
    }

    /// The latest run per project, of the projects `ids` or of all.
    fn latest_of(conn: &mut AnyConnection, ids: Option<&[i64]>) -> StoreResult<Vec<Run>> {
        let rows: Vec<RunRow> = db_run!(conn: {
            let inner = diesel::alias!(runs as inner_runs);
            let mut latest = inner
                .group_by(inner.field(runs::project_id))
                .select(diesel::dsl::max(inner.field(runs::id)))
                .into_boxed();
            if let Some(ids) = ids {
                latest = latest.filter(inner.field(runs::project_id).eq_any(ids));
            }
            runs::table
                .filter(runs::id.nullable().eq_any(latest))
                .select(RunRow::as_select())
                .load(conn)?
        });
        rows.into_iter().map(Run::try_from).collect()
    }

    /// The nodes that have recorded runs, for the filters' choices. Walks
    /// the `runs_node` index from one name to the next (a loose index scan):
    /// a handful of seeks however many runs there are, where `DISTINCT`
    /// would read them all.
    pub fn nodes(conn: &mut AnyConnection) -> StoreResult<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            node: String,
        }
        const WALK: &str = "WITH RECURSIVE walk(node) AS ( \
                SELECT min(node) FROM runs \
                UNION ALL \
                SELECT (SELECT min(r.node) FROM runs r WHERE r.node > walk.node) FROM walk WHERE walk.node IS NOT NULL \
            ) SELECT node FROM walk WHERE node IS NOT NULL";
        let names: Vec<Name> = db_run!(conn: { diesel::sql_query(WALK).load(conn)? });
        Ok(names.into_iter().map(|n| n.node).collect())
    }

    /// Closes runs that a stopped process left `running` as `aborted`;
    /// returns how many. Called at start-up: only runs started before
    /// `started_before_ms` (when this process started) are closed, never one
    /// this process has begun meanwhile; runs of the nodes in `alive` (other
    /// nodes still running) are theirs.
    pub fn abort_unfinished(conn: &mut AnyConnection, alive: &[String], started_before_ms: i64) -> StoreResult<usize> {
        Ok(db_run!(conn: {
            diesel::update(
                runs::table
                    .filter(runs::status.eq(RunStatus::Running.as_str()))
                    .filter(runs::started_at_ms.lt(started_before_ms))
                    .filter(diesel::dsl::not(runs::node.eq_any(alive))),
            )
                .set((
                    runs::status.eq(RunStatus::Aborted.as_str()),
                    runs::finished_at_ms.eq(Some(now_millis())),
                    runs::error.eq(Some("the process stopped before the run finished")),
                    runs::error_kind.eq(Some("aborted")),
                ))
                .execute(conn)?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_logs_are_clipped_on_a_char_boundary() {
        let log = "é".repeat(MAX_LOG_BYTES);
        let clipped = clip_log(&log);
        assert!(clipped.len() < log.len());
        assert!(clipped.ends_with("bytes in all)"));
        assert_eq!(clip_log("short"), "short");
    }
}
