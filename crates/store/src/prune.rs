//! Operational retention: the rows a running node adds for its own work —
//! runs and their logs, webhook deliveries, finished commands, expired
//! sessions, rows of nodes long gone — are deleted once they are old, so
//! nothing grows without bound under a steady load. Runs and deliveries
//! keep a minimum per project (per webhook) however old: a project scraped
//! once a month still shows its history.
//!
//! Each kind is deleted in batches of bounded size, one statement each, so
//! a large backlog never holds a long lock. Old rows are walked once per
//! pass in (time, id) order; the rows a minimum keeps are skipped, not
//! revisited batch after batch.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::schema::{commands, nodes, sessions};
use crate::{AnyConnection, StoreResult};

/// What a pass deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Finished runs started before this (ms) are deleted; `None` keeps all.
    pub runs_before_ms: Option<i64>,
    /// Newest runs of each project kept however old.
    pub runs_keep: u32,
    /// Delivered or failed webhook deliveries created before this (ms) are
    /// deleted; `None` keeps all. Pending ones are never deleted.
    pub deliveries_before_ms: Option<i64>,
    /// Newest deliveries of each webhook kept however old.
    pub deliveries_keep: u32,
    /// Commands done before this (ms) are deleted.
    pub commands_before_ms: i64,
    /// Sessions that expired before this (ms) are deleted.
    pub sessions_before_ms: i64,
    /// Rows of nodes whose last heartbeat is older than this (ms) are
    /// deleted; `None` keeps them.
    pub nodes_before_ms: Option<i64>,
    /// Monitor alerts recovered, and spans of the timeline ended, before
    /// this (ms) are deleted; `None` keeps them (open ones always stay).
    pub alerts_before_ms: Option<i64>,
    /// Audit entries written before this (ms) are deleted; `None` keeps them.
    pub audit_before_ms: Option<i64>,
    /// Rows per statement.
    pub batch: u32,
}

impl Policy {
    /// A pass that deletes nothing, in batches of `batch`: the start of a
    /// policy that deletes one kind.
    pub fn nothing(batch: u32) -> Policy {
        Policy {
            runs_before_ms: None,
            runs_keep: 0,
            deliveries_before_ms: None,
            deliveries_keep: 0,
            commands_before_ms: i64::MIN,
            sessions_before_ms: i64::MIN,
            nodes_before_ms: None,
            alerts_before_ms: None,
            audit_before_ms: None,
            batch,
        }
    }
}

/// How many rows a pass deleted, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Runs, with their logs.
    pub runs: u64,
    /// Webhook deliveries.
    pub deliveries: u64,
    /// Finished commands.
    pub commands: u64,
    /// Expired sessions.
    pub sessions: u64,
    /// Node rows.
    pub nodes: u64,
    /// Recovered monitor alerts.
    pub alerts: u64,
    /// Ended spans of the timeline.
    pub timeline: u64,
    /// Audit entries.
    pub audit: u64,
}

impl Pruned {
    /// Adds another pass's counts.
    pub fn add(&mut self, other: Pruned) {
        self.runs += other.runs;
        self.deliveries += other.deliveries;
        self.commands += other.commands;
        self.sessions += other.sessions;
        self.nodes += other.nodes;
        self.alerts += other.alerts;
        self.timeline += other.timeline;
        self.audit += other.audit;
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.runs
            + self.deliveries
            + self.commands
            + self.sessions
            + self.nodes
            + self.alerts
            + self.timeline
            + self.audit
    }
}

/// A table whose old rows go, newest `keep` of each group excepted.
struct Kept {
    table: &'static str,
    /// The column rows are grouped by for the minimum.
    group: &'static str,
    /// The column the age is read from.
    time: &'static str,
    /// What makes a row finished (only finished rows are deleted).
    done: &'static str,
}

const RUNS: Kept =
    Kept { table: "runs", group: "project_id", time: "started_at_ms", done: "finished_at_ms IS NOT NULL" };

const DELIVERIES: Kept = Kept {
    table: "webhook_deliveries",
    group: "webhook_id",
    time: "created_at_ms",
    done: "status IN ('delivered', 'failed')",
};

#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    at: i64,
}

