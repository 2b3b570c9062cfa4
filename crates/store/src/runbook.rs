//! Run bookkeeping in batches: many starts and ends of runs recorded in one
//! transaction, one commit for the lot. On PostgreSQL a batch is two
//! statements (its starts, then its ends, each over arrays); on SQLite, where
//! a statement is a call and not a round trip, one statement per entry.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use trawler_domain::{now_millis, ProjectId, RunId, RunKind, RunStatus, RunTrigger};

use crate::run::{clip_log, RunRow};
use crate::{AnyConnection, Run, RunEnd, StoreError, StoreResult};

/// How a run ended, owning its text: an entry of [`Run::book`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRunEnd {
    /// Its outcome.
    pub status: RunStatus,
    /// `(kind, message)` of its first error.
    pub error: Option<(String, String)>,
    /// Points it handed to ingestion.
    pub points_written: i64,
    /// Its log.
    pub log: String,
    /// When its first request passed the platform's gate, epoch ms.
    pub fetch_started_at_ms: Option<i64>,
}

impl OwnedRunEnd {
    /// An end with no points, no log and no fetch.
    pub fn new(status: RunStatus) -> OwnedRunEnd {
        OwnedRunEnd { status, error: None, points_written: 0, log: String::new(), fetch_started_at_ms: None }
    }

    /// The end as [`Run::finish`] takes it.
    pub fn as_end(&self) -> RunEnd<'_> {
        RunEnd {
            status: self.status,
            error: self.error.as_ref().map(|(k, m)| (k.as_str(), m.as_str())),
            points_written: self.points_written,
            log: &self.log,
            fetch_started_at_ms: self.fetch_started_at_ms,
        }
    }
}

/// One piece of run bookkeeping for [`Run::book`].
#[derive(Debug, Clone, PartialEq)]
pub enum Booking {
    /// A run starts (on the node the batch names).
    Start {
        /// The project scraped.
        project: ProjectId,
        /// Full scrape or fast poll.
        kind: RunKind,
        /// Schedule or manual trigger.
        trigger: RunTrigger,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// A run ends.
    Finish {
        /// Which run.
        run: RunId,
        /// How.
        end: OwnedRunEnd,
    },
}

/// What [`Run::book`] did with one entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Booked {
    /// The run started, with its row.
    Started(Run),
    /// The run's end is recorded.
    Finished,
}

/// Starts of runs, one row per element of the arrays.
const START_MANY: &str = "INSERT INTO runs (project_id, kind, triggered_by, status, started_at_ms, points_written, log, node) \
     SELECT v.project_id, v.kind, v.triggered_by, 'running', v.started_at_ms, 0, '', $5 \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS v(project_id, kind, triggered_by, started_at_ms) \
     RETURNING *";

/// Ends of runs, one per element of the arrays; returns the ids found.
const FINISH_MANY: &str = "UPDATE runs SET status = v.status, finished_at_ms = $8, error = v.error, \
     error_kind = v.error_kind, points_written = v.points_written, log = v.log, \
     fetch_started_at_ms = v.fetch_started_at_ms \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[]) \
       AS v(run_id, status, error, error_kind, points_written, log, fetch_started_at_ms) \
     WHERE runs.id = v.run_id RETURNING runs.id";

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

impl Run {
    /// Records many starts and ends of runs on `node` in one transaction:
    /// one commit for the lot instead of one per row. Answers each entry,
    /// in order. If the transaction fails, each entry is tried again alone,
    /// so one bad entry (a project deleted meanwhile) fails alone, with its
    /// own error.
    pub fn book(conn: &mut AnyConnection, node: &str, entries: &[Booking]) -> Vec<StoreResult<Booked>> {
        let together = crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            if let AnyConnection::Postgresql(pg) = conn {
                return book_pg(pg, node, entries);
            }
            entries.iter().map(|e| book_one(conn, node, e)).collect::<StoreResult<Vec<Booked>>>()
        });
        match together {
            Ok(booked) => booked.into_iter().map(Ok).collect(),
            Err(_) if entries.len() > 1 => entries.iter().map(|e| book_one(conn, node, e)).collect(),
            Err(e) => vec![Err(e)],
        }
    }
}

