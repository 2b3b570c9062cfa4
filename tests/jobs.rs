//! Bulk on a filter: 300 projects, 60 of whose platforms fail; an operator
//! archives every project whose last run failed as one job, not a page of
//! checkboxes. Through the API (counted first, refused when the count it
//! was shown changed, followed over its event stream, cancelled), through
//! `trawler projects bulk --filter` (a progress bar, `--yes` needed off a
//! terminal), and in a real Chromium (the filter, the confirmation that
//! counts, the progress bar, the skipped ones). Screenshots go to
//! `<target>/browser-artifacts/bulk-job/`.

mod browser_kit;
mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{wait_until, Api, TOKEN};
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

const PROJECTS: usize = 300;
/// The two tests each start a node with 300 projects: one at a time, so
/// neither node's scrapes time out behind the other's on a small machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
const FAILING: usize = 60;
/// Failing projects archived before the job: it skips them.
const ARCHIVED_BEFORE: usize = 5;

/// The projects: `(failing ids, healthy ids)`, every creation scrape ended.
fn three_hundred(api: &Api, sim: &str) -> Result<(Vec<i64>, Vec<i64>)> {
    let faults = reqwest::blocking::Client::new();
    let (mut failing, mut healthy) = (Vec::new(), Vec::new());
    for i in 0..PROJECTS {
        let bad = i % (PROJECTS / FAILING) == 0;
        let reference = format!("maker/{}-{i}", if bad { "broken" } else { "fine" });
        if bad {
            let target = format!("kickstarter:{reference}");
            let resp = faults
                .post(format!("{sim}/_sim/faults"))
                .json(&json!({"target": target, "fault": {"kind": "server_error"}}))
                .send()?;
            ensure!(resp.status() == 200, "{target}: {}", resp.status());
        }
        let body = json!({"name": format!("campaign {i:03}"),
            "sources": [{"platform": "kickstarter", "external_ref": reference}]});
        let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
        let id = p["id"].as_i64().context("id")?;
        if bad {
            failing.push(id);
        } else {
            healthy.push(id);
        }
    }
    // Every project's scrapes so far ended: the broken ones' failed, the
    // others' succeeded (a project may have run more than once by then — a
    // campaign found over gets its final scrape — so projects are counted,
    // not runs).
    let projects_of = |status: &str| -> Result<BTreeSet<i64>> {
        let runs = api.ok(&format!("/api/v1/runs?status={status}&limit=500"))?;
        Ok(runs["runs"].as_array().into_iter().flatten().filter_map(|r| r["project_id"].as_i64()).collect())
    };
    let (want_failed, want_ok): (BTreeSet<i64>, BTreeSet<i64>) =
        (failing.iter().copied().collect(), healthy.iter().copied().collect());
    let mut seen = (0, 0, 0);
    let ended = wait_until("every creation scrape to end", Duration::from_secs(120), || {
        let (failed, ok, running) = (projects_of("failed")?, projects_of("succeeded")?, projects_of("running")?);
        seen = (failed.len(), ok.len(), running.len());
        Ok(failed == want_failed && ok == want_ok && running.is_empty())
    });
    ensure!(
        ended.is_ok(),
        "projects with failed, succeeded, running runs: {seen:?}, not ({FAILING}, {}, 0)",
        PROJECTS - FAILING
    );
    for id in &failing[..ARCHIVED_BEFORE] {
        let (status, body) = api.send(Method::DELETE, &format!("/api/v1/projects/{id}"), None)?;
        ensure!(status == 200, "{status} {body}");
    }
    Ok((failing, healthy))
}

