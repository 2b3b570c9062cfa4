//! The poll ledger: which fast-poll slots of each project started on time
//! and succeeded, so the poll side of the freshness SLO can be reported.
//!
//! Polls write no run rows (one per project every five minutes would bury
//! the full scrapes), so their slots are kept in memory, three bits per slot
//! (planned, met, failed) for the last day of slots: about 100 bytes per
//! project at a five-minute cadence. A restarted node starts a new ledger.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use trawler_domain::slo::Freshness;
use trawler_domain::ProjectId;

/// How long slots are kept.
const KEEP: Duration = Duration::from_secs(86_400);

/// One project's slots, as bit rings indexed by slot number from `base`.
#[derive(Debug, Default)]
struct Track {
    /// Slot number of bit 0 of the first word.
    base: i64,
    planned: VecDeque<u64>,
    met: VecDeque<u64>,
    failed: VecDeque<u64>,
}

impl Track {
    fn new(slot: i64) -> Track {
        Track { base: slot - slot.rem_euclid(64), ..Track::default() }
    }

    fn set(ring: &mut VecDeque<u64>, index: usize) {
        let word = index / 64;
        while ring.len() <= word {
            ring.push_back(0);
        }
        ring[word] |= 1 << (index % 64);
    }

    fn get(ring: &VecDeque<u64>, index: usize) -> bool {
        ring.get(index / 64).is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    fn index(&self, slot: i64) -> Option<usize> {
        (slot >= self.base).then(|| (slot - self.base) as usize)
    }

    /// Drops whole words older than `keep` slots before `newest`.
    fn trim(&mut self, newest: i64, keep: i64) {
        while newest - self.base >= keep + 64 && !self.planned.is_empty() {
            self.planned.pop_front();
            self.met.pop_front();
            self.failed.pop_front();
            self.base += 64;
        }
    }
}

/// The poll slots of one platform's projects.
#[derive(Debug)]
pub(crate) struct PollLedger {
    interval_ms: i64,
    keep_slots: i64,
    tracks: HashMap<ProjectId, Track>,
}

impl PollLedger {
    pub(crate) fn new(interval: Duration) -> PollLedger {
        let interval_ms = (interval.as_millis() as i64).max(1);
        PollLedger { interval_ms, keep_slots: (KEEP.as_millis() as i64 / interval_ms).max(1), tracks: HashMap::new() }
    }

    /// The slot number of a slot time.
    pub(crate) fn slot(&self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.interval_ms)
    }

    /// A poll of `project` is planned at `at_ms`: its slot counts.
    pub(crate) fn plan(&mut self, project: ProjectId, at_ms: i64) {
        let slot = self.slot(at_ms);
        let keep = self.keep_slots;
        let track = self.tracks.entry(project).or_insert_with(|| Track::new(slot));
        track.trim(slot, keep);
        if let Some(i) = track.index(slot) {
            Track::set(&mut track.planned, i);
            // Keep the rings the same length.
            let words = track.planned.len();
            track.met.resize(words, 0);
            track.failed.resize(words, 0);
        }
    }

    /// A planned poll ended: on time (within 1% of the interval) or not, and
    /// whether it succeeded. A failed source marks the slot failed even if
    /// the project's other sources on the platform did well.
    pub(crate) fn record(&mut self, project: ProjectId, at_ms: i64, on_time: bool, ok: bool) {
        let slot = self.slot(at_ms);
        let Some(track) = self.tracks.get_mut(&project) else { return };
        let Some(i) = track.index(slot) else { return };
        match (on_time, ok) {
            (true, true) => Track::set(&mut track.met, i),
            (true, false) => Track::set(&mut track.failed, i),
            (false, _) => {}
        }
    }

    /// A project left (archived): its slots are forgotten.
    pub(crate) fn forget(&mut self, project: ProjectId) {
        self.tracks.remove(&project);
    }

    /// Each tracked project's poll slots whose time falls in
    /// `[from_ms, to_ms]` and whose start window (1% of the interval) has
    /// passed by `to_ms`.
    pub(crate) fn freshness(
        &self,
        only: Option<ProjectId>,
        from_ms: i64,
        to_ms: i64,
        offset: impl Fn(ProjectId) -> i64,
    ) -> Vec<(ProjectId, Freshness)> {
        let tolerance = (self.interval_ms / 100).max(1);
        self.tracks
            .iter()
            .filter(|(p, _)| only.is_none_or(|o| o == **p))
            .map(|(&project, track)| {
                let mut f = Freshness { slots: 0, met: 0, failed: 0, missed: 0, share: None };
                let (lo, hi) = (self.slot(from_ms - offset(project)), self.slot(to_ms - tolerance - offset(project)));
                for slot in lo.max(track.base)..=hi {
                    let at = slot * self.interval_ms + offset(project);
                    let Some(i) = track.index(slot) else { continue };
                    if at < from_ms || !Track::get(&track.planned, i) {
                        continue;
                    }
                    f.slots += 1;
                    if Track::get(&track.failed, i) {
                        f.failed += 1;
                    } else if Track::get(&track.met, i) {
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
        let mut ledger = PollLedger::new(interval);
        let p = ProjectId(7);
        let offset = 42_000i64;
        let at = |k: i64| k * 300_000 + offset;
        for k in 100..110 {
            ledger.plan(p, at(k));
        }
        ledger.record(p, at(100), true, true);
        ledger.record(p, at(101), true, false);
        ledger.record(p, at(102), false, true); // late
        for k in 103..110 {
            ledger.record(p, at(k), true, true);
        }
        // Slot 109's start window (3 s) has not passed at its own time.
        let got = ledger.freshness(None, at(100), at(109), |_| offset);
        let f = got[0].1;
        assert_eq!((f.slots, f.met, f.failed, f.missed), (9, 7, 1, 1));
        let got = ledger.freshness(None, at(101), at(110), |_| offset);
        assert_eq!(got[0].1.slots, 9, "from slot 101 to 109");
        ledger.forget(p);
        assert!(ledger.freshness(None, 0, i64::MAX / 2, |_| offset).is_empty());
    }

    #[test]
    fn a_day_of_slots_is_kept() {
        let interval = Duration::from_secs(300);
        let mut ledger = PollLedger::new(interval);
        let p = ProjectId(1);
        for k in 0..2000 {
            ledger.plan(p, k * 300_000);
            ledger.record(p, k * 300_000, true, true);
        }
        let track = &ledger.tracks[&p];
        assert!(track.planned.len() <= 288 / 64 + 2, "{} words", track.planned.len());
        let f = ledger.freshness(None, 1999 * 300_000 - 86_400_000 + 300_000, 1999 * 300_000 + 3_000, |_| 0)[0].1;
        assert_eq!((f.slots, f.met), (288, 288));
    }
}
