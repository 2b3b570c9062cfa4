//! Webhooks end to end: the real binary, a real local receiver. A project
//! fails twice (a failure streak), then recovers; the receiver answers the
//! first attempts with 500. Every body's signature verifies, retries happen
//! with backoff, and no delivery is sent again once it got a 2xx.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

const SECRET: &str = "receiver-secret-0123456789";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    answered: u16,
}

/// A minimal HTTP/1.1 receiver on loopback: answers 500 to the first
/// `failures` requests of a `project.failing` event, 204 to everything else,
/// and records everything.
fn receiver(failures: usize) -> Result<(String, Arc<Mutex<Vec<Received>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = format!("http://{}/hook", listener.local_addr()?);
    let log: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone a TCP stream"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
            let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut log = log2.lock().expect("receiver log");
            let is_failing = headers.get("x-trawler-event").is_some_and(|e| e == "project.failing");
            let seen =
                log.iter().filter(|r| r.headers.get("x-trawler-event") == headers.get("x-trawler-event")).count();
            let status = if is_failing && seen < failures { 500 } else { 204 };
            log.push(Received { at: Instant::now(), headers, body, answered: status });
            drop(log);
            let reason = if status == 500 { "Internal Server Error" } else { "No Content" };
            let _ = write!(stream, "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Ok((addr, log))
}

/// Verifies `t=<secs>,v1=<hex>,v2=<hex>`: v1 over "{t}.{body}", v2 over
/// "{t}.{delivery id}.{body}", with the shared secret.
fn signature_ok(header: &str, delivery: &str, body: &[u8]) -> bool {
    let field = |name: &str| {
        header.split(',').find_map(|part| part.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_owned()))
    };
    let (Some(t), Some(v1), Some(v2)) = (field("t"), field("v1"), field("v2")) else { return false };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let verifies = |signed: Vec<u8>, hex: &str| {
        let tag: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        tag.is_some_and(|tag| aws_lc_rs::hmac::verify(&key, &signed, &tag).is_ok())
    };
    verifies([format!("{t}.").as_bytes(), body].concat(), &v1)
        && verifies([format!("{t}.{delivery}.").as_bytes(), body].concat(), &v2)
}

fn run_finished(api: &Api, run: i64) -> Result<String> {
    let mut status = String::new();
    wait_until("the run to finish", Duration::from_secs(20), || {
        let r = api.ok(&format!("/api/v1/runs/{run}"))?;
        status = r["status"].as_str().unwrap_or_default().to_owned();
        Ok(status != "running")
    })?;
    Ok(status)
}

fn trigger(api: &Api, project: i64) -> Result<i64> {
    let mut run = None;
    // A scheduled run may be in progress; a trigger joins it. Retry while
    // the scraper is (re)starting.
    wait_until("a trigger to be accepted", Duration::from_secs(10), || {
        let (status, body) = api.send(Method::POST, &format!("/api/v1/projects/{project}/scrape"), None)?;
        run = body["run_id"].as_i64();
        Ok(status == 202)
    })?;
    run.ok_or_else(|| anyhow!("no run id"))
}

