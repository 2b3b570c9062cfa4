//! Points: storing observations and reading series and summaries back.

use diesel::prelude::*;
use trawler_domain::{downsample, Agg, Metric, Observation, Platform, ProjectId};

use crate::schema::{points, points_staging};
use crate::{AnyConnection, StoreError, StoreResult};

/// Rows per INSERT statement: 5 binds each keeps a statement far below
/// SQLite's 32,766-variable limit and PostgreSQL's 65,535.
const INSERT_CHUNK: usize = 1000;

/// Most raw points one series query returns; beyond it the answer says it
/// was truncated and the caller should ask for a `step`.
pub const MAX_RAW_POINTS: usize = 50_000;

#[derive(Insertable)]
#[diesel(table_name = points)]
#[diesel(treat_none_as_default_value = false)]
struct PointInsert<'a> {
    project_id: i64,
    metric: &'a str,
    platform: &'a str,
    ts: i64,
    value: f64,
}

#[derive(Insertable)]
#[diesel(table_name = points_staging)]
#[diesel(treat_none_as_default_value = false)]
struct StagingInsert<'a> {
    project_id: i64,
    metric: &'a str,
    platform: &'a str,
    ts: i64,
    value: f64,
}

const CREATE_STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS points_staging (
    project_id BIGINT NOT NULL, metric TEXT NOT NULL, platform TEXT NOT NULL,
    ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL) ON COMMIT DELETE ROWS";

const MOVE_STAGED: &str = "INSERT INTO points (project_id, metric, platform, ts, value)
    SELECT project_id, metric, platform, ts, value FROM points_staging
    ON CONFLICT DO NOTHING";

/// Namespace for point queries.
pub struct Point;

/// What a series query asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    /// Whose points.
    pub project: ProjectId,
    /// Which metric.
    pub metric: Metric,
    /// One platform only, or every platform that reports the metric.
    pub platform: Option<Platform>,
    /// Start of the range, epoch seconds, inclusive.
    pub from: i64,
    /// End of the range, epoch seconds, inclusive.
    pub to: i64,
    /// Bucket width in seconds, or `None` for raw points.
    pub step: Option<i64>,
    /// How a bucket's points become one.
    pub agg: Agg,
}

/// One platform's series of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The platform.
    pub platform: Platform,
    /// `(ts, value)` pairs by time.
    pub points: Vec<(i64, f64)>,
}

/// The answer to a [`SeriesQuery`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesResult {
    /// One series per platform, by platform name.
    pub series: Vec<Series>,
    /// Whether raw points were cut at [`MAX_RAW_POINTS`].
    pub truncated: bool,
}

