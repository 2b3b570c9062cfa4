//! Operational retention: old runs, deliveries, commands, sessions and node
//! rows go, the minimum kept per project (per webhook) and everything still
//! in progress stay; on SQLite and (when `TRAWLER_TEST_DATABASE_URL` is set)
//! PostgreSQL.

use anyhow::{ensure, Result};
use serde_json::json;
use trawler_domain::{now_millis, ProjectId, RunKind, RunStatus, RunTrigger};
use trawler_store::prune::{prune, Policy, Pruned};
use trawler_store::testing::TestDb;
use trawler_store::{AnyConnection, Attempt, Command, CommandKind, Delivery, NewWebhook, Node, Project, Run, RunEnd};
use trawler_store::{Session, Webhook};

const DAY_MS: i64 = 86_400_000;

/// Nothing is deleted unless the test's policy says so.
fn keep_all() -> Policy {
    // Small batches, so that every pass takes several.
    Policy::nothing(7)
}

/// A finished run of `project` started `days_ago` days before `now`.
fn finished_run(conn: &mut AnyConnection, project: ProjectId, now: i64, days_ago: i64) -> Result<i64> {
    let run = Run::start_at(conn, project, RunKind::Full, RunTrigger::Schedule, "node-a", now - days_ago * DAY_MS)?;
    let log = format!("run of {days_ago} days ago\n");
    Run::finish(conn, run.id, RunEnd { log: &log, ..RunEnd::new(RunStatus::Succeeded) })?;
    Ok(run.id.0)
}

fn run_ids(conn: &mut AnyConnection, project: ProjectId) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = Run::list_for_project(conn, project, 1000)?.into_iter().map(|r| r.id.0).collect();
    ids.sort_unstable();
    Ok(ids)
}

#[test]
fn old_runs_go_but_each_project_keeps_its_newest_and_running_ones() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let now = now_millis();
        let (busy, _) = Project::create(&mut conn, "busy", &[])?;
        let (quiet, _) = Project::create(&mut conn, "quiet", &[])?;
        // A run left running 100 days ago (its node died): never pruned here.
        let stuck =
            Run::start_at(&mut conn, busy.id, RunKind::Full, RunTrigger::Schedule, "node-a", now - 100 * DAY_MS)?;
        // 40 old runs (79 to 40 days ago), then 10 recent ones (9 to 0).
        let mut old = Vec::new();
        for days_ago in (40..80).rev() {
            old.push(finished_run(&mut conn, busy.id, now, days_ago)?);
        }
        let mut recent = Vec::new();
        for days_ago in (0..10).rev() {
            recent.push(finished_run(&mut conn, busy.id, now, days_ago)?);
        }
        // The quiet project ran 5 times, long ago.
        let mut quiet_runs = Vec::new();
        for days_ago in [200, 150, 120, 90, 60] {
            quiet_runs.push(finished_run(&mut conn, quiet.id, now, days_ago)?);
        }

        let policy = Policy { runs_before_ms: Some(now - 30 * DAY_MS), runs_keep: 20, ..keep_all() };
        let pruned = prune(&mut conn, &policy)?;
        ensure!(pruned == Pruned { runs: 30, ..Pruned::default() }, "{:?}: pruned {pruned:?}", db.pool.backend());

        // busy keeps the stuck run, its 10 recent runs and the 10 newest old
        // ones (20 in all, however old); quiet keeps all 5 (fewer than 20).
        let mut expected = vec![stuck.id.0];
        expected.extend(&old[30..]);
        expected.extend(&recent);
        expected.sort_unstable();
        ensure!(
            run_ids(&mut conn, busy.id)? == expected,
            "{:?}: busy kept {:?}",
            db.pool.backend(),
            run_ids(&mut conn, busy.id)?
        );
        ensure!(run_ids(&mut conn, quiet.id)? == quiet_runs, "{:?}: quiet lost runs", db.pool.backend());
        // A kept run still has its log.
        let kept = Run::get(&mut conn, trawler_domain::RunId(old[30]))?;
        ensure!(kept.log == "run of 49 days ago\n", "{:?}: log {:?}", db.pool.backend(), kept.log);

        // A second pass finds nothing more to do.
        ensure!(prune(&mut conn, &policy)? == Pruned::default(), "{:?}: second pass deleted", db.pool.backend());

        // With no minimum, every old finished run goes; the stuck one stays.
        let pruned = prune(&mut conn, &Policy { runs_keep: 0, ..policy })?;
        ensure!(pruned.runs == 15, "{:?}: pruned {pruned:?} with no minimum", db.pool.backend());
        let mut expected = vec![stuck.id.0];
        expected.extend(&recent);
        ensure!(
            run_ids(&mut conn, busy.id)? == expected,
            "{:?}: busy kept {:?}",
            db.pool.backend(),
            run_ids(&mut conn, busy.id)?
        );
        ensure!(run_ids(&mut conn, quiet.id)?.is_empty(), "{:?}: quiet kept old runs", db.pool.backend());
    }
    Ok(())
}

