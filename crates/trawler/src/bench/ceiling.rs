//! The ceiling of `trawler bench scrape`: the same job with nothing of
//! trawler around it. Plain tokio tasks and one reqwest client fetch the
//! same simulator pages at the same concurrency, parse the same two numbers
//! (with the same number parser)
//! and hand the rows to one thread that writes them through batched inserts
//! — no actors, gates, rate limits, retries, runs or events. What trawler
//! stores per second against this is the cost of everything it adds.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use trawler_domain::{Metric, Platform, Point, ProjectId};

/// Rows per insert transaction of the writer thread.
const BATCH: usize = 5_000;

/// What the bare loop gave over the measured time.
pub(super) struct Ceiling {
    /// Pages stored per second.
    pub pages_per_s: f64,
    /// CPU-seconds of the whole process (the loop, its writer and the
    /// in-process simulator) per 1,000 pages stored.
    pub cpu_s_per_1000: f64,
}

/// Pages/s stored by the bare loop: `concurrency` tasks fetch
/// `{base}/json/p{i}` for i cycling over `projects`, flat out, for `warmup`
/// and then `seconds`; the rows go into `pool`. Runs on the caller's tokio
/// runtime (the same single-threaded one actix gives trawler).
pub(super) async fn bare_loop(
    pool: trawler_store::DbPool,
    base: &str,
    projects: usize,
    concurrency: usize,
    warmup: Duration,
    seconds: Duration,
) -> Result<Ceiling> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Point>(BATCH * 4);
    let stored = Arc::new(AtomicU64::new(0));
    let writer = {
        let stored = stored.clone();
        std::thread::spawn(move || -> Result<()> {
            let mut conn = pool.get()?;
            let mut batch = Vec::with_capacity(BATCH);
            // One page gives two rows.
            let flush = |batch: &mut Vec<Point>, conn: &mut trawler_store::AnyConnection| -> Result<()> {
                trawler_store::Point::insert_batch(conn, batch)?;
                stored.fetch_add(batch.len() as u64 / 2, Ordering::Relaxed);
                batch.clear();
                Ok(())
            };
            while let Ok(point) = rx.recv() {
                batch.push(point);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                flush(&mut batch, &mut conn)?;
            }
            if !batch.is_empty() {
                flush(&mut batch, &mut conn)?;
            }
            Ok(())
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + warmup + seconds;
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (client, tx, next, failed) = (client.clone(), tx.clone(), next.clone(), failed.clone());
        let base = base.to_owned();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % projects.max(1);
                let page = async {
                    let body =
                        client.get(format!("{base}/json/p{i}")).send().await?.error_for_status()?.bytes().await?;
                    let json: serde_json::Value = serde_json::from_slice(&body)?;
                    // Numbers or text written for people ("$676.90"), read
                    // by the same parser trawler's sources use.
                    let number = |pointer: &str| match json.pointer(pointer)? {
                        serde_json::Value::Number(n) => n.as_f64(),
                        serde_json::Value::String(s) => trawler_sources::number::parse_number(s),
                        _ => None,
                    };
                    match (number("/campaign/raised"), number("/campaign/supporters")) {
                        (Some(pledged), Some(backers)) => Ok::<_, anyhow::Error>((pledged, backers)),
                        _ => bail!("a page without the two numbers"),
                    }
                };
                match page.await {
                    Ok((pledged, backers)) => {
                        let ts = trawler_domain::now_secs();
                        let project_id = ProjectId(i as i64 + 1);
                        let point = |metric: &'static str, value: f64| Point {
                            project_id,
                            platform: Platform::HttpJson,
                            metric: Metric::known(metric),
                            ts,
                            value,
                        };
                        // A blocking send only when the writer is behind:
                        // back-pressure, as trawler's ingest gives.
                        for p in [point(Metric::PLEDGED, pledged), point(Metric::BACKERS, backers)] {
                            let mut p = Some(p);
                            while let Some(item) = p.take() {
                                if let Err(std::sync::mpsc::TrySendError::Full(item)) = tx.try_send(item) {
                                    p = Some(item);
                                    tokio::task::yield_now().await;
                                }
                            }
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(warmup).await;
    let (s0, t0, cpu0) = (stored.load(Ordering::Relaxed), Instant::now(), super::cpu_seconds());
    tokio::time::sleep(seconds).await;
    let (s1, secs, cpu1) = (stored.load(Ordering::Relaxed), t0.elapsed().as_secs_f64(), super::cpu_seconds());
    for t in tasks {
        t.await.context("a fetch task failed")?;
    }
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))??;
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("the bare loop had {failed} failed fetches");
    }
    let pages = (s1 - s0) as f64;
    Ok(Ceiling { pages_per_s: pages / secs, cpu_s_per_1000: (cpu1 - cpu0) / pages.max(1.0) * 1000.0 })
}
