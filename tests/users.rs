//! People with roles: users added through the API and `trawler users`,
//! each logging in to the UI with their own password. A viewer reads and
//! is refused every change (403 naming the role it needs); an operator
//! scrapes and pauses but may not archive; a role changed or a user
//! removed holds at their next request; the audit log names who did what.
//! In a real Chromium, a viewer is offered nothing to press and an operator
//! no admin's button. Screenshots go to `<target>/browser-artifacts/roles/`.

mod browser_kit;
mod common;

use std::io::Write;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::TOKEN;
use fantoccini::Locator;
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

/// A logged-in user's client: the cookie and the CSRF token of its forms.
struct Login {
    client: Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Login {
    fn new(base: &str, user: &str, password: &str) -> Result<Login> {
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let resp = client
            .post(format!("{base}/ui/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("user={user}&password={password}"))
            .send()?;
        ensure!(resp.status() == 303, "{user}'s login: {}", resp.status());
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .context("a cookie")?
            .to_owned();
        let page = client.get(format!("{base}/ui/")).header("Cookie", &cookie).send()?.text()?;
        let csrf = page.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).context("csrf")?;
        Ok(Login { client, base: base.to_owned(), cookie, csrf: csrf.to_owned() })
    }

    /// Posts a form; the status and the body.
    fn post(&self, path: &str, fields: &str) -> Result<(u16, String)> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("csrf={}{fields}", self.csrf))
            .send()?;
        Ok((resp.status().as_u16(), resp.text()?))
    }
}

fn refused(answer: (u16, String), message: &str) -> Result<()> {
    let (status, body) = answer;
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    ensure!(status == 403 && body["error"]["message"] == message, "{status} {body}");
    Ok(())
}

