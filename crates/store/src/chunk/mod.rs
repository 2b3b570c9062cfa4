//! Chunks: the compressed layout of points. A series (project, metric,
//! platform) gets an id in the `series` dictionary; its points, once their
//! window of time has closed, move from the `points` table (the head) into
//! `chunks`, one row per series and window holding an encoded block
//! ([`crate::codec`]) and the aggregates of its points.
//!
//! Readers read the head first and the chunks second, and keep one point per
//! timestamp: a point the compactor moves between the two reads is seen
//! twice (and kept once), never missed.

mod compact;
mod retention;

pub(crate) use compact::exclusive;
pub use compact::{Pass, MERGE_LEVELS};

use std::collections::BTreeMap;

use diesel::prelude::*;
use trawler_domain::Agg;

use crate::codec;
use crate::schema::{chunks, points, series};
use crate::{AnyConnection, StoreError, StoreResult};

/// Namespace for the chunk layout.
pub struct Chunks;

/// A series' key: project, metric, platform.
pub(crate) type Key = (i64, String, String);

/// A chunk as stored.
#[derive(Queryable, Insertable, Debug, Clone)]
#[diesel(table_name = chunks)]
pub(crate) struct ChunkRow {
    pub series_id: i64,
    pub start_ts: i64,
    pub end_ts: i64,
    pub count: i64,
    pub first_value: f64,
    pub last_value: f64,
    pub min_value: f64,
    pub max_value: f64,
    pub sum_value: f64,
    pub block: Vec<u8>,
}

/// One sample of a downsampled read: time, value, weight (of a mean).
pub(crate) type Sample = (i64, f64, f64);

/// What a downsampled read takes from a series' chunks.
pub(crate) struct Downsampled {
    /// A sample from the aggregates of each chunk read whole.
    pub whole: Vec<Sample>,
    /// The points, by time, of the chunks that had to be decoded.
    pub points: Vec<(i64, f64)>,
}

/// A chunk's aggregates, read without its block.
#[derive(Queryable, Selectable, Debug, Clone, Copy)]
#[diesel(table_name = chunks)]
struct Summary {
    start_ts: i64,
    end_ts: i64,
    count: i64,
    last_value: f64,
    min_value: f64,
    max_value: f64,
    sum_value: f64,
}

impl Summary {
    /// The chunk as one sample of a downsampled read: stamped at its last
    /// point (so `last` orders it after earlier samples of its step), with
    /// its count as the weight of its mean.
    fn sample(&self, agg: Agg) -> Sample {
        match agg {
            Agg::Last => (self.end_ts, self.last_value, 1.0),
            Agg::Min => (self.end_ts, self.min_value, 1.0),
            Agg::Max => (self.end_ts, self.max_value, 1.0),
            Agg::Avg => (self.end_ts, self.sum_value / self.count as f64, self.count as f64),
        }
    }
}

impl ChunkRow {
    /// The chunk of `points` (ascending, finite, not empty) of a series.
    pub(crate) fn of(series_id: i64, points: &[(i64, f64)]) -> StoreResult<ChunkRow> {
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Err(StoreError::Corrupt("an empty chunk".into()));
        };
        let block = codec::encode(points).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let values = points.iter().map(|p| p.1);
        Ok(ChunkRow {
            series_id,
            start_ts: first.0,
            end_ts: last.0,
            count: points.len() as i64,
            first_value: first.1,
            last_value: last.1,
            min_value: values.clone().fold(f64::INFINITY, f64::min),
            max_value: values.clone().fold(f64::NEG_INFINITY, f64::max),
            sum_value: values.sum(),
            block,
        })
    }

    /// The chunk's points. A damaged block is an error naming the chunk,
    /// and is logged.
    pub fn points(&self) -> StoreResult<Vec<(i64, f64)>> {
        let points = codec::decode(&self.block).map_err(|e| {
            let text = format!("chunk of series {} at {}: {e}", self.series_id, self.start_ts);
            log::error!("{text}");
            StoreError::Corrupt(text)
        })?;
        if points.len() as i64 != self.count {
            let text = format!(
                "chunk of series {} at {}: {} points, {} recorded",
                self.series_id,
                self.start_ts,
                points.len(),
                self.count
            );
            log::error!("{text}");
            return Err(StoreError::Corrupt(text));
        }
        Ok(points)
    }
}

