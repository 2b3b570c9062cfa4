//! Wait estimates on the real binary: with the platform's only request slot
//! busy, triggered runs queue at its gate. Each trigger's 202 says its place
//! in line and when it should start; places rise with each trigger, each run
//! starts (by the simulator's request log) within 20% of its estimate, and a
//! waiting run's place falls as the line moves.

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

/// The request time of every http_json request, per reference.
fn requests(sim: &str) -> Result<Vec<(String, i64)>> {
    let log: Value = reqwest::blocking::get(format!("{sim}/_sim/requests?platform=http_json"))?.json()?;
    Ok(log
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["reference"].as_str()?.to_owned(), r["at_ms"].as_i64()?)))
        .collect())
}

fn create(api: &Api, sim: &str, reference: &str) -> Result<i64> {
    let body = json!({"name": reference, "sources": [{"platform": "http_json", "external_ref": reference,
        "options": {"url": format!("{sim}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised"}}}]});
    let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {p}");
    p["id"].as_i64().ok_or_else(|| anyhow!("no id"))
}

const DELAY_MS: i64 = 200;
const TRIGGERS: usize = 20;

#[test]
fn queued_triggers_report_their_place_and_start_near_their_estimate() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_RATE_HTTP_JSON", "1000"),
            ("TRAWLER_MAX_IN_FLIGHT_PER_PLATFORM", "1"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "http_json", "fault": {"kind": "slow", "delay_ms": DELAY_MS}}))
        .send()?;
    ensure!(resp.status() == 200);

    let refs: Vec<String> = (0..TRIGGERS).map(|i| format!("queued-{i}")).collect();
    let mut ids = Vec::new();
    for r in &refs {
        ids.push(create(&api, &sim.addr, r)?);
    }
    // The creation scrapes pass one at a time; the gate learns how long a
    // request takes.
    wait_until("the creation scrapes", Duration::from_secs(30), || {
        Ok(requests(&sim.addr)?.len() >= TRIGGERS && api.ok("/api/v1/admin/platforms")?["in_flight"] == 0)
    })?;
    let before = requests(&sim.addr)?.len();

    // Twenty triggers at once: each joins the line behind the others.
    let mut asked = Vec::new();
    for &id in &ids {
        let (status, body) = api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
        ensure!(status == 202, "{status} {body}");
        asked.push((trawler_domain::now_millis(), body));
    }
    // While they wait, the last run's place falls.
    let last_run = asked[TRIGGERS - 1].1["run_id"].as_i64().ok_or_else(|| anyhow!("no run id"))?;
    let first_place = api.ok(&format!("/api/v1/runs/{last_run}"))?["progress"]["wait"]["place"]
        .as_u64()
        .ok_or_else(|| anyhow!("the last run is not waiting"))?;
    std::thread::sleep(Duration::from_millis(3 * DELAY_MS as u64));
    let later = api.ok(&format!("/api/v1/runs/{last_run}"))?;
    let later_place = later["progress"]["wait"]["place"].as_u64().ok_or_else(|| anyhow!("not waiting: {later}"))?;
    ensure!(later_place < first_place, "the place went from {first_place} to {later_place}");

    wait_until("every triggered run to start", Duration::from_secs(30), || {
        Ok(requests(&sim.addr)?.len() >= before + TRIGGERS)
    })?;
    let log = requests(&sim.addr)?;
    let mut last_place: Option<u64> = None;
    let mut report = Vec::new();
    for (i, (at, body)) in asked.iter().enumerate() {
        let progress = &body["progress"];
        // The first may already be fetching; the rest wait, each further back.
        let Some(wait) = progress.get("wait").filter(|w| !w.is_null()) else {
            ensure!(i == 0 && progress["phase"] == "fetching", "trigger {i}: {body}");
            continue;
        };
        let place = wait["place"].as_u64().ok_or_else(|| anyhow!("no place: {body}"))?;
        ensure!(last_place.is_none_or(|p| place > p), "trigger {i} got place {place} after {last_place:?}");
        last_place = Some(place);
        let estimate = wait["estimated_start_ms"].as_i64().ok_or_else(|| anyhow!("no estimate: {body}"))? - at;
        let started = log[before..]
            .iter()
            .find(|(r, _)| *r == refs[i])
            .map(|(_, t)| t - at)
            .ok_or_else(|| anyhow!("{} never started", refs[i]))?;
        report.push(format!("#{i} place {place}: estimated {estimate} ms, started {started} ms"));
        // Within 20% of the estimate; the first few, a fraction of one
        // request away, get the HTTP round trip's 50 ms.
        let slack = (estimate as f64 * 0.2).max(50.0);
        ensure!(
            (started - estimate).abs() as f64 <= slack,
            "trigger {i} started {started} ms after it was sent, estimated {estimate} ms:\n{}",
            report.join("\n")
        );
    }
    ensure!(last_place.is_some_and(|p| p as usize >= TRIGGERS - 2), "{}", report.join("\n"));
    eprintln!("{}", report.join("\n"));
    Ok(())
}