fn statuses(api: &Api, ids: &[i64]) -> Result<BTreeSet<String>> {
    let all = api.ok("/api/v1/projects?limit=10000")?;
    let wanted: BTreeSet<i64> = ids.iter().copied().collect();
    Ok(all["projects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["id"].as_i64().is_some_and(|id| wanted.contains(&id)))
        .map(|p| p["status"].as_str().unwrap_or("?").to_owned())
        .collect())
}

fn start(api: &Api, body: Value) -> Result<(u16, Value)> {
    api.send(Method::POST, "/api/v1/admin/jobs", Some(body))
}

/// Reads a job's event stream to its end: its `progress` events and its
/// `done` report.
fn follow(api: &Api, id: u64) -> Result<(Vec<Value>, Value)> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?
        .get(format!("{}/api/v1/admin/jobs/{id}/events", api.base))
        .bearer_auth(TOKEN)
        .send()?;
    ensure!(resp.status() == 200, "{}", resp.status());
    let (mut progress, mut event) = (Vec::new(), String::new());
    for line in BufReader::new(resp).lines() {
        let line = line?;
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let value: Value = serde_json::from_str(data)?;
            match event.as_str() {
                "progress" => progress.push(value),
                "done" => return Ok((progress, value)),
                other => anyhow::bail!("unexpected event `{other}`"),
            }
        }
    }
    anyhow::bail!("the stream ended without `done`")
}

