//! Generic sources that reach real sites, against the real binary and the
//! simulator: a CSV table (a column and a row by its id), JSON inside an
//! HTML page (JSON-LD, a script variable), a GraphQL endpoint that wants
//! its key in a header (the source's secret), and a page that answers
//! conditional requests with `304 Not Modified`. Each stored value is the
//! one the simulator served; bad request options are refused at creation.

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};
use trawler_domain::now_secs;
use trawler_store::testing::TestDb;

fn create(api: &Api, name: &str, source: Value) -> Result<i64> {
    let (status, made) =
        api.send(Method::POST, "/api/v1/projects", Some(json!({"name": name, "sources": [source]})))?;
    ensure!(status == 201, "{name}: {status} {made}");
    made["id"].as_i64().context("id")
}

/// The values of `metric` the simulator served for `reference`, by time.
fn served(sim: &str, reference: &str, metric: &str) -> Result<Vec<f64>> {
    let log: Value =
        reqwest::blocking::get(format!("{sim}/_sim/log?platform=http_json&reference={reference}"))?.json()?;
    let html: Value = reqwest::blocking::get(format!("{sim}/_sim/log?platform=html&reference={reference}"))?.json()?;
    Ok(log
        .as_array()
        .into_iter()
        .chain(html.as_array())
        .flatten()
        .filter_map(|e| e["values"][metric].as_f64())
        .collect())
}

/// Waits until the project has stored `metric`, and checks every stored
/// value is one the simulator served.
fn stored_as_served(api: &Api, sim: &str, id: i64, reference: &str, metric: &str) -> Result<Vec<f64>> {
    let path = format!("/api/v1/projects/{id}/series?metric={metric}&from={}", now_secs() - 600);
    wait_until(&format!("{reference}: {metric}"), Duration::from_secs(20), || {
        Ok(api.ok(&path)?["series"][0]["points"].as_array().is_some_and(|p| !p.is_empty()))
    })?;
    let series = api.ok(&path)?;
    let values: Vec<f64> =
        series["series"][0]["points"].as_array().into_iter().flatten().filter_map(|p| p[1].as_f64()).collect();
    let served = served(sim, reference, metric)?;
    for v in &values {
        ensure!(served.iter().any(|s| (s - v).abs() < 1e-6), "{reference} {metric}: stored {v}, served {served:?}");
    }
    Ok(values)
}

/// Waits until the http_json poller's last error names `reference` and
/// says `says`, then checks the project stored nothing.
fn fails_storing_nothing(api: &Api, id: i64, reference: &str, says: &str) -> Result<()> {
    wait_until(&format!("{reference}'s failure"), Duration::from_secs(20), || {
        let actors = api.ok("/api/v1/admin/actors")?;
        let source =
            actors["actors"].as_array().into_iter().flatten().find(|a| a["name"] == "source:http_json").cloned();
        Ok(source.is_some_and(|a| a["last_error"].as_str().is_some_and(|e| e.contains(reference) && e.contains(says))))
    })?;
    let series = api.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={}", now_secs() - 600))?;
    ensure!(series["series"].as_array().is_some_and(|l| l.iter().all(|l| l["points"] == json!([]))), "{series}");
    Ok(())
}

