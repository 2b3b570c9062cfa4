//! The audit log records who changed what: through the API with the admin
//! token (a project created and archived, a bulk action, a job over a
//! filter and its end, a reload), through the UI after a login (a bulk
//! action of its form), and a SIGHUP reload — each with its actor, its
//! projects and where it came from. Reads and requests without a valid
//! credential are not recorded. The log filters by actor, action and
//! project, and exports as JSON lines; the UI's Audit page shows it.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{server_env, spawn, start_sim, wait_until, Api, TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "audit-test-password";

fn entries(api: &Api, query: &str) -> Result<Vec<Value>> {
    Ok(api.ok(&format!("/api/v1/admin/audit?{query}"))?["entries"].as_array().cloned().unwrap_or_default())
}

fn find<'a>(list: &'a [Value], action: &str) -> Option<&'a Value> {
    list.iter().find(|e| e["action"] == action)
}

#[test]
fn every_change_is_recorded_with_its_actor_and_projects() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 3600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let file = std::env::temp_dir().join(format!("trawler_audit_{}.toml", std::process::id()));
    std::fs::write(&file, "[rate]\nindiegogo = 5\n")?;
    let hash = trawler_web::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_ADMIN_PASSWORD_HASH", &hash)],
    );
    let server = spawn(&["serve", "--config", &file.to_string_lossy()], &env, "serving on ")?;
    let api = Api {
        client: reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?,
        base: server.addr.clone(),
    };
    wait_until("readiness", Duration::from_secs(30), || Ok(api.get("/readyz")?.0 == 200))?;

    // Through the API, with the admin token.
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = json!({"name": format!("audited {i}"), "sources": [{"platform": "kickstarter", "external_ref": format!("maker/audit-{i}")}]});
        let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {made}");
        ids.push(made["id"].as_i64().context("id")?);
    }
    let (status, _) = api.send(Method::DELETE, &format!("/api/v1/projects/{}", ids[0]), None)?;
    ensure!(status == 200);
    let (status, _) = api.send(
        Method::POST,
        "/api/v1/admin/projects/bulk",
        Some(json!({"action": "pause", "ids": [ids[1], ids[2]]})),
    )?;
    ensure!(status == 200);
    let (status, job) = api.send(
        Method::POST,
        "/api/v1/admin/jobs",
        Some(json!({"action": "unpause", "filter": "q=audited&status=active"})),
    )?;
    ensure!(status == 202, "{status} {job}");
    let job_id = job["job"]["id"].as_u64().context("job")?;
    let (status, _) = api.send(Method::POST, "/api/v1/admin/reload", None)?;
    ensure!(status == 200);
    // Not recorded: a read, and a change without a valid credential.
    api.ok("/api/v1/projects")?;
    let stranger =
        reqwest::blocking::Client::new().post(format!("{}/api/v1/projects/{}/scrape", api.base, ids[1])).send()?;
    ensure!(stranger.status() == 401);

    // A SIGHUP.
    std::fs::write(&file, "[rate]\nindiegogo = 6\n")?;
    let status = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status()?;
    ensure!(status.success());

    // Through the UI: a login, then a bulk action of its form.
    let browser = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (cookie, _) = common::ui_login(&browser, &api.base, PASSWORD)?;
    let page = browser.get(format!("{}/ui/", api.base)).header("Cookie", &cookie).send()?.text()?;
    let csrf = page.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).context("csrf")?;
    let form = format!("csrf={csrf}&action=resume&back=%2Fui%2F&id={}", ids[0]);
    let resumed = browser
        .post(format!("{}/ui/bulk", api.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()?;
    ensure!(resumed.status() == 303, "{}", resumed.status());

    wait_until("every entry", Duration::from_secs(10), || {
        let all = entries(&api, "limit=1000")?;
        Ok(find(&all, "SIGHUP reload").is_some()
            && find(&all, "POST /ui/bulk").is_some()
            && find(&all, &format!("job {job_id} done")).is_some())
    })?;
    let all = entries(&api, "limit=1000")?;
    ensure!(all.iter().all(|e| !e["action"].as_str().unwrap_or("").starts_with("GET")), "reads are not recorded");
    ensure!(all.iter().all(|e| e["status"] != 401), "the stranger's attempt is not recorded");

    let created: Vec<&Value> = all.iter().filter(|e| e["action"] == "POST /api/v1/projects").collect();
    ensure!(created.len() == 3 && created.iter().all(|e| e["actor"] == "token" && e["status"] == 201), "{created:?}");
    let archived = find(&all, "DELETE /api/v1/projects/{id}").context("the archive")?;
    ensure!(archived["projects"] == json!([ids[0]]) && archived["remote"] == "127.0.0.1", "{archived}");
    let bulk = find(&all, "POST /api/v1/admin/projects/bulk").context("the bulk action")?;
    ensure!(bulk["projects"] == json!([ids[1], ids[2]]) && bulk["detail"]["action"] == "pause", "{bulk}");
    let started = find(&all, "POST /api/v1/admin/jobs").context("the job's start")?;
    ensure!(started["detail"]["job"] == job_id && started["detail"]["matched"] == 2, "{started}");
    let ended = find(&all, &format!("job {job_id} done")).context("the job's end")?;
    ensure!(ended["actor"] == "token" && ended["projects"] == json!([ids[1], ids[2]]), "{ended}");
    let reload = find(&all, "POST /api/v1/admin/reload").context("the API's reload")?;
    ensure!(reload["detail"]["ok"] == true, "{reload}");
    let signal = find(&all, "SIGHUP reload").context("the signal's reload")?;
    ensure!(signal["actor"] == "signal" && signal["detail"]["applied"][0]["key"] == "rate_indiegogo", "{signal}");
    let login = find(&all, "POST /ui/login").context("the login")?;
    ensure!(login["actor"] == "admin" && login["status"] == 303, "{login}");
    let ui_bulk = find(&all, "POST /ui/bulk").context("the UI's bulk action")?;
    ensure!(ui_bulk["actor"] == "admin" && ui_bulk["projects"] == json!([ids[0]]), "{ui_bulk}");

    // Filters: by project, by actor, by action.
    let of_first = entries(&api, &format!("project={}", ids[0]))?;
    let actions: Vec<&str> = of_first.iter().filter_map(|e| e["action"].as_str()).collect();
    ensure!(actions == ["POST /ui/bulk", "DELETE /api/v1/projects/{id}", "POST /api/v1/projects"], "{actions:?}");
    ensure!(entries(&api, "actor=signal")?.len() == 1);
    ensure!(entries(&api, "action=bulk")?.len() == 2);
    let (status, _) = api.get("/api/v1/admin/audit?limit=0")?;
    ensure!(status == 400);

    // The export: the same entries, one JSON object a line.
    let export = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/admin/audit.jsonl", api.base))
        .bearer_auth(TOKEN)
        .send()?
        .text()?;
    let lines: Vec<Value> = export.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    ensure!(lines.len() == all.len() && lines[0]["id"] == all[0]["id"], "{} lines, {} entries", lines.len(), all.len());

    // The Audit page.
    let page = browser.get(format!("{}/ui/audit?actor=signal", api.base)).header("Cookie", &cookie).send()?.text()?;
    ensure!(page.contains("SIGHUP reload") && !page.contains("POST /ui/bulk"), "the page filters");
    ensure!(page.contains(r#"href="/api/v1/admin/audit.jsonl?actor=signal""#), "the export keeps the filter");
    let _ = std::fs::remove_file(&file);
    Ok(())
}