#[test]
fn roles_decide_who_may_press_what() -> Result<()> {
    let node = browser_kit::ui_node(&[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h")])?;
    let api = &node.api;
    let body = json!({"name": "Roles Lamp", "sources": [{"platform": "kickstarter", "external_ref": "maker/roles"}]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().context("id")?;

    // Users through the API, checked.
    for (name, role) in [("vera", "viewer"), ("otto", "operator")] {
        let (status, u) = api.send(
            Method::POST,
            "/api/v1/admin/users",
            Some(json!({"name": name, "role": role, "password": format!("{name}-password-1")})),
        )?;
        ensure!(status == 201 && u["role"] == role && u.get("password").is_none(), "{status} {u}");
    }
    for (bad, why) in [
        (json!({"name": "Vera Two", "role": "viewer", "password": "long-enough-1"}), "name"),
        (json!({"name": "short", "role": "viewer", "password": "short"}), "password"),
        (json!({"name": "x", "role": "owner", "password": "long-enough-1"}), "role"),
    ] {
        let (status, answer) = api.send(Method::POST, "/api/v1/admin/users", Some(bad))?;
        ensure!(status == 400, "{why}: {status} {answer}");
    }
    let (status, _) = api.send(
        Method::POST,
        "/api/v1/admin/users",
        Some(json!({"name": "vera", "role": "admin", "password": "another-password"})),
    )?;
    ensure!(status == 409, "a name is taken once");

    // And through the CLI, the password on standard input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["users", "add", "ida", "--role", "admin"])
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(b"ida-password-1\n")?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("added ida (admin)"), "{out:?}");
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["users", "list"])
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .output()?;
    let text = String::from_utf8_lossy(&listed.stdout);
    ensure!(text.contains("3 users") && text.contains("otto") && text.contains("operator"), "{text}");

    // A wrong password, or a stranger, does not log in.
    let stranger = Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    for form in ["user=vera&password=wrong-password", "user=nobody&password=vera-password-1"] {
        let resp = stranger
            .post(format!("{}/ui/login", api.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()?;
        ensure!(resp.status() == 401, "{form}: {}", resp.status());
    }

    // The viewer reads, and is refused every change with the role it needs.
    let vera = Login::new(&api.base, "vera", "vera-password-1")?;
    let page = vera.client.get(format!("{}/ui/projects/{id}", api.base)).header("Cookie", &vera.cookie).send()?;
    ensure!(page.status() == 200);
    refused(vera.post(&format!("/ui/projects/{id}/scrape"), "")?, "this needs the operator role; vera is a viewer")?;
    refused(
        vera.post("/ui/bulk", &format!("&action=pause&id={id}"))?,
        "this needs the operator role; vera is a viewer",
    )?;
    // The operator scrapes and pauses, and may not archive.
    let otto = Login::new(&api.base, "otto", "otto-password-1")?;
    let (status, _) = otto.post(&format!("/ui/projects/{id}/scrape"), "")?;
    ensure!(status == 303 || status == 200, "the operator scrapes: {status}");
    let (status, _) = otto.post("/ui/bulk", &format!("&action=pause&back=%2Fui%2F&id={id}"))?;
    ensure!(status == 303, "the operator pauses: {status}");
    refused(otto.post(&format!("/ui/projects/{id}/archive"), "")?, "this needs the admin role; otto is an operator")?;
    refused(
        otto.post("/ui/bulk", &format!("&action=archive&id={id}"))?,
        "this needs the admin role; otto is an operator",
    )?;
    refused(
        otto.post("/ui/users", "&name=mallory&role=admin&password=mallory-password")?,
        "this needs the admin role; otto is an operator",
    )?;
    ensure!(api.ok(&format!("/api/v1/projects/{id}"))?["status"] == "active", "nothing was archived");

    // A role changed holds at the next request; a user removed is logged out.
    let (status, _) = api.send(Method::PATCH, "/api/v1/admin/users/vera", Some(json!({"role": "operator"})))?;
    ensure!(status == 200);
    let (status, _) = vera.post(&format!("/ui/projects/{id}/schedule/unpause"), "")?;
    ensure!(status == 303, "vera is an operator now: {status}");
    let (status, _) = api.send(Method::DELETE, "/api/v1/admin/users/vera", None)?;
    ensure!(status == 204);
    let gone = vera.client.get(format!("{}/ui/", api.base)).header("Cookie", &vera.cookie).send()?;
    ensure!(gone.status() == 303, "a removed user's session ends: {}", gone.status());

    // The audit log names who did what, and what was refused.
    common::wait_until("the entries", Duration::from_secs(5), || {
        Ok(api.ok("/api/v1/admin/audit?actor=otto")?["entries"].as_array().map_or(0, Vec::len) >= 5)
    })?;
    let otto_log = api.ok("/api/v1/admin/audit?actor=otto&limit=100")?;
    let entries = otto_log["entries"].as_array().cloned().unwrap_or_default();
    let of = |action: &str, status: i64| {
        entries.iter().any(|e| e["action"] == action && e["status"] == status && e["role"] == "operator")
    };
    ensure!(of("POST /ui/projects/{id}/scrape", 303) || of("POST /ui/projects/{id}/scrape", 200), "{entries:?}");
    ensure!(of("POST /ui/projects/{id}/archive", 403), "the refusal is recorded: {entries:?}");
    ensure!(of("POST /ui/login", 303), "{entries:?}");

    // In Chromium: what a role may not do is not offered.
    let Some(driver) = browser_kit::chromedriver()? else { return Ok(()) };
    let (status, _) = api.send(
        Method::POST,
        "/api/v1/admin/users",
        Some(json!({"name": "vic", "role": "viewer", "password": "vic-password-1"})),
    )?;
    ensure!(status == 201);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = api.base.clone();
    rt.block_on(browser_kit::in_browser(&driver, "roles", move |b| {
        Box::pin(async move {
            for (user, password, role) in [("vic", "vic-password-1", "viewer"), ("otto", "otto-password-1", "operator")]
            {
                b.client.goto(&format!("{base}/ui/login")).await?;
                b.client.find(Locator::Css("input[name=user]")).await?.send_keys(user).await?;
                b.client.find(Locator::Css("input[name=password]")).await?.send_keys(password).await?;
                b.client.find(Locator::Css("form[action='/ui/login'] button")).await?.click().await?;
                b.client.wait().for_element(Locator::Css("#projects")).await?;
                let client = b.client.clone();
                let shown = |css: &'static str| {
                    let client = client.clone();
                    async move {
                        let el = client.find(Locator::Css(css)).await?;
                        anyhow::Ok(el.is_displayed().await?)
                    }
                };
                let badge = b.client.find(Locator::Css("#role")).await?.text().await?;
                ensure!(badge == role, "{badge}");
                let viewer = role == "viewer";
                ensure!(shown("#bulk").await? != viewer, "{role}: the bulk bar");
                if !viewer {
                    ensure!(shown("#bulk-pause").await? && !shown("#bulk-archive").await?, "{role}: pause, no archive");
                }
                b.shot(&format!("{role}-projects")).await?;
                b.client.goto(&format!("{base}/ui/projects/{id}")).await?;
                b.client.wait().for_element(Locator::Css("#scrape")).await?;
                ensure!(shown("#scrape").await? != viewer, "{role}: Scrape now");
                ensure!(!shown("#labels").await?, "{role}: no labels to edit");
                b.shot(&format!("{role}-project")).await?;
                b.client.find(Locator::Css("form.logout button")).await?.click().await?;
                b.client.wait().for_element(Locator::Css("input[name=password]")).await?;
            }
            Ok(())
        })
    }))?;
    drop(driver);
    Ok(())
}