#[test]
fn csv_json_in_pages_graphql_and_conditional_requests_store_what_was_served() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1s"), ("TRAWLER_EXCHANGE_RATES", "false")],
    );
    let (_server, api) = start_server(&env)?;
    let s = &sim.addr;
    let csv = create(
        &api,
        "csv",
        json!({"platform": "http_json", "external_ref": "table-lamp", "options": {
        "url": format!("{s}/csv/{{ref}}"), "format": "csv", "row": {"column": "id", "equals": "{ref}"},
        "metrics": {"pledged": "raised", "backers": "supporters"}}}),
    )?;
    let page = create(
        &api,
        "page",
        json!({"platform": "html", "external_ref": "ld-lamp", "options": {
        "url": format!("{s}/html/{{ref}}"),
        "metrics": {"pledged": "script[type='application/ld+json'] => /offers/price",
                    "backers": "var window.__CAMPAIGN__ => /campaign/supporters"}}}),
    )?;
    let graphql = json!({"platform": "http_json", "external_ref": "gql-lamp", "secret": trawler_sim::generic::GRAPHQL_KEY,
        "options": {"url": format!("{s}/graphql"), "method": "POST", "secret_header": "X-Api-Key",
        "body": {"graphql": {"query": "query($ref: ID!) { campaign(ref: $ref) { raised supporters } }", "variables": {"ref": "{ref}"}}},
        "metrics": {"pledged": "/data/campaign/raised", "backers": "/data/campaign/supporters"}}});
    let gql = create(&api, "graphql", graphql.clone())?;
    let mut wrong_key = graphql.clone();
    wrong_key["secret"] = json!("not-the-key");
    wrong_key["external_ref"] = json!("gql-denied");
    let denied = create(&api, "denied", wrong_key)?;
    let fixed = create(
        &api,
        "static",
        json!({"platform": "http_json", "external_ref": "still-lamp", "options": {
        "url": format!("{s}/static/{{ref}}"), "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}}}),
    )?;

    for (id, reference) in [(csv, "table-lamp"), (page, "ld-lamp"), (gql, "gql-lamp"), (fixed, "still-lamp")] {
        for metric in ["pledged", "backers"] {
            stored_as_served(&api, s, id, reference, metric)?;
        }
    }
    // The wrong key: every poll fails, classified, and the key is not told.
    fails_storing_nothing(&api, denied, "gql-denied", "401")?;

    // The page that changes once a minute: polled every second, it is
    // fetched in full once a minute and answers 304 the other times; each
    // poll still stores the values (a fresh slot, the same numbers).
    std::thread::sleep(Duration::from_secs(6));
    let requests: Value = reqwest::blocking::get(format!("{s}/_sim/requests?platform=http_json"))?.json()?;
    let mine: Vec<&Value> =
        requests.as_array().into_iter().flatten().filter(|r| r["reference"] == "still-lamp").collect();
    let not_modified = mine.iter().filter(|r| r["outcome"] == "not_modified").count();
    ensure!(
        mine.len() >= 5 && not_modified * 2 >= mine.len(),
        "{not_modified} of {} answered 304: {mine:?}",
        mine.len()
    );
    let series = api.ok(&format!("/api/v1/projects/{fixed}/series?metric=pledged&from={}", now_secs() - 600))?;
    let stored = series["series"][0]["points"].as_array().map_or(0, Vec::len);
    ensure!(stored + 2 >= mine.len(), "{stored} points for {} polls", mine.len());
    Ok(())
}

#[test]
fn bad_request_options_are_refused_at_creation() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(&db.url, &sim.addr, &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h")]);
    let (_server, api) = start_server(&env)?;
    let url = format!("{}/json/{{ref}}", sim.addr);
    let cases = [
        (json!({"method": "DELETE"}), "options.method must be GET or POST"),
        (json!({"headers": {"Host": "elsewhere.example"}}), "cannot set `host`"),
        (json!({"headers": {"Content-Length": "1"}}), "cannot set `content-length`"),
        (json!({"body": {"json": {"a": 1}}}), "needs options.method POST"),
        (json!({"method": "POST", "body": {"yaml": "a: 1"}}), "options.body is one of"),
        (json!({"format": "xml"}), "options.format"),
        (json!({"format": "csv", "row": "last"}), "options.row"),
    ];
    for (extra, says) in cases {
        let mut options = json!({"url": url, "metrics": {"pledged": "/campaign/raised"}});
        for (k, v) in extra.as_object().ok_or_else(|| anyhow!("an object"))? {
            options[k] = v.clone();
        }
        let source = json!({"platform": "http_json", "external_ref": "x", "options": options});
        let (status, body) =
            api.send(Method::POST, "/api/v1/projects", Some(json!({"name": "bad", "sources": [source]})))?;
        ensure!(
            status == 400 && body["error"]["message"].as_str().is_some_and(|m| m.contains(says)),
            "{extra}: {status} {body}"
        );
    }
    let source = json!({"platform": "html", "external_ref": "x", "options": {"url": url, "metrics": {"pledged": "var 1+1 => /a"}}});
    let (status, body) =
        api.send(Method::POST, "/api/v1/projects", Some(json!({"name": "bad", "sources": [source]})))?;
    ensure!(status == 400 && body.to_string().contains("not a script variable"), "{status} {body}");
    let listed = api.ok("/api/v1/projects")?;
    ensure!(listed["projects"].as_array().is_some_and(Vec::is_empty), "nothing was created: {listed}");
    Ok(())
}

#[test]
fn a_saturated_host_waits_for_its_own_rate_and_the_others_keep_their_pace() -> Result<()> {
    // The simulator as two sites of one platform: 127.0.0.1 with a rate of
    // its own (2 a second) and six sources wanting 6; localhost with two
    // sources, limited by the platform's rate only.
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let port = sim.addr.rsplit(':').next().ok_or_else(|| anyhow!("no port in {}", sim.addr))?.to_owned();
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_HOST_RATES", "127.0.0.1=2"),
            ("TRAWLER_EXCHANGE_RATES", "false"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let source = |host: &str, reference: String| {
        json!({"platform": "http_json", "external_ref": reference, "options": {
            "url": format!("http://{host}:{port}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised"}}})
    };
    for i in 0..6 {
        create(&api, &format!("busy {i}"), source("127.0.0.1", format!("busy-{i}")))?;
    }
    for i in 0..2 {
        create(&api, &format!("calm {i}"), source("localhost", format!("calm-{i}")))?;
    }
    std::thread::sleep(Duration::from_secs(3));
    let from_ms = trawler_domain::now_millis();
    std::thread::sleep(Duration::from_secs(8));
    let to_ms = trawler_domain::now_millis();
    let requests: Value = reqwest::blocking::get(format!("{}/_sim/requests?platform=http_json", sim.addr))?.json()?;
    let count = |prefix: &str| {
        requests
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["reference"].as_str().is_some_and(|x| x.starts_with(prefix)))
            .filter(|r| r["at_ms"].as_i64().is_some_and(|t| (from_ms..to_ms).contains(&t)))
            .count()
    };
    let secs = (to_ms - from_ms) as f64 / 1000.0;
    let (busy, calm) = (count("busy-") as f64 / secs, count("calm-") as f64 / secs);
    eprintln!("busy host {busy:.2}/s (its rate: 2), calm host {calm:.2}/s (its demand: 2)");
    ensure!(busy <= 2.6, "the busy host got {busy:.2} requests a second, over its rate");
    ensure!(busy >= 1.4, "the busy host got {busy:.2} requests a second, well under its rate");
    ensure!(calm >= 1.8, "the calm host got {calm:.2} requests a second: slowed by the busy one");
    // Operators see the host's own rate.
    let platforms = api.ok("/api/v1/admin/platforms")?;
    let gate = platforms["platforms"].as_array().into_iter().flatten().find(|p| p["platform"] == "http_json");
    let limits = gate.map(|g| g["host_rates"].clone()).unwrap_or_default();
    ensure!(
        limits == json!([{"host": format!("127.0.0.1:{port}"), "rate_per_sec": 2.0, "pattern": "127.0.0.1"}]),
        "{limits}"
    );
    Ok(())
}

#[test]
fn a_paged_source_adds_up_every_page_and_a_loop_is_an_error() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "2s"), ("TRAWLER_EXCHANGE_RATES", "false")],
    );
    let (_server, api) = start_server(&env)?;
    let s = &sim.addr;
    let paged = |reference: &str, next: &str, query: &str| {
        json!({"platform": "http_json", "external_ref": reference, "options": {
            "url": format!("{s}/pages/{{ref}}{query}"), "paginate": {"next": next},
            "metrics": {"pledged": "sum /items/*/amount", "backers": "count /items"}}})
    };
    let by_pointer = create(&api, "by pointer", paged("paged-lamp", "/next", ""))?;
    let by_link = create(&api, "by link", paged("linked-lamp", "link", ""))?;
    let looping = create(&api, "looping", paged("loop-lamp", "/next", "?loop=true"))?;
    for (id, reference) in [(by_pointer, "paged-lamp"), (by_link, "linked-lamp")] {
        stored_as_served(&api, s, id, reference, "pledged")?;
        let series = api.ok(&format!("/api/v1/projects/{id}/series?metric=backers&from={}", now_secs() - 600))?;
        let counts: Vec<f64> =
            series["series"][0]["points"].as_array().into_iter().flatten().filter_map(|p| p[1].as_f64()).collect();
        ensure!(!counts.is_empty() && counts.iter().all(|c| *c == 6.0), "six items over three pages: {counts:?}");
    }
    // Each poll read the three pages: the pages' request count is about
    // three times the polls' (the points stored).
    let requests: Value = reqwest::blocking::get(format!("{s}/_sim/requests?platform=http_json"))?.json()?;
    let asked = requests.as_array().into_iter().flatten().filter(|r| r["reference"] == "paged-lamp").count();
    let polls = api.ok(&format!("/api/v1/projects/{by_pointer}/series?metric=pledged&from={}", now_secs() - 600))?
        ["series"][0]["points"]
        .as_array()
        .map_or(0, Vec::len);
    ensure!(asked >= 3 * polls && asked <= 3 * polls + 6, "{asked} page requests for {polls} polls");
    // The looping source stores nothing and says why.
    fails_storing_nothing(&api, looping, "loop-lamp", "comes twice")?;
    Ok(())
}

