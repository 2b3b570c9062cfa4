//! The IngestActor with its journal against a real database: what it
//! acknowledged survives the process, and a `points` event waits for the
//! database.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, SyncArbiter};
use anyhow::{bail, Result};
use trawler_actors::{
    ActorInfo, ActorStatus, DbExecutor, Flush, GetIngestState, IngestActor, IngestConfig, IngestPoints, Mailbox,
    Metrics, Spool,
};
use trawler_domain::{Metric, Platform, Point, ProjectId};
use trawler_store::testing::TestDb;

fn spool_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trawler_ingest_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Message `i`: ten points of project `1 + i % 50`.
fn message(i: usize) -> Vec<Point> {
    (0..10)
        .map(|k| Point {
            project_id: ProjectId(1 + (i % 50) as i64),
            platform: Platform::Kickstarter,
            metric: Metric::known(if k % 2 == 0 { Metric::PLEDGED } else { Metric::BACKERS }),
            ts: 1_780_000_000 + (i * 10 + k) as i64,
            value: (i * 10 + k) as f64,
        })
        .collect()
}

fn start(db: &TestDb, spool: &Path) -> Result<Addr<IngestActor>> {
    let pool = db.pool.clone();
    let executor = SyncArbiter::start(2, move || DbExecutor::new(pool.clone()));
    let published = Arc::new(Mutex::new(ActorInfo::new("ingest", "ingest".into(), ActorStatus::Idle)));
    let spool = Spool::open(spool, 1 << 30)?;
    Ok(IngestActor::new(executor, IngestConfig::default(), Mailbox::default(), Some(spool), published, Metrics::new())
        .start())
}

fn stored(db: &TestDb) -> Result<i64> {
    let mut conn = db.pool.get()?;
    let mut n = 0;
    for p in 1..=50 {
        n += trawler_store::Point::count_for_project(&mut conn, ProjectId(p))?;
    }
    Ok(n)
}

/// 64 senders send 500 messages and wait for each acknowledgement; the
/// process then ends without a flush. A new process on the same spool
/// writes whatever the first left behind: every acknowledged point is
/// stored, once.
fn acknowledged_points_survive_the_process(db: TestDb, name: &str) -> Result<()> {
    let dir = spool_dir(name);
    let acked = Arc::new(AtomicUsize::new(0));
    actix::System::new().block_on({
        let (db, dir, acked) = (&db, dir.clone(), acked.clone());
        async move {
            let ingest = start(db, &dir)?;
            let next = Arc::new(AtomicUsize::new(0));
            let senders = (0..64).map(|_| {
                let (ingest, next, acked) = (ingest.clone(), next.clone(), acked.clone());
                async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= 500 {
                            return Ok::<(), anyhow::Error>(());
                        }
                        ingest.send(IngestPoints::new(message(i))).await?.map_err(anyhow::Error::msg)?;
                        acked.fetch_add(10, Ordering::SeqCst);
                    }
                }
            });
            for r in futures_util::future::join_all(senders).await {
                r?;
            }
            Ok::<(), anyhow::Error>(())
        }
    })?;
    assert_eq!(acked.load(Ordering::SeqCst), 5000);
    eprintln!("left in the journal: {:?}; stored: {}", Spool::open(&dir, 1 << 30)?.depth(), stored(&db)?);

    actix::System::new().block_on(async {
        let ingest = start(&db, &dir)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = ingest.send(GetIngestState).await?;
            if state.detail["spool"]["batches"] == 0 && stored(&db)? == 5000 {
                break;
            }
            if Instant::now() > deadline {
                bail!("the journal was not written: {} of 5000 points stored; {}", stored(&db)?, state.detail);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Sent again, nothing is stored twice.
        ingest.send(IngestPoints::new(message(7))).await?.map_err(anyhow::Error::msg)?;
        ingest.send(Flush).await?.map_err(anyhow::Error::msg)?;
        assert_eq!(stored(&db)?, 5000);
        Ok::<(), anyhow::Error>(())
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn acknowledged_points_survive_the_process_sqlite() -> Result<()> {
    acknowledged_points_survive_the_process(TestDb::sqlite()?, "survive_sqlite")
}

#[test]
fn acknowledged_points_survive_the_process_postgres() -> Result<()> {
    let Some(db) = TestDb::postgres() else {
        eprintln!("skipped: no PostgreSQL");
        return Ok(());
    };
    acknowledged_points_survive_the_process(db?, "survive_postgres")
}

/// What waits for the write (the `points` event) finds the points in the
/// database when it runs, for every message, while the acknowledgements
/// come from the journal.
#[test]
fn on_written_runs_once_the_points_are_readable() -> Result<()> {
    let db = TestDb::sqlite()?;
    let dir = spool_dir("on_written");
    let misses = Arc::new(Mutex::new(Vec::new()));
    actix::System::new().block_on(async {
        let ingest = start(&db, &dir)?;
        let sends = (0..200).map(|i| {
            let (pool, misses) = (db.pool.clone(), misses.clone());
            let points = message(i);
            let first = points[0].clone();
            let message = IngestPoints::new(points).on_written(move || {
                let found = pool.get().ok().and_then(|mut conn| {
                    trawler_store::Point::observations_at(&mut conn, first.project_id, first.ts).ok()
                });
                if !found.is_some_and(|o| o.iter().any(|o| o.ts == first.ts)) {
                    misses.lock().unwrap_or_else(|p| p.into_inner()).push(i);
                }
            });
            ingest.send(message)
        });
        for r in futures_util::future::join_all(sends).await {
            r?.map_err(anyhow::Error::msg)?;
        }
        ingest.send(Flush).await?.map_err(anyhow::Error::msg)?;
        Ok::<(), anyhow::Error>(())
    })?;
    let misses = misses.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(misses.is_empty(), "messages whose on_written ran before their points were readable: {misses:?}");
    assert_eq!(stored(&db)?, 2000);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