#[test]
fn failure_streaks_and_recoveries_reach_a_signed_webhook_with_retries() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 86_400, &[])?;
    let db = tempfile_db()?;
    let env = server_env(
        &db,
        &sim.addr,
        &[
            // Runs come from triggers only.
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_WEBHOOK_FAILURE_STREAK", "2"),
            ("TRAWLER_WEBHOOK_RETRY_BASE", "300ms"),
            ("TRAWLER_WEBHOOK_MAX_ATTEMPTS", "3"),
            ("TRAWLER_MAX_RETRIES", "0"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let (hook_url, received) = receiver(2)?;

    // Bad input is refused.
    for bad in [
        json!({"url": "ftp://example.com/x"}),
        json!({"url": hook_url, "events": ["project.exploded"]}),
        json!({"url": hook_url, "secret": "short"}),
        json!({"url": hook_url, "events": []}),
    ] {
        let (status, body) = api.send(Method::POST, "/api/v1/admin/webhooks", Some(bad.clone()))?;
        ensure!(status == 400 && body["error"]["code"] == "bad_request", "{bad}: {status} {body}");
    }

    let (status, hook) = api.send(
        Method::POST,
        "/api/v1/admin/webhooks",
        Some(json!({"url": hook_url, "secret": SECRET, "events": ["project.failing", "project.recovered"], "description": "pager"})),
    )?;
    ensure!(status == 201, "{status} {hook}");
    ensure!(hook.get("secret").is_none(), "a chosen secret is never echoed: {hook}");
    let hook_id = hook["id"].as_i64().ok_or_else(|| anyhow!("no id"))?;
    // A webhook whose receiver is down: its delivery ends `failed`.
    let (status, dead) = api.send(
        Method::POST,
        "/api/v1/admin/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/nobody", "events": ["project.failing"]})),
    )?;
    ensure!(
        status == 201 && dead["secret"].as_str().is_some_and(|s| s.len() == 64),
        "generated secret shown once: {dead}"
    );
    let dead_id = dead["id"].as_i64().ok_or_else(|| anyhow!("no id"))?;
    ensure!(api.ok(&format!("/api/v1/admin/webhooks/{dead_id}"))?.get("secret").is_none());

    // A project whose only source refuses connections: every run fails.
    let broken = json!([{"platform": "http_json", "external_ref": "x",
        "options": {"url": "http://127.0.0.1:9/{ref}", "metrics": {"pledged": "/campaign/raised"}}}]);
    let (status, project) =
        api.send(Method::POST, "/api/v1/projects", Some(json!({"name": "Flaky", "sources": broken})))?;
    ensure!(status == 201, "{status} {project}");
    let id = project["id"].as_i64().ok_or_else(|| anyhow!("no id"))?;
    // The creation scrape, then one more: a streak of two.
    let mut failed = 0;
    while failed < 2 {
        let run = trigger(&api, id)?;
        ensure!(run_finished(&api, run)? == "failed");
        failed = api.ok(&format!("/api/v1/projects/{id}/runs"))?["runs"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|r| r["status"] == "failed").count());
    }
    // Fix the source: the next run succeeds and the project recovers.
    let fixed = json!([{"platform": "http_json", "external_ref": "json-1",
        "options": {"url": format!("{}/json/{{ref}}", sim.addr), "metrics": {"pledged": "/campaign/raised"}}}]);
    let (status, body) = api.send(Method::PATCH, &format!("/api/v1/projects/{id}"), Some(json!({"sources": fixed})))?;
    ensure!(status == 200, "{status} {body}");
    wait_until("a successful run", Duration::from_secs(20), || {
        let run = trigger(&api, id)?;
        Ok(run_finished(&api, run)? == "succeeded")
    })?;

    // failing: 500, 500, 204; recovered: 204.
    wait_until("both events delivered", Duration::from_secs(20), || {
        Ok(received.lock().expect("log").iter().filter(|r| r.answered == 204).count() >= 2)
    })?;
    // Nothing more may come: wait past several retry intervals.
    std::thread::sleep(Duration::from_secs(2));
    let got = received.lock().expect("log").clone();
    ensure!(got.len() == 4, "4 requests (2 failures, 2 deliveries), got {}", got.len());
    let mut by_delivery: HashMap<String, Vec<&Received>> = HashMap::new();
    for r in &got {
        ensure!(r.headers.get("content-type").map(String::as_str) == Some("application/json"));
        let sig = r.headers.get("x-trawler-signature").ok_or_else(|| anyhow!("no signature header"))?;
        let delivery = r.headers.get("x-trawler-delivery").cloned().ok_or_else(|| anyhow!("no delivery id"))?;
        ensure!(signature_ok(sig, &delivery, &r.body), "the signature verifies: {sig}");
        ensure!(!signature_ok(sig, &delivery, b"{\"tampered\":true}"), "a changed body does not verify");
        ensure!(!signature_ok(sig, "999999", &r.body), "another delivery id does not verify");
        by_delivery.entry(delivery).or_default().push(r);
    }
    ensure!(by_delivery.len() == 2, "two deliveries: {:?}", by_delivery.keys());
    let mut events = Vec::new();
    for (delivery, attempts) in &by_delivery {
        let body: Value = serde_json::from_slice(&attempts[0].body)?;
        let event = body["event"].as_str().unwrap_or_default().to_owned();
        ensure!(attempts.iter().all(|a| a.headers.get("x-trawler-event") == Some(&event)));
        ensure!(body["project"]["id"] == id && body["project"]["name"] == "Flaky", "{body}");
        let answers: Vec<u16> = attempts.iter().map(|a| a.answered).collect();
        ensure!(answers.last() == Some(&204), "{delivery}: delivered last");
        ensure!(answers.iter().filter(|s| **s == 204).count() == 1, "{delivery}: no resend after a 2xx: {answers:?}");
        if event == "project.failing" {
            ensure!(answers == [500, 500, 204], "failing was retried: {answers:?}");
            ensure!(body["data"]["consecutive_failures"] == 2 && body["data"]["error_kind"] == "connect", "{body}");
            // Backoff: 300 ms, then 600 ms.
            let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
            ensure!(gaps[0] >= Duration::from_millis(250) && gaps[1] >= Duration::from_millis(500), "{gaps:?}");
            ensure!(gaps[1] > gaps[0], "the wait grows: {gaps:?}");
        }
        events.push(event);
    }
    events.sort();
    ensure!(events == ["project.failing", "project.recovered"], "{events:?}");

    // The delivery log says the same.
    let log = api.ok(&format!("/api/v1/admin/webhooks/{hook_id}/deliveries"))?;
    let log = log["deliveries"].as_array().cloned().unwrap_or_default();
    ensure!(log.len() == 2, "{log:?}");
    for d in &log {
        ensure!(d["status"] == "delivered" && d["last_status_code"] == 204, "{d}");
        let expected = if d["event"] == "project.failing" { 3 } else { 1 };
        ensure!(d["attempts"] == expected, "{d}");
    }
    wait_until("the dead receiver's delivery to fail", Duration::from_secs(20), || {
        let log = api.ok(&format!("/api/v1/admin/webhooks/{dead_id}/deliveries"))?;
        Ok(log["deliveries"][0]["status"] == "failed")
    })?;
    let log = api.ok(&format!("/api/v1/admin/webhooks/{dead_id}/deliveries"))?;
    ensure!(log["deliveries"][0]["attempts"] == 3 && log["deliveries"][0]["last_error"].is_string(), "{log}");

    // A ping reaches the receiver whatever the webhook subscribes to.
    let (status, ping) = api.send(Method::POST, &format!("/api/v1/admin/webhooks/{hook_id}/ping"), None)?;
    ensure!(status == 202, "{status} {ping}");
    wait_until("the ping", Duration::from_secs(10), || Ok(received.lock().expect("log").len() == 5))?;
    let last = received.lock().expect("log").last().cloned().ok_or_else(|| anyhow!("no ping"))?;
    ensure!(last.headers.get("x-trawler-event").map(String::as_str) == Some("ping"));

    // The metrics count the attempts.
    wait_until("the metrics to count three deliveries", Duration::from_secs(10), || {
        let metrics = api.client.get(format!("{}/metrics", api.base)).bearer_auth(common::TOKEN).send()?.text()?;
        Ok(metrics.contains("trawler_webhook_attempts_total{outcome=\"delivered\"} 3"))
    })?;

    // Switching a webhook off and deleting it.
    let (status, off) =
        api.send(Method::PATCH, &format!("/api/v1/admin/webhooks/{hook_id}"), Some(json!({"active": false})))?;
    ensure!(status == 200 && off["active"] == false, "{status} {off}");
    let (status, _) = api.send(Method::DELETE, &format!("/api/v1/admin/webhooks/{hook_id}"), None)?;
    ensure!(status == 204);
    let (status, _) = api.get(&format!("/api/v1/admin/webhooks/{hook_id}/deliveries"))?;
    ensure!(status == 404);
    Ok(())
}