#[test]
fn a_platform_that_obeys_robots_txt_skips_what_it_disallows_and_waits_its_delay() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_ROBOTS_TXT", "http_json"),
            ("TRAWLER_EXCHANGE_RATES", "false"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let s = &sim.addr;
    let source = |reference: &str| {
        json!({"platform": "http_json", "external_ref": reference, "options": {
            "url": format!("{s}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised"}}})
    };
    let forbidden = create(&api, "forbidden", source("forbidden-lamp"))?;
    let fine = create(&api, "fine", source("fine-lamp"))?;
    let also = create(&api, "also fine", source("fine-chair"))?;
    stored_as_served(&api, s, fine, "fine-lamp", "pledged")?;
    stored_as_served(&api, s, also, "fine-chair", "pledged")?;
    fails_storing_nothing(&api, forbidden, "forbidden-lamp", "robots.txt disallows")?;
    std::thread::sleep(Duration::from_secs(5));
    let requests: Value = reqwest::blocking::get(format!("{s}/_sim/requests"))?.json()?;
    let list: Vec<&Value> = requests.as_array().into_iter().flatten().collect();
    // The disallowed page was never asked for; robots.txt was read once.
    ensure!(!list.iter().any(|r| r["reference"] == "forbidden-lamp"), "the disallowed page was fetched");
    ensure!(list.iter().filter(|r| r["platform"] == "robots").count() == 1, "robots.txt read once (cached)");
    // Two sources polled every second, one request a second allowed.
    let times: Vec<i64> =
        list.iter().filter(|r| r["platform"] == "http_json").filter_map(|r| r["at_ms"].as_i64()).collect();
    let span = (times.iter().max().copied().unwrap_or(0) - times.iter().min().copied().unwrap_or(0)) as f64 / 1000.0;
    ensure!(
        times.len() >= 4 && times.len() as f64 <= span + 2.0,
        "{} requests in {span:.1} s with a crawl delay of 1 s",
        times.len()
    );
    Ok(())
}

