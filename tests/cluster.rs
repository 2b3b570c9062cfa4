//! Cluster mode on the real binary: three `trawler serve` processes on one
//! PostgreSQL database and the simulator, on loopback.
//!
//! - Shares converge to fair (60 projects: 20 each, within the one-project
//!   gap that keeps shares from flapping) as nodes join; the admin UI of any
//!   node draws them, with a session made on another node.
//! - A dashboard following a project through a node that does not run it
//!   gets its points and runs, relayed by the node that does.
//! - A trigger sent to one node for a project another node runs runs once,
//!   on the node that runs it; an archive sent to one node stops the
//!   project on the node that ran it.
//! - `kill -9` of a node: its projects are scraped by the others within the
//!   lease TTL plus one slot; restarted, it gets its share back.
//! - The simulator's request log shows no project fetched twice for one
//!   slot, full scrapes and polls alike, at any time (joins, the kill, the
//!   takeover, the rejoin), and the http_json platform, kept saturated,
//!   never receives more than its budget across the cluster.
//!
//! Needs `TRAWLER_TEST_DATABASE_URL` (PostgreSQL); skipped without it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api, Proc, TOKEN};
use reqwest::Method;
use serde_json::{json, Value};
use trawler_domain::schedule::{offset_ms, FULL_SEED, POLL_SEED};

const KS_PROJECTS: usize = 30;
const HOT_PROJECTS: usize = 30;
const ALL: usize = KS_PROJECTS + HOT_PROJECTS;
const FULL_MS: i64 = 4_000;
const POLL_MS: i64 = 2_000;
/// http_json's budget, requests per second, for the whole cluster.
const BUDGET: f64 = 10.0;
const TTL_MS: i64 = trawler_store::node::TTL_MS;
const HEARTBEAT_MS: i64 = trawler_store::node::HEARTBEAT_MS;

struct Node {
    name: &'static str,
    proc_: Proc,
    api: Api,
}

const PASSWORD: &str = "cluster-ui-password";

fn start(db_url: &str, sim: &str, name: &'static str) -> Result<Node> {
    let hash = trawler_web::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let env = server_env(
        db_url,
        sim,
        &[
            ("TRAWLER_NODE_NAME", name),
            ("TRAWLER_FULL_INTERVAL", "4s"),
            ("TRAWLER_POLL_INTERVAL", "2s"),
            ("TRAWLER_RATE_HTTP_JSON", "10"),
            ("TRAWLER_RATE_KICKSTARTER", "200"),
            // Every project at the node's interval: http_json stays
            // saturated, so the check that the gates keep to its budget
            // proves something (the division's own budget is tested in
            // division.rs).
            ("TRAWLER_WEIGHTED_POLLS", "false"),
            ("TRAWLER_ADMIN_PASSWORD_HASH", &hash),
        ],
    );
    let (proc_, api) = start_server(&env)?;
    Ok(Node { name, proc_, api })
}

/// Leases per live node, from one node's view of the cluster.
fn shares(api: &Api) -> Result<BTreeMap<String, i64>> {
    let cluster = api.ok("/api/v1/admin/cluster")?;
    Ok(cluster["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["alive"] == true)
        .filter_map(|n| Some((n["name"].as_str()?.to_owned(), n["leases"].as_i64()?)))
        .collect())
}

/// Whether `names` are the live nodes and hold fair shares of every project.
fn fair(api: &Api, names: &[&str]) -> Result<bool> {
    let s = shares(api)?;
    let share = ALL.div_ceil(names.len()) as i64;
    Ok(s.len() == names.len()
        && names.iter().all(|n| s.get(*n).is_some_and(|c| (c - share).abs() <= 1))
        && s.values().sum::<i64>() == ALL as i64)
}

/// Follows a project's live events through `node` until every one of
/// `wanted` (event names) has arrived; returns the names seen, in order.
fn follow(node: &Node, project: i64, wanted: &[&str], within: Duration) -> Result<Vec<String>> {
    use std::io::Read;
    let client = reqwest::blocking::Client::builder().timeout(within).build()?;
    let mut resp =
        client.get(format!("{}/api/v1/projects/{project}/events", node.api.base)).bearer_auth(TOKEN).send()?;
    ensure!(resp.status() == 200, "{}", resp.status());
    let (mut text, mut buf) = (String::new(), [0u8; 4096]);
    let seen = |text: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.strip_prefix("event: ")).map(str::to_owned).collect()
    };
    while !wanted.iter().all(|w| seen(&text).iter().any(|s| s == w)) {
        let n = resp.read(&mut buf).map_err(|e| anyhow!("{e}; seen so far: {:?}", seen(&text)))?;
        ensure!(n > 0, "the stream ended; seen: {:?}", seen(&text));
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Ok(seen(&text))
}

