//! `trawler bench ingest`: rows/s through the product's ingestion path (scrapers'
//! messages → IngestActor → DbExecutor → COPY or multi-row INSERT) next to the
//! raw baseline on the same machine, in the same run, with the same rows:
//! PostgreSQL `\copy` from psql, SQLite `executemany` in one transaction
//! (Python's sqlite3). Prints one machine-readable line at the end.

use actix::{Actor, SyncArbiter};
use anyhow::{bail, Context, Result};
use clap::Args;
use futures_util::future::join_all;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use trawler_actors::{DbExecutor, IngestActor, IngestConfig, IngestPoints, Mailbox};
use trawler_domain::{Metric, Platform, Point, ProjectId};
use trawler_store::testing::TestDb;
use trawler_store::{Backend, DbUrl};

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
    /// Run the compactor beside ingestion with this chunk span (`1s`: a
    /// pass every second moving everything written before it, far more
    /// often than the default `1h` span would); omit for no compactor.
    #[arg(long, value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub compactor: Option<Duration>,
    /// Run without the spool, as a node without a data directory does:
    /// every sender then waits for a database commit instead of the
    /// journal's fsync.
    #[arg(long)]
    pub no_spool: bool,
}

/// The rows, in the order scrapers produce them: each tick, one row per
/// (project, metric), so consecutive rows land on different index pages.
pub(super) fn rows(n: usize) -> Vec<Point> {
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

pub(super) fn fresh_db(url: &Option<String>) -> Result<TestDb> {
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

/// Writes `rows` through the IngestActor from `senders` concurrent senders,
/// with the compactor running beside it when `compactor` gives its span,
/// and a spool (in a temporary directory) when `spool`. The time runs until
/// every row is in the database, not only acknowledged.
pub(super) fn product(
    db: &TestDb,
    rows: &[Point],
    per_message: usize,
    senders: usize,
    batch_size: usize,
    compactor: Option<Duration>,
    spool: bool,
) -> Result<Duration> {
    let dir = super::SpoolDir::new("ingest");
    let spool = spool.then(|| trawler_actors::Spool::open(dir.path(), 1 << 30)).transpose()?;
    let pool = db.pool.clone();
    let messages: Vec<Vec<Point>> = rows.chunks(per_message.max(1)).map(<[Point]>::to_vec).collect();
    let total = messages.len();
    actix::System::new().block_on(async move {
        let executor = SyncArbiter::start(2, move || DbExecutor::new(pool.clone()));
        let compactor = compactor.map(|span| {
            trawler_actors::CompactorActor::new(executor.clone(), trawler_domain::clock::system(), span).start()
        });
        let config = IngestConfig { batch_size, flush_interval: Duration::from_millis(100), ..IngestConfig::default() };
        let published = std::sync::Arc::new(std::sync::Mutex::new(trawler_actors::ActorInfo::new(
            "ingest",
            "ingest".into(),
            trawler_actors::ActorStatus::Idle,
        )));
        let ingest =
            IngestActor::new(executor, config, Mailbox::default(), spool, published, trawler_actors::Metrics::new())
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
                    ingest.send(IngestPoints::new(batch)).await?.map_err(anyhow::Error::msg)?;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        for r in join_all(workers).await {
            r?;
        }
        // Acknowledged is durable (the journal); the time runs until the
        // database holds everything.
        ingest.send(trawler_actors::Flush).await?.map_err(anyhow::Error::msg)?;
        let elapsed = started.elapsed();
        progress.abort();
        eprintln!("\r  product path: {total}/{total} messages acknowledged");
        if let Some(compactor) = compactor {
            // Its pass under way counts once it ends (untimed).
            let mut state = compactor.send(trawler_actors::GetCompactorState).await?;
            while state.status == trawler_actors::ActorStatus::Running {
                tokio::time::sleep(Duration::from_millis(50)).await;
                state = compactor.send(trawler_actors::GetCompactorState).await?;
            }
            eprintln!(
                "  the compactor moved {} points into chunks (its last pass ended after the timing)",
                state.detail["moved_total"]
            );
        }
        Ok(elapsed)
    })
}

/// The raw baseline: psql's `\copy` of the same rows (PostgreSQL).
pub(super) fn baseline_postgres(db: &TestDb, rows: &[Point]) -> Result<Duration> {
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
pub(super) fn baseline_sqlite(db: &TestDb, rows: &[Point]) -> Result<Duration> {
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
