//! `trawler bench storage`: bytes on disk per stored point, in the chunk
//! layout (the head and the chunks, indexes included) next to the same
//! points in the row layout alone, measured in the same run.
//!
//! The points come from the simulator's value model at the default cadence:
//! every project a crowdfunding campaign polled every 5 minutes (pledged,
//! backers) and fully scraped every 4 hours (also goal and comments: values
//! that repeat); half of them an ad account (spend polled, the rest of its
//! insights with the full scrape); one in five a noisy page metric polled
//! every 5 minutes. Each poll lands a few seconds after its slot. They go
//! through the product's ingest path, then the compactor runs as it would
//! at the end: the history runs half a chunk span past its last day, so the
//! head holds half a window of points (its average under a steady load),
//! and they count.

use anyhow::{bail, Result};
use clap::Args;
use trawler_domain::{Metric, Platform, Point, ProjectId};
use trawler_store::Chunks;

use super::ingest::{fresh_db, product};

/// Flags of `trawler bench storage`.
#[derive(Args, Clone, Debug)]
pub struct StorageArgs {
    /// Projects.
    #[arg(long, default_value = "200")]
    pub projects: u32,
    /// Days of history.
    #[arg(long, default_value = "7")]
    pub days: u32,
    /// A PostgreSQL server (any database; the bench creates and drops its
    /// own), or omit for SQLite in a temporary file.
    #[arg(long, env = "TRAWLER_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The chunk span (default: TRAWLER_CHUNK_SPAN's default).
    #[arg(long)]
    pub chunk_span: Option<humantime::Duration>,
}

/// A poll's slot offset and a few seconds of run time.
fn jitter(project: i64, slot: i64) -> i64 {
    (trawler_domain::schedule::mix64((project as u64) << 20 ^ slot as u64) % 4) as i64
}

/// The points, in the order scrapes produce them (by time): `days` days and
/// then `extra` seconds, so the head holds what it holds on average.
fn points(projects: u32, days: u32, extra: i64, start: i64) -> Vec<Point> {
    let mut out = Vec::new();
    let polls = (i64::from(days) * 86_400 + extra) / 300;
    let point = |p: i64, platform: Platform, metric: &'static str, ts: i64, value: f64| Point {
        project_id: ProjectId(p),
        platform,
        metric: Metric::known(metric),
        ts,
        value,
    };
    for slot in 0..polls {
        let full = slot % 48 == 0;
        for p in 1..=i64::from(projects) {
            let reference = format!("bench/p{p}");
            let offset = (trawler_domain::schedule::mix64(p as u64) % 300) as i64;
            let ts = start + slot * 300 + offset + jitter(p, slot);
            let elapsed = ts - start;
            let c = trawler_sim::model::Campaign::steady(&reference, start, elapsed);
            let platform = if p % 2 == 0 { Platform::Kickstarter } else { Platform::Indiegogo };
            out.push(point(p, platform, Metric::PLEDGED, ts, c.pledged()));
            out.push(point(p, platform, Metric::BACKERS, ts, c.backers as f64));
            if full {
                out.push(point(p, platform, Metric::GOAL, ts, c.goal()));
                out.push(point(p, platform, Metric::COMMENTS, ts, c.comments as f64));
            }
            if p % 2 == 0 {
                let ads = trawler_sim::model::Ads::at(&reference, elapsed);
                out.push(point(p, Platform::MetaAds, Metric::SPEND, ts + 1, ads.spend_cents as f64 / 100.0));
                if full {
                    out.push(point(p, Platform::MetaAds, Metric::IMPRESSIONS, ts + 1, ads.impressions as f64));
                    out.push(point(p, Platform::MetaAds, Metric::CLICKS, ts + 1, ads.clicks as f64));
                    out.push(point(p, Platform::MetaAds, Metric::PURCHASES, ts + 1, ads.purchases as f64));
                    let value = ads.purchase_value_cents as f64 / 100.0;
                    out.push(point(p, Platform::MetaAds, Metric::PURCHASE_VALUE, ts + 1, value));
                }
            }
            if p % 5 == 0 {
                // A rating that wanders: a value with every digit in use.
                let noise = trawler_domain::schedule::mix64((p as u64) << 32 ^ slot as u64) % 10_000;
                out.push(Point {
                    project_id: ProjectId(p),
                    platform: Platform::HttpJson,
                    metric: "rating".parse().expect("a valid metric name"),
                    ts: ts + 2,
                    value: 4.0 + noise as f64 / 10_000.0 * 0.9 + slot as f64 * 1e-5,
                });
            }
        }
    }
    out
}

