//! The fault matrix: the real binary against a simulator that misbehaves on
//! purpose. Healthy projects keep every slot, faulty ones record failed runs
//! with the right error class, the process survives with bounded memory, and
//! platform limits are respected.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use common::{rss_kib, server_env, start_server, start_server_logged, start_sim, Api};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};
use trawler_store::testing::TestDb;

/// A project of the matrix: its source, and the fault on it if any.
struct Case {
    platform: &'static str,
    reference: String,
    fault: Option<Value>,
    /// The run error class a hard fault must produce; `None` for healthy
    /// projects and for faults the product is expected to ride out.
    expect: Option<&'static str>,
}

fn source(sim: &str, c: &Case) -> Value {
    match c.platform {
        "kickstarter" => json!({"platform": "kickstarter", "external_ref": c.reference}),
        "indiegogo" => json!({"platform": "indiegogo", "external_ref": c.reference}),
        "meta_ads" => json!({"platform": "meta_ads", "external_ref": c.reference, "secret": "token"}),
        "http_json" => json!({"platform": "http_json", "external_ref": c.reference, "options": {
            "url": format!("{sim}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}}}),
        _ => json!({"platform": "html", "external_ref": c.reference, "options": {
            "url": format!("{sim}/html/{{ref}}"), "metrics": {"pledged": ".raised", "backers": ".supporters"}}}),
    }
}

fn matrix() -> Vec<Case> {
    let faulty: Vec<(&'static str, Value, Option<&'static str>)> = vec![
        ("kickstarter", json!({"kind": "hang"}), Some("timeout")),
        ("kickstarter", json!({"kind": "reset"}), Some("connect")),
        ("kickstarter", json!({"kind": "malformed"}), Some("parse")),
        ("kickstarter", json!({"kind": "redirect_loop"}), Some("redirect")),
        ("indiegogo", json!({"kind": "server_error", "status": 500}), Some("http_status")),
        ("indiegogo", json!({"kind": "wrong_content_type"}), Some("parse")),
        ("indiegogo", json!({"kind": "rate_limited", "retry_after": 1}), Some("throttled")),
        ("meta_ads", json!({"kind": "throttle"}), Some("throttled")),
        ("meta_ads", json!({"kind": "bad_numbers"}), Some("parse")),
        ("http_json", json!({"kind": "oversized", "mib": 24}), Some("too_large")),
        ("http_json", json!({"kind": "oversized", "mib": 24}), Some("too_large")),
        ("http_json", json!({"kind": "bad_numbers"}), Some("parse")),
        ("http_json", json!({"kind": "server_error", "status": 503}), Some("http_status")),
        ("html", json!({"kind": "malformed"}), Some("parse")),
        ("html", json!({"kind": "bad_numbers"}), Some("parse")),
        // Faults a good scraper rides out: slow answers and a flapping server.
        ("html", json!({"kind": "slow", "delay_ms": 300}), None),
        ("http_json", json!({"kind": "flapping", "every": 2}), None),
    ];
    let mut cases = Vec::new();
    for (i, (platform, fault, expect)) in faulty.into_iter().enumerate() {
        cases.push(Case { platform, reference: reference(platform, 900 + i), fault: Some(fault), expect });
    }
    let healthy = [("kickstarter", 20), ("indiegogo", 10), ("meta_ads", 10), ("http_json", 25), ("html", 18)];
    for (platform, n) in healthy {
        for i in 0..n {
            cases.push(Case { platform, reference: reference(platform, i), fault: None, expect: None });
        }
    }
    cases
}

fn reference(platform: &str, i: usize) -> String {
    match platform {
        "kickstarter" => format!("matrix/project-{i}"),
        "indiegogo" => format!("{}", 5_000 + i),
        "meta_ads" => format!("act_{}", 7_000 + i),
        _ => format!("{platform}-{i}"),
    }
}

fn runs(api: &Api, id: i64) -> Result<Vec<Value>> {
    Ok(api.ok(&format!("/api/v1/projects/{id}/runs?limit=500"))?["runs"].as_array().cloned().unwrap_or_default())
}

#[test]
fn the_fault_matrix() -> Result<()> {
    let db = TestDb::sqlite()?;
    let epoch = trawler_domain::now_secs() - 600;
    // The simulator allows 150 requests/s per platform; trawler is set below it.
    let limits = ["kickstarter=150", "indiegogo=150", "meta_ads=150", "http_json=150", "html=150"];
    let mut args = Vec::new();
    for l in &limits {
        args.push("--limit");
        args.push(*l);
    }
    let sim = start_sim(epoch, &args)?;
    let sim_base = sim.addr.clone();
    let env = server_env(
        &db.url,
        &sim_base,
        &[
            ("TRAWLER_FULL_INTERVAL", "4s"),
            ("TRAWLER_POLL_INTERVAL", "2s"),
            ("TRAWLER_HTTP_TIMEOUT", "1500ms"),
            ("TRAWLER_MAX_BODY_BYTES", "1048576"),
            ("TRAWLER_MAX_RETRIES", "1"),
            ("TRAWLER_RETRY_BUDGET", "2"),
            ("TRAWLER_CIRCUIT_FAILURES", "50"),
            ("TRAWLER_RATE_KICKSTARTER", "100"),
            ("TRAWLER_RATE_INDIEGOGO", "100"),
            ("TRAWLER_RATE_META_ADS", "100"),
            ("TRAWLER_RATE_HTTP_JSON", "100"),
            ("TRAWLER_RATE_HTML", "100"),
        ],
    );
    let (mut server, api) = start_server(&env)?;
    let sim_client = Client::builder().timeout(Duration::from_secs(10)).build()?;
    let cases = matrix();
    ensure!(cases.len() == 100, "{} cases", cases.len());
    for c in &cases {
        if let Some(fault) = &c.fault {
            let target = format!("{}:{}", c.platform, c.reference);
            let resp = sim_client
                .post(format!("{sim_base}/_sim/faults"))
                .json(&json!({"target": target, "fault": fault}))
                .send()?;
            ensure!(resp.status() == 200, "setting a fault: {}", resp.status());
        }
    }
    let mut ids = Vec::new();
    for c in &cases {
        let body = json!({"name": format!("{} {}", c.platform, c.reference), "sources": [source(&sim_base, c)]});
        let (status, created) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "create: {status} {created}");
        ids.push(created["id"].as_i64().context("id")?);
    }
    // Several compressed cycles, watching memory while oversized and hanging
    // targets are served.
    let mut peak_rss = 0;
    for _ in 0..28 {
        std::thread::sleep(Duration::from_millis(500));
        peak_rss = peak_rss.max(rss_kib(server.child.id())?);
        ensure!(server.child.try_wait()?.is_none(), "the server died");
    }
    let health = api.client.get(format!("{}/healthz", api.base)).send()?;
    ensure!(health.status() == 200, "not healthy");

    let mut report = BTreeMap::new();
    for (c, id) in cases.iter().zip(&ids) {
        let runs = runs(&api, *id)?;
        let finished: Vec<&Value> = runs.iter().filter(|r| r["status"] != "running").collect();
        let label = format!("{} {} ({:?})", c.platform, c.reference, c.fault.as_ref().map(|f| f["kind"].clone()));
        match c.expect {
            None => {
                // Healthy, or riding out a soft fault: every run succeeded, and
                // with a 4 s interval over 14 s there were at least 3 of them.
                ensure!(finished.len() >= 3, "{label}: only {} runs", finished.len());
                for r in &finished {
                    ensure!(r["status"] == "succeeded", "{label}: {r}");
                }
                // No slot missed: consecutive runs at most an interval (plus slack) apart.
                let mut starts: Vec<i64> = finished.iter().filter_map(|r| r["started_at_ms"].as_i64()).collect();
                starts.sort_unstable();
                for w in starts.windows(2) {
                    ensure!(w[1] - w[0] <= 5_500, "{label}: {} ms between runs", w[1] - w[0]);
                }
            }
            Some(class) => {
                ensure!(!finished.is_empty(), "{label}: no finished run");
                for r in &finished {
                    ensure!(r["status"] == "failed", "{label}: expected failure, got {r}");
                    ensure!(r["error_kind"] == class, "{label}: expected {class}, got {}", r["error_kind"]);
                }
                *report.entry(class).or_insert(0) += 1;
            }
        }
    }
    // Memory stays bounded although 24 MiB bodies were offered again and again.
    ensure!(peak_rss < 200 * 1024, "peak RSS {peak_rss} KiB");
    // Trawler's rates are below the simulator's limits: it never hit them.
    let stats: Value = sim_client.get(format!("{sim_base}/_sim/stats")).send()?.json()?;
    for (platform, rejected) in stats["limits_rejected"].as_object().ok_or_else(|| anyhow!("no limits"))? {
        ensure!(rejected.as_u64() == Some(0), "{platform}: {rejected} requests over the simulator's limit");
    }
    // The operators' view shows the platforms' gates.
    let platforms = api.ok("/api/v1/admin/platforms")?;
    // A gate per platform, the exchange rates' (`ecb`) included.
    ensure!(platforms["platforms"].as_array().is_some_and(|p| p.len() == 6), "{platforms}");
    eprintln!("fault matrix: classes {report:?}, peak RSS {} MiB", peak_rss / 1024);
    Ok(())
}

#[test]
fn retry_after_is_honoured_in_both_forms() -> Result<()> {
    for http_date in [false, true] {
        let db = TestDb::sqlite()?;
        let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
        let sim_base = sim.addr.clone();
        let env = server_env(&db.url, &sim_base, &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1s")]);
        let (_server, api) = start_server(&env)?;
        let sim_client = Client::new();
        let fault = json!({"kind": "rate_limited", "retry_after": 2, "http_date": http_date});
        sim_client
            .post(format!("{sim_base}/_sim/faults"))
            .json(&json!({"target": "html:limited", "fault": fault}))
            .send()?;
        for reference in ["limited", "busy-1", "busy-2", "busy-3"] {
            let c = Case { platform: "html", reference: reference.into(), fault: None, expect: None };
            let body = json!({"name": reference, "sources": [source(&sim_base, &c)]});
            let (status, _) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
            ensure!(status == 201);
        }
        std::thread::sleep(Duration::from_secs(7));
        let requests: Vec<Value> = sim_client.get(format!("{sim_base}/_sim/requests?platform=html")).send()?.json()?;
        let mut checked = 0;
        for (i, r) in requests.iter().enumerate() {
            if r["outcome"] != "rate_limited" {
                continue;
            }
            let at = r["at_ms"].as_i64().unwrap_or_default();
            // Requests already on the wire when the 429 came back are fine; the
            // first one *sent after* the answer must wait for the named time.
            if let Some(next) = requests[i + 1..].iter().find(|n| n["at_ms"].as_i64().unwrap_or_default() > at + 100) {
                let next_at = next["at_ms"].as_i64().unwrap_or_default();
                // Seconds: 2 s after the answer. HTTP date: the simulator named
                // the second `now + 2`, so nothing before that second starts.
                let earliest = if http_date { (at / 1000 + 2) * 1000 } else { at + 2_000 };
                ensure!(
                    next_at >= earliest,
                    "a request to html came at {next_at}, before {earliest} named by Retry-After (http_date={http_date})"
                );
                checked += 1;
            }
        }
        ensure!(checked >= 1, "no 429 was followed by a request (http_date={http_date}): {requests:?}");
        let platforms = api.ok("/api/v1/admin/platforms")?;
        let html = platforms["platforms"].as_array().and_then(|p| p.iter().find(|g| g["platform"] == "html").cloned());
        ensure!(html.is_some_and(|g| g["throttled"].as_u64() >= Some(1)), "{platforms}");
    }
    Ok(())
}

#[test]
fn a_failing_site_opens_its_own_circuit_not_the_platforms() -> Result<()> {
    // Two sites on the generic http_json platform: the simulator as
    // 127.0.0.1 (failing for one project) and as localhost (healthy).
    let db = TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let port = sim.addr.rsplit(':').next().ok_or_else(|| anyhow!("no port in {}", sim.addr))?.to_owned();
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1s"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_MAX_RETRIES", "0"),
            ("TRAWLER_CIRCUIT_FAILURES", "2"),
            ("TRAWLER_CIRCUIT_OPEN_FOR", "30s"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let resp = Client::new()
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "http_json:site-down", "fault": {"kind": "server_error"}}))
        .send()?;
    ensure!(resp.status() == 200);
    let mut ids = Vec::new();
    for (reference, host) in [("site-down", "127.0.0.1"), ("site-up", "localhost")] {
        let source = json!({"platform": "http_json", "external_ref": reference,
            "options": {"url": format!("http://{host}:{port}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised"}}});
        let (status, p) =
            api.send(Method::POST, "/api/v1/projects", Some(json!({"name": reference, "sources": [source]})))?;
        ensure!(status == 201, "{status} {p}");
        ids.push(p["id"].as_i64().context("id")?);
    }
    common::wait_until("the failing site's circuit to open", Duration::from_secs(20), || {
        Ok(runs(&api, ids[0])?.iter().any(|r| r["error_kind"] == "circuit_open"))
    })?;
    std::thread::sleep(Duration::from_secs(3));
    // The healthy site kept succeeding, every second, throughout.
    let up = runs(&api, ids[1])?;
    let finished: Vec<&Value> = up.iter().filter(|r| r["status"] != "running").collect();
    ensure!(finished.len() >= 4, "only {} runs of the healthy site", finished.len());
    ensure!(finished.iter().all(|r| r["status"] == "succeeded"), "{up:?}");
    // The operators' view names the failing host; the platform stays closed.
    let platforms = api.ok("/api/v1/admin/platforms")?;
    let gate = platforms["platforms"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["platform"] == "http_json")
        .ok_or_else(|| anyhow!("{platforms}"))?;
    ensure!(gate["circuit"] == "closed", "{gate}");
    let hosts = gate["hosts"].as_array().ok_or_else(|| anyhow!("{gate}"))?;
    ensure!(hosts.len() == 1 && hosts[0]["host"] == format!("127.0.0.1:{port}"), "{gate}");
    ensure!(hosts[0]["circuit"] == "open" && hosts[0]["circuit_opened_total"] == 1, "{gate}");
    Ok(())
}

/// A platform that is down fails every poll and every run of every project
/// on it. The node's log says so in a few lines — the circuit's opening,
/// the first poll failure, then a count per ten seconds — not a line per
/// poll and per run, which at a million projects buried the log under a
/// million lines within seconds.
#[test]
fn a_platform_down_is_a_few_lines_in_the_log_not_one_per_poll() -> Result<()> {
    const N: usize = 200;
    let db = TestDb::sqlite()?;
    {
        let mut conn = db.pool.get()?;
        for i in 0..N {
            let source = trawler_store::NewSource {
                platform: trawler_domain::Platform::Kickstarter,
                external_ref: format!("down/p{i}"),
                options: json!({}),
                secret: None,
            };
            trawler_store::Project::create(&mut conn, &format!("p{i}"), &[source])?;
        }
    }
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let resp = Client::new()
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "kickstarter", "fault": {"kind": "server_error"}}))
        .send()?;
    ensure!(resp.status() == 200);
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "2s"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_MAX_RETRIES", "0"),
            ("TRAWLER_CIRCUIT_FAILURES", "5"),
            ("TRAWLER_CIRCUIT_OPEN_FOR", "2s"),
            ("TRAWLER_RATE_KICKSTARTER", "1000"),
        ],
    );
    let (_server, api, log) = start_server_logged(&env)?;
    // Twelve seconds: past one quiet while of ten, some 2,400 polls due
    // and 1,200 full scrapes.
    std::thread::sleep(Duration::from_secs(12));
    let source = api.actor("source:kickstarter")?;
    let failed = source["detail"]["counters"]["polls_failed"].as_u64().ok_or_else(|| anyhow!("{source}"))?;
    ensure!(failed >= 1_000, "the platform was down for 12 s: {failed} polls failed ({source})");
    let lines = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let polls: Vec<&String> = lines.iter().filter(|l| l.contains("source kickstarter:")).collect();
    let runs: Vec<&String> = lines.iter().filter(|l| l.contains(": run ") && l.contains("circuit_open")).collect();
    ensure!(
        (1..=4).contains(&polls.len()),
        "{failed} polls failed in {} lines about them:\n{}",
        polls.len(),
        polls.iter().take(20).map(|l| l.as_str()).collect::<Vec<_>>().join("\n")
    );
    ensure!(runs.is_empty(), "{} runs failed at the open circuit logged a line each: {:?}", runs.len(), runs.first());
    // The count names what failed and how many.
    let counted = polls
        .iter()
        .find(|l| l.contains("more polls failed within 10 s"))
        .ok_or_else(|| anyhow!("no count of the polls not logged: {polls:?}"))?;
    let n: u64 = counted
        .split("source kickstarter: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("no count in {counted}"))?;
    ensure!(n >= 500 && counted.contains("circuit_open"), "{counted}");
    Ok(())
}
