//! Campaigns that end, on the real binary against the simulator: when a
//! Kickstarter campaign's state leaves `live` (a poll sees it) or its
//! deadline passes, the project gets one final full scrape, then its status
//! is `ended`: its data stays served with the final numbers, nothing is
//! fetched any more, `campaign.ended` goes out; an admin can resume it, and
//! it is not ended a second time.

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

fn requests(sim: &str, reference: &str) -> Result<u64> {
    let stats: Value = reqwest::blocking::get(format!("{sim}/_sim/stats"))?.json()?;
    Ok(stats["sources"][format!("kickstarter:{reference}")]["requests"].as_u64().unwrap_or(0))
}

/// Makes the simulator's campaign `reference` end `secs` from now.
fn end_in(sim: &str, reference: &str, secs: i64) -> Result<()> {
    let body = json!({"platform": "kickstarter", "reference": reference, "ends_in_secs": secs});
    let status = reqwest::blocking::Client::new().post(format!("{sim}/_sim/campaigns")).json(&body).send()?.status();
    ensure!(status.is_success(), "the simulator refused the deadline: {status}");
    Ok(())
}

fn create(api: &Api, name: &str, reference: &str, extra: Value) -> Result<i64> {
    let mut body = json!({"name": name, "sources": [{"platform": "kickstarter", "external_ref": reference}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    made["id"].as_i64().ok_or_else(|| anyhow!("no id: {made}"))
}

fn project(api: &Api, id: i64) -> Result<Value> {
    api.ok(&format!("/api/v1/projects/{id}"))
}

#[test]
fn a_campaign_that_ends_gets_its_final_scrape_and_the_project_ends() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    // Only the platform's word ends it here: the deadline's own delay is long.
    let cadence =
        [("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "2s"), ("TRAWLER_FINAL_SCRAPE_DELAY", "1h")];
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &cadence))?;
    // A webhook nobody answers: its deliveries are still recorded.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["campaign.ended"], "secret": "s".repeat(20)});
    let (status, hook) = api.send(Method::POST, "/api/v1/admin/webhooks", Some(hook))?;
    ensure!(status == 201, "{status} {hook}");
    let ending = create(&api, "Ending", "ending/lamp", json!({}))?;
    let other = create(&api, "Still live", "ending/other", json!({}))?;
    wait_until("the first scrapes and their campaign state", Duration::from_secs(15), || {
        let p = project(&api, ending)?;
        Ok(p["sources"][0]["campaign"]["phase"] == "live")
    })?;
    let p = project(&api, ending)?;
    let campaign = &p["sources"][0]["campaign"];
    ensure!(campaign["state"] == "live" && campaign["deadline_ms"].as_i64().is_some(), "{p}");

    end_in(&sim.addr, "ending/lamp", 2)?;
    let deadline_ms = trawler_domain::now_millis() + 2_000;
    wait_until("the project ends", Duration::from_secs(20), || Ok(project(&api, ending)?["status"] == "ended"))?;
    let p = project(&api, ending)?;
    let campaign = &p["sources"][0]["campaign"];
    ensure!(campaign["phase"] == "ended" && campaign["state"] != "live", "{p}");
    let reason = p["status_reason"].as_str().unwrap_or_default();
    ensure!(reason.contains("kickstarter") && p["ended_at_ms"].as_i64().is_some(), "{p}");
    // Its final scrape: a full run after the end, succeeded.
    let runs = api.ok(&format!("/api/v1/projects/{ending}/runs"))?;
    let last = runs["runs"].as_array().and_then(|r| r.first()).cloned().unwrap_or_default();
    ensure!(last["triggered_by"] == "final" && last["status"] == "succeeded", "{runs}");
    ensure!(last["started_at_ms"].as_i64().is_some_and(|t| t >= deadline_ms - 1_000), "{runs}");
    // Its data is served, with the final numbers the platform showed.
    let served: Value =
        reqwest::blocking::get(format!("{}/_sim/log?platform=kickstarter&reference=ending/lamp", sim.addr))?.json()?;
    let final_pledged = served
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["values"]["pledged"].as_f64())
        .ok_or_else(|| anyhow!("nothing served: {served}"))?;
    let summary = api.ok(&format!("/api/v1/projects/{ending}/summary"))?;
    ensure!(summary["latest"]["pledged"]["value"].as_f64() == Some(final_pledged), "{summary} vs {final_pledged}");
    // The creator's dashboard says the numbers are final.
    let (status, token) =
        api.send(Method::POST, &format!("/api/v1/projects/{ending}/tokens"), Some(json!({"name": "creator"})))?;
    ensure!(status == 201, "{status} {token}");
    let token = token["token"].as_str().unwrap_or_default();
    let page = reqwest::blocking::get(format!("{}/d/{ending}?token={token}", api.base))?.text()?;
    ensure!(page.contains(r#"id="final""#) && page.contains("these are its final numbers"), "{page}");
    // Nothing is fetched any more; the other project goes on.
    std::thread::sleep(Duration::from_millis(1_500));
    let (after, other_before) = (requests(&sim.addr, "ending/lamp")?, requests(&sim.addr, "ending/other")?);
    std::thread::sleep(Duration::from_secs(5));
    ensure!(requests(&sim.addr, "ending/lamp")? == after, "an ended project was still fetched");
    ensure!(requests(&sim.addr, "ending/other")? >= other_before + 2, "the other project stopped too");
    ensure!(project(&api, other)?["status"] == "active");
    // `campaign.ended` went out.
    let deliveries = api.ok(&format!("/api/v1/admin/webhooks/{}/deliveries", hook["id"]))?;
    ensure!(
        deliveries["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["event"] == "campaign.ended" && d["project_id"] == ending),
        "{deliveries}"
    );

    // An admin resumes it: scheduled again, and not ended a second time.
    let (status, body) = api.send(Method::POST, &format!("/api/v1/projects/{ending}/resume"), None)?;
    ensure!(status == 200 && body["status"] == "active" && body["ended_at_ms"].as_i64().is_some(), "{body}");
    let resumed = requests(&sim.addr, "ending/lamp")?;
    wait_until("polled again", Duration::from_secs(10), || Ok(requests(&sim.addr, "ending/lamp")? >= resumed + 2))?;
    ensure!(project(&api, ending)?["status"] == "active", "ended a second time");
    Ok(())
}

/// With no poll to see the state change, the campaign's deadline brings
/// its final scrape (`TRAWLER_FINAL_SCRAPE_DELAY` after it).
#[test]
fn a_deadline_alone_brings_the_final_scrape() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let cadence =
        [("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_FINAL_SCRAPE_DELAY", "2s")];
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &cadence))?;
    end_in(&sim.addr, "deadline/lamp", 3)?;
    let id = create(&api, "Deadline", "deadline/lamp", json!({"poll_interval": "manual"}))?;
    let created = trawler_domain::now_millis();
    wait_until("its first scrape saw the deadline", Duration::from_secs(10), || {
        Ok(project(&api, id)?["sources"][0]["campaign"]["deadline_ms"].as_i64().is_some())
    })?;
    ensure!(project(&api, id)?["status"] == "active");
    wait_until("the project ends", Duration::from_secs(20), || Ok(project(&api, id)?["status"] == "ended"))?;
    let runs = api.ok(&format!("/api/v1/projects/{id}/runs"))?;
    let list = runs["runs"].as_array().cloned().unwrap_or_default();
    ensure!(list.len() == 2, "the creation's scrape and the final one: {runs}");
    ensure!(list[0]["triggered_by"] == "final" && list[0]["status"] == "succeeded", "{runs}");
    // Three seconds to the deadline, two more of delay.
    let started = list[0]["started_at_ms"].as_i64().unwrap_or_default();
    ensure!(started >= created + 4_000, "the final scrape ran {} ms after creation", started - created);
    Ok(())
}

/// Insights requests the simulator has seen for one Meta object.
fn insights(sim: &str, object: &str) -> Result<usize> {
    let list: Value = reqwest::blocking::get(format!("{sim}/_sim/requests?platform=meta_ads"))?.json()?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["reference"] == object && r["path"].as_str().is_some_and(|p| p.ends_with("/insights")))
        .count())
}

