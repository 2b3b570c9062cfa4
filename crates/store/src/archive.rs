//! The response archive: what the generic sources' fetches brought back,
//! gzip-compressed, within bounds of age and bytes (per project and in
//! all), so that a parser fixed after a page changed its layout can read
//! the answers again and recover the points it missed.
//!
//! Rows are keyed by the source's project, platform and reference, not by
//! the source's id: editing a project's sources replaces their rows, and
//! the history of a source must outlive the edit that fixes it.

use std::io::{Read, Write};

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use trawler_domain::{Platform, ProjectId, RunId, RunKind};

use crate::schema::responses as r;
use crate::schema::runs;
use crate::{AnyConnection, StoreError, StoreResult};

/// What a row costs beyond its body and text: the bounds count it too.
const ROW_OVERHEAD: i64 = 100;
/// The largest body a stored answer opens to (the HTTP client's own bound
/// is far lower; this guards against a damaged row).
const MAX_OPENED: u64 = 256 * 1024 * 1024;

/// An answer to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponse {
    /// The project of the source.
    pub project_id: ProjectId,
    /// The source's platform.
    pub platform: Platform,
    /// The source's reference.
    pub external_ref: String,
    /// The full scrape it belongs to; `None` for a poll.
    pub run_id: Option<RunId>,
    /// Full scrape or poll.
    pub kind: RunKind,
    /// When it was fetched, epoch ms.
    pub fetched_at_ms: i64,
    /// Its page within the fetch (0 first).
    pub page: i32,
    /// The HTTP status.
    pub status: i32,
    /// The URL asked, as shown (no query).
    pub url: String,
    /// The response headers kept.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
    /// `ok`, or the fetch's error code.
    pub outcome: String,
    /// The fetch's error.
    pub error: Option<String>,
    /// The metric a parse failure could not read.
    pub metric: Option<String>,
    /// The locators proposed for it (JSON).
    pub proposals: Option<String>,
}

/// How much the archive keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Answers older than this are dropped, ms.
    pub max_age_ms: i64,
    /// The most one project's answers may cost, bytes.
    pub project_bytes: i64,
    /// The most every answer together may cost, bytes.
    pub total_bytes: i64,
}

/// A kept answer, without its body.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct Response {
    /// Its id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The source's platform.
    pub platform: String,
    /// The source's reference.
    pub external_ref: String,
    /// The full scrape it belongs to.
    pub run_id: Option<i64>,
    /// `full` or `poll`.
    pub kind: String,
    /// When it was fetched, epoch ms.
    pub fetched_at_ms: i64,
    /// Its page within the fetch.
    pub page: i32,
    /// The HTTP status.
    pub status: i32,
    /// The URL asked, as shown.
    pub url: String,
    /// The response headers kept, as a JSON list of `[name, value]`.
    pub headers: String,
    /// The body's size as received.
    pub body_bytes: i64,
    /// What the row costs.
    pub stored_bytes: i64,
    /// `ok` or the fetch's error code.
    pub outcome: String,
    /// The fetch's error.
    pub error: Option<String>,
    /// The metric a parse failure could not read.
    pub metric: Option<String>,
    /// The locators proposed for it (JSON).
    pub proposals: Option<String>,
    /// When a re-parse read it, epoch ms.
    pub recovered_at_ms: Option<i64>,
}

impl Response {
    /// The headers kept, as pairs.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseFilter {
    /// One source, by platform and reference.
    pub source: Option<(Platform, String)>,
    /// One run's.
    pub run_id: Option<RunId>,
    /// Only parse failures (pages 0 whose outcome is `parse`).
    pub failures_only: bool,
    /// Only rows with a smaller id (the next page).
    pub before_id: Option<i64>,
    /// Most rows returned.
    pub limit: i64,
}

/// A source whose fetches failed to read a metric, and that no re-parse
/// has recovered yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    /// The source's platform.
    pub platform: String,
    /// The source's reference.
    pub external_ref: String,
    /// The metric its latest failure could not read.
    pub metric: Option<String>,
    /// Its oldest failed fetch not yet recovered, epoch ms.
    pub since_ms: i64,
    /// Its latest failed fetch, epoch ms.
    pub last_failed_ms: i64,
    /// Failed fetches not yet recovered.
    pub failures: i64,
    /// The latest failure's error.
    pub error: Option<String>,
    /// The latest proposals found (JSON).
    pub proposals: Option<String>,
    /// Its latest fetch that read well, epoch ms.
    pub last_ok_ms: Option<i64>,
}

/// What a prune dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dropped {
    /// Rows.
    pub rows: u64,
    /// Their bytes.
    pub bytes: i64,
}

