//! Chunks: the compressed layout of points. A series (project, metric,
//! platform) gets an id in the `series` dictionary; its points, once their
//! window of time has closed, move from the `points` table (the head) into
//! `chunks`, one row per series and window holding an encoded block
//! ([`crate::codec`]) and the aggregates of its points.
//!
//! Readers read the head first and the chunks second, and keep one point per
//! timestamp: a point the compactor moves between the two reads is seen
//! twice (and kept once), never missed.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use crate::codec;
use crate::schema::{chunks, points, series};
use crate::{AnyConnection, StoreError, StoreResult};

/// Namespace for the chunk layout.
pub struct Chunks;

/// A series' key: project, metric, platform.
pub(crate) type Key = (i64, String, String);

#[derive(QueryableByName)]
struct HeadRow {
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    metric: String,
    #[diesel(sql_type = Text)]
    platform: String,
    #[diesel(sql_type = BigInt)]
    ts: i64,
    #[diesel(sql_type = Double)]
    value: f64,
}

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

impl ChunkRow {
    /// The chunk of `points` (ascending, finite, not empty) of a series.
    fn of(series_id: i64, points: &[(i64, f64)]) -> StoreResult<ChunkRow> {
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

/// Where a compaction stands: the last head point moved.
type Cursor = (i64, String, String, i64);

/// How many chunk spans make a chunk's window: a series keeps one chunk per
/// day (at the default 1-hour span), rewritten as the compactor brings it
/// the head's points, and once a week has closed its days become one chunk.
/// Dense series get long chunks, which compress better; sparse ones (a full
/// scrape every 4 hours) get chunks worth their row.
pub const MERGE_LEVELS: [i64; 2] = [24, 168];

/// The windows points are chunked by: the week's once it has closed, else
/// the day's.
#[derive(Debug, Clone, Copy)]
struct Windows {
    levels: [i64; 2],
    before: i64,
}

impl Windows {
    fn new(span: i64, before: i64) -> Windows {
        Windows { levels: MERGE_LEVELS.map(|f| span.max(1).saturating_mul(f)), before }
    }

    /// The window of `ts`, `[start, end)`.
    fn of(&self, ts: i64) -> (i64, i64) {
        let [day, week] = self.levels;
        let start = ts.div_euclid(week).saturating_mul(week);
        if start.saturating_add(week) <= self.before {
            return (start, start.saturating_add(week));
        }
        let start = ts.div_euclid(day).saturating_mul(day);
        (start, start.saturating_add(day))
    }
}

/// The key of the advisory lock that lets one node of a cluster compact
/// at a time.
const COMPACTION_LOCK: i64 = 0x7472_6177_6c63; // "trawlc"

/// Whether this transaction may compact: on PostgreSQL it takes the
/// cluster's compaction lock if free (released at commit), so two nodes do
/// not move the same points; SQLite has one writer anyway.
fn exclusive(conn: &mut AnyConnection) -> StoreResult<bool> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    match conn {
        AnyConnection::Postgresql(c) => {
            let row: Taken = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS taken")
                .bind::<BigInt, _>(COMPACTION_LOCK)
                .get_result(c)?;
            Ok(row.taken)
        }
        AnyConnection::Sqlite(_) => Ok(true),
    }
}

impl Chunks {
    /// Moves the head's points older than `before` (epoch seconds) into
    /// chunks, at most `batch` points per transaction. A series has one
    /// chunk per window of [`MERGE_LEVELS`]`[0]` spans: the points moved are
    /// merged into it (decoded, joined, encoded again), so the head holds
    /// only what came since the last span closed. When a window of
    /// [`MERGE_LEVELS`]`[1]` spans closes, its chunks become one
    /// ([`Chunks::merge_closed`]). Where a chunk and the head both hold a
    /// timestamp, the chunk's value stays, as a repeated insert keeps the
    /// first. Returns the points moved.
    pub fn compact(conn: &mut AnyConnection, before: i64, span: i64, batch: usize) -> StoreResult<u64> {
        let windows = Windows::new(span, before);
        let batch = batch.max(1);
        let mut cursor: Option<Cursor> = None;
        let mut moved = 0u64;
        loop {
            let (n, next) =
                crate::write_transaction(conn, |conn| Chunks::compact_batch(conn, windows, batch, cursor.take()))?;
            moved += n;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // Only when a window has closed since the last span: the scan reads
        // the chunks of the last two windows.
        let span = span.max(1);
        for size in windows.levels {
            if before.div_euclid(size) != before.saturating_sub(span).div_euclid(size) {
                Chunks::merge_closed(conn, size, before, batch)?;
            }
        }
        Ok(moved)
    }

    /// Merges the chunks of each series that lie in one window of `big`
    /// seconds that closed lately (within two such windows of `before`) into
    /// one chunk.
    fn merge_closed(conn: &mut AnyConnection, big: i64, before: i64, batch: usize) -> StoreResult<u64> {
        let closed = before.div_euclid(big).saturating_mul(big);
        let from = closed.saturating_sub(big.saturating_mul(2));
        #[derive(QueryableByName)]
        struct Group {
            #[diesel(sql_type = BigInt)]
            series_id: i64,
            #[diesel(sql_type = BigInt)]
            wnd: i64,
        }
        // Integers the function computed, never input.
        let sql = format!(
            "SELECT series_id, start_ts / {big} AS wnd FROM chunks \
             WHERE start_ts >= {from} AND start_ts < {closed} \
             GROUP BY series_id, start_ts / {big} HAVING COUNT(*) > 1 LIMIT {limit}",
            limit = batch.max(1)
        );
        let mut merged = 0u64;
        loop {
            let n = crate::write_transaction(conn, |conn| -> StoreResult<u64> {
                if !exclusive(conn)? {
                    return Ok(0);
                }
                let groups: Vec<Group> = db_run!(conn: { diesel::sql_query(&sql).load(conn)? });
                for g in &groups {
                    let (lo, hi) = (g.wnd.saturating_mul(big), g.wnd.saturating_add(1).saturating_mul(big));
                    let parts: Vec<ChunkRow> = db_run!(conn: {
                        chunks::table
                            .filter(chunks::series_id.eq(g.series_id))
                            .filter(chunks::start_ts.ge(lo))
                            .filter(chunks::start_ts.lt(hi))
                            .order(chunks::start_ts)
                            .load(conn)?
                    });
                    let mut points: BTreeMap<i64, f64> = BTreeMap::new();
                    for c in &parts {
                        for (ts, value) in c.points()? {
                            points.entry(ts).or_insert(value);
                        }
                    }
                    let points: Vec<(i64, f64)> = points.into_iter().collect();
                    db_run!(conn: {
                        diesel::delete(
                            chunks::table
                                .filter(chunks::series_id.eq(g.series_id))
                                .filter(chunks::start_ts.ge(lo))
                                .filter(chunks::start_ts.lt(hi)),
                        )
                        .execute(conn)?;
                    });
                    let one = ChunkRow::of(g.series_id, &points)?;
                    db_run!(conn: {
                        diesel::insert_into(chunks::table).values(&one).execute(conn)?;
                    });
                }
                Ok(groups.len() as u64)
            })?;
            merged += n;
            if n == 0 {
                return Ok(merged);
            }
        }
    }

    fn compact_batch(
        conn: &mut AnyConnection,
        w: Windows,
        batch: usize,
        cursor: Option<Cursor>,
    ) -> StoreResult<(u64, Option<Cursor>)> {
        if !exclusive(conn)? {
            return Ok((0, None));
        }
        let rows = Chunks::head_batch(conn, w.before, batch, cursor)?;
        let Some(last) = rows.last() else {
            return Ok((0, None));
        };
        let next =
            (rows.len() == batch).then(|| (last.project_id, last.metric.clone(), last.platform.clone(), last.ts));
        let mut by_key: BTreeMap<Key, Vec<(i64, f64)>> = BTreeMap::new();
        for r in &rows {
            by_key.entry((r.project_id, r.metric.clone(), r.platform.clone())).or_default().push((r.ts, r.value));
        }
        let ids = Chunks::ids(conn, by_key.keys())?;
        let lo = rows.iter().map(|r| w.of(r.ts).0).min().unwrap_or(w.before);
        let hi = rows.iter().map(|r| w.of(r.ts).1).max().unwrap_or(w.before);
        let id_list: Vec<i64> = ids.values().copied().collect();
        let mut existing: BTreeMap<i64, Vec<ChunkRow>> = BTreeMap::new();
        for chunk in id_list.chunks(10_000) {
            let found: Vec<ChunkRow> = db_run!(conn: {
                chunks::table
                    .filter(chunks::series_id.eq_any(chunk))
                    .filter(chunks::end_ts.ge(lo))
                    .filter(chunks::start_ts.lt(hi))
                    .load(conn)?
            });
            for c in found {
                existing.entry(c.series_id).or_default().push(c);
            }
        }
        for (key, new) in &by_key {
            let id = ids[key];
            let windows: std::collections::BTreeSet<(i64, i64)> = new.iter().map(|p| w.of(p.0)).collect();
            // The chunks this series already has in the windows it gets
            // points for: their points are merged with the new ones.
            let old: Vec<ChunkRow> = existing
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| windows.iter().any(|(start, end)| c.start_ts < *end && c.end_ts >= *start))
                .collect();
            let mut merged: BTreeMap<i64, f64> = BTreeMap::new();
            for c in &old {
                merged.extend(c.points()?);
            }
            for (ts, value) in new {
                merged.entry(*ts).or_insert(*value);
            }
            for c in &old {
                db_run!(conn: {
                    diesel::delete(chunks::table.find((c.series_id, c.start_ts))).execute(conn)?;
                });
            }
            let merged: Vec<(i64, f64)> = merged.into_iter().collect();
            let fresh = merged
                .chunk_by(|a, b| w.of(a.0) == w.of(b.0))
                .map(|w| ChunkRow::of(id, w))
                .collect::<StoreResult<Vec<_>>>()?;
            db_run!(conn: {
                diesel::insert_into(chunks::table).values(&fresh).execute(conn)?;
            });
            // Exactly the rows read leave the head: a point written since
            // stays for the next pass.
            let (project, metric, platform) = key;
            let times: Vec<i64> = new.iter().map(|p| p.0).collect();
            for part in times.chunks(10_000) {
                db_run!(conn: {
                    diesel::delete(
                        points::table
                            .filter(points::project_id.eq(project))
                            .filter(points::metric.eq(metric))
                            .filter(points::platform.eq(platform))
                            .filter(points::ts.eq_any(part)),
                    )
                    .execute(conn)?;
                });
            }
        }
        Ok((rows.len() as u64, next))
    }