/// A paused ad account (a full scrape reads its status) is polled at
/// `TRAWLER_IDLE_POLL_INTERVAL`, and counted so in the capacity check,
/// until a full scrape finds it active again.
#[test]
fn an_idle_ad_account_is_polled_slowly_until_it_runs_again() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let cadence =
        [("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1s"), ("TRAWLER_IDLE_POLL_INTERVAL", "1h")];
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &cadence))?;
    let body = json!({"name": "Ads", "sources": [{"platform": "meta_ads", "external_ref": "act_4242", "secret": "token-0123"}]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().ok_or_else(|| anyhow!("no id: {made}"))?;
    let phase = || -> Result<Value> { Ok(project(&api, id)?["sources"][0]["campaign"]["phase"].clone()) };
    wait_until("its status read", Duration::from_secs(10), || Ok(phase()? == "live"))?;
    let before = insights(&sim.addr, "act_4242")?;
    std::thread::sleep(Duration::from_secs(3));
    ensure!(insights(&sim.addr, "act_4242")? >= before + 4, "polled every second while active");
    let meta_required = || -> Result<f64> {
        let platforms = api.ok("/api/v1/admin/platforms")?;
        let meta =
            platforms["capacity"].as_array().into_iter().flatten().find(|c| c["platform"] == "meta_ads").cloned();
        meta.and_then(|c| c["required_per_sec"].as_f64()).ok_or_else(|| anyhow!("no meta capacity: {platforms}"))
    };
    ensure!(meta_required()? > 0.9, "one poll a second counted");

    // The account is paused; the next full scrape sees it.
    let pause = json!({"platform": "meta_ads", "reference": "act_4242", "ends_in_secs": 0});
    reqwest::blocking::Client::new().post(format!("{}/_sim/campaigns", sim.addr)).json(&pause).send()?;
    let scrape = || api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None);
    ensure!(scrape()?.0 == 202);
    wait_until("the account seen paused", Duration::from_secs(10), || Ok(phase()? == "idle"))?;
    ensure!(project(&api, id)?["sources"][0]["campaign"]["state"] == "DISABLED");
    std::thread::sleep(Duration::from_millis(2_500)); // the next window plans it idle
    let idle = insights(&sim.addr, "act_4242")?;
    std::thread::sleep(Duration::from_secs(4));
    ensure!(insights(&sim.addr, "act_4242")? == idle, "an idle account was polled every second");
    ensure!(meta_required()? < 0.01, "idle polls counted at their own cadence: {}", meta_required()?);
    ensure!(project(&api, id)?["status"] == "active", "an ad account never ends its project");

    // Running again: a full scrape finds it active, and the polls come back.
    let resume = json!({"platform": "meta_ads", "reference": "act_4242", "ends_in_secs": 86_400});
    reqwest::blocking::Client::new().post(format!("{}/_sim/campaigns", sim.addr)).json(&resume).send()?;
    ensure!(scrape()?.0 == 202);
    wait_until("the account seen active", Duration::from_secs(10), || Ok(phase()? == "live"))?;
    let back = insights(&sim.addr, "act_4242")?;
    wait_until("polled again", Duration::from_secs(10), || Ok(insights(&sim.addr, "act_4242")? >= back + 6))?;
    Ok(())
}

