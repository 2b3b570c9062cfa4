//! The poll ledger: which fast-poll slots of each project started on time
//! and succeeded, so the poll side of the freshness SLO can be reported.
//!
//! Polls write no run rows (one per project every five minutes would bury
//! the full scrapes), so their slots are kept in memory, three bits per slot
//! (planned, met, failed) for the last day of slots: about 100 bytes per
//! project at a five-minute cadence. Each project's slots follow its own
//! poll interval; a new interval starts a new track (the old interval's
//! slots are forgotten). A restarted node starts a new ledger.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use trawler_domain::slo::Freshness;
use trawler_domain::ProjectId;

/// How long slots are kept.
const KEEP: Duration = Duration::from_secs(86_400);

/// Which bit of a slot's word: planned, met, failed.
const PLANNED: usize = 0;
const MET: usize = 1;
const FAILED: usize = 2;

/// One project's slots, as a ring of bit words indexed by slot number from
/// `base`.
#[derive(Debug, Default)]
struct Track {
    /// Its poll interval, ms: slot k is at `k × interval_ms + offset_ms`.
    interval_ms: i64,
    offset_ms: i64,
    keep_slots: i64,
    /// Slot number of bit 0 of the first word.
    base: i64,
    /// Per 64 slots, their planned, met and failed bits: one allocation
    /// per project, not one per kind.
    words: VecDeque<[u64; 3]>,
}

impl Track {
    fn new(at_ms: i64, interval_ms: i64) -> Track {
        let slot = at_ms.div_euclid(interval_ms);
        Track {
            interval_ms,
            offset_ms: at_ms.rem_euclid(interval_ms),
            keep_slots: (KEEP.as_millis() as i64 / interval_ms).max(1),
            base: slot - slot.rem_euclid(64),
            ..Track::default()
        }
    }

    /// The slot number of a slot time, if it is one of this track's.
    fn slot(&self, at_ms: i64) -> Option<i64> {
        (at_ms.rem_euclid(self.interval_ms) == self.offset_ms).then(|| at_ms.div_euclid(self.interval_ms))
    }

    fn set(&mut self, bit: usize, index: usize) {
        let word = index / 64;
        while self.words.len() <= word {
            self.words.push_back([0; 3]);
        }
        self.words[word][bit] |= 1 << (index % 64);
    }

    fn get(&self, bit: usize, index: usize) -> bool {
        self.words.get(index / 64).is_some_and(|w| w[bit] & (1 << (index % 64)) != 0)
    }

    fn index(&self, slot: i64) -> Option<usize> {
        (slot >= self.base).then(|| (slot - self.base) as usize)
    }

    /// Drops whole words older than `keep` slots before `newest`.
    fn trim(&mut self, newest: i64, keep: i64) {
        while newest - self.base >= keep + 64 && !self.words.is_empty() {
            self.words.pop_front();
            self.base += 64;
        }
    }
}

/// The poll slots of one platform's projects.
#[derive(Debug, Default)]
pub(crate) struct PollLedger {
    tracks: HashMap<ProjectId, Track>,
}

impl PollLedger {
    pub(crate) fn new() -> PollLedger {
        PollLedger::default()
    }

    /// A poll of `project` is planned at `at_ms`, in its schedule of one
    /// poll every `interval`: its slot counts.
    pub(crate) fn plan(&mut self, project: ProjectId, at_ms: i64, interval: Duration) {
        let interval_ms = (interval.as_millis() as i64).max(1);
        let track = self.tracks.entry(project).or_insert_with(|| Track::new(at_ms, interval_ms));
        if track.interval_ms != interval_ms || track.slot(at_ms).is_none() {
            *track = Track::new(at_ms, interval_ms);
        }
        let Some(slot) = track.slot(at_ms) else { return };
        let keep = track.keep_slots;
        track.trim(slot, keep);
        if let Some(i) = track.index(slot) {
            track.set(PLANNED, i);
        }
    }

    /// A planned poll ended: on time (within 1% of the interval) or not, and
    /// whether it succeeded. A failed source marks the slot failed even if
    /// the project's other sources on the platform did well.
    pub(crate) fn record(&mut self, project: ProjectId, at_ms: i64, on_time: bool, ok: bool) {
        let Some(track) = self.tracks.get_mut(&project) else { return };
        let Some(i) = track.slot(at_ms).and_then(|slot| track.index(slot)) else { return };
        match (on_time, ok) {
            (true, true) => track.set(MET, i),
            (true, false) => track.set(FAILED, i),
            (false, _) => {}
        }
    }

    /// A project left (archived): its slots are forgotten.
    pub(crate) fn forget(&mut self, project: ProjectId) {
        self.tracks.remove(&project);
    }

