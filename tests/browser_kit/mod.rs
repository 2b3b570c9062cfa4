//! What the browser tests share: chromedriver and a Chromium session per
//! scenario, screenshots of each step, console errors collected, waiting
//! on a script, and logging in.

#![allow(dead_code)] // each browser test uses a different subset

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::{self, Proc};

pub const PASSWORD: &str = "browser-test-password";

/// chromedriver's log endpoint (not in W3C WebDriver, supported by Chrome).
#[derive(Debug)]
struct BrowserLogs;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLogs {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

pub struct Browser {
    pub client: Client,
    pub artifacts: PathBuf,
    pub shots: usize,
    pub errors: Vec<String>,
}

impl Browser {
    pub async fn shot(&mut self, name: &str) -> Result<()> {
        self.shots += 1;
        let png = self.client.screenshot().await?;
        std::fs::write(self.artifacts.join(format!("{:02}-{name}.png", self.shots)), png)?;
        self.check_console().await
    }

    /// Collects console messages since the last call; errors are kept.
    pub async fn check_console(&mut self) -> Result<()> {
        let logs = self.client.issue_cmd(BrowserLogs).await?;
        for entry in logs.as_array().into_iter().flatten() {
            if entry["level"] == "SEVERE" {
                self.errors.push(entry["message"].as_str().unwrap_or_default().to_owned());
            }
        }
        Ok(())
    }

    pub async fn wait(&self, what: &str, timeout: Duration, script: &str) -> Result<Value> {
        let started = Instant::now();
        loop {
            // A script sent while a form's navigation replaces the page can
            // be lost with the old document (a script timeout): ask again.
            let last = match self.client.execute(&format!("return ({script});"), vec![]).await {
                Ok(v) if !(v.is_null() || v == json!(false)) => return Ok(v),
                Ok(v) => v.to_string(),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > timeout {
                bail!("timed out waiting for {what} (last answer: {last})");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn chromedriver() -> Result<Option<Proc>> {
    let required = std::env::var_os("TRAWLER_REQUIRE_BROWSER").is_some();
    let port = free_port()?;
    let child =
        Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!(
                "browser test skipped: chromedriver cannot start ({e}); set TRAWLER_REQUIRE_BROWSER to require it"
            );
            return Ok(None);
        }
        Err(e) => bail!("chromedriver is required (TRAWLER_REQUIRE_BROWSER) but cannot start: {e}"),
    };
    let addr = format!("http://127.0.0.1:{port}");
    let proc_ = Proc { child, addr: addr.clone(), cleanup: None };
    common::wait_until("chromedriver", Duration::from_secs(20), || {
        Ok(reqwest::blocking::get(format!("{addr}/status")).is_ok_and(|r| r.status().is_success()))
    })?;
    Ok(Some(proc_))
}

/// Opens a Chromium session for `name` (its screenshots go to
/// `<target>/browser-artifacts/<name>/`), runs `scenario` in it, and fails on
/// the scenario's error or on any console error.
pub async fn in_browser<F>(driver: &Proc, name: &str, scenario: F) -> Result<()>
where
    F: for<'a> FnOnce(&'a mut Browser) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + 'a>>,
{
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser-artifacts").join(name);
    std::fs::create_dir_all(&artifacts)?;
    let caps = json!({
        "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]},
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    let client = ClientBuilder::rustls()?
        .capabilities(caps.as_object().cloned().ok_or_else(|| anyhow!("capabilities"))?)
        .connect(&driver.addr)
        .await
        .context("starting Chromium through chromedriver")?;
    // Scripts here answer at once; a lost one should fail fast, not after
    // chromedriver's default 30 s.
    client
        .update_timeouts(TimeoutConfiguration::new(
            Some(Duration::from_secs(5)),
            Some(Duration::from_secs(30)),
            Some(Duration::ZERO),
        ))
        .await?;
    let mut b = Browser { client, artifacts, shots: 0, errors: Vec::new() };
    let result = scenario(&mut b).await;
    let _ = b.shot("end").await;
    let _ = b.client.clone().close().await;
    result?;
    ensure!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
    Ok(())
}

/// Logs in through the form.
pub async fn log_in(b: &mut Browser, base: &str) -> Result<()> {
    b.client.goto(&format!("{base}/ui/login")).await?;
    b.client.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
    b.client.find(Locator::Css("form[action='/ui/login'] button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("#projects")).await?;
    Ok(())
}

/// A node the browser talks to: the simulator, a SQLite database and the
/// server with the UI password set, at the cadences of `extra`. Dropped in
/// this order: the server first.
pub struct UiNode {
    pub server: Proc,
    pub api: common::Api,
    pub sim: Proc,
    pub db: trawler_store::testing::TestDb,
}

/// Starts a [`UiNode`] with the server's settings `extra` on top of the
/// tests' own (a simulator whose campaigns began an hour ago).
pub fn ui_node(extra: &[(&str, &str)]) -> Result<UiNode> {
    ui_node_on(common::start_sim(trawler_domain::now_secs() - 3600, &[])?, extra)
}

/// [`ui_node`] scraping a simulator already started (its address may go in
/// the settings).
pub fn ui_node_on(sim: Proc, extra: &[(&str, &str)]) -> Result<UiNode> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let hash = trawler_web::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let mut settings = vec![("TRAWLER_ADMIN_PASSWORD_HASH", hash.as_str())];
    settings.extend_from_slice(extra);
    let (server, api) = common::start_server(&common::server_env(&db.url, &sim.addr, &settings))?;
    Ok(UiNode { server, api, sim, db })
}

/// A project of a EUR campaign advertised from a USD ad account, once its
/// figures are in (both currencies known, the rates fetched): its id.
pub fn euro_project(api: &common::Api) -> Result<i64> {
    let body = json!({"name": "Euro Lamp", "sources": [
        {"platform": "kickstarter", "external_ref": common::campaign_in("EUR")?},
        {"platform": "meta_ads", "external_ref": common::account_in("USD")?, "secret": "sim-token"},
    ]});
    let (status, made) = api.send(reqwest::Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().ok_or_else(|| anyhow!("no id: {made}"))?;
    common::wait_until("both currencies and the rates", Duration::from_secs(20), || {
        let s = api.ok(&format!("/api/v1/projects/{id}/summary"))?;
        Ok(s["derived"]["blended_roas"].is_number() && s["currency"] == "EUR")
    })?;
    Ok(id)
}
