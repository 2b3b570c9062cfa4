//! `trawler demo` as a user runs it, sped up by its flags: the simulator and
//! the server in one process, seeded projects whose numbers move; the first
//! project's campaign ends (its final scrape, then `ended`) and the second
//! one's numbers stop moving, so its stale monitor fires.

mod common;

use std::time::Duration;

use anyhow::{ensure, Result};
use common::{spawn, wait_until, Api, TOKEN};

#[test]
fn the_demo_ends_a_campaign_and_fires_a_monitor() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("trawler_demo_{}", std::process::id()));
    let data = dir.to_string_lossy().into_owned();
    let args = [
        "demo",
        "--data-dir",
        &data,
        "--bind",
        "127.0.0.1:0",
        "--projects",
        "5",
        "--full-interval",
        "1m",
        "--poll-interval",
        "1s",
        "--end-after",
        "4s",
        "--freeze-after",
        "2s",
        // The slowest simulated campaign gains a backer every 20 s.
        "--stale-after",
        "25s",
    ];
    let mut demo = spawn(&args, &[("TRAWLER_ADMIN_TOKEN", TOKEN.into())], "serving on ")?;
    demo.cleanup = Some(dir.clone());
    let api = Api { client: reqwest::blocking::Client::new(), base: demo.addr.clone() };
    let projects = api.ok("/api/v1/projects")?;
    ensure!(projects["projects"].as_array().map(Vec::len) == Some(5), "{projects}");
    wait_until("the first campaign ends", Duration::from_secs(30), || {
        Ok(api.ok("/api/v1/projects/1")?["status"] == "ended")
    })?;
    wait_until("the second project's stale alert", Duration::from_secs(60), || {
        let open = api.ok("/api/v1/projects/2/alerts")?;
        Ok(open["alerts"].as_array().is_some_and(|a| a.iter().any(|a| a["monitor"] == "stale")))
    })?;
    // The others keep moving: no stale alert there.
    for id in [3, 4, 5] {
        let open = api.ok(&format!("/api/v1/projects/{id}/alerts"))?;
        ensure!(!open["alerts"].as_array().is_some_and(|a| a.iter().any(|a| a["monitor"] == "stale")), "{id}: {open}");
    }
    Ok(())
}
