//! Nothing lost when a page changes its layout, against the real binary
//! and the simulator: the answers are kept; after the change, fetches and
//! runs fail naming the metric; the proposals find the new markup;
//! accepting them re-parses the kept answers and fills every missed slot
//! with the values the simulator served then; the failed run becomes a
//! fixture the simulator serves again. And the archive stays within its
//! byte bounds however long it runs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};
use trawler_domain::now_secs;
use trawler_store::testing::TestDb;

fn create(api: &Api, name: &str, source: Value) -> Result<i64> {
    let (status, made) =
        api.send(Method::POST, "/api/v1/projects", Some(json!({"name": name, "sources": [source]})))?;
    ensure!(status == 201, "{name}: {status} {made}");
    made["id"].as_i64().context("id")
}

/// One value the simulator served: (endpoint, pledged, backers).
type Served = (String, f64, f64);

/// What the simulator served `reference`'s layout page, by second.
fn served(sim: &str, reference: &str) -> Result<BTreeMap<i64, Vec<Served>>> {
    let log: Value = reqwest::blocking::get(format!("{sim}/_sim/log?platform=html&reference={reference}"))?.json()?;
    let mut out: BTreeMap<i64, Vec<Served>> = BTreeMap::new();
    for e in log.as_array().into_iter().flatten() {
        let (at, endpoint) = (e["at"].as_i64().context("at")?, e["endpoint"].as_str().unwrap_or_default());
        let values =
            (e["values"]["pledged"].as_f64().context("pledged")?, e["values"]["backers"].as_f64().context("b")?);
        out.entry(at).or_default().push((endpoint.to_owned(), values.0, values.1));
    }
    Ok(out)
}

