//! `trawler bench actors`: memory and start-up time of many idle scrapers.

use anyhow::Result;
use clap::Args;
use std::time::{Duration, Instant};
use trawler_domain::Platform;

use super::*;

/// Flags of `trawler bench actors`.
#[derive(Args, Clone, Debug)]
pub struct ActorsArgs {
    /// Projects (one ScraperActor each).
    #[arg(long, default_value = "100000")]
    pub projects: usize,
}

/// Creates N projects on SQLite, then times how long the supervisor takes to
/// start a scraper for each, and measures the memory they hold when idle.
pub(super) fn actors(args: ActorsArgs) -> Result<()> {
    use trawler_actors::{ActorsConfig, Tree};
    let db = fresh_db(&None)?;
    eprintln!("bench actors: creating {} projects", args.projects);
    {
        let mut conn = db.pool.get()?;
        let source = trawler_store::NewSource {
            platform: Platform::HttpJson,
            external_ref: "x".into(),
            options: serde_json::json!({"url": "http://127.0.0.1:9/{ref}", "metrics": {"pledged": "/p"}}),
            secret: None,
        };
        for i in 0..args.projects {
            trawler_store::Project::create(&mut conn, &format!("p{i}"), std::slice::from_ref(&source))?;
            if i % 10_000 == 0 {
                eprint!("\r  {i}/{}", args.projects);
            }
        }
        eprintln!("\r  {}/{} projects", args.projects, args.projects);
    }
    let pool = db.pool.clone();
    let n = args.projects;
    let (elapsed, before, after) = actix::System::new().block_on(async move {
        // Long cadences: every scraper stays idle once started.
        let config = ActorsConfig {
            full_interval: Duration::from_secs(30 * 86_400),
            poll_interval: Duration::from_secs(30 * 86_400),
            // What is measured is the scrapers: no exchange rates.
            exchange_rates: None,
            ..ActorsConfig::default()
        };
        let adapters = trawler_sources::Adapters::new(&trawler_sources::SourcesConfig::default())?;
        let before = rss_kib();
        let started = Instant::now();
        let tree = Tree::start(config, pool, adapters)?;
        while !tree.is_started().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Ready: every scraper has loaded its sources and armed its timer.
        while tree.scrapers_starting().await? > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed();
        let live = tree.scrapers_live().await?;
        if live != n {
            anyhow::bail!("{live} scrapers live, expected {n}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = rss_kib();
        Ok::<_, anyhow::Error>((elapsed, before, after))
    })?;
    let per_actor = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!("started      : {n} scraper actors in {:.2} s", elapsed.as_secs_f64());
    println!(
        "memory       : {before} KiB -> {after} KiB, {per_actor:.0} bytes per idle scraper (registry entry included)"
    );
    println!(
        "bench actors projects={n} startup_s={:.2} rss_before_kib={before} rss_after_kib={after} bytes_per_actor={per_actor:.0}",
        elapsed.as_secs_f64()
    );
    Ok(())
}
