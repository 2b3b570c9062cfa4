//! Ingestion through database outages, on a real PostgreSQL cluster that the
//! test starts, crashes (`pg_ctl stop -m immediate`) and restarts: nothing
//! the scrapers produced is lost, nothing is stored twice, and a `kill -9`
//! of trawler itself loses no acknowledged point.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{server_env, start_server, start_sim, wait_until, Api, PgCluster};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

fn ingest_state(api: &Api) -> Result<Value> {
    let actors = api.ok("/api/v1/admin/actors")?;
    actors["actors"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["kind"] == "ingest").cloned())
        .context("no ingest actor")
}

fn spooled_points(api: &Api) -> Result<u64> {
    Ok(ingest_state(api)?["detail"]["spool"]["points"].as_u64().unwrap_or(0))
}

fn create_projects(api: &Api, sim: &str) -> Result<Vec<(i64, &'static str, String)>> {
    let mut out = Vec::new();
    for i in 0..6 {
        let (platform, reference, source) = match i % 3 {
            0 => (
                "kickstarter",
                format!("outage/p{i}"),
                json!({"platform": "kickstarter", "external_ref": format!("outage/p{i}")}),
            ),
            1 => (
                "http_json",
                format!("out-{i}"),
                json!({"platform": "http_json", "external_ref": format!("out-{i}"),
                "options": {"url": format!("{sim}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}}}),
            ),
            _ => (
                "html",
                format!("out-{i}"),
                json!({"platform": "html", "external_ref": format!("out-{i}"),
                "options": {"url": format!("{sim}/html/{{ref}}"), "metrics": {"pledged": ".raised", "backers": ".supporters"}}}),
            ),
        };
        let (status, body) =
            api.send(Method::POST, "/api/v1/projects", Some(json!({"name": reference, "sources": [source]})))?;
        ensure!(status == 201, "{status} {body}");
        out.push((body["id"].as_i64().context("id")?, platform, reference));
    }
    Ok(out)
}

fn data_dir(name: &str) -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("trawler_outage_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn a_database_outage_loses_nothing_and_stores_nothing_twice() -> Result<()> {
    let Some(pg) = PgCluster::start()? else {
        eprintln!("no PostgreSQL binaries: skipping");
        return Ok(());
    };
    let dir = data_dir("pg")?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let env = server_env(
        &pg.url(),
        &sim.addr,
        &[
            ("TRAWLER_DATA_DIR", &dir.to_string_lossy()),
            ("TRAWLER_FULL_INTERVAL", "2s"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_INGEST_FLUSH_INTERVAL", "200ms"),
        ],
    );
    let (mut server, api) = start_server(&env)?;
    let projects = create_projects(&api, &sim.addr)?;
    std::thread::sleep(Duration::from_secs(3));

    // Pull the plug on the database; scraping goes on into the spool.
    pg.crash()?;
    wait_until("points in the spool", Duration::from_secs(20), || Ok(spooled_points(&api)? > 20))?;
    let readyz = api.client.get(format!("{}/readyz", api.base)).send()?;
    ensure!(readyz.status() == 503, "readyz must report the outage");
    let metrics = api.client.get(format!("{}/metrics", api.base)).bearer_auth(common::TOKEN).send()?.text()?;
    let depth = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trawler_spool_points "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    ensure!(depth.is_some_and(|d| d > 0), "the spool depth shows in /metrics: {depth:?}");
    std::thread::sleep(Duration::from_secs(2));
    let spooled = spooled_points(&api)?;

    // The database comes back: the spool drains into it.
    pg.up()?;
    wait_until("the spool to drain", Duration::from_secs(60), || Ok(spooled_points(&api)? == 0))?;
    let ingest = ingest_state(&api)?;
    ensure!(ingest["detail"]["counters"]["replayed"].as_u64() >= Some(spooled), "{ingest}");
    std::thread::sleep(Duration::from_secs(1));
    // Stop gracefully (buffered points are written); values served in the
    // last moments may belong to scrapes cut short, which were never
    // acknowledged, so the check stops a little before.
    let cutoff = trawler_domain::now_secs() - 2;
    let stopped = std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status()?;
    ensure!(stopped.success());
    wait_until("the server to exit", Duration::from_secs(20), || Ok(server.child.try_wait()?.is_some()))?;
    drop(server);

    // Every value the simulator served is stored, once.
    let client = Client::new();
    let mut checked = 0;
    for (id, platform, reference) in &projects {
        let log: Vec<Value> =
            client.get(format!("{}/_sim/log?platform={platform}&reference={reference}", sim.addr)).send()?.json()?;
        let stored = stored_points(&pg.url(), *id)?;
        for entry in log.iter().filter(|e| e["at"].as_i64().is_some_and(|at| at <= cutoff)) {
            let at = entry["at"].as_i64().unwrap_or_default();
            for (metric, value) in entry["values"].as_object().into_iter().flatten() {
                let value = value.as_f64().unwrap_or(f64::NAN);
                let found = stored.iter().any(|(m, ts, v)| m == metric && *ts >= at && *ts - at <= 5 && *v == value);
                ensure!(found, "{platform} {reference}: {metric}={value} served at {at} is not stored");
                checked += 1;
            }
        }
    }
    ensure!(checked > 100, "only {checked} values checked");
    eprintln!("outage: {spooled} points went through the spool; {checked} served values all stored");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `(metric, ts, value)` of every point of a project, in the head and in
/// chunks (the compactor may have moved some), read through the store's
/// export; fails if any (metric, platform, ts) appears twice.
fn stored_points(url: &str, project: i64) -> Result<Vec<(String, i64, f64)>> {
    use diesel::Connection;
    let mut conn = trawler_store::AnyConnection::establish(url)?;
    let id = trawler_domain::ProjectId(project);
    let mut rows = Vec::new();
    let mut cursor = Some(trawler_store::Point::export_start(&mut conn, id, None)?);
    while let Some(c) = cursor {
        let (chunk, next) = trawler_store::Point::export_chunk(&mut conn, id, i64::MIN, i64::MAX, c, 10_000)?;
        rows.extend(chunk);
        cursor = next;
    }
    let keys: BTreeSet<(&str, &str, i64)> =
        rows.iter().map(|r| (r.metric.as_str(), r.platform.as_str(), r.ts)).collect();
    ensure!(keys.len() == rows.len(), "duplicate points for project {project}");
    Ok(rows.into_iter().map(|r| (r.metric, r.ts, r.value)).collect())
}

#[test]
fn kill_9_loses_no_acknowledged_point() -> Result<()> {
    let Some(pg) = PgCluster::start()? else {
        eprintln!("no PostgreSQL binaries: skipping");
        return Ok(());
    };
    let dir = data_dir("kill")?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    // A 2-second chunk span: the compactor moves points every second, so
    // the crash of the database and the kill -9 both strike while it works.
    let extra = [
        ("TRAWLER_DATA_DIR", dir.to_string_lossy().to_string()),
        ("TRAWLER_FULL_INTERVAL", "2s".to_owned()),
        ("TRAWLER_POLL_INTERVAL", "1s".to_owned()),
        ("TRAWLER_CHUNK_SPAN", "2s".to_owned()),
    ];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let env = server_env(&pg.url(), &sim.addr, &extra);
    let (mut server, api) = start_server(&env)?;
    let projects = create_projects(&api, &sim.addr)?;
    std::thread::sleep(Duration::from_secs(2));
    pg.crash()?;
    wait_until("points in the spool", Duration::from_secs(20), || Ok(spooled_points(&api)? > 30))?;
    // kill -9: batches in memory and in the spool.
    server.child.kill()?;
    server.child.wait()?;

    // What was acknowledged through the spool is on disk.
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.join("spool"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            text.push_str(&std::fs::read_to_string(path)?);
        }
    }
    let mut acknowledged = Vec::new();
    for line in text.lines() {
        if let Ok(batch) = serde_json::from_str::<Vec<Value>>(line) {
            acknowledged.extend(batch);
        }
    }
    ensure!(acknowledged.len() > 30, "only {} points in the spool", acknowledged.len());

    // Restart everything: the new process replays the spool.
    pg.up()?;
    let (_server, api) = start_server(&env)?;
    wait_until("the spool to drain", Duration::from_secs(60), || Ok(spooled_points(&api)? == 0))?;
    let mut stored = std::collections::HashMap::new();
    for (id, _, _) in &projects {
        stored.insert(*id, stored_points(&pg.url(), *id)?);
    }
    for p in &acknowledged {
        let id = p["project_id"].as_i64().unwrap_or_default();
        let (metric, ts, value) =
            (p["metric"].as_str().unwrap_or_default(), p["ts"].as_i64().unwrap_or_default(), p["value"].as_f64());
        let found = stored
            .get(&id)
            .is_some_and(|rows| rows.iter().any(|(m, t, v)| m == metric && *t == ts && Some(*v) == value));
        ensure!(found, "acknowledged point lost: {p}");
    }
    let (_, chunks) = {
        use diesel::Connection;
        trawler_store::Chunks::census(&mut trawler_store::AnyConnection::establish(&pg.url())?)?
    };
    ensure!(chunks > 0, "the compactor made no chunk: compaction was not exercised");
    eprintln!("kill -9: {} acknowledged points all stored once; {chunks} chunks", acknowledged.len());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn a_slow_database_holds_the_scrapers_back_with_bounded_memory() -> Result<()> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(pg) = PgCluster::start()? else {
        eprintln!("no PostgreSQL binaries: skipping");
        return Ok(());
    };
    let dir = data_dir("slow")?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let extra = [
        ("TRAWLER_DATA_DIR", dir.to_string_lossy().to_string()),
        ("TRAWLER_FULL_INTERVAL", "1h".to_owned()),
        ("TRAWLER_POLL_INTERVAL", "1s".to_owned()),
        ("TRAWLER_INGEST_BATCH", "50".to_owned()),
        ("TRAWLER_RATE_HTTP_JSON", "1000".to_owned()),
    ];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (server, api) = start_server(&server_env(&pg.url(), &sim.addr, &extra))?;
    for i in 0..60 {
        let source = json!({"platform": "http_json", "external_ref": format!("slow-{i}"),
            "options": {"url": format!("{}/json/{{ref}}", sim.addr), "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}}});
        let (status, _) = api.send(
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": format!("slow {i}"), "sources": [source]})),
        )?;
        ensure!(status == 201);
    }
    std::thread::sleep(Duration::from_secs(2));
    // Make the database slow: hold a lock that blocks every write to points.
    let mut locker = diesel::PgConnection::establish(&pg.url())?;
    locker.batch_execute("BEGIN; LOCK TABLE points IN EXCLUSIVE MODE;")?;
    let before = common::rss_kib(server.child.id())?;
    let mut most_waiting = 0;
    let mut peak = before;
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(500));
        let ingest = ingest_state(&api)?;
        let waiting =
            ingest["mailbox"].as_u64().unwrap_or(0) + ingest["detail"]["waiting_senders"].as_u64().unwrap_or(0);
        most_waiting = most_waiting.max(waiting);
        peak = peak.max(common::rss_kib(server.child.id())?);
    }
    // Scrapers were observed waiting for ingestion, and memory did not run away.
    ensure!(most_waiting >= 10, "only {most_waiting} senders were ever waiting");
    ensure!(peak < before + 64 * 1024, "RSS grew from {before} KiB to {peak} KiB while the database was slow");
    // Release the lock: everything that waited is written.
    locker.batch_execute("COMMIT;")?;
    wait_until("the backlog to clear", Duration::from_secs(30), || {
        let ingest = ingest_state(&api)?;
        Ok(ingest["mailbox"].as_u64() == Some(0) && ingest["detail"]["waiting_senders"].as_u64() == Some(0))
    })?;
    let ingest = ingest_state(&api)?;
    ensure!(ingest["detail"]["counters"]["written"].as_u64() > Some(200), "{ingest}");
    eprintln!("back-pressure: up to {most_waiting} senders waited; RSS {before} -> {peak} KiB");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The scrapers a node runs now, from its `/admin/actors` (answered without
/// the database).
fn scrapers(api: &Api) -> Result<usize> {
    let tree = api.ok("/api/v1/admin/actors")?;
    Ok(tree["actors"].as_array().into_iter().flatten().filter(|a| a["kind"] == "scraper").count())
}

#[test]
fn a_cluster_that_loses_its_database_fences_then_resumes_with_the_same_leases() -> Result<()> {
    let Some(pg) = PgCluster::start()? else {
        eprintln!("no PostgreSQL binaries: skipping");
        return Ok(());
    };
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let node = |name: &str| {
        server_env(
            &pg.url(),
            &sim.addr,
            &[("TRAWLER_NODE_NAME", name), ("TRAWLER_FULL_INTERVAL", "2s"), ("TRAWLER_POLL_INTERVAL", "1s")],
        )
    };
    let (_a, a) = start_server(&node("a"))?;
    let (_b, b) = start_server(&node("b"))?;
    let projects = create_projects(&a, &sim.addr)?;
    wait_until("both nodes run a share", Duration::from_secs(30), || Ok(scrapers(&a)? == 3 && scrapers(&b)? == 3))?;
    let before: Vec<Value> = [&a, &b].iter().map(|api| api.ok("/api/v1/admin/actors")).collect::<Result<_>>()?;

    // The database goes away: neither node can tell whether the other still
    // reaches it, so both stop their scrapers before the lease TTL (10 s).
    pg.crash()?;
    let crashed = std::time::Instant::now();
    wait_until("both nodes fence", Duration::from_secs(15), || Ok(scrapers(&a)? == 0 && scrapers(&b)? == 0))?;
    let fenced_after = crashed.elapsed();
    eprintln!("fenced {fenced_after:?} after the crash");
    // 6 s after each node's last heartbeat, which came at most one round
    // (2 s) before the crash: well before another node could take over
    // (10 s after that heartbeat).
    ensure!(fenced_after >= Duration::from_millis(3_500), "fenced too early: {fenced_after:?}");
    ensure!(fenced_after <= Duration::from_millis(7_500), "fenced too late: {fenced_after:?}");

    // Back: each node takes up the same projects again, nothing moved.
    pg.up()?;
    wait_until("both nodes resume", Duration::from_secs(30), || Ok(scrapers(&a)? == 3 && scrapers(&b)? == 3))?;
    for (api, then) in [(&a, &before[0]), (&b, &before[1])] {
        let projects = |tree: &Value| -> BTreeSet<i64> {
            tree["actors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| x["kind"] == "scraper")
                .filter_map(|x| x["project_id"].as_i64())
                .collect()
        };
        ensure!(projects(&api.ok("/api/v1/admin/actors")?) == projects(then), "a node's projects changed");
    }
    let cluster = a.ok("/api/v1/admin/cluster")?;
    ensure!(cluster["leased"] == 6 && cluster["coordinator"]["lost_total"] == 0, "{cluster}");

    // The projects' series say why they stopped: their node was fenced.
    let from = trawler_domain::now_secs() - crashed.elapsed().as_secs() as i64 - 5;
    wait_until("a gap named node_fenced", Duration::from_secs(15), || {
        for (id, _, _) in &projects {
            let series = a.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={from}&step=1"))?;
            let fenced = series["gaps"].as_array().into_iter().flatten().find(|g| g["cause"] == "node_fenced");
            if let Some(gap) = fenced {
                let reason = gap["reason"].as_str().unwrap_or_default();
                ensure!(reason.contains("node a") || reason.contains("node b"), "{gap}");
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    Ok(())
}
