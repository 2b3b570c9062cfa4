//! `trawler bench …`: benchmarks that print figures and their ratio to a
//! baseline measured in the same run (docs/benchmarks.md records them).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use trawler_domain::ProjectId;

mod actors;
mod ceiling;
mod growth;
mod ingest;
mod schedule;
mod series;
mod storage;

use actors::*;
use ingest::*;
use schedule::*;
use series::*;
use storage::*;

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
    /// N projects on schedule (the production cadence unless told): the
    /// share of full-scrape and poll slots started within 1% of the
    /// interval, peak memory, and the database's growth a day.
    Schedule(ScheduleArgs),
    /// Bytes on disk per stored point: the chunk layout against rows.
    Storage(StorageArgs),
}

/// A spool directory for a bench's ingest stage, as `serve` has one in its
/// data directory; removed when dropped.
pub(super) struct SpoolDir(std::path::PathBuf);

impl SpoolDir {
    pub(super) fn new(name: &str) -> SpoolDir {
        let dir = std::env::temp_dir().join(format!("trawler_bench_{name}_spool_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        SpoolDir(dir)
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The ingest stage of the default settings with this spool.
    pub(super) fn ingest(&self) -> trawler_actors::IngestConfig {
        trawler_actors::ActorsSettings::default().ingest(Some(self.0.clone()))
    }
}

impl Drop for SpoolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
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

/// `trawler bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let args = match args.what {
        BenchWhat::Ingest(a) => a,
        BenchWhat::Series(a) => return series(a),
        BenchWhat::Actors(a) => return actors(a),
        BenchWhat::Scrape(a) => return scrape(a),
        BenchWhat::Sse(a) => return crate::bench_sse::run(a),
        BenchWhat::Schedule(a) => return schedule(a),
        BenchWhat::Storage(a) => return storage(a),
    };
    if args.rows == 0 {
        bail!("--rows must be positive");
    }
    let rows = rows(args.rows);
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    eprintln!("bench ingest: {} rows on {backend}", args.rows);
    let product_db = fresh_db(&args.database_url)?;
    let product_time =
        product(&product_db, &rows, args.points_per_message, args.senders, args.batch, args.compactor, !args.no_spool)?;
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
        "bench ingest backend={backend} rows={} points_per_message={} senders={} batch={} compactor={} spool={} product_rows_per_s={product_rate:.0} baseline_rows_per_s={baseline_rate:.0} ratio={:.2}",
        args.rows,
        args.points_per_message,
        args.senders,
        args.batch,
        args.compactor.map_or("off".to_owned(), |s| humantime::format_duration(s).to_string()),
        if args.no_spool { "off" } else { "on" },
        product_rate / baseline_rate
    );
    Ok(())
}
