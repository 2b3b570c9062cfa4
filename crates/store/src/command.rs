//! Commands for the node that owns a project (cluster mode). The node that
//! received an HTTP request queues a command for the owner; the owner polls
//! its own, carries each out on its actors and writes the outcome back,
//! which the first node waits for to answer its client.

use diesel::prelude::*;

use crate::schema::commands;
use crate::{AnyConnection, StoreResult};
use trawler_domain::{ProjectId, RunId};

/// What the owner is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// Start a full scrape now (or join the one running).
    Trigger,
    /// Cancel a running run.
    Cancel,
    /// Stop the project's scraper and polls (archived).
    Stop,
    /// Re-read the project's sources (edited).
    Reload,
    /// Answer with the node's supervision tree (no project: id 0).
    Snapshot,
}

impl CommandKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Trigger => "trigger",
            CommandKind::Cancel => "cancel",
            CommandKind::Stop => "stop",
            CommandKind::Reload => "reload",
            CommandKind::Snapshot => "snapshot",
        }
    }

    fn parse(s: &str) -> Option<CommandKind> {
        Some(match s {
            "trigger" => CommandKind::Trigger,
            "cancel" => CommandKind::Cancel,
            "stop" => CommandKind::Stop,
            "reload" => CommandKind::Reload,
            "snapshot" => CommandKind::Snapshot,
            _ => return None,
        })
    }
}

/// A command waiting for its node.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Its id.
    pub id: i64,
    /// The project.
    pub project_id: ProjectId,
    /// What to do.
    pub kind: CommandKind,
    /// The run, for `cancel`.
    pub run_id: Option<RunId>,
    /// When it was queued, epoch ms.
    pub created_at_ms: i64,
}

impl Command {
    /// Queues a command for the process `instance` of `node`, stamped with
    /// the database's clock; returns its id.
    pub fn queue(
        conn: &mut AnyConnection,
        node: &str,
        instance: &str,
        project: ProjectId,
        kind: CommandKind,
        run: Option<RunId>,
    ) -> StoreResult<i64> {
        let now = crate::Node::clock(conn)?;
        Ok(db_run!(conn: {
            diesel::insert_into(commands::table)
                .values((
                    commands::node.eq(node),
                    commands::instance.eq(Some(instance)),
                    commands::project_id.eq(project.0),
                    commands::kind.eq(kind.as_str()),
                    commands::run_id.eq(run.map(|r| r.0)),
                    commands::created_at_ms.eq(now),
                ))
                .returning(commands::id)
                .get_result(conn)?
        }))
    }

    /// The commands waiting for the process `instance` of `node`, oldest
    /// first. Commands older than `max_age_ms` by the database's clock (their
    /// sender stopped waiting) or meant for another instance of the node (a
    /// process that is gone) are refused first: they end with
    /// `{"error":"stale"}` and are never carried out.
    pub fn pending(conn: &mut AnyConnection, node: &str, instance: &str, max_age_ms: i64) -> StoreResult<Vec<Command>> {
        let now = crate::Node::clock(conn)?;
        db_run!(conn: {
            diesel::update(
                commands::table
                    .filter(commands::node.eq(node))
                    .filter(commands::done_at_ms.is_null())
                    .filter(commands::created_at_ms.lt(now - max_age_ms).or(commands::instance.ne(instance))),
            )
            .set((commands::done_at_ms.eq(Some(now)), commands::outcome.eq(Some(r#"{"error":"stale"}"#))))
            .execute(conn)?
        });
        type Row = (i64, i64, String, Option<i64>, i64);
        let rows: Vec<Row> = db_run!(conn: {
            commands::table
                .filter(commands::node.eq(node))
                .filter(commands::done_at_ms.is_null())
                .order(commands::id)
                .select((
                    commands::id,
                    commands::project_id,
                    commands::kind,
                    commands::run_id,
                    commands::created_at_ms,
                ))
                .limit(1000)
                .load(conn)?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, project, kind, run, created_at_ms)| {
                Some(Command {
                    id,
                    project_id: ProjectId(project),
                    kind: CommandKind::parse(&kind)?,
                    run_id: run.map(RunId),
                    created_at_ms,
                })
            })
            .collect())
    }

    /// Records a command's outcome (a short JSON text).
    pub fn finish(conn: &mut AnyConnection, id: i64, outcome: &str, now_ms: i64) -> StoreResult<()> {
        db_run!(conn: {
            diesel::update(commands::table.find(id))
                .set((commands::done_at_ms.eq(Some(now_ms)), commands::outcome.eq(Some(outcome))))
                .execute(conn)?;
        });
        Ok(())
    }

    /// A command's outcome once it is done.
    pub fn outcome(conn: &mut AnyConnection, id: i64) -> StoreResult<Option<String>> {
        let row: Option<Option<String>> = db_run!(conn: {
            commands::table.find(id).select(commands::outcome).first(conn).optional()?
        });
        Ok(row.flatten())
    }

    /// Marks the commands waiting for a node that is gone as done, so a
    /// node restarting under that name does not replay stale requests, and
    /// deletes done commands older than `before_ms`.
    pub fn expire(conn: &mut AnyConnection, gone: &[String], before_ms: i64, now_ms: i64) -> StoreResult<usize> {
        let outcome = r#"{"error":"node_gone"}"#;
        Ok(db_run!(conn: {
            let n = diesel::update(
                commands::table.filter(commands::node.eq_any(gone)).filter(commands::done_at_ms.is_null()),
            )
            .set((commands::done_at_ms.eq(Some(now_ms)), commands::outcome.eq(Some(outcome))))
            .execute(conn)?;
            diesel::delete(commands::table.filter(commands::done_at_ms.lt(before_ms))).execute(conn)?;
            n
        }))
    }
}