#[test]
fn every_failed_project_is_archived_as_one_job_through_the_api_and_the_cli() -> Result<()> {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sim = common::start_sim(trawler_domain::now_secs() - 3600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = common::server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_MAX_RETRIES", "0")],
    );
    let (_server, api) = common::start_server(&env)?;
    let (failing, healthy) = three_hundred(&api, &sim.addr)?;

    // Counted before acting; nothing matching is said, not an error.
    let (status, counted) = start(&api, json!({"action": "archive", "filter": "last=failed", "dry_run": true}))?;
    ensure!(status == 200 && counted["matched"] == FAILING && counted["job"].is_null(), "{status} {counted}");
    let (status, none) = start(&api, json!({"action": "archive", "filter": "q=no-such-campaign"}))?;
    ensure!(status == 200 && none["matched"] == 0 && none["job"].is_null(), "{status} {none}");
    ensure!(none["message"].as_str().is_some_and(|m| m.starts_with("0 projects match")), "{none}");
    // A misspelt key would match everything: refused.
    let (status, typo) = start(&api, json!({"action": "archive", "filter": "lats=failed"}))?;
    ensure!(status == 400 && typo["error"]["message"].as_str().is_some_and(|m| m.contains("`lats`")), "{typo}");
    // The count the operator confirmed must still hold.
    let (status, changed) = start(&api, json!({"action": "archive", "filter": "last=failed", "expect": 59}))?;
    ensure!(status == 409 && changed["error"]["code"] == "filter_changed", "{status} {changed}");
    ensure!(statuses(&api, &failing[ARCHIVED_BEFORE..])? == BTreeSet::from(["active".to_owned()]));

    // The job: progress as it goes, then the report.
    let (status, started) = start(&api, json!({"action": "archive", "filter": "last=failed", "expect": FAILING}))?;
    ensure!(status == 202, "{status} {started}");
    let id = started["job"]["id"].as_u64().context("job id")?;
    let (progress, report) = follow(&api, id)?;
    let reached: Vec<u64> =
        progress.iter().map(|p| p["done"].as_u64().unwrap_or(0) + p["skipped"].as_u64().unwrap_or(0)).collect();
    ensure!(reached.windows(2).all(|w| w[0] <= w[1]), "progress only moves forward: {reached:?}");
    ensure!(progress.iter().all(|p| p["total"] == FAILING && p["state"] == "running"), "{progress:?}");
    ensure!(report["state"] == "done" && report["total"] == FAILING, "{report}");
    ensure!(report["done"] == FAILING - ARCHIVED_BEFORE && report["skipped"] == ARCHIVED_BEFORE, "{report}");
    ensure!(report["skip_reasons"] == json!({"already archived": ARCHIVED_BEFORE}), "{report}");
    let skipped: BTreeSet<i64> =
        report["skips"].as_array().into_iter().flatten().filter_map(|s| s["id"].as_i64()).collect();
    ensure!(skipped == failing[..ARCHIVED_BEFORE].iter().copied().collect(), "{skipped:?}");
    ensure!(statuses(&api, &failing)? == BTreeSet::from(["archived".to_owned()]));
    ensure!(statuses(&api, &healthy)? == BTreeSet::from(["active".to_owned()]), "the healthy ones are untouched");
    let listed = api.ok("/api/v1/admin/jobs")?;
    ensure!(listed["jobs"][0]["id"] == id && listed["jobs"][0]["by"] == "token", "{listed}");

    // A job cancelled at once stops before its next batch; every project is
    // done, skipped or not reached, and those not reached were left alone.
    let (status, started) = start(&api, json!({"action": "pause", "filter": "status=active"}))?;
    ensure!(status == 202 && started["matched"] == PROJECTS - FAILING, "{status} {started}");
    let id = started["job"]["id"].as_u64().context("job id")?;
    let (status, cancelling) = api.send(Method::POST, &format!("/api/v1/admin/jobs/{id}/cancel"), None)?;
    ensure!(status == 200, "{status} {cancelling}");
    let (_, report) = follow(&api, id)?;
    ensure!(report["state"] == "cancelled", "{report}");
    let (done, not_reached) = (report["done"].as_u64().unwrap_or(0), report["not_reached"].as_u64().unwrap_or(0));
    ensure!(not_reached > 0 && done + not_reached == (PROJECTS - FAILING) as u64, "{report}");
    let paused = api.ok("/api/v1/projects?status=active&limit=10000")?["projects"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|p| p["paused"] == true).count());
    ensure!(paused as u64 == done, "{paused} paused, {done} done");
    let (status, ended) = api.send(Method::POST, &format!("/api/v1/admin/jobs/{id}/cancel"), None)?;
    ensure!(status == 409 && ended["error"]["code"] == "job_not_running", "{status} {ended}");
    let (status, missing) = api.get("/api/v1/admin/jobs/999")?;
    ensure!(status == 404 && missing["error"]["code"] == "job_not_found", "{status} {missing}");

    // Runs filter: the projects of every failed run.
    let (_, of_runs) =
        start(&api, json!({"action": "trigger", "of": "runs", "filter": "status=failed", "dry_run": true}))?;
    ensure!(of_runs["matched"] == FAILING, "{of_runs}");

    // The CLI: off a terminal it wants --yes; then a bar, and the report.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
            .args(args)
            .env("TRAWLER_URL", &api.base)
            .env("TRAWLER_ADMIN_TOKEN", TOKEN)
            .stdin(std::process::Stdio::null())
            .output()
    };
    let asked = cli(&["projects", "bulk", "resume", "--filter", "status=archived"])?;
    let err = String::from_utf8_lossy(&asked.stderr);
    ensure!(!asked.status.success() && err.contains("60 projects match `status=archived`: add --yes"), "{err}");
    ensure!(statuses(&api, &failing)? == BTreeSet::from(["archived".to_owned()]), "nothing was done");
    let dry = cli(&["projects", "bulk", "resume", "--filter", "status=archived", "--dry-run"])?;
    ensure!(String::from_utf8_lossy(&dry.stdout).contains("60 projects match"), "{dry:?}");
    let resumed = cli(&["projects", "bulk", "resume", "--filter", "status=archived", "--yes"])?;
    let out = String::from_utf8_lossy(&resumed.stdout);
    ensure!(resumed.status.success(), "{out} {}", String::from_utf8_lossy(&resumed.stderr));
    ensure!(
        out.contains("started: resume of 60 projects") && out.contains(": done; 60 done, 0 skipped of 60"),
        "{out}"
    );
    ensure!(statuses(&api, &failing)? == BTreeSet::from(["active".to_owned()]));
    let nothing = cli(&["projects", "bulk", "resume", "--filter", "status=archived", "--yes"])?;
    ensure!(String::from_utf8_lossy(&nothing.stdout).contains("0 projects match"), "{nothing:?}");
    let listed = cli(&["jobs", "list"])?;
    ensure!(String::from_utf8_lossy(&listed.stdout).lines().count() == 3, "three jobs: {listed:?}");
    Ok(())
}