/// `trawler bench storage`.
pub fn storage(args: StorageArgs) -> Result<()> {
    if args.projects == 0 || args.days == 0 {
        bail!("--projects and --days must be positive");
    }
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    let span = args
        .chunk_span
        .map_or_else(|| trawler_actors::ActorsSettings::default().chunk_span.get(), Into::into)
        .as_secs()
        .max(1) as i64;
    // Midway through a week: the last days sit in day chunks and the head,
    // as they do on a node that has run for a while, not in one week's chunk.
    let week = 7 * 86_400;
    let end_of_history = 1_780_000_000 - 1_780_000_000 % week + week / 2;
    let start = end_of_history - i64::from(args.days) * 86_400;
    // Half a span past the last day: the head holds half a window of points,
    // its average at a steady load.
    let rows = points(args.projects, args.days, span / 2, start);
    let n = rows.len() as u64;
    eprintln!("bench storage: {n} points of {} projects over {} days on {backend}", args.projects, args.days);

    // The empty schema's own pages, counted out of both layouts.
    let empty = fresh_db(&args.database_url)?.point_bytes()?;

    let chunked = fresh_db(&args.database_url)?;
    product(&chunked, &rows, 10, 64, 10_000, None, true)?;
    let end = rows.iter().map(|p| p.ts).max().unwrap_or(start) + 1;
    let before = end.div_euclid(span) * span;
    eprintln!("  compacting (chunk span {span} s)");
    Chunks::compact(&mut *chunked.pool.get()?, before, span, 20_000)?;
    let (head, chunks) = Chunks::census(&mut *chunked.pool.get()?)?;
    let stored: i64 = (1..=i64::from(args.projects))
        .map(|p| trawler_store::Point::count_for_project(&mut *chunked.pool.get()?, ProjectId(p)))
        .sum::<Result<i64, _>>()?;
    if stored as u64 != n {
        bail!("the chunk layout holds {stored} points, {n} were written");
    }
    let chunk_bytes = chunked.point_bytes()?.saturating_sub(empty);
    // Retention: the older half of the history, whole hours.
    let cutoff = (start + i64::from(args.days) * 86_400 / 2).div_euclid(3600) * 3600;
    let chunk_retention = retention(&chunked, cutoff)?;
    if std::env::var_os("TRAWLER_BENCH_KEEP").is_some() {
        eprintln!("  kept: {}", chunked.url);
        std::mem::forget(chunked);
    } else {
        drop(chunked);
    }

    eprintln!("  baseline: the same points in rows");
    let rows_db = fresh_db(&args.database_url)?;
    product(&rows_db, &rows, 10, 64, 10_000, None, true)?;
    let row_bytes = rows_db.point_bytes()?.saturating_sub(empty);
    let row_retention = retention(&rows_db, cutoff)?;

    let per = |b: u64| b as f64 / n as f64;
    println!(
        "chunk layout : {:>8.2} bytes/point ({chunk_bytes} bytes; {head} points in the head, {chunks} chunks)",
        per(chunk_bytes)
    );
    println!("row layout   : {:>8.2} bytes/point ({row_bytes} bytes)", per(row_bytes));
    println!(
        "bench storage backend={backend} projects={} days={} points={n} head_points={head} chunks={chunks} chunk_span_secs={span} bytes_per_point={:.2} baseline_bytes_per_point={:.2} ratio={:.3}",
        args.projects,
        args.days,
        per(chunk_bytes),
        per(row_bytes),
        per(chunk_bytes) / per(row_bytes)
    );
    let ms = |r: &Retention| r.took.as_secs_f64() * 1000.0;
    println!(
        "retention    : {} points older than {} days rolled up in {:.0} ms from {} chunks ({:.0} µs a chunk); from rows {:.0} ms",
        chunk_retention.points,
        args.days - args.days / 2,
        ms(&chunk_retention),
        chunk_retention.chunks,
        ms(&chunk_retention) * 1000.0 / chunk_retention.chunks.max(1) as f64,
        ms(&row_retention)
    );
    println!(
        "bench retention backend={backend} projects={} days={} points={} chunks={} chunk_ms={:.1} row_ms={:.1} ratio={:.3}",
        args.projects,
        args.days,
        chunk_retention.points,
        chunk_retention.chunks,
        ms(&chunk_retention),
        ms(&row_retention),
        ms(&chunk_retention) / ms(&row_retention).max(f64::MIN_POSITIVE)
    );
    Ok(())
}

/// What one retention pass did, and how long it took.
struct Retention {
    points: u64,
    chunks: i64,
    took: std::time::Duration,
}

/// Rolls up everything older than `cutoff` as the retention actor does,
/// timed, and checks that every point is either still raw or counted in
/// the rollups.
fn retention(db: &trawler_store::testing::TestDb, cutoff: i64) -> Result<Retention> {
    let mut conn = db.pool.get()?;
    let (raw, chunks) = (Chunks::points_total(&mut conn)?, Chunks::census(&mut conn)?.1);
    let started = std::time::Instant::now();
    let pass = trawler_store::Point::roll_up_before(&mut conn, cutoff)?;
    let took = started.elapsed();
    let (left, chunks_left) = (Chunks::points_total(&mut conn)?, Chunks::census(&mut conn)?.1);
    let rolled = trawler_store::Point::rolled_total(&mut conn)?;
    if pass.busy || left + rolled != raw || rolled as u64 != pass.moved {
        bail!("retention lost or doubled points: {raw} before, {left} raw and {rolled} rolled up after");
    }
    Ok(Retention { points: pass.moved, chunks: chunks - chunks_left, took })
}
