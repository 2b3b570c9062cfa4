//! The upgrade to chunks, through the real binary: a database written by
//! the previous version (every point a row, no chunk tables) is opened by a
//! node, which applies the migration and moves the points into chunks in
//! the background, in batches, while it serves. Series read over HTTP
//! during the move and after it hold every point once; on SQLite and (when
//! `TRAWLER_TEST_DATABASE_URL` is set) PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::{server_env, start_server, Api};
use serde_json::Value;
use trawler_domain::{Metric, Platform, Point, ProjectId};
use trawler_store::testing::TestDb;
use trawler_store::Chunks;

const PROJECTS: i64 = 150;
const DAYS: i64 = 14;
/// The version of migration 13, `series_chunks`.
const CHUNKS_MIGRATION: &str = "20261206000013";

/// The first day of the history: within the raw retention (90 days), so
/// every point is read raw.
fn start() -> i64 {
    let now = trawler_domain::now_secs();
    now - now % 86_400 - (DAYS + 2) * 86_400
}

/// The value of a project's pledged at a tick: rising in steps, repeating.
fn pledged(project: i64, tick: i64) -> f64 {
    (project * 1_000 + (tick / 3) * 25) as f64 / 100.0
}

/// The points a project's pledged series holds, by time.
fn expected(project: i64) -> Vec<(i64, f64)> {
    let start = start();
    (0..DAYS * 288).map(|t| (start + t * 300 + t % 5, pledged(project, t))).collect()
}

/// A series read over HTTP, as (ts, value) pairs of its one platform.
fn read(api: &Api, project: i64, query: &str) -> Result<Vec<(i64, f64)>> {
    let (from, to) = (start(), start() + DAYS * 86_400);
    let body = api.ok(&format!("/api/v1/projects/{project}/series?metric=pledged&from={from}&to={to}{query}"))?;
    let series = body["series"].as_array().cloned().unwrap_or_default();
    ensure!(series.len() == 1, "project {project}: one platform expected: {body}");
    ensure!(body["truncated"] != Value::Bool(true), "project {project}: truncated");
    Ok(series[0]["points"]
        .as_array()
        .map(|a| a.iter().map(|p| (p[0].as_i64().unwrap_or(-1), p[1].as_f64().unwrap_or(f64::NAN))).collect())
        .unwrap_or_default())
}

/// The last value of each hour of `points`.
fn hourly_last(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for &(ts, v) in points {
        let hour = ts - ts.rem_euclid(3600);
        match out.last_mut() {
            Some(last) if last.0 == hour => last.1 = v,
            _ => out.push((hour, v)),
        }
    }
    out
}

fn upgrade(db: &TestDb) -> Result<()> {
    // Back to the schema before the chunks' migration (13).
    let mut reverted = Vec::new();
    while reverted.last().is_none_or(|v: &String| v.as_str() != CHUNKS_MIGRATION) {
        ensure!(reverted.len() < 20, "the chunks' migration was never reverted: {reverted:?}");
        reverted.push(db.revert_last_migration()?);
    }
    let mut conn = db.pool.get()?;
    let mut points = Vec::new();
    for p in 1..=PROJECTS {
        // In that schema's own terms: today's code reads columns added since.
        let created = trawler_domain::now_millis();
        let insert = format!(
            "INSERT INTO projects (id, name, status, created_at_ms, updated_at_ms) \
             VALUES ({p}, 'campaign {p}', 'active', {created}, {created})"
        );
        let old: &mut trawler_store::AnyConnection = &mut conn;
        trawler_store::db_run!(old: { diesel::RunQueryDsl::execute(diesel::sql_query(&insert), old)?; });
        for (ts, value) in expected(p) {
            let metric = Metric::known(Metric::PLEDGED);
            points.push(Point { project_id: ProjectId(p), platform: Platform::Kickstarter, metric, ts, value });
        }
    }
    for batch in points.chunks(20_000) {
        trawler_store::Point::insert_batch(&mut conn, batch)?;
    }
    drop(conn);
    let total = points.len() as i64;

    // The node applies the migration and starts moving the points; reads go
    // on meanwhile, each one checked whole.
    let env = server_env(&db.url, "http://127.0.0.1:9", &[("TRAWLER_FULL_INTERVAL", "1h")]);
    let (_server, api) = start_server(&env)?;
    eprintln!(
        "{:?}: the node serves; head {:?} (head points, chunks)",
        db.pool.backend(),
        Chunks::census(&mut *db.pool.get()?)?
    );
    let census = || -> Result<(i64, i64)> { Ok(Chunks::census(&mut *db.pool.get()?)?) };
    let started = Instant::now();
    let (mut reads, mut during) = (0, 0);
    loop {
        let (head_before, _) = census()?;
        let project = 1 + reads % PROJECTS;
        let want = expected(project);
        let raw = read(&api, project, "")?;
        ensure!(
            raw == want,
            "project {project}: a raw read during the move differs ({} points, {} expected)",
            raw.len(),
            want.len()
        );
        let hourly = read(&api, project, "&step=3600&agg=last")?;
        ensure!(hourly == hourly_last(&want), "project {project}: an hourly read during the move differs");
        let (head_after, chunks) = census()?;
        reads += 1;
        if head_before > 0 && head_before < total && chunks > 0 {
            during += 1;
        }
        if head_after == 0 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the move did not finish: {head_after} points in the head"
        );
    }
    ensure!(during > 0, "no read happened while the move was under way ({reads} reads)");
    // After the move: everything is in chunks, and every series is whole.
    let (head, chunks) = census()?;
    ensure!(head == 0 && chunks >= PROJECTS * 2, "head {head}, chunks {chunks}");
    for project in 1..=PROJECTS {
        ensure!(read(&api, project, "")? == expected(project), "project {project} after the move");
    }
    eprintln!("{:?}: {reads} reads, {during} while the move ran", db.pool.backend());
    Ok(())
}

#[test]
fn an_upgraded_database_moves_into_chunks_while_reads_stay_whole_on_sqlite() -> Result<()> {
    upgrade(&TestDb::sqlite()?)
}

#[test]
fn an_upgraded_database_moves_into_chunks_while_reads_stay_whole_on_postgres() -> Result<()> {
    match TestDb::postgres() {
        Some(db) => upgrade(&db?),
        None => {
            eprintln!("TRAWLER_TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
            Ok(())
        }
    }
}