/// How much the archive holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Answers kept.
    pub rows: i64,
    /// What they cost, bytes.
    pub bytes: i64,
}

fn compress(body: &[u8]) -> StoreResult<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).and_then(|()| encoder.finish()).map_err(|e| StoreError::Corrupt(format!("gzip: {e}")))
}

fn open(stored: &[u8]) -> StoreResult<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(stored)
        .take(MAX_OPENED)
        .read_to_end(&mut out)
        .map_err(|e| StoreError::Corrupt(format!("a stored answer does not open: {e}")))?;
    Ok(out)
}

/// The archive's reads and writes.
pub struct Archive;

impl Archive {
    /// Keeps answers, then drops what the bounds no longer allow: answers
    /// older than the age, then each touched project's oldest past its
    /// bytes, then the oldest of all past the total. One transaction: the
    /// bounds hold whenever it is seen. Returns how many rows it dropped,
    /// and what the archive holds after.
    ///
    /// `known` is what the archive held after the caller's last write, if
    /// it trusts it: the total is then counted from it instead of summed
    /// over every row (a scan of the whole archive per batch). A caller
    /// sharing the database with other writers passes `None` now and then.
    pub fn keep(
        conn: &mut AnyConnection,
        list: &[NewResponse],
        bounds: &Bounds,
        now_ms: i64,
        known: Option<Usage>,
    ) -> StoreResult<(u64, Usage)> {
        let mut rows = Vec::with_capacity(list.len());
        let mut added_bytes = 0i64;
        for n in list {
            let body = compress(&n.body)?;
            let headers = serde_json::to_string(&n.headers).unwrap_or_else(|_| "[]".into());
            let text = n.url.len() + headers.len() + n.external_ref.len();
            let text = text + n.error.as_ref().map_or(0, String::len) + n.proposals.as_ref().map_or(0, String::len);
            let stored =
                i64::try_from(body.len().saturating_add(text)).unwrap_or(i64::MAX).saturating_add(ROW_OVERHEAD);
            added_bytes = added_bytes.saturating_add(stored);
            rows.push((
                r::project_id.eq(n.project_id.0),
                r::platform.eq(n.platform.as_str()),
                r::external_ref.eq(n.external_ref.clone()),
                r::run_id.eq(n.run_id.map(|id| id.0)),
                r::kind.eq(n.kind.as_str()),
                r::fetched_at_ms.eq(n.fetched_at_ms),
                r::page.eq(n.page),
                r::status.eq(n.status),
                r::url.eq(n.url.clone()),
                r::headers.eq(headers),
                r::body_bytes.eq(i64::try_from(n.body.len()).unwrap_or(i64::MAX)),
                r::body.eq(body),
                r::stored_bytes.eq(stored),
                (
                    r::outcome.eq(n.outcome.clone()),
                    r::error.eq(n.error.clone()),
                    r::metric.eq(n.metric.clone()),
                    r::proposals.eq(n.proposals.clone()),
                ),
            ));
        }
        let mut projects: Vec<i64> = list.iter().map(|n| n.project_id.0).collect();
        projects.sort_unstable();
        projects.dedup();
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            for row in &rows {
                db_run!(conn: {
                    diesel::insert_into(r::table).values(row.clone()).execute(conn)?;
                });
            }
            let aged = Archive::prune_older(conn, now_ms.saturating_sub(bounds.max_age_ms))?;
            let mut dropped = aged.rows;
            let mut dropped_bytes = aged.bytes;
            for project in &projects {
                let t = trim(conn, Some(*project), bounds.project_bytes, None)?;
                dropped += t.rows;
                dropped_bytes = dropped_bytes.saturating_add(t.bytes);
            }
            // What the archive holds now, if the caller knew it before.
            let added = Usage { rows: i64::try_from(rows.len()).unwrap_or(i64::MAX), bytes: added_bytes };
            let now = known.map(|k| Usage {
                rows: (k.rows + added.rows - i64::try_from(dropped).unwrap_or(i64::MAX)).max(0),
                bytes: k.bytes.saturating_add(added.bytes).saturating_sub(dropped_bytes).max(0),
            });
            let all = trim(conn, None, bounds.total_bytes, now)?;
            Ok((dropped + all.rows, Usage { rows: all.rows_left, bytes: all.bytes_left }))
        })
    }

    /// Drops the answers fetched before `before_ms`; returns how many, and
    /// their bytes.
    pub fn prune_older(conn: &mut AnyConnection, before_ms: i64) -> StoreResult<Dropped> {
        let old = r::fetched_at_ms.lt(before_ms);
        let bytes = db_run!(conn: {
            r::table.filter(old).select(sql::<BigInt>("CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT)")).get_result::<i64>(conn)?
        });
        if bytes == 0 {
            return Ok(Dropped::default());
        }
        let n = db_run!(conn: { diesel::delete(r::table.filter(old)).execute(conn)? });
        Ok(Dropped { rows: n as u64, bytes })
    }

    /// Answers kept, newest first.
    pub fn list(conn: &mut AnyConnection, project: ProjectId, filter: &ResponseFilter) -> StoreResult<Vec<Response>> {
        let source = filter.source.as_ref().map(|(p, reference)| (p.as_str(), reference.as_str()));
        let rows = db_run!(conn: {
            let mut q = r::table.filter(r::project_id.eq(project.0)).into_boxed();
            if let Some((platform, reference)) = source {
                q = q.filter(r::platform.eq(platform)).filter(r::external_ref.eq(reference));
            }
            if let Some(run) = filter.run_id {
                q = q.filter(r::run_id.eq(run.0));
            }
            if filter.failures_only {
                q = q.filter(r::outcome.eq("parse")).filter(r::page.eq(0));
            }
            if let Some(before) = filter.before_id {
                q = q.filter(r::id.lt(before));
            }
            q.order((r::fetched_at_ms.desc(), r::id.desc()))
                .limit(filter.limit.clamp(1, 1_000))
                .select(Response::as_select())
                .load(conn)?
        });
        Ok(rows)
    }

    /// One answer and its body, opened.
    pub fn get(conn: &mut AnyConnection, id: i64) -> StoreResult<Option<(Response, Vec<u8>)>> {
        let found: Option<(Response, Vec<u8>)> = db_run!(conn: {
            r::table.find(id).select((Response::as_select(), r::body)).first(conn).optional()?
        });
        found.map(|(row, body)| Ok((row, open(&body)?))).transpose()
    }

    /// One source's answers fetched at or after `since_ms`, oldest first,
    /// with their bodies opened: at most `limit` rows (a re-parse reads the
    /// archive in such batches, by `after_id`).
    pub fn since(
        conn: &mut AnyConnection,
        project: ProjectId,
        source: (Platform, &str),
        since_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<(Response, Vec<u8>)>> {
        let (platform, reference) = (source.0.as_str(), source.1);
        let rows: Vec<(Response, Vec<u8>)> = db_run!(conn: {
            r::table
                .filter(r::project_id.eq(project.0))
                .filter(r::platform.eq(platform))
                .filter(r::external_ref.eq(reference))
                .filter(r::fetched_at_ms.ge(since_ms))
                .filter(r::id.gt(after_id))
                .order(r::id.asc())
                .limit(limit.clamp(1, 10_000))
                .select((Response::as_select(), r::body))
                .load(conn)?
        });
        rows.into_iter().map(|(row, body)| Ok((row, open(&body)?))).collect()
    }

    /// When the oldest failed fetch of one source that no re-parse has read
    /// well yet was made, epoch ms.
    pub fn oldest_unrecovered(
        conn: &mut AnyConnection,
        project: ProjectId,
        source: (Platform, &str),
    ) -> StoreResult<Option<i64>> {
        let (platform, reference) = (source.0.as_str(), source.1);
        let found: Option<i64> = db_run!(conn: {
            r::table
                .filter(r::project_id.eq(project.0))
                .filter(r::platform.eq(platform))
                .filter(r::external_ref.eq(reference))
                .filter(r::outcome.eq("parse"))
                .filter(r::recovered_at_ms.is_null())
                .order(r::fetched_at_ms.asc())
                .select(r::fetched_at_ms)
                .first(conn)
                .optional()?
        });
        Ok(found)
    }

    /// The sources of `project` with failed fetches not yet recovered,
    /// newest failure first (from its newest 5,000 such fetches).
    pub fn breaks(conn: &mut AnyConnection, project: ProjectId) -> StoreResult<Vec<Break>> {
        type Failure = (String, String, Option<String>, i64, Option<String>, Option<String>);
        let failed: Vec<Failure> = db_run!(conn: {
            r::table
                .filter(r::project_id.eq(project.0))
                .filter(r::outcome.eq("parse"))
                .filter(r::page.eq(0))
                .filter(r::recovered_at_ms.is_null())
                .order(r::id.desc())
                .limit(5_000)
                .select((r::platform, r::external_ref, r::metric, r::fetched_at_ms, r::error, r::proposals))
                .load(conn)?
        });
        let mut out: Vec<Break> = Vec::new();
        for (platform, external_ref, metric, at, error, proposals) in failed {
            match out.iter_mut().find(|b| b.platform == platform && b.external_ref == external_ref) {
                Some(b) => {
                    b.failures += 1;
                    b.since_ms = b.since_ms.min(at);
                    if b.proposals.is_none() && b.metric == metric {
                        b.proposals = proposals;
                    }
                }
                None => out.push(Break {
                    platform,
                    external_ref,
                    metric,
                    since_ms: at,
                    last_failed_ms: at,
                    failures: 1,
                    error,
                    proposals,
                    last_ok_ms: None,
                }),
            }
        }
        for b in &mut out {
            b.last_ok_ms = db_run!(conn: {
                r::table
                    .filter(r::project_id.eq(project.0))
                    .filter(r::platform.eq(&b.platform))
                    .filter(r::external_ref.eq(&b.external_ref))
                    .filter(r::outcome.eq("ok"))
                    .order(r::id.desc())
                    .select(r::fetched_at_ms)
                    .first::<i64>(conn)
                    .optional()?
            });
        }
        Ok(out)
    }

    /// Marks answers as read by a re-parse, and the failed runs they belong
    /// to as recovered.
    pub fn mark_recovered(conn: &mut AnyConnection, ids: &[i64], runs: &[RunId], now_ms: i64) -> StoreResult<()> {
        let run_ids: Vec<i64> = runs.iter().map(|r| r.0).collect();
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            for chunk in ids.chunks(500) {
                db_run!(conn: {
                    diesel::update(r::table.filter(r::id.eq_any(chunk)))
                        .set(r::recovered_at_ms.eq(now_ms))
                        .execute(conn)?;
                });
            }
            for chunk in run_ids.chunks(500) {
                db_run!(conn: {
                    diesel::update(runs::table.filter(runs::id.eq_any(chunk)))
                        .set(runs::recovered_at_ms.eq(now_ms))
                        .execute(conn)?;
                });
            }
            Ok(())
        })
    }

    /// What the archive holds: one project's answers, or every one.
    pub fn usage(conn: &mut AnyConnection, project: Option<ProjectId>) -> StoreResult<Usage> {
        let (rows, bytes) = db_run!(conn: {
            let mut q = r::table.into_boxed();
            if let Some(p) = project {
                q = q.filter(r::project_id.eq(p.0));
            }
            q.select((sql::<BigInt>("COUNT(*)"), sql::<BigInt>("CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT)")))
                .get_result::<(i64, i64)>(conn)?
        });
        Ok(Usage { rows, bytes })
    }
}

