//! `trawler demo`: the whole product on one machine with no network — the
//! simulator, the server on SQLite, and about twenty seeded projects across
//! every platform, with cadences in seconds so the numbers move on screen.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use trawler_domain::{Platform, ProjectStatus};
use trawler_store::{AnyConnection, NewSource, Project};

use crate::config::Settings;
use crate::serve::{start, wait_for_signal};

/// Flags of `trawler demo`.
#[derive(Args, Clone, Debug)]
pub struct DemoArgs {
    /// Directory for the demo's SQLite database (kept between runs).
    #[arg(long, env = "TRAWLER_DATA_DIR", default_value = "trawler-demo")]
    pub data_dir: PathBuf,

    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,

    /// Address of the simulator (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sim_bind: std::net::SocketAddr,

    /// Projects to seed into an empty database.
    #[arg(long, default_value = "20")]
    pub projects: usize,

    /// Full scrape interval of the demo.
    #[arg(long, default_value = "30s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub full_interval: Duration,

    /// Fast poll interval of the demo.
    #[arg(long, default_value = "5s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub poll_interval: Duration,

    /// When the first project's Kickstarter campaign ends, after the demo
    /// starts: its final scrape runs and the project shows `ended`.
    #[arg(long, default_value = "2m", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub end_after: Duration,

    /// When the second project's numbers stop moving, after the demo
    /// starts: its stale monitor fires `--stale-after` later.
    #[arg(long, default_value = "30s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub freeze_after: Duration,

    /// How long numbers of a live campaign may stand still before the stale
    /// monitor fires (the slowest simulated campaign gains a backer every
    /// 20 s).
    #[arg(long, default_value = "45s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub stale_after: Duration,
}

/// The Kickstarter reference of the demo's first project, whose campaign
/// ends during the demo.
const ENDING: &str = "demo-studio/aurora-desk-lamp";

/// The Kickstarter reference of the demo's second project, whose numbers
/// stop moving during the demo (its stale monitor fires).
const FREEZING: &str = "demo-studio/basecamp-stove";

/// A fresh random token (from the OS), or one derived from the clock.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let ok =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).is_ok();
    if !ok {
        let seed = trawler_domain::schedule::mix64(trawler_domain::now_millis() as u64 ^ u64::from(std::process::id()));
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..].copy_from_slice(&trawler_domain::schedule::mix64(seed).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The simulator's epoch, kept in the data directory so that restarting the
/// demo continues the same campaigns instead of starting them over.
fn sim_epoch(dir: &Path) -> Result<i64> {
    let file = dir.join("sim-epoch");
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Ok(epoch) = text.trim().parse() {
            return Ok(epoch);
        }
    }
    // Campaigns that started a day ago: numbers of a realistic size.
    let epoch = trawler_domain::now_secs() - 86_400;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&file, epoch.to_string()).with_context(|| format!("writing {}", file.display()))?;
    Ok(epoch)
}

