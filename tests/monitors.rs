//! Monitors on the numbers, on the real binary against the simulator: the
//! simulator makes one campaign's numbers stand still, drop, jump, lose a
//! metric or cross a milestone; each monitor fires once and recovers once,
//! as an alert in the API, a webhook delivery and a counter in `/metrics`.
//! A rule that does not hold is refused with the field named.

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

/// Makes the simulator's numbers of `reference` go wrong (`kind`).
fn anomaly(sim: &str, reference: &str, kind: &str, factor: Option<f64>) -> Result<()> {
    let body = json!({"platform": "kickstarter", "reference": reference, "kind": kind, "factor": factor});
    let status = reqwest::blocking::Client::new().post(format!("{sim}/_sim/anomalies")).json(&body).send()?.status();
    ensure!(status.is_success(), "the simulator refused the anomaly: {status}");
    Ok(())
}

fn create(api: &Api, name: &str, reference: &str, monitors: Value) -> Result<i64> {
    let body = json!({"name": name, "sources": [{"platform": "kickstarter", "external_ref": reference}],
        "monitors": monitors});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    made["id"].as_i64().ok_or_else(|| anyhow!("no id: {made}"))
}

fn set_monitors(api: &Api, id: i64, monitors: Value) -> Result<Value> {
    let (status, body) = api.send(Method::PUT, &format!("/api/v1/projects/{id}/monitors"), Some(monitors))?;
    ensure!(status == 200, "{status} {body}");
    Ok(body)
}

/// The project's alerts of `monitor` on `metric` (every one kept).
fn alerts(api: &Api, id: i64, monitor: &str, metric: &str) -> Result<Vec<Value>> {
    let list = api.ok(&format!("/api/v1/projects/{id}/alerts?state=all"))?;
    let all = list["alerts"].as_array().into_iter().flatten();
    Ok(all.filter(|a| a["monitor"] == monitor && a["metric"] == metric).cloned().collect())
}

/// Waits for `monitor`'s alert on `metric` of `id` to be in `state`
/// (`open` or `recovered`), and checks it is the only one.
fn wait_alert(api: &Api, id: i64, (monitor, metric): (&str, &str), state: &str, within: Duration) -> Result<Value> {
    let waited = wait_until(&format!("project {id}: {monitor} on {metric} {state}"), within, || {
        Ok(alerts(api, id, monitor, metric)?.iter().any(|a| a["state"] == state))
    });
    if let Err(e) = waited {
        let all = api.ok(&format!("/api/v1/projects/{id}/alerts?state=all"))?;
        return Err(e.context(format!("its alerts: {all}")));
    }
    let all = alerts(api, id, monitor, metric)?;
    ensure!(all.len() == 1, "project {id}: one {monitor} alert on {metric} expected: {all:?}");
    Ok(all[0].clone())
}

/// A reference whose simulated campaign gains at least two backers a
/// second... or near it: its numbers move between any two polls.
fn busy_reference(prefix: &str) -> String {
    (0..1000)
        .map(|i| format!("{prefix}/busy-{i}"))
        .find(|r| {
            let at = |t| trawler_sim::Campaign::at(r, 0, t).backers;
            at(1_000) - at(0) >= 450
        })
        .unwrap_or_else(|| format!("{prefix}/busy"))
}