/// The projects a node runs, from its own `/admin/actors`.
fn running(node: &Node) -> Result<BTreeSet<i64>> {
    let tree = node.api.ok("/api/v1/admin/actors")?;
    ensure!(tree["node"] == node.name, "{}", tree["node"]);
    Ok(tree["actors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["kind"] == "scraper" && a["status"] != "quarantined")
        .filter_map(|a| a["project_id"].as_i64())
        .collect())
}

struct Request {
    at_ms: i64,
    reference: String,
    path: String,
}

fn requests(sim: &str, platform: &str) -> Result<Vec<Request>> {
    let log: Value = reqwest::blocking::get(format!("{sim}/_sim/requests?platform={platform}"))?.json()?;
    Ok(log
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Request {
                at_ms: r["at_ms"].as_i64()?,
                reference: r["reference"].as_str()?.to_owned(),
                path: r["path"].as_str()?.to_owned(),
            })
        })
        .collect())
}

/// Requests that share a slot with an earlier one of the same project:
/// `(reference, slot start, arrivals)`.
fn doubles(
    reqs: &[&Request],
    ids: &BTreeMap<String, i64>,
    interval_ms: i64,
    seed: u64,
) -> Vec<(String, i64, Vec<i64>)> {
    let mut slots: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for r in reqs {
        let Some(id) = ids.get(&r.reference) else { continue };
        let offset = offset_ms(*id as u64, seed, Duration::from_millis(interval_ms as u64)) as i64;
        let slot = (r.at_ms - offset).div_euclid(interval_ms) * interval_ms + offset;
        slots.entry((r.reference.clone(), slot)).or_default().push(r.at_ms);
    }
    slots.into_iter().filter(|(_, v)| v.len() > 1).map(|((r, s), v)| (r, s, v)).collect()
}

