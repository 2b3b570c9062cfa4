//! Points: storing observations and reading series and summaries back.

use diesel::prelude::*;
use trawler_domain::{downsample_weighted, Agg, Metric, Observation, Platform, ProjectId};

use crate::chunk::Chunks;
use crate::schema::{points, points_hourly, points_staging};
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

/// One exported row: a raw point, or a rolled-up hour (its last point).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// The platform.
    pub platform: String,
    /// The metric.
    pub metric: String,
    /// When, epoch seconds.
    pub ts: i64,
    /// The value.
    pub value: f64,
    /// Whether the row stands for a rolled-up hour.
    pub rollup: bool,
}

/// Where an export stands, so it can go on in the next chunk: which
/// (metric, platform), which table, after which ts.
#[derive(Debug, Clone)]
pub struct ExportCursor {
    pairs: Vec<(String, String)>,
    index: usize,
    in_rollups: bool,
    after: Option<i64>,
}

/// Namespace for point queries.
pub struct Point;

/// A point as a raw query returns it (the head, a latest-per-series read).
#[derive(diesel::QueryableByName)]
pub(crate) struct PointRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub project_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub metric: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub platform: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub ts: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub value: f64,
}

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
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
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
    /// One snapshot of the database throughout ([`crate::pool::read_snapshot`]).
    pub fn series(conn: &mut AnyConnection, q: &SeriesQuery) -> StoreResult<SeriesResult> {
        crate::pool::read_snapshot(conn, |conn| Point::series_in(conn, q))
    }

    fn series_in(conn: &mut AnyConnection, q: &SeriesQuery) -> StoreResult<SeriesResult> {
        // One range read of the primary key per platform, in platform
        // order: a platform without points costs one index seek, and rows
        // carry no platform name (no string per row). The query has one
        // shape, so its prepared statement is reused.
        let platforms: Vec<Platform> = match q.platform {
            Some(p) => vec![p],
            None => {
                let mut all = Platform::SOURCES.to_vec();
                all.sort_by_key(|p| p.as_str());
                all
            }
        };
        let raw_limit = if q.step.is_none() { MAX_RAW_POINTS as i64 + 1 } else { i64::MAX };
        // The head first, for every platform; then the chunks (their ids
        // read after the head): a point compacted in between is read twice
        // and kept once, never missed.
        let mut heads = Vec::with_capacity(platforms.len());
        for platform in platforms {
            let rows: Vec<(i64, f64)> = db_run!(conn: {
                points::table
                    .filter(points::project_id.eq(q.project.0))
                    .filter(points::metric.eq(q.metric.as_str()))
                    .filter(points::platform.eq(platform.as_str()))
                    .filter(points::ts.ge(q.from))
                    .filter(points::ts.le(q.to))
                    .select((points::ts, points::value))
                    .order(points::ts)
                    .limit(raw_limit)
                    .load(conn)?
            });
            heads.push((platform, rows));
        }
        let chunked = Chunks::ids_of_metric(conn, q.project.0, q.metric.as_str())?;
        let mut by_platform: std::collections::BTreeMap<String, Vec<(i64, f64, f64)>> = Default::default();
        let mut taken = 0i64;
        let mut truncated = false;
        for (platform, head) in heads {
            let limit = raw_limit.saturating_sub(taken);
            if limit <= 0 {
                break;
            }
            let max = usize::try_from(limit).unwrap_or(usize::MAX);
            let mut rows = match (chunked.get(platform.as_str()), q.step) {
                (Some(id), None) => crate::chunk::merge(head, Chunks::points_in(conn, *id, q.from, q.to, max)?),
                // Downsampled: whole chunks answer from their aggregates.
                (Some(id), Some(step)) => {
                    let read = Chunks::samples_in(conn, *id, (q.from, q.to), (step, q.agg), &head)?;
                    if !read.whole.is_empty() {
                        by_platform.entry(platform.as_str().to_owned()).or_default().extend(read.whole);
                    }
                    crate::chunk::merge(head, read.points)
                }
                (None, _) => head,
            };
            rows.truncate(max);
            taken += rows.len() as i64;
            if q.step.is_none() && taken > MAX_RAW_POINTS as i64 {
                truncated = true;
                rows.truncate(rows.len() - (taken - MAX_RAW_POINTS as i64) as usize);
            }
            if !rows.is_empty() {
                by_platform
                    .entry(platform.as_str().to_owned())
                    .or_default()
                    .extend(rows.into_iter().map(|(ts, value)| (ts, value, 1.0)));
            }
        }
        // Older points live as hourly rollups: each becomes one sample, the
        // one the aggregate needs (its last point, its min, max, or mean
        // weighted by its count).
        let hourly = Point::rollup_samples(conn, q)?;
        for (platform, ts, value, weight) in hourly {
            by_platform.entry(platform).or_default().push((ts, value, weight));
        }
        let mut result = SeriesResult { series: Vec::new(), truncated };
        for (name, mut samples) in by_platform {
            let platform = name
                .parse()
                .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?;
            samples.sort_by_key(|s| s.0);
            let points = match q.step {
                Some(step) => downsample_weighted(&samples, step, q.agg),
                None => samples.into_iter().map(|(t, v, _)| (t, v)).collect(),
            };
            result.series.push(Series { platform, points });
        }
        Ok(result)
    }

    /// The latest observation of every (platform, metric) of a project at or
    /// before `at` (epoch seconds), from one snapshot of the database.
    pub fn observations_at(conn: &mut AnyConnection, project: ProjectId, at: i64) -> StoreResult<Vec<Observation>> {
        crate::pool::read_snapshot(conn, |conn| Point::observations_in(conn, project, at))
    }

    fn observations_in(conn: &mut AnyConnection, project: ProjectId, at: i64) -> StoreResult<Vec<Observation>> {
        let pairs = Point::pairs(conn, project, None)?;
        let mut out = Vec::with_capacity(pairs.len());
        for (metric, platform) in pairs {
            let raw: Option<(i64, f64)> = db_run!(conn: {
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
            // Rolled-up hours are older than raw points, save late arrivals:
            // take whichever of the two is later.
            let hourly: Option<(i64, f64)> = db_run!(conn: {
                points_hourly::table
                    .filter(points_hourly::project_id.eq(project.0))
                    .filter(points_hourly::metric.eq(&metric))
                    .filter(points_hourly::platform.eq(&platform))
                    .filter(points_hourly::last_ts.le(at))
                    .order(points_hourly::last_ts.desc())
                    .select((points_hourly::last_ts, points_hourly::last_value))
                    .first(conn)
                    .optional()?
            });
            let chunked = match Chunks::id_of(conn, project.0, &metric, &platform)? {
                Some(id) => Chunks::latest_at(conn, id, at)?,
                None => None,
            };
            // The latest of the three (the head is read first: a point
            // compacted meanwhile is found in its chunk).
            let latest = [raw, hourly, chunked].into_iter().flatten().max_by_key(|p| p.0);
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
        out.sort_by(|a, b| (a.platform, &a.metric).cmp(&(b.platform, &b.metric)));
        Ok(out)
    }

    /// Every (metric, platform) of a project that has raw points or
    /// rollups (of one metric, or all), sorted.
    fn pairs(conn: &mut AnyConnection, project: ProjectId, metric: Option<&str>) -> StoreResult<Vec<(String, String)>> {
        let mut pairs: Vec<(String, String)> = db_run!(conn: {
            let mut q = points::table
                .filter(points::project_id.eq(project.0))
                .select((points::metric, points::platform))
                .distinct()
                .into_boxed();
            if let Some(m) = metric {
                q = q.filter(points::metric.eq(m));
            }
            q.load(conn)?
        });
        let rolled: Vec<(String, String)> = db_run!(conn: {
            let mut q = points_hourly::table
                .filter(points_hourly::project_id.eq(project.0))
                .select((points_hourly::metric, points_hourly::platform))
                .distinct()
                .into_boxed();
            if let Some(m) = metric {
                q = q.filter(points_hourly::metric.eq(m));
            }
            q.load(conn)?
        });
        pairs.extend(rolled);
        pairs.extend(Chunks::pairs_of(conn, project.0, metric)?);
        pairs.sort();
        pairs.dedup();
        Ok(pairs)
    }

    /// Starts an export of a project's points (one metric, or all): lists
    /// the (metric, platform) pairs it will walk.
    pub fn export_start(
        conn: &mut AnyConnection,
        project: ProjectId,
        metric: Option<&Metric>,
    ) -> StoreResult<ExportCursor> {
        let pairs = Point::pairs(conn, project, metric.map(Metric::as_str))?;
        Ok(ExportCursor { pairs, index: 0, in_rollups: true, after: None })
    }

    /// The next `limit` rows of an export over `[from, to]`, ordered by
    /// metric, platform and time (rolled-up hours before raw points), and the
    /// cursor for the rest (`None` when done). Keyset pagination: every chunk
    /// is an index range scan, however far into the export.
    pub fn export_chunk(
        conn: &mut AnyConnection,
        project: ProjectId,
        from: i64,
        to: i64,
        mut cursor: ExportCursor,
        limit: usize,
    ) -> StoreResult<(Vec<ExportRow>, Option<ExportCursor>)> {
        let mut rows = Vec::new();
        while rows.len() < limit && cursor.index < cursor.pairs.len() {
            let (metric, platform) = cursor.pairs[cursor.index].clone();
            let start = cursor.after.map_or(from, |a| a.saturating_add(1)).max(from);
            let want = (limit - rows.len()) as i64;
            let chunk: Vec<(i64, f64)> = if cursor.in_rollups {
                db_run!(conn: {
                    points_hourly::table
                        .filter(points_hourly::project_id.eq(project.0))
                        .filter(points_hourly::metric.eq(&metric))
                        .filter(points_hourly::platform.eq(&platform))
                        .filter(points_hourly::last_ts.ge(start))
                        .filter(points_hourly::last_ts.le(to))
                        .order(points_hourly::last_ts)
                        .select((points_hourly::last_ts, points_hourly::last_value))
                        .limit(want)
                        .load(conn)?
                })
            } else {
                let head: Vec<(i64, f64)> = db_run!(conn: {
                    points::table
                        .filter(points::project_id.eq(project.0))
                        .filter(points::metric.eq(&metric))
                        .filter(points::platform.eq(&platform))
                        .filter(points::ts.ge(start))
                        .filter(points::ts.le(to))
                        .order(points::ts)
                        .select((points::ts, points::value))
                        .limit(want)
                        .load(conn)?
                });
                // Raw points are the head's and the chunks' together: the
                // first `want` of both, by time.
                match Chunks::id_of(conn, project.0, &metric, &platform)? {
                    Some(id) => {
                        let max = usize::try_from(want).unwrap_or(usize::MAX);
                        let mut all = crate::chunk::merge(head, Chunks::points_in(conn, id, start, to, max)?);
                        all.truncate(max);
                        all
                    }
                    None => head,
                }
            };
            let full = chunk.len() as i64 == want;
            cursor.after = chunk.last().map(|c| c.0).or(cursor.after);
            rows.extend(chunk.into_iter().map(|(ts, value)| ExportRow {
                platform: platform.clone(),
                metric: metric.clone(),
                ts,
                value,
                rollup: cursor.in_rollups,
            }));
            if !full {
                // This table of this pair is done: rollups → raw → next pair.
                if cursor.in_rollups {
                    cursor.in_rollups = false;
                } else {
                    cursor.index += 1;
                    cursor.in_rollups = true;
                }
                cursor.after = None;
            }
        }
        let done = cursor.index >= cursor.pairs.len();
        Ok((rows, (!done).then_some(cursor)))
    }

    /// The metrics a project has points or hourly rollups of, sorted. A
    /// loose index scan: a seek per metric on each table's key
    /// `(project_id, metric, …)`, however many points there are.
    pub fn metrics_of(conn: &mut AnyConnection, project: ProjectId) -> StoreResult<Vec<String>> {
        let mut found: Vec<String> = Vec::new();
        loop {
            let after = found.last().cloned().unwrap_or_default();
            let raw: Option<String> = db_run!(conn: {
                points::table
                    .filter(points::project_id.eq(project.0).and(points::metric.gt(&after)))
                    .select(diesel::dsl::min(points::metric))
                    .first(conn)?
            });
            let rolled: Option<String> = db_run!(conn: {
                points_hourly::table
                    .filter(points_hourly::project_id.eq(project.0).and(points_hourly::metric.gt(&after)))
                    .select(diesel::dsl::min(points_hourly::metric))
                    .first(conn)?
            });
            match raw.into_iter().chain(rolled).min() {
                Some(next) => found.push(next),
                None => break,
            }
        }
        found.extend(Chunks::metrics_of(conn, project.0)?);
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// How many points a project has (all platforms and metrics), in the
    /// head and in chunks.
    pub fn count_for_project(conn: &mut AnyConnection, project: ProjectId) -> StoreResult<i64> {
        let head: i64 = db_run!(conn: {
            points::table
                .filter(points::project_id.eq(project.0))
                .count()
                .get_result(conn)?
        });
        Ok(head + Chunks::count_of(conn, project.0)?)
    }
}