#[test]
fn each_monitor_fires_once_and_recovers_once() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let cadence = [
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1s"),
        ("TRAWLER_MIN_INTERVAL", "1s"),
        ("TRAWLER_WEIGHTED_POLLS", "false"),
        ("TRAWLER_MONITOR_STALE_AFTER", "3s"),
    ];
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &cadence))?;
    // A webhook nobody answers: its deliveries are still recorded.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "secret": "s".repeat(20)});
    let (status, hook) = api.send(Method::POST, "/api/v1/admin/webhooks", Some(hook))?;
    ensure!(status == 201, "{status} {hook}");

    // One project per monitor, the others silenced.
    let others = |keep: &str| -> Vec<&str> {
        ["stale", "drop", "jump", "missing", "milestone"].into_iter().filter(|m| *m != keep).collect()
    };
    let stale_ref = busy_reference("mon-stale");
    // Given at creation: in force from the first fetch.
    let stale = create(&api, "Stale", &stale_ref, json!({"silenced": others("stale")}))?;
    let drop = create(&api, "Drop", "mon/drop", json!({"silenced": others("drop")}))?;
    let jump = create(&api, "Jump", "mon/jump", json!({"silenced": others("jump")}))?;
    let missing = create(&api, "Missing", "mon/missing", json!({"silenced": others("missing")}))?;
    // Twice its backers now: reached when the simulator triples them.
    let target = (2 * trawler_sim::Campaign::at("mon/milestone", 0, 600).backers) as f64;
    let rules = json!({
        "rules": [
            {"monitor": "milestone", "metric": "backers", "at": [target]},
            {"monitor": "milestone", "metric": "funded_pct", "off": true},
        ],
        "silenced": ["stale", "drop", "jump", "missing"],
    });
    let milestone = create(&api, "Milestone", "mon/milestone", rules.clone())?;
    let stored = set_monitors(&api, milestone, rules)?;
    ensure!(stored["rules"][0]["at"] == json!([target]) && stored["silenced"].as_array().map(Vec::len) == Some(4));
    // Each fetched a few times (a full scrape, then polls): what a poll
    // reports is known.
    let refs = [stale_ref.as_str(), "mon/drop", "mon/jump", "mon/missing", "mon/milestone"];
    wait_until("every project polled", Duration::from_secs(15), || {
        let stats: Value = reqwest::blocking::get(format!("{}/_sim/stats", sim.addr))?.json()?;
        Ok(refs.iter().all(|r| stats["sources"][format!("kickstarter:{r}")]["requests"].as_u64() >= Some(3)))
    })?;
    ensure!(alerts(&api, stale, "stale", "backers")?.is_empty(), "stale while its numbers move");

    // Someone follows the drop project live.
    let stream = api
        .client
        .get(format!("{}/api/v1/projects/{drop}/events", api.base))
        .bearer_auth(common::TOKEN)
        .timeout(Duration::from_secs(30))
        .send()?;
    ensure!(stream.status() == 200, "{}", stream.status());
    let (tx, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let (mut stream, mut text, mut buf) = (stream, String::new(), [0u8; 4096]);
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(at) = text.find("event: alert\n") {
                let _ = tx.send(text[at..].lines().take(2).collect::<Vec<_>>().join("\n"));
                return;
            }
        }
    });

    // Wrong numbers.
    anomaly(&sim.addr, &stale_ref, "freeze", None)?;
    anomaly(&sim.addr, "mon/drop", "scale", Some(0.5))?;
    anomaly(&sim.addr, "mon/jump", "scale", Some(50.0))?;
    anomaly(&sim.addr, "mon/missing", "omit", None)?;
    anomaly(&sim.addr, "mon/milestone", "scale", Some(3.0))?;
    let long = Duration::from_secs(20);
    let fired = wait_alert(&api, stale, ("stale", "backers"), "open", long)?;
    ensure!(fired["detail"].as_str().is_some_and(|d| d.contains("unchanged")), "{fired}");
    let fired = wait_alert(&api, drop, ("drop", "pledged"), "open", long)?;
    let event = heard.recv_timeout(Duration::from_secs(10))?;
    ensure!(event.contains(r#""type":"alert""#) && event.contains(r#""state":"fired""#), "{event}");
    ensure!(event.contains(r#""monitor":"drop""#), "{event}");
    ensure!(fired["level"].as_f64().zip(fired["value"].as_f64()).is_some_and(|(l, v)| v < l * 0.6), "{fired}");
    // A jump is one reading: the next one, as far from it as ever, recovers.
    let jumped = wait_alert(&api, jump, ("jump", "backers"), "recovered", long)?;
    ensure!(jumped["value"].as_f64().zip(jumped["level"].as_f64()).is_some_and(|(v, l)| v > 10.0 * l), "{jumped}");
    wait_alert(&api, missing, ("missing", "comments"), "open", long)?;
    let reached = wait_alert(&api, milestone, ("milestone", "backers"), "open", long)?;
    ensure!(reached["threshold"] == json!(target.to_string()), "{reached}");
    // Open alerts stay one each while the numbers stay wrong.
    std::thread::sleep(Duration::from_secs(3));
    let held = [
        (stale, ("stale", "backers")),
        (stale, ("stale", "pledged")),
        (drop, ("drop", "backers")),
        (drop, ("drop", "pledged")),
        (missing, ("missing", "comments")),
        (milestone, ("milestone", "backers")),
    ];
    for (id, (monitor, metric)) in held {
        let all = alerts(&api, id, monitor, metric)?;
        ensure!(all.len() == 1 && all[0]["state"] == "open", "{monitor} on {metric}: {all:?}");
    }

    // Right again.
    anomaly(&sim.addr, &stale_ref, "clear", None)?;
    anomaly(&sim.addr, "mon/drop", "clear", None)?;
    anomaly(&sim.addr, "mon/missing", "clear", None)?;
    anomaly(&sim.addr, "mon/milestone", "clear", None)?;
    for (id, key) in held {
        wait_alert(&api, id, key, "recovered", long)?;
    }
    for id in [stale, drop, missing, milestone, jump] {
        let open = api.ok(&format!("/api/v1/projects/{id}/alerts"))?;
        ensure!(open["alerts"].as_array().is_some_and(Vec::is_empty), "project {id}: {open}");
    }

    // Webhooks: one per firing, one per recovery, each metric its own
    // (pledged and backers; a jump moves the comments too).
    let per = |id: i64| match id {
        _ if id == missing || id == milestone => 1,
        _ if id == jump => 3,
        _ => 2,
    };
    let deliveries = api.ok(&format!("/api/v1/admin/webhooks/{}/deliveries?limit=200", hook["id"]))?;
    let count = |project: i64, event: &str| {
        deliveries["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["project_id"] == project && d["event"] == event)
            .count()
    };
    for (id, event) in [
        (stale, "project.data_stale"),
        (drop, "project.anomaly"),
        (jump, "project.anomaly"),
        (missing, "project.anomaly"),
    ] {
        let (fired, recovered) = (count(id, event), count(id, "project.monitor_recovered"));
        ensure!(fired == per(id) && recovered == per(id), "project {id}: {event} × {fired}, recovered × {recovered}");
    }
    ensure!(count(milestone, "project.milestone") == 1 && count(milestone, "project.monitor_recovered") == 1);

    // Counted in the metrics.
    let metrics = api.client.get(format!("{}/metrics", api.base)).bearer_auth(common::TOKEN).send()?.text()?;
    for (monitor, n) in [("stale", 2), ("drop", 2), ("jump", 3), ("missing", 1), ("milestone", 1)] {
        for state in ["fired", "recovered"] {
            let line = format!("trawler_monitor_alerts_total{{monitor=\"{monitor}\",state=\"{state}\"}} {n}");
            ensure!(metrics.contains(&line), "no `{line}` in /metrics");
        }
    }
    ensure!(metrics.contains("trawler_monitor_alerts_open 0"), "alerts still open in /metrics");
    Ok(())
}

#[test]
fn a_rule_that_does_not_hold_is_refused_and_changes_nothing() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &[]))?;
    let id = create(&api, "Rules", "rules/lamp", json!({}))?;
    let bad = json!({"name": "x", "monitors": {"rules": [{"monitor": "drop", "tolerance": -1}]}});
    let (status, error) = api.send(Method::POST, "/api/v1/projects", Some(bad))?;
    ensure!(status == 422 && error["error"]["message"].as_str().is_some_and(|m| m.contains("tolerance")), "{error}");
    ensure!(api.ok("/api/v1/projects")?["projects"].as_array().map(Vec::len) == Some(1), "a refused project was made");
    let good = json!({"rules": [{"monitor": "stale", "platform": "kickstarter", "after": "2h"}]});
    set_monitors(&api, id, good.clone())?;
    let cases = [
        (json!({"rules": [{"monitor": "stale", "platform": "myspace"}]}), "monitors.rules[0].platform"),
        (
            json!({"rules": [{"monitor": "drop", "platform": "kickstarter", "metric": "spend"}]}),
            "monitors.rules[0].metric",
        ),
        (json!({"rules": [{"monitor": "milestone", "metric": "backers", "at": ["many"]}]}), "monitors.rules[0].at[0]"),
        (json!({"rules": [{"monitor": "stale", "after": "2y"}]}), "monitors.rules[0].after"),
        (json!({"silenced": ["everything"]}), "monitors.silenced[0]"),
    ];
    for (body, field) in cases {
        let (status, error) = api.send(Method::PUT, &format!("/api/v1/projects/{id}/monitors"), Some(body.clone()))?;
        ensure!(status == 422, "{body}: {status} {error}");
        ensure!(error["error"]["code"] == "invalid_monitor", "{error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        ensure!(message.contains(field), "{body}: `{message}` names no `{field}`");
    }
    let now = api.ok(&format!("/api/v1/projects/{id}/monitors"))?;
    ensure!(now["rules"] == good["rules"], "a refused request changed the rules: {now}");
    ensure!(now["defaults"]["stale_after"] == "6h" && now["defaults"]["jump_factor"] == 10.0, "{now}");
    let (status, _) = api.send(Method::PUT, "/api/v1/projects/999999/monitors", Some(json!({})))?;
    ensure!(status == 404);
    let (status, error) = api.get(&format!("/api/v1/projects/{id}/alerts?state=later"))?;
    ensure!(status == 400 && error["error"]["message"].as_str().is_some_and(|m| m.contains("`state`")), "{error}");
    Ok(())
}
