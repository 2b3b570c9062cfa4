//! End-to-end: the real `trawler` binary (simulator + server) on SQLite and,
//! when `TRAWLER_TEST_DATABASE_URL` is set, on PostgreSQL. Everything is
//! checked through HTTP, the way a dashboard or an operator would.

mod common;

use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api, TOKEN};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use trawler_sim::{Ads, Campaign};
use trawler_store::testing::TestDb;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The values the simulator's model gives for a logged response.
fn model_values(platform: &str, reference: &str, epoch: i64, at: i64) -> Vec<(&'static str, f64)> {
    let c = Campaign::at(reference, epoch, at - epoch);
    match platform {
        "meta_ads" => {
            let a = Ads::at(reference, at - epoch);
            vec![
                ("spend", a.spend_cents as f64 / 100.0),
                ("impressions", a.impressions as f64),
                ("clicks", a.clicks as f64),
                ("purchases", a.purchases as f64),
                ("purchase_value", a.purchase_value_cents as f64 / 100.0),
            ]
        }
        _ => vec![
            ("pledged", c.pledged()),
            ("backers", c.backers as f64),
            ("goal", c.goal()),
            ("comments", c.comments as f64),
        ],
    }
}

/// Checks every stored point of a source against what the simulator served.
fn check_points_match_simulator(
    api: &Api,
    sim: &Client,
    sim_base: &str,
    epoch: i64,
    project: i64,
    platform: &str,
    reference: &str,
) -> Result<usize> {
    let metrics: &[&str] = match platform {
        "meta_ads" => &["spend", "impressions", "clicks", "purchases", "purchase_value"],
        "kickstarter" => &["pledged", "backers", "goal", "comments"],
        "indiegogo" => &["pledged", "backers", "goal"],
        _ => &["pledged", "backers"],
    };
    // Stored points first, the simulator's log after: polls keep running, and
    // a log read first would miss what they store meanwhile.
    let mut stored = Vec::new();
    for metric in metrics {
        let series =
            api.ok(&format!("/api/v1/projects/{project}/series?metric={metric}&platform={platform}&from=0"))?;
        for point in series["series"][0]["points"].as_array().cloned().unwrap_or_default() {
            stored.push((*metric, point[0].as_i64().unwrap_or_default(), point[1].as_f64().unwrap_or(f64::NAN)));
        }
    }
    let log: Vec<Value> =
        sim.get(format!("{sim_base}/_sim/log?platform={platform}&reference={reference}")).send()?.json()?;
    ensure!(!log.is_empty(), "the simulator served nothing for {platform} {reference}");
    // The log itself follows the deterministic model.
    for entry in &log {
        let at = entry["at"].as_i64().unwrap_or_default();
        for (metric, expected) in model_values(platform, reference, epoch, at) {
            if let Some(v) = entry["values"][metric].as_f64() {
                ensure!(close(v, expected), "simulator log {metric}={v} but the model says {expected} at {at}");
            }
        }
    }
    for (metric, ts, value) in &stored {
        // Served at most a few seconds before it was stored (retries, slow CI).
        let served = log.iter().any(|e| {
            let at = e["at"].as_i64().unwrap_or_default();
            at <= *ts && ts - at <= 5 && e["values"][*metric].as_f64().is_some_and(|v| close(v, *value))
        });
        ensure!(served, "{platform} {reference}: stored {metric}={value} at {ts} was never served by the simulator");
    }
    Ok(stored.len())
}

fn last_at_or_before(points: &[Value], t: i64) -> Option<f64> {
    points.iter().rfind(|p| p[0].as_i64().is_some_and(|ts| ts <= t)).and_then(|p| p[1].as_f64())
}

