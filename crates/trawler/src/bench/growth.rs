//! The database's growth per day at a bench's cadence, projected from what
//! the run stored: points and runs per day (counted in the measured window),
//! times what each costs on disk once the compactor has moved the points
//! into chunks (measured on the run's own database). A run of minutes
//! leaves chunks of minutes, whose row costs more than their points: the
//! bytes per point it gives are an upper bound of a node's after weeks
//! (`bench storage` measures those).

use std::time::Duration;

use anyhow::Result;
use trawler_store::testing::TestDb;

/// The tables that hold points, and the one that holds runs.
const POINT_TABLES: [&str; 4] = ["points", "chunks", "series", "points_hourly"];

/// A projection of a day's growth.
pub(super) struct Growth {
    pub points_per_day: f64,
    pub bytes_per_point: f64,
    pub runs_per_day: f64,
    pub bytes_per_run: f64,
}

impl Growth {
    /// Bytes a day: points and runs. Runs are pruned after
    /// `TRAWLER_RUNS_RETENTION` (30 days), so their part stops growing then.
    pub fn bytes_per_day(&self) -> f64 {
        self.points_per_day * self.bytes_per_point + self.runs_per_day * self.bytes_per_run
    }

    /// Measures it on `db` after a run that stored `points` points and
    /// started `runs` runs in `window`: compacts every point (chunk span
    /// `span`, as the node would once their windows close), then weighs the
    /// tables.
    pub fn measure(db: &TestDb, points: i64, runs: usize, window: Duration, span: Duration) -> Result<Growth> {
        let mut conn = db.pool.get()?;
        let span = i64::try_from(span.as_secs()).unwrap_or(3600).max(1);
        // Every window closed: all points move, as they will in a day.
        let later = trawler_domain::now_secs().saturating_add(8 * 86_400);
        trawler_store::Chunks::compact(&mut conn, later, span, 20_000)?;
        let stored = trawler_store::Chunks::points_total(&mut conn)?.max(1);
        let run_rows = trawler_store::Run::count(&mut conn)?.max(1);
        drop(conn);
        let point_bytes = db.table_bytes(&POINT_TABLES)?;
        let run_bytes = db.table_bytes(&["runs"])?;
        let per_day = 86_400.0 / window.as_secs_f64().max(1.0);
        Ok(Growth {
            points_per_day: points as f64 * per_day,
            bytes_per_point: point_bytes as f64 / stored as f64,
            runs_per_day: runs as f64 * per_day,
            bytes_per_run: run_bytes as f64 / run_rows as f64,
        })
    }
}