/// Runs one pass of `policy`.
pub fn prune(conn: &mut AnyConnection, policy: &Policy) -> StoreResult<Pruned> {
    let batch = policy.batch.max(1);
    let mut pruned = Pruned::default();
    if let Some(before) = policy.runs_before_ms {
        pruned.runs = prune_kept(conn, &RUNS, before, policy.runs_keep, batch)?;
    }
    if let Some(before) = policy.deliveries_before_ms {
        pruned.deliveries = prune_kept(conn, &DELIVERIES, before, policy.deliveries_keep, batch)?;
    }
    let (commands_before, sessions_before) = (policy.commands_before_ms, policy.sessions_before_ms);
    pruned.commands = in_batches(batch, || {
        Ok(db_run!(conn: {
            let ids: Vec<i64> = commands::table
                .filter(commands::done_at_ms.lt(commands_before))
                .select(commands::id)
                .limit(i64::from(batch))
                .load(conn)?;
            diesel::delete(commands::table.filter(commands::id.eq_any(&ids))).execute(conn)?
        }))
    })?;
    pruned.sessions = in_batches(batch, || {
        Ok(db_run!(conn: {
            let ids: Vec<String> = sessions::table
                .filter(sessions::expires_at_ms.lt(sessions_before))
                .select(sessions::id_hash)
                .limit(i64::from(batch))
                .load(conn)?;
            diesel::delete(sessions::table.filter(sessions::id_hash.eq_any(&ids))).execute(conn)?
        }))
    })?;
    if let Some(before) = policy.nodes_before_ms {
        pruned.nodes = db_run!(conn: {
            diesel::delete(nodes::table.filter(nodes::heartbeat_at_ms.lt(before))).execute(conn)?
        }) as u64;
    }
    if let Some(before) = policy.alerts_before_ms {
        pruned.alerts = crate::Alert::prune(conn, before)? as u64;
        pruned.timeline = crate::Timeline::prune(conn, before)? as u64;
    }
    if let Some(before) = policy.audit_before_ms {
        pruned.audit = crate::AuditEntry::prune(conn, before)? as u64;
    }
    Ok(pruned)
}

/// Repeats `step` (which deletes at most `batch` rows) until it deletes
/// fewer; returns the rows deleted in all.
fn in_batches(batch: u32, mut step: impl FnMut() -> StoreResult<usize>) -> StoreResult<u64> {
    let mut total = 0u64;
    loop {
        let n = step()?;
        total += n as u64;
        if n < batch as usize {
            return Ok(total);
        }
    }
}

/// Deletes the finished rows of `kind` older than `before`, except the
/// newest `keep` of each group. The SQL is built from the constants above
/// and integers only.
fn prune_kept(conn: &mut AnyConnection, kind: &Kept, before: i64, keep: u32, batch: u32) -> StoreResult<u64> {
    let Kept { table, group, time, done } = kind;
    let mut cursor = (i64::MIN, i64::MIN);
    let mut total = 0u64;
    loop {
        let (at, id) = cursor;
        let select = format!(
            "SELECT id, {time} AS at FROM {table} \
             WHERE {time} < {before} AND {done} AND ({time} > {at} OR ({time} = {at} AND id > {id})) \
             ORDER BY {time}, id LIMIT {batch}"
        );
        let candidates: Vec<Candidate> = db_run!(conn: { diesel::sql_query(&select).load(conn)? });
        let Some(last) = candidates.last() else { return Ok(total) };
        cursor = (last.at, last.id);
        let ids = candidates.iter().map(|c| c.id.to_string()).collect::<Vec<_>>().join(",");
        // Among the candidates, a row goes if `keep` newer rows of its group
        // exist: its id is below the group's keep-th highest id (ids grow
        // with time, and the (group, id) index answers this in one seek).
        let delete = if keep == 0 {
            format!("DELETE FROM {table} WHERE id IN ({ids})")
        } else {
            let offset = keep - 1;
            format!(
                "DELETE FROM {table} WHERE id IN ({ids}) AND id < \
                 (SELECT k.id FROM {table} k WHERE k.{group} = {table}.{group} ORDER BY k.id DESC LIMIT 1 OFFSET {offset})"
            )
        };
        total += db_run!(conn: { diesel::sql_query(&delete).execute(conn)? }) as u64;
        if candidates.len() < batch as usize {
            return Ok(total);
        }
    }
}