    /// The next head points older than `before`, in key order after
    /// `cursor`.
    fn head_batch(
        conn: &mut AnyConnection,
        before: i64,
        batch: usize,
        cursor: Option<Cursor>,
    ) -> StoreResult<Vec<HeadRow>> {
        // Placeholders in the order they are bound ($n on PostgreSQL, ? on SQLite).
        let (after, limit) = if cursor.is_some() {
            ("AND (project_id, metric, platform, ts) > ($2, $3, $4, $5)", "$6")
        } else {
            ("", "$2")
        };
        let sql = format!(
            "SELECT project_id, metric, platform, ts, value FROM points WHERE ts < $1 {after} \
             ORDER BY project_id, metric, platform, ts LIMIT {limit}"
        );
        let sql = match conn {
            AnyConnection::Postgresql(_) => sql,
            AnyConnection::Sqlite(_) => (1..=6).fold(sql, |sql, n| sql.replace(&format!("${n}"), "?")),
        };
        let limit = batch as i64;
        Ok(match cursor {
            None => db_run!(conn: {
                diesel::sql_query(&sql).bind::<BigInt, _>(before).bind::<BigInt, _>(limit).load(conn)?
            }),
            Some((p, m, pl, ts)) => db_run!(conn: {
                diesel::sql_query(&sql)
                    .bind::<BigInt, _>(before)
                    .bind::<BigInt, _>(p)
                    .bind::<Text, _>(&m)
                    .bind::<Text, _>(&pl)
                    .bind::<BigInt, _>(ts)
                    .bind::<BigInt, _>(limit)
                    .load(conn)?
            }),
        })
    }