#[test]
fn three_nodes_share_projects_take_over_and_keep_to_the_budget() -> Result<()> {
    let Some(db) = trawler_store::testing::TestDb::postgres() else {
        eprintln!("cluster test skipped: {} is not set", trawler_store::testing::PG_ENV);
        return Ok(());
    };
    let db = db?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let a = start(&db.url, &sim.addr, "a")?;

    // Sixty projects, created through node a.
    let mut ks_ids: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..ALL {
        let body = if i < KS_PROJECTS {
            json!({"name": format!("ks {i}"),
                "sources": [{"platform": "kickstarter", "external_ref": format!("maker/cluster-{i}")}]})
        } else {
            json!({"name": format!("hot {i}"), "sources": [{"platform": "http_json", "external_ref": format!("hot-{i}"),
                "options": {"url": format!("{}/json/{{ref}}", sim.addr), "metrics": {"pledged": "/campaign/raised"}}}]})
        };
        let (status, p) = a.api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
        if i < KS_PROJECTS {
            ks_ids.insert(format!("maker/cluster-{i}"), p["id"].as_i64().ok_or_else(|| anyhow!("no id"))?);
        }
    }
    wait_until("a runs everything", Duration::from_secs(20), || fair(&a.api, &["a"]))?;

    // b and c join: shares even out.
    let b = start(&db.url, &sim.addr, "b")?;
    let c = start(&db.url, &sim.addr, "c")?;
    wait_until("fair shares on three nodes", Duration::from_secs(40), || fair(&a.api, &["a", "b", "c"]))?;
    let cluster = c.api.ok("/api/v1/admin/cluster")?;
    ensure!(cluster["coordinator"]["nodes_alive"] == 3 && cluster["coordinator"]["fair_share"] == 20, "{cluster}");
    ensure!(cluster["leased"] == ALL && cluster["active_projects"] == ALL, "{cluster}");
    let platforms = c.api.ok("/api/v1/admin/platforms")?;
    let hot = platforms["platforms"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["platform"] == "http_json")
        .ok_or_else(|| anyhow!("no http_json gate: {platforms}"))?;
    // c's share of http_json follows the http_json sources it holds.
    let held_hot = c.api.ok("/api/v1/admin/actors")?["actors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["kind"] == "scraper" && a["project_id"].as_i64().is_some_and(|id| id > KS_PROJECTS as i64))
        .count() as f64;
    let expect = (held_hot + 1.0) / (HOT_PROJECTS as f64 + 3.0);
    let share = hot["share"].as_f64().unwrap_or_default();
    ensure!(hot["budget_per_sec"] == BUDGET && (share - expect).abs() <= expect * 0.011, "{hot} (expected {expect})");
    ensure!((hot["rate_per_sec"].as_f64().unwrap_or_default() - BUDGET * share).abs() < 1e-9, "{hot}");
    // Each node runs exactly what it leases, and no project runs twice.
    let (ra, rb, rc) = (running(&a)?, running(&b)?, running(&c)?);
    ensure!(ra.len() + rb.len() + rc.len() == ALL, "{} + {} + {}", ra.len(), rb.len(), rc.len());
    ensure!(ra.is_disjoint(&rb) && rb.is_disjoint(&rc) && ra.is_disjoint(&rc));

    // `trawler cluster` prints the same, one line per node.
    let out = Command::new(env!("CARGO_BIN_EXE_trawler"))
        .arg("cluster")
        .env("TRAWLER_URL", &c.api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    ensure!(text.starts_with("postgres, 60 of 60 active projects leased (answered by c)"), "{text}");
    for (name, held) in [("a", ra.len()), ("b", rb.len()), ("c", rc.len())] {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).ok_or_else(|| anyhow!("{text}"))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        ensure!(fields[1] == "alive" && line.contains(&format!(" {held}  ")), "{line}");
    }
    ensure!(text.contains("this node: 3 live nodes, fair share 20"), "{text}");

    // Any node shows another node's supervision tree on request.
    let tree_b = a.api.ok("/api/v1/admin/actors?node=b")?;
    ensure!(tree_b["node"] == "b", "{}", tree_b["node"]);
    let through_a: BTreeSet<i64> = tree_b["actors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["kind"] == "scraper")
        .filter_map(|x| x["project_id"].as_i64())
        .collect();
    ensure!(through_a == running(&b)?, "b's tree through a differs from b's own");
    let (status, body) = a.api.get("/api/v1/admin/actors?node=nobody")?;
    ensure!(status == 404 && body["error"]["code"] == "node_not_found", "{status} {body}");
    let out = Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["actors", "--node", "c"])
        .env("TRAWLER_URL", &a.api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success() && text.starts_with("System (node c)"), "{text}");

    // Prometheus sees each node's leases and the live nodes.
    let metrics =
        reqwest::blocking::Client::new().get(format!("{}/metrics", c.api.base)).bearer_auth(TOKEN).send()?.text()?;
    common::promtool_check(&metrics)?;
    let gauge = |name: &str| -> Option<f64> {
        metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    };
    ensure!(gauge("trawler_cluster_nodes") == Some(3.0), "{metrics}");
    ensure!(gauge("trawler_leases_held") == Some(rc.len() as f64), "{metrics}");
    ensure!(metrics.contains("trawler_lease_moves_total{change=\"taken\"}"), "{metrics}");

    // The admin UI: a session made on a works on c (sessions live in the
    // database), and c's actors page draws the shares.
    let client = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (cookie, _) = common::ui_login(&client, &a.api.base, PASSWORD)?;
    let page = client.get(format!("{}/ui/actors", c.api.base)).header("Cookie", &cookie).send()?;
    ensure!(page.status() == 200, "actors page on c: {}", page.status());
    let page = page.text()?;
    ensure!(page.contains("class=\"sharebar\"") && page.contains("60 of 60 active projects leased"), "{page}");
    for n in ["a", "b", "c"] {
        ensure!(page.contains(&format!("title=\"{n}: ")), "no share of {n} drawn");
    }
    // Clicking node b's badge on c shows b's tree, fetched through c.
    let page = client.get(format!("{}/ui/actors?node=b", c.api.base)).header("Cookie", &cookie).send()?;
    ensure!(page.status() == 200, "b's actors page through c: {}", page.status());
    let page = page.text()?;
    ensure!(page.contains("on node b (fetched through c)"), "{page}");
    let on_b = rb.iter().next().ok_or_else(|| anyhow!("b runs nothing"))?;
    ensure!(page.contains(&format!("scraper:{on_b}<")), "b's scraper {on_b} is not listed: {page}");

    let is_ks = |id: &&i64| **id <= KS_PROJECTS as i64;
    // A dashboard following, through a, a project c runs gets its points
    // and runs, relayed from c.
    let followed = *rc.iter().next().ok_or_else(|| anyhow!("c runs nothing"))?;
    let seen = follow(&a, followed, &["points", "run_finished"], Duration::from_secs(20))?;
    eprintln!("followed project {followed} (on c) through a: {seen:?}");

    // A trigger sent to one node for a project another node runs: it runs
    // once, on the owner. A Kickstarter project (its scrapes take
    // milliseconds, so none is in progress to join), sent to a node that
    // does not run it.
    let owners = [("a", &ra), ("b", &rb), ("c", &rc)];
    let (owner, triggered) = owners
        .iter()
        .find_map(|(name, set)| set.iter().find(is_ks).map(|id| (*name, *id)))
        .ok_or_else(|| anyhow!("no node runs a kickstarter project"))?;
    let sender = if owner == "a" { &b } else { &a };
    let (status, body) = sender.api.send(Method::POST, &format!("/api/v1/projects/{triggered}/scrape"), None)?;
    ensure!(status == 202, "{status} {body}");
    let run_id = body["run_id"].as_i64().ok_or_else(|| anyhow!("no run id: {body}"))?;
    wait_until("the forwarded run", Duration::from_secs(10), || {
        Ok(c.api.ok(&format!("/api/v1/runs/{run_id}"))?["status"] != "running")
    })?;
    let run = c.api.ok(&format!("/api/v1/runs/{run_id}"))?;
    ensure!(run["node"] == owner && run["status"] == "succeeded", "{run}");
    let runs = a.api.ok(&format!("/api/v1/projects/{triggered}/runs"))?;
    let manual: Vec<&Value> =
        runs["runs"].as_array().into_iter().flatten().filter(|r| r["triggered_by"] == "manual").collect();
    if run["triggered_by"] == "manual" {
        ensure!(manual.len() == 1, "one manual run: {runs}");
    } else {
        // It joined a scheduled run in progress: no manual run at all.
        ensure!(manual.is_empty(), "{runs}");
    }
    // Its fetch is the one request allowed beside its slot's scheduled one.
    let manual_fetch =
        run["fetch_started_at_ms"].as_i64().filter(|_| run["triggered_by"] == "manual").map(|t| (triggered, t));

    // An archive sent to a for a project b runs: b stops it.
    let on_b = *rb.iter().find(is_ks).or(rb.iter().next()).ok_or_else(|| anyhow!("b runs nothing"))?;
    let (status, body) = a.api.send(Method::DELETE, &format!("/api/v1/projects/{on_b}"), None)?;
    ensure!(status == 200 || status == 204, "{status} {body}");
    wait_until("b stops the archived project", Duration::from_secs(10), || Ok(!running(&b)?.contains(&on_b)))?;
    let archived_at = trawler_domain::now_millis();
    let alive_projects = ALL - 1;

    // Steady state, then kill -9 of b.
    std::thread::sleep(Duration::from_secs(4));
    let b_had: BTreeSet<i64> = running(&b)?;
    let pid = b.proc_.child.id().to_string();
    let killed_at = trawler_domain::now_millis();
    ensure!(Command::new("kill").args(["-KILL", &pid]).status()?.success());
    drop(b);
    wait_until("a and c take b's projects", Duration::from_secs(40), || {
        let s = shares(&a.api)?;
        Ok(s.len() == 2 && s.values().sum::<i64>() == alive_projects as i64)
    })?;
    // Every ks project b ran was fetched again within the TTL and one slot.
    let bound = TTL_MS + 2 * HEARTBEAT_MS + FULL_MS + 1_000;
    wait_until("b's projects scraped elsewhere", Duration::from_millis(bound as u64 + 5_000), || {
        let reqs = requests(&sim.addr, "kickstarter")?;
        Ok(ks_ids.iter().filter(|(_, id)| b_had.contains(id)).all(|(r, _)| {
            reqs.iter().any(|q| q.reference == *r && !q.path.ends_with("stats.json") && q.at_ms > killed_at + 1_000)
        }))
    })?;
    let reqs = requests(&sim.addr, "kickstarter")?;
    let mut worst = 0;
    for (r, _) in ks_ids.iter().filter(|(_, id)| b_had.contains(id)) {
        let first = reqs
            .iter()
            .filter(|q| q.reference == *r && !q.path.ends_with("stats.json") && q.at_ms > killed_at)
            .map(|q| q.at_ms)
            .min()
            .ok_or_else(|| anyhow!("{r} not scraped after the kill"))?;
        worst = worst.max(first - killed_at);
    }
    eprintln!("takeover: b's projects scraped again at most {worst} ms after the kill (bound {bound} ms)");
    ensure!(worst <= bound, "takeover took {worst} ms, over {bound} ms");

    // b restarts under its name and gets its share back.
    let b = start(&db.url, &sim.addr, "b")?;
    wait_until("fair shares again", Duration::from_secs(40), || {
        let s = shares(&c.api)?;
        let share = alive_projects.div_ceil(3) as i64;
        Ok(s.len() == 3
            && s.values().all(|n| (n - share).abs() <= 1)
            && s.values().sum::<i64>() == alive_projects as i64)
    })?;
    std::thread::sleep(Duration::from_secs(5));
    let end = trawler_domain::now_millis();
    drop((a, b, c));

    // The whole log: no project fetched twice for one slot.
    let reqs = requests(&sim.addr, "kickstarter")?;
    let manual_ref = manual_fetch.and_then(|(id, _)| ks_ids.iter().find(|(_, i)| **i == id).map(|(r, _)| r.clone()));
    let manual_at = match (&manual_ref, manual_fetch) {
        (Some(r), Some((_, t))) => reqs
            .iter()
            .filter(|q| q.reference == *r && !q.path.ends_with("stats.json"))
            .map(|q| q.at_ms)
            .min_by_key(|at| (at - t).abs()),
        _ => None,
    };
    let pages: Vec<&Request> = reqs
        .iter()
        .filter(|r| !r.path.ends_with("stats.json"))
        .filter(|r| !(Some(&r.reference) == manual_ref.as_ref() && Some(r.at_ms) == manual_at))
        .collect();
    let polls: Vec<&Request> = reqs.iter().filter(|r| r.path.ends_with("stats.json")).collect();
    ensure!(pages.len() > 150 && polls.len() > 250, "{} pages, {} polls", pages.len(), polls.len());
    // A request is placed in a slot by when it arrived, and on a loaded
    // machine a run's request can arrive in the next slot. Two requests in
    // one slot are two scrapes only if two runs began in that slot.
    let mut conn = db.pool.get()?;
    let mut twice = Vec::new();
    for (reference, slot, arrivals) in doubles(&pages, &ks_ids, FULL_MS, FULL_SEED) {
        let id = ks_ids[&reference];
        let runs: Vec<(String, i64)> =
            trawler_store::Run::list_for_project(&mut conn, trawler_domain::ProjectId(id), 10_000)?
                .into_iter()
                .filter(|r| {
                    r.kind == trawler_domain::RunKind::Full && r.triggered_by != trawler_domain::RunTrigger::Manual
                })
                .filter(|r| (slot..slot + FULL_MS).contains(&r.started_at_ms))
                .map(|r| (r.node, r.started_at_ms))
                .collect();
        if runs.len() > 1 {
            twice.push((reference, slot, arrivals, runs));
        } else {
            eprintln!(
                "{reference}: requests at {arrivals:?} share slot {slot} but only these runs began in it: {runs:?}"
            );
        }
    }
    ensure!(twice.is_empty(), "full scrapes run twice in one slot: {twice:?}");
    let twice = doubles(&polls, &ks_ids, POLL_MS, POLL_SEED);
    ensure!(twice.is_empty(), "polls fetched twice in one slot: {twice:?}");
    let archived_ref = ks_ids.iter().find(|(_, id)| **id == on_b).map(|(r, _)| r.clone());
    if let Some(r) = archived_ref {
        let late: Vec<i64> =
            reqs.iter().filter(|q| q.reference == r && q.at_ms > archived_at + 500).map(|q| q.at_ms).collect();
        ensure!(late.is_empty(), "the archived project was fetched after its archive: {late:?}");
    }

    // http_json, saturated, never above the budget: in any window of w
    // seconds at most BUDGET * w requests plus one bucket's burst (the
    // buckets' bursts add up to one second's worth), plus 2 for the jitter
    // between a request leaving its node and reaching the simulator.
    let hot: Vec<i64> = requests(&sim.addr, "http_json")?.into_iter().map(|r| r.at_ms).filter(|t| *t <= end).collect();
    let first = *hot.first().ok_or_else(|| anyhow!("no http_json requests"))?;
    let span = (end - first) as f64 / 1000.0;
    let rate = hot.len() as f64 / span;
    eprintln!("http_json: {} requests over {span:.0} s: {rate:.2}/s against a budget of {BUDGET}/s", hot.len());
    ensure!(rate > 0.8 * BUDGET, "the platform was not saturated ({rate:.2}/s): the check would prove nothing");
    for w in [1_000i64, 2_000, 5_000, 10_000] {
        let allowed = (BUDGET * w as f64 / 1000.0 + BUDGET).floor() as usize + 2;
        let mut worst = 0;
        let mut lo = 0;
        for hi in 0..hot.len() {
            while hot[hi] - hot[lo] >= w {
                lo += 1;
            }
            worst = worst.max(hi - lo + 1);
        }
        eprintln!("http_json: at most {worst} requests in {w} ms (allowed {allowed})");
        ensure!(worst <= allowed, "{worst} requests within {w} ms: over the budget ({allowed})");
    }
    Ok(())
}
