//! Polls that follow the action under a saturated budget, on the real
//! binary against the simulator: more projects than the platform's rate
//! can poll at the default cadence; the campaigns in their last 48 hours
//! get more polls than those in their middle days, and the platform's
//! request log never exceeds its rate — on one node, and on three sharing
//! one PostgreSQL database (each at its share of the rate).

mod common;

use std::time::Duration;

use anyhow::{ensure, Result};
use common::{server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

/// Kickstarter requests the simulator saw: (ms, reference, a poll).
fn requests(sim: &str) -> Result<Vec<(i64, String, bool)>> {
    let log: Value = reqwest::blocking::get(format!("{sim}/_sim/requests?platform=kickstarter"))?.json()?;
    Ok(log
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let path = r["path"].as_str()?;
            Some((r["at_ms"].as_i64()?, r["reference"].as_str()?.to_owned(), path.contains("stats.json")))
        })
        .collect())
}

/// The most requests in any `window_ms` among `times` (sorted).
fn busiest(times: &[i64], window_ms: i64) -> usize {
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= window_ms {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

/// Creates `hot` campaigns ending tomorrow and `quiet` ones in their middle
/// days (the simulator's campaigns launched ten days ago, ending in twenty).
fn seed(api: &Api, sim: &str, hot: usize, quiet: usize) -> Result<(Vec<String>, Vec<String>)> {
    let mut made = (Vec::new(), Vec::new());
    let all = hot + quiet;
    for i in 0..all {
        // Spread out, so that every node gets some of each.
        let is_hot = i * hot / all != (i + 1) * hot / all;
        let reference = if is_hot { format!("busy/ending-{i}") } else { format!("busy/middle-{i}") };
        if is_hot {
            let body = json!({"platform": "kickstarter", "reference": reference, "ends_in_secs": 86_400});
            let status = reqwest::blocking::Client::new().post(format!("{sim}/_sim/campaigns")).json(&body).send()?;
            ensure!(status.status().is_success());
        }
        let body = json!({"name": reference, "sources": [{"platform": "kickstarter", "external_ref": reference}]});
        let (status, p) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {p}");
        if is_hot {
            made.0.push(reference);
        } else {
            made.1.push(reference);
        }
    }
    Ok(made)
}

/// Waits until every project's campaign dates are known on `api`'s node.
fn dates_known(api: &Api, n: usize) -> Result<()> {
    wait_until("every campaign's launch and deadline known", Duration::from_secs(30), || {
        let list = api.ok("/api/v1/projects")?;
        let known = list["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["sources"][0]["campaign"]["started_ms"].is_i64())
            .count();
        Ok(known == n)
    })
}

/// What `secs` of requests after now showed.
struct Measured {
    log: Vec<(i64, String, bool)>,
    /// The busiest second and the busiest ten seconds, in requests.
    second: usize,
    ten: usize,
}

impl Measured {
    /// Polls per campaign among `refs`.
    fn polls(&self, refs: &[&String]) -> f64 {
        let n = self.log.iter().filter(|(_, r, poll)| *poll && refs.contains(&r)).count();
        n as f64 / refs.len().max(1) as f64
    }
}

/// Measures `secs` of requests after now.
fn measure(sim: &str, secs: u64) -> Result<Measured> {
    let from = trawler_domain::now_millis();
    std::thread::sleep(Duration::from_secs(secs));
    let to = trawler_domain::now_millis();
    let log: Vec<(i64, String, bool)> = requests(sim)?.into_iter().filter(|r| r.0 >= from && r.0 < to).collect();
    let mut times: Vec<i64> = log.iter().map(|r| r.0).collect();
    times.sort_unstable();
    let (second, ten) = (busiest(&times, 1_000), busiest(&times, 10_000));
    Ok(Measured { log, second, ten })
}

const CADENCE: [(&str, &str); 3] =
    [("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "2s"), ("TRAWLER_WEIGHTED_POLLS", "true")];

#[test]
fn a_saturated_budget_goes_to_the_busy_campaigns_and_is_never_exceeded() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 10 * 86_400, &[])?;
    // Twelve campaigns at a poll every 2 s would need 6 requests a second;
    // the platform takes 3.
    let mut env = server_env(&db.url, &sim.addr, &CADENCE);
    env.push(("TRAWLER_RATE_KICKSTARTER", "3".into()));
    let (_server, api) = start_server(&env)?;
    let (hot, quiet) = seed(&api, &sim.addr, 2, 10)?;
    dates_known(&api, 12)?;
    // Two windows, so the division has seen every campaign's dates.
    std::thread::sleep(Duration::from_secs(5));
    let m = measure(&sim.addr, 24)?;
    let (per_hot, per_quiet) = (m.polls(&hot.iter().collect::<Vec<_>>()), m.polls(&quiet.iter().collect::<Vec<_>>()));
    let (second, ten) = (m.second, m.ten);
    eprintln!("one node: busy {per_hot} polls each, quiet {per_quiet}; busiest 1 s {second}, 10 s {ten}");
    // Budget 2.7/s: weights 4 and 1 give the busy ones every 2 s (the
    // fastest) and the others every 8 s.
    ensure!(per_hot >= 2.5 * per_quiet.max(1.0), "busy {per_hot} polls each, quiet {per_quiet}");
    ensure!(per_hot >= 8.0, "busy campaigns polled {per_hot} times in 24 s");
    // The gate's rate, with at most a second's burst.
    ensure!(second <= 3 + 3 && ten <= 30 + 3, "busiest second {second}, busiest 10 s {ten}");
    let platforms = api.ok("/api/v1/admin/platforms")?;
    let ks = platforms["capacity"].as_array().into_iter().flatten().find(|c| c["platform"] == "kickstarter").cloned();
    let division = ks.as_ref().and_then(|c| c["poll_division"].as_array().cloned()).unwrap_or_default();
    ensure!(division.len() == 2, "{platforms}");
    Ok(())
}

#[test]
fn three_nodes_divide_their_shares_by_activity_and_keep_to_the_budget() -> Result<()> {
    let Some(db) = trawler_store::testing::TestDb::postgres() else {
        eprintln!("three-node division test skipped: {} is not set", trawler_store::testing::PG_ENV);
        return Ok(());
    };
    let db = db?;
    let sim = start_sim(trawler_domain::now_secs() - 10 * 86_400, &[])?;
    let node = |name: &'static str| {
        let mut env = server_env(&db.url, &sim.addr, &CADENCE);
        env.push(("TRAWLER_RATE_KICKSTARTER", "6".into()));
        env.push(("TRAWLER_NODE_NAME", name.into()));
        start_server(&env)
    };
    let (_a, a) = node("a")?;
    let (hot, quiet) = seed(&a, &sim.addr, 6, 24)?;
    // Their first full scrapes (on a) read every campaign's dates.
    dates_known(&a, 30)?;
    let (_b, b) = node("b")?;
    let (_c, c) = node("c")?;
    wait_until("three nodes share the projects", Duration::from_secs(40), || {
        let cluster = c.ok("/api/v1/admin/cluster")?;
        let leases: Vec<i64> = cluster["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["alive"] == true)
            .filter_map(|n| n["leases"].as_i64())
            .collect();
        Ok(leases.len() == 3 && leases.iter().all(|l| (9..=11).contains(l)) && leases.iter().sum::<i64>() == 30)
    })?;
    std::thread::sleep(Duration::from_secs(6));
    let m = measure(&sim.addr, 24)?;
    // Each node divides its own share: on each, its busy campaigns get more
    // polls than its quiet ones.
    let names: std::collections::HashMap<i64, String> = a.ok("/api/v1/projects")?["projects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_i64()?, p["name"].as_str()?.to_owned())))
        .collect();
    let mut compared = 0;
    for (name, api) in [("a", &a), ("b", &b), ("c", &c)] {
        let held: Vec<&String> = api.ok("/api/v1/admin/actors")?["actors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["kind"] == "scraper")
            .filter_map(|x| names.get(&x["project_id"].as_i64()?))
            .collect();
        let busy: Vec<&String> = held.iter().copied().filter(|r| hot.contains(r)).collect();
        let still: Vec<&String> = held.iter().copied().filter(|r| quiet.contains(r)).collect();
        let (per_hot, per_quiet) = (m.polls(&busy), m.polls(&still));
        eprintln!("node {name}: {} busy at {per_hot} polls each, {} quiet at {per_quiet}", busy.len(), still.len());
        if !busy.is_empty() && !still.is_empty() {
            ensure!(per_hot >= 2.0 * per_quiet.max(1.0), "node {name}: busy {per_hot} polls each, quiet {per_quiet}");
            // Its share (2/s, 1.8 planned) goes to its own ten projects:
            // the busy ones every 3 s (a node dividing its share among
            // every node's projects would poll them every 9 s).
            ensure!(per_hot >= 6.0, "node {name}: busy campaigns polled {per_hot} times in 24 s");
            compared += 1;
        }
    }
    ensure!(compared >= 2, "fewer than two nodes hold both kinds");
    let (second, ten) = (m.second, m.ten);
    eprintln!("three nodes: busiest 1 s {second}, 10 s {ten}");
    // The cluster's rate is 6/s; each node bursts at most a second of its
    // share (2 each).
    ensure!(second <= 6 + 6 && ten <= 60 + 6, "busiest second {second}, busiest 10 s {ten}");
    Ok(())
}
