//! `trawler bench schedule` and `trawler bench scrape`: keeping many projects on
//! schedule, and scraping them through the gates.

use anyhow::Result;
use clap::Args;
use std::time::{Duration, Instant};
use trawler_domain::Platform;

use super::*;

/// Flags of `trawler bench schedule`.
#[derive(Args, Clone, Debug)]
pub struct ScheduleArgs {
    /// Projects (one http_json source each).
    #[arg(long, default_value = "100000")]
    pub projects: usize,
    /// Full-scrape interval: the production default; shorter ones make
    /// more full-scrape slots in a short run.
    #[arg(long, default_value = "4h", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub full_interval: Duration,
    /// Poll interval: the production default.
    #[arg(long, default_value = "5m", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub poll_interval: Duration,
    /// Warm-up before measuring (the start-up catch-up runs).
    #[arg(long, default_value = "90s", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub warmup: Duration,
    /// How long to measure.
    #[arg(long, default_value = "5m", value_parser = |s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))]
    pub measure: Duration,
    /// A PostgreSQL server, or omit for SQLite in a temporary file.
    #[arg(long, env = "TRAWLER_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Run without the monitors on the numbers (the baseline of what they
    /// cost).
    #[arg(long)]
    pub no_monitors: bool,
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
    /// Keep no answers in the response archive (the default keeps them as
    /// `serve` does: a poll that read well once an hour per source).
    #[arg(long)]
    pub no_archive: bool,
}

/// Requests in flight to the platform, for trawler and for the ceiling.
const IN_FLIGHT: usize = 256;

