//! The freshness SLO: the share of a project's full-scrape slots in a window
//! that started within 1% of the interval after their slot time and
//! succeeded.

use std::time::Duration;

use serde::Serialize;

use crate::schedule::next_slot_ms;
use crate::RunStatus;

/// The default target: 99.9% of slots on time and successful.
pub const DEFAULT_TARGET: f64 = 0.999;

/// A project's freshness over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Freshness {
    /// Slots whose start window ended inside the window.
    pub slots: u64,
    /// Slots with a successful run started on time.
    pub met: u64,
    /// Slots with a run started on time that did not succeed.
    pub failed: u64,
    /// Slots with no run started on time (late or missing).
    pub missed: u64,
    /// `met / slots`; `None` without slots.
    pub share: Option<f64>,
}

/// Counts a project's full-scrape slots in `[from_ms, to_ms]` against its
/// runs (`(started_at_ms, status)`, any order). A slot counts once its start
/// window (`interval / 100`) has passed; runs outside every start window do
/// not count.
pub fn freshness(runs: &[(i64, RunStatus)], interval: Duration, offset_ms: u64, from_ms: i64, to_ms: i64) -> Freshness {
    let len = interval.as_millis().max(1) as i64;
    let tolerance = (len / 100).max(1);
    let mut starts: Vec<(i64, RunStatus)> = runs.to_vec();
    starts.sort_unstable_by_key(|r| r.0);
    let mut out = Freshness { slots: 0, met: 0, failed: 0, missed: 0, share: None };
    // The first slot at or after `from_ms`.
    let mut slot = next_slot_ms(from_ms - 1, interval, offset_ms);
    while slot + tolerance <= to_ms {
        out.slots += 1;
        let lo = starts.partition_point(|r| r.0 < slot);
        let on_time = starts[lo..].iter().take_while(|r| r.0 <= slot + tolerance);
        let mut any = false;
        let mut ok = false;
        for r in on_time {
            any = true;
            ok |= r.1 == RunStatus::Succeeded;
        }
        match (any, ok) {
            (_, true) => out.met += 1,
            (true, false) => out.failed += 1,
            (false, _) => out.missed += 1,
        }
        slot += len;
    }
    out.share = (out.slots > 0).then(|| out.met as f64 / out.slots as f64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);
    const MS: i64 = 3_600_000;

    #[test]
    fn slots_count_on_time_successes_only() {
        // Hourly slots at :10 (offset 10 min); a 24-hour window.
        let offset = 600_000u64;
        let from = 0;
        let to = 24 * MS;
        let mut runs = Vec::new();
        for k in 0..24 {
            let slot = k * MS + offset as i64;
            match k {
                3 => runs.push((slot + 36_001, RunStatus::Succeeded)), // 1 ms past 1% of an hour: late
                5 => runs.push((slot + 1_000, RunStatus::Failed)),
                7 => {}                                                // missing
                9 => runs.push((slot + 36_000, RunStatus::Succeeded)), // at the edge: on time
                _ => runs.push((slot + 200, RunStatus::Succeeded)),
            }
        }
        runs.push((5 * MS + 1_000_000, RunStatus::Succeeded)); // a manual run outside any window
        let f = freshness(&runs, H, offset, from, to);
        assert_eq!((f.slots, f.met, f.failed, f.missed), (24, 21, 1, 2));
        assert!((f.share.expect("slots") - 21.0 / 24.0).abs() < 1e-12);
    }

    #[test]
    fn a_slot_counts_once_its_start_window_has_passed() {
        let offset = 0u64;
        // The window ends 10 s after a slot: its 36 s start window is open.
        let f = freshness(&[], H, offset, 0, 2 * MS + 10_000);
        assert_eq!(f.slots, 2);
        let f = freshness(&[], H, offset, 0, 2 * MS + 36_000);
        assert_eq!(f.slots, 3);
        assert_eq!(freshness(&[], H, offset, 10, 20).share, None);
    }
}