#[test]
fn a_proxy_that_cannot_be_reached_is_benched_and_the_source_keeps_its_cadence() -> Result<()> {
    // Three proxies for the html platform: the simulator twice (it answers
    // a proxied request by its path) and a closed port. The page's host
    // does not resolve: only a proxy can reach it.
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let port = sim.addr.rsplit(':').next().ok_or_else(|| anyhow!("no port in {}", sim.addr))?.to_owned();
    let proxies = format!("html=http://127.0.0.1:{port},html=http://user:pw@127.0.0.1:1,html=http://localhost:{port}");
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_PROXIES", &proxies),
            ("TRAWLER_EXCHANGE_RATES", "false"),
        ],
    );
    let (_server, api) = start_server(&env)?;
    let id = create(
        &api,
        "proxied",
        json!({"platform": "html", "external_ref": "proxied-lamp", "options": {
        "url": "http://campaigns.invalid/html/{ref}", "metrics": {"pledged": ".raised"}}}),
    )?;
    stored_as_served(&api, &sim.addr, id, "proxied-lamp", "pledged")?;
    let from = now_secs();
    std::thread::sleep(Duration::from_secs(8));
    let series = api.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={from}&to={}", from + 7))?;
    let points = series["series"][0]["points"].as_array().map_or(0, Vec::len);
    ensure!(points >= 7, "{points} points in 8 s polled every second: {series}");
    let platforms = api.ok("/api/v1/admin/platforms")?;
    let list = platforms["proxies"].as_array().ok_or_else(|| anyhow!("no proxies: {platforms}"))?;
    ensure!(list.len() == 3 && list.iter().all(|p| p["serves"] == "html"), "{platforms}");
    let dead =
        list.iter().find(|p| p["proxy"].as_str().is_some_and(|u| u.contains(":1/"))).context("the dead proxy")?;
    ensure!(dead["failed"].as_u64() >= Some(1) && !dead.to_string().contains("pw"), "{dead}");
    for live in list.iter().filter(|p| p["proxy"] != dead["proxy"]) {
        ensure!(live["failed"] == 0 && live["used"].as_u64() >= Some(2) && live["state"] == "ok", "{live}");
    }
    // The settings show the proxies without their credentials.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["config", "check"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()?;
    let shown = String::from_utf8_lossy(&check.stdout);
    ensure!(check.status.success() && shown.contains("127.0.0.1:1"), "{shown}");
    ensure!(!shown.contains("user:pw") && !shown.contains(":pw@"), "credentials shown: {shown}");
    Ok(())
}

