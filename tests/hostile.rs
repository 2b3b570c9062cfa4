//! Hostile platforms and hostile clients against the real binary. A scripted
//! "platform" on loopback answers what no well-behaved platform would
//! (absurd Retry-After values, numbers too large for a float, paging links
//! to another origin); anonymous clients send made-up methods and forged
//! return paths. Each case was a crash, a hang or a leak before its fix.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use common::{server_env, start_server, wait_until, Api, TOKEN};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};
use trawler_store::testing::TestDb;

/// One scripted answer: status, extra headers, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// How long to wait before answering.
    delay: Duration,
}

fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> Answer {
    Answer {
        status,
        headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

/// A loopback HTTP server that answers each path with a queue of scripted
/// answers (the last one repeats) and records every request line it gets.
struct Scripted {
    base: String,
    script: Arc<Mutex<HashMap<String, Vec<Answer>>>>,
    /// Each request's target and header lines.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn start() -> Result<Scripted> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let script: Arc<Mutex<HashMap<String, Vec<Answer>>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, r) = (script.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &s, &r);
                });
            }
        });
        Ok(Scripted { base, script, seen })
    }

    fn on(&self, path: &str, answers: Vec<Answer>) {
        self.script.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned(), answers);
    }

    /// The targets requested.
    fn requests(&self) -> Vec<String> {
        self.heads().iter().map(|h| h.lines().next().unwrap_or_default().to_owned()).collect()
    }

    /// Each request's target and header lines (lower-case names).
    fn heads(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn serve_one(
    stream: std::net::TcpStream,
    script: &Mutex<HashMap<String, Vec<Answer>>>,
    seen: &Mutex<Vec<String>>,
) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut length = 0usize;
    let mut head = target.clone();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        head.push_str(&format!("\n{}: {}", name.trim().to_ascii_lowercase(), value.trim()));
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    seen.lock().unwrap_or_else(|p| p.into_inner()).push(head);
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let reply = {
        let mut script = script.lock().unwrap_or_else(|p| p.into_inner());
        match script.get_mut(&path) {
            Some(queue) if queue.len() > 1 => queue.remove(0),
            Some(queue) if !queue.is_empty() => queue[0].clone(),
            _ => answer(404, &[], "{}"),
        }
    };
    std::thread::sleep(reply.delay);
    let mut out = stream;
    let mut head =
        format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", reply.status, reply.body.len());
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(reply.body.as_bytes())?;
    Ok(())
}

/// Starts a node whose platforms (the Meta base included) are `platform`,
/// scheduling nothing by itself (1 h cadences): only the test's triggers,
/// and each project's first scrape, fetch. `extra` overrides the settings.
fn node(db: &TestDb, platform: &str, extra: &[(&str, &str)]) -> Result<(common::Proc, Api)> {
    let meta = format!("{platform}/meta");
    // No exchange rates: the scripted platform records every request, and
    // counts none but its sources'.
    let mut settings = vec![
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1h"),
        ("TRAWLER_META_URL", &meta),
        ("TRAWLER_EXCHANGE_RATES", "false"),
    ];
    settings.extend_from_slice(extra);
    start_server(&server_env(&db.url, platform, &settings))
}

fn create(api: &Api, body: Value) -> Result<i64> {
    let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {p}");
    p["id"].as_i64().ok_or_else(|| anyhow!("no id in {p}"))
}

/// Triggers a full scrape and waits for it to end; returns the run.
fn scrape(api: &Api, project: i64) -> Result<Value> {
    let (status, run) = api.send(Method::POST, &format!("/api/v1/projects/{project}/scrape"), None)?;
    ensure!(status == 202, "{status} {run}");
    let id = run["run_id"].as_i64().or_else(|| run["id"].as_i64()).ok_or_else(|| anyhow!("no run id: {run}"))?;
    let mut last = Value::Null;
    wait_until("the run to end", Duration::from_secs(30), || {
        last = api.ok(&format!("/api/v1/runs/{id}"))?;
        Ok(last["status"] != "running")
    })?;
    Ok(last)
}