fn book_one(conn: &mut AnyConnection, node: &str, entry: &Booking) -> StoreResult<Booked> {
    match entry {
        Booking::Start { project, kind, trigger, at_ms } => {
            Run::start_at(conn, *project, *kind, *trigger, node, *at_ms).map(Booked::Started)
        }
        Booking::Finish { run, end } => Run::finish(conn, *run, end.as_end()).map(|()| Booked::Finished),
    }
}

/// A batch on PostgreSQL: its starts in one statement, its ends in another.
/// An end of a run that does not exist fails the whole batch (it is then
/// retried entry by entry and fails alone).
fn book_pg(pg: &mut diesel::PgConnection, node: &str, entries: &[Booking]) -> StoreResult<Vec<Booked>> {
    let mut booked: Vec<Option<Booked>> = entries.iter().map(|_| None).collect();
    let starts: Vec<(usize, ProjectId, RunKind, RunTrigger, i64)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Booking::Start { project, kind, trigger, at_ms } => Some((i, *project, *kind, *trigger, *at_ms)),
            Booking::Finish { .. } => None,
        })
        .collect();
    if !starts.is_empty() {
        let rows: Vec<RunRow> = diesel::sql_query(START_MANY)
            .bind::<Array<BigInt>, _>(starts.iter().map(|s| s.1 .0).collect::<Vec<i64>>())
            .bind::<Array<Text>, _>(starts.iter().map(|s| s.2.as_str()).collect::<Vec<&str>>())
            .bind::<Array<Text>, _>(starts.iter().map(|s| s.3.as_str()).collect::<Vec<&str>>())
            .bind::<Array<BigInt>, _>(starts.iter().map(|s| s.4).collect::<Vec<i64>>())
            .bind::<Text, _>(node)
            .load(pg)?;
        // Rows come back in no promised order: each start takes a row with
        // its own values (two starts with the same values get rows that
        // differ only in their ids, either way round).
        let mut by_key: HashMap<(ProjectId, RunKind, RunTrigger, i64), Vec<Run>> = HashMap::new();
        for row in rows {
            let run = Run::try_from(row)?;
            by_key.entry((run.project_id, run.kind, run.triggered_by, run.started_at_ms)).or_default().push(run);
        }
        for (i, project, kind, trigger, at_ms) in starts {
            let run = by_key.get_mut(&(project, kind, trigger, at_ms)).and_then(Vec::pop);
            let run = run.ok_or_else(|| StoreError::Corrupt("a run's start was not returned".into()))?;
            booked[i] = Some(Booked::Started(run));
        }
    }
    let finishes: Vec<(usize, RunId, &OwnedRunEnd)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Booking::Finish { run, end } => Some((i, *run, end)),
            Booking::Start { .. } => None,
        })
        .collect();
    if !finishes.is_empty() {
        let found: Vec<IdRow> = diesel::sql_query(FINISH_MANY)
            .bind::<Array<BigInt>, _>(finishes.iter().map(|f| f.1 .0).collect::<Vec<i64>>())
            .bind::<Array<Text>, _>(finishes.iter().map(|f| f.2.status.as_str()).collect::<Vec<&str>>())
            .bind::<Array<Nullable<Text>>, _>(
                finishes.iter().map(|f| f.2.error.as_ref().map(|e| e.1.as_str())).collect::<Vec<Option<&str>>>(),
            )
            .bind::<Array<Nullable<Text>>, _>(
                finishes.iter().map(|f| f.2.error.as_ref().map(|e| e.0.as_str())).collect::<Vec<Option<&str>>>(),
            )
            .bind::<Array<BigInt>, _>(finishes.iter().map(|f| f.2.points_written).collect::<Vec<i64>>())
            .bind::<Array<Text>, _>(finishes.iter().map(|f| clip_log(&f.2.log)).collect::<Vec<String>>())
            .bind::<Array<Nullable<BigInt>>, _>(
                finishes.iter().map(|f| f.2.fetch_started_at_ms).collect::<Vec<Option<i64>>>(),
            )
            .bind::<BigInt, _>(now_millis())
            .load(pg)?;
        let found: HashSet<i64> = found.into_iter().map(|r| r.id).collect();
        for (i, run, _) in finishes {
            if !found.contains(&run.0) {
                return Err(StoreError::NotFound("run"));
            }
            booked[i] = Some(Booked::Finished);
        }
    }
    booked.into_iter().map(|b| b.ok_or_else(|| StoreError::Corrupt("a booking was not answered".into()))).collect()
}
