//! Retention by chunk: whole chunks older than the cutoff become hourly
//! rollups.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use super::compact::{exclusive, Pass};
use super::{ChunkRow, Chunks};
use crate::schema::{chunks, series};
use crate::{AnyConnection, StoreError, StoreResult};

/// Rows of hourly rollups per insert: ten binds a row stays under both
/// backends' limits on binds per statement (SQLite 32,766, PostgreSQL
/// 65,535).
const HOURS_PER_INSERT: usize = 1000;

/// A series' key as `points_hourly` holds it: project, metric, platform.
type SeriesOf<'a> = (i64, &'a str, &'a str);

/// One hour of a series, rolled up.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hour {
    hour_ts: i64,
    last_ts: i64,
    last: f64,
    min: f64,
    max: f64,
    sum: f64,
    count: i64,
}

/// The hours of points (by time).
fn hours(points: &[(i64, f64)]) -> Vec<Hour> {
    points
        .chunk_by(|a, b| a.0.div_euclid(3600) == b.0.div_euclid(3600))
        .filter_map(|h| {
            let (first, last) = (h.first()?, h.last()?);
            let values = h.iter().map(|p| p.1);
            Some(Hour {
                hour_ts: first.0.div_euclid(3600) * 3600,
                last_ts: last.0,
                last: last.1,
                min: values.clone().fold(f64::INFINITY, f64::min),
                max: values.clone().fold(f64::NEG_INFINITY, f64::max),
                sum: values.sum(),
                count: h.len() as i64,
            })
        })
        .collect()
}

impl Hour {
    /// Both hours' points as one hour: the later last point wins; min, max,
    /// sum and count combine (as [`crate::rollup::ROLLUP_MERGE`] does with a
    /// stored row).
    fn merge(self, other: Hour) -> Hour {
        let (last_ts, last) =
            if other.last_ts >= self.last_ts { (other.last_ts, other.last) } else { (self.last_ts, self.last) };
        Hour {
            hour_ts: self.hour_ts,
            last_ts,
            last,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            sum: self.sum + other.sum,
            count: self.count + other.count,
        }
    }
}

/// Upserts hourly rollups, many rows per statement, merging each with the
/// row already stored for its hour ([`crate::rollup::ROLLUP_MERGE`]). The
/// keys must be unique (PostgreSQL refuses to update one row twice in a
/// statement). Plain SQL: diesel's batch insert has no upsert on SQLite.
fn upsert_hours(conn: &mut AnyConnection, rows: &[(SeriesOf<'_>, Hour)]) -> StoreResult<()> {
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    for part in rows.chunks(HOURS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO points_hourly (project_id, metric, platform, hour_ts, last_ts, last_value, min_value, max_value, sum_value, count) VALUES ",
        );
        for i in 0..part.len() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for c in 0..10 {
                if c > 0 {
                    sql.push_str(", ");
                }
                if postgres {
                    sql.push_str(&format!("${}", i * 10 + c + 1));
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(crate::rollup::ROLLUP_MERGE);
        db_run!(conn: {
            let mut query = diesel::sql_query(&sql).into_boxed();
            for ((project, metric, platform), h) in part {
                query = query
                    .bind::<BigInt, _>(*project)
                    .bind::<Text, _>(*metric)
                    .bind::<Text, _>(*platform)
                    .bind::<BigInt, _>(h.hour_ts)
                    .bind::<BigInt, _>(h.last_ts)
                    .bind::<Double, _>(h.last)
                    .bind::<Double, _>(h.min)
                    .bind::<Double, _>(h.max)
                    .bind::<Double, _>(h.sum)
                    .bind::<BigInt, _>(h.count);
            }
            query.execute(conn)?;
        });
    }
    Ok(())
}

impl Chunks {
    /// Rolls whole chunks that end before `cutoff` into hourly rollups and
    /// deletes them, `batch` chunks per transaction: retention by chunk (a
    /// chunk that reaches past the cutoff waits until all of it is older).
    /// Returns the points rolled, and whether it stopped because another
    /// session held the compaction lock (the compactor moves the same
    /// points: both at once would count a point twice).
    pub fn roll_up_before(conn: &mut AnyConnection, cutoff: i64, batch: usize) -> StoreResult<Pass> {
        let mut rolled = 0u64;
        loop {
            let n = crate::write_transaction(conn, |conn| -> StoreResult<Option<Option<u64>>> {
                if !exclusive(conn)? {
                    return Ok(None);
                }
                let old: Vec<(ChunkRow, (i64, String, String))> = db_run!(conn: {
                    chunks::table
                        .inner_join(series::table)
                        .filter(chunks::end_ts.lt(cutoff))
                        .order((chunks::series_id, chunks::start_ts))
                        .select((
                            (chunks::series_id, chunks::start_ts, chunks::end_ts, chunks::count, chunks::first_value,
                             chunks::last_value, chunks::min_value, chunks::max_value, chunks::sum_value, chunks::block),
                            (series::project_id, series::metric, series::platform),
                        ))
                        .limit(batch.max(1) as i64)
                        .load(conn)?
                });
                if old.is_empty() {
                    return Ok(Some(None));
                }
                // The batch's hours, merged by series and hour: two chunks of a
                // series may share an hour when the span does not divide it.
                let mut n = 0u64;
                let mut merged: BTreeMap<(i64, &str, &str, i64), Hour> = BTreeMap::new();
                for (chunk, (project, metric, platform)) in &old {
                    let points = chunk.points()?;
                    n += points.len() as u64;
                    for h in hours(&points) {
                        merged
                            .entry((*project, metric.as_str(), platform.as_str(), h.hour_ts))
                            .and_modify(|m| *m = m.merge(h))
                            .or_insert(h);
                    }
                }
                let rows: Vec<(SeriesOf<'_>, Hour)> = merged
                    .into_iter()
                    .map(|((project, metric, platform, _), h)| ((project, metric, platform), h))
                    .collect();
                upsert_hours(conn, &rows)?;
                // The batch is the first chunks, by key, that end before the
                // cutoff, and the compaction lock keeps them as they were read:
                // one statement deletes them all.
                if let Some((last, _)) = old.last() {
                    let (series_id, start_ts) = (last.series_id, last.start_ts);
                    let deleted = db_run!(conn: {
                        diesel::delete(
                            chunks::table.filter(chunks::end_ts.lt(cutoff)).filter(
                                chunks::series_id
                                    .lt(series_id)
                                    .or(chunks::series_id.eq(series_id).and(chunks::start_ts.le(start_ts))),
                            ),
                        )
                        .execute(conn)?
                    });
                    if deleted != old.len() {
                        return Err(StoreError::Corrupt(format!(
                            "retention read {} chunks but would delete {deleted}: rolled back",
                            old.len()
                        )));
                    }
                }
                Ok(Some(Some(n)))
            })?;
            match n {
                Some(Some(n)) => rolled += n,
                Some(None) => return Ok(Pass { moved: rolled, busy: false }),
                None => return Ok(Pass { moved: rolled, busy: true }),
            }
        }
    }
}