impl Chunks {
    /// The id of a series, if it has chunks.
    pub(crate) fn id_of(
        conn: &mut AnyConnection,
        project: i64,
        metric: &str,
        platform: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(db_run!(conn: {
            series::table
                .filter(series::project_id.eq(project))
                .filter(series::metric.eq(metric))
                .filter(series::platform.eq(platform))
                .select(series::id)
                .first(conn)
                .optional()?
        }))
    }

    /// The ids of one metric's series of a project, by platform name.
    pub(crate) fn ids_of_metric(
        conn: &mut AnyConnection,
        project: i64,
        metric: &str,
    ) -> StoreResult<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = db_run!(conn: {
            series::table
                .filter(series::project_id.eq(project))
                .filter(series::metric.eq(metric))
                .select((series::platform, series::id))
                .load(conn)?
        });
        Ok(rows.into_iter().collect())
    }

    /// The series of a project in the dictionary (of one metric, or all),
    /// as `(metric, platform)`.
    pub(crate) fn pairs_of(
        conn: &mut AnyConnection,
        project: i64,
        metric: Option<&str>,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(db_run!(conn: {
            let mut q = series::table
                .filter(series::project_id.eq(project))
                .select((series::metric, series::platform))
                .into_boxed();
            if let Some(m) = metric {
                q = q.filter(series::metric.eq(m));
            }
            q.load(conn)?
        }))
    }

    /// The chunks of a series that hold points in `[from, to]`, by time.
    fn overlapping(conn: &mut AnyConnection, id: i64, from: i64, to: i64) -> StoreResult<Vec<ChunkRow>> {
        Ok(db_run!(conn: {
            chunks::table
                .filter(chunks::series_id.eq(id))
                .filter(chunks::end_ts.ge(from))
                .filter(chunks::start_ts.le(to))
                .order(chunks::start_ts)
                .load(conn)?
        }))
    }

    /// The first `max` points of a series in `[from, to]` held in chunks,
    /// by time.
    pub(crate) fn points_in(
        conn: &mut AnyConnection,
        id: i64,
        from: i64,
        to: i64,
        max: usize,
    ) -> StoreResult<Vec<(i64, f64)>> {
        let mut out = Vec::new();
        for c in Chunks::overlapping(conn, id, from, to)? {
            if out.len() >= max {
                break;
            }
            out.extend(c.points()?.into_iter().filter(|p| p.0 >= from && p.0 <= to));
        }
        out.truncate(max);
        Ok(out)
    }

    /// What a downsampled read by `step` and `agg` needs of a series'
    /// chunks in `[from, to]`, given its head points there (by time). A
    /// chunk inside the range and inside one step, with no head point in
    /// its time (a late point not yet merged, or one compacted between the
    /// two reads), answers from its aggregates without being decoded: one
    /// sample `(ts, value, weight)` as the rollups give. The others are
    /// decoded, and their points in the range returned by time.
    pub(crate) fn samples_in(
        conn: &mut AnyConnection,
        id: i64,
        (from, to): (i64, i64),
        (step, agg): (i64, Agg),
        head: &[(i64, f64)],
    ) -> StoreResult<Downsampled> {
        let step = step.max(1);
        let summaries: Vec<Summary> = db_run!(conn: {
            chunks::table
                .filter(chunks::series_id.eq(id))
                .filter(chunks::end_ts.ge(from))
                .filter(chunks::start_ts.le(to))
                .order(chunks::start_ts)
                .select(Summary::as_select())
                .load(conn)?
        });
        let mut samples = Vec::new();
        // The chunks to decode, as runs of neighbours (first and last start):
        // each run is one range of the key, read by a statement of one
        // shape that stays prepared (a list of starts would be compiled
        // anew at every read).
        let mut runs: Vec<(i64, i64)> = Vec::new();
        let mut in_run = false;
        for c in summaries {
            let inside = c.start_ts >= from && c.end_ts <= to;
            let one_step = c.start_ts.div_euclid(step) == c.end_ts.div_euclid(step);
            let next_head = head.partition_point(|p| p.0 < c.start_ts);
            let head_within = head.get(next_head).is_some_and(|p| p.0 <= c.end_ts);
            if inside && one_step && !head_within && c.count > 0 {
                samples.push(c.sample(agg));
                in_run = false;
            } else {
                match runs.last_mut() {
                    Some(run) if in_run => run.1 = c.start_ts,
                    _ => runs.push((c.start_ts, c.start_ts)),
                }
                in_run = true;
            }
        }
        let mut points = Vec::new();
        for (first, last) in runs {
            let rows: Vec<ChunkRow> = db_run!(conn: {
                chunks::table
                    .filter(chunks::series_id.eq(id))
                    .filter(chunks::start_ts.ge(first))
                    .filter(chunks::start_ts.le(last))
                    .order(chunks::start_ts)
                    .load(conn)?
            });
            for c in rows {
                points.extend(c.points()?.into_iter().filter(|p| p.0 >= from && p.0 <= to));
            }
        }
        Ok(Downsampled { whole: samples, points })
    }

    /// The metrics of a project's series in the dictionary.
    pub(crate) fn metrics_of(conn: &mut AnyConnection, project: i64) -> StoreResult<Vec<String>> {
        Ok(db_run!(conn: {
            series::table.filter(series::project_id.eq(project)).select(series::metric).distinct().load(conn)?
        }))
    }

    /// The latest point of a series at or before `at` held in chunks.
    pub(crate) fn latest_at(conn: &mut AnyConnection, id: i64, at: i64) -> StoreResult<Option<(i64, f64)>> {
        let chunk: Option<ChunkRow> = db_run!(conn: {
            chunks::table
                .filter(chunks::series_id.eq(id))
                .filter(chunks::start_ts.le(at))
                .order(chunks::start_ts.desc())
                .first(conn)
                .optional()?
        });
        Ok(match chunk {
            None => None,
            Some(c) if c.end_ts <= at => Some((c.end_ts, c.last_value)),
            Some(c) => c.points()?.into_iter().rev().find(|p| p.0 <= at),
        })
    }

    /// Points waiting in the head, and chunks: what the compactor has left
    /// and made.
    pub fn census(conn: &mut AnyConnection) -> StoreResult<(i64, i64)> {
        Ok(db_run!(conn: {
            (points::table.count().get_result(conn)?, chunks::table.count().get_result(conn)?)
        }))
    }

    /// Every stored raw point: the head's rows and the points of every
    /// chunk.
    pub fn points_total(conn: &mut AnyConnection) -> StoreResult<i64> {
        #[derive(QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        const SUM: &str = "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM chunks";
        let (head, chunked): (i64, Total) = db_run!(conn: {
            (points::table.count().get_result(conn)?, diesel::sql_query(SUM).get_result(conn)?)
        });
        Ok(head + chunked.n)
    }

    /// The points a project holds in chunks.
    pub(crate) fn count_of(conn: &mut AnyConnection, project: i64) -> StoreResult<i64> {
        let counts: Vec<i64> = db_run!(conn: {
            chunks::table
                .inner_join(series::table)
                .filter(series::project_id.eq(project))
                .select(chunks::count)
                .load(conn)?
        });
        Ok(counts.into_iter().sum())
    }
}

