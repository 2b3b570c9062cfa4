//! The timeline: spans of time when a project, a platform (or one host of
//! it) or a node stood still, written at each transition, so that a series
//! can say why a slot has no point. A transition writes one row (or closes
//! one), never one per project: a platform's open circuit is one row that
//! every project of the platform reads.

use diesel::prelude::*;
use trawler_domain::gaps::{Cause, Span};
use trawler_domain::{Platform, ProjectId, RunStatus};

use crate::schema::{runs, timeline as tl};
use crate::{AnyConnection, StoreError, StoreResult};

/// What a timeline row concerns: a project, or a platform (and host) or a
/// node for every project they serve.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scope<'a> {
    /// The project; `None`: every project of the platform (or node).
    pub project: Option<ProjectId>,
    /// The platform.
    pub platform: Option<Platform>,
    /// The host of a generic platform's failing site.
    pub host: Option<&'a str>,
    /// The node whose gates (or fencing) it records.
    pub node: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// One project.
    pub fn project(id: ProjectId) -> Scope<'a> {
        Scope { project: Some(id), ..Scope::default() }
    }
}

#[derive(Insertable)]
#[diesel(table_name = tl)]
struct NewRow<'a> {
    project_id: Option<i64>,
    platform: Option<&'a str>,
    host: Option<&'a str>,
    node: Option<&'a str>,
    cause: &'a str,
    detail: &'a str,
    started_ms: i64,
    ended_ms: Option<i64>,
}

#[derive(Queryable)]
struct Row {
    platform: Option<String>,
    host: Option<String>,
    cause: String,
    detail: String,
    started_ms: i64,
    ended_ms: Option<i64>,
}

/// Most rows read for one series: a project whose state flapped for
/// years is read from its newest spans.
const MAX_ROWS: i64 = 10_000;

/// The timeline's reads and writes.
pub struct Timeline;

impl Timeline {
    /// Records a span from `from_ms` to `to_ms` (`None`: it lasts until
    /// [`Timeline::close`]); `to_ms == Some(from_ms)` records a moment.
    pub fn record(
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        cause: Cause,
        detail: &str,
        from_ms: i64,
        to_ms: Option<i64>,
    ) -> StoreResult<()> {
        let platform = scope.platform.map(|p| p.as_str());
        let row = NewRow {
            project_id: scope.project.map(|p| p.0),
            platform,
            host: scope.host,
            node: scope.node,
            cause: cause.as_str(),
            detail,
            started_ms: from_ms,
            ended_ms: to_ms.map(|t| t.max(from_ms)),
        };
        db_run!(conn: {
            diesel::insert_into(tl::table).values(&row).execute(conn)?;
        });
        Ok(())
    }

    /// Opens a span of `cause` for `scope` at `at_ms`, unless one is open.
    pub fn open(conn: &mut AnyConnection, scope: Scope<'_>, cause: Cause, detail: &str, at_ms: i64) -> StoreResult<()> {
        if Timeline::open_count(conn, scope, cause)? == 0 {
            Timeline::record(conn, scope, cause, detail, at_ms, None)?;
        }
        Ok(())
    }

    fn open_count(conn: &mut AnyConnection, scope: Scope<'_>, cause: Cause) -> StoreResult<i64> {
        let (project, platform, host, node) =
            (scope.project.map(|p| p.0), scope.platform.map(|p| p.as_str()), scope.host, scope.node);
        let n = db_run!(conn: {
            let mut q = tl::table.filter(tl::cause.eq(cause.as_str())).filter(tl::ended_ms.is_null()).into_boxed();
            q = match project { Some(p) => q.filter(tl::project_id.eq(p)), None => q.filter(tl::project_id.is_null()) };
            q = match platform { Some(p) => q.filter(tl::platform.eq(p)), None => q.filter(tl::platform.is_null()) };
            q = match host { Some(h) => q.filter(tl::host.eq(h)), None => q.filter(tl::host.is_null()) };
            q = match node { Some(n) => q.filter(tl::node.eq(n)), None => q.filter(tl::node.is_null()) };
            q.count().get_result::<i64>(conn)?
        });
        Ok(n)
    }

