//! A running run's log, live: `trawler runs follow ID` prints each line as
//! the run writes it and ends with its outcome, and the run's page in a
//! real Chromium grows the same lines, then shows the outcome. The run has
//! two sources the simulator answers two seconds late each: the first's
//! line must arrive while the run still waits for the second (and after
//! the follower started: it comes live, not from the log read at first).

mod browser_kit;
mod common;

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{server_env, start_server, start_sim, Api, TOKEN};
use reqwest::Method;
use serde_json::json;
use trawler_domain::now_secs;
use trawler_store::testing::TestDb;

const SLOW_MS: u64 = 2_000;

/// A project with two slow sources; a run of it started.
fn slow_run(api: &Api, sim: &str, name: &str) -> Result<(i64, i64)> {
    let source = |r: &str| {
        json!({"platform": "html", "external_ref": r, "options": {
            "url": format!("{sim}/html/{{ref}}"), "metrics": {"backers": "b.supporters"}}})
    };
    let (first, second) = (format!("{name}-first"), format!("{name}-second"));
    for slow in [&first, &second] {
        let fault = json!({"target": format!("html:{slow}"), "fault": {"kind": "slow", "delay_ms": SLOW_MS}});
        let status = reqwest::blocking::Client::new().post(format!("{sim}/_sim/faults")).json(&fault).send()?.status();
        ensure!(status.is_success(), "{status}");
    }
    let body = json!({"name": name, "sources": [source(&first), source(&second)]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().context("id")?;
    // The project's first run (a new project is scraped at once) ends first.
    common::wait_until("the first run", Duration::from_secs(30), || {
        let runs = api.ok(&format!("/api/v1/projects/{id}/runs"))?;
        Ok(runs["runs"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["status"] != "running")))
    })?;
    let (status, run) = api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
    ensure!(status == 202, "{status} {run}");
    Ok((id, run["run_id"].as_i64().context("run id")?))
}

#[test]
fn a_runs_log_is_followed_line_by_line_until_it_ends() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_EXCHANGE_RATES", "false")],
    );
    let (_server, api) = start_server(&env)?;
    let (_, run) = slow_run(&api, &sim.addr, "follow")?;
    let started = Instant::now();
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["runs", "follow", &run.to_string()])
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = cli.stdout.take().context("stdout")?;
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        // When the first source's line arrives, the run is still running.
        if line.contains("follow-first:") {
            let now = api.ok(&format!("/api/v1/runs/{run}"))?;
            ensure!(now["status"] == "running", "the line came after the run ended: {now}");
        }
        lines.push((started.elapsed(), line));
    }
    ensure!(cli.wait()?.success());
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    ensure!(text.len() == 3, "{text:?}");
    ensure!(text[0].starts_with("html follow-first: 1 points in"), "{text:?}");
    ensure!(text[1].starts_with("html follow-second: 1 points in"), "{text:?}");
    ensure!(lines[0].0 >= Duration::from_millis(SLOW_MS / 2), "the first line came live: {lines:?}");
    ensure!(text[2] == format!("run {run} succeeded (2 points)"), "{text:?}");
    ensure!(lines[1].0 >= lines[0].0 + Duration::from_millis(SLOW_MS / 2), "lines as they come: {lines:?}");
    // A run that ended prints its log and outcome at once.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["runs", "follow", &run.to_string()])
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .output()?;
    let printed = String::from_utf8(again.stdout)?;
    ensure!(
        printed.lines().count() == 3 && printed.ends_with(&format!("run {run} succeeded (2 points)\n")),
        "{printed}"
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["runs", "follow", "999999"])
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .output()?;
    let said = String::from_utf8_lossy(&missing.stderr);
    ensure!(!missing.status.success() && said.contains("404"), "{said}");
    Ok(())
}

#[test]
fn a_running_runs_page_grows_its_log_live() -> Result<()> {
    let Some(driver) = browser_kit::chromedriver()? else { return Ok(()) };
    let node = browser_kit::ui_node(&[
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1h"),
        ("TRAWLER_EXCHANGE_RATES", "false"),
    ])?;
    let (_, run) = slow_run(&node.api, &node.sim.addr, "page")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = node.api.base.clone();
    let api = &node.api;
    rt.block_on(browser_kit::in_browser(&driver, "follow", move |b| {
        Box::pin(async move {
            browser_kit::log_in(b, &base).await?;
            b.client.goto(&format!("{base}/ui/runs/{run}")).await?;
            let log = b
                .wait(
                    "the first source's line",
                    Duration::from_secs(10),
                    "(document.querySelector('#run-log[data-follow]') || {}).textContent || false",
                )
                .await?;
            ensure!(log.as_str().is_some_and(|l| l.contains("html page-first: 1 points")), "{log}");
            let badge = b.client.execute("return document.querySelector('#run-status').textContent", vec![]).await?;
            ensure!(badge == json!("running"), "still running: {badge}");
            b.shot("live-log").await?;
            let done = b
                .wait(
                    "the run's end",
                    Duration::from_secs(15),
                    "document.querySelector('#run-status').textContent === 'succeeded' && document.querySelector('#run-log').textContent",
                )
                .await?;
            ensure!(done.as_str().is_some_and(|l| l.contains("html page-second: 1 points")), "{done}");
            Ok(())
        })
    }))?;
    ensure!(api.ok(&format!("/api/v1/runs/{run}"))?["status"] == "succeeded");
    Ok(())
}
