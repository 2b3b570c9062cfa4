//! Compaction: the head's points of closed spans into each series' chunk of
//! the day, and closed weeks into one chunk.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{ChunkRow, Chunks, Key};
use crate::point::PointRow as HeadRow;
use crate::schema::{chunks, points, series};
use crate::{AnyConnection, StoreResult};

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
pub(crate) fn exclusive(conn: &mut AnyConnection) -> StoreResult<bool> {
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

/// Between two batches of a long compaction on SQLite (one writer at a
/// time), pauses as long as the batch took, at most 200 ms: writers that
/// wait for the lock (ingestion, runs, the API) get it, where a compactor
/// taking the lock again at once would starve them through an upgrade's
/// move. PostgreSQL locks rows, not the database: no pause.
fn yield_writes(conn: &AnyConnection, batch_took: std::time::Duration) {
    if matches!(conn, AnyConnection::Sqlite(_)) {
        std::thread::sleep(batch_took.min(std::time::Duration::from_millis(200)));
    }
}

/// What one pass over the head or the chunks did (compaction, or the
/// roll-up of old points).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Points moved: from the head into chunks, or into hourly rollups.
    pub moved: u64,
    /// Whether the pass stopped because another session held the
    /// compaction lock (PostgreSQL; never on SQLite).
    pub busy: bool,
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
        Ok(Chunks::compact_pass(conn, before, span, batch)?.moved)
    }

    /// [`Chunks::compact`], telling also whether the pass stopped because
    /// another session (retention, or another node's compactor) held the
    /// compaction lock: then the caller tries again soon rather than a
    /// whole interval later.
    pub fn compact_pass(conn: &mut AnyConnection, before: i64, span: i64, batch: usize) -> StoreResult<Pass> {
        let windows = Windows::new(span, before);
        let batch = batch.max(1);
        let mut cursor: Option<Cursor> = None;
        let mut moved = 0u64;
        loop {
            let started = std::time::Instant::now();
            let Some((n, next)) =
                crate::write_transaction(conn, |conn| Chunks::compact_batch(conn, windows, batch, cursor.take()))?
            else {
                return Ok(Pass { moved, busy: true });
            };
            moved += n;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
            yield_writes(conn, started.elapsed());
        }
        // Only when a window has closed since the last span: the scan reads
        // the chunks of the last two windows.
        let span = span.max(1);
        for size in windows.levels {
            if before.div_euclid(size) != before.saturating_sub(span).div_euclid(size) {
                Chunks::merge_closed(conn, size, before, batch, false)?;
            }
        }
        Ok(Pass { moved, busy: false })
    }

    /// Merges, over the whole history, the chunks of each series that share
    /// a closed window (a day of `span`s, then a week) into one: what a pass
    /// crossing a window's end does for the latest windows, for every window
    /// whose end passed while no node compacted (stopped for longer than a
    /// span). Reads every chunk's key once; the compactor runs it when it
    /// starts. Returns the groups merged.
    pub fn merge_all_closed(conn: &mut AnyConnection, before: i64, span: i64, batch: usize) -> StoreResult<u64> {
        let mut merged = 0;
        for size in Windows::new(span, before).levels {
            merged += Chunks::merge_closed(conn, size, before, batch, true)?;
        }
        Ok(merged)
    }

    /// Merges the chunks of each series that lie in one window of `big`
    /// seconds that closed lately (within two such windows of `before`, or
    /// ever when `all`) into one chunk.
    fn merge_closed(conn: &mut AnyConnection, big: i64, before: i64, batch: usize, all: bool) -> StoreResult<u64> {
        let closed = before.div_euclid(big).saturating_mul(big);
        let from = closed.saturating_sub(big.saturating_mul(2));
        let since = if all { String::new() } else { format!("start_ts >= {from} AND ") };
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
             WHERE {since}start_ts < {closed} \
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
    ) -> StoreResult<Option<(u64, Option<Cursor>)>> {
        if !exclusive(conn)? {
            return Ok(None);
        }
        let rows = Chunks::head_batch(conn, w.before, batch, cursor)?;
        let Some(last) = rows.last() else {
            return Ok(Some((0, None)));
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
        Ok(Some((rows.len() as u64, next)))
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
}