/// Polls follow the action: beside campaigns in their middle days, one in
/// its last 48 hours is polled more often, the others less, and together
/// no more than the node's poll interval would spend; each project's state
/// in `/admin/actors` shows the division.
#[test]
fn a_campaign_in_its_last_days_is_polled_more_often() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    // Campaigns launched ten days ago, ending in twenty.
    let sim = start_sim(trawler_domain::now_secs() - 10 * 86_400, &[])?;
    let cadence = [("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "6s"), ("TRAWLER_MIN_INTERVAL", "1s")];
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &cadence))?;
    end_in(&sim.addr, "action/ending", 86_400)?;
    let ending = create(&api, "Ending", "action/ending", json!({}))?;
    let quiet: Vec<String> = (0..5).map(|i| format!("action/middle-{i}")).collect();
    for (i, reference) in quiet.iter().enumerate() {
        create(&api, &format!("Middle {i}"), reference, json!({}))?;
    }
    wait_until("every campaign's launch and deadline known", Duration::from_secs(15), || {
        let list = api.ok("/api/v1/projects")?;
        Ok(list["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|p| p["sources"][0]["campaign"]["started_ms"].is_i64()))
    })?;
    ensure!(project(&api, ending)?["sources"][0]["campaign"]["deadline_ms"].is_i64());
    // Two windows, so the division has seen every campaign's dates.
    std::thread::sleep(Duration::from_secs(13));
    let before_hot = requests(&sim.addr, "action/ending")?;
    let before_quiet: u64 = quiet.iter().map(|r| requests(&sim.addr, r)).sum::<Result<u64>>()?;
    std::thread::sleep(Duration::from_secs(24));
    let hot = requests(&sim.addr, "action/ending")? - before_hot;
    let others = quiet.iter().map(|r| requests(&sim.addr, r)).sum::<Result<u64>>()? - before_quiet;
    let per_quiet = others as f64 / quiet.len() as f64;
    // Default: 4 polls each in 24 s. Hot weighs 4 and normal 1: the hot one
    // gets 4/9 of a poll a second, every 2.25 s, rounded up to 3 s (8
    // polls); the others every 9 s (2 to 3 each).
    ensure!(hot as f64 >= 2.0 * per_quiet.max(1.0), "hot {hot}, quiet {per_quiet} each");
    ensure!(hot + others <= 6 * 4 + 3, "more than the default would spend: {hot} + {others}");
    let source = api.actor("source:kickstarter")?;
    let division = &source["detail"]["projects_by_poll_interval_ms"];
    ensure!(division.as_object().is_some_and(|d| d.len() >= 2), "{source}");
    // The capacity check shows the same division: one project at the
    // shorter interval, five at the longer.
    let platforms = api.ok("/api/v1/admin/platforms")?;
    let ks = platforms["capacity"].as_array().into_iter().flatten().find(|c| c["platform"] == "kickstarter").cloned();
    let shares: Vec<(i64, u64)> = ks
        .as_ref()
        .and_then(|c| c["poll_division"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["interval_ms"].as_i64()?, s["projects"].as_u64()?)))
        .collect();
    ensure!(shares.len() == 2 && shares[0].1 == 1 && shares[1].1 == 5 && shares[0].0 < 6_000, "{platforms}");
    Ok(())
}