/// What a trim dropped and left.
struct Trimmed {
    rows: u64,
    bytes: i64,
    rows_left: i64,
    bytes_left: i64,
}

/// Drops the oldest answers of `project` (or of all) until they cost at
/// most `bound` bytes; `known` is what they cost, if the caller knows.
fn trim(conn: &mut AnyConnection, project: Option<i64>, bound: i64, known: Option<Usage>) -> StoreResult<Trimmed> {
    let used = match known {
        Some(k) => k,
        None => Archive::usage(conn, project.map(ProjectId))?,
    };
    let mut over = used.bytes.saturating_sub(bound.max(0));
    let (mut dropped, mut dropped_bytes) = (0, 0i64);
    while over > 0 {
        let oldest: Vec<(i64, i64)> = db_run!(conn: {
            let mut q = r::table.into_boxed();
            if let Some(p) = project {
                q = q.filter(r::project_id.eq(p));
            }
            q.order(r::id.asc()).limit(1_000).select((r::id, r::stored_bytes)).load(conn)?
        });
        if oldest.is_empty() {
            break;
        }
        let mut ids = Vec::new();
        for (id, bytes) in oldest {
            if over <= 0 {
                break;
            }
            ids.push(id);
            over = over.saturating_sub(bytes);
            dropped_bytes = dropped_bytes.saturating_add(bytes);
        }
        dropped += db_run!(conn: { diesel::delete(r::table.filter(r::id.eq_any(&ids))).execute(conn)? }) as u64;
    }
    let rows_left = used.rows.saturating_sub(i64::try_from(dropped).unwrap_or(i64::MAX));
    Ok(Trimmed { rows: dropped, bytes: dropped_bytes, rows_left, bytes_left: used.bytes.saturating_sub(dropped_bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_through_gzip() -> StoreResult<()> {
        let body = "<p>1,234</p>".repeat(1_000).into_bytes();
        let stored = compress(&body)?;
        assert!(stored.len() * 10 < body.len(), "{} bytes from {}", stored.len(), body.len());
        assert_eq!(open(&stored)?, body);
        assert!(open(b"not gzip").is_err());
        Ok(())
    }
}
