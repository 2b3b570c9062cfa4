//! The benchmark commands, small: each runs the real binary end to end and
//! prints its one machine-readable line with figures that make sense. The
//! full-size runs and their results are in docs/benchmarks.md.

use std::collections::HashMap;
use std::process::Command;

use anyhow::{ensure, Context, Result};

/// Runs `trawler bench <args>`; returns the `bench <name> k=v …` line's fields.
fn bench(args: &[&str], name: &str) -> Result<HashMap<String, String>> {
    fields(&run(args)?, name)
}

/// What `trawler bench ARGS` printed, once it succeeded.
fn run(args: &[&str]) -> Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_trawler")).arg("bench").args(args).env("RUST_LOG", "warn").output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "bench {args:?} failed: {stdout}\n{stderr}");
    Ok(stdout.into_owned())
}

/// The fields of the `bench NAME k=v …` line of a bench's output.
fn fields(stdout: &str, name: &str) -> Result<HashMap<String, String>> {
    let prefix = format!("bench {name} ");
    let line =
        stdout.lines().find(|l| l.starts_with(&prefix)).with_context(|| format!("no `{prefix}…` line in: {stdout}"))?;
    Ok(line[prefix.len()..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn number(fields: &HashMap<String, String>, key: &str) -> Result<f64> {
    fields.get(key).with_context(|| format!("no `{key}` in {fields:?}"))?.parse().with_context(|| format!("`{key}`"))
}

#[test]
fn sse_times_a_point_to_every_subscriber() -> Result<()> {
    let f = bench(&["sse", "--subscribers", "50", "--rounds", "2"], "sse")?;
    ensure!(f["subscribers"] == "50" && f["rounds"] == "2", "{f:?}");
    let (one, many, ratio) = (number(&f, "one_max_ms")?, number(&f, "many_max_ms")?, number(&f, "ratio")?);
    // A point goes through parsing, ingestion and the database: never free,
    // and on a loaded test machine still well under a few seconds.
    ensure!(one > 0.0 && one < 5_000.0, "one subscriber: {one} ms");
    ensure!(many > 0.0 && many < 5_000.0, "50 subscribers: {many} ms");
    ensure!(number(&f, "many_p50_ms")? <= many, "{f:?}");
    ensure!((ratio - many / one).abs() < 0.05 * ratio.max(1.0), "ratio {ratio} is not {many}/{one}");
    ensure!(number(&f, "run_started_many_max_ms")? >= 0.0, "{f:?}");
    // The baseline fans the same frame out to as many subscribers with no
    // framework around it: never free, and no slower than a few seconds.
    let baseline = number(&f, "baseline_max_ms")?;
    ensure!(baseline > 0.0 && baseline < 5_000.0, "baseline: {baseline} ms");
    ensure!(number(&f, "baseline_p50_ms")? <= baseline, "{f:?}");
    let to_baseline = number(&f, "ratio_to_baseline")?;
    ensure!(
        (to_baseline - many / baseline).abs() < 0.05 * to_baseline.max(1.0),
        "{to_baseline} is not {many}/{baseline}"
    );
    Ok(())
}

#[test]
fn series_times_the_query_directly_and_through_http() -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        ensure!(std::env::var_os("TRAWLER_REQUIRE_WRK").is_none(), "wrk is required (TRAWLER_REQUIRE_WRK) but missing");
        eprintln!("wrk is not installed: only the direct part runs");
        let f = bench(&["series", "--projects", "3", "--days", "2", "--queries", "20"], "series")?;
        ensure!(number(&f, "p99_ms")? > 0.0, "{f:?}");
        return Ok(());
    }
    let f = bench(
        &[
            "series",
            "--projects",
            "3",
            "--days",
            "2",
            "--queries",
            "20",
            "--http",
            "2s",
            "--connections",
            "2",
            "--rate",
            "50",
        ],
        "series-http",
    )?;
    // 3 projects × 2 days of 5-minute points, read through the real API.
    ensure!(number(&f, "req_per_s")? > 5.0, "{f:?}");
    ensure!(number(&f, "direct_load_req_per_s")? > 5.0, "{f:?}");
    for key in ["p50_ms", "p99_ms", "direct_p99_ms", "direct_load_p99_ms"] {
        ensure!(number(&f, key)? > 0.0, "{key}: {f:?}");
    }
    let ratio = number(&f, "ratio_p99_same_load")?;
    ensure!((ratio - number(&f, "p99_ms")? / number(&f, "direct_load_p99_ms")?).abs() < 0.05 * ratio, "{f:?}");
    Ok(())
}

#[test]
fn ingest_compares_the_product_with_the_raw_baseline() -> Result<()> {
    let f = bench(&["ingest", "--rows", "5000", "--senders", "4"], "ingest")?;
    ensure!(f["backend"] == "sqlite" && f["rows"] == "5000" && f["compactor"] == "off", "{f:?}");
    // The compactor beside it: every row is still stored (the bench counts
    // head and chunks), and the line says it ran.
    let with = bench(&["ingest", "--rows", "5000", "--senders", "4", "--compactor", "1s"], "ingest")?;
    ensure!(with["compactor"] == "1s" && number(&with, "product_rows_per_s")? > 0.0, "{with:?}");
    let (product, baseline) = (number(&f, "product_rows_per_s")?, number(&f, "baseline_rows_per_s")?);
    ensure!(product > 0.0 && baseline > 0.0, "{f:?}");
    ensure!((number(&f, "ratio")? - product / baseline).abs() < 0.01 + 0.01 * product / baseline, "{f:?}");
    Ok(())
}

#[test]
fn actors_reports_memory_per_actor() -> Result<()> {
    let f = bench(&["actors", "--projects", "2000"], "actors")?;
    ensure!(f["projects"] == "2000", "{f:?}");
    let (before, after) = (number(&f, "rss_before_kib")?, number(&f, "rss_after_kib")?);
    ensure!(after > before, "starting 2,000 actors took no memory: {f:?}");
    // Whatever the allocator does, an idle actor is neither free nor huge.
    let per_actor = number(&f, "bytes_per_actor")?;
    ensure!(per_actor > 100.0 && per_actor < 64.0 * 1024.0, "{f:?}");
    ensure!((0.0..60.0).contains(&number(&f, "startup_s")?), "{f:?}");
    Ok(())
}

/// The chunk layout against rows on disk: every point written is there, the
/// head and the chunks both counted, and the compressed layout is the
/// smaller by far.
#[test]
fn storage_compares_chunks_with_rows_on_disk() -> Result<()> {
    let out = run(&["storage", "--projects", "6", "--days", "3"])?;
    let f = fields(&out, "storage")?;
    ensure!(f["backend"] == "sqlite" && f["projects"] == "6", "{f:?}");
    let (chunked, rows) = (number(&f, "bytes_per_point")?, number(&f, "baseline_bytes_per_point")?);
    ensure!(number(&f, "points")? > 10_000.0 && number(&f, "chunks")? > 0.0, "{f:?}");
    ensure!(number(&f, "head_points")? > 0.0, "the head is measured too: {f:?}");
    ensure!(rows > 20.0 && chunked > 0.0 && chunked < rows / 4.0, "{f:?}");
    ensure!((number(&f, "ratio")? - chunked / rows).abs() < 0.01, "{f:?}");
    // Retention in the same run: the older half of the history rolled up
    // from whole chunks (the bench checks that no point is lost or counted
    // twice), and from rows as the baseline.
    let r = fields(&out, "retention")?;
    ensure!(r["backend"] == "sqlite" && number(&r, "chunks")? > 0.0, "{r:?}");
    let rolled = number(&r, "points")?;
    ensure!(rolled > number(&f, "points")? / 4.0 && rolled < number(&f, "points")? * 3.0 / 4.0, "{r:?} of {f:?}");
    ensure!(number(&r, "chunk_ms")? > 0.0 && number(&r, "row_ms")? > 0.0, "{r:?}");
    Ok(())
}

#[test]
fn scrape_compares_with_a_bare_loop_measured_in_the_same_run() -> Result<()> {
    let f = bench(&["scrape", "--projects", "200", "--window", "1s", "--seconds", "2s"], "scrape")?;
    ensure!(f["projects"] == "200" && f["failed"] == "0", "{f:?}");
    let (trawler, ceiling) = (number(&f, "pages_per_s")?, number(&f, "ceiling_pages_per_s")?);
    // 200 projects a second: trawler keeps up; the bare loop, flat out,
    // fetches far more than that.
    ensure!(trawler > 100.0 && trawler < 400.0, "trawler stored {trawler} pages/s of a 200/s demand");
    ensure!(ceiling > trawler, "the bare loop stored {ceiling} pages/s, trawler {trawler}");
    let ratio = number(&f, "ratio_to_ceiling")?;
    ensure!((ratio - trawler / ceiling).abs() < 0.01 + 0.01 * ratio, "{f:?}");
    // Measured before trawler's run and after it; the ratio holds trawler
    // against their mean.
    let (before, after) = (number(&f, "ceiling_before_pages_per_s")?, number(&f, "ceiling_after_pages_per_s")?);
    ensure!(before > trawler && after > trawler, "{f:?}");
    ensure!((ceiling - (before + after) / 2.0).abs() <= 1.0, "{f:?}");
    // Flat out, the bare loop keeps the process busy: its CPU per page is
    // a cost measured, not the idle remainder of a light load.
    let ceiling_cpu = number(&f, "ceiling_cpu_s_per_1000")?;
    ensure!(ceiling_cpu > 0.0 && ceiling_cpu < 10.0, "{f:?}");
    Ok(())
}

#[test]
fn schedule_counts_slots_on_time_and_projects_the_databases_growth() -> Result<()> {
    let f = bench(
        &[
            "schedule",
            "--projects",
            "50",
            "--full-interval",
            "4s",
            "--poll-interval",
            "2s",
            "--warmup",
            "3s",
            "--measure",
            "6s",
        ],
        "schedule",
    )?;
    ensure!(f["backend"] == "sqlite" && f["projects"] == "50", "{f:?}");
    // 50 projects polled every 2 s for 6 s: about 150 poll slots.
    let poll_slots = number(&f, "poll_slots")?;
    ensure!((100.0..=250.0).contains(&poll_slots), "{f:?}");
    // A poll stores one point: ~25 points/s, ~2.2 million a day.
    let points_per_day = number(&f, "points_per_day")?;
    ensure!((1.0e6..4.0e6).contains(&points_per_day), "{f:?}");
    let (per_point, per_run) = (number(&f, "bytes_per_point")?, number(&f, "bytes_per_run")?);
    ensure!(per_point > 0.0 && per_point < 200.0 && per_run > 10.0, "{f:?}");
    let growth = number(&f, "growth_mb_per_day")?;
    let expected = (points_per_day * per_point + number(&f, "runs_per_day")? * per_run) / 1e6;
    ensure!((growth - expected).abs() <= 0.05 + 0.01 * expected, "{growth} MB/day is not the sum of its parts: {f:?}");
    Ok(())
}
