//! The creator's page (`/d/{id}`) in a real headless Chromium: a EUR
//! campaign advertised from a USD account, with three days of history. The
//! page says when it was last updated and how fresh it is, counts down to
//! the campaign's deadline, projects the pledges to it (a dashed line and a
//! band), switches ranges in the URL and redraws, reads on a phone, and
//! shows in a frame on an allowed site but not on another.
//! Screenshots go to `<target>/browser-artifacts/creator-page/`.

mod browser_kit;
mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use browser_kit::{chromedriver, in_browser, ui_node_on, Browser};
use fantoccini::Locator;
use serde_json::{json, Value};

#[test]
fn a_creator_reads_its_page_on_any_range_on_a_phone_and_in_an_agencys_frame() -> Result<()> {
    let Some(driver) = chromedriver()? else { return Ok(()) };
    // The simulator's port is known once it runs; the node allows frames on
    // it by IP literal only (`localhost` is another origin).
    let sim = common::start_sim(trawler_domain::now_secs() - 3600, &[])?;
    let allowed = sim.addr.clone();
    let node = ui_node_on(
        sim,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1m"), ("TRAWLER_EMBED_ORIGINS", &allowed)],
    )?;
    let api = &node.api;
    let id = browser_kit::euro_project(api)?;
    // Three days of history: the pledges' trend.
    let pledged = api.ok(&format!("/api/v1/projects/{id}/summary"))?["latest"]["pledged"]["value"]
        .as_f64()
        .ok_or_else(|| anyhow!("no pledges yet"))?;
    let now = trawler_domain::now_secs();
    let history: String = [(3, 0.4), (2, 0.6), (1, 0.8)]
        .iter()
        .map(|(days, share)| {
            json!({"platform": "kickstarter", "metric": "pledged", "ts": now - days * 86_400, "value": pledged * share})
                .to_string()
                + "\n"
        })
        .collect();
    let resp = api
        .client
        .post(format!("{}/api/v1/projects/{id}/points", api.base))
        .bearer_auth(common::TOKEN)
        .header("Content-Type", "application/x-ndjson")
        .body(history)
        .send()?;
    ensure!(resp.status().is_success(), "import: {}", resp.status());
    let (status, token) =
        api.send(reqwest::Method::POST, &format!("/api/v1/projects/{id}/tokens"), Some(json!({"name": "creator"})))?;
    ensure!(status == 201, "{status} {token}");
    let token = token["token"].as_str().ok_or_else(|| anyhow!("no token"))?.to_owned();

    // The headers: framed by the allowed site only; other pages never.
    let page = format!("{}/d/{id}?token={token}", api.base);
    let resp = reqwest::blocking::get(&page)?;
    let csp = resp.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    ensure!(csp.contains(&format!("frame-ancestors 'self' {allowed}")), "{csp}");
    ensure!(resp.headers().get("x-frame-options").is_none(), "no DENY on the dashboard");
    let login = reqwest::blocking::get(format!("{}/ui/login", api.base))?;
    ensure!(login.headers().get("x-frame-options").is_some_and(|v| v == "DENY"), "the UI is never framed");

    // One token for a creator's two campaigns, and a third project it may
    // not read.
    let create = |name: &str| -> Result<i64> {
        let (status, made) = api.send(reqwest::Method::POST, "/api/v1/projects", Some(json!({"name": name})))?;
        ensure!(status == 201, "{status} {made}");
        made["id"].as_i64().ok_or_else(|| anyhow!("no id"))
    };
    let (second, stranger) = (create("Second Lamp")?, create("Someone else's")?);
    let set = json!({"name": "the studio", "projects": [id, second, id]});
    let (status, made) = api.send(reqwest::Method::POST, "/api/v1/tokens", Some(set))?;
    ensure!(status == 201 && made["projects"] == json!([id, second]), "{status} {made}");
    let studio = made["token"].as_str().ok_or_else(|| anyhow!("no token"))?.to_owned();
    let read = |token: &str, project: i64| -> Result<u16> {
        let url = format!("{}/api/v1/projects/{project}/summary", api.base);
        Ok(api.client.get(url).bearer_auth(token).send()?.status().as_u16())
    };
    ensure!(read(&studio, id)? == 200 && read(&studio, second)? == 200, "it reads its projects");
    ensure!(read(&studio, stranger)? == 403, "and nothing else");
    let listed = api.ok(&format!("/api/v1/projects/{id}/tokens"))?;
    ensure!(
        listed["tokens"].as_array().is_some_and(|t| t.iter().any(|t| t["projects"] == json!([id, second]))),
        "{listed}"
    );
    for bad in [json!({"name": "none", "projects": []}), json!({"name": "gone", "projects": [id, 999_999]})] {
        let (status, body) = api.send(reqwest::Method::POST, "/api/v1/tokens", Some(bad.clone()))?;
        ensure!(status == 400 || status == 404, "{bad}: {status} {body}");
    }
    ensure!(api.ok(&format!("/api/v1/projects/{stranger}/tokens"))?["tokens"].as_array().is_some_and(Vec::is_empty));
    let tokens = api.ok(&format!("/api/v1/projects/{id}/tokens"))?;
    ensure!(!tokens.to_string().contains("\"gone\""), "a refused token leaves nothing behind: {tokens}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let other = allowed.replace("127.0.0.1", "localhost");
    let index = format!("{}/d?token={studio}", api.base);
    rt.block_on(in_browser(&driver, "creator-page", move |b| {
        Box::pin(async move {
            scenario(b, &page, &allowed, &other).await?;
            index_scenario(b, &index, [id, second]).await
        })
    }))?;
    // Revoked: it reads nothing, its index page included.
    let token_id = made["id"].as_i64().ok_or_else(|| anyhow!("no token id"))?;
    let (status, _) = api.send(reqwest::Method::DELETE, &format!("/api/v1/projects/{id}/tokens/{token_id}"), None)?;
    ensure!(status == 200);
    ensure!(read(&studio, second)? == 401, "revoked");
    ensure!(reqwest::blocking::get(format!("{}/d?token={studio}", api.base))?.status() == 401);
    drop(driver);
    Ok(())
}

/// The token's index page lists exactly its projects, and opens each.
async fn index_scenario(b: &mut Browser, index: &str, projects: [i64; 2]) -> Result<()> {
    b.client.goto(index).await?;
    let listed = b
        .client
        .execute(
            "return [...document.querySelectorAll('#dashboards li')].map((li) => Number(li.dataset.project))",
            vec![],
        )
        .await?;
    ensure!(listed == json!(projects), "{listed}");
    b.shot("creator-index").await?;
    b.client.find(Locator::Css(&format!("#dashboards li[data-project='{}'] a", projects[1]))).await?.click().await?;
    let title = b.client.find(Locator::Css("h1")).await?.text().await?;
    ensure!(title == "Second Lamp", "{title}");
    Ok(())
}

async fn scenario(b: &mut Browser, page: &str, allowed: &str, other: &str) -> Result<()> {
    b.client.goto(&format!("{page}&range=7d")).await?;
    let updated = b.client.find(Locator::Css("#updated")).await?.text().await?;
    ensure!(updated.starts_with("Updated ") && updated.ends_with("ago fresh"), "{updated}");
    b.wait(
        "the countdown",
        Duration::from_secs(5),
        "/\\d+ d \\d+ h \\d+ min left/.test(document.querySelector('#countdown').textContent)",
    )
    .await?;
    let projection = b.client.find(Locator::Css("#projection")).await?.text().await?;
    ensure!(projection.contains("projected at the deadline") && projection.contains("EUR"), "{projection}");
    b.wait(
        "the dashed projection",
        Duration::from_secs(10),
        "document.querySelector('[data-chart=pledged]').dataset.projection === 'drawn'",
    )
    .await?;
    b.client.find(Locator::Css("[data-metric=blended_roas]")).await?;
    b.shot("creator-7d").await?;
    b.client.execute("document.querySelector('[data-chart=pledged]').scrollIntoView()", vec![]).await?;
    b.shot("creator-projection").await?;
    b.client.execute("window.scrollTo(0, 0)", vec![]).await?;

    // Another range: in the URL, and the charts redrawn over it.
    let points_7d = b
        .wait(
            "the pledges' points",
            Duration::from_secs(10),
            "document.querySelector('[data-chart=pledged]').dataset.points",
        )
        .await?;
    b.client.find(Locator::Css("#ranges a[data-range='24h']")).await?.click().await?;
    b.wait(
        "the 24-hour page",
        Duration::from_secs(10),
        "location.search.includes('range=24h') && !!document.querySelector('#ranges a.on[data-range=\"24h\"]')",
    )
    .await?;
    let points_24h = b
        .wait(
            "the chart redrawn",
            Duration::from_secs(10),
            "document.querySelector('[data-chart=pledged]').dataset.points",
        )
        .await?;
    let count = |v: &Value| v.as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    ensure!(
        count(&points_24h) > 0 && count(&points_24h) < count(&points_7d),
        "fewer points over 24 h: {points_24h} against {points_7d}"
    );
    b.shot("creator-24h").await?;

    // On a phone: the figures two abreast, nothing wider than the screen.
    b.client.set_window_size(390, 844).await?;
    b.wait(
        "the phone layout",
        Duration::from_secs(5),
        "getComputedStyle(document.querySelector('.figures')).display === 'grid'",
    )
    .await?;
    let layout = b
        .client
        .execute(
            "const f = getComputedStyle(document.querySelector('.figures')); \
             return [f.gridTemplateColumns.split(' ').length, document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await?;
    let n = |i: usize| layout[i].as_i64().unwrap_or(-1);
    ensure!(n(0) == 2 && n(1) <= n(2), "two columns, nothing wider than the screen: {layout}");
    b.shot("creator-phone").await?;
    b.client.set_window_size(1280, 900).await?;

    // In a frame on the allowed site: it loads and says its height.
    let frame = |site: &str| format!("{site}/_sim/embed?src={}", urlencode(page));
    b.client.goto(&frame(allowed)).await?;
    let told = b
        .wait("the framed page's message", Duration::from_secs(15), "window.__embedded && window.__embedded.height")
        .await?;
    ensure!(told.as_f64().is_some_and(|h| h > 100.0), "{told}");
    b.shot("creator-embedded").await?;
    // On another site: refused, so nothing is said.
    b.client.goto(&frame(other)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let told = b.client.execute("return window.__embedded || null", vec![]).await?;
    ensure!(told.is_null(), "framed on a site not allowed: {told}");
    b.shot("creator-refused").await?;
    // The browser's own report of the refusal is expected here.
    b.check_console().await?;
    b.errors.retain(|e| !e.contains("frame-ancestors"));
    Ok(())
}

/// `text` as a query value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
