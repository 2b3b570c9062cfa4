//! The admin UI and the creator dashboard in a real headless Chromium,
//! driven through chromedriver: log in, add a project, watch its numbers
//! arrive without reloading, trigger a scrape and see the run finish and the
//! chart grow, make a dashboard token and open the creator's page, archive.
//! Screenshots of each step go to `<target>/browser-artifacts/`; any console
//! error fails the test.
//!
//! Needs `chromium` and `chromedriver` (Debian's packages; .ci/run installs
//! them). Without them the test says so and passes, unless
//! TRAWLER_REQUIRE_BROWSER is set (CI sets it).

mod browser_kit;
mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use browser_kit::{chromedriver, in_browser, log_in, ui_node, Browser, PASSWORD};
use fantoccini::Locator;
use serde_json::json;

#[test]
fn an_admin_and_a_creator_use_the_ui_in_a_real_browser() -> Result<()> {
    let Some(driver) = chromedriver()? else { return Ok(()) };
    let node = ui_node(&[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "2s")])?;
    let api = &node.api;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    rt.block_on(in_browser(&driver, "admin-and-creator", move |b| Box::pin(async move { scenario(b, &base).await })))?;
    drop(driver);
    Ok(())
}

/// The names of the project rows shown.
async fn listed(b: &Browser) -> Result<Vec<String>> {
    let v = b
        .client
        .execute(
            "return [...document.querySelectorAll('#projects tbody tr td:nth-child(2) > a')].map(a => a.textContent);",
            vec![],
        )
        .await?;
    let mut names: Vec<String> = serde_json::from_value(v)?;
    names.sort();
    Ok(names)
}

