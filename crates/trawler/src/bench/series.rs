//! `trawler bench series`: the series query, direct and over HTTP under load.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::process::Command;
use std::time::{Duration, Instant};
use trawler_domain::{Metric, Platform, Point, ProjectId};
use trawler_store::DbUrl;

use super::*;

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
pub(super) fn parse_wrk(report: &str) -> Result<(f64, f64, f64, u64)> {
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
pub(super) fn series_over_http(
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
    // A fresh key of this run: PostgreSQL nodes need one to share.
    let key = trawler_store::secret::new_key().map_err(anyhow::Error::msg)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .env("TRAWLER_SECRET_KEY", key)
        .env("DATABASE_URL", db_url)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .env("TRAWLER_BIND", "127.0.0.1:0")
        .env("TRAWLER_DATA_DIR", &dir)
        .env("TRAWLER_RETENTION", "off")
        // Nothing to fetch: the node only serves the series.
        .env("TRAWLER_EXCHANGE_RATES", "false")
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
pub(super) fn direct_under_load(
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

/// Times `args.queries` series queries of random projects, after one
/// untimed query per project (a node serving dashboards has its pages in
/// memory; the HTTP run warms up the same way in its first second). Checks
/// each answer has about 500 buckets; returns the latencies, sorted.
fn time_queries(
    conn: &mut trawler_store::AnyConnection,
    args: &SeriesArgs,
    series_of: &dyn Fn(i64) -> trawler_store::SeriesQuery,
) -> Result<Vec<Duration>> {
    for project in 1..=args.projects {
        trawler_store::Point::series(conn, &series_of(project))?;
    }
    let mut latencies = Vec::with_capacity(args.queries);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..args.queries {
        seed = trawler_domain::schedule::mix64(seed);
        let query = series_of(1 + (seed % args.projects as u64) as i64);
        let started = Instant::now();
        let result = trawler_store::Point::series(conn, &query)?;
        latencies.push(started.elapsed());
        let points = result.series.first().map_or(0, |s| s.points.len());
        if !(490..=501).contains(&points) {
            bail!("a query returned {points} buckets, expected about 500");
        }
    }
    latencies.sort();
    Ok(latencies)
}

/// Loads `projects × days` of 5-minute points, then times series queries of
/// one project's whole range downsampled to 500 buckets: on the row layout
/// (the baseline), then on chunks.
pub(super) fn series(args: SeriesArgs) -> Result<()> {
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
    // The row layout first (every point in the head), as the baseline;
    // then the same points compacted into chunks, the layout a node keeps
    // them in.
    let rows = time_queries(&mut conn, &args, &series_of)?;
    let compacting = Instant::now();
    eprint!("  compacting into chunks ...");
    let moved = trawler_store::Chunks::compact(&mut conn, start_ts + range, 3600, 10_000)?;
    let (head, chunks) = trawler_store::Chunks::census(&mut conn)?;
    eprintln!(" {moved} points into {chunks} chunks in {:.1} s", compacting.elapsed().as_secs_f64());
    if head != 0 || moved != total as u64 {
        bail!("compaction left {head} points in the head and moved {moved} of {total}");
    }
    drop(conn);
    db.settle().context("vacuuming and analysing the chunks")?;
    let mut conn = db.pool.get()?;
    let latencies = time_queries(&mut conn, &args, &series_of)?;
    let pct = |l: &[Duration], p: usize| l[(l.len() * p / 100).min(l.len() - 1)].as_secs_f64() * 1000.0;
    let (p50, p99) = (pct(&latencies, 50), pct(&latencies, 99));
    let (rows_p50, rows_p99) = (pct(&rows, 50), pct(&rows, 99));
    println!("loaded       : {total} points, compacted into {chunks} chunks");
    println!("query        : one project's {} days of one metric ({ticks} points) -> 500 buckets, avg", args.days);
    println!("row layout   : p50 {rows_p50:.2} ms, p99 {rows_p99:.2} ms over {} queries", args.queries);
    println!(
        "chunks       : p50 {p50:.2} ms, p99 {p99:.2} ms over {} queries ({:.2}x the row layout's p99)",
        args.queries,
        p99 / rows_p99
    );
    println!(
        "bench series backend={backend} points={total} chunks={chunks} points_per_query={ticks} buckets=500 queries={} p50_ms={p50:.2} p99_ms={p99:.2} rows_p50_ms={rows_p50:.2} rows_p99_ms={rows_p99:.2} ratio_p99={:.2}",
        args.queries,
        p99 / rows_p99
    );
    let pct = |p: usize| pct(&latencies, p);
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
