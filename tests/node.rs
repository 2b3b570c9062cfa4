//! The node over time: `GET /api/v1/admin/history` holds the node's own
//! samples, taken every 30 s, whose rates agree with the counters of
//! `/metrics`; the Node page in a real Chromium draws them; and every query
//! of the Grafana dashboard in docs/grafana/ names a metric the node
//! exports.

mod browser_kit;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::wait_until;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

/// The sample names an OpenMetrics page can have, from its `# TYPE`
/// lines: a gauge's own name, a counter's with `_total`, a histogram's
/// with `_bucket`, `_sum` and `_count`.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// The metric names a PromQL expression reads.
fn queried(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("trawler_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        out.push(name);
    }
    out
}

#[test]
fn the_node_samples_itself_and_the_grafana_dashboard_reads_what_it_exports() -> Result<()> {
    let driver = browser_kit::chromedriver()?;
    let node = browser_kit::ui_node(&[
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1s"),
        ("TRAWLER_EXCHANGE_RATES", "false"),
    ])?;
    let api = &node.api;
    let body = json!({"name": "sampled", "sources": [{"platform": "kickstarter", "external_ref": "node/lamp"}]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");

    // Every Grafana query names an exported metric.
    // As Prometheus asks for them: OpenMetrics, every family named, its
    // samples or not.
    let metrics = api
        .client
        .get(format!("{}/metrics", api.base))
        .bearer_auth(common::TOKEN)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()?
        .text()?;
    let names = exported(&metrics);
    ensure!(names.contains("trawler_fetches_total"), "{names:?}");
    let dashboard: Value = serde_json::from_str(include_str!("../docs/grafana/trawler.json"))?;
    let panels = dashboard["panels"].as_array().context("panels")?;
    ensure!(panels.len() >= 10, "a dashboard worth its name");
    let mut checked = 0;
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().context("expr")?;
            let read = queried(expr);
            ensure!(!read.is_empty(), "{}: reads no trawler metric: {expr}", panel["title"]);
            for name in read {
                ensure!(names.contains(&name), "{}: `{name}` is not exported: {names:?}", panel["title"]);
                checked += 1;
            }
        }
    }
    ensure!(checked >= 18, "{checked} names checked");
    ensure!(queried("rate(trawler_nothing_total[5m])") == vec!["trawler_nothing_total"]);

    // The first sample comes after a step (30 s): its fetch rate is the
    // counters' over that step.
    let mut history = Value::Null;
    wait_until("the first sample", Duration::from_secs(75), || {
        history = api.ok("/api/v1/admin/history?hours=1")?;
        Ok(history["samples"].as_array().is_some_and(|s| !s.is_empty()))
    })?;
    ensure!(history["step_secs"] == 30 && history["node"].is_string(), "{history}");
    let sample = &history["samples"][0];
    let polls = sample["fetches"]["kickstarter ok"].as_f64().context("kickstarter's fetches")?;
    ensure!((0.5..=1.6).contains(&polls), "one poll a second, give or take the first: {sample}");
    ensure!(sample["points"].as_f64().is_some_and(|p| p > 0.5), "{sample}");
    ensure!(sample["in_flight"]["kickstarter"].is_number(), "{sample}");
    let (status, refused) = api.get("/api/v1/admin/history?hours=7")?;
    ensure!(status == 400 && refused["error"]["code"] == "bad_request", "{refused}");

    let Some(driver) = driver else { return Ok(()) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    rt.block_on(browser_kit::in_browser(&driver, "node", move |b| {
        Box::pin(async move {
            browser_kit::log_in(b, &base).await?;
            b.client.find(Locator::LinkText("Node")).await?.click().await?;
            let drawn = b
                .wait(
                    "the fetches chart",
                    Duration::from_secs(10),
                    "(document.querySelector('figure[data-history=fetches]') || {dataset: {}}).dataset.points",
                )
                .await?;
            ensure!(drawn.as_str().is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)), "{drawn}");
            let legend = b
                .client
                .execute("return document.querySelector('figure[data-history=fetches]').textContent", vec![])
                .await?;
            ensure!(legend.as_str().is_some_and(|t| t.contains("kickstarter ok")), "{legend}");
            b.shot("node").await?;
            Ok(())
        })
    }))?;
    Ok(())
}