/// Demo projects: crowdfunding campaigns with and without ads, plus
/// generic JSON and HTML sources, round-robin up to `n`.
fn demo_projects(n: usize, sim: &str) -> Vec<(String, Vec<NewSource>)> {
    let names = [
        "Aurora Desk Lamp",
        "Basecamp Stove",
        "Cartographer's Deck",
        "Driftwood Speaker",
        "Ember Mug",
        "Fjord Backpack",
        "Glacier Bottle",
        "Harbor Kayak",
        "Inkwell Pen",
        "Juniper Planter",
        "Kestrel Drone",
        "Lumen Bike Light",
        "Meadow Board Game",
        "Nimbus Umbrella",
        "Orbit Watch",
        "Pinecone Tent",
        "Quartz Keyboard",
        "Riverstone Knife",
        "Sable Headphones",
        "Tundra Boots",
    ];
    let source = |platform: Platform, external_ref: String, options: serde_json::Value, secret: Option<&str>| {
        NewSource { platform, external_ref, options, secret: secret.map(str::to_owned) }
    };
    (0..n)
        .map(|i| {
            let name = names[i % names.len()];
            let slug = name.to_lowercase().replace([' ', '\''], "-");
            let ads = source(Platform::MetaAds, format!("act_{}", 1000 + i), json!({}), Some("demo-access-token"));
            let sources = match i % 5 {
                0 | 1 => vec![source(Platform::Kickstarter, format!("demo-studio/{slug}"), json!({}), None), ads],
                2 => vec![source(Platform::Indiegogo, format!("{}", 2_000_000 + i), json!({}), Some("demo-api-token")), ads],
                3 => vec![source(
                    Platform::HttpJson,
                    slug.clone(),
                    json!({"url": format!("{sim}/json/{{ref}}"), "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}, "hot": ["pledged"]}),
                    None,
                )],
                _ => vec![source(
                    Platform::Html,
                    slug.clone(),
                    json!({"url": format!("{sim}/html/{{ref}}"), "metrics": {"pledged": ".campaign .raised", "backers": "meta[property='sim:backers']@content"}}),
                    None,
                )],
            };
            (name.to_owned(), sources)
        })
        .collect()
}

fn seed(conn: &mut AnyConnection, n: usize, sim: &str) -> Result<()> {
    if !Project::list(conn, Some(ProjectStatus::Active))?.is_empty() {
        return Ok(());
    }
    for (name, sources) in demo_projects(n, sim) {
        Project::create(conn, &name, &sources)?;
    }
    println!("trawler demo: seeded {n} projects");
    Ok(())
}

/// The demo's settings: the defaults, on the simulator, with the demo's
/// data directory, cadences and credentials.
fn demo_settings(args: &DemoArgs, token: &str, password: &str, sim_url: &str) -> Result<Settings> {
    let mut s = Settings::default();
    let text = [
        ("data_dir", args.data_dir.display().to_string()),
        ("bind", args.bind.to_string()),
        ("admin_token", token.to_owned()),
        ("admin_password_hash", trawler_web::hash_password(password).map_err(anyhow::Error::msg)?),
        ("allow_private", "true".into()),
        ("full_interval", humantime::format_duration(args.full_interval).to_string()),
        ("poll_interval", humantime::format_duration(args.poll_interval).to_string()),
        ("http_timeout", "10s".into()),
        ("rate_kickstarter", "20".into()),
        ("rate_indiegogo", "20".into()),
        ("rate_meta_ads", "20".into()),
        ("rate_html", "20".into()),
        ("kickstarter_url", format!("{sim_url}/kickstarter")),
        ("indiegogo_url", format!("{sim_url}/indiegogo")),
        ("meta_url", format!("{sim_url}/meta")),
        ("ecb_url", format!("{sim_url}/ecb")),
        ("http_workers", "2".into()),
        ("shutdown_timeout", "10s".into()),
        ("monitor_stale_after", humantime::format_duration(args.stale_after).to_string()),
    ];
    for (key, value) in text {
        match s.set_text(key, &value) {
            Some(Ok(())) => {}
            Some(Err(e)) => anyhow::bail!("demo setting {key}: {e}"),
            None => anyhow::bail!("demo setting {key}: no such setting"),
        }
    }
    Ok(s)
}

/// `trawler demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    let token = std::env::var("TRAWLER_ADMIN_TOKEN").ok().filter(|t| t.len() >= 16).unwrap_or_else(random_token);
    let password = std::env::var("TRAWLER_DEMO_PASSWORD").ok().filter(|p| p.len() >= 12).unwrap_or_else(random_token);
    actix_web::rt::System::new().block_on(async move {
        let epoch = sim_epoch(&args.data_dir)?;
        let sim = trawler_sim::SimServer::start(&args.sim_bind.to_string(), epoch, 1)
            .with_context(|| format!("binding the simulator to {}", args.sim_bind))?;
        let sim_url = format!("http://{}", sim.addr);
        let ends_at = trawler_domain::now_secs().saturating_add(args.end_after.as_secs().min(365 * 86_400) as i64);
        sim.state.end_campaign("kickstarter", ENDING, ends_at);
        let freezes_at =
            trawler_domain::now_secs().saturating_add(args.freeze_after.as_secs().min(365 * 86_400) as i64);
        sim.state.set_anomaly(
            "kickstarter",
            FREEZING,
            Some(trawler_sim::anomaly::Anomaly::Freeze { since: freezes_at }),
        );
        let settings = demo_settings(&args, &token, &password, &sim_url)?;
        let n = args.projects;
        let sim_for_seed = sim_url.clone();
        let running = start(settings, None, move |conn| seed(conn, n, &sim_for_seed)).await?;
        let api = format!("http://{}", running.addr);
        println!("trawler demo: serving on {api}");
        println!();
        println!("trawler demo is running (Ctrl-C stops it)");
        println!("  admin UI     {api}/ui/   (password {password})");
        println!("  simulator    {sim_url}/");
        println!("  API          {api}/api/v1/projects");
        println!("  actors       {api}/api/v1/admin/actors");
        println!("  health       {api}/readyz");
        println!("  admin token  {token}");
        println!("  data         {}", args.data_dir.display());
        let ends = trawler_domain::time::display_ms(ends_at.saturating_mul(1000));
        println!(
            "  watch        Aurora Desk Lamp's campaign ends at {ends} UTC: one final scrape, then it shows `ended`"
        );
        let freezes = trawler_domain::time::display_ms(freezes_at.saturating_mul(1000));
        println!(
            "  watch        Basecamp Stove's numbers stop moving at {freezes} UTC: {} later its stale monitor fires \
             (an alert on its page, a `project.data_stale` webhook)",
            humantime::format_duration(args.stale_after)
        );
        println!();
        println!("  try: curl -H 'Authorization: Bearer {token}' {api}/api/v1/projects/1/summary");
        println!();
        wait_for_signal().await;
        running.stop().await?;
        sim.handle.stop(true).await;
        Ok(())
    })
}
