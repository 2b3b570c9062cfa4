//! The access matrix: every route × {no credential, a wrong one, a read
//! token of another project, the project's read token, the admin token, an
//! admin UI session cookie, the metrics scrape token} →
//! the expected status, on the real binary: 401 for a missing or unknown
//! credential, 403 for a valid one without the right. No response ever carries a
//! secret: platform credentials, webhook secrets, the admin token, or a read
//! token (outside the one answer that creates it).

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, TOKEN};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

const PLATFORM_SECRET: &str = "EAAB-very-secret-platform-token";
const WEBHOOK_SECRET: &str = "whsec-0123456789abcdef-secret";
const METRICS_TOKEN: &str = "prometheus-scrape-token-0123";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cred {
    None,
    Wrong,
    OtherProject,
    Project,
    Admin,
    /// The admin UI's session cookie: reads, and the UI's forms with CSRF.
    Session,
    /// The scrape token: `/metrics` only.
    Metrics,
}

/// Who may call a route.
#[derive(Clone, Copy)]
enum Access {
    Public,
    Reader,
    Admin,
    /// A page of the admin UI: a session cookie, never a bearer token.
    Ui,
}

struct Route {
    method: Method,
    path: String,
    body: Option<(&'static str, String)>,
    access: Access,
    /// The status for a caller who may use it.
    ok: u16,
}

fn route(method: Method, path: impl Into<String>, access: Access, ok: u16) -> Route {
    Route { method, path: path.into(), body: None, access, ok }
}

fn with_json(mut r: Route, body: Value) -> Route {
    r.body = Some(("application/json", body.to_string()));
    r
}

#[test]
fn every_route_admits_exactly_who_it_should_and_leaks_no_secret() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let hash = trawler_web::hash_password("access-matrix-password").map_err(anyhow::Error::msg)?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_ADMIN_PASSWORD_HASH", &hash),
            ("TRAWLER_METRICS_TOKEN", METRICS_TOKEN),
        ],
    );
    let (_server, api) = start_server(&env)?;
    // Redirects are statuses here, not something to follow.
    let client =
        Client::builder().timeout(Duration::from_secs(10)).redirect(reqwest::redirect::Policy::none()).build()?;
    let (cookie, set_cookie) = common::ui_login(&client, &api.base, "access-matrix-password")?;
    ensure!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");

    // Fixtures: p1 (read), p2 (another project), p3 (archived by the matrix),
    // a webhook, a token of each project, a run.
    let make = |name: &str| -> Result<i64> {
        let body = json!({"name": name, "sources": [
            {"platform": "kickstarter", "external_ref": format!("acl/{name}")},
            {"platform": "meta_ads", "external_ref": "act_77", "secret": PLATFORM_SECRET}]});
        let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
        p["id"].as_i64().ok_or_else(|| anyhow!("no id"))
    };
    let (p1, p2, p3) = (make("one")?, make("two")?, make("three")?);
    let token_of = |p: i64| -> Result<(String, i64)> {
        let (status, t) =
            api.send(Method::POST, &format!("/api/v1/projects/{p}/tokens"), Some(json!({"name": "dash"})))?;
        ensure!(status == 201, "{status} {t}");
        Ok((t["token"].as_str().ok_or_else(|| anyhow!("no token"))?.to_owned(), t["id"].as_i64().unwrap_or(0)))
    };
    let (t1, _) = token_of(p1)?;
    let (t2, _) = token_of(p2)?;
    let (_, revocable) = token_of(p1)?;
    let (_, rotatable) = token_of(p1)?;
    let (status, hook) = api.send(
        Method::POST,
        "/api/v1/admin/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET})),
    )?;
    ensure!(status == 201, "{status} {hook}");
    let hook = hook["id"].as_i64().unwrap_or(0);
    let (_, deletable) =
        api.send(Method::POST, "/api/v1/admin/webhooks", Some(json!({"url": "http://127.0.0.1:9/x"})))?;
    let deletable = deletable["id"].as_i64().unwrap_or(0);
    let mut run = None;
    common::wait_until("a run of p1", Duration::from_secs(10), || {
        run = api.ok(&format!("/api/v1/projects/{p1}/runs"))?["runs"][0]["id"].as_i64();
        Ok(run.is_some())
    })?;
    let run = run.unwrap_or(0);

    use Access::*;
    let routes = vec![
        route(Method::GET, "/healthz", Public, 200),
        route(Method::GET, "/readyz", Public, 200),
        route(Method::GET, "/api/v1/openapi.json", Public, 200),
        route(Method::GET, "/api/v1/docs/", Public, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}"), Reader, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/series?metric=pledged"), Reader, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/summary"), Reader, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/export.csv"), Reader, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/export.jsonl"), Reader, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/events"), Reader, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/alerts"), Reader, 200),
        route(Method::GET, format!("/d/{p1}"), Reader, 200),
        route(Method::GET, "/ui/", Ui, 303),
        route(Method::GET, format!("/ui/projects/{p1}"), Ui, 303),
        route(Method::GET, "/ui/actors", Ui, 303),
        route(Method::GET, "/ui/runs?status=failed", Ui, 303),
        Route {
            body: Some(("application/x-www-form-urlencoded", format!("csrf=forged&action=archive&id={p1}"))),
            ..route(Method::POST, "/ui/bulk", Ui, 303)
        },
        Route {
            body: Some(("application/x-www-form-urlencoded", "csrf=forged".into())),
            ..route(Method::POST, format!("/ui/projects/{p1}/archive"), Ui, 303)
        },
        route(Method::GET, "/metrics", Admin, 200),
        route(Method::GET, "/api/v1/projects", Admin, 200),
        with_json(route(Method::POST, "/api/v1/projects", Admin, 201), json!({"name": "made by the matrix"})),
        with_json(route(Method::PATCH, format!("/api/v1/projects/{p1}"), Admin, 200), json!({"name": "one"})),
        route(Method::POST, format!("/api/v1/projects/{p1}/scrape"), Admin, 202),
        route(Method::POST, format!("/api/v1/projects/{p2}/resume"), Admin, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/runs"), Admin, 200),
        route(Method::GET, format!("/api/v1/runs/{run}"), Admin, 200),
        route(Method::GET, "/api/v1/runs?platform=kickstarter&status=succeeded,failed", Admin, 200),
        with_json(
            route(Method::POST, "/api/v1/admin/projects/bulk", Admin, 200),
            json!({"action": "trigger", "ids": [p1, 999_999]}),
        ),
        Route {
            body: Some((
                "application/x-ndjson",
                r#"{"platform":"kickstarter","metric":"goal","ts":100,"value":1}"#.into(),
            )),
            ..route(Method::POST, format!("/api/v1/projects/{p1}/points"), Admin, 200)
        },
        route(Method::GET, format!("/api/v1/projects/{p1}/tokens"), Admin, 200),
        route(Method::GET, format!("/api/v1/projects/{p1}/monitors"), Admin, 200),
        with_json(
            route(Method::PUT, format!("/api/v1/projects/{p1}/monitors"), Admin, 200),
            json!({"silenced": ["stale"]}),
        ),
        with_json(route(Method::POST, format!("/api/v1/projects/{p1}/tokens"), Admin, 201), json!({"name": "x"})),
        route(Method::DELETE, format!("/api/v1/projects/{p1}/tokens/{revocable}"), Admin, 200),
        route(Method::POST, format!("/api/v1/projects/{p1}/tokens/{rotatable}/rotate"), Admin, 201),
        route(Method::GET, "/api/v1/admin/actors", Admin, 200),
        route(Method::GET, "/api/v1/admin/platforms", Admin, 200),
        route(Method::GET, "/api/v1/admin/cluster", Admin, 200),
        route(Method::GET, "/api/v1/admin/events", Admin, 200),
        route(Method::GET, "/api/v1/admin/webhooks", Admin, 200),
        with_json(route(Method::POST, "/api/v1/admin/webhooks", Admin, 201), json!({"url": "http://127.0.0.1:9/y"})),
        route(Method::GET, format!("/api/v1/admin/webhooks/{hook}"), Admin, 200),
        with_json(route(Method::PATCH, format!("/api/v1/admin/webhooks/{hook}"), Admin, 200), json!({"active": true})),
        route(Method::POST, format!("/api/v1/admin/webhooks/{hook}/ping"), Admin, 202),
        route(Method::GET, format!("/api/v1/admin/webhooks/{hook}/deliveries"), Admin, 200),
        route(Method::DELETE, format!("/api/v1/admin/webhooks/{deletable}"), Admin, 204),
        route(Method::DELETE, format!("/api/v1/projects/{p3}"), Admin, 200),
    ];

    let forbidden_everywhere = [PLATFORM_SECRET, WEBHOOK_SECRET, TOKEN];
    let mut checked = 0;
    let creds = [Cred::None, Cred::Wrong, Cred::OtherProject, Cred::Project, Cred::Admin, Cred::Session, Cred::Metrics];
    for r in &routes {
        for cred in creds {
            let read = r.method == Method::GET;
            let expected = match (r.access, cred) {
                (Public, _) => r.ok,
                // A UI page with a session is shown; a UI form with a forged
                // CSRF token is refused.
                (Ui, Cred::Session) if read => 200,
                (Ui, Cred::Session) => 403,
                (Ui, _) => r.ok,
                // Through the API, the cookie only reads.
                (_, Cred::Session) if read => r.ok,
                (_, Cred::Session) => 401,
                (_, Cred::Admin) => r.ok,
                (Reader, Cred::Project) => r.ok,
                (Reader, Cred::OtherProject) => 403,
                // Valid credentials without the right: forbidden, not unknown.
                (Admin, Cred::Metrics) if r.path == "/metrics" => r.ok,
                (Admin | Reader, Cred::Metrics) => 403,
                (Admin, Cred::Project | Cred::OtherProject) => 403,
                (_, _) => 401,
            };
            let mut req = client.request(r.method.clone(), format!("{}{}", api.base, r.path));
            req = match cred {
                Cred::None => req,
                Cred::Wrong => req.bearer_auth("trw_0000000000000000000000000000000000000000"),
                Cred::OtherProject => req.bearer_auth(&t2),
                Cred::Project => req.bearer_auth(&t1),
                Cred::Admin => req.bearer_auth(TOKEN),
                Cred::Session => req.header("Cookie", &cookie),
                Cred::Metrics => req.bearer_auth(METRICS_TOKEN),
            };
            if let Some((content_type, body)) = &r.body {
                req = req.header("Content-Type", *content_type).body(body.clone());
            }
            let resp = req.send()?;
            let status = resp.status().as_u16();
            ensure!(status == expected, "{} {} as {cred:?}: {status}, expected {expected}", r.method, r.path);
            if status == 401 {
                ensure!(resp.headers().contains_key("www-authenticate"), "401 says how to authenticate");
            }
            // Event streams never end: their status is enough.
            let streaming =
                resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            if !streaming {
                let text = resp.text()?;
                for secret in forbidden_everywhere.iter().chain([&t1.as_str(), &t2.as_str()]) {
                    ensure!(!text.contains(secret), "{} {} as {cred:?} leaks a secret: {text}", r.method, r.path);
                }
            }
            checked += 1;
        }
    }
    ensure!(checked == routes.len() * creds.len());

    // A revoked token reads nothing; a rotated one neither, its successor does.
    let (status, body) = api.send(Method::POST, &format!("/api/v1/projects/{p1}/tokens/{rotatable}/rotate"), None)?;
    ensure!(
        status == 409 && body["error"]["code"] == "token_revoked",
        "a revoked token cannot be rotated: {status} {body}"
    );
    let (new, id) = token_of(p1)?;
    let (status, rotated) = api.send(Method::POST, &format!("/api/v1/projects/{p1}/tokens/{id}/rotate"), None)?;
    ensure!(status == 201, "{status} {rotated}");
    let successor = rotated["token"].as_str().unwrap_or_default().to_owned();
    let read = |token: &str| -> Result<u16> {
        Ok(client
            .get(format!("{}/api/v1/projects/{p1}/summary", api.base))
            .bearer_auth(token)
            .send()?
            .status()
            .as_u16())
    };
    ensure!(read(&new)? == 401 && read(&successor)? == 200, "rotation revokes the old token");
    // `?token=` works where headers cannot be sent (EventSource), for read
    // tokens only: the admin token in a URL would land in proxy logs and
    // browser history, so it is refused there.
    let status = client.get(format!("{}/api/v1/projects/{p1}/summary?token={successor}", api.base)).send()?.status();
    ensure!(status == 200, "{status}");
    for path in [format!("/api/v1/projects/{p1}/summary"), format!("/api/v1/projects/{p1}/events"), format!("/d/{p1}")]
    {
        let resp = client.get(format!("{}{path}?token={TOKEN}", api.base)).send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        ensure!(
            status == 401 && text.contains("Authorization header"),
            "admin token in the URL of {path}: {status} {text}"
        );
    }
    let resp = client.get(format!("{}/metrics?token={METRICS_TOKEN}", api.base)).send()?;
    ensure!(resp.status() == 401, "the metrics token is a header credential too: {}", resp.status());
    let list = api.ok(&format!("/api/v1/projects/{p1}/tokens"))?.to_string();
    ensure!(
        !list.contains(&new) && !list.contains(&successor) && !list.contains(&t1),
        "listing shows no token: {list}"
    );
    Ok(())
}