impl Point {
    /// Stores points; a point already stored (same project, metric, platform,
    /// ts) is skipped, so replaying a batch is harmless. Returns how many rows
    /// were new. One transaction.
    ///
    /// The SQL differs by backend, on purpose: PostgreSQL gets binary COPY
    /// straight into `points` (about twice as fast as multi-row INSERTs), and
    /// only a batch holding an already stored point goes through a temporary
    /// staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING`; SQLite
    /// gets multi-row INSERTs chunked under its bind-variable limit.
    pub fn insert_batch(conn: &mut AnyConnection, batch: &[trawler_domain::Point]) -> StoreResult<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        if let AnyConnection::Postgresql(pg) = conn {
            return Point::copy_batch(pg, batch);
        }
        let rows: Vec<PointInsert<'_>> = batch
            .iter()
            .map(|p| PointInsert {
                project_id: p.project_id.0,
                metric: p.metric.as_str(),
                platform: p.platform.as_str(),
                ts: p.ts,
                value: p.value,
            })
            .collect();
        conn.transaction::<_, StoreError, _>(|conn| {
            let mut inserted = 0;
            for chunk in rows.chunks(INSERT_CHUNK) {
                inserted += db_run!(conn: {
                    diesel::insert_into(points::table)
                        .values(chunk)
                        .on_conflict_do_nothing()
                        .execute(conn)?
                });
            }
            Ok(inserted)
        })
    }

    fn copy_batch(conn: &mut diesel::PgConnection, batch: &[trawler_domain::Point]) -> StoreResult<usize> {
        use diesel::connection::SimpleConnection;
        let rows: Vec<StagingInsert<'_>> = batch
            .iter()
            .map(|p| StagingInsert {
                project_id: p.project_id.0,
                metric: p.metric.as_str(),
                platform: p.platform.as_str(),
                ts: p.ts,
                value: p.value,
            })
            .collect();
        let direct: Vec<PointInsert<'_>> = rows
            .iter()
            .map(|r| PointInsert {
                project_id: r.project_id,
                metric: r.metric,
                platform: r.platform,
                ts: r.ts,
                value: r.value,
            })
            .collect();
        conn.transaction::<_, StoreError, _>(|conn| {
            // Fast path: COPY straight into points, inside a savepoint. A
            // duplicate (a replayed batch) makes COPY fail as a whole; then
            // the savepoint is rolled back and the batch goes through the
            // staging table, which skips duplicates.
            let copied = conn.transaction::<_, diesel::result::Error, _>(|conn| {
                diesel::copy_from(points::table).from_insertable(&direct).execute(conn)
            });
            match copied {
                Ok(n) => Ok(n),
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    conn.batch_execute(CREATE_STAGING)?;
                    diesel::copy_from(points_staging::table).from_insertable(&rows).execute(conn)?;
                    Ok(diesel::sql_query(MOVE_STAGED).execute(conn)?)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    /// A metric's series over a range, per platform, raw or downsampled.
    /// Reads the range through the primary key (project, metric, platform, ts).
    pub fn series(conn: &mut AnyConnection, q: &SeriesQuery) -> StoreResult<SeriesResult> {
        let rows: Vec<(String, i64, f64)> = db_run!(conn: {
            let mut query = points::table
                .filter(points::project_id.eq(q.project.0))
                .filter(points::metric.eq(q.metric.as_str()))
                .filter(points::ts.ge(q.from))
                .filter(points::ts.le(q.to))
                .select((points::platform, points::ts, points::value))
                .order((points::platform, points::ts))
                .into_boxed();
            if let Some(p) = q.platform {
                query = query.filter(points::platform.eq(p.as_str()));
            }
            if q.step.is_none() {
                query = query.limit(MAX_RAW_POINTS as i64 + 1);
            }
            query.load(conn)?
        });
        let mut rows = rows;
        let truncated = q.step.is_none() && rows.len() > MAX_RAW_POINTS;
        rows.truncate(if truncated { MAX_RAW_POINTS } else { rows.len() });
        let mut result = SeriesResult { series: Vec::new(), truncated };
        let mut current: Option<(String, Vec<(i64, f64)>)> = None;
        let flush = |name: String, pts: Vec<(i64, f64)>, out: &mut Vec<Series>| -> StoreResult<()> {
            let platform = name
                .parse()
                .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?;
            let points = match q.step {
                Some(step) => downsample(&pts, step, q.agg),
                None => pts,
            };
            out.push(Series { platform, points });
            Ok(())
        };
        for (platform, ts, value) in rows {
            match &mut current {
                Some((name, pts)) if *name == platform => pts.push((ts, value)),
                _ => {
                    if let Some((name, pts)) = current.take() {
                        flush(name, pts, &mut result.series)?;
                    }
                    current = Some((platform, vec![(ts, value)]));
                }
            }
        }
        if let Some((name, pts)) = current.take() {
            flush(name, pts, &mut result.series)?;
        }
        Ok(result)
    }

    /// The latest observation of every (platform, metric) of a project at or
    /// before `at` (epoch seconds).
    pub fn observations_at(conn: &mut AnyConnection, project: ProjectId, at: i64) -> StoreResult<Vec<Observation>> {
        let pairs: Vec<(String, String)> = db_run!(conn: {
            points::table
                .filter(points::project_id.eq(project.0))
                .select((points::platform, points::metric))
                .distinct()
                .order((points::platform, points::metric))
                .load(conn)?
        });
        let mut out = Vec::with_capacity(pairs.len());
        for (platform, metric) in pairs {
            let latest: Option<(i64, f64)> = db_run!(conn: {
                points::table
                    .filter(points::project_id.eq(project.0))
                    .filter(points::metric.eq(&metric))
                    .filter(points::platform.eq(&platform))
                    .filter(points::ts.le(at))
                    .order(points::ts.desc())
                    .select((points::ts, points::value))
                    .first(conn)
                    .optional()?
            });
            if let Some((ts, value)) = latest {
                out.push(Observation {
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
        }
        Ok(out)
    }

    /// How many points a project has (all platforms and metrics).
    pub fn count_for_project(conn: &mut AnyConnection, project: ProjectId) -> StoreResult<i64> {
        Ok(db_run!(conn: {
            points::table
                .filter(points::project_id.eq(project.0))
                .count()
                .get_result(conn)?
        }))
    }
}