fn http_json(base: &str, path: &str) -> Value {
    json!({"platform": "http_json", "external_ref": "x", "options": {
        "url": format!("{base}{path}"), "metrics": {"pledged": "/v"}}})
}

fn platform<'a>(platforms: &'a Value, name: &str) -> Result<&'a Value> {
    platforms["platforms"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["platform"] == name))
        .ok_or_else(|| anyhow!("no {name} in {platforms}"))
}

/// Retry-After of 10^19 seconds, a date in year 9999 and a Meta regain time
/// of 10^300 minutes: none panics, every pause is cut to the cap and shown
/// as capped, and a capped pause ends.
#[test]
fn absurd_pauses_are_capped_and_end() -> Result<()> {
    let platform_a = Scripted::start()?;
    let platform_b = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (server, api) = node(&db, &platform_a.base, &[("TRAWLER_MAX_PAUSE", "3s")])?;
    platform_a.on(
        "/huge",
        vec![answer(429, &[("Retry-After", "9999999999999999999")], "{}"), answer(200, &[], r#"{"v": 5}"#)],
    );
    platform_b.on(
        "/dated",
        vec![answer(429, &[("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")], "{}"), answer(200, &[], r#"{"v": 6}"#)],
    );
    let buc = r#"{"1": [{"type": "ads_insights", "estimated_time_to_regain_access": 1e300}]}"#;
    platform_a.on(
        "/meta/v21.0/act_1/insights",
        vec![answer(400, &[("x-business-use-case-usage", buc)], r#"{"error": {"message": "app limit", "code": 4}}"#)],
    );
    let huge = create(&api, json!({"name": "huge", "sources": [http_json(&platform_a.base, "/huge")]}))?;
    let dated = create(&api, json!({"name": "dated", "sources": [http_json(&platform_b.base, "/dated")]}))?;
    let ads = create(
        &api,
        json!({"name": "ads", "sources": [{"platform": "meta_ads", "external_ref": "act_1", "secret": "meta-token-1"}]}),
    )?;
    let mut platforms = Value::Null;
    wait_until("three capped pauses", Duration::from_secs(30), || {
        platforms = api.ok("/api/v1/admin/platforms")?;
        let json_hosts = platform(&platforms, "http_json")?["hosts"].as_array().map_or(0, Vec::len);
        let meta_capped = platform(&platforms, "meta_ads")?["last_pause"]["capped"] == true;
        Ok(json_hosts >= 2 && meta_capped)
    })
    .with_context(|| format!("{platforms}"))?;
    ensure!(server.child.id() > 0 && api.ok("/healthz").is_ok(), "the node lives");
    let now = trawler_domain::now_millis();
    let json_gate = platform(&platforms, "http_json")?;
    ensure!(json_gate["max_pause_secs"] == 3, "{json_gate}");
    ensure!(json_gate["last_pause"]["capped"] == true && json_gate["last_pause"]["applied_secs"] == 3, "{json_gate}");
    for host in json_gate["hosts"].as_array().into_iter().flatten() {
        let until = host["paused_until_ms"].as_i64().unwrap_or(0);
        ensure!(until <= now + 3_500, "a host's pause is capped at 3 s: {host}");
    }
    let meta_gate = platform(&platforms, "meta_ads")?;
    ensure!(meta_gate["last_pause"]["asked_secs"].as_u64() > Some(1_000_000_000), "{meta_gate}");
    ensure!(meta_gate["paused_until_ms"].as_i64().is_none_or(|t| t <= now + 3_500), "{meta_gate}");
    // The pauses end: both hosts answer again and their runs succeed.
    std::thread::sleep(Duration::from_secs(3));
    for project in [huge, dated] {
        let run = scrape(&api, project)?;
        ensure!(
            run["status"] == "succeeded" && run["points_written"].as_i64() >= Some(1),
            "after the capped pause: {run}"
        );
    }
    let run = scrape(&api, ads)?;
    ensure!(run["error_kind"] == "throttled" || run["status"] == "failed", "meta still throttles: {run}");
    Ok(())
}

/// Numbers no float can hold are a parse error of their metric and never a
/// stored point; a paging link to another origin is not followed with the
/// access token.
#[test]
fn hostile_bodies_store_nothing_and_paging_stays_home() -> Result<()> {
    let platform_a = Scripted::start()?;
    let elsewhere = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, &platform_a.base, &[])?;
    let digits = "9".repeat(400);
    platform_a.on("/inf-string", vec![answer(200, &[], format!(r#"{{"v": "{digits}"}}"#))]);
    platform_a
        .on("/inf-html", vec![answer(200, &[("Content-Type", "text/html")], format!("<p class=v>${digits}</p>"))]);
    let next = format!("{}/meta/v21.0/act_2/insights?after=x", elsewhere.base);
    platform_a.on(
        "/meta/v21.0/act_2/insights",
        vec![answer(200, &[], json!({"data": [{"spend": "1.5"}], "paging": {"next": next}}).to_string())],
    );
    let inf_json = create(&api, json!({"name": "inf-json", "sources": [http_json(&platform_a.base, "/inf-string")]}))?;
    let inf_html = create(
        &api,
        json!({"name": "inf-html", "sources": [{"platform": "html", "external_ref": "x", "options": {
            "url": format!("{}/inf-html", platform_a.base), "metrics": {"pledged": ".v"}}}]}),
    )?;
    let ads = create(
        &api,
        json!({"name": "ads", "sources": [{"platform": "meta_ads", "external_ref": "act_2", "secret": "meta-token-2"}]}),
    )?;
    for project in [inf_json, inf_html] {
        let run = scrape(&api, project)?;
        ensure!(run["status"] == "failed" && run["error_kind"] == "parse", "{run}");
        ensure!(run["error"].as_str().is_some_and(|e| e.contains("pledged") && e.len() < 400), "{run}");
        let series = api.ok(&format!("/api/v1/projects/{project}/series?metric=pledged"))?;
        ensure!(!series.to_string().contains("inf") && !series.to_string().contains("1e"), "{series}");
        let csv =
            api.client.get(format!("{}/api/v1/projects/{project}/export.csv", api.base)).bearer_auth(TOKEN).send()?;
        let csv = csv.text()?;
        ensure!(csv.lines().count() <= 1, "no point stored: {csv}");
    }
    let run = scrape(&api, ads)?;
    ensure!(run["status"] == "failed", "{run}");
    ensure!(run["error"].as_str().is_some_and(|e| e.contains("another origin")), "{run}");
    ensure!(elsewhere.requests().is_empty(), "the other origin got {:?}", elsewhere.requests());
    ensure!(!run.to_string().contains("meta-token-2"), "{run}");
    Ok(())
}

/// Anonymous requests with made-up methods do not add metric series.
#[test]
fn made_up_methods_add_no_metric_series() -> Result<()> {
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, "http://127.0.0.1:9", &[])?;
    let client = Client::builder().timeout(Duration::from_secs(10)).build()?;
    for i in 0..200 {
        let method = Method::from_bytes(format!("XMETHOD{i}{}", "Q".repeat(500)).as_bytes())?;
        let _ = client.request(method, format!("{}/api/v1/projects/{i}", api.base)).send()?;
    }
    let metrics = client.get(format!("{}/metrics", api.base)).bearer_auth(TOKEN).send()?.text()?;
    ensure!(!metrics.contains("XMETHOD"), "a made-up method became a label");
    ensure!(metrics.contains(r#"method="other""#), "made-up methods count as `other`");
    ensure!(metrics.len() < 200_000, "/metrics stays small: {} bytes", metrics.len());
    Ok(())
}

/// The UI's bulk form sends the browser back only to a page of the UI,
/// however the return path is spelt.
#[test]
fn the_bulk_form_never_redirects_off_the_ui() -> Result<()> {
    let db = TestDb::sqlite()?;
    let hash = trawler_web::hash_password("hostile-ui-password").map_err(anyhow::Error::msg)?;
    let (_server, api) = node(&db, "http://127.0.0.1:9", &[("TRAWLER_ADMIN_PASSWORD_HASH", &hash)])?;
    let client =
        Client::builder().timeout(Duration::from_secs(10)).redirect(reqwest::redirect::Policy::none()).build()?;
    let (cookie, _) = common::ui_login(&client, &api.base, "hostile-ui-password")?;
    let page = client.get(format!("{}/ui/", api.base)).header("Cookie", &cookie).send()?.text()?;
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow!("no csrf token on the page"))?
        .to_owned();
    for back in [
        r"/ui/..\\evil.example",
        r"/ui/..\evil.example",
        "/ui/../..//evil.example",
        "//evil.example/ui/",
        "https://evil.example/ui/",
        "/ui/%2e%2e/%2e%2e//evil.example",
        "/ui/projects?status=failed",
    ] {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .append_pair("action", "trigger")
            .append_pair("back", back)
            .finish();
        let resp = client
            .post(format!("{}/ui/bulk", api.base))
            .header("Cookie", &cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()?;
        ensure!(resp.status() == 303, "{back}: {}", resp.status());
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        ensure!(
            location.starts_with("/ui/") && !location.contains("evil") && !location.contains('\\'),
            "{back:?} sent the browser to {location:?}"
        );
    }
    Ok(())
}

/// With private addresses refused, webhooks to addresses that carry a
/// private IPv4 (NAT64, 6to4, Teredo, IPv4-compatible) or sit in a special
/// range are refused when they are saved, before any connection; and a
/// proxy named in the environment is not used (it would resolve names past
/// the guard).
#[test]
fn the_ssrf_guard_sees_through_embedded_addresses_and_ignores_env_proxies() -> Result<()> {
    let proxy = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (_server, api) = node(
        &db,
        "http://127.0.0.1:9",
        &[
            ("TRAWLER_ALLOW_PRIVATE", "false"),
            ("HTTP_PROXY", &proxy.base),
            ("http_proxy", &proxy.base),
            ("ALL_PROXY", &proxy.base),
        ],
    )?;
    for host in [
        "[64:ff9b::a9fe:a9fe]",
        "[::127.0.0.1]",
        "[2002:7f00:1::]",
        "[fec0::1]",
        "198.18.0.1",
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
        "[::ffff:169.254.169.254]",
        "192.0.2.1",
    ] {
        let url = format!("http://{host}/hook");
        let (status, body) = api.send(Method::POST, "/api/v1/admin/webhooks", Some(json!({"url": url})))?;
        ensure!(status == 400, "a webhook to {url} was accepted: {status} {body}");
        ensure!(body["error"]["message"].as_str().is_some_and(|m| m.contains("private")), "{body}");
    }
    // A public name: the node resolves it itself (and fails here, offline);
    // it never hands the request to the proxy from the environment.
    let project = create(&api, json!({"name": "proxied", "sources": [http_json("http://public-site.example", "/x")]}))?;
    let run = scrape(&api, project)?;
    ensure!(run["status"] == "failed", "{run}");
    ensure!(proxy.requests().is_empty(), "the environment's proxy was used: {:?}", proxy.requests());
    Ok(())
}

/// Editing a project whose Meta source has a secret keeps that secret when
/// the edit does not send it again (the secret is never shown, so a client
/// cannot send it back).
#[test]
fn editing_a_project_keeps_its_stored_secret() -> Result<()> {
    let platform_a = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, &platform_a.base, &[])?;
    platform_a.on("/meta/v21.0/act_9/insights", vec![answer(200, &[], r#"{"data": [{"spend": "2.5"}]}"#)]);
    let project = create(
        &api,
        json!({"name": "ads", "sources": [{"platform": "meta_ads", "external_ref": "act_9", "secret": "kept-token-9"}]}),
    )?;
    let (status, view) = api.send(
        Method::PATCH,
        &format!("/api/v1/projects/{project}"),
        Some(json!({"name": "ads, renamed", "sources": [{"platform": "meta_ads", "external_ref": "act_9"}]})),
    )?;
    ensure!(status == 200, "an edit without the secret is accepted: {status} {view}");
    ensure!(!view.to_string().contains("kept-token-9"), "{view}");
    let run = scrape(&api, project)?;
    ensure!(run["status"] == "succeeded", "the stored secret is still used: {run}");
    // A new Meta source without any secret is still refused.
    let (status, body) = api.send(
        Method::PATCH,
        &format!("/api/v1/projects/{project}"),
        Some(json!({"sources": [{"platform": "meta_ads", "external_ref": "act_10"}]})),
    )?;
    ensure!(status == 400, "a new meta source needs its secret: {status} {body}");
    Ok(())
}

/// A credential in a source's URL (`?api_key=`, `user:password@`) never
/// reaches a run's error, the actors view or the metrics when the fetch
/// fails: errors name no URL query or user information.
#[test]
fn failed_fetches_do_not_repeat_credentials_from_urls() -> Result<()> {
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, "http://127.0.0.1:9", &[])?;
    // Port 9 (discard) is closed on loopback: the connection is refused.
    let project = create(
        &api,
        json!({"name": "keyed", "sources": [http_json("http://user:pa55word@127.0.0.1:9", "/x?api_key=s3cret-key")]}),
    )?;
    let run = scrape(&api, project)?;
    ensure!(run["status"] == "failed" && run["error_kind"] == "connect", "{run}");
    for view in [
        run.to_string(),
        api.ok("/api/v1/admin/actors")?.to_string(),
        api.ok(&format!("/api/v1/projects/{project}/runs"))?.to_string(),
    ] {
        ensure!(!view.contains("s3cret-key") && !view.contains("pa55word"), "a credential leaked: {view}");
    }
    // A dashboard's read token sees the project without its sources' options.
    let (status, token) =
        api.send(Method::POST, &format!("/api/v1/projects/{project}/tokens"), Some(json!({"name": "dash"})))?;
    ensure!(status == 201, "{status} {token}");
    let token = token["token"].as_str().unwrap_or_default().to_owned();
    let as_reader = api
        .client
        .get(format!("{}/api/v1/projects/{project}", api.base))
        .bearer_auth(&token)
        .send()?
        .json::<Value>()?;
    ensure!(as_reader["sources"][0]["options"] == json!({}), "{as_reader}");
    ensure!(!as_reader.to_string().contains("s3cret-key"), "{as_reader}");
    let as_admin = api.ok(&format!("/api/v1/projects/{project}"))?;
    ensure!(as_admin["sources"][0]["options"]["url"].is_string(), "the admin sees the options: {as_admin}");
    Ok(())
}

/// A series of a metric the project has no source for and no point of is
/// a 404 that names the metrics it has: a typo is not an empty chart.
#[test]
fn a_misspelt_metric_is_a_404_naming_the_project_metrics() -> Result<()> {
    let platform_a = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, &platform_a.base, &[])?;
    platform_a.on("/m", vec![answer(200, &[], r#"{"v": 3}"#)]);
    let project = create(&api, json!({"name": "typo", "sources": [http_json(&platform_a.base, "/m")]}))?;
    // Named by a source: 200, even before any point is stored.
    let (status, body) = api.get(&format!("/api/v1/projects/{project}/series?metric=pledged&from=0&to=1"))?;
    ensure!(status == 200, "{status} {body}");
    let (status, body) = api.get(&format!("/api/v1/projects/{project}/series?metric=pledgedd"))?;
    ensure!(status == 404 && body["error"]["code"] == "metric_not_found", "{status} {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    ensure!(message.contains("pledgedd") && message.contains("pledged)"), "{body}");
    Ok(())
}

/// A dashboard's event stream ends within about a second of its read
/// token's revocation, with `event: revoked`.
#[test]
fn revoking_a_read_token_closes_its_event_streams() -> Result<()> {
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, "http://127.0.0.1:9", &[])?;
    let project = create(&api, json!({"name": "live", "sources": [http_json("http://127.0.0.1:9", "/x")]}))?;
    let (status, token) =
        api.send(Method::POST, &format!("/api/v1/projects/{project}/tokens"), Some(json!({"name": "dash"})))?;
    ensure!(status == 201, "{status} {token}");
    let (secret, token_id) =
        (token["token"].as_str().unwrap_or_default().to_owned(), token["id"].as_i64().unwrap_or(0));
    let client = Client::builder().timeout(Duration::from_secs(20)).build()?;
    let url = format!("{}/api/v1/projects/{project}/events", api.base);
    let mut stream = client.get(&url).bearer_auth(&secret).send()?;
    ensure!(stream.status() == 200, "{}", stream.status());
    let mut first = [0u8; 64];
    let n = stream.read(&mut first)?;
    ensure!(String::from_utf8_lossy(&first[..n]).contains("connected"), "the stream opened");
    let revoked_at = std::time::Instant::now();
    let (status, _) = api.send(Method::DELETE, &format!("/api/v1/projects/{project}/tokens/{token_id}"), None)?;
    ensure!(status == 200, "revoke: {status}");
    let mut rest = String::new();
    stream.read_to_string(&mut rest)?;
    let took = revoked_at.elapsed();
    ensure!(rest.contains("event: revoked"), "the stream ended without saying why: {rest:?}");
    // The check runs every 0.5 s; 3 s leaves room for a loaded machine.
    ensure!(took < Duration::from_secs(3), "closed {took:?} after the revocation");
    eprintln!("the stream closed {} ms after the revocation", took.as_millis());
    Ok(())
}

/// Event streams are capped per read token (429) and per node (503), both
/// with `Retry-After`; a stream the client closed frees its place.
#[test]
fn event_streams_are_capped_per_token_and_per_node() -> Result<()> {
    let db = TestDb::sqlite()?;
    let (_server, api) =
        node(&db, "http://127.0.0.1:9", &[("TRAWLER_MAX_STREAMS", "3"), ("TRAWLER_MAX_STREAMS_PER_TOKEN", "2")])?;
    let project = create(&api, json!({"name": "capped", "sources": [http_json("http://127.0.0.1:9", "/x")]}))?;
    let token = |name: &str| -> Result<String> {
        let (status, t) =
            api.send(Method::POST, &format!("/api/v1/projects/{project}/tokens"), Some(json!({"name": name})))?;
        ensure!(status == 201, "{status} {t}");
        Ok(t["token"].as_str().unwrap_or_default().to_owned())
    };
    let (one, two) = (token("one")?, token("two")?);
    let client = Client::builder().timeout(Duration::from_secs(20)).build()?;
    let url = format!("{}/api/v1/projects/{project}/events", api.base);
    let open = |bearer: &str| client.get(&url).bearer_auth(bearer).send();
    let first = open(&one)?;
    let second = open(&one)?;
    ensure!(first.status() == 200 && second.status() == 200, "two streams per token");
    let refused = open(&one)?;
    ensure!(refused.status() == 429, "a token's third stream: {}", refused.status());
    ensure!(refused.headers().contains_key("retry-after"), "429 says when to retry");
    let admin = open(TOKEN)?;
    ensure!(admin.status() == 200, "the admin counts against the node only");
    let full = open(&two)?;
    ensure!(full.status() == 503, "the node is full: {}", full.status());
    ensure!(full.headers().contains_key("retry-after"), "503 says when to retry");
    // A closed stream's place frees when the node next writes to it (its
    // keep-alive comes every 15 s at the latest).
    drop((first, admin));
    wait_until("a freed place", Duration::from_secs(25), || Ok(open(&two)?.status() == 200))?;
    drop(second);
    Ok(())
}

/// Failed logins slow their source down but never lock the admin out: after
/// six wrong passwords the right one still gets in (later). Behind a trusted
/// proxy, each client is its own source.
#[test]
fn failed_logins_slow_their_source_and_never_refuse_the_right_password() -> Result<()> {
    let db = TestDb::sqlite()?;
    let hash = trawler_web::hash_password("the-right-password").map_err(anyhow::Error::msg)?;
    let (_server, api) = node(
        &db,
        "http://127.0.0.1:9",
        &[("TRAWLER_ADMIN_PASSWORD_HASH", &hash), ("TRAWLER_TRUSTED_PROXIES", "127.0.0.1/32,::1")],
    )?;
    let client =
        Client::builder().timeout(Duration::from_secs(30)).redirect(reqwest::redirect::Policy::none()).build()?;
    let login = |password: &str, client_ip: &str| -> Result<u16> {
        Ok(client
            .post(format!("{}/ui/login", api.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Forwarded-For", format!("6.6.6.6, {client_ip}"))
            .body(format!("password={password}"))
            .send()?
            .status()
            .as_u16())
    };
    let started = std::time::Instant::now();
    for _ in 0..6 {
        ensure!(login("wrong", "198.51.100.7")? == 401, "a wrong password is a 401");
    }
    ensure!(started.elapsed() >= Duration::from_secs(7), "failures slowed down: {:?}", started.elapsed());
    ensure!(login("the-right-password", "198.51.100.7")? == 303, "the right password gets in after failures");
    // Another client behind the same proxy is not slowed by the first.
    let other = std::time::Instant::now();
    ensure!(login("the-right-password", "203.0.113.9")? == 303);
    ensure!(other.elapsed() < Duration::from_secs(5), "another client waited {:?}", other.elapsed());
    Ok(())
}

/// Webhook deliveries: a receiver that hangs holds back no other
/// receiver's deliveries, and a receiver's answer is read only so far (a
/// 20 MB answer still counts as delivered).
#[test]
fn a_slow_webhook_receiver_holds_back_no_other() -> Result<()> {
    let slow = Scripted::start()?;
    let fast = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, "http://127.0.0.1:9", &[("TRAWLER_HTTP_TIMEOUT", "20s")])?;
    slow.on("/hook", vec![Answer { delay: Duration::from_secs(15), ..answer(200, &[], "ok") }]);
    fast.on("/hook", vec![answer(200, &[], "x".repeat(20 << 20))]);
    let hook = |url: String| -> Result<i64> {
        let (status, h) = api.send(Method::POST, "/api/v1/admin/webhooks", Some(json!({"url": url})))?;
        ensure!(status == 201, "{status} {h}");
        h["id"].as_i64().ok_or_else(|| anyhow!("no id"))
    };
    let (slow_hook, fast_hook) = (hook(format!("{}/hook", slow.base))?, hook(format!("{}/hook", fast.base))?);
    let (status, _) = api.send(Method::POST, &format!("/api/v1/admin/webhooks/{slow_hook}/ping"), None)?;
    ensure!(status == 202, "ping: {status}");
    wait_until("the slow receiver to be reached", Duration::from_secs(10), || Ok(!slow.requests().is_empty()))?;
    let pinged = std::time::Instant::now();
    let (status, _) = api.send(Method::POST, &format!("/api/v1/admin/webhooks/{fast_hook}/ping"), None)?;
    ensure!(status == 202, "ping: {status}");
    let mut deliveries = Value::Null;
    wait_until("the fast receiver's delivery", Duration::from_secs(14), || {
        deliveries = api.ok(&format!("/api/v1/admin/webhooks/{fast_hook}/deliveries"))?;
        Ok(deliveries.to_string().contains("\"delivered\""))
    })
    .with_context(|| format!("{deliveries}"))?;
    ensure!(
        pinged.elapsed() < Duration::from_secs(10),
        "the fast receiver waited {:?} behind the slow one",
        pinged.elapsed()
    );
    ensure!(!slow.requests().is_empty() && fast.requests().len() == 1, "one request each");
    Ok(())
}

/// A generic source's secret travels in the header its options name, never
/// in the URL, and a secret with no header to carry it is refused.
#[test]
fn a_generic_source_sends_its_secret_in_a_header() -> Result<()> {
    let platform_a = Scripted::start()?;
    let db = TestDb::sqlite()?;
    let (_server, api) = node(&db, &platform_a.base, &[])?;
    platform_a.on("/keyed", vec![answer(200, &[], r#"{"v": 4}"#)]);
    let mut source = http_json(&platform_a.base, "/keyed");
    source["secret"] = json!("s3cret-key-7");
    let (status, body) = api.send(Method::POST, "/api/v1/projects", Some(json!({"name": "k", "sources": [source]})))?;
    ensure!(status == 400 && body.to_string().contains("secret_header"), "a secret nothing carries: {status} {body}");
    ensure!(!body.to_string().contains("s3cret-key-7"), "{body}");
    source["options"]["secret_header"] = json!("Authorization");
    source["options"]["secret_format"] = json!("Bearer {secret}");
    let project = create(&api, json!({"name": "keyed", "sources": [source]}))?;
    let run = scrape(&api, project)?;
    ensure!(run["status"] == "succeeded", "{run}");
    let heads = platform_a.heads();
    ensure!(heads.iter().all(|h| h.contains("authorization: Bearer s3cret-key-7")), "{heads:?}");
    ensure!(platform_a.requests().iter().all(|t| !t.contains("s3cret")), "never in the URL");
    let view = api.ok(&format!("/api/v1/projects/{project}"))?;
    ensure!(view["sources"][0]["has_secret"] == true && !view.to_string().contains("s3cret"), "{view}");
    Ok(())
}

/// Runs the binary with `args` and `env`; returns its exit success, stdout
/// and stderr.
fn run_cli(args: &[&str], env: &[(&'static str, String)]) -> Result<(bool, String, String)> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"));
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Secrets are sealed at rest; a node with the wrong key refuses to start
/// in one line; rotation re-seals them under a new key.
#[test]
fn secrets_are_sealed_at_rest_and_keys_rotate() -> Result<()> {
    let platform_a = Scripted::start()?;
    platform_a.on("/meta/v21.0/act_5/insights", vec![answer(200, &[], r#"{"data": [{"spend": "1.0"}]}"#)]);
    let db = TestDb::sqlite()?;
    let (old_key, new_key) = ("11".repeat(32), "22".repeat(32));
    let with_keys = |key: &str, old: &str| -> Vec<(&'static str, String)> {
        let meta = format!("{}/meta", platform_a.base);
        let mut env = server_env(&db.url, &platform_a.base, &[("TRAWLER_META_URL", &meta)]);
        env.extend([("TRAWLER_SECRET_KEY", key.to_owned()), ("TRAWLER_SECRET_KEYS_OLD", old.to_owned())]);
        env
    };
    let stored = || -> Result<String> {
        let sources = trawler_store::Source::list_all(&mut *db.pool.get()?)?;
        Ok(sources.iter().filter_map(|s| s.secret.clone()).collect::<Vec<_>>().join(" "))
    };
    let project = {
        let (_server, api) = start_server(&with_keys(&old_key, ""))?;
        let body = json!({"name": "sealed", "sources": [{"platform": "meta_ads", "external_ref": "act_5", "secret": "EAAB-plain-token"}]});
        let project = create(&api, body)?;
        ensure!(scrape(&api, project)?["status"] == "succeeded", "the sealed secret opens");
        project
    };
    let at_rest = stored()?;
    ensure!(at_rest.starts_with("enc:v1:") && !at_rest.contains("EAAB"), "stored sealed: {at_rest}");
    // Another key: refused at start, in one line naming the key it needs.
    let mut env = with_keys(&new_key, "");
    env.push(("TRAWLER_BIND", "127.0.0.1:0".into()));
    let (ok, _, err) = run_cli(&["serve"], &env)?;
    ensure!(!ok && err.contains("sealed with key") && err.contains("TRAWLER_SECRET_KEY"), "{err}");
    ensure!(err.lines().filter(|l| l.contains("error")).count() == 1, "one line: {err}");
    // The new key with the old one beside it: rotate, then the old one can go.
    let (ok, out, err) = run_cli(&["secrets", "rotate"], &with_keys(&new_key, &old_key))?;
    ensure!(ok && out.contains("1 secrets sealed"), "{out} {err}");
    ensure!(stored()? != at_rest && !stored()?.contains("EAAB"), "re-sealed");
    let (_server, api) = start_server(&with_keys(&new_key, ""))?;
    ensure!(scrape(&api, project)?["status"] == "succeeded", "the rotated secret opens with the new key alone");
    Ok(())
}