    /// Each tracked project's poll slots whose time falls in
    /// `[from_ms, to_ms]` and whose start window (1% of its interval) has
    /// passed by `to_ms`.
    pub(crate) fn freshness(&self, only: Option<ProjectId>, from_ms: i64, to_ms: i64) -> Vec<(ProjectId, Freshness)> {
        self.tracks
            .iter()
            .filter(|(p, _)| only.is_none_or(|o| o == **p))
            .map(|(&project, track)| {
                let mut f = Freshness { slots: 0, met: 0, failed: 0, missed: 0, share: None };
                let (every, offset) = (track.interval_ms, track.offset_ms);
                let tolerance = (every / 100).max(1);
                let (lo, hi) = ((from_ms - offset).div_euclid(every), (to_ms - tolerance - offset).div_euclid(every));
                for slot in lo.max(track.base)..=hi {
                    let at = slot * every + offset;
                    let Some(i) = track.index(slot) else { continue };
                    if at < from_ms || !track.get(PLANNED, i) {
                        continue;
                    }
                    f.slots += 1;
                    if track.get(FAILED, i) {
                        f.failed += 1;
                    } else if track.get(MET, i) {
                        f.met += 1;
                    } else {
                        f.missed += 1;
                    }
                }
                f.share = (f.slots > 0).then(|| f.met as f64 / f.slots as f64);
                (project, f)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_once_planned_and_split_into_met_failed_and_missed() {
        let interval = Duration::from_secs(300);
        let mut ledger = PollLedger::new();
        let p = ProjectId(7);
        let offset = 42_000i64;
        let at = |k: i64| k * 300_000 + offset;
        for k in 100..110 {
            ledger.plan(p, at(k), interval);
        }
        ledger.record(p, at(100), true, true);
        ledger.record(p, at(101), true, false);
        ledger.record(p, at(102), false, true); // late
        for k in 103..110 {
            ledger.record(p, at(k), true, true);
        }
        // Slot 109's start window (3 s) has not passed at its own time.
        let got = ledger.freshness(None, at(100), at(109));
        let f = got[0].1;
        assert_eq!((f.slots, f.met, f.failed, f.missed), (9, 7, 1, 1));
        let got = ledger.freshness(None, at(101), at(110));
        assert_eq!(got[0].1.slots, 9, "from slot 101 to 109");
        ledger.forget(p);
        assert!(ledger.freshness(None, 0, i64::MAX / 2).is_empty());
    }

    #[test]
    fn a_day_of_slots_is_kept() {
        let interval = Duration::from_secs(300);
        let mut ledger = PollLedger::new();
        let p = ProjectId(1);
        for k in 0..2000 {
            ledger.plan(p, k * 300_000, interval);
            ledger.record(p, k * 300_000, true, true);
        }
        let track = &ledger.tracks[&p];
        assert!(track.words.len() <= 288 / 64 + 2, "{} words", track.words.len());
        let f = ledger.freshness(None, 1999 * 300_000 - 86_400_000 + 300_000, 1999 * 300_000 + 3_000)[0].1;
        assert_eq!((f.slots, f.met), (288, 288));
    }

    #[test]
    fn each_project_counts_at_its_own_interval_and_a_new_interval_starts_afresh() {
        let mut ledger = PollLedger::new();
        let (fast, slow) = (ProjectId(1), ProjectId(2));
        let (two_s, five_min) = (Duration::from_secs(2), Duration::from_secs(300));
        // Over ten minutes: 300 slots of the fast one, 2 of the slow one.
        let start = 1_000 * 600_000;
        for k in 0..300 {
            let at = start + 700 + k * 2_000;
            ledger.plan(fast, at, two_s);
            ledger.record(fast, at, true, k % 10 != 0);
        }
        for k in 0..2 {
            let at = start + 42_000 + k * 300_000;
            ledger.plan(slow, at, five_min);
            ledger.record(slow, at, true, true);
        }
        let mut got = ledger.freshness(None, start, start + 600_000);
        got.sort_by_key(|(p, _)| *p);
        let (f, s) = (got[0].1, got[1].1);
        assert_eq!((f.slots, f.met, f.failed), (300, 270, 30), "{f:?}");
        assert_eq!((s.slots, s.met), (2, 2), "{s:?}");
        // A record for a time that is not one of the track's slots counts
        // nowhere (a poll planned under an interval since changed).
        ledger.record(slow, start + 43_000, true, false);
        assert_eq!(ledger.freshness(Some(slow), start, start + 600_000)[0].1.failed, 0);
        // The fast one moves to a minute: its two-second slots are forgotten.
        let at = start + 600_000 + 31_000;
        ledger.plan(fast, at, Duration::from_secs(60));
        ledger.record(fast, at, true, true);
        let f = ledger.freshness(Some(fast), start, start + 700_000)[0].1;
        assert_eq!((f.slots, f.met), (1, 1), "{f:?}");
    }
}
