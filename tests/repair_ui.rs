//! Repairing a broken source from the admin UI, in a real Chromium: after
//! a page's redesign, the project page lists the source with the
//! proposals for both metrics it lost; "Accept and re-parse" edits the
//! source and recovers the missed slots; the failed run's page lists the
//! answers it kept, and an answer's page shows the body as text (a kept
//! page is never run). Screenshots go to
//! `<target>/browser-artifacts/repair/`.

mod browser_kit;
mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::wait_until;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};
use trawler_domain::now_secs;

#[test]
fn a_broken_source_is_repaired_from_its_project_page() -> Result<()> {
    let Some(driver) = browser_kit::chromedriver()? else { return Ok(()) };
    let node = browser_kit::ui_node(&[
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1s"),
        ("TRAWLER_EXCHANGE_RATES", "false"),
    ])?;
    let (api, sim) = (&node.api, node.sim.addr.clone());
    let reference = "ui-lamp";
    let body = json!({"name": "Redesigned lamp", "sources": [{"platform": "html", "external_ref": reference,
        "options": {"url": format!("{sim}/layout/{{ref}}"), "metrics": {"pledged": "span.raised", "backers": "b.supporters"}}}]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().context("id")?;
    let series = |metric: &str| -> Result<Vec<i64>> {
        let s = api.ok(&format!("/api/v1/projects/{id}/series?metric={metric}&from={}", now_secs() - 600))?;
        Ok(s["series"][0]["points"].as_array().into_iter().flatten().filter_map(|p| p[0].as_i64()).collect())
    };
    wait_until("good polls", Duration::from_secs(20), || Ok(series("pledged")?.len() >= 2))?;
    let switch = json!({"reference": reference, "in_secs": 0});
    let status = reqwest::blocking::Client::new().post(format!("{sim}/_sim/layouts")).json(&switch).send()?.status();
    ensure!(status == 200);
    let broke_at = now_secs();
    let (_, run) = api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
    let run_id = run["run_id"].as_i64().context("run")?;
    wait_until("failures with proposals", Duration::from_secs(20), || {
        let b = api.ok(&format!("/api/v1/projects/{id}/breaks"))?;
        let run: Value = api.ok(&format!("/api/v1/runs/{run_id}"))?;
        Ok(b["breaks"][0]["failures"].as_i64() >= Some(4)
            && b["breaks"][0]["metrics"].as_array().is_some_and(|m| m.len() == 2)
            && run["status"] == "failed"
            && run["responses"].as_array().is_some_and(|r| !r.is_empty()))
    })?;

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    rt.block_on(browser_kit::in_browser(&driver, "repair", move |b| {
        Box::pin(async move {
            browser_kit::log_in(b, &base).await?;
            b.client.goto(&format!("{base}/ui/projects/{id}")).await?;
            b.client.wait().for_element(Locator::Css("#breaks")).await?;
            // Each lost metric comes with its proposal, chosen.
            for (metric, expected) in
                [("pledged", "div[data-stat='raised'] > strong"), ("backers", "div[data-stat='backers'] > strong")]
            {
                let chosen = b
                    .client
                    .execute(
                        &format!("return (document.querySelector('fieldset[data-metric={metric}] input[type=radio]:checked') || {{}}).value"),
                        vec![],
                    )
                    .await?;
                ensure!(chosen == json!(expected), "{metric}: {chosen}");
            }
            b.shot("broken-source").await?;
            b.client.find(Locator::Css("#breaks button.accept-repair")).await?.click().await?;
            let flash = b
                .wait(
                    "the repair's outcome",
                    Duration::from_secs(20),
                    "(document.querySelector('main > p.flash[role=status]:not(#flash)') || {}).textContent || false",
                )
                .await?;
            let flash = flash.as_str().unwrap_or_default().to_owned();
            ensure!(flash.starts_with("Repaired html ui-lamp:") && flash.contains("points stored"), "{flash}");
            ensure!(b.client.find(Locator::Css("#breaks")).await.is_err(), "no broken source is left");
            b.shot("repaired").await?;

            // The failed run's page: recovered, with the answer it kept.
            b.client.goto(&format!("{base}/ui/runs/{run_id}")).await?;
            b.client.wait().for_element(Locator::Css("#recovered")).await?;
            let outcome = b.client.find(Locator::Css("#answers tbody tr .badge")).await?.text().await?;
            ensure!(outcome == "parse", "{outcome}");
            b.shot("run-page").await?;
            b.client.find(Locator::LinkText("view")).await?.click().await?;
            let body = b.wait("the answer's body", Duration::from_secs(10), "(document.querySelector('#answer-body') || {}).textContent || false").await?;
            ensure!(body.as_str().is_some_and(|t| t.contains("<div data-stat=\"raised\">")), "{body}");
            // Shown as text: none of the kept page's markup is in the DOM.
            let rendered = b.client.execute("return document.querySelectorAll('[data-stat]').length", vec![]).await?;
            ensure!(rendered == json!(0), "the kept page's markup was rendered: {rendered}");
            b.shot("answer-page").await?;
            Ok(())
        })
    }))?;
    // The slots missed while it was broken have their points now.
    let after: Vec<i64> = series("backers")?.into_iter().filter(|t| *t > broke_at).collect();
    ensure!(after.len() >= 4, "recovered slots after {broke_at}: {after:?}");
    Ok(())
}