/// The raw points of `metric` since `from` (epoch seconds), by time.
fn points(api: &Api, id: i64, metric: &str, from: i64) -> Result<BTreeMap<i64, f64>> {
    let series = api.ok(&format!("/api/v1/projects/{id}/series?metric={metric}&from={from}"))?;
    Ok(series["series"][0]["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
        .collect())
}

fn run_of(api: &Api, id: i64) -> Result<Value> {
    let (status, run) = api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
    ensure!(status == 202 || status == 200, "{status} {run}");
    let run_id = run["run_id"].as_i64().context("run_id")?;
    let mut done = Value::Null;
    // Its answers are written beside the run's end, by the archive's own
    // writer: both are awaited.
    wait_until("the run's end and its answers", Duration::from_secs(20), || {
        done = api.ok(&format!("/api/v1/runs/{run_id}"))?;
        Ok(done["status"] != "running" && done["responses"].as_array().is_some_and(|r| !r.is_empty()))
    })?;
    Ok(done)
}

#[test]
fn after_a_layout_change_a_repair_recovers_every_missed_slot() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1s"), ("TRAWLER_EXCHANGE_RATES", "false")],
    );
    let (_server, api) = start_server(&env)?;
    let (s, reference) = (&sim.addr, "redesign-lamp");
    let started = now_secs();
    let id = create(
        &api,
        "redesign",
        json!({"platform": "html", "external_ref": reference, "options": {
            "url": format!("{s}/layout/{{ref}}"), "metrics": {"pledged": "span.raised", "backers": "b.supporters"}}}),
    )?;
    wait_until("good polls", Duration::from_secs(20), || Ok(points(&api, id, "pledged", started)?.len() >= 3))?;
    let good_run = run_of(&api, id)?;
    ensure!(good_run["status"] == "succeeded", "{good_run}");
    let kept = &good_run["responses"];
    ensure!(kept.as_array().is_some_and(|k| k.len() == 1) && kept[0]["outcome"] == "ok", "{good_run}");
    ensure!(kept[0]["body_bytes"].as_i64().is_some_and(|b| b > 100), "{kept}");

    // The site's redesign.
    let (status, _) = reqwest::blocking::Client::new()
        .post(format!("{s}/_sim/layouts"))
        .json(&json!({"reference": reference, "in_secs": 0}))
        .send()
        .map(|r| (r.status().as_u16(), ()))?;
    ensure!(status == 200);
    let broke_at = now_secs();
    let failed_run = run_of(&api, id)?;
    ensure!(failed_run["status"] == "failed" && failed_run["error_kind"] == "parse", "{failed_run}");
    // Both metrics break; the error names the first read (the metrics in
    // name order), the kept answer the same.
    let error = failed_run["error"].as_str().unwrap_or_default();
    ensure!(error.contains("nothing matches `b.supporters` for backers"), "names the metric: {failed_run}");
    let answer = &failed_run["responses"][0];
    ensure!(answer["outcome"] == "parse" && answer["metric"] == "backers", "{answer}");
    let (status, kept_answer) = api.get(&format!("/api/v1/responses/{}", answer["id"]))?;
    let kept_body = kept_answer["body"].as_str().unwrap_or_default().to_owned();
    ensure!(status == 200 && kept_body.contains("data-stat=\"raised\""), "{kept_answer}");

    // Polls miss their slots for a while; the proposals are there.
    std::thread::sleep(Duration::from_secs(5));
    let mut breaks = Value::Null;
    wait_until("proposals", Duration::from_secs(10), || {
        breaks = api.ok(&format!("/api/v1/projects/{id}/breaks"))?;
        Ok(breaks["breaks"][0]["metrics"].as_array().is_some_and(|m| m.len() == 2))
    })?;
    let broken = &breaks["breaks"][0];
    ensure!(broken["open"] == true && broken["failures"].as_i64().is_some_and(|n| n >= 4), "{broken}");
    let mut chosen = serde_json::Map::new();
    for m in broken["metrics"].as_array().into_iter().flatten() {
        let expected = match m["metric"].as_str() {
            Some("pledged") => "div[data-stat='raised'] > strong",
            Some("backers") => "div[data-stat='backers'] > strong",
            other => anyhow::bail!("an unexpected metric {other:?}: {broken}"),
        };
        ensure!(m["proposals"][0]["locator"] == expected, "{m}");
        chosen.insert(m["metric"].as_str().unwrap_or_default().into(), m["proposals"][0]["locator"].clone());
    }
    let missed: Vec<i64> = {
        let listed = api.ok(&format!("/api/v1/projects/{id}/responses?failures=true&limit=500"))?;
        listed["responses"].as_array().into_iter().flatten().filter_map(|r| r["fetched_at_ms"].as_i64()).collect()
    };
    ensure!(missed.len() >= 4, "{missed:?}");
    let before = points(&api, id, "pledged", started)?;
    ensure!(before.range(broke_at + 1..).next().is_none(), "nothing stored while broken: {before:?}");

    // Accept the proposals: the source is edited and re-parsed.
    let body = json!({"platform": "html", "external_ref": reference, "metrics": chosen});
    let (status, repaired) = api.send(Method::POST, &format!("/api/v1/projects/{id}/repair"), Some(body))?;
    ensure!(status == 200, "{status} {repaired}");
    let done = &repaired["reparse"];
    ensure!(done["still_failing"] == 0 && done["recovered"].as_u64() >= Some(missed.len() as u64), "{repaired}");
    ensure!(done["runs"].as_array().is_some_and(|r| r.contains(&failed_run["id"])), "{repaired}");

    // Every missed slot has its point, with the value served then.
    let served = served(s, reference)?;
    let (pledged, backers) = (points(&api, id, "pledged", started)?, points(&api, id, "backers", started)?);
    let mut checked = 0;
    for t in &missed {
        let ts = t / 1000;
        // A good fetch in the same second as the change filled its slot.
        if before.contains_key(&ts) {
            continue;
        }
        checked += 1;
        let got = (pledged.get(&ts).copied(), backers.get(&ts).copied());
        let candidates: Vec<&Served> =
            [ts - 1, ts].iter().filter_map(|s| served.get(s)).flatten().filter(|e| e.0 == "layout:new").collect();
        ensure!(
            candidates.iter().any(|e| got == (Some(e.1), Some(e.2))),
            "slot {ts}: stored {got:?}, served {candidates:?}"
        );
    }
    ensure!(checked >= 4, "{checked} missed slots checked");
    let run = api.ok(&format!("/api/v1/runs/{}", failed_run["id"]))?;
    ensure!(run["recovered_at_ms"].as_i64().is_some(), "the run is marked recovered: {run}");
    ensure!(api.ok(&format!("/api/v1/projects/{id}/breaks"))?["breaks"] == json!([]));
    // A second re-parse stores nothing more.
    let again = json!({"platform": "html", "external_ref": reference, "since_ms": broke_at * 1000 - 1000});
    let (status, second) = api.send(Method::POST, &format!("/api/v1/projects/{id}/reparse"), Some(again))?;
    ensure!(status == 200 && second["stored"] == 0, "{second}");
    // The source reads the new layout from now on.
    let fixed_run = run_of(&api, id)?;
    ensure!(fixed_run["status"] == "succeeded", "{fixed_run}");

    // The failed run as a fixture, served again by another simulator.
    // In one command: `trawler fixture RUN -o FILE`.
    let file = std::env::temp_dir().join(format!("trawler-fixture-{}.json", std::process::id()));
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["fixture", &failed_run["id"].to_string(), "-o", &file.to_string_lossy()])
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", common::TOKEN)
        .output()?;
    let said = String::from_utf8_lossy(&cli.stderr);
    ensure!(cli.status.success() && said.contains("trawler sim --fixture"), "{said}");
    let fixture: Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    ensure!(fixture["format"] == "trawler-fixture/1" && fixture["run_id"] == failed_run["id"], "{fixture}");
    let replay = start_sim(now_secs(), &["--fixture", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    let replay = replay?;
    let page = reqwest::blocking::get(format!("{}/fixture/html/{reference}", replay.addr))?.text()?;
    ensure!(page == kept_body, "the fixture serves the answer kept");
    let kept_source = &fixture["sources"][0];
    let mut options = kept_source["options"].clone();
    options["url"] = json!(options["url"].as_str().unwrap_or_default().replace("{sim}", &replay.addr));
    let source =
        json!({"platform": kept_source["platform"], "external_ref": kept_source["external_ref"], "options": options});
    let replayed = create(&api, "regression", source)?;
    wait_until("the fixture read", Duration::from_secs(20), || {
        Ok(!points(&api, replayed, "pledged", started)?.is_empty())
    })?;
    let value = points(&api, replayed, "pledged", started)?.values().next().copied();
    let failed_at = answer["fetched_at_ms"].as_i64().unwrap_or_default() / 1000;
    ensure!(value == pledged.get(&failed_at).copied(), "the fixture reads {value:?}, the run missed {failed_at}");
    Ok(())
}

#[test]
fn the_archive_stays_within_its_bounds_under_a_long_run() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    // A busy project (polled every second) and a calm one (every 3 s):
    // left to the total alone, the busy one would take three quarters of
    // it, past its own bound; each within its own, the two together pass
    // the total.
    let (project_bytes, total_bytes) = (3_000, 5_000);
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_MIN_INTERVAL", "1s"),
            ("TRAWLER_EXCHANGE_RATES", "false"),
            ("TRAWLER_ARCHIVE_PROJECT_BYTES", "3000"),
            ("TRAWLER_ARCHIVE_TOTAL_BYTES", "5000"),
            // Every poll's answer kept, not one an hour per source.
            ("TRAWLER_ARCHIVE_POLLS_EVERY", "1ms"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let mut ids = Vec::new();
    for (reference, every) in [("bound-busy", "1s"), ("bound-calm", "3s")] {
        let source = json!({"platform": "html", "external_ref": reference, "options": {
            "url": format!("{}/html/{{ref}}", sim.addr), "metrics": {"backers": "b.supporters"}}});
        let body = json!({"name": reference, "sources": [source], "poll_interval": every});
        let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {made}");
        ids.push(made["id"].as_i64().context("id")?);
    }
    let archive = |api: &Api| -> Result<Value> {
        let actors = api.ok("/api/v1/admin/actors")?;
        actors["actors"].as_array().into_iter().flatten().find(|a| a["kind"] == "archive").cloned().context("archive")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    let (mut checks, mut most) = (0, (0, 0));
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(700));
        let mut sum = 0;
        for (i, id) in ids.iter().enumerate() {
            let usage = &api.ok(&format!("/api/v1/projects/{id}/responses?limit=1"))?["usage"];
            let bytes = usage["bytes"].as_i64().context("bytes")?;
            ensure!(bytes <= project_bytes, "project {id}: {usage}");
            sum += bytes;
            if i == 0 {
                most.0 = most.0.max(bytes);
            }
        }
        ensure!(sum <= total_bytes, "{sum} bytes in all");
        most.1 = most.1.max(sum);
        checks += 1;
    }
    let detail = archive(&api)?["detail"].clone();
    ensure!(detail["bytes"].as_i64().is_some_and(|b| b <= total_bytes), "{detail}");
    // Both bounds were reached, and held.
    ensure!(most.0 * 10 >= project_bytes * 8 && most.1 * 10 >= total_bytes * 8, "bounds reached: {most:?}");
    let (kept, pruned, now) = (&detail["kept_total"], &detail["pruned_total"], &detail["answers"]);
    ensure!(kept.as_i64() > now.as_i64() && pruned.as_i64() > Some(0), "pruning ran: {detail}");
    ensure!(checks >= 20, "a long run: {checks} checks, {detail}");
    let newest = api.ok(&format!("/api/v1/projects/{}/responses?limit=1", ids[0]))?;
    let at = newest["responses"][0]["fetched_at_ms"].as_i64().context("an answer")?;
    ensure!(at >= (now_secs() - 3) * 1000, "the newest answers are kept: {newest}");
    Ok(())
}