#[test]
fn an_operator_archives_every_failed_project_with_a_progress_bar() -> Result<()> {
    let Some(driver) = browser_kit::chromedriver()? else { return Ok(()) };
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let node = browser_kit::ui_node(&[
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1h"),
        ("TRAWLER_MAX_RETRIES", "0"),
        ("TRAWLER_EXCHANGE_RATES", "false"),
    ])?;
    let (failing, healthy) = three_hundred(&node.api, &node.sim.addr)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = node.api.base.clone();
    let skipped_ids: Vec<i64> = failing[..ARCHIVED_BEFORE].to_vec();
    rt.block_on(browser_kit::in_browser(&driver, "bulk-job", move |b| {
        Box::pin(async move {
            browser_kit::log_in(b, &base).await?;
            let count = b.client.find(Locator::Css("#count")).await?.text().await?;
            ensure!(count == "300", "{count}");
            b.client.find(Locator::Css("#filters input[name='last'][value='failed']")).await?.click().await?;
            b.client.find(Locator::Css("#apply")).await?.click().await?;
            b.wait("the filtered list", Duration::from_secs(10), "location.search.includes('last=failed')").await?;
            let count = b.client.find(Locator::Css("#count")).await?.text().await?;
            ensure!(count == "60 of 300", "{count}");
            // 50 rows on this page; the job takes all 60.
            b.client.find(Locator::Css("#bulk-all")).await?.click().await?;
            let selected = b.client.find(Locator::Css("#bulk [data-selected]")).await?.text().await?;
            ensure!(selected == "60", "{selected}");
            b.client.find(Locator::Css("#bulk-archive")).await?.click().await?;
            let asked =
                b.client.wait().for_element(Locator::Css("dialog#confirm[open] [data-message]")).await?.text().await?;
            ensure!(asked.starts_with("Archive 60 projects?"), "{asked}");
            b.shot("confirm-all-matching").await?;
            b.client.find(Locator::Css("#confirm-yes")).await?.click().await?;
            b.client.wait().for_element(Locator::Css("#job-progress")).await?;
            b.shot("job-progress").await?;
            b.wait(
                "the job's end",
                Duration::from_secs(30),
                "(document.getElementById('job-state') || {}).textContent === 'done' && !!document.getElementById('job-summary')",
            )
            .await?;
            let bar = b
                .client
                .execute(
                    "const p = document.getElementById('job-progress'); return [p.value, p.max];",
                    vec![],
                )
                .await?;
            ensure!(bar == json!([60, 60]), "a full bar: {bar}");
            let summary = b.client.find(Locator::Css("#job-summary")).await?.text().await?;
            ensure!(summary == "55 of 60 projects archived; 5 skipped (already archived: 5)", "{summary}");
            let skips = b
                .client
                .execute(
                    "return [...document.querySelectorAll('#skips tbody a')].map(a => Number(a.textContent.slice(1)));",
                    vec![],
                )
                .await?;
            let skips: Vec<i64> = serde_json::from_value(skips)?;
            ensure!(skips == skipped_ids, "{skips:?}");
            b.shot("job-done").await?;
            // The jobs page lists it.
            b.client.goto(&format!("{base}/ui/jobs")).await?;
            let rows = b.client.execute("return document.querySelectorAll('#jobs tbody tr').length;", vec![]).await?;
            ensure!(rows == json!(1), "{rows}");
            Ok(())
        })
    }))?;
    ensure!(statuses(&node.api, &failing)? == BTreeSet::from(["archived".to_owned()]));
    ensure!(statuses(&node.api, &healthy)? == BTreeSet::from(["active".to_owned()]));
    drop(driver);
    Ok(())
}