    /// The ids of `keys`, added to the dictionary where missing.
    fn ids<'a>(conn: &mut AnyConnection, keys: impl Iterator<Item = &'a Key>) -> StoreResult<BTreeMap<Key, i64>> {
        let keys: Vec<&Key> = keys.collect();
        let rows: Vec<(i64, &str, &str)> = keys.iter().map(|(p, m, pl)| (*p, m.as_str(), pl.as_str())).collect();
        for part in rows.chunks(1000) {
            let values: Vec<_> = part
                .iter()
                .map(|(p, m, pl)| (series::project_id.eq(*p), series::metric.eq(*m), series::platform.eq(*pl)))
                .collect();
            db_run!(conn: {
                diesel::insert_into(series::table).values(&values).on_conflict_do_nothing().execute(conn)?;
            });
        }
        let mut projects: Vec<i64> = keys.iter().map(|k| k.0).collect();
        projects.dedup();
        let mut ids = BTreeMap::new();
        for part in projects.chunks(10_000) {
            let found: Vec<(i64, i64, String, String)> = db_run!(conn: {
                series::table
                    .filter(series::project_id.eq_any(part))
                    .select((series::id, series::project_id, series::metric, series::platform))
                    .load(conn)?
            });
            for (id, p, m, pl) in found {
                ids.insert((p, m, pl), id);
            }
        }
        ids.retain(|k, _| keys.contains(&k));
        Ok(ids)
    }

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

/// Folds a chunk's hours into the hourly rollups: the same merge as the
/// rollup of raw points (the later last point wins; min, max, sum and count
/// combine).
const UPSERT_HOUR: &str = "INSERT INTO points_hourly (project_id, metric, platform, hour_ts, last_ts, last_value,
        min_value, max_value, sum_value, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (project_id, metric, platform, hour_ts) DO UPDATE SET
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
    /// Returns the points rolled.
    pub fn roll_up_before(conn: &mut AnyConnection, cutoff: i64, batch: usize) -> StoreResult<u64> {
        let mut rolled = 0u64;
        loop {
            let n = crate::write_transaction(conn, |conn| -> StoreResult<Option<u64>> {
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
                    return Ok(None);
                }
                let mut n = 0u64;
                let sql = match conn {
                    AnyConnection::Postgresql(_) => UPSERT_HOUR.to_owned(),
                    AnyConnection::Sqlite(_) => {
                        (1..=10).rev().fold(UPSERT_HOUR.to_owned(), |s, i| s.replace(&format!("${i}"), "?"))
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
                Ok(Some(n))
            })?;
            match n {
                Some(n) => rolled += n,
                None => return Ok(rolled),
            }
        }
    }
}

/// Merges a series' head points and chunk points (both by time) into one
/// list by time, one point per timestamp; the chunk's value wins.
pub(crate) fn merge(head: Vec<(i64, f64)>, chunked: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    if chunked.is_empty() {
        return head;
    }
    let mut all: BTreeMap<i64, f64> = head.into_iter().collect();
    all.extend(chunked);
    all.into_iter().collect()
}
