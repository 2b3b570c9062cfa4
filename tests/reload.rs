//! Settings changed without a restart: a node reads its rates from a
//! configuration file; the file is edited and the node sent SIGHUP, and
//! the simulator's request log shows Kickstarter's new rate within
//! seconds. A file that does not read (a bad value, an unknown key) is
//! refused with the reason — by SIGHUP and by `POST /api/v1/admin/reload` —
//! and the old rate stays in force. `/api/v1/admin/config` shows what is in
//! force, where it came from and since when, and a setting only a restart
//! changes is reported as waiting for one.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{server_env, spawn, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

/// Kickstarter requests per second the simulator saw over the last `secs`.
const PASSWORD: &str = "reload-test-password";

fn observed_rate(sim: &str, secs: i64) -> Result<f64> {
    let list: Value = reqwest::blocking::get(format!("{sim}/_sim/requests?platform=kickstarter"))?.json()?;
    let since = trawler_domain::now_millis() - secs * 1000;
    let n = list.as_array().into_iter().flatten().filter(|r| r["at_ms"].as_i64().is_some_and(|t| t >= since)).count();
    Ok(n as f64 / secs as f64)
}

fn config_file(path: &std::path::Path, rate: &str, extra: &str) -> Result<()> {
    std::fs::write(path, format!("{extra}[rate]\nkickstarter = {rate}\n"))?;
    Ok(())
}

fn hangup(pid: u32) -> Result<()> {
    let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status()?;
    ensure!(status.success(), "kill -HUP {pid}");
    Ok(())
}

fn setting<'a>(config: &'a Value, key: &str) -> Result<&'a Value> {
    config["settings"].as_array().into_iter().flatten().find(|s| s["key"] == key).context(key.to_owned())
}

#[test]
fn sighup_changes_a_platform_rate_and_a_bad_file_keeps_the_old_one() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 3600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let file = std::env::temp_dir().join(format!("trawler_reload_{}.toml", std::process::id()));
    config_file(&file, "2", "")?;
    let hash = trawler_web::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let mut env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_POLL_INTERVAL", "1s"), ("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_ADMIN_PASSWORD_HASH", &hash)],
    );
    // The rate comes from the file alone (the environment would win).
    env.retain(|(k, _)| *k != "TRAWLER_RATE_KICKSTARTER");
    let path = file.to_string_lossy().into_owned();
    let server = spawn(&["serve", "--config", &path], &env, "serving on ")?;
    let api = Api {
        client: reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?,
        base: server.addr.clone(),
    };
    wait_until("readiness", Duration::from_secs(30), || Ok(api.get("/readyz")?.0 == 200))?;
    // Demand far above the rate: twenty projects polled every second.
    for i in 0..20 {
        let body = json!({"name": format!("lamp {i}"),
            "sources": [{"platform": "kickstarter", "external_ref": format!("maker/lamp-{i}")}]});
        let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {made}");
    }
    std::thread::sleep(Duration::from_secs(6));
    let before = observed_rate(&sim.addr, 4)?;
    ensure!((1.0..=2.6).contains(&before), "at 2/s the simulator saw {before:.2}/s");
    let config = api.ok("/api/v1/admin/config")?;
    let rate = setting(&config, "rate_kickstarter")?;
    ensure!(rate["value"] == "2 requests/s" && rate["origin"] == "file" && rate["live"] == true, "{rate}");
    let started = config["started_at_ms"].as_i64().context("started_at_ms")?;

    // The file says 8/s; SIGHUP; the simulator sees it within seconds.
    config_file(&file, "8", "circuit_failures = 7\n")?;
    hangup(server.child.id())?;
    wait_until("the new rate in force", Duration::from_secs(5), || {
        Ok(setting(&api.ok("/api/v1/admin/config")?, "rate_kickstarter")?["value"] == "8 requests/s")
    })?;
    std::thread::sleep(Duration::from_secs(5));
    let after = observed_rate(&sim.addr, 4)?;
    ensure!((5.0..=8.8).contains(&after), "at 8/s the simulator saw {after:.2}/s (before: {before:.2}/s)");
    let config = api.ok("/api/v1/admin/config")?;
    let report = &config["last_reload"];
    ensure!(report["ok"] == true && report["by"] == "signal", "{report}");
    ensure!(
        report["applied"] == json!([{"key": "rate_kickstarter", "from": "2 requests/s", "to": "8 requests/s"}]),
        "{report}"
    );
    ensure!(report["needs_restart"][0]["key"] == "circuit_failures", "{report}");
    let rate = setting(&config, "rate_kickstarter")?;
    ensure!(rate["since_ms"].as_i64() > Some(started), "{rate}");
    let workers = setting(&config, "circuit_failures")?;
    ensure!(workers["pending"] == "7" && workers["value"] != "7" && workers["live"] == false, "{workers}");
    // The Config page says the same, and its button reloads.
    let browser = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (cookie, _) = common::ui_login(&browser, &api.base, PASSWORD)?;
    let page = browser.get(format!("{}/ui/config", api.base)).header("Cookie", &cookie).send()?.text()?;
    ensure!(page.contains("8 requests/s") && page.contains("restart: 7"), "{page}");
    let csrf = page.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).context("csrf")?;
    let reloaded = browser
        .post(format!("{}/ui/config/reload", api.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()?;
    let to = reloaded.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    ensure!(reloaded.status() == 303 && to.contains("Reloaded"), "{} {to}", reloaded.status());

    // A bad value: refused with the reason, the old rate stays.
    config_file(&file, "\"fast\"", "")?;
    hangup(server.child.id())?;
    wait_until("the refusal", Duration::from_secs(5), || {
        Ok(api.ok("/api/v1/admin/config")?["last_reload"]["ok"] == false)
    })?;
    let config = api.ok("/api/v1/admin/config")?;
    let error = config["last_reload"]["error"].as_str().unwrap_or_default().to_owned();
    ensure!(error.contains("rate_kickstarter") && error.contains("fast"), "{error}");
    ensure!(setting(&config, "rate_kickstarter")?["value"] == "8 requests/s");
    std::thread::sleep(Duration::from_secs(3));
    let kept = observed_rate(&sim.addr, 3)?;
    ensure!((5.0..=8.8).contains(&kept), "the old rate stays: {kept:.2}/s");

    // An unknown key, through the API: 422 with the reason.
    std::fs::write(&file, "[rate]\nkickstarter = 8\nkickstarter_rate = 3\n")?;
    let (status, refused) = api.send(Method::POST, "/api/v1/admin/reload", None)?;
    ensure!(status == 422 && refused["error"]["code"] == "invalid_config", "{status} {refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    ensure!(message.contains("unknown setting `rate_kickstarter_rate`"), "{message}");
    // Fixed, through the API: nothing changed, nothing applied.
    config_file(&file, "8", "")?;
    let (status, report) = api.send(Method::POST, "/api/v1/admin/reload", None)?;
    ensure!(status == 200 && report["ok"] == true && report["applied"] == json!([]), "{status} {report}");
    ensure!(report["by"] == "admin" && report["needs_restart"] == json!([]), "{report}");
    Ok(())
}
