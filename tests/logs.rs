//! `TRAWLER_LOG_FORMAT=json`: every line the node writes on standard error
//! is one JSON object with its time, level and node, and a failed run's
//! line carries its project, run, platform and error class as fields.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use common::{server_env, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};
use trawler_domain::now_secs;
use trawler_store::testing::TestDb;

#[test]
fn json_logs_carry_the_node_and_what_each_line_is_about() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_EXCHANGE_RATES", "false"),
            ("TRAWLER_LOG_FORMAT", "json"),
            ("TRAWLER_NODE_NAME", "json-node"),
        ],
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawler"));
    cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).env("RUST_LOG", "warn");
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let child = cmd.spawn()?;
    let mut server = common::Proc { child, addr: String::new(), cleanup: None };
    let stdout = server.child.stdout.take().context("stdout")?;
    let stderr = server.child.stderr.take().context("stderr")?;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split("serving on ").nth(1).map(str::to_owned))
        .ok_or_else(|| anyhow!("the server did not say where it serves"))?;
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let api = Api { client, base: addr };
    wait_until("readiness", Duration::from_secs(30), || Ok(api.get("/readyz")?.0 == 200))?;

    let fault = json!({"target": "kickstarter:logs/lamp", "fault": {"kind": "server_error", "status": 404}});
    reqwest::blocking::Client::new().post(format!("{}/_sim/faults", sim.addr)).json(&fault).send()?;
    let body = json!({"name": "logged", "sources": [{"platform": "kickstarter", "external_ref": "logs/lamp"}]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().context("id")?;
    let mut failed = Value::Null;
    wait_until("the failed run's line", Duration::from_secs(20), || {
        let lines = lines.lock().unwrap_or_else(|p| p.into_inner());
        failed = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["project"] == id && l["run"].is_number())
            .unwrap_or(Value::Null);
        Ok(!failed.is_null())
    })?;
    ensure!(failed["level"] == "WARN" && failed["node"] == "json-node", "{failed}");
    ensure!(failed["platform"] == "kickstarter" && failed["error_kind"] == "http_status", "{failed}");
    ensure!(failed["message"].as_str().is_some_and(|m| m.contains("failed") && m.contains("404")), "{failed}");
    let run = api.ok(&format!("/api/v1/runs/{}", failed["run"]))?;
    ensure!(run["project_id"] == id && run["status"] == "failed", "the line names the run: {run}");
    drop(server);
    // Every line is a JSON object with its time, level and node.
    let lines = lines.lock().unwrap_or_else(|p| p.into_inner());
    ensure!(!lines.is_empty());
    for line in lines.iter() {
        let v: Value = serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        ensure!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')) && v["level"].is_string(), "{line}");
        ensure!(v["node"] == "json-node", "{line}");
    }
    Ok(())
}
