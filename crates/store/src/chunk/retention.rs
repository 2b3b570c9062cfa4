//! Retention by chunk: whole chunks older than the cutoff become hourly
//! rollups.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use super::compact::{exclusive, Pass};
use super::{ChunkRow, Chunks};
use crate::schema::{chunks, series};
use crate::{AnyConnection, StoreResult};

/// Folds one hour of a chunk into the hourly rollups, with the merge of the
/// head's roll-up ([`crate::rollup::ROLLUP_MERGE`]).
const INSERT_HOUR: &str = "INSERT INTO points_hourly (project_id, metric, platform, hour_ts, last_ts, last_value,
        min_value, max_value, sum_value, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

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
                let mut n = 0u64;
                let sql = match conn {
                    AnyConnection::Postgresql(_) => format!("{INSERT_HOUR} {}", crate::rollup::ROLLUP_MERGE),
                    AnyConnection::Sqlite(_) => {
                        (1..=10).rev().fold(format!("{INSERT_HOUR} {}", crate::rollup::ROLLUP_MERGE), |s, i| {
                            s.replace(&format!("${i}"), "?")
                        })
                    }
                };
                for (chunk, (project, metric, platform)) in &old {
                    let points = chunk.points()?;
                    n += points.len() as u64;
                    for h in hours(&points) {
                        db_run!(conn: {
                            diesel::sql_query(&sql)
                                .bind::<BigInt, _>(project)
                                .bind::<Text, _>(metric)
                                .bind::<Text, _>(platform)
                                .bind::<BigInt, _>(h.hour_ts)
                                .bind::<BigInt, _>(h.last_ts)
                                .bind::<Double, _>(h.last)
                                .bind::<Double, _>(h.min)
                                .bind::<Double, _>(h.max)
                                .bind::<Double, _>(h.sum)
                                .bind::<BigInt, _>(h.count)
                                .execute(conn)?;
                        });
                    }
                    db_run!(conn: {
                        diesel::delete(chunks::table.find((chunk.series_id, chunk.start_ts))).execute(conn)?;
                    });
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