/// Merges a series' head points and chunk points (both by time) into one
/// list by time, one point per timestamp; the chunk's value wins. Linear in
/// the points: both lists are already in order.
pub(crate) fn merge(head: Vec<(i64, f64)>, chunked: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    if chunked.is_empty() {
        return head;
    }
    if head.is_empty() {
        return chunked;
    }
    let mut out = Vec::with_capacity(head.len() + chunked.len());
    let (mut h, mut c) = (head.into_iter().peekable(), chunked.into_iter().peekable());
    loop {
        match (h.peek(), c.peek()) {
            (Some(a), Some(b)) if a.0 < b.0 => out.extend(h.next()),
            (Some(a), Some(b)) if a.0 == b.0 => {
                h.next();
                out.extend(c.next());
            }
            (_, Some(_)) => out.extend(c.next()),
            (Some(_), None) => out.extend(h.next()),
            (None, None) => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn merge_keeps_one_point_per_time_and_the_chunks_value() {
        let head = vec![(1, 1.0), (3, 3.0), (5, 5.0), (9, 9.0)];
        let chunked = vec![(2, 20.0), (3, 30.0), (4, 40.0), (5, 50.0)];
        assert_eq!(
            merge(head.clone(), chunked.clone()),
            [(1, 1.0), (2, 20.0), (3, 30.0), (4, 40.0), (5, 50.0), (9, 9.0)]
        );
        assert_eq!(merge(head.clone(), Vec::new()), head);
        assert_eq!(merge(Vec::new(), chunked.clone()), chunked);
        assert_eq!(merge(vec![(7, 7.0)], vec![(1, 1.0)]), [(1, 1.0), (7, 7.0)]);
    }
}
