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