/// A fresh SQLite file in the temp dir.
fn tempfile_db() -> Result<String> {
    let dir = std::env::temp_dir().join(format!("trawler_webhooks_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(dir.join("w.db"));
    Ok(format!("sqlite://{}", dir.join("w.db").display()))
}

/// A project whose slots fail drops below the freshness target: the SLO
/// check sends `project.slo_breached`, signed, with the numbers, once.
#[test]
fn a_project_below_its_freshness_target_is_reported_once() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let (hook_url, received) = receiver(0)?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "2s"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_MAX_RETRIES", "0"),
            ("TRAWLER_SLO_CHECK_INTERVAL", "1s"),
            ("TRAWLER_EGRESS_ALLOW", "127.0.0.1"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let hook = json!({"url": hook_url, "secret": SECRET, "events": ["project.slo_breached"]});
    let (status, body) = api.send(Method::POST, "/api/v1/admin/webhooks", Some(hook))?;
    ensure!(status == 201, "{status} {body}");
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/_sim/faults", sim.addr))
        .json(&json!({"target": "kickstarter:slo/late", "fault": {"kind": "server_error"}}))
        .send()?;
    ensure!(resp.status() == 200);
    let body = json!({"name": "Late Lamp", "sources": [{"platform": "kickstarter", "external_ref": "slo/late"}]});
    let (status, project) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {project}");
    let id = project["id"].as_i64().ok_or_else(|| anyhow!("no id"))?;

    wait_until("project.slo_breached", Duration::from_secs(20), || Ok(!received.lock().expect("log").is_empty()))?;
    // A few more checks pass: the alert is not repeated.
    std::thread::sleep(Duration::from_secs(3));
    let got = received.lock().expect("log").clone();
    ensure!(got.len() == 1, "one delivery, not {}", got.len());
    let r = &got[0];
    ensure!(r.headers.get("x-trawler-event").map(String::as_str) == Some("project.slo_breached"));
    let header = |name: &str| r.headers.get(name).map_or("", String::as_str);
    ensure!(signature_ok(header("x-trawler-signature"), header("x-trawler-delivery"), &r.body), "signed");
    let body: Value = serde_json::from_slice(&r.body)?;
    ensure!(body["project"]["id"] == id && body["project"]["name"] == "Late Lamp", "{body}");
    let data = &body["data"];
    ensure!(
        data["share"] == 0.0 && data["slots"].as_u64().is_some_and(|s| s >= 1) && data["target"] == 0.999,
        "{data}"
    );
    ensure!(data["met"] == 0 && data["window_secs"] == 86_400, "{data}");
    Ok(())
}
