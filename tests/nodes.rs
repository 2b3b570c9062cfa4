//! The node registry on the real binary: a node heartbeats and shows in
//! `/admin/cluster`; a second node on the same SQLite file, or a second
//! process under the same name, refuses to start with a one-line reason; a
//! node stopped cleanly frees the database at once.

mod common;

use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until};

/// Runs `trawler serve` expecting it to refuse; returns its stderr.
fn refused(env: &[(&'static str, String)]) -> Result<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawler"));
    cmd.arg("serve").env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    ensure!(!out.status.success(), "the second node started");
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn with_name(env: &[(&'static str, String)], name: &str) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    env.retain(|(k, _)| *k != "TRAWLER_NODE_NAME");
    env.push(("TRAWLER_NODE_NAME", name.to_owned()));
    env
}

#[test]
fn one_node_per_sqlite_file_and_the_registry_says_who_runs() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(&db.url, &sim.addr, &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h")]);
    let (mut alpha, api) = start_server(&with_name(&env, "alpha"))?;
    let cluster = api.ok("/api/v1/admin/cluster")?;
    ensure!(cluster["node"] == "alpha" && cluster["backend"] == "sqlite", "{cluster}");
    let nodes = cluster["nodes"].as_array().ok_or_else(|| anyhow!("no nodes: {cluster}"))?;
    ensure!(nodes.len() == 1 && nodes[0]["alive"] == true && nodes[0]["this_node"] == true, "{cluster}");
    ensure!(nodes[0]["scrapers"] == 0, "{cluster}");
    ensure!(api.ok("/api/v1/admin/actors")?["node"] == "alpha");
    // Heartbeats move on.
    let first = nodes[0]["heartbeat_at_ms"].as_i64().unwrap_or_default();
    wait_until("a later heartbeat", Duration::from_secs(10), || {
        Ok(api.ok("/api/v1/admin/cluster")?["nodes"][0]["heartbeat_at_ms"].as_i64() > Some(first))
    })?;

    // A second node on the same file, or a second `alpha`: refused, saying why.
    let second = server_env(&db.url, &sim.addr, &[]);
    let err = refused(&with_name(&second, "beta"))?;
    ensure!(err.contains("SQLite serves one node, and node `alpha` is running on"), "{err}");
    ensure!(err.lines().filter(|l| l.starts_with("error")).count() <= 1, "one line: {err}");
    let err = refused(&with_name(&second, "alpha"))?;
    ensure!(err.contains("a node named `alpha` is already running on this database"), "{err}");
    ensure!(api.ok("/readyz").is_ok(), "the first node is untouched");

    // Stopped cleanly, alpha frees the file at once; beta starts and lists both.
    let term = Command::new("kill").args(["-TERM", &alpha.child.id().to_string()]).status()?;
    ensure!(term.success());
    ensure!(alpha.child.wait()?.success(), "alpha exits 0");
    let (_beta, api) = start_server(&with_name(&second, "beta"))?;
    // Its first heartbeat writes its row, moments after it is ready.
    wait_until("beta's first heartbeat", Duration::from_secs(10), || {
        Ok(api.ok("/api/v1/admin/cluster")?["nodes"].as_array().is_some_and(|n| n.len() == 2))
    })?;
    let cluster = api.ok("/api/v1/admin/cluster")?;
    let nodes = cluster["nodes"].as_array().ok_or_else(|| anyhow!("no nodes: {cluster}"))?;
    ensure!(nodes.len() == 2, "{cluster}");
    ensure!(
        nodes[0]["name"] == "alpha" && nodes[0]["alive"] == false && nodes[0]["stopped_at_ms"].is_i64(),
        "{cluster}"
    );
    ensure!(nodes[1]["name"] == "beta" && nodes[1]["alive"] == true && nodes[1]["this_node"] == true, "{cluster}");
    Ok(())
}

/// libfaketime, to run a node with a clock that is off.
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A node whose clock runs a minute ahead judges the others by the
/// database's clock: it sees them alive, takes only its share, and the
/// others keep theirs (before, it saw every other heartbeat as a minute old
/// and took every lease).
#[test]
fn a_node_whose_clock_is_off_takes_only_its_share() -> Result<()> {
    let Some(db) = trawler_store::testing::TestDb::postgres() else {
        return Ok(());
    };
    let db = db?;
    if !std::path::Path::new(FAKETIME).exists() {
        ensure!(std::env::var_os("TRAWLER_REQUIRE_FAKETIME").is_none(), "libfaketime is required but missing");
        eprintln!("libfaketime is not installed; the clock-skew test is skipped");
        return Ok(());
    }
    let quiet = [("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h")];
    let (_a, api_a) = start_server(&with_name(&server_env(&db.url, "http://127.0.0.1:9", &quiet), "a"))?;
    for i in 0..10 {
        let body = serde_json::json!({"name": format!("skew-{i}"), "sources": [{"platform": "http_json",
            "external_ref": format!("s{i}"), "options": {"url": "http://127.0.0.1:9/x", "metrics": {"pledged": "/v"}}}]});
        let (status, p) = api_a.send(reqwest::Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
    }
    wait_until("a to lease all ten", Duration::from_secs(20), || {
        Ok(api_a.ok("/api/v1/admin/cluster")?["leased"] == 10)
    })?;
    let mut env_b = with_name(&server_env(&db.url, "http://127.0.0.1:9", &quiet), "b");
    env_b.extend([
        ("LD_PRELOAD", FAKETIME.to_owned()),
        ("FAKETIME", "+60s".to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ]);
    let (_b, api_b) = start_server(&env_b)?;
    let leases = |view: &serde_json::Value, name: &str| {
        view["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["name"] == name)
            .map(|n| (n["alive"] == true, n["leases"].as_i64()))
    };
    let mut view = serde_json::Value::Null;
    wait_until("even shares", Duration::from_secs(30), || {
        view = api_b.ok("/api/v1/admin/cluster")?;
        let a_held = leases(&api_a.ok("/api/v1/admin/cluster")?, "a").and_then(|(_, n)| n).unwrap_or(0);
        ensure!(a_held >= 4, "a lost more than its share to the skewed node: {a_held} left");
        Ok(leases(&view, "a") == Some((true, Some(5))) && leases(&view, "b") == Some((true, Some(5))))
    })
    .map_err(|e| anyhow!("{e}; b's view: {view}"))?;
    ensure!(view["coordinator"]["nodes_alive"] == 2, "b sees two live nodes: {view}");
    Ok(())
}
