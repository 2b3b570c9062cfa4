//! Gaps that explain themselves, end to end: a project polled every second
//! lives through a platform outage (the simulator answers 500: the
//! platform's circuit opens), its own campaign's page failing (404: the
//! platform is fine), a paused schedule (through the API) and a
//! quarantine; its series then marks the four gaps with their causes —
//! downsampled and raw — and its chart in a real Chromium draws them as
//! gaps and names each cause under the cursor.
//!
//! The supervisor quarantines a project that keeps crashing by storing its
//! status (`Project::set_status`; the crash loop itself is tested in the
//! actors' tree tests). Here the node is stopped and started again with
//! the project quarantined in its database, as after such a crash loop.
//! Screenshots go to `<target>/browser-artifacts/gaps/`.

mod browser_kit;
mod common;

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};
use trawler_domain::{now_secs, ProjectId, ProjectStatus};
use trawler_store::testing::TestDb;
use trawler_store::Project;

/// The chart's step on the project page's 15-minute range.
const STEP: i64 = 3;

/// How long each trouble lasts, seconds: three buckets.
const TROUBLE: u64 = 9;

/// The newest point of the project's pledges, epoch seconds.
fn newest(api: &Api, id: i64) -> Result<Option<i64>> {
    let s = api.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={}", now_secs() - 300))?;
    Ok(s["series"][0]["points"].as_array().and_then(|p| p.last()).and_then(|p| p[0].as_i64()))
}

/// Waits for a point newer than `after`, then for `settle` seconds of
/// healthy polls.
fn healthy_after(api: &Api, id: i64, after: i64, settle: u64) -> Result<()> {
    wait_until("a new point", Duration::from_secs(20), || Ok(newest(api, id)?.is_some_and(|t| t > after)))?;
    std::thread::sleep(Duration::from_secs(settle));
    Ok(())
}

