//! Cancelling a run on the real binary: a scrape hanging on a platform is
//! cancelled, ends `cancelled` within a second, the simulator sees the
//! client go, and the project's next run works. A run past its deadline
//! fails instead of staying `running`.

mod common;

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

fn project(api: &Api, sim: &str, reference: &str) -> Result<i64> {
    let body = json!({"name": reference, "sources": [{"platform": "http_json", "external_ref": reference,
        "options": {"url": format!("{sim}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised"}}}]});
    let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {p}");
    p["id"].as_i64().ok_or_else(|| anyhow!("no id"))
}

fn sim_stats(sim: &str) -> Result<Value> {
    Ok(reqwest::blocking::get(format!("{sim}/_sim/stats"))?.json()?)
}

fn last_run(api: &Api, id: i64) -> Result<Value> {
    Ok(api.ok(&format!("/api/v1/projects/{id}/runs?limit=1"))?["runs"][0].clone())
}

#[test]
fn a_hanging_run_is_cancelled_within_a_second_and_the_next_one_works() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_HTTP_TIMEOUT", "60s"),
            ("TRAWLER_MAX_RETRIES", "0"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let faults = reqwest::blocking::Client::new();
    let resp = faults
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "http_json:stuck", "fault": {"kind": "hang"}}))
        .send()?;
    ensure!(resp.status() == 200);
    let id = project(&api, &sim.addr, "stuck")?;
    // The creation scrape hangs at the simulator.
    wait_until("the request to hang", Duration::from_secs(10), || Ok(sim_stats(&sim.addr)?["delayed_in_flight"] == 1))?;
    let run = last_run(&api, id)?;
    ensure!(run["status"] == "running", "{run}");
    let run_id = run["id"].as_i64().ok_or_else(|| anyhow!("no run id"))?;

    let asked = Instant::now();
    let (status, cancelled) = api.send(Method::POST, &format!("/api/v1/runs/{run_id}/cancel"), None)?;
    let took = asked.elapsed();
    ensure!(status == 200, "{status} {cancelled}");
    ensure!(cancelled["status"] == "cancelled" && cancelled["error_kind"] == "cancelled", "{cancelled}");
    ensure!(took < Duration::from_secs(1), "the cancel took {took:?}");
    ensure!(api.ok(&format!("/api/v1/runs/{run_id}"))?["status"] == "cancelled");
    // The request was dropped: the simulator's handler saw its client go.
    wait_until("the simulator to see the client go", Duration::from_secs(5), || {
        let stats = sim_stats(&sim.addr)?;
        Ok(stats["delayed_abandoned"] == 1 && stats["delayed_in_flight"] == 0)
    })?;
    // Cancelling again, or a run that is not running: 409; unknown: 404.
    let (status, body) = api.send(Method::POST, &format!("/api/v1/runs/{run_id}/cancel"), None)?;
    ensure!(status == 409 && body["error"]["code"] == "run_not_running", "{status} {body}");
    let (status, body) = api.send(Method::POST, "/api/v1/runs/999999/cancel", None)?;
    ensure!(status == 404 && body["error"]["code"] == "run_not_found", "{status} {body}");

    // The platform recovers: the next run of the same scraper succeeds.
    let resp = faults.delete(format!("{}/_sim/faults", sim.addr)).send()?;
    ensure!(resp.status().is_success(), "{}", resp.status());
    let (status, next) = api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
    ensure!(status == 202, "{status} {next}");
    let next_id = next["run_id"].as_i64().ok_or_else(|| anyhow!("no run id"))?;
    ensure!(next_id != run_id);
    wait_until("the next run to succeed", Duration::from_secs(10), || {
        Ok(api.ok(&format!("/api/v1/runs/{next_id}"))?["status"] == "succeeded")
    })?;
    Ok(())
}

#[test]
fn a_run_past_its_deadline_fails_instead_of_hanging() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_HTTP_TIMEOUT", "60s"),
            ("TRAWLER_RUN_DEADLINE", "1s"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    reqwest::blocking::Client::new()
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "http_json:late", "fault": {"kind": "hang"}}))
        .send()?;
    let id = project(&api, &sim.addr, "late")?;
    wait_until("the run to hit its deadline", Duration::from_secs(10), || {
        let run = last_run(&api, id)?;
        Ok(run["status"] == "failed" && run["error_kind"] == "deadline")
    })?;
    Ok(())
}

#[test]
fn runs_left_by_a_killed_node_are_closed_at_restart() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_HTTP_TIMEOUT", "60s")],
    );
    let (mut server, api) = start_server(&env)?;
    reqwest::blocking::Client::new()
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "http_json", "fault": {"kind": "hang"}}))
        .send()?;
    let ids: Vec<i64> = (0..3).map(|i| project(&api, &sim.addr, &format!("killed-{i}"))).collect::<Result<_>>()?;
    wait_until("three runs hanging", Duration::from_secs(10), || {
        Ok(api.ok("/api/v1/runs?status=running")?["runs"].as_array().map_or(0, Vec::len) == 3)
    })?;
    // kill -9: no shutdown path runs.
    server.child.kill()?;
    server.child.wait()?;

    let (_server, api) = start_server(&env)?;
    let running = api.ok("/api/v1/runs?status=running")?;
    ensure!(running["runs"].as_array().is_some_and(Vec::is_empty), "{running}");
    for id in ids {
        let run = api.ok(&format!("/api/v1/projects/{id}/runs?limit=1"))?["runs"][0].clone();
        ensure!(run["status"] == "aborted" && run["error_kind"] == "aborted", "{run}");
        ensure!(run["finished_at_ms"].as_i64().is_some(), "{run}");
    }
    Ok(())
}