/// Odd input on every route: always a 4xx with a JSON error, never a 5xx.
fn check_bad_input_never_fails_the_server(api: &Api) -> Result<()> {
    use reqwest::Method;
    let (_, created) = api.send(Method::POST, "/api/v1/projects", Some(json!({"name": "fuzz target"})))?;
    let id = created["id"].as_i64().unwrap_or(1);
    let gets = [
        format!("/api/v1/projects/{id}/series"),
        format!("/api/v1/projects/{id}/series?metric=Pledged"),
        format!("/api/v1/projects/{id}/series?metric=pledged&from=10&to=5"),
        format!("/api/v1/projects/{id}/series?metric=pledged&from=-9223372036854775808&to=9223372036854775807&step=1"),
        format!("/api/v1/projects/{id}/series?metric=pledged&step=0"),
        format!("/api/v1/projects/{id}/series?metric=pledged&step=-5"),
        format!("/api/v1/projects/{id}/series?metric=pledged&agg=median"),
        format!("/api/v1/projects/{id}/series?metric=pledged&platform=myspace"),
        format!("/api/v1/projects/{id}/series?metric=pledged&from=abc"),
        format!("/api/v1/projects/{id}/series?metric=pledged&bogus=1"),
        format!("/api/v1/projects/{id}/summary?from=9223372036854775807&to=0"),
        format!("/api/v1/projects/{id}/runs?limit=0"),
        format!("/api/v1/projects/{id}/runs?limit=99999999999999999999"),
        "/api/v1/projects?status=paused".into(),
        "/api/v1/projects?limit=0".into(),
        "/api/v1/projects?limit=10001".into(),
        "/api/v1/projects?after=abc".into(),
        "/api/v1/projects/99999999999999999999".into(),
        "/api/v1/projects/-1".into(),
        "/api/v1/runs/0".into(),
        "/api/v1/nothing-here".into(),
        "/api/v1/projects/1/%00".into(),
    ];
    for path in &gets {
        let (status, body) = api.get(path)?;
        ensure!((400..500).contains(&status), "GET {path}: {status} {body}");
        ensure!(body["error"]["code"].is_string(), "GET {path}: no JSON error: {body}");
    }
    for path in [
        format!("/api/v1/projects/{id}/series?metric=pledged&from=abc"),
        format!("/api/v1/projects/{id}/summary?to=2025-12-05"),
        format!("/api/v1/projects/{id}/export.csv?from=-1"),
    ] {
        let (status, body) = api.get(&path)?;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        ensure!(
            status == 400 && message.contains("epoch seconds") && message.contains("RFC 3339"),
            "GET {path}: the error names both forms of a time: {status} {body}"
        );
    }
    let long_name = "x".repeat(300);
    let bodies = [
        json!({}),
        json!({"name": ""}),
        json!({"name": long_name}),
        json!({"name": "ok", "extra": 1}),
        json!({"name": "ok", "sources": "nope"}),
        json!({"name": "ok", "sources": [{"platform": "kickstarter", "external_ref": "no-slash"}]}),
        json!({"name": "ok", "sources": [{"platform": "kickstarter", "external_ref": "a/b", "options": []}]}),
        json!({"name": "ok", "sources": [{"platform": "http_json", "external_ref": "a", "options": {"url": "ftp://x/{ref}", "metrics": {"p": "/a"}}}]}),
        json!({"name": "ok", "sources": [{"platform": "http_json", "external_ref": "a", "options": {"url": "http://x/{ref}", "metrics": {"p": "a"}}}]}),
        json!({"name": "ok", "sources": [{"platform": "html", "external_ref": "a", "options": {"url": "http://x/{ref}", "metrics": {"p": "<<<"}}}]}),
        json!({"name": "ok", "sources": [{"platform": "html", "external_ref": "a b", "options": {"url": "http://x/", "metrics": {"p": "p"}}}]}),
        json!([1, 2, 3]),
        json!("just a string"),
    ];
    for body in &bodies {
        let (status, answer) = api.send(Method::POST, "/api/v1/projects", Some(body.clone()))?;
        ensure!((400..500).contains(&status), "POST {body}: {status} {answer}");
        let (status, answer) = api.send(Method::PATCH, &format!("/api/v1/projects/{id}"), Some(body.clone()))?;
        ensure!(status == 200 || (400..500).contains(&status), "PATCH {body}: {status} {answer}");
    }
    let big = json!({"name": "x".repeat(300_000)});
    let (status, _) = api.send(Method::POST, "/api/v1/projects", Some(big))?;
    ensure!(status == 413, "oversized body: {status}");
    let (status, _) = api.send(Method::PUT, "/api/v1/projects", Some(json!({})))?;
    ensure!(status == 405, "wrong method: {status}");
    let (status, _) = api.send(Method::DELETE, &format!("/api/v1/projects/{id}"), None)?;
    ensure!(status == 200, "archive the fuzz target: {status}");
    Ok(())
}