/// The gaps of a series answer with one of `causes`, as (cause, from, until).
fn gaps_of(series: &Value, causes: &[&str]) -> Vec<(String, i64, i64)> {
    series["gaps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| causes.iter().any(|c| g["cause"] == *c))
        .map(|g| {
            (
                g["cause"].as_str().unwrap_or_default().to_owned(),
                g["ts"].as_i64().unwrap_or(0),
                g["until"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// Each trouble's window shows as a gap of its cause covering at least half
/// of it, and each gap of those causes lies within its own window (a slot
/// either side).
fn check(series: &Value, windows: &[(&str, i64, i64)], slot: i64) -> Result<()> {
    let causes: Vec<&str> = windows.iter().map(|w| w.0).collect();
    let gaps = gaps_of(series, &causes);
    for &(cause, a, b) in windows {
        let covered: i64 = gaps.iter().filter(|g| g.0 == cause).map(|g| (g.2.min(b) - g.1.max(a)).max(0)).sum();
        ensure!(covered * 2 >= b - a, "{cause} over [{a}, {b}]: only {covered} s in gaps: {}", series["gaps"]);
    }
    for (cause, from, until) in &gaps {
        let (_, a, b) = windows.iter().find(|w| w.0 == cause).context("a cause")?;
        ensure!(*from >= a - slot && *until <= b + 2 * slot, "{cause} gap [{from}, {until}) outside [{a}, {b}]");
    }
    ensure!(
        series["gaps"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|g| g["platform"] == "kickstarter" && g["reason"].is_string()),
        "{}",
        series["gaps"]
    );
    Ok(())
}

#[test]
fn an_outage_a_broken_page_a_pause_and_a_quarantine_are_gaps_with_their_causes() -> Result<()> {
    let driver = browser_kit::chromedriver()?;
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let data = std::env::temp_dir().join(format!("trawler_gaps_{}", std::process::id()));
    let hash = trawler_web::hash_password(browser_kit::PASSWORD).map_err(anyhow::Error::msg)?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_DATA_DIR", &data.to_string_lossy()),
            ("TRAWLER_ADMIN_PASSWORD_HASH", &hash),
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_MAX_RETRIES", "0"),
            ("TRAWLER_CIRCUIT_FAILURES", "1"),
            ("TRAWLER_CIRCUIT_OPEN_FOR", "2s"),
            ("TRAWLER_EXCHANGE_RATES", "false"),
        ],
    );
    let (server, api) = start_server(&env)?;
    let started = now_secs();
    let body = json!({"name": "Gappy", "sources": [{"platform": "kickstarter", "external_ref": "gaps/lamp"}]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().context("id")?;
    healthy_after(&api, id, 0, 5)?;

    // The platform goes down: the simulator answers 500.
    let sim_faults = format!("{}/_sim/faults", sim.addr);
    let http = reqwest::blocking::Client::new();
    let outage = now_secs();
    let set =
        http.post(&sim_faults).json(&json!({"target": "kickstarter", "fault": {"kind": "server_error"}})).send()?;
    ensure!(set.status() == 200, "fault: {}", set.status());
    std::thread::sleep(Duration::from_secs(TROUBLE));
    ensure!(http.delete(&sim_faults).send()?.status() == 200);
    let outage_end = now_secs();
    healthy_after(&api, id, outage_end, 5)?;

    // The campaign's own page fails; the platform answers everyone else.
    let broken = now_secs();
    let fault = json!({"target": "kickstarter:gaps/lamp", "fault": {"kind": "server_error", "status": 404}});
    ensure!(http.post(&sim_faults).json(&fault).send()?.status() == 200);
    std::thread::sleep(Duration::from_secs(TROUBLE));
    ensure!(http.delete(&sim_faults).send()?.status() == 200);
    let broken_end = now_secs();
    healthy_after(&api, id, broken_end, 5)?;

    // An admin pauses the schedule, then resumes it.
    let pause = now_secs();
    let (status, p) = api.send(Method::PATCH, &format!("/api/v1/projects/{id}"), Some(json!({"paused": true})))?;
    ensure!(status == 200, "{status} {p}");
    std::thread::sleep(Duration::from_secs(TROUBLE));
    let (status, p) = api.send(Method::PATCH, &format!("/api/v1/projects/{id}"), Some(json!({"paused": false})))?;
    ensure!(status == 200, "{status} {p}");
    let pause_end = now_secs();
    healthy_after(&api, id, pause_end, 5)?;

    // Quarantined (as the supervisor does after a crash loop), the node
    // restarts; an admin resumes the project.
    let quarantine = now_secs();
    Project::set_status(
        &mut *db.pool.get()?,
        ProjectId(id),
        ProjectStatus::Quarantined,
        Some("crashed 4 times in 600 s"),
    )?;
    drop(server);
    let (server, api) = start_server(&env)?;
    let view = api.ok(&format!("/api/v1/projects/{id}"))?;
    ensure!(view["status"] == "quarantined", "{view}");
    std::thread::sleep(
        Duration::from_secs(TROUBLE).saturating_sub(Duration::from_secs((now_secs() - quarantine) as u64)),
    );
    let (status, p) = api.send(Method::POST, &format!("/api/v1/projects/{id}/resume"), None)?;
    ensure!(status == 200, "{status} {p}");
    let quarantine_end = now_secs();
    healthy_after(&api, id, quarantine_end, 4)?;

    let windows = [
        ("circuit_open", outage, outage_end),
        ("failed", broken, broken_end),
        ("paused", pause, pause_end),
        ("quarantined", quarantine, quarantine_end),
    ];
    eprintln!("windows: {windows:?}");
    let from = started - 60;
    let stepped = api.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={from}&step={STEP}"))?;
    check(&stepped, &windows, STEP).with_context(|| format!("step {STEP}"))?;
    // The reasons say what happened.
    let reason = |cause: &str| -> String {
        stepped["gaps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["cause"] == cause)
            .map(|g| g["reason"].to_string())
            .unwrap_or_default()
    };
    ensure!(reason("circuit_open").contains("kickstarter"), "{}", reason("circuit_open"));
    ensure!(reason("quarantined").contains("crashed 4 times"), "{}", reason("quarantined"));
    ensure!(reason("paused").contains("paused"), "{}", reason("paused"));
    ensure!(reason("failed").contains("404"), "{}", reason("failed"));
    // The raw points (one a second) say the same, slot by slot.
    let raw = api.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={from}"))?;
    check(&raw, &windows, 2).context("raw")?;
    // Before the project existed nothing was due (from the first whole bucket on).
    let first = stepped["gaps"][0].clone();
    ensure!(first["cause"] == "not_yet_due" && first["ts"].as_i64() < Some(from + STEP), "{first}");

    if let Some(driver) = driver {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let base = api.base.clone();
        rt.block_on(browser_kit::in_browser(&driver, "gaps", move |b| {
            Box::pin(async move { chart(b, &base, id).await })
        }))?;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// The project page's pledges chart over the last 15 minutes: four gaps
/// drawn, each named under the cursor as the pointer sweeps the chart.
async fn chart(b: &mut browser_kit::Browser, base: &str, id: i64) -> Result<()> {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction};
    use fantoccini::Locator;
    browser_kit::log_in(b, base).await?;
    b.client.goto(&format!("{base}/ui/projects/{id}?range=15m")).await?;
    let drawn = b
        .wait(
            "the pledges chart with its gaps",
            Duration::from_secs(15),
            "(document.querySelector('figure[data-chart=pledged]') || {dataset: {}}).dataset.gaps",
        )
        .await?;
    for cause in ["circuit_open", "failed", "paused", "quarantined"] {
        ensure!(drawn.as_str().is_some_and(|d| d.split(' ').any(|c| c == cause)), "drawn: {drawn}");
    }
    b.shot("chart-with-gaps").await?;
    let over = b.client.find(Locator::Css("figure[data-chart=pledged] .u-over")).await?;
    let width = b
        .client
        .execute("return document.querySelector('figure[data-chart=pledged] .u-over').clientWidth", vec![])
        .await?;
    let width = width.as_f64().ok_or_else(|| anyhow!("no width: {width}"))?;
    let mut seen = std::collections::BTreeMap::new();
    let started = Instant::now();
    let mut x = -width / 2.0 + 1.0;
    while x < width / 2.0 - 1.0 {
        let mv = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
            element: over.clone(),
            duration: Some(Duration::ZERO),
            x,
            y: 0.0,
        });
        b.client.perform_actions(mv).await?;
        let note = b
            .client
            .execute(
                "const n = document.querySelector('figure[data-chart=pledged] .gap-note'); \
                 return n && !n.hidden ? [n.dataset.cause, n.textContent] : null",
                vec![],
            )
            .await?;
        if let Some(cause) = note[0].as_str() {
            if !seen.contains_key(cause) && cause != "missed" {
                seen.insert(cause.to_owned(), note[1].as_str().unwrap_or_default().to_owned());
                b.shot(&format!("hover-{cause}")).await?;
            }
        }
        x += 3.0;
        ensure!(started.elapsed() < Duration::from_secs(90), "the sweep took too long");
    }
    let named = [
        ("circuit_open", "platform down"),
        ("failed", "fetch failed"),
        ("paused", "scraping paused"),
        ("quarantined", "quarantined"),
    ];
    for (cause, words) in named {
        let text = seen.get(cause).ok_or_else(|| anyhow!("no {cause} under the cursor; seen {seen:?}"))?;
        ensure!(text.contains(words), "{cause}: {text}");
    }
    Ok(())
}
