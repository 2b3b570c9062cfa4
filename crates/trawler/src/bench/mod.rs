//! `trawler bench ingest`: rows/s through the product's ingestion path (scrapers'
//! messages → IngestActor → DbExecutor → COPY or multi-row INSERT) next to the
//! raw baseline on the same machine, in the same run, with the same rows:
//! PostgreSQL `\copy` from psql, SQLite `executemany` in one transaction
//! (Python's sqlite3). Prints one machine-readable line at the end.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use actix::{Actor, SyncArbiter};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use futures_util::future::join_all;
use trawler_actors::{DbExecutor, IngestActor, IngestConfig, IngestPoints, Mailbox};
use trawler_domain::{Metric, Platform, Point, ProjectId};
use trawler_store::testing::TestDb;
use trawler_store::{Backend, DbUrl};

/// `trawler bench …`
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// The benchmarks.
#[derive(Subcommand, Clone, Debug)]
pub enum BenchWhat {
    /// Ingestion rows/s against the raw baseline.
    Ingest(IngestArgs),
    /// Downsampled series queries over tens of millions of points.
    Series(SeriesArgs),
    /// Start-up time and memory of many idle scraper actors.
    Actors(ActorsArgs),
    /// Sustained scrapes/s of N projects against the simulator.
    Scrape(ScrapeArgs),
    /// Time for an event to reach N subscribers of a project's stream.
    Sse(crate::bench_sse::SseArgs),
    /// N projects on a compressed schedule: the share of full-scrape and
    /// poll slots started within 1% of the interval.
    Schedule(ScheduleArgs),
}

/// Flags of `trawler bench schedule`.
#[derive(Args, Clone, Debug)]
pub struct ScheduleArgs {
    /// Projects (one http_json source each).
    #[arg(long, default_value = "100000")]
    pub projects: usize,
    /// Full-scrape interval (4 h in production; compressed here).
    #[arg(long, default_value = "5m", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub full_interval: Duration,
    /// Poll interval (5 min in production).
    #[arg(long, default_value = "1m", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub poll_interval: Duration,
    /// Warm-up before measuring (the start-up catch-up runs).
    #[arg(long, default_value = "90s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub warmup: Duration,
    /// How long to measure.
    #[arg(long, default_value = "5m", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub measure: Duration,
}