#[test]
fn an_operator_filters_failed_projects_and_acts_on_them_in_bulk() -> Result<()> {
    let Some(driver) = chromedriver()? else { return Ok(()) };
    let node =
        ui_node(&[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_MAX_RETRIES", "0")])?;
    let (api, sim) = (&node.api, &node.sim);
    let faults = reqwest::blocking::Client::new();
    for target in ["kickstarter:maker/ks-bad", "indiegogo:igg-bad", "indiegogo:igg-bad-2", "meta_ads:act_9"] {
        let resp = faults
            .post(format!("{}/_sim/faults", sim.addr))
            .json(&json!({"target": target, "fault": {"kind": "server_error"}}))
            .send()?;
        ensure!(resp.status() == 200, "{target}: {}", resp.status());
    }
    let mut ids = std::collections::BTreeMap::new();
    for (name, platform, reference) in [
        ("ks-ok", "kickstarter", "maker/ks-ok"),
        ("ks-bad", "kickstarter", "maker/ks-bad"),
        ("igg-ok", "indiegogo", "igg-ok"),
        ("igg-bad", "indiegogo", "igg-bad"),
        ("igg-bad-2", "indiegogo", "igg-bad-2"),
        ("meta-bad", "meta_ads", "act_9"),
    ] {
        let mut source = json!({"platform": platform, "external_ref": reference});
        if platform == "meta_ads" {
            source["secret"] = json!("EAAB-browser-test");
        }
        let body = json!({"name": name, "sources": [source]});
        let (status, p) = api.send(reqwest::Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
        ids.insert(name, p["id"].as_i64().ok_or_else(|| anyhow!("no id"))?);
    }
    // One listing for both counts: two could straddle a run's start.
    common::wait_until("every creation scrape to end", Duration::from_secs(20), || {
        let all = api.ok("/api/v1/runs")?;
        let runs = all["runs"].as_array().cloned().unwrap_or_default();
        Ok(runs.len() == ids.len() && runs.iter().all(|r| r["status"] != "running"))
    })?;
    let failed = api.ok("/api/v1/runs?platform=kickstarter,indiegogo&status=failed")?;
    ensure!(failed["runs"].as_array().map_or(0, Vec::len) == 3, "{failed}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    let sim_addr = sim.addr.clone();
    rt.block_on(in_browser(&driver, "filters-and-bulk", move |b| {
        Box::pin(async move {
            log_in(b, &base).await?;
            ensure!(listed(b).await?.len() == 6);
            // Two platforms and a failed last run, through the filter form.
            for choice in ["platform'][value='kickstarter", "platform'][value='indiegogo", "last'][value='failed"] {
                b.client.find(Locator::Css(&format!("#filters input[name='{choice}']"))).await?.click().await?;
            }
            b.client.find(Locator::Css("#apply")).await?.click().await?;
            b.wait("the filtered list", Duration::from_secs(10), "location.search.includes('last=failed')").await?;
            let view = b.client.current_url().await?;
            ensure!(listed(b).await? == ["igg-bad", "igg-bad-2", "ks-bad"], "{:?}", listed(b).await?);
            let count = b.client.find(Locator::Css("#count")).await?.text().await?;
            ensure!(count == "3 of 6", "{count}");
            b.shot("filtered").await?;
            // Sorting by freshness keeps the filters.
            b.client.find(Locator::Css("#sort-fresh")).await?.click().await?;
            b.wait("the sorted view", Duration::from_secs(10), "location.search.includes('sort=fresh')").await?;
            let sorted = b.client.current_url().await?;
            ensure!(sorted.query_pairs().any(|(k, v)| k == "last" && v == "failed"), "{sorted}");
            ensure!(listed(b).await?.len() == 3, "{:?}", listed(b).await?);

            // Archive the three, confirming a dialog that counts them.
            b.client.find(Locator::Css("[data-select-all]")).await?.click().await?;
            b.client.find(Locator::Css("#bulk-archive")).await?.click().await?;
            let asked =
                b.client.wait().for_element(Locator::Css("dialog#confirm[open] [data-message]")).await?.text().await?;
            ensure!(asked.starts_with("Archive 3 projects?"), "{asked}");
            b.shot("bulk-archive-confirm").await?;
            b.client.find(Locator::Css("#confirm-yes")).await?.click().await?;
            let flash = b.client.wait().for_element(Locator::Css(".flash")).await?.text().await?;
            ensure!(flash == "Archived 3 projects", "{flash}");
            ensure!(
                b.client.current_url().await?.query_pairs().any(|(k, v)| k == "last" && v == "failed"),
                "back on the view"
            );
            let statuses = b
                .client
                .execute("return [...document.querySelectorAll('#projects tbody .badge.archived')].length;", vec![])
                .await?;
            ensure!(statuses == json!(3), "three archived rows: {statuses}");

            // The platforms recover; the bookmarked view opens as it was and
            // the three are resumed together.
            reqwest::Client::new().delete(format!("{sim_addr}/_sim/faults")).send().await?;
            b.client.goto(view.as_str()).await?;
            b.client.wait().for_element(Locator::Css("#projects")).await?;
            ensure!(listed(b).await? == ["igg-bad", "igg-bad-2", "ks-bad"], "{:?}", listed(b).await?);
            for choice in ["platform'][value='kickstarter", "platform'][value='indiegogo", "last'][value='failed"] {
                let checked = b
                    .client
                    .find(Locator::Css(&format!("#filters input[name='{choice}']")))
                    .await?
                    .prop("checked")
                    .await?;
                ensure!(checked.as_deref() == Some("true"), "{choice} is still checked");
            }
            b.client.find(Locator::Css("[data-select-all]")).await?.click().await?;
            b.client.find(Locator::Css("#bulk-resume")).await?.click().await?;
            let asked =
                b.client.wait().for_element(Locator::Css("dialog#confirm[open] [data-message]")).await?.text().await?;
            ensure!(asked.starts_with("Resume 3 projects?"), "{asked}");
            b.client.find(Locator::Css("#confirm-yes")).await?.click().await?;
            let flash = b.client.wait().for_element(Locator::Css(".flash")).await?.text().await?;
            ensure!(flash == "Resumed 3 projects", "{flash}");
            b.shot("bulk-resumed").await?;
            // The same three, made manual from the bar.
            // (Scraped again since the platforms recovered: found by name.)
            b.client.goto(&format!("{base}/ui/?q=bad&platform=kickstarter&platform=indiegogo")).await?;
            b.client.wait().for_element(Locator::Css("#projects")).await?;
            ensure!(listed(b).await? == ["igg-bad", "igg-bad-2", "ks-bad"], "{:?}", listed(b).await?);
            b.client.find(Locator::Css("[data-select-all]")).await?.click().await?;
            b.client.find(Locator::Css("#bulk-full-interval")).await?.send_keys("manual").await?;
            b.client.find(Locator::Css("#bulk-poll-interval")).await?.send_keys("10m").await?;
            b.client.find(Locator::Css("#bulk-cadence")).await?.click().await?;
            let asked =
                b.client.wait().for_element(Locator::Css("dialog#confirm[open] [data-message]")).await?.text().await?;
            ensure!(asked.starts_with("Set the cadence of 3 projects?"), "{asked}");
            b.client.find(Locator::Css("#confirm-yes")).await?.click().await?;
            b.wait(
                "the cadence flash",
                Duration::from_secs(10),
                "(document.querySelector('.flash') || {}).textContent === 'Set the cadence of 3 projects'",
            )
            .await?;

            // The runs page filters the same way.
            b.client.goto(&format!("{base}/ui/runs?platform=indiegogo&status=failed")).await?;
            b.client.wait().for_element(Locator::Css("#runs")).await?;
            let rows = b.client.execute("return document.querySelectorAll('#runs tbody tr').length;", vec![]).await?;
            ensure!(rows == json!(2), "two failed indiegogo runs: {rows}");
            b.shot("runs-filtered").await?;
            Ok(())
        })
    }))?;
    for name in ["ks-bad", "igg-bad", "igg-bad-2"] {
        let p = api.ok(&format!("/api/v1/projects/{}", ids[name]))?;
        ensure!(p["status"] == "active" && p["full_interval_ms"] == 0, "{name}: {p}");
    }
    for name in ["ks-ok", "igg-ok", "meta-bad"] {
        let p = api.ok(&format!("/api/v1/projects/{}", ids[name]))?;
        ensure!(p["status"] == "active" && p["full_interval_ms"].is_null(), "{name} was never touched: {p}");
    }
    drop(driver);
    Ok(())
}

async fn scenario(b: &mut Browser, base: &str) -> Result<()> {
    // Logging in: the UI sends a stranger to the login page.
    b.client.goto(&format!("{base}/ui/")).await?;
    ensure!(b.client.current_url().await?.path() == "/ui/login", "redirected to the login");
    b.client.find(Locator::Css("input[name=password]")).await?.send_keys("wrong password").await?;
    b.client.find(Locator::Css("form[action='/ui/login'] button")).await?.click().await?;
    let flash = b.client.wait().for_element(Locator::Css(".flash")).await?.text().await?;
    ensure!(flash.contains("Wrong password"), "{flash}");
    // The failed login's 401 is expected; keep the console for real errors.
    b.check_console().await?;
    b.errors.clear();
    b.client.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
    b.client.find(Locator::Css("form[action='/ui/login'] button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("#projects")).await?;
    b.shot("projects-empty").await?;

    // Adding a project.
    if b.client.find(Locator::Css("details.add")).await?.attr("open").await?.is_none() {
        b.client.find(Locator::Css("details.add summary")).await?.click().await?;
    }
    b.client.find(Locator::Css("input[name=name]")).await?.send_keys("Browser Lamp").await?;
    b.client.find(Locator::Css("textarea[name=sources]")).await?.send_keys("kickstarter:browser/lamp").await?;
    b.client.find(Locator::Css("details.add button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css(".charts")).await?;
    let path = b.client.current_url().await?.path().to_owned();
    let id: i64 = path.rsplit('/').next().and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("no id in {path}"))?;

    // The list: the new row's pledged value changes live (polls every 2 s),
    // on the same page (a marker set now survives only without a reload).
    b.client.goto(&format!("{base}/ui/")).await?;
    b.client.execute("window.__same_page = true;", vec![]).await?;
    let cell = format!("document.querySelector('tr[data-project=\"{id}\"] [data-metric=pledged]')");
    let first = b
        .wait(
            "a first value",
            Duration::from_secs(20),
            &format!("{cell} && {cell}.textContent !== '–' && {cell}.textContent"),
        )
        .await?;
    b.wait(
        "the value to change without a reload",
        Duration::from_secs(20),
        &format!("window.__same_page === true && {cell}.textContent !== {first}"),
    )
    .await?;
    b.wait(
        "a sparkline",
        Duration::from_secs(10),
        &format!("document.querySelector('[data-spark=\"{id}\"] canvas') !== null"),
    )
    .await?;
    b.shot("projects-live").await?;

    // The project: trigger a scrape, see its run finish and the chart grow.
    b.client.goto(&format!("{base}/ui/projects/{id}")).await?;
    let chart = "document.querySelector('[data-chart=pledged]')";
    let before: i64 = b
        .wait("the pledged chart", Duration::from_secs(20), &format!("{chart} && Number({chart}.dataset.points || 0)"))
        .await?
        .as_i64()
        .unwrap_or(0);
    b.client.execute("window.__same_page = true;", vec![]).await?;
    b.client.find(Locator::Css("#scrape")).await?.click().await?;
    let run = b
        .wait(
            "the run to start",
            Duration::from_secs(10),
            "(document.getElementById('flash').textContent.match(/run (\\d+)/) || [])[1]",
        )
        .await?;
    let run = run.as_str().unwrap_or_default().to_owned();
    b.wait(
        "the run to finish",
        Duration::from_secs(20),
        &format!("(document.querySelector('tr[data-run=\"{run}\"] .badge') || {{}}).textContent === 'succeeded'"),
    )
    .await?;
    b.wait(
        "the chart to grow",
        Duration::from_secs(20),
        &format!("window.__same_page === true && Number({chart}.dataset.points) > {before}"),
    )
    .await?;
    b.shot("project-after-scrape").await?;

    // A dashboard token, and the creator's page opened with it.
    b.client.find(Locator::Css("form.inline input[name=name]")).await?.send_keys("creator").await?;
    b.client.find(Locator::Css("#make-token")).await?.click().await?;
    let token = b.client.wait().for_element(Locator::Css("#new-token")).await?.text().await?;
    ensure!(token.starts_with("trw_"), "{token}");
    b.shot("token").await?;
    let link = b.client.find(Locator::Css("#dashboard-link")).await?.attr("href").await?.unwrap_or_default();
    b.client.goto(&format!("{base}{link}")).await?;
    ensure!(b.client.title().await?.contains("Browser Lamp"));
    b.wait(
        "the creator's chart",
        Duration::from_secs(20),
        &format!("Number(({chart} || {{dataset: {{}}}}).dataset.points || 0) > 0"),
    )
    .await?;
    b.shot("creator-dashboard").await?;
    // The token reads only its project.
    b.client.goto(&format!("{base}/d/{}?token={token}", id + 1000)).await?;
    ensure!(b.client.source().await?.contains("not_found") || b.client.source().await?.contains("forbidden"));
    b.check_console().await?;
    b.errors.retain(|e| !e.contains("/d/")); // that 404/403 was asked for

    // Pausing the schedule, with its confirmation; the project stays active.
    b.client.goto(&format!("{base}/ui/projects/{id}")).await?;
    b.client.find(Locator::Css("#pause")).await?.click().await?;
    let asked = b.client.wait().for_element(Locator::Css("dialog#confirm[open] [data-message]")).await?.text().await?;
    ensure!(asked.contains("Pause the schedule of Browser Lamp?"), "{asked}");
    b.client.find(Locator::Css("#confirm-yes")).await?.click().await?;
    b.wait("the paused badge", Duration::from_secs(10), "!!document.getElementById('paused')").await?;
    ensure!(b.client.find(Locator::Css("#status")).await?.text().await? == "active");
    ensure!(b.client.source().await?.contains("Schedule paused"), "the page says what was done");
    b.shot("schedule-paused").await?;
    b.client.find(Locator::Css("#unpause")).await?.click().await?;
    b.wait(
        "the schedule resumed",
        Duration::from_secs(10),
        "!document.getElementById('paused') && !!document.getElementById('pause')",
    )
    .await?;

    // Its own cadence, set from the page.
    b.client.find(Locator::Css("#full-interval")).await?.send_keys("90m").await?;
    b.client.find(Locator::Css("#poll-interval")).await?.send_keys("2m").await?;
    b.client.find(Locator::Css("#set-cadence")).await?.click().await?;
    b.wait(
        "the new cadence",
        Duration::from_secs(10),
        "(document.getElementById('cadence') || {}).textContent === 'every 1h 30m' \
         && (document.getElementById('poll-cadence') || {}).textContent === 'every 2m'",
    )
    .await?;
    b.shot("cadence").await?;

    // Archiving, with its confirmation.
    b.client.find(Locator::Css("#archive")).await?.click().await?;
    let asked = b.client.wait().for_element(Locator::Css("dialog#confirm[open] [data-message]")).await?.text().await?;
    ensure!(asked.contains("Archive Browser Lamp?"), "{asked}");
    b.shot("archive-confirm").await?;
    b.client.find(Locator::Css("#confirm-yes")).await?.click().await?;
    b.wait(
        "the archived status",
        Duration::from_secs(10),
        "(document.getElementById('status') || {}).textContent === 'archived'",
    )
    .await?;
    b.shot("archived").await?;
    for page in ["actors", "platforms"] {
        b.client.goto(&format!("{base}/ui/{page}")).await?;
        b.client.wait().for_element(Locator::Css("main h1")).await?;
        b.client
            .execute(
                "window.__same_page = true; window.__stamp = document.querySelector('[data-stamp]').textContent;",
                vec![],
            )
            .await?;
        if page == "actors" {
            // The tree refreshes itself: a new snapshot time, same page.
            b.wait(
                "the tree to refresh",
                Duration::from_secs(10),
                "window.__same_page === true && document.querySelector('[data-stamp]').textContent !== window.__stamp",
            )
            .await?;
        }
        b.shot(page).await?;
    }
    Ok(())
}

/// Posts to the simulator's control routes.
fn sim_post(sim: &str, route: &str, body: serde_json::Value) -> Result<()> {
    let status = reqwest::blocking::Client::new().post(format!("{sim}{route}")).json(&body).send()?.status();
    ensure!(status.is_success(), "the simulator refused {route}: {status}");
    Ok(())
}

#[test]
fn an_operator_sees_an_alert_and_an_ended_campaign_and_silences_a_monitor() -> Result<()> {
    let Some(driver) = chromedriver()? else { return Ok(()) };
    let node = ui_node(&[
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1s"),
        ("TRAWLER_WEIGHTED_POLLS", "false"),
    ])?;
    let (api, sim) = (&node.api, &node.sim);
    let create = |name: &str, reference: &str| -> Result<i64> {
        let body = json!({"name": name, "sources": [{"platform": "kickstarter", "external_ref": reference}]});
        let (status, made) = api.send(reqwest::Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {made}");
        made["id"].as_i64().ok_or_else(|| anyhow!("no id: {made}"))
    };
    let dropping = create("Dropping Lamp", "ui/dropping")?;
    let ending = create("Ending Lamp", "ui/ending")?;
    common::wait_until("a few polls", Duration::from_secs(15), || {
        let stats: serde_json::Value = reqwest::blocking::get(format!("{}/_sim/stats", sim.addr))?.json()?;
        Ok(stats["sources"]["kickstarter:ui/dropping"]["requests"].as_u64() >= Some(3))
    })?;
    sim_post(
        &sim.addr,
        "/_sim/anomalies",
        json!({"platform": "kickstarter", "reference": "ui/dropping", "kind": "scale", "factor": 0.5}),
    )?;
    sim_post(
        &sim.addr,
        "/_sim/campaigns",
        json!({"platform": "kickstarter", "reference": "ui/ending", "ends_in_secs": 1}),
    )?;
    common::wait_until("the drop alert and the end", Duration::from_secs(30), || {
        let open = api.ok(&format!("/api/v1/projects/{dropping}/alerts"))?;
        let ended = api.ok(&format!("/api/v1/projects/{ending}"))?["status"] == "ended";
        Ok(ended && open["alerts"].as_array().is_some_and(|a| a.iter().any(|a| a["monitor"] == "drop")))
    })?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    rt.block_on(in_browser(&driver, "monitors-and-ended", move |b| {
        Box::pin(async move { alerts_scenario(b, &base, dropping, ending).await })
    }))?;
    // Silenced through the page: the API says so.
    let monitors = api.ok(&format!("/api/v1/projects/{dropping}/monitors"))?;
    ensure!(monitors["silenced"] == json!(["drop"]), "{monitors}");
    drop(driver);
    Ok(())
}

async fn alerts_scenario(b: &mut Browser, base: &str, dropping: i64, ending: i64) -> Result<()> {
    log_in(b, base).await?;
    // The list flags the alerting project and the ended one.
    let row = |id: i64| format!("document.querySelector('#projects tr[data-project=\"{id}\"]')");
    b.wait(
        "the drop badge in the list",
        Duration::from_secs(10),
        &format!("!!{}.querySelector('.badge.alerting[data-alert=\"drop\"]')", row(dropping)),
    )
    .await?;
    b.wait("the ended badge", Duration::from_secs(10), &format!("!!{}.querySelector('.badge.ended')", row(ending)))
        .await?;
    b.shot("list-with-alert-and-ended").await?;

    // The ended project's page says its numbers are final.
    b.client.goto(&format!("{base}/ui/projects/{ending}")).await?;
    let status = b.client.find(Locator::Css("#status")).await?.text().await?;
    let final_note = b.client.find(Locator::Css("#final")).await?.text().await?;
    ensure!(status == "ended" && final_note.contains("final numbers"), "{status}: {final_note}");
    let campaign = b.client.find(Locator::Css("#campaigns")).await?.text().await?;
    ensure!(campaign.contains("(ended)"), "{campaign}");
    b.shot("ended-project").await?;

    // The alerting project's page lists the alert; silencing its monitor
    // is one click.
    b.client.goto(&format!("{base}/ui/projects/{dropping}")).await?;
    let alert = b.client.find(Locator::Css("#open-alerts li[data-monitor=drop]")).await?.text().await?;
    ensure!(alert.contains("went down from"), "{alert}");
    b.shot("project-with-alert").await?;
    b.client.find(Locator::Css("button[data-silence=drop]")).await?.click().await?;
    b.wait("the silenced box", Duration::from_secs(10), "!!(document.querySelector('#silence-drop') || {}).checked")
        .await?;
    let flash = b.client.find(Locator::Css("p.flash[role=status]")).await?.text().await?;
    ensure!(flash.contains("Silenced drop"), "{flash}");
    b.shot("monitor-silenced").await?;
    Ok(())
}

#[test]
fn a_euro_campaign_with_dollar_ads_is_shown_in_one_currency() -> Result<()> {
    let Some(driver) = chromedriver()? else { return Ok(()) };
    let node = ui_node(&[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1m")])?;
    let api = &node.api;
    let id = browser_kit::euro_project(api)?;
    // A project created while the list is open, once the page says so.
    let list_open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let creator = {
        let (list_open, api) = (list_open.clone(), common::Api { client: api.client.clone(), base: api.base.clone() });
        std::thread::spawn(move || -> Result<()> {
            common::wait_until("the list to open", Duration::from_secs(60), || {
                Ok(list_open.load(std::sync::atomic::Ordering::Relaxed))
            })?;
            let body = json!({"name": "Created meanwhile", "sources": []});
            let (status, made) = api.send(reqwest::Method::POST, "/api/v1/projects", Some(body))?;
            ensure!(status == 201, "{status} {made}");
            Ok(())
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    let open = list_open.clone();
    let seen = rt.block_on(in_browser(&driver, "currencies", move |b| {
        Box::pin(async move { currency_scenario(b, &base, id, &open).await })
    }));
    // Whatever the browser saw, the creating thread stops.
    list_open.store(true, std::sync::atomic::Ordering::Relaxed);
    let created = creator.join().map_err(|_| anyhow!("the creating thread panicked"))?;
    seen?;
    created?;
    ensure!(api.ok(&format!("/api/v1/projects/{id}"))?["reporting_currency"] == "USD", "chosen on the page");
    drop(driver);
    Ok(())
}

async fn currency_scenario(
    b: &mut Browser,
    base: &str,
    id: i64,
    list_open: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    log_in(b, base).await?;
    b.client.goto(&format!("{base}/ui/projects/{id}")).await?;
    let shown = b.client.find(Locator::Css("#reporting-currency")).await?.text().await?;
    ensure!(shown == "EUR (the campaign's)", "{shown}");
    let campaigns = b.client.find(Locator::Css("#campaigns")).await?.text().await?;
    ensure!(campaigns.contains("counts in EUR") && campaigns.contains("counts in USD"), "{campaigns}");
    // Spend, billed in dollars, is shown in euros beside the pledges.
    let unit = |metric: &str| {
        format!("(document.querySelector('.figures [data-metric={metric}]').parentElement.querySelector('.unit') || {{}}).textContent")
    };
    let units = b
        .wait("the figures' currency", Duration::from_secs(5), &format!("[{}, {}]", unit("pledged"), unit("spend")))
        .await?;
    ensure!(units == json!(["EUR", "EUR"]), "{units}");
    b.client.find(Locator::Css("[data-metric=blended_roas]")).await?;
    b.shot("project-in-euros").await?;
    // Reported in dollars from now on.
    b.client.execute("document.querySelector('#currency').value = 'USD'", vec![]).await?;
    b.client.find(Locator::Css("#set-currency")).await?.click().await?;
    b.wait(
        "the page in dollars",
        Duration::from_secs(10),
        "document.querySelector('#reporting-currency').textContent === 'USD (chosen)'",
    )
    .await?;
    let units = b
        .wait("the figures' new currency", Duration::from_secs(5), &format!("[{}, {}]", unit("pledged"), unit("spend")))
        .await?;
    ensure!(units == json!(["USD", "USD"]), "{units}");
    b.shot("project-in-dollars").await?;
    // The list says each amount's currency, and shows a project created
    // while it is open, without a reload.
    b.client.goto(&format!("{base}/ui/")).await?;
    b.client.execute("window.__same_page = true;", vec![]).await?;
    let pledged =
        b.client.find(Locator::Css(&format!("tr[data-project=\"{id}\"] [data-metric=pledged]"))).await?.text().await?;
    ensure!(pledged.ends_with(" USD"), "{pledged}");
    list_open.store(true, std::sync::atomic::Ordering::Relaxed);
    b.wait(
        "the new project's row",
        Duration::from_secs(15),
        "window.__same_page === true && document.querySelectorAll('#projects tbody tr').length === 2",
    )
    .await?;
    let added = b.client.find(Locator::Css("#projects tbody tr:last-child")).await?.text().await?;
    ensure!(added.contains("Created meanwhile"), "{added}");
    b.shot("list-with-a-new-project").await?;
    b.check_console().await?;
    Ok(())
}