/// Polls N projects every `window` against an in-process simulator and
/// reports the sustained rate of stored scrapes, between two measures of the
/// ceiling: the same job in a bare loop ([`super::ceiling`]).
pub(super) fn scrape(args: ScrapeArgs) -> Result<()> {
    use trawler_actors::{ActorsConfig, Tree};
    let n = args.projects;
    // The ceiling is measured before trawler and again after it: this
    // kind of machine changes speed from minute to minute, and their mean
    // is what trawler's minute is held against.
    let ceiling_before = ceiling(n, args.window, args.seconds)?;
    let db = fresh_db(&None)?;
    let pool = db.pool.clone();
    let spool = SpoolDir::new("scrape");
    let ingest = spool.ingest();
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
        sources.max_in_flight_per_platform = IN_FLIGHT;
        let config = ActorsConfig {
            full_interval: Duration::from_secs(30 * 86_400),
            poll_interval: args.window,
            retention: None,
            // The platforms' schedule is what is measured: no exchange rates.
            exchange_rates: None,
            ingest,
            ..ActorsConfig::default()
        };
        let config = ActorsConfig { archive: config.archive.filter(|_| !args.no_archive), ..config };
        let tree = Tree::start(config, pool, trawler_sources::Adapters::new(&sources)?)?;
        // The sum of every sample of a metric family (all labels).
        let total = |text: &str, name: &str| -> f64 {
            text.lines()
                .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
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
        // Where a poll's time went, averaged over the measured time.
        let mean = |name: &str| {
            let n = total(&m1, &format!("{name}_count")) - total(&m0, &format!("{name}_count"));
            (total(&m1, &format!("{name}_sum")) - total(&m0, &format!("{name}_sum"))) / n.max(1.0) * 1000.0
        };
        let skipped = |text: &str| {
            text.lines()
                .filter(|l| l.starts_with("trawler_slots_skipped_total{") && l.contains("kind=\"poll\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        eprintln!(
            "  per poll: {:.1} ms at the gate, {:.1} ms fetching (gate included); {:.0} polls/s shed as overload",
            mean("trawler_gate_wait_seconds"),
            mean("trawler_fetch_seconds"),
            (skipped(&m1) - skipped(&m0)) / secs
        );
        tree.shutdown(Duration::from_secs(5)).await?;
        sim.handle.stop(true).await;
        Ok::<_, anyhow::Error>((pages / secs, (cpu1 - cpu0) / pages.max(1.0) * 1000.0, peak_rss, count(&m1, false)))
    })?;
    let ceiling_after = ceiling(n, args.window, args.seconds)?;
    let demand = n as f64 / args.window.as_secs_f64();
    println!(
        "projects     : {n}, each polled every {:?} (demand {demand:.0} pages/s), archive {}",
        args.window,
        if args.no_archive { "off" } else { "on" }
    );
    println!("sustained    : {pages_per_s:.0} pages/s stored ({} failed fetches)", errors as u64);
    println!("cpu          : {cpu_per_1000:.3} CPU-seconds per 1,000 scrapes (trawler and the in-process simulator)");
    let ceiling = (ceiling_before.pages_per_s + ceiling_after.pages_per_s) / 2.0;
    let ceiling_cpu = (ceiling_before.cpu_s_per_1000 + ceiling_after.cpu_s_per_1000) / 2.0;
    println!(
        "ceiling      : {ceiling:.0} pages/s stored by a bare loop flat out ({:.0} before trawler's run, {:.0} after); trawler gives {:.2} of it{}",
        ceiling_before.pages_per_s,
        ceiling_after.pages_per_s,
        pages_per_s / ceiling,
        if demand < ceiling { " (its demand is below the ceiling: raise --projects to compare maxima)" } else { "" }
    );
    // CPU per page moves less than pages/s when other work shares the
    // machine: the same comparison, by cost.
    println!(
        "ceiling cpu  : {ceiling_cpu:.3} CPU-seconds per 1,000 pages; trawler spends {:.2}× that",
        cpu_per_1000 / ceiling_cpu.max(f64::MIN_POSITIVE)
    );
    println!(
        "bench scrape projects={n} window_s={} demand_pages_per_s={demand:.0} pages_per_s={pages_per_s:.0} cpu_s_per_1000={cpu_per_1000:.3} peak_rss_kib={rss} failed={} ceiling_pages_per_s={ceiling:.0} ceiling_before_pages_per_s={:.0} ceiling_after_pages_per_s={:.0} ceiling_cpu_s_per_1000={ceiling_cpu:.3} ratio_to_ceiling={:.2}",
        args.window.as_secs_f64(),
        errors as u64,
        ceiling_before.pages_per_s,
        ceiling_after.pages_per_s,
        pages_per_s / ceiling
    );
    Ok(())
}

/// The ceiling of `bench scrape`: the bare loop, flat out, at the
/// in-flight limit trawler has, against a simulator of its own, for a
/// warm-up of `window` and then `seconds`.
fn ceiling(n: usize, window: Duration, seconds: Duration) -> Result<super::ceiling::Ceiling> {
    eprintln!("  ceiling: a bare tokio + reqwest loop, {IN_FLIGHT} in flight");
    let db = fresh_db(&None)?;
    let pool = db.pool.clone();
    actix::System::new().block_on(async move {
        let sim = trawler_sim::SimServer::start("127.0.0.1:0", trawler_domain::now_secs() - 3600, 1)?;
        let base = format!("http://{}", sim.addr);
        let rate = super::ceiling::bare_loop(pool, &base, n, IN_FLIGHT, window, seconds).await;
        sim.handle.stop(true).await;
        rate
    })
}

/// Keeps N projects on schedule against an in-process simulator and counts
/// the slots that started on time, from the runs (full scrapes) and the poll
/// ledger: the same figures `/admin/freshness` reports.
pub(super) fn schedule(args: ScheduleArgs) -> Result<()> {
    use trawler_actors::{ActorsConfig, Tree};
    let db = fresh_db(&args.database_url)?;
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    let pool = db.pool.clone();
    let n = args.projects;
    let started = Instant::now();
    let spool = SpoolDir::new("schedule");
    let ingest = spool.ingest();
    let result = actix::System::new().block_on(async move {
        let sim = trawler_sim::SimServer::start("127.0.0.1:0", trawler_domain::now_secs() - 3600, 1)?;
        let url = format!("http://{}/json/{{ref}}", sim.addr);
        {
            let mut conn = pool.get()?;
            let bar = indicatif::ProgressBar::new(n as u64).with_message("creating projects");
            // Setup, not measured: 10,000 projects a commit.
            for first in (0..n).step_by(10_000) {
                let names: Vec<String> = (first..n.min(first + 10_000)).map(|i| format!("p{i}")).collect();
                let sources: Vec<[trawler_store::NewSource; 1]> = names
                    .iter()
                    .map(|name| {
                        [trawler_store::NewSource {
                            platform: Platform::HttpJson,
                            external_ref: name.clone(),
                            options: serde_json::json!({"url": url, "metrics": {"pledged": "/campaign/raised"}}),
                            secret: None,
                        }]
                    })
                    .collect();
                let batch: Vec<(&str, &[trawler_store::NewSource])> =
                    names.iter().zip(&sources).map(|(name, s)| (name.as_str(), &s[..])).collect();
                trawler_store::Project::create_many(&mut conn, &batch)?;
                bar.inc(batch.len() as u64);
            }
            bar.finish_and_clear();
        }
        eprintln!("  {n} projects created in {:.0} s", started.elapsed().as_secs_f64());
        let mut sources = trawler_sources::SourcesConfig::default();
        sources.http.allow_private = true;
        sources.rates.insert(Platform::HttpJson, 1_000_000.0);
        sources.max_in_flight_per_platform = IN_FLIGHT;
        let mut config = ActorsConfig {
            full_interval: args.full_interval,
            poll_interval: args.poll_interval,
            retention: None,
            // The platforms' schedule is what is measured: no exchange rates.
            exchange_rates: None,
            ingest,
            ..ActorsConfig::default()
        };
        config.monitors.enabled = !args.no_monitors;
        let t0 = Instant::now();
        let tree = Tree::start(config.clone(), pool.clone(), trawler_sources::Adapters::new(&sources)?)?;
        let mut peak_rss = rss_kib();
        let until = args.warmup + args.measure;
        let from_ms = trawler_domain::now_millis() + args.warmup.as_millis() as i64;
        let mut points_at_from = None;
        let mut shown = Duration::ZERO;
        while t0.elapsed() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak_rss = peak_rss.max(rss_kib());
            // Once a minute, where the work stands: a backlog shows here
            // before it shows in the shares.
            if t0.elapsed() >= shown + Duration::from_secs(60) {
                shown = t0.elapsed();
                eprintln!("\r  {:>5.0} s: {}", shown.as_secs_f64(), progress(&tree).await?);
            }
            if points_at_from.is_none() && t0.elapsed() >= args.warmup {
                points_at_from = Some(trawler_store::Chunks::points_total(&mut *pool.get()?)?);
            }
            let phase = if t0.elapsed() < args.warmup { "warming up" } else { "measuring" };
            eprint!("\r  {phase}… {:.0} / {:.0} s", t0.elapsed().as_secs_f64(), until.as_secs_f64());
        }
        eprintln!();
        let to_ms = trawler_domain::now_millis();
        let polls = tree.poll_freshness(None, from_ms, to_ms).await?;
        // The same share by tenths of the measured time: a dip shows when.
        let tenth = ((to_ms - from_ms) / 10).max(1);
        let mut timeline = Vec::new();
        for k in 0..10 {
            let part = tree.poll_freshness(None, from_ms + k * tenth, from_ms + (k + 1) * tenth - 1).await?;
            let (slots, met) = part.values().fold((0u64, 0u64), |(s, m), f| (s + f.slots, m + f.met));
            timeline.push(if slots == 0 {
                "-".to_string()
            } else {
                format!("{:.3}", met as f64 / slots as f64 * 100.0)
            });
        }
        eprintln!("  polls on time by tenth of the measured time (%): {}", timeline.join(" "));
        // What the poll actor saw: its counters, and how long loading the
        // sources of a window took.
        if let Some(source) = tree.source_state(Platform::HttpJson).await? {
            eprintln!(
                "  poll actor: {}; a window's load took {} ms, opened {} ms ahead",
                source.detail["counters"], source.detail["last_load_ms"], source.detail["lead_ms"]
            );
        }
        let points_in_window = trawler_store::Chunks::points_total(&mut *pool.get()?)? - points_at_from.unwrap_or(0);
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
        Ok::<_, anyhow::Error>((
            sum(&mut full.into_iter()),
            sum(&mut polls.into_values()),
            late_ms,
            peak_rss,
            points_in_window,
        ))
    })?;
    let ((full_slots, full_met), (poll_slots, poll_met), late, peak_rss, points_in_window) = result;
    eprintln!("  weighing the database after compaction");
    let growth =
        super::growth::Growth::measure(&db, points_in_window, late.len(), args.measure, Duration::from_secs(3600))?;
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
    let mb = |b: f64| b / 1e6;
    println!(
        "growth       : {:.1} MB a day on {backend} at this cadence: {:.0} points/day at {:.2} bytes each in chunks, {:.0} runs/day at {:.0} bytes each (pruned after 30 days); the chunks of a short run hold few points each, so its bytes per point are an upper bound (`bench storage`: 1.4-1.6 over 30 days)",
        mb(growth.bytes_per_day()),
        growth.points_per_day,
        growth.bytes_per_point,
        growth.runs_per_day,
        growth.bytes_per_run
    );
    println!(
        "bench schedule backend={backend} monitors={} projects={n} full_interval_s={} poll_interval_s={} full_slots={full_slots} full_on_time_pct={:.3} full_late_p99_ms={} poll_slots={poll_slots} poll_on_time_pct={:.3} peak_rss_kib={peak_rss} points_per_day={:.0} bytes_per_point={:.2} runs_per_day={:.0} bytes_per_run={:.0} growth_mb_per_day={:.1}",
        !args.no_monitors,
        args.full_interval.as_secs_f64(),
        args.poll_interval.as_secs_f64(),
        share(full_met, full_slots),
        pct(0.99),
        share(poll_met, poll_slots),
        growth.points_per_day,
        growth.bytes_per_point,
        growth.runs_per_day,
        growth.bytes_per_run,
        mb(growth.bytes_per_day()),
    );
    Ok(())
}

