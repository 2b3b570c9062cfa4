//! The spool: an append-only, fsync'd journal of point batches, one JSON
//! line per batch, in `<data dir>/spool/`. The IngestActor acknowledges a
//! batch to its scrapers once its line is on disk, then writes it to the
//! database behind the acknowledgement (or, while the database is down,
//! keeps it here until a drain replays it). A crash, even `kill -9`, loses
//! nothing that was acknowledged; replaying is harmless because inserts are
//! idempotent.
//!
//! Appends go to `points.jsonl`. Past [`SEGMENT_BYTES`] it is sealed
//! (renamed `points-N.jsonl`) and a new one begins, so the batches already
//! in the database can be let go a segment at a time
//! ([`Spool::written_through`]) while newer ones keep arriving. A torn last
//! line (a crash mid-append, never acknowledged) is cut off at opening.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use trawler_domain::Point;

/// Size past which the segment being appended to is sealed.
pub const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// The file appends go to.
const ACTIVE: &str = "points.jsonl";

/// What one segment holds.
#[derive(Debug, Clone, Copy, Default)]
struct Segment {
    bytes: u64,
    batches: u64,
    points: u64,
    /// Sequence number of its newest batch.
    last_seq: u64,
}

/// The journal and its size.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// `points.jsonl`, open for appending once used.
    active: Segment,
    active_file: Option<File>,
    /// Sealed segments, oldest first.
    sealed: Vec<(PathBuf, Segment)>,
    next_number: u64,
    /// Sequence number of the newest batch appended (batches are numbered
    /// from 1 in the order they were appended, those found at opening first).
    seq: u64,
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

/// The number in a sealed segment's name.
fn sealed_number(name: &str) -> Option<u64> {
    name.strip_prefix("points-")?.strip_suffix(".jsonl")?.parse().ok()
}

/// Every complete batch of one file; unreadable lines are skipped.
fn read_file(path: &Path) -> Result<Vec<Vec<Point>>, SpoolError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut batches = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        match serde_json::from_str::<Vec<Point>>(&line) {
            Ok(batch) => batches.push(batch),
            Err(e) => log::warn!("spool: skipping an unreadable line in {} ({e})", path.display()),
        }
    }
    Ok(batches)
}

