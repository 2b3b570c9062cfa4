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

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use common::{server_env, start_server, start_sim, Proc};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const PASSWORD: &str = "browser-test-password";

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

struct Browser {
    client: Client,
    artifacts: PathBuf,
    shots: usize,
    errors: Vec<String>,
}

impl Browser {
    async fn shot(&mut self, name: &str) -> Result<()> {
        self.shots += 1;
        let png = self.client.screenshot().await?;
        std::fs::write(self.artifacts.join(format!("{:02}-{name}.png", self.shots)), png)?;
        self.check_console().await
    }

    /// Collects console messages since the last call; errors are kept.
    async fn check_console(&mut self) -> Result<()> {
        let logs = self.client.issue_cmd(BrowserLogs).await?;
        for entry in logs.as_array().into_iter().flatten() {
            if entry["level"] == "SEVERE" {
                self.errors.push(entry["message"].as_str().unwrap_or_default().to_owned());
            }
        }
        Ok(())
    }

    async fn wait(&self, what: &str, timeout: Duration, script: &str) -> Result<Value> {
        let started = Instant::now();
        loop {
            let v = self.client.execute(&format!("return ({script});"), vec![]).await?;
            if !(v.is_null() || v == json!(false)) {
                return Ok(v);
            }
            if started.elapsed() > timeout {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn chromedriver() -> Result<Option<Proc>> {
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

#[test]
fn an_admin_and_a_creator_use_the_ui_in_a_real_browser() -> Result<()> {
    let Some(driver) = chromedriver()? else { return Ok(()) };
    let sim = start_sim(trawler_domain::now_secs() - 3600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let hash = trawler_web::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_ADMIN_PASSWORD_HASH", &hash), ("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "2s")],
    );
    let (_server, api) = start_server(&env)?;
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser-artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let caps = json!({
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let client = ClientBuilder::rustls()?
            .capabilities(caps.as_object().cloned().ok_or_else(|| anyhow!("capabilities"))?)
            .connect(&driver.addr)
            .await
            .context("starting Chromium through chromedriver")?;
        let mut b = Browser { client, artifacts, shots: 0, errors: Vec::new() };
        let result = scenario(&mut b, &api.base).await;
        let _ = b.shot("end").await;
        let _ = b.client.clone().close().await;
        result?;
        ensure!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
        Ok::<_, anyhow::Error>(())
    })?;
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

    // Archiving, with its confirmation.
    b.client.goto(&format!("{base}/ui/projects/{id}")).await?;
    b.client.find(Locator::Css("#archive")).await?.click().await?;
    b.client.accept_alert().await?;
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