fn run_scenario(db_url: &str) -> Result<()> {
    let epoch = trawler_domain::now_secs() - 3600;
    let sim = start_sim(epoch, &[])?;
    let sim_base = sim.addr.clone();
    let (_server, api) = start_server(&server_env(db_url, &sim_base, &[]))?;
    let client = api.client.clone();

    // Access control and bad input: JSON errors with the right status.
    let resp = client.get(format!("{}/api/v1/projects", api.base)).send()?;
    ensure!(resp.status() == 401, "no token must be 401");
    let body: Value = resp.json()?;
    ensure!(body["error"]["code"] == "unauthorized", "{body}");
    let resp = client.get(format!("{}/api/v1/projects", api.base)).bearer_auth("wrong-token-wrong-token").send()?;
    ensure!(resp.status() == 401);
    let (status, body) = api.send(
        reqwest::Method::POST,
        "/api/v1/projects",
        Some(json!({"name": "x", "sources": [{"platform": "myspace", "external_ref": "a"}]})),
    )?;
    ensure!(
        status == 400 && body["error"]["message"].as_str().is_some_and(|m| m.contains("myspace")),
        "{status} {body}"
    );
    let (status, _) = api.send(
        reqwest::Method::POST,
        "/api/v1/projects",
        Some(json!({"name": "x", "sources": [{"platform": "meta_ads", "external_ref": "act_1"}]})),
    )?;
    ensure!(status == 400, "meta_ads without a token must be refused");
    let (status, body) = api.get("/api/v1/projects/999999")?;
    ensure!(status == 404 && body["error"]["code"] == "project_not_found", "{status} {body}");
    let (status, _) = api.get("/api/v1/projects/abc")?;
    ensure!(status == 400);
    let resp = client
        .post(format!("{}/api/v1/projects", api.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()?;
    ensure!(resp.status() == 400);

    check_bad_input_never_fails_the_server(&api)?;

    // One project per platform, plus a campaign with ads for derived metrics.
    let specs = vec![
        ("Kickstarter only", vec![json!({"platform": "kickstarter", "external_ref": "e2e/lamp"})]),
        ("Indiegogo", vec![json!({"platform": "indiegogo", "external_ref": "4242", "secret": "igg-token"})]),
        ("Meta only", vec![json!({"platform": "meta_ads", "external_ref": "act_777", "secret": "meta-token"})]),
        (
            "Generic JSON",
            vec![
                json!({"platform": "http_json", "external_ref": "json-1", "options": {"url": format!("{sim_base}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}}}),
            ],
        ),
        (
            "Generic HTML",
            vec![
                json!({"platform": "html", "external_ref": "html-1", "options": {"url": format!("{sim_base}/html/{{ref}}"), "metrics": {"pledged": ".raised", "backers": "meta[property='sim:backers']@content"}}}),
            ],
        ),
        (
            "Campaign with ads",
            vec![
                json!({"platform": "kickstarter", "external_ref": "e2e/stove"}),
                // A campaign id says no currency: the option does (the
                // campaign's, so no rate is needed for its blended RoAS).
                json!({"platform": "meta_ads", "external_ref": "9001", "secret": "meta-token-2",
                    "options": {"currency": Campaign::at("e2e/stove", 0, 0).currency}}),
            ],
        ),
    ];
    let mut projects = Vec::new();
    for (name, sources) in &specs {
        let (status, body) =
            api.send(reqwest::Method::POST, "/api/v1/projects", Some(json!({"name": name, "sources": sources})))?;
        ensure!(status == 201, "create {name}: {status} {body}");
        ensure!(!body.to_string().contains("meta-token"), "a secret leaked: {body}");
        // Created through a running node: scheduled (for the SLO) at once.
        ensure!(body["scheduled_from_ms"] == body["created_at_ms"], "{body}");
        projects.push(body["id"].as_i64().ok_or_else(|| anyhow!("no id"))?);
    }

    // The listing, whole and walked two at a time, gives the same projects
    // with their sources.
    let whole = api.ok("/api/v1/projects")?;
    ensure!(whole.get("next_after").is_none(), "{whole}");
    let whole = whole["projects"].as_array().cloned().unwrap_or_default();
    let mut walked = Vec::new();
    let mut path = "/api/v1/projects?limit=2".to_owned();
    loop {
        let page = api.ok(&path)?;
        let items = page["projects"].as_array().cloned().unwrap_or_default();
        ensure!(items.len() <= 2, "{page}");
        walked.extend(items);
        match page["next_after"].as_i64() {
            Some(after) => path = format!("/api/v1/projects?limit=2&after={after}"),
            None => break,
        }
    }
    // Compared without the sources' campaign state and currency, which the
    // scrapes under way fill in between the two listings.
    let settled = |list: &[Value]| -> Vec<Value> {
        let mut list = list.to_vec();
        for p in &mut list {
            for s in p["sources"].as_array_mut().into_iter().flatten() {
                if let Some(s) = s.as_object_mut() {
                    s.remove("campaign");
                    s.remove("currency");
                }
            }
        }
        list
    };
    ensure!(settled(&walked) == settled(&whole), "pages {walked:?} differ from the whole listing {whole:?}");
    for (listed, (name, sources)) in whole.iter().rev().zip(specs.iter().rev()) {
        ensure!(listed["name"] == *name, "{listed}");
        ensure!(listed["sources"].as_array().map(Vec::len) == Some(sources.len()), "{listed}");
    }

    // Trigger a scrape of each and wait for its run to finish.
    for &id in &projects {
        let (status, body) = api.send(reqwest::Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
        ensure!(status == 202, "trigger {id}: {status} {body}");
        let run = body["run_id"].as_i64().ok_or_else(|| anyhow!("no run id"))?;
        wait_until("the run to finish", Duration::from_secs(30), || {
            Ok(api.ok(&format!("/api/v1/runs/{run}"))?["status"] != "running")
        })?;
        let run = api.ok(&format!("/api/v1/runs/{run}"))?;
        ensure!(run["status"] == "succeeded", "run of project {id}: {run}");
        ensure!(run["points_written"].as_i64() > Some(0), "{run}");
        ensure!(run["log"].as_str().is_some_and(|l| l.contains("points")), "{run}");
    }
    // Let the fast poll add points too.
    std::thread::sleep(Duration::from_millis(3500));

    // Every stored point is a value the simulator served.
    let sources = [
        (0, "kickstarter", "e2e/lamp"),
        (1, "indiegogo", "4242"),
        (2, "meta_ads", "act_777"),
        (3, "http_json", "json-1"),
        (4, "html", "html-1"),
        (5, "kickstarter", "e2e/stove"),
        (5, "meta_ads", "9001"),
    ];
    let sim_client = Client::new();
    for (i, platform, reference) in sources {
        let checked =
            check_points_match_simulator(&api, &sim_client, &sim_base, epoch, projects[i], platform, reference)?;
        ensure!(checked >= 2, "{platform} {reference}: only {checked} points");
        let runs = api.ok(&format!("/api/v1/projects/{}/runs", projects[i]))?;
        ensure!(runs["runs"].as_array().is_some_and(|r| !r.is_empty()), "no runs recorded: {runs}");
    }

    // The summary's derived metrics are the arithmetic of the stored series.
    let pid = projects[5];
    let series = |metric: &str, platform: &str| -> Result<Vec<Value>> {
        Ok(api.ok(&format!("/api/v1/projects/{pid}/series?metric={metric}&platform={platform}&from=0"))?["series"][0]
            ["points"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    };
    let spend = series("spend", "meta_ads")?;
    let value = series("purchase_value", "meta_ads")?;
    let pledged = series("pledged", "kickstarter")?;
    let backers = series("backers", "kickstarter")?;
    let goal = series("goal", "kickstarter")?;
    ensure!(spend.len() >= 3 && pledged.len() >= 3, "too few points to test a range");
    // End the range at the next-to-last point: the latest second may still get points.
    let to = spend[spend.len() - 2][0].as_i64().unwrap_or_default();
    let from = spend[1][0].as_i64().unwrap_or_default();
    let summary = api.ok(&format!("/api/v1/projects/{pid}/summary?from={from}&to={to}"))?;
    let delta = |pts: &[Value]| -> Option<f64> {
        Some(last_at_or_before(pts, to)? - last_at_or_before(pts, from - 1).unwrap_or(0.0))
    };
    let (d_spend, d_value, d_pledged, d_backers) = (delta(&spend), delta(&value), delta(&pledged), delta(&backers));
    let expect = |num: Option<f64>, den: Option<f64>| match (num, den) {
        (Some(n), Some(d)) if d != 0.0 => Some(n / d),
        _ => None,
    };
    let derived = &summary["derived"];
    for (name, expected) in [
        ("roas", expect(d_value, d_spend)),
        ("blended_roas", expect(d_pledged, d_spend)),
        ("cost_per_backer", expect(d_spend, d_backers)),
        ("funded_pct", expect(last_at_or_before(&pledged, to), last_at_or_before(&goal, to)).map(|r| r * 100.0)),
    ] {
        match (derived[name].as_f64(), expected) {
            (Some(got), Some(want)) => ensure!(close(got, want), "{name}: {got} != {want} ({summary})"),
            (None, None) => {}
            (got, want) => bail!("{name}: got {got:?}, expected {want:?} ({summary})"),
        }
    }
    ensure!(derived["roas"].as_f64().is_some(), "spend grew, so RoAS must be defined: {summary}");
    // The same range written as RFC 3339 times (with an offset) gives the same figures.
    let at = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .map(|t| t.with_timezone(&chrono::FixedOffset::east_opt(3600).expect("one hour")).to_rfc3339())
            .unwrap_or_default()
            .replace('+', "%2B")
    };
    let same = api.ok(&format!("/api/v1/projects/{pid}/summary?from={}&to={}", at(from), at(to)))?;
    ensure!(
        same["from"] == summary["from"] && same["to"] == summary["to"] && same["derived"] == summary["derived"],
        "RFC 3339 range: {same} != {summary}"
    );

    // The operators' view lists every scraper.
    let actors = api.ok("/api/v1/admin/actors")?;
    let scrapers: Vec<i64> = actors["actors"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["kind"] == "scraper").filter_map(|x| x["project_id"].as_i64()).collect())
        .unwrap_or_default();
    for id in &projects {
        ensure!(scrapers.contains(id), "no scraper for project {id} in {actors}");
    }
    let counted = actors["actors"].as_array().is_some_and(|a| {
        a.iter().filter(|x| x["kind"] == "scraper" || x["kind"] == "ingest").all(|x| x["mailbox"].is_u64())
    });
    ensure!(counted, "scrapers and the ingest actor report their mailbox: {actors}");
    let retention = actors["actors"].as_array().and_then(|a| a.iter().find(|x| x["kind"] == "retention").cloned());
    ensure!(
        retention.is_some_and(|r| r["detail"]["keep_raw_secs"] == 90 * 86_400),
        "the default retention runs: {actors}"
    );

    // Export: every stored point, streamed as CSV and as JSON lines. The
    // range ends a few seconds ago: polls keep storing points stamped now.
    let to = trawler_domain::now_secs() - 5;
    let total: usize =
        ["spend", "purchase_value", "pledged", "backers", "goal", "comments", "impressions", "clicks", "purchases"]
            .iter()
            .map(|m| -> Result<usize> {
                let s = api.ok(&format!("/api/v1/projects/{pid}/series?metric={m}&from=0&to={to}"))?;
                Ok(s["series"]
                    .as_array()
                    .map_or(0, |a| a.iter().map(|x| x["points"].as_array().map_or(0, Vec::len)).sum()))
            })
            .sum::<Result<usize>>()?;
    let csv = client.get(format!("{}/api/v1/projects/{pid}/export.csv?to={to}", api.base)).bearer_auth(TOKEN).send()?;
    ensure!(csv.headers().get("content-type").is_some_and(|v| v.to_str().is_ok_and(|t| t.starts_with("text/csv"))));
    let csv = csv.text()?;
    let mut lines = csv.lines();
    ensure!(lines.next() == Some("project_id,platform,metric,ts,time,value,resolution,currency"), "{csv}");
    ensure!(lines.clone().count() == total, "CSV has {} rows, series have {total} points", lines.count());
    let jsonl = client
        .get(format!("{}/api/v1/projects/{pid}/export.jsonl?to={to}", api.base))
        .bearer_auth(TOKEN)
        .send()?
        .text()?;
    let parsed: Vec<Value> = jsonl.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    ensure!(parsed.len() == total && parsed.iter().all(|r| r["resolution"] == "raw"), "{jsonl}");
    let (status, _) = api.get(&format!("/api/v1/projects/{pid}/export.csv?from=10&to=5"))?;
    ensure!(status == 400);
    let (status, _) = api.get("/api/v1/projects/999999/export.jsonl")?;
    ensure!(status == 404);

    // Prometheus metrics: admin only, counted by platform, outcome and route.
    let resp = client.get(format!("{}/metrics", api.base)).send()?;
    ensure!(resp.status() == 401, "/metrics without a token: {}", resp.status());
    let metrics = client
        .get(format!("{}/metrics", api.base))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .bearer_auth(TOKEN)
        .send()?
        .text()?;
    for needle in [
        r#"trawler_fetches_total{platform="meta_ads",kind="full",outcome="ok"}"#,
        r#"trawler_fetches_total{platform="html",kind="poll",outcome="ok"}"#,
        "trawler_points_written_total",
        // Points pass through the spool as they are written: some may be
        // in it at the moment of the read.
        "trawler_spool_points ",
        r#"trawler_scrapers{status="idle"}"#,
        r#"trawler_circuit_state{platform="kickstarter"} 0"#,
        r#"trawler_gate_wait_seconds_bucket{le="0.001",platform="kickstarter"}"#,
        r#"trawler_slot_lateness_seconds_count{kind="poll"}"#,
        r#"trawler_slot_lateness_seconds_count{kind="full"}"#,
        r#"route="/api/v1/projects/{id}""#,
        "# EOF",
    ] {
        ensure!(metrics.contains(needle), "/metrics lacks `{needle}`:\n{metrics}");
    }
    // The event-loop probe has been waking every 100 ms since the start.
    let probes = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trawler_runtime_stall_seconds_count "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    ensure!(probes.is_some_and(|n| n >= 5), "the stall probe reports: {probes:?}\n{metrics}");
    // The OpenAPI document and its docs page need no token.
    let doc: Value = client.get(format!("{}/api/v1/openapi.json", api.base)).send()?.json()?;
    ensure!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    for path in ["/api/v1/projects", "/api/v1/projects/{id}/series", "/api/v1/admin/webhooks/{id}/deliveries"] {
        ensure!(doc["paths"][path].is_object(), "the document lacks {path}");
    }
    let docs = client.get(format!("{}/api/v1/docs/", api.base)).send()?;
    ensure!(docs.status() == 200 && docs.text()?.contains("swagger"), "the docs page is served");

    // Without asking for OpenMetrics: the classic text format, which
    // promtool validates (CI installs it and sets TRAWLER_REQUIRE_PROMTOOL).
    let resp = client.get(format!("{}/metrics", api.base)).bearer_auth(TOKEN).send()?;
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    ensure!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = resp.text()?;
    ensure!(text.contains("# TYPE trawler_fetches_total counter") && !text.contains("# EOF"), "{text}");
    common::promtool_check(&text)?;

    // Archiving stops the requests at the simulator.
    let archived = projects[0];
    let (status, body) = api.send(reqwest::Method::DELETE, &format!("/api/v1/projects/{archived}"), None)?;
    ensure!(status == 200 && body["status"] == "archived", "{status} {body}");
    std::thread::sleep(Duration::from_millis(1500)); // requests already in flight may land
    let count = || -> Result<u64> {
        let stats: Value = sim_client.get(format!("{sim_base}/_sim/stats")).send()?.json()?;
        Ok(stats["sources"]["kickstarter:e2e/lamp"]["requests"].as_u64().unwrap_or(0))
    };
    let before = count()?;
    std::thread::sleep(Duration::from_secs(5)); // > one full interval and several polls
    ensure!(count()? == before, "the archived project was still fetched");
    let still = count()?;
    let other: Value = sim_client.get(format!("{sim_base}/_sim/stats")).send()?.json()?;
    ensure!(
        other["sources"]["kickstarter:e2e/stove"]["requests"].as_u64() > Some(still.min(1)),
        "active projects stopped too"
    );
    let (status, body) = api.send(reqwest::Method::POST, &format!("/api/v1/projects/{archived}/scrape"), None)?;
    ensure!(
        status == 409 && body["error"]["code"] == "project_archived",
        "triggering an archived project: {status} {body}"
    );
    let actors = api.ok("/api/v1/admin/actors")?;
    ensure!(
        !actors["actors"].as_array().is_some_and(|a| a.iter().any(|x| x["project_id"].as_i64() == Some(archived))),
        "the archived project's scraper is still listed"
    );
    // Resumed, its schedule counts again from now: the slots while it was
    // archived are not misses.
    let before = trawler_domain::now_millis();
    let (status, body) = api.send(reqwest::Method::POST, &format!("/api/v1/projects/{archived}/resume"), None)?;
    ensure!(status == 200 && body["status"] == "active", "{status} {body}");
    ensure!(body["scheduled_from_ms"].as_i64().is_some_and(|t| t >= before), "{body}");
    let fresh = api.ok(&format!("/api/v1/admin/freshness?from={}", before / 1000 - 60))?;
    let row = fresh["projects"].as_array().into_iter().flatten().find(|r| r["project_id"] == archived);
    ensure!(row.is_some_and(|r| r["missed"] == 0), "{fresh}");
    Ok(())
}

#[test]
fn end_to_end_on_sqlite() -> Result<()> {
    let db = TestDb::sqlite()?;
    run_scenario(&db.url)
}

#[test]
fn end_to_end_on_postgres() -> Result<()> {
    match TestDb::postgres() {
        Some(db) => run_scenario(&db?.url),
        None => {
            eprintln!("TRAWLER_TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
            Ok(())
        }
    }
}

/// A node that starts on a database full of old runs, deliveries' history
/// and a long-gone node prunes them by its settings, keeps each project's
/// newest runs, and says what it deleted on `/admin/actors`.
fn prunes_old_history(db: &TestDb) -> Result<()> {
    use trawler_domain::{ProjectStatus, RunKind, RunStatus, RunTrigger};
    use trawler_store::{Node, Project, Run, RunEnd};
    const DAY_MS: i64 = 86_400_000;
    let now = trawler_domain::now_millis();
    let mut conn = db.pool.get()?;
    // Archived: no scraper adds runs of its own while the test counts.
    let (project, _) = Project::create(&mut conn, "long history", &[])?;
    Project::set_status(&mut conn, project.id, ProjectStatus::Archived, None)?;
    for days_ago in (40..70).rev() {
        let run =
            Run::start_at(&mut conn, project.id, RunKind::Full, RunTrigger::Schedule, "old", now - days_ago * DAY_MS)?;
        Run::finish(&mut conn, run.id, RunEnd { log: "old run\n", ..RunEnd::new(RunStatus::Succeeded) })?;
    }
    for days_ago in (0..3).rev() {
        let run =
            Run::start_at(&mut conn, project.id, RunKind::Full, RunTrigger::Schedule, "old", now - days_ago * DAY_MS)?;
        Run::finish(&mut conn, run.id, RunEnd::new(RunStatus::Succeeded))?;
    }
    Node::heartbeat(&mut conn, "long-gone", "i0", "0.0.1", now - 60 * DAY_MS, now - 30 * DAY_MS, None)?;
    drop(conn);

    let env = server_env(&db.url, "http://127.0.0.1:9", &[("TRAWLER_RUNS_KEEP", "5")]);
    let (_server, api) = start_server(&env)?;
    let mut retention = Value::Null;
    wait_until("the first retention pass", Duration::from_secs(30), || {
        let actors = api.ok("/api/v1/admin/actors")?;
        retention = actors["actors"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["kind"] == "retention").cloned())
            .unwrap_or_default();
        Ok(retention["last_run_ms"].is_i64() && retention["detail"]["pruned_total"]["runs"].as_u64() > Some(0))
    })?;
    let detail = &retention["detail"];
    ensure!(detail["keep"]["runs_secs"] == 30 * 86_400, "default runs retention: {detail}");
    ensure!(detail["keep"]["runs_min_per_project"] == 5, "runs_keep from the environment: {detail}");
    ensure!(detail["pruned_total"]["runs"] == 28, "of 30 old runs, 2 are kept beside the 3 recent ones: {detail}");
    ensure!(detail["pruned_total"]["nodes"] == 1, "the silent node's row goes: {detail}");

    let runs = api.ok(&format!("/api/v1/projects/{}/runs?limit=500", project.id.0))?;
    let starts: Vec<i64> = runs["runs"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["started_at_ms"].as_i64()).collect())
        .unwrap_or_default();
    ensure!(starts.len() == 5, "the project keeps its newest 5 runs: {runs}");
    let oldest_kept_days = (now - starts.iter().min().copied().unwrap_or(now)) / DAY_MS;
    ensure!(oldest_kept_days == 41, "the kept runs are the newest ones (oldest {oldest_kept_days} days): {runs}");
    Ok(())
}

#[test]
fn old_history_is_pruned_on_sqlite() -> Result<()> {
    prunes_old_history(&TestDb::sqlite()?)
}

#[test]
fn old_history_is_pruned_on_postgres() -> Result<()> {
    match TestDb::postgres() {
        Some(db) => prunes_old_history(&db?),
        None => {
            eprintln!("TRAWLER_TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
            Ok(())
        }
    }
}