    /// Ends the open spans of `causes` for `scope` at `at_ms`; returns how
    /// many it ended.
    pub fn close(conn: &mut AnyConnection, scope: Scope<'_>, causes: &[Cause], at_ms: i64) -> StoreResult<usize> {
        let causes: Vec<&str> = causes.iter().map(|c| c.as_str()).collect();
        let (project, platform, host, node) =
            (scope.project.map(|p| p.0), scope.platform.map(|p| p.as_str()), scope.host, scope.node);
        let n = db_run!(conn: {
            let mut q = tl::table.filter(tl::cause.eq_any(&causes)).filter(tl::ended_ms.is_null()).into_boxed();
            q = match project { Some(p) => q.filter(tl::project_id.eq(p)), None => q.filter(tl::project_id.is_null()) };
            q = match platform { Some(p) => q.filter(tl::platform.eq(p)), None => q };
            q = match host { Some(h) => q.filter(tl::host.eq(h)), None => q };
            q = match node { Some(n) => q.filter(tl::node.eq(n)), None => q };
            let ids: Vec<i64> = q.select(tl::id).load(conn)?;
            diesel::update(tl::table.filter(tl::id.eq_any(&ids)))
                .set(tl::ended_ms.eq(at_ms))
                .execute(conn)?
        });
        Ok(n)
    }

    /// Ends the open spans of `causes` of every project on `scope`'s
    /// platform and node (a node starting again ends what it left open).
    pub fn close_projects(
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        causes: &[Cause],
        at_ms: i64,
    ) -> StoreResult<usize> {
        let causes: Vec<&str> = causes.iter().map(|c| c.as_str()).collect();
        let (platform, node) = (scope.platform.map(|p| p.as_str()), scope.node);
        let n = db_run!(conn: {
            let mut q = diesel::update(tl::table)
                .filter(tl::project_id.is_not_null())
                .filter(tl::cause.eq_any(&causes))
                .filter(tl::ended_ms.is_null())
                .into_boxed();
            if let Some(p) = platform {
                q = q.filter(tl::platform.eq(p));
            }
            if let Some(n) = node {
                q = q.filter(tl::node.eq(n));
            }
            q.set(tl::ended_ms.eq(at_ms)).execute(conn)?
        });
        Ok(n)
    }

    /// What explains a project's empty slots between `from_ms` and
    /// `to_ms`: its own spans and moments, those of the platforms and
    /// nodes, and its failed runs, oldest first.
    pub fn for_project(conn: &mut AnyConnection, id: ProjectId, from_ms: i64, to_ms: i64) -> StoreResult<Vec<Span>> {
        let rows: Vec<Row> = db_run!(conn: {
            tl::table
                .filter(tl::project_id.eq(id.0).or(tl::project_id.is_null()))
                .filter(tl::started_ms.le(to_ms))
                .filter(tl::ended_ms.is_null().or(tl::ended_ms.ge(from_ms)))
                .order(tl::started_ms.desc())
                .limit(MAX_ROWS)
                .select((tl::platform, tl::host, tl::cause, tl::detail, tl::started_ms, tl::ended_ms))
                .load(conn)?
        });
        let mut spans = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(cause) = Cause::parse(&r.cause) else {
                return Err(StoreError::Corrupt(format!("timeline: unknown cause `{}`", r.cause)));
            };
            let platform = r
                .platform
                .map(|p| p.parse::<Platform>())
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("timeline: {e}")))?;
            spans.push(Span {
                cause,
                platform,
                host: r.host,
                detail: r.detail,
                from_ms: r.started_ms,
                to_ms: r.ended_ms,
            });
        }
        // Full scrapes that failed, each a moment (polls record nothing
        // per slot; their platform's circuit and pauses are spans above).
        let failed = [RunStatus::Failed.as_str(), RunStatus::Partial.as_str()];
        let runs: Vec<(i64, Option<String>, Option<String>)> = db_run!(conn: {
            runs::table
                .filter(runs::project_id.eq(id.0))
                .filter(runs::status.eq_any(failed))
                .filter(runs::started_at_ms.between(from_ms.saturating_sub(86_400_000), to_ms))
                .order(runs::started_at_ms.desc())
                .limit(MAX_ROWS)
                .select((runs::started_at_ms, runs::error_kind, runs::error))
                .load(conn)?
        });
        for (at, kind, error) in runs {
            let kind = kind.unwrap_or_default();
            let detail = error.unwrap_or_else(|| format!("the full scrape failed ({kind})"));
            spans.push(Span::moment(Cause::of_error(&kind), None, detail, at));
        }
        spans.sort_by_key(|s| s.from_ms);
        Ok(spans)
    }

    /// Deletes the spans that ended before `before_ms`; returns how many.
    pub fn prune(conn: &mut AnyConnection, before_ms: i64) -> StoreResult<usize> {
        let n = db_run!(conn: {
            diesel::delete(tl::table.filter(tl::ended_ms.lt(before_ms))).execute(conn)?
        });
        Ok(n)
    }
}
