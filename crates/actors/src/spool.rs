//! The spool: an append-only, fsync'd journal of point batches that could
//! not be written to the database. One JSON line per batch in
//! `<data dir>/spool/points.jsonl`. A batch is acknowledged to its scrapers
//! only after its line is on disk, so a crash (even `kill -9`) loses nothing
//! that was acknowledged; replaying is harmless because inserts are
//! idempotent. A torn last line (a crash mid-append, never acknowledged) is
//! skipped on reading.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use trawler_domain::Point;

/// The journal and its size.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    max_bytes: u64,
    bytes: u64,
    batches: u64,
    points: u64,
}

/// How full the spool is (for `/admin/actors`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SpoolDepth {
    /// Bytes on disk.
    pub bytes: u64,
    /// Batches waiting.
    pub batches: u64,
    /// Points waiting.
    pub points: u64,
    /// The size bound in bytes.
    pub max_bytes: u64,
}

/// The error for an append that would pass the bound.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool is at its size bound.
    #[error("the spool is full ({bytes} of {max} bytes)")]
    Full {
        /// Bytes on disk.
        bytes: u64,
        /// The bound.
        max: u64,
    },
    /// The disk failed.
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, counting what a previous
    /// process left in it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("points.jsonl");
        let mut spool = Spool { path, max_bytes, bytes: 0, batches: 0, points: 0 };
        let batches = spool.read_all()?;
        spool.bytes = std::fs::metadata(&spool.path).map(|m| m.len()).unwrap_or(0);
        spool.batches = batches.len() as u64;
        spool.points = batches.iter().map(|b| b.len() as u64).sum();
        Ok(spool)
    }

    /// Appends one batch and waits until it is on disk.
    pub fn append(&mut self, batch: &[Point]) -> Result<(), SpoolError> {
        let mut line = serde_json::to_string(batch).map_err(|e| SpoolError::Io(e.into()))?;
        line.push('\n');
        if self.bytes + line.len() as u64 > self.max_bytes {
            return Err(SpoolError::Full { bytes: self.bytes, max: self.max_bytes });
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        self.bytes += line.len() as u64;
        self.batches += 1;
        self.points += batch.len() as u64;
        Ok(())
    }

    /// Every complete batch, oldest first.
    pub fn read_all(&self) -> Result<Vec<Vec<Point>>, SpoolError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut batches = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line?;
            match serde_json::from_str::<Vec<Point>>(&line) {
                Ok(batch) => batches.push(batch),
                Err(e) => log::warn!("spool: skipping an unreadable line ({e}); a crash cut it short"),
            }
        }
        Ok(batches)
    }

    /// Empties the spool (after every batch reached the database).
    pub fn clear(&mut self) -> Result<(), SpoolError> {
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
        file.sync_all()?;
        self.bytes = 0;
        self.batches = 0;
        self.points = 0;
        Ok(())
    }

    /// Whether anything waits in it.
    pub fn is_empty(&self) -> bool {
        self.batches == 0
    }

    /// How full it is.
    pub fn depth(&self) -> SpoolDepth {
        SpoolDepth { bytes: self.bytes, batches: self.batches, points: self.points, max_bytes: self.max_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::{Metric, Platform, ProjectId};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("trawler_spool_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn point(ts: i64) -> Point {
        Point {
            project_id: ProjectId(1),
            platform: Platform::Html,
            metric: Metric::known(Metric::PLEDGED),
            ts,
            value: 1.5,
        }
    }

    #[test]
    fn batches_survive_a_reopen_and_a_torn_line_is_skipped() -> Result<(), SpoolError> {
        let d = dir("reopen");
        let mut spool = Spool::open(&d, 1 << 20)?;
        spool.append(&[point(1), point(2)])?;
        spool.append(&[point(3)])?;
        drop(spool);
        // A crash in the middle of an append leaves half a line.
        let mut f = OpenOptions::new().append(true).open(d.join("points.jsonl"))?;
        f.write_all(b"[{\"project_id\":1,\"plat")?;
        let spool = Spool::open(&d, 1 << 20)?;
        assert_eq!(spool.depth().batches, 2);
        assert_eq!(spool.depth().points, 3);
        assert_eq!(spool.read_all()?, vec![vec![point(1), point(2)], vec![point(3)]]);
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    }

    #[test]
    fn the_bound_is_enforced_and_clear_empties() -> Result<(), SpoolError> {
        let d = dir("bound");
        let mut spool = Spool::open(&d, 300)?;
        spool.append(&[point(1)])?;
        let big: Vec<Point> = (0..10).map(point).collect();
        assert!(matches!(spool.append(&big), Err(SpoolError::Full { .. })));
        assert_eq!(spool.depth().batches, 1);
        spool.clear()?;
        assert!(spool.is_empty());
        assert!(spool.read_all()?.is_empty());
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    }
}