/// Cuts a torn last line (no newline at the end) off the file.
fn cut_torn_tail(path: &Path) -> Result<(), SpoolError> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut content = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut content)?;
    let keep = content.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    log::warn!("spool: cutting {} bytes a crash left half-written", len - keep as u64);
    file.set_len(keep as u64)?;
    file.sync_all()?;
    Ok(())
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, counting what a previous
    /// process left in it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir)?;
        let mut numbered: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Some(n) = entry.file_name().to_str().and_then(sealed_number) {
                numbered.push((n, entry.path()));
            }
        }
        numbered.sort();
        let mut spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: SEGMENT_BYTES,
            active: Segment::default(),
            active_file: None,
            sealed: Vec::new(),
            next_number: numbered.last().map_or(1, |(n, _)| n + 1),
            seq: 0,
        };
        let count = |path: &Path, seq: &mut u64| -> Result<Segment, SpoolError> {
            let batches = read_file(path)?;
            *seq += batches.len() as u64;
            Ok(Segment {
                bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                batches: batches.len() as u64,
                points: batches.iter().map(|b| b.len() as u64).sum(),
                last_seq: *seq,
            })
        };
        for (_, path) in numbered {
            let segment = count(&path, &mut spool.seq)?;
            spool.sealed.push((path, segment));
        }
        let active = dir.join(ACTIVE);
        cut_torn_tail(&active)?;
        spool.active = count(&active, &mut spool.seq)?;
        Ok(spool)
    }

    /// The same spool sealing its segments past `bytes` instead of
    /// [`SEGMENT_BYTES`].
    pub fn with_segment_bytes(mut self, bytes: u64) -> Spool {
        self.segment_bytes = bytes.max(1);
        self
    }

    fn total_bytes(&self) -> u64 {
        self.active.bytes + self.sealed.iter().map(|(_, s)| s.bytes).sum::<u64>()
    }

    /// Appends one batch and waits until it is on disk; returns its
    /// sequence number.
    pub fn append(&mut self, batch: &[Point]) -> Result<u64, SpoolError> {
        let mut line = serde_json::to_vec(batch).map_err(|e| SpoolError::Io(e.into()))?;
        line.push(b'\n');
        let bytes = self.total_bytes();
        if bytes + line.len() as u64 > self.max_bytes {
            return Err(SpoolError::Full { bytes, max: self.max_bytes });
        }
        if self.active.bytes >= self.segment_bytes {
            self.seal()?;
        }
        let created = self.active_file.is_none();
        let mut file = match self.active_file.take() {
            Some(f) => f,
            None => OpenOptions::new().create(true).append(true).open(self.dir.join(ACTIVE))?,
        };
        if let Err(e) = file.write_all(&line).and_then(|()| file.sync_data()) {
            // Leave no half line for the next append to run into.
            let _ = file.set_len(self.active.bytes);
            return Err(e.into());
        }
        self.active_file = Some(file);
        if created {
            // The file's name must survive a crash as well as its lines.
            File::open(&self.dir)?.sync_all()?;
        }
        self.seq += 1;
        self.active.bytes += line.len() as u64;
        self.active.batches += 1;
        self.active.points += batch.len() as u64;
        self.active.last_seq = self.seq;
        Ok(self.seq)
    }

    /// Starts a new segment; the current one keeps its batches under a
    /// numbered name.
    fn seal(&mut self) -> Result<(), SpoolError> {
        if self.active.batches == 0 {
            return Ok(());
        }
        self.active_file = None;
        let path = self.dir.join(format!("points-{}.jsonl", self.next_number));
        std::fs::rename(self.dir.join(ACTIVE), &path)?;
        File::open(&self.dir)?.sync_all()?;
        self.next_number += 1;
        self.sealed.push((path, std::mem::take(&mut self.active)));
        Ok(())
    }

    /// Sequence number of the newest batch appended.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Lets go of every segment whose batches all have a sequence number up
    /// to `seq` (they are in the database).
    pub fn written_through(&mut self, seq: u64) -> Result<(), SpoolError> {
        while let Some((path, segment)) = self.sealed.first() {
            if segment.last_seq > seq {
                break;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            self.sealed.remove(0);
        }
        if self.active.batches > 0 && self.active.last_seq <= seq {
            match self.active_file.as_ref() {
                Some(file) => file.set_len(0)?,
                None => {
                    OpenOptions::new().write(true).truncate(true).open(self.dir.join(ACTIVE))?;
                }
            }
            self.active = Segment { last_seq: self.active.last_seq, ..Segment::default() };
        }
        Ok(())
    }

    /// Every complete batch, oldest first.
    pub fn read_all(&self) -> Result<Vec<Vec<Point>>, SpoolError> {
        let mut batches = Vec::new();
        for (path, _) in &self.sealed {
            batches.extend(read_file(path)?);
        }
        batches.extend(read_file(&self.dir.join(ACTIVE))?);
        Ok(batches)
    }

    /// Empties the spool (after every batch reached the database).
    pub fn clear(&mut self) -> Result<(), SpoolError> {
        self.written_through(self.seq)
    }

    /// Whether anything waits in it.
    pub fn is_empty(&self) -> bool {
        self.depth().batches == 0
    }

    /// How full it is.
    pub fn depth(&self) -> SpoolDepth {
        let segments = self.sealed.iter().map(|(_, s)| s).chain(std::iter::once(&self.active));
        let mut depth = SpoolDepth { max_bytes: self.max_bytes, ..SpoolDepth::default() };
        for s in segments {
            depth.bytes += s.bytes;
            depth.batches += s.batches;
            depth.points += s.points;
        }
        depth
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

    #[test]
    fn a_torn_tail_is_cut_so_the_next_append_is_readable() -> Result<(), SpoolError> {
        let d = dir("torn");
        let mut spool = Spool::open(&d, 1 << 20)?;
        spool.append(&[point(1)])?;
        drop(spool);
        let mut f = OpenOptions::new().append(true).open(d.join("points.jsonl"))?;
        f.write_all(b"[{\"project_id\":1")?;
        let mut spool = Spool::open(&d, 1 << 20)?;
        spool.append(&[point(2)])?;
        assert_eq!(Spool::open(&d, 1 << 20)?.read_all()?, vec![vec![point(1)], vec![point(2)]]);
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    }

    #[test]
    fn segments_are_let_go_once_written_through_and_survive_a_reopen() -> Result<(), SpoolError> {
        let d = dir("segments");
        // Every append past the first seals the segment before it.
        let mut spool = Spool::open(&d, 1 << 20)?.with_segment_bytes(1);
        let seqs: Vec<u64> = (1..=5).map(|ts| spool.append(&[point(ts)])).collect::<Result<_, _>>()?;
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        let files = || -> Result<usize, SpoolError> { Ok(std::fs::read_dir(&d)?.count()) };
        assert_eq!(files()?, 5);
        spool.written_through(3)?;
        assert_eq!(files()?, 2);
        assert_eq!(spool.depth().points, 2);
        assert_eq!(spool.read_all()?, vec![vec![point(4)], vec![point(5)]]);
        drop(spool);
        // A new process finds the same two batches, in order, and numbers
        // its appends after them.
        let mut spool = Spool::open(&d, 1 << 20)?;
        assert_eq!(spool.depth().batches, 2);
        assert_eq!(spool.last_seq(), 2);
        assert_eq!(spool.append(&[point(6)])?, 3);
        assert_eq!(spool.read_all()?, vec![vec![point(4)], vec![point(5)], vec![point(6)]]);
        // Written through everything: nothing is left but an empty file.
        spool.written_through(spool.last_seq())?;
        assert!(spool.is_empty());
        assert_eq!(spool.depth().bytes, 0);
        assert!(Spool::open(&d, 1 << 20)?.read_all()?.is_empty());
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    }
}
