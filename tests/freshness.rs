//! The freshness SLO on the real binary: with full scrapes and polls every
//! 5 s, a healthy project meets its slots, a failing one meets none and is
//! flagged below target, listed first; full scrapes and polls separately.

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until};
use reqwest::Method;
use serde_json::{json, Value};

#[test]
fn slots_on_time_and_successful_make_the_share() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(&db.url, &sim.addr, &[("TRAWLER_FULL_INTERVAL", "5s"), ("TRAWLER_POLL_INTERVAL", "5s")]);
    let (_server, api) = start_server(&env)?;
    let make = |name: &str, platform: &str, url: String, metric: &str| -> Result<i64> {
        let body = json!({"name": name, "sources": [{"platform": platform, "external_ref": name,
            "options": {"url": url, "metrics": {"pledged": metric}}}]});
        let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
        p["id"].as_i64().ok_or_else(|| anyhow!("no id"))
    };
    // On different platforms: a failing one opens its platform's circuit.
    let healthy = make("healthy", "http_json", format!("{}/json/{{ref}}", sim.addr), "/campaign/raised")?;
    let failing = make("failing", "html", "http://127.0.0.1:9/{ref}".into(), ".raised")?;
    let row = |list: &Value, id: i64| -> Value {
        list["projects"].as_array().and_then(|p| p.iter().find(|r| r["project_id"] == id).cloned()).unwrap_or_default()
    };
    let mut list = Value::Null;
    wait_until("three slots each", Duration::from_secs(40), || {
        list = api.ok("/api/v1/admin/freshness")?;
        let (h, f) = (row(&list, healthy), row(&list, failing));
        Ok(h["slots"].as_u64() >= Some(3)
            && f["slots"].as_u64() >= Some(3)
            && h["polls"]["slots"].as_u64() >= Some(3)
            && f["polls"]["slots"].as_u64() >= Some(3))
    })?;
    let (h, f) = (row(&list, healthy), row(&list, failing));
    ensure!(list["window_secs"] == 86_400 && list["target"] == 0.999, "{list}");
    ensure!(f["met"] == 0 && f["share"] == 0.0 && f["below_target"] == true, "{f}");
    ensure!(
        f["failed"].as_u64().unwrap_or(0) + f["missed"].as_u64().unwrap_or(0) == f["slots"].as_u64().unwrap_or(0),
        "{f}"
    );
    ensure!(h["met"].as_u64() >= Some(2), "the healthy project met its slots: {h}");
    ensure!(list["projects"][0]["project_id"] == failing, "worst first: {list}");
    // Polls, counted apart: the healthy project's start on time; none of the
    // failing project's succeed.
    ensure!(h["polls"]["met"].as_u64() >= Some(2), "the healthy project's polls met their slots: {h}");
    ensure!(f["polls"]["met"] == 0 && f["polls"]["share"] == 0.0 && f["polls_below_target"] == true, "{f}");
    // The project's own summary says the same, for its dashboard.
    let summary = api.ok(&format!("/api/v1/projects/{failing}/summary"))?;
    let fresh = &summary["freshness"];
    ensure!(fresh["below_target"] == true && fresh["full"]["met"] == 0 && fresh["window_secs"] == 86_400, "{fresh}");
    ensure!(fresh["polls"]["met"] == 0 && fresh["polls"]["slots"].as_u64() >= Some(3), "{fresh}");
    let summary = api.ok(&format!("/api/v1/projects/{healthy}/summary"))?;
    ensure!(summary["freshness"]["full"]["met"].as_u64() >= Some(2), "{summary}");
    let (status, _) = api.get("/api/v1/admin/freshness?window=1y")?;
    ensure!(status == 400);
    ensure!(api.ok("/api/v1/admin/freshness?window=7d")?["window_secs"] == 7 * 86_400);
    Ok(())
}
