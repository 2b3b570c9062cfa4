//! Hourly rollups: raw points and whole chunks older than the retention
//! period become one row per series and hour, and series reads take those
//! rows as samples.

use diesel::prelude::*;
use trawler_domain::Agg;

use crate::chunk::{exclusive, Chunks, Pass};
use crate::point::{Point, SeriesQuery};
use crate::schema::{points, points_hourly};
use crate::{AnyConnection, StoreError, StoreResult};

/// How a rolled-up hour meets the row already stored for it (a late point,
/// a chunk rolled after the head): the later last point wins; min, max, sum
/// and count combine. Plain SQL, the same on both backends (CASE instead of
/// LEAST/GREATEST, which SQLite lacks).
pub(crate) const ROLLUP_MERGE: &str = "ON CONFLICT (project_id, metric, platform, hour_ts) DO UPDATE SET
    last_value = CASE WHEN excluded.last_ts >= points_hourly.last_ts
                      THEN excluded.last_value ELSE points_hourly.last_value END,
    last_ts = CASE WHEN excluded.last_ts >= points_hourly.last_ts
                   THEN excluded.last_ts ELSE points_hourly.last_ts END,
    min_value = CASE WHEN excluded.min_value < points_hourly.min_value
                     THEN excluded.min_value ELSE points_hourly.min_value END,
    max_value = CASE WHEN excluded.max_value > points_hourly.max_value
                     THEN excluded.max_value ELSE points_hourly.max_value END,
    sum_value = points_hourly.sum_value + excluded.sum_value,
    count = points_hourly.count + excluded.count";

impl Point {
    /// The hourly rollups of a series query's range, as `(platform, ts,
    /// value, weight)` samples for its aggregate.
    pub(crate) fn rollup_samples(
        conn: &mut AnyConnection,
        q: &SeriesQuery,
    ) -> StoreResult<Vec<(String, i64, f64, f64)>> {
        type Row = (String, i64, i64, f64, f64, f64, f64, i64);
        let rows: Vec<Row> = db_run!(conn: {
            let mut query = points_hourly::table
                .filter(points_hourly::project_id.eq(q.project.0))
                .filter(points_hourly::metric.eq(q.metric.as_str()))
                .filter(points_hourly::hour_ts.ge(q.from.div_euclid(3600) * 3600))
                .filter(points_hourly::hour_ts.le(q.to))
                .select((
                    points_hourly::platform,
                    points_hourly::hour_ts,
                    points_hourly::last_ts,
                    points_hourly::last_value,
                    points_hourly::min_value,
                    points_hourly::max_value,
                    points_hourly::sum_value,
                    points_hourly::count,
                ))
                .into_boxed();
            if let Some(p) = q.platform {
                query = query.filter(points_hourly::platform.eq(p.as_str()));
            }
            query.load(conn)?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(platform, hour, last_ts, last, min, max, sum, count)| {
                let (ts, value, weight) = match q.agg {
                    Agg::Last => (last_ts, last, 1.0),
                    Agg::Min => (hour, min, 1.0),
                    Agg::Max => (hour, max, 1.0),
                    Agg::Avg => (hour, sum / count.max(1) as f64, count as f64),
                };
                (ts >= q.from && ts <= q.to).then_some((platform, ts, value, weight))
            })
            .collect())
    }

    /// Rolls raw points older than `cutoff` (epoch seconds, rounded down to
    /// an hour) into hourly rollups and deletes them: the head's points a
    /// day at a time, each day in one transaction, then whole chunks that
    /// end before it ([`Chunks::roll_up_before`]). A point that arrives late for an hour already
    /// rolled up is merged into it by the next call. Returns the raw points
    /// rolled up, and whether it stopped early because another session
    /// held the compaction lock: the compactor moves the same points (the
    /// head's into chunks), and both at once would count a point twice.
    ///
    /// Plain SQL, the same text on both backends (CASE instead of
    /// LEAST/GREATEST, which SQLite lacks); the bounds are integers the
    /// function computed, never input.
    pub fn roll_up_before(conn: &mut AnyConnection, cutoff: i64) -> StoreResult<Pass> {
        let cutoff = cutoff.div_euclid(3600) * 3600;
        let head = Point::roll_up_head_before(conn, cutoff)?;
        if head.busy {
            return Ok(head);
        }
        let chunked = Chunks::roll_up_before(conn, cutoff, 1000)?;
        Ok(Pass { moved: head.moved + chunked.moved, busy: chunked.busy })
    }

    /// The raw points the hourly rollups hold (the sum of their counts).
    pub fn rolled_total(conn: &mut AnyConnection) -> StoreResult<i64> {
        #[derive(QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        const SUM: &str = "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM points_hourly";
        let total: Total = db_run!(conn: { diesel::sql_query(SUM).get_result(conn)? });
        Ok(total.n)
    }

    /// The head's part of [`Point::roll_up_before`].
    fn roll_up_head_before(conn: &mut AnyConnection, cutoff: i64) -> StoreResult<Pass> {
        let oldest: Option<i64> = db_run!(conn: {
            points::table.select(diesel::dsl::min(points::ts)).first(conn)?
        });
        let Some(oldest) = oldest.filter(|o| *o < cutoff) else {
            return Ok(Pass::default());
        };
        let mut rolled = 0u64;
        let mut lo = oldest.div_euclid(3600) * 3600;
        while lo < cutoff {
            let hi = (lo + 86_400).min(cutoff);
            let insert = format!(
                "INSERT INTO points_hourly (project_id, metric, platform, hour_ts, last_ts, last_value,
                     min_value, max_value, sum_value, count)
                 SELECT g.project_id, g.metric, g.platform, g.hour_ts, g.last_ts, p.value, g.mn, g.mx, g.sm, g.cnt
                 FROM (SELECT project_id, metric, platform, (ts / 3600) * 3600 AS hour_ts, MAX(ts) AS last_ts,
                              MIN(value) AS mn, MAX(value) AS mx, SUM(value) AS sm, COUNT(*) AS cnt
                       FROM points WHERE ts >= {lo} AND ts < {hi}
                       GROUP BY project_id, metric, platform, (ts / 3600) * 3600) AS g
                 JOIN points AS p ON p.project_id = g.project_id AND p.metric = g.metric
                                 AND p.platform = g.platform AND p.ts = g.last_ts
                 WHERE true
                 {ROLLUP_MERGE}"
            );
            let delete = format!("DELETE FROM points WHERE ts >= {lo} AND ts < {hi}");
            let day = crate::write_transaction::<_, StoreError, _>(conn, |conn| {
                if !exclusive(conn)? {
                    return Ok(None);
                }
                db_run!(conn: { diesel::sql_query(&insert).execute(conn)?; });
                Ok(Some(db_run!(conn: { diesel::sql_query(&delete).execute(conn)? }) as u64))
            })?;
            let Some(day) = day else {
                return Ok(Pass { moved: rolled, busy: true });
            };
            rolled += day;
            lo = hi;
        }
        Ok(Pass { moved: rolled, busy: false })
    }
}