/// Flags of `trawler bench scrape`.
#[derive(Args, Clone, Debug)]
pub struct ScrapeArgs {
    /// Projects (one http_json source each).
    #[arg(long, default_value = "10000")]
    pub projects: usize,
    /// The poll window: every project is polled once per window.
    #[arg(long, default_value = "2s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub window: Duration,
    /// How long to measure after a warm-up window.
    #[arg(long, default_value = "10s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub seconds: Duration,
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Polls N projects every `window` against an in-process simulator and
/// reports the sustained rate of stored scrapes.
fn scrape(args: ScrapeArgs) -> Result<()> {
    use trawler_actors::{ActorsConfig, IngestConfig, Tree};
    let db = fresh_db(&None)?;
    let pool = db.pool.clone();
    let n = args.projects;
    let (pages_per_s, cpu_per_1000, rss, errors) = actix::System::new().block_on(async move {
        let sim = trawler_sim::SimServer::start("127.0.0.1:0", trawler_domain::now_secs() - 3600, 1)?;
        let url = format!("http://{}/json/{{ref}}", sim.addr);
        {
            let mut conn = pool.get()?;
            for i in 0..n {
                let source = trawler_store::NewSource {
                    platform: Platform::HttpJson,
                    external_ref: format!("p{i}"),
                    options: serde_json::json!({"url": url, "metrics": {"pledged": "/campaign/raised", "backers": "/campaign/supporters"}}),
                    secret: None,
                };
                trawler_store::Project::create(&mut conn, &format!("p{i}"), &[source])?;
            }
        }
        let mut sources = trawler_sources::SourcesConfig::default();
        sources.http.allow_private = true;
        sources.rates.insert(Platform::HttpJson, 1_000_000.0);
        sources.max_in_flight_per_platform = 256;
        let config = ActorsConfig {
            full_interval: Duration::from_secs(30 * 86_400),
            poll_interval: args.window,
            retention: None,
            ingest: IngestConfig::default(),
            ..ActorsConfig::default()
        };
        let tree = Tree::start(config, pool, trawler_sources::Adapters::new(&sources)?)?;
        let count = |text: &str, outcome_ok: bool| -> f64 {
            text.lines()
                .filter(|l| l.starts_with("trawler_fetches_total{") && (l.contains("outcome=\"ok\"") == outcome_ok))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        // Warm up for a window plus the first catch-up burst, then measure.
        tokio::time::sleep(args.window * 2).await;
        let m0 = tree.render_metrics().await?;
        let (ok0, cpu0, t0) = (count(&m0, true), cpu_seconds(), Instant::now());
        let mut peak_rss = rss_kib();
        while t0.elapsed() < args.seconds {
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak_rss = peak_rss.max(rss_kib());
            eprint!("\r  measuring… {:.0} s", t0.elapsed().as_secs_f64());
        }
        let m1 = tree.render_metrics().await?;
        let (ok1, cpu1, secs) = (count(&m1, true), cpu_seconds(), t0.elapsed().as_secs_f64());
        eprintln!();
        let pages = ok1 - ok0;
        tree.shutdown(Duration::from_secs(5)).await?;
        sim.handle.stop(true).await;
        Ok::<_, anyhow::Error>((pages / secs, (cpu1 - cpu0) / pages.max(1.0) * 1000.0, peak_rss, count(&m1, false)))
    })?;
    let demand = n as f64 / args.window.as_secs_f64();
    println!("projects     : {n}, each polled every {:?} (demand {demand:.0} pages/s)", args.window);
    println!("sustained    : {pages_per_s:.0} pages/s stored ({} failed fetches)", errors as u64);
    println!("cpu          : {cpu_per_1000:.3} CPU-seconds per 1,000 scrapes (trawler and the in-process simulator)");
    println!(
        "bench scrape projects={n} window_s={} demand_pages_per_s={demand:.0} pages_per_s={pages_per_s:.0} cpu_s_per_1000={cpu_per_1000:.3} peak_rss_kib={rss} failed={}",
        args.window.as_secs_f64(),
        errors as u64
    );
    Ok(())
}

/// Keeps N projects on schedule against an in-process simulator and counts
/// the slots that started on time, from the runs (full scrapes) and the poll
/// ledger: the same figures `/admin/freshness` reports.
fn schedule(args: ScheduleArgs) -> Result<()> {
    use trawler_actors::{ActorsConfig, IngestConfig, Tree};
    let db = fresh_db(&None)?;
    let pool = db.pool.clone();
    let n = args.projects;
    let started = Instant::now();
    let result = actix::System::new().block_on(async move {
        let sim = trawler_sim::SimServer::start("127.0.0.1:0", trawler_domain::now_secs() - 3600, 1)?;
        let url = format!("http://{}/json/{{ref}}", sim.addr);
        {
            let mut conn = pool.get()?;
            let bar = indicatif::ProgressBar::new(n as u64).with_message("creating projects");
            for i in 0..n {
                let source = trawler_store::NewSource {
                    platform: Platform::HttpJson,
                    external_ref: format!("p{i}"),
                    options: serde_json::json!({"url": url, "metrics": {"pledged": "/campaign/raised"}}),
                    secret: None,
                };
                trawler_store::Project::create(&mut conn, &format!("p{i}"), &[source])?;
                bar.inc(1);
            }
            bar.finish_and_clear();
        }
        eprintln!("  {n} projects created in {:.0} s", started.elapsed().as_secs_f64());
        let mut sources = trawler_sources::SourcesConfig::default();
        sources.http.allow_private = true;
        sources.rates.insert(Platform::HttpJson, 1_000_000.0);
        sources.max_in_flight_per_platform = 256;
        let config = ActorsConfig {
            full_interval: args.full_interval,
            poll_interval: args.poll_interval,
            retention: None,
            ingest: IngestConfig::default(),
            ..ActorsConfig::default()
        };
        let t0 = Instant::now();
        let tree = Tree::start(config.clone(), pool.clone(), trawler_sources::Adapters::new(&sources)?)?;
        let mut peak_rss = rss_kib();
        let until = args.warmup + args.measure;
        let from_ms = trawler_domain::now_millis() + args.warmup.as_millis() as i64;
        while t0.elapsed() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak_rss = peak_rss.max(rss_kib());
            let phase = if t0.elapsed() < args.warmup { "warming up" } else { "measuring" };
            eprint!("\r  {phase}… {:.0} / {:.0} s", t0.elapsed().as_secs_f64(), until.as_secs_f64());
        }
        eprintln!();
        let to_ms = trawler_domain::now_millis();
        let polls = tree.poll_freshness(None, from_ms, to_ms).await?;
        // Let the runs that started before `to` finish and record their start.
        tree.shutdown(Duration::from_secs(20)).await?;
        let full = {
            let mut conn = pool.get()?;
            let projects = trawler_store::Project::list(&mut conn, None)?;
            trawler_store::Run::freshness(&mut conn, config.full_interval, &projects, from_ms, to_ms)?
        };
        // How late the full scrapes started: run starts against their slots.
        let mut late_ms: Vec<i64> = Vec::new();
        {
            let mut conn = pool.get()?;
            let interval = config.full_interval;
            for (p, t, _) in trawler_store::Run::full_starts_between(&mut conn, None, from_ms, to_ms)? {
                let offset =
                    trawler_domain::schedule::offset_ms(p.0 as u64, trawler_domain::schedule::FULL_SEED, interval);
                let slot = trawler_domain::schedule::current_slot_ms(t, interval, offset);
                late_ms.push(t - slot);
            }
        }
        late_ms.sort_unstable();
        sim.handle.stop(true).await;
        let sum = |it: &mut dyn Iterator<Item = trawler_domain::slo::Freshness>| {
            it.fold((0u64, 0u64), |(s, m), f| (s + f.slots, m + f.met))
        };
        Ok::<_, anyhow::Error>((sum(&mut full.into_iter()), sum(&mut polls.into_values()), late_ms, peak_rss))
    })?;
    let ((full_slots, full_met), (poll_slots, poll_met), late, peak_rss) = result;
    let share = |met: u64, slots: u64| if slots == 0 { 0.0 } else { met as f64 / slots as f64 * 100.0 };
    let pct =
        |q: f64| late.get(((late.len() as f64 * q) as usize).min(late.len().saturating_sub(1))).copied().unwrap_or(0);
    let tol = |d: Duration| d.as_secs_f64() * 10.0;
    println!(
        "full scrapes : {full_slots} slots, {:.3}% started within {:.0} ms and succeeded; start lateness p50 {} ms, p99 {} ms, p99.9 {} ms",
        share(full_met, full_slots),
        tol(args.full_interval),
        pct(0.5),
        pct(0.99),
        pct(0.999)
    );
    println!(
        "polls        : {poll_slots} slots, {:.3}% started within {:.0} ms and succeeded",
        share(poll_met, poll_slots),
        tol(args.poll_interval)
    );
    println!("memory       : peak RSS {:.0} MiB (trawler and the in-process simulator)", peak_rss as f64 / 1024.0);
    println!(
        "bench schedule projects={n} full_interval_s={} poll_interval_s={} full_slots={full_slots} full_on_time_pct={:.3} full_late_p99_ms={} poll_slots={poll_slots} poll_on_time_pct={:.3} peak_rss_kib={peak_rss}",
        args.full_interval.as_secs_f64(),
        args.poll_interval.as_secs_f64(),
        share(full_met, full_slots),
        pct(0.99),
        share(poll_met, poll_slots),
    );
    Ok(())
}

/// Flags of `trawler bench actors`.
#[derive(Args, Clone, Debug)]
pub struct ActorsArgs {
    /// Projects (one ScraperActor each).
    #[arg(long, default_value = "100000")]
    pub projects: usize,
}

/// Resident memory of this process, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Creates N projects on SQLite, then times how long the supervisor takes to
/// start a scraper for each, and measures the memory they hold when idle.
fn actors(args: ActorsArgs) -> Result<()> {
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

/// Flags of `trawler bench series`.
#[derive(Args, Clone, Debug)]
pub struct SeriesArgs {
    /// Projects (each with two metrics every 5 minutes).
    #[arg(long, default_value = "1000")]
    pub projects: i64,
    /// Days of points per project.
    #[arg(long, default_value = "30")]
    pub days: i64,
    /// Series queries to time.
    #[arg(long, default_value = "200")]
    pub queries: usize,
    /// A PostgreSQL server, or omit for SQLite in a temporary file.
    #[arg(long, env = "TRAWLER_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Then query the same series through the HTTP API of a node (a child
    /// process) under load from wrk, for this long.
    #[arg(long, value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub http: Option<Duration>,
    /// wrk's open connections.
    #[arg(long, default_value = "8")]
    pub connections: u32,
    /// Hold the load near this many requests/s (each connection pauses
    /// between requests) instead of as many as the node can answer.
    #[arg(long)]
    pub rate: Option<u32>,
}

/// Parses wrk's `--latency` report: (p50 ms, p99 ms, requests/s, non-2xx).
fn parse_wrk(report: &str) -> Result<(f64, f64, f64, u64)> {
    let ms = |v: &str| -> Option<f64> {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let line = |prefix: &str| {
        report.lines().map(str::trim).find(|l| l.starts_with(prefix)).map(|l| l[prefix.len()..].trim().to_owned())
    };
    let p50 = line("50%").and_then(|v| ms(&v)).context("no p50 in wrk's report")?;
    let p99 = line("99%").and_then(|v| ms(&v)).context("no p99 in wrk's report")?;
    let rate: f64 = line("Requests/sec:").and_then(|v| v.parse().ok()).context("no rate in wrk's report")?;
    let non_2xx = line("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((p50, p99, rate, non_2xx))
}

/// Serves the bench's database from a child `trawler serve` and loads it
/// with wrk; returns wrk's figures.
fn series_over_http(
    db_url: &str,
    projects: i64,
    query: &str,
    seconds: Duration,
    connections: u32,
    think_ms: Option<u64>,
) -> Result<(f64, f64, f64, u64)> {
    use std::io::BufRead;
    const TOKEN: &str = "bench-series-admin-token-0123456789";
    let dir = std::env::temp_dir().join(format!("trawler_bench_http_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .env("DATABASE_URL", db_url)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .env("TRAWLER_BIND", "127.0.0.1:0")
        .env("TRAWLER_DATA_DIR", &dir)
        .env("TRAWLER_RETENTION", "off")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting the node")?;
    let result = (|| {
        let stdout = child.stdout.take().context("no stdout")?;
        let base = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split("serving on ").nth(1).and_then(|r| r.split_whitespace().next()).map(str::to_owned))
            .context("the node did not start")?;
        let client = reqwest::blocking::Client::new();
        for _ in 0..300 {
            if client.get(format!("{base}/readyz")).send().is_ok_and(|r| r.status().is_success()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let script = dir.join("series.lua");
        // wrk's delay() pauses a connection before its next request: a
        // paced load, with latencies measured without the pause.
        let pace = think_ms.map_or(String::new(), |ms| format!("delay = function()\n  return {ms}\nend\n"));
        std::fs::write(
            &script,
            format!(
                "math.randomseed(42)\nrequest = function()\n  local p = math.random(1, {projects})\n  return wrk.format(\"GET\", \"/api/v1/projects/\" .. p .. \"/series?{query}\", {{[\"Authorization\"] = \"Bearer {TOKEN}\"}})\nend\n{pace}"
            ),
        )?;
        eprintln!("  wrk: {connections} connections for {seconds:?} against {base}");
        let out = Command::new("wrk")
            .args([
                &format!("-t{}", connections.clamp(1, 2)),
                &format!("-c{connections}"),
                &format!("-d{}s", seconds.as_secs().max(1)),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(&base)
            .output()
            .context("running wrk (Debian's package `wrk`)")?;
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!("wrk failed: {report}{}", String::from_utf8_lossy(&out.stderr));
        }
        parse_wrk(&report).with_context(|| format!("reading wrk's report:\n{report}"))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The direct query under the same load as the HTTP run: `connections`
/// threads, each on its own connection, each pausing `think_ms` before its
/// next query as wrk's connections do, for `seconds`. Returns (p50 ms,
/// p99 ms, queries/s), each query timed from its start to its result.
fn direct_under_load(
    db_url: &str,
    projects: i64,
    query: &trawler_store::SeriesQuery,
    seconds: Duration,
    connections: u32,
    think_ms: Option<u64>,
) -> Result<(f64, f64, f64)> {
    let url = DbUrl::parse(db_url)?;
    let started = Instant::now();
    let deadline = started + seconds;
    let threads: Vec<_> = (0..connections)
        .map(|t| {
            let (url, query) = (url.clone(), query.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let mut conn = url.connect().context("connecting")?;
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(t);
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    if let Some(ms) = think_ms {
                        std::thread::sleep(Duration::from_millis(ms));
                    }
                    seed = trawler_domain::schedule::mix64(seed);
                    let q = trawler_store::SeriesQuery {
                        project: ProjectId(1 + (seed % projects as u64) as i64),
                        ..query.clone()
                    };
                    let at = Instant::now();
                    trawler_store::Point::series(&mut conn, &q)?;
                    times.push(at.elapsed());
                }
                Ok(times)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().map_err(|_| anyhow::anyhow!("a query thread panicked"))??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if all.is_empty() {
        bail!("no query finished");
    }
    all.sort();
    let pct = |p: usize| all[(all.len() * p / 100).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Ok((pct(50), pct(99), all.len() as f64 / elapsed))
}

/// Loads `projects × days` of 5-minute points, then times series queries of
/// one project's whole range downsampled to 500 buckets.
fn series(args: SeriesArgs) -> Result<()> {
    use trawler_domain::Agg;
    use trawler_store::SeriesQuery;
    if args.projects <= 0 || args.days <= 0 || args.queries == 0 || args.connections == 0 {
        bail!("--projects, --days, --queries and --connections must be positive");
    }
    let ticks = args.days * 86_400 / 300;
    let total = args.projects * 2 * ticks;
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    eprintln!(
        "bench series: loading {total} points ({} projects x 2 metrics x {ticks} ticks) into {backend}",
        args.projects
    );
    let db = fresh_db(&args.database_url)?;
    let start_ts = 1_780_000_000i64;
    let loading = Instant::now();
    let mut conn = db.pool.get()?;
    // Project rows (ids 1..=N in a fresh database), for the HTTP API.
    for p in 1..=args.projects {
        let (made, _) = trawler_store::Project::create(&mut conn, &format!("bench {p}"), &[])?;
        if made.id != ProjectId(p) {
            bail!("the fresh database gave project id {} for project {p}", made.id);
        }
    }
    let mut loaded = 0i64;
    let mut batch = Vec::with_capacity(50_000);
    // In time order, as scrapers write them: each tick, every project's
    // points. Where the table is not clustered by its key (PostgreSQL's
    // heap), one series is then spread over the whole table, as in a real
    // database.
    for t in 0..ticks {
        for project in 1..=args.projects {
            for (m, metric) in [Metric::PLEDGED, Metric::BACKERS].into_iter().enumerate() {
                batch.push(Point {
                    project_id: ProjectId(project),
                    platform: Platform::Kickstarter,
                    metric: Metric::known(metric),
                    ts: start_ts + t * 300,
                    value: (t * (m as i64 + 1) + project) as f64,
                });
                if batch.len() == 50_000 {
                    loaded += trawler_store::Point::insert_batch(&mut conn, &batch)? as i64;
                    batch.clear();
                    eprint!("\r  loaded {loaded}/{total}");
                }
            }
        }
    }
    loaded += trawler_store::Point::insert_batch(&mut conn, &batch)? as i64;
    eprintln!("\r  loaded {loaded}/{total} in {:.1} s", loading.elapsed().as_secs_f64());
    drop(conn);
    db.settle().context("vacuuming and analysing the loaded points")?;
    let mut conn = db.pool.get()?;
    let range = ticks * 300;
    // One project's whole range at 500 buckets: the query every part times.
    let series_of = |project: i64| SeriesQuery {
        project: ProjectId(project),
        metric: Metric::known(Metric::PLEDGED),
        platform: None,
        from: start_ts,
        to: start_ts + range,
        step: Some((range / 500).max(1)),
        agg: Agg::Avg,
    };
    // One query per project first, untimed, as a node serving dashboards
    // has its pages in memory (the HTTP run below warms up the same way
    // in its first second).
    for project in 1..=args.projects {
        trawler_store::Point::series(&mut conn, &series_of(project))?;
    }
    let mut latencies = Vec::with_capacity(args.queries);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..args.queries {
        seed = trawler_domain::schedule::mix64(seed);
        let query = series_of(1 + (seed % args.projects as u64) as i64);
        let started = Instant::now();
        let result = trawler_store::Point::series(&mut conn, &query)?;
        latencies.push(started.elapsed());
        let points = result.series.first().map_or(0, |s| s.points.len());
        if !(490..=501).contains(&points) {
            bail!("a query returned {points} buckets, expected about 500");
        }
    }
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!("loaded       : {total} points");
    println!("query        : one project's {} days of one metric ({ticks} points) -> 500 buckets, avg", args.days);
    println!("latency      : p50 {:.2} ms, p99 {:.2} ms over {} queries", pct(50), pct(99), args.queries);
    println!(
        "bench series backend={backend} points={total} points_per_query={ticks} buckets=500 queries={} p50_ms={:.2} p99_ms={:.2}",
        args.queries,
        pct(50),
        pct(99)
    );
    if let Some(seconds) = args.http {
        drop(conn);
        let query =
            format!("metric=pledged&from={start_ts}&to={}&step={}&agg=avg", start_ts + range, (range / 500).max(1));
        // Paced: each connection waits so that all of them together send
        // about `rate` requests/s, counting the query's own time.
        let think_ms = args.rate.map(|r| {
            let per_connection = f64::from(args.connections) * 1000.0 / f64::from(r.max(1));
            (per_connection - pct(50)).max(0.0).round() as u64
        });
        let one = series_of(1);
        eprintln!("  direct: {} threads for {seconds:?}, paced like wrk", args.connections);
        let (load_p50, load_p99, load_rate) =
            direct_under_load(&db.url, args.projects, &one, seconds, args.connections, think_ms)?;
        println!(
            "direct, load : p50 {load_p50:.2} ms, p99 {load_p99:.2} ms at {load_rate:.0} queries/s ({} threads)",
            args.connections
        );
        let (p50, p99, rate, non_2xx) =
            series_over_http(&db.url, args.projects, &query, seconds, args.connections, think_ms)?;
        if non_2xx > 0 {
            bail!("{non_2xx} HTTP answers were not 2xx");
        }
        println!(
            "http (wrk)   : p50 {p50:.2} ms, p99 {p99:.2} ms at {rate:.0} req/s ({} connections); p99 is {:.2}x the direct query's alone, {:.2}x at the same load",
            args.connections,
            p99 / pct(99),
            p99 / load_p99
        );
        println!(
            "bench series-http backend={backend} connections={} target_req_per_s={} req_per_s={rate:.0} p50_ms={p50:.2} p99_ms={p99:.2} direct_p99_ms={:.2} ratio_p99={:.2} direct_load_req_per_s={load_rate:.0} direct_load_p99_ms={load_p99:.2} ratio_p99_same_load={:.2}",
            args.connections,
            args.rate.map_or("max".to_owned(), |r| r.to_string()),
            pct(99),
            p99 / pct(99),
            p99 / load_p99
        );
    }
    Ok(())
}

/// Flags of `trawler bench ingest`.
#[derive(Args, Clone, Debug)]
pub struct IngestArgs {
    /// Rows to write.
    #[arg(long, default_value = "200000")]
    pub rows: usize,
    /// A PostgreSQL server (any database; the bench creates and drops its
    /// own), or omit for SQLite in a temporary file.
    #[arg(long, env = "TRAWLER_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Points per message (one scrape's worth).
    #[arg(long, default_value = "10")]
    pub points_per_message: usize,
    /// Concurrent senders (scrapers).
    #[arg(long, default_value = "64")]
    pub senders: usize,
    /// Points per database write (TRAWLER_INGEST_BATCH).
    #[arg(long, default_value = "10000")]
    pub batch: usize,
}

/// The rows, in the order scrapers produce them: each tick, one row per
/// (project, metric), so consecutive rows land on different index pages.
fn rows(n: usize) -> Vec<Point> {
    let projects = 1000i64;
    let metrics = [Metric::PLEDGED, Metric::BACKERS];
    let start = 1_780_000_000i64;
    (0..n)
        .map(|i| {
            let i = i as i64;
            let per_tick = projects * metrics.len() as i64;
            Point {
                project_id: ProjectId(1 + i % projects),
                platform: Platform::Kickstarter,
                metric: Metric::known(metrics[((i / projects) % 2) as usize]),
                ts: start + (i / per_tick) * 300,
                value: (i * 7 % 100_000) as f64 + 0.5,
            }
        })
        .collect()
}

fn fresh_db(url: &Option<String>) -> Result<TestDb> {
    match url {
        None => Ok(TestDb::sqlite()?),
        Some(u) => {
            if DbUrl::parse(u)?.backend() != Backend::Postgres {
                bail!("--database-url must be a postgres:// URL (omit it for SQLite)");
            }
            std::env::set_var(trawler_store::testing::PG_ENV, u);
            TestDb::postgres().context("no PostgreSQL URL")?.context("creating the bench database")
        }
    }
}

/// Writes `rows` through the IngestActor from `senders` concurrent senders.
fn product(db: &TestDb, rows: &[Point], per_message: usize, senders: usize, batch_size: usize) -> Result<Duration> {
    let pool = db.pool.clone();
    let messages: Vec<Vec<Point>> = rows.chunks(per_message.max(1)).map(<[Point]>::to_vec).collect();
    let total = messages.len();
    actix::System::new().block_on(async move {
        let executor = SyncArbiter::start(2, move || DbExecutor::new(pool.clone()));
        let config = IngestConfig { batch_size, flush_interval: Duration::from_millis(100), ..IngestConfig::default() };
        let published = std::sync::Arc::new(std::sync::Mutex::new(trawler_actors::ActorInfo::new(
            "ingest",
            "ingest".into(),
            trawler_actors::ActorStatus::Idle,
        )));
        let ingest =
            IngestActor::new(executor, config, Mailbox::default(), None, published, trawler_actors::Metrics::new())
                .start();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(messages.into_iter()));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let progress = {
            let done = done.clone();
            actix::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let d = done.load(std::sync::atomic::Ordering::Relaxed);
                    eprint!("\r  product path: {d}/{total} messages acknowledged");
                    let _ = std::io::stderr().flush();
                }
            })
        };
        let workers = (0..senders.max(1)).map(|_| {
            let queue = queue.clone();
            let ingest = ingest.clone();
            let done = done.clone();
            async move {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some(batch) = next else { return Ok::<(), anyhow::Error>(()) };
                    ingest.send(IngestPoints(batch)).await?.map_err(anyhow::Error::msg)?;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        for r in join_all(workers).await {
            r?;
        }
        let elapsed = started.elapsed();
        progress.abort();
        eprintln!("\r  product path: {total}/{total} messages acknowledged");
        Ok(elapsed)
    })
}

/// The raw baseline: psql's `\copy` of the same rows (PostgreSQL).
fn baseline_postgres(db: &TestDb, rows: &[Point]) -> Result<Duration> {
    let file = std::env::temp_dir().join(format!("trawler_bench_{}.csv", std::process::id()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for p in rows {
        writeln!(out, "{},{},{},{},{}", p.project_id.0, p.metric, p.platform, p.ts, p.value)?;
    }
    out.flush()?;
    drop(out);
    let copy =
        format!("\\copy points (project_id, metric, platform, ts, value) FROM '{}' WITH (FORMAT csv)", file.display());
    let started = Instant::now();
    let status = Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &db.url, "-c", &copy]).status();
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&file);
    match status {
        Ok(s) if s.success() => Ok(elapsed),
        Ok(s) => bail!("psql \\copy failed ({s})"),
        Err(e) => bail!("psql is needed for the PostgreSQL baseline: {e}"),
    }
}

/// The raw baseline: Python's sqlite3 `executemany` in one transaction (SQLite).
fn baseline_sqlite(db: &TestDb, rows: &[Point]) -> Result<Duration> {
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let file = std::env::temp_dir().join(format!("trawler_bench_{}.csv", std::process::id()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for p in rows {
        writeln!(out, "{},{},{},{},{}", p.project_id.0, p.metric, p.platform, p.ts, p.value)?;
    }
    out.flush()?;
    drop(out);
    // Times only the insert loop, as the ceilings in bench/peer do.
    let script = r#"
import csv, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
rows = [(int(a), b, c, int(d), float(e)) for a, b, c, d, e in csv.reader(open(sys.argv[2]))]
t = time.perf_counter()
with db:
    db.executemany("INSERT INTO points (project_id, metric, platform, ts, value) VALUES (?,?,?,?,?)", rows)
print(time.perf_counter() - t)
"#;
    let out = Command::new("python3").args(["-c", script, &path]).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.context("python3 is needed for the SQLite baseline")?;
    if !out.status.success() {
        bail!("the SQLite baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().context("baseline output")?;
    Ok(Duration::from_secs_f64(secs))
}

/// `trawler bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let args = match args.what {
        BenchWhat::Ingest(a) => a,
        BenchWhat::Series(a) => return series(a),
        BenchWhat::Actors(a) => return actors(a),
        BenchWhat::Scrape(a) => return scrape(a),
        BenchWhat::Sse(a) => return crate::bench_sse::run(a),
        BenchWhat::Schedule(a) => return schedule(a),
    };
    if args.rows == 0 {
        bail!("--rows must be positive");
    }
    let rows = rows(args.rows);
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    eprintln!("bench ingest: {} rows on {backend}", args.rows);
    let product_db = fresh_db(&args.database_url)?;
    let product_time = product(&product_db, &rows, args.points_per_message, args.senders, args.batch)?;
    // Every row must be there: a fast path that drops rows proves nothing.
    let expected = rows.iter().filter(|p| p.project_id == ProjectId(1)).count();
    let stored = trawler_store::Point::count_for_project(&mut *product_db.pool.get()?, ProjectId(1))?;
    if stored as usize != expected {
        bail!("the product path stored {stored} rows of project 1, expected {expected}");
    }
    drop(product_db);
    eprintln!("  baseline: running");
    let baseline_db = fresh_db(&args.database_url)?;
    let baseline_time = match backend {
        "postgres" => baseline_postgres(&baseline_db, &rows)?,
        _ => baseline_sqlite(&baseline_db, &rows)?,
    };
    let n = args.rows as f64;
    let product_rate = n / product_time.as_secs_f64();
    let baseline_rate = n / baseline_time.as_secs_f64();
    let baseline_name = if backend == "postgres" { "psql \\copy" } else { "python sqlite3 executemany, 1 tx" };
    println!("product path : {product_rate:>10.0} rows/s ({:.2} s)", product_time.as_secs_f64());
    println!("raw baseline : {baseline_rate:>10.0} rows/s ({:.2} s, {baseline_name})", baseline_time.as_secs_f64());
    println!(
        "bench ingest backend={backend} rows={} points_per_message={} senders={} batch={} product_rows_per_s={product_rate:.0} baseline_rows_per_s={baseline_rate:.0} ratio={:.2}",
        args.rows,
        args.points_per_message,
        args.senders,
        args.batch,
        product_rate / baseline_rate
    );
    Ok(())
}