/// One line of where the run stands: the gate's requests in flight and
/// waiting, fetches so far by kind, the ingest backlog, polls in flight.
async fn progress(tree: &trawler_actors::Tree) -> Result<String> {
    use trawler_actors::metrics::FetchLabels;
    let gate = tree.adapters().gates().get(Platform::HttpJson).snapshot();
    let metrics = tree.metrics();
    let fetches = |kind: &'static str| {
        let labels = FetchLabels { platform: Platform::HttpJson.as_str(), kind, outcome: "ok" };
        metrics.fetches.get_or_create(&labels).get()
    };
    let ingest = tree.ingest_state();
    let source = tree.source_state(Platform::HttpJson).await?.map(|s| s.detail).unwrap_or_default();
    Ok(format!(
        "gate {} in flight, {} waiting; {} full and {} poll fetches; {} points written, {} buffered, {} behind the journal, {} senders waiting; {} run records unwritten; {} polls in flight; {} MiB",
        gate.in_flight,
        gate.waiting,
        fetches("full"),
        fetches("poll"),
        metrics.points_written.get(),
        ingest.detail["buffered"],
        ingest.detail["behind"],
        ingest.detail["waiting_senders"],
        tree.runs_unrecorded(),
        source["in_flight"],
        rss_kib() / 1024
    ))
}