#[test]
fn a_sites_session_cookie_is_sent_back_and_survives_a_restart() -> Result<()> {
    let db = TestDb::sqlite()?;
    let sim = start_sim(now_secs() - 3600, &[])?;
    let data = std::env::temp_dir().join(format!("trawler_cookies_{}", std::process::id()));
    let env = server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_DATA_DIR", &data.to_string_lossy()),
            ("TRAWLER_SECRET_KEY", common::TEST_SECRET_KEY),
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1s"),
            ("TRAWLER_EXCHANGE_RATES", "false"),
        ],
    );
    let (server, api) = start_server(&env)?;
    let s = &sim.addr;
    let id = create(
        &api,
        "members",
        json!({"platform": "http_json", "external_ref": "member-lamp", "options": {
        "url": format!("{s}/members/{{ref}}"), "cookies": "source", "metrics": {"pledged": "/campaign/raised"}}}),
    )?;
    stored_as_served(&api, s, id, "member-lamp", "pledged")?;
    let refused = || -> Result<usize> {
        let requests: Value = reqwest::blocking::get(format!("{s}/_sim/requests?platform=http_json"))?.json()?;
        Ok(requests.as_array().into_iter().flatten().filter(|r| r["outcome"] == "no_session").count())
    };
    ensure!(refused()? == 1, "one refusal opened the session");
    // The jar is kept (within two seconds) and read back by the next node.
    std::thread::sleep(Duration::from_secs(3));
    drop(server);
    let (_server, api) = start_server(&env)?;
    let after = now_secs();
    wait_until("a point after the restart", Duration::from_secs(20), || {
        let series = api.ok(&format!("/api/v1/projects/{id}/series?metric=pledged&from={after}"))?;
        Ok(series["series"][0]["points"].as_array().is_some_and(|p| !p.is_empty()))
    })?;
    ensure!(refused()? == 1, "the session survived the restart: {} refusals", refused()?);
    // The jar is sealed at rest: the cookie's value is not in the database.
    let kept: Vec<String> = {
        use diesel::prelude::*;
        let mut conn = db.pool.get()?;
        match &mut **conn {
            trawler_store::AnyConnection::Sqlite(c) => diesel::sql_query("SELECT sealed AS v FROM cookie_jars")
                .load::<Sealed>(c)?
                .into_iter()
                .map(|r| r.v)
                .collect(),
            trawler_store::AnyConnection::Postgresql(c) => diesel::sql_query("SELECT sealed AS v FROM cookie_jars")
                .load::<Sealed>(c)?
                .into_iter()
                .map(|r| r.v)
                .collect(),
        }
    };
    ensure!(kept.len() == 1 && !kept[0].contains("sim_session"), "{kept:?}");
    let bad = json!({"platform": "http_json", "external_ref": "x", "options": {
        "url": format!("{s}/members/{{ref}}"), "cookies": "always", "metrics": {"pledged": "/campaign/raised"}}});
    let (status, body) = api.send(Method::POST, "/api/v1/projects", Some(json!({"name": "bad", "sources": [bad]})))?;
    ensure!(status == 400 && body.to_string().contains("options.cookies"), "{status} {body}");
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Sealed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}