#[test]
fn old_deliveries_go_but_pending_ones_and_each_webhooks_newest_stay() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let hook = |url: &str| NewWebhook {
            url: url.into(),
            secret: "s3cret".into(),
            events: vec!["*".into()],
            description: String::new(),
        };
        let busy = Webhook::create(&mut conn, &hook("http://127.0.0.1:1/busy"))?;
        let quiet = Webhook::create(&mut conn, &hook("http://127.0.0.1:1/quiet"))?;
        let payload = json!({"event": "run.failed"});
        // Three deliveries still pending (the oldest), then 150 delivered
        // and 10 failed for good; the quiet webhook has 10 delivered.
        let mut pending = Vec::new();
        for _ in 0..3 {
            pending.push(Delivery::enqueue_to(&mut conn, &busy, "run.failed", None, &payload)?);
        }
        for i in 0..160 {
            let id = Delivery::enqueue_to(&mut conn, &busy, "run.failed", None, &payload)?;
            let attempt = if i % 16 == 0 {
                Attempt::Failed { status: Some(500), error: "HTTP 500".into(), retry_at_ms: None }
            } else {
                Attempt::Delivered { status: 200 }
            };
            Delivery::record(&mut conn, id, &attempt)?;
        }
        for _ in 0..10 {
            let id = Delivery::enqueue_to(&mut conn, &quiet, "run.failed", None, &payload)?;
            Delivery::record(&mut conn, id, &Attempt::Delivered { status: 200 })?;
        }

        // Everything is old by this cutoff.
        let now = now_millis();
        let policy = Policy { deliveries_before_ms: Some(now + 1_000), deliveries_keep: 100, ..keep_all() };
        let pruned = prune(&mut conn, &policy)?;
        ensure!(pruned == Pruned { deliveries: 60, ..Pruned::default() }, "{:?}: pruned {pruned:?}", db.pool.backend());
        let left = Delivery::list_for_webhook(&mut conn, busy.id, 1000)?;
        ensure!(left.len() == 103, "{:?}: busy kept {}", db.pool.backend(), left.len());
        for id in &pending {
            ensure!(left.iter().any(|d| d.id == *id), "{:?}: pending delivery {id} was pruned", db.pool.backend());
        }
        ensure!(
            Delivery::list_for_webhook(&mut conn, quiet.id, 1000)?.len() == 10,
            "{:?}: quiet lost",
            db.pool.backend()
        );

        // A cutoff before them all deletes nothing.
        let early = Policy { deliveries_before_ms: Some(now - DAY_MS), deliveries_keep: 0, ..policy };
        ensure!(prune(&mut conn, &early)? == Pruned::default(), "{:?}: young deliveries went", db.pool.backend());
        // No minimum: only the pending ones are left.
        let pruned = prune(&mut conn, &Policy { deliveries_keep: 0, ..policy })?;
        ensure!(pruned.deliveries == 110, "{:?}: pruned {pruned:?} with no minimum", db.pool.backend());
        let left: Vec<i64> = Delivery::list_for_webhook(&mut conn, busy.id, 1000)?.iter().map(|d| d.id).rev().collect();
        ensure!(left == pending, "{:?}: left {left:?}", db.pool.backend());
    }
    Ok(())
}

#[test]
fn done_commands_expired_sessions_and_silent_nodes_go() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let now = now_millis();
        let (project, _) = Project::create(&mut conn, "p", &[])?;
        let waiting = Command::queue(&mut conn, "node-a", "i1", project.id, CommandKind::Trigger, None)?;
        let done_long_ago = Command::queue(&mut conn, "node-a", "i1", project.id, CommandKind::Trigger, None)?;
        Command::finish(&mut conn, done_long_ago, r#"{"ok":true}"#, now - 2 * DAY_MS)?;
        let done_now = Command::queue(&mut conn, "node-a", "i1", project.id, CommandKind::Trigger, None)?;
        Command::finish(&mut conn, done_now, r#"{"ok":true}"#, now)?;

        Session::create(&mut conn, "live", "csrf-1", 3_600_000)?;
        Session::create(&mut conn, "ended", "csrf-2", -1_000)?;

        Node::heartbeat(&mut conn, "gone", "i0", "0.1.0", now - 30 * DAY_MS, now - 10 * DAY_MS, None)?;
        Node::heartbeat(&mut conn, "here", "i1", "0.1.0", now - DAY_MS, now, None)?;

        let policy = Policy {
            commands_before_ms: now - DAY_MS,
            sessions_before_ms: now,
            nodes_before_ms: Some(now - 7 * DAY_MS),
            ..keep_all()
        };
        let pruned = prune(&mut conn, &policy)?;
        ensure!(
            pruned == Pruned { commands: 1, sessions: 1, nodes: 1, ..Pruned::default() },
            "{:?}: pruned {pruned:?}",
            db.pool.backend()
        );
        ensure!(Command::outcome(&mut conn, done_now)?.is_some(), "{:?}: a fresh outcome went", db.pool.backend());
        let pending = Command::pending(&mut conn, "node-a", "i1", 3_600_000)?;
        ensure!(
            pending.iter().map(|c| c.id).collect::<Vec<_>>() == [waiting],
            "{:?}: pending {pending:?}",
            db.pool.backend()
        );
        ensure!(Session::get(&mut conn, "live")?.is_some(), "{:?}: a live session went", db.pool.backend());
        let nodes: Vec<String> = Node::list(&mut conn)?.into_iter().map(|n| n.name).collect();
        ensure!(nodes == ["here"], "{:?}: nodes {nodes:?}", db.pool.backend());
        ensure!(prune(&mut conn, &policy)? == Pruned::default(), "{:?}: second pass deleted", db.pool.backend());
    }
    Ok(())
}
