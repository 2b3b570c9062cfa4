//! Schedule math: when each project's scrape runs.
//!
//! Like Prometheus' `Target.offset`, every project gets a stable offset
//! inside the interval from a hash of its id, so N projects spread evenly
//! over the window instead of all firing at start-up or on the hour. A slot
//! is `k × interval + offset` for integer k; the next slot after a moment is
//! pure arithmetic, so a node that was down runs the missed slot once (the
//! next slot is simply the next one from now) and never bursts to catch up.

use std::time::Duration;

/// Seed of the full-scrape schedule.
pub const FULL_SEED: u64 = 0x4655_4c4c; // "FULL"
/// Seed of the fast-poll schedule (so a project's poll and full scrape do
/// not coincide).
pub const POLL_SEED: u64 = 0x504f_4c4c; // "POLL"

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash of an integer.
/// Stable across versions and platforms (unlike `std`'s `DefaultHasher`),
/// which matters because offsets must not move when the binary is upgraded.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The offset of `key` inside `interval`, in milliseconds:
/// `hash(key) mod interval`. `seed` separates schedules that share keys (the
/// full scrape and the fast poll of one project should not coincide).
pub fn offset_ms(key: u64, seed: u64, interval: Duration) -> u64 {
    let len = interval.as_millis().max(1) as u64;
    mix64(key ^ mix64(seed)) % len
}

/// The first slot strictly after `now_ms` (epoch milliseconds) for a
/// schedule of `interval` shifted by `offset_ms`.
pub fn next_slot_ms(now_ms: i64, interval: Duration, offset_ms: u64) -> i64 {
    let len = interval.as_millis().max(1) as i64;
    let offset = (offset_ms as i64).rem_euclid(len);
    // Slots are k*len + offset; find the smallest one > now.
    let k = (now_ms - offset).div_euclid(len) + 1;
    k * len + offset
}

/// The latest slot at or before `now_ms`: the slot a run starting now belongs to.
pub fn current_slot_ms(now_ms: i64, interval: Duration, offset_ms: u64) -> i64 {
    let len = interval.as_millis().max(1) as i64;
    next_slot_ms(now_ms, interval, offset_ms) - len
}

/// The slots of `key`'s schedule (every `interval`, at its hashed offset
/// for `seed`) in `[from_ms, to_ms)`, in order.
pub fn slots_between(key: u64, seed: u64, interval: Duration, from_ms: i64, to_ms: i64) -> impl Iterator<Item = i64> {
    let len = interval.as_millis().clamp(1, i64::MAX as u128) as i64;
    let first = next_slot_ms(from_ms.saturating_sub(1), interval, offset_ms(key, seed, interval));
    std::iter::successors(Some(first), move |at| at.checked_add(len)).take_while(move |at| *at < to_ms)
}

/// A project's own interval for one kind of run from what is stored:
/// `None` follows the node's `default`, `0` (or less) is manual only
/// (`None`: nothing is scheduled).
pub fn own_interval(stored_ms: Option<i64>, default: Duration) -> Option<Duration> {
    match stored_ms {
        None => Some(default),
        Some(ms) if ms <= 0 => None,
        Some(ms) => Some(Duration::from_millis(ms as u64)),
    }
}

/// After a scraper starts (a node start or a restart): the delay of the one
/// catch-up run owed when the project's current full-scrape slot passed
/// without a run (its latest run started before that slot, or it never
/// ran), or `None` when the slot has its run. However many slots were
/// missed, one run is owed; the delays of many projects spread over up to a
/// minute (less for shorter intervals) by `key`, so a node starting with
/// many projects does not burst. `None` too when the next slot comes before
/// that delay ends: the slot's own run is the one owed, and a catch-up
/// after it would have pushed the slot out (a missed slot in the SLO).
pub fn catch_up_delay(key: u64, last_started_ms: Option<i64>, now_ms: i64, interval: Duration) -> Option<Duration> {
    let offset = offset_ms(key, FULL_SEED, interval);
    let missed = last_started_ms.is_none_or(|t| t < current_slot_ms(now_ms, interval, offset));
    let window = interval.min(Duration::from_secs(60));
    let delay = Duration::from_millis(offset_ms(key, !FULL_SEED, window));
    let next_slot = next_slot_ms(now_ms, interval, offset);
    (missed && now_ms.saturating_add(delay.as_millis() as i64) < next_slot).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_between_are_the_schedule_inside_a_window() {
        let (w, key) = (300_000i64, 77u64);
        let window = 1_000 * w;
        // At the window's own length: one slot, at the offset.
        let own = Duration::from_millis(w as u64);
        let one: Vec<i64> = slots_between(key, POLL_SEED, own, window, window + w).collect();
        assert_eq!(one, vec![window + offset_ms(key, POLL_SEED, own) as i64]);
        // Every 7 s: 42 or 43 slots, 7 s apart, all inside, none missed
        // at either end.
        let every = Duration::from_secs(7);
        let got: Vec<i64> = slots_between(key, POLL_SEED, every, window, window + w).collect();
        assert!(got.len() == 42 || got.len() == 43, "{}", got.len());
        assert!(got.windows(2).all(|p| p[1] - p[0] == 7_000));
        assert!(got[0] >= window && got[0] < window + 7_000 && *got.last().unwrap() >= window + w - 7_000);
        assert!(got.iter().all(|t| (t - offset_ms(key, POLL_SEED, every) as i64) % 7_000 == 0));
        // Longer than the window: a slot only in the windows that hold one.
        let day = Duration::from_secs(86_400);
        let windows = (0..288).filter(|k| slots_between(key, POLL_SEED, day, k * w, (k + 1) * w).count() == 1).count();
        assert_eq!(windows, 1);
    }

    #[test]
    fn a_missed_slot_owes_one_catch_up_run_soon() {
        let interval = Duration::from_secs(2);
        let now = 1_000_000_000_000i64;
        let slot = current_slot_ms(now, interval, offset_ms(7, FULL_SEED, interval));
        // The slot has its run: nothing owed.
        assert_eq!(catch_up_delay(7, Some(slot), now, interval), None);
        assert_eq!(catch_up_delay(7, Some(slot + 1), now, interval), None);
        // Missed by one slot or by three: one run, at the same spread delay.
        let one = catch_up_delay(7, Some(slot - 1), now, interval);
        let three = catch_up_delay(7, Some(slot - 6_000), now, interval);
        assert!(one.is_some_and(|d| d < interval), "{one:?}");
        assert_eq!(one, three);
        // A project that never ran is owed its run too.
        assert_eq!(catch_up_delay(7, None, now, interval), one);
    }

    #[test]
    fn a_slot_due_before_the_catch_up_is_the_run_owed() {
        let interval = Duration::from_secs(30);
        for key in 0..200u64 {
            let offset = offset_ms(key, FULL_SEED, interval);
            let start = 1_000_000_000_000i64;
            for step in 0..30 {
                let now = start + step * 1_000;
                let next = next_slot_ms(now, interval, offset);
                match catch_up_delay(key, None, now, interval) {
                    // The catch-up runs before the next slot.
                    Some(delay) => assert!(now + (delay.as_millis() as i64) < next, "key {key} at {step} s"),
                    // Nothing owed before the slot: the slot comes sooner
                    // than the spread delay would have.
                    None => {
                        let delay = offset_ms(key, !FULL_SEED, interval) as i64;
                        assert!(now + delay >= next, "key {key} at {step} s: no catch-up, slot in {} ms", next - now);
                    }
                }
            }
        }
    }

    #[test]
    fn catch_up_runs_spread_over_at_most_a_minute() {
        let now = 1_700_000_000_000i64;
        let delays: Vec<Duration> = (0..1000u64).filter_map(|k| catch_up_delay(k, None, now, H4)).collect();
        // Those whose slot comes within the minute wait for it instead
        // (a handful of a thousand at four hours).
        let soon = (0..1000u64).filter(|&k| next_slot_ms(now, H4, offset_ms(k, FULL_SEED, H4)) - now < 60_000).count();
        assert!(soon < 20 && delays.len() + soon >= 1000, "{} catch-ups, {soon} slots within a minute", delays.len());
        assert!(delays.iter().all(|d| *d < Duration::from_secs(60)));
        let early = delays.iter().filter(|d| **d < Duration::from_secs(30)).count();
        assert!((400..=600).contains(&early), "{early} of 1000 in the first half minute");
    }

    const H4: Duration = Duration::from_secs(4 * 3600);

    #[test]
    fn offsets_are_stable_and_inside_the_interval() {
        for id in 0..1000u64 {
            let o = offset_ms(id, 1, H4);
            assert!(o < H4.as_millis() as u64);
            assert_eq!(o, offset_ms(id, 1, H4), "offset must not change between calls");
        }
        // Pinned value: changing the hash would move every project's slot.
        assert_eq!(mix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn n_projects_spread_evenly_over_the_interval() {
        // 10,000 projects with sequential ids over 4 h, 100 buckets of 144 s:
        // each bucket should hold ~100; allow ±40% for hash noise.
        let n = 10_000u64;
        let buckets = 100usize;
        let mut counts = vec![0usize; buckets];
        let len = H4.as_millis() as u64;
        for id in 1..=n {
            let o = offset_ms(id, 7, H4);
            counts[(o * buckets as u64 / len) as usize] += 1;
        }
        let expected = (n as usize) / buckets;
        for (i, c) in counts.iter().enumerate() {
            assert!(
                *c > expected * 6 / 10 && *c < expected * 14 / 10,
                "bucket {i} holds {c} projects, expected about {expected}"
            );
        }
        // And the busiest minute holds far fewer than a thundering herd would.
        let max = counts.iter().max().copied().unwrap_or(0);
        assert!(max < (n as usize) / 20);
    }

    #[test]
    fn ten_thousand_full_scrapes_land_evenly_over_the_interval() {
        // 10,000 projects (ids as the database hands them out) over 4 h, in
        // 12-minute buckets: no bucket above 1.2 x the mean.
        let buckets = 20u64;
        let len = H4.as_millis() as u64;
        let mut counts = vec![0u64; buckets as usize];
        for id in 1..=10_000u64 {
            counts[(offset_ms(id, FULL_SEED, H4) * buckets / len) as usize] += 1;
        }
        let mean = 10_000 / buckets;
        let max = counts.iter().copied().max().unwrap_or(0);
        assert!(max * 10 <= mean * 12, "busiest bucket {max}, mean {mean}: {counts:?}");
        // And the fast poll over 5 minutes, in 15-second buckets.
        let m5 = Duration::from_secs(300);
        let mut counts = vec![0u64; buckets as usize];
        for id in 1..=10_000u64 {
            counts[(offset_ms(id, POLL_SEED, m5) * buckets / 300_000) as usize] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or(0);
        assert!(max * 10 <= mean * 12, "busiest poll bucket {max}, mean {mean}: {counts:?}");
    }

    #[test]
    fn seeds_separate_schedules() {
        let same = (0..1000u64).filter(|&id| offset_ms(id, 1, H4) == offset_ms(id, 2, H4)).count();
        assert!(same < 5);
    }

    #[test]
    fn next_slot_is_strictly_after_now_and_on_the_grid() {
        let interval = Duration::from_secs(60);
        let offset = 15_000;
        assert_eq!(next_slot_ms(0, interval, offset), 15_000);
        assert_eq!(next_slot_ms(14_999, interval, offset), 15_000);
        assert_eq!(next_slot_ms(15_000, interval, offset), 75_000);
        assert_eq!(next_slot_ms(74_999, interval, offset), 75_000);
        assert_eq!(current_slot_ms(74_999, interval, offset), 15_000);
        // Negative clocks (tests with injected time) stay on the grid.
        assert_eq!(next_slot_ms(-1, interval, offset), 15_000);
        assert_eq!(next_slot_ms(-50_000, interval, offset), -45_000);
    }

    #[test]
    fn a_missed_slot_runs_once_then_returns_to_the_grid() {
        // Node down from t=0 to t=10 intervals: the next slot after recovery
        // is one slot, on the grid, not ten catch-up runs.
        let interval = Duration::from_secs(100);
        let offset = offset_ms(42, 0, interval);
        let recovered_at = 1_000_000 + 3;
        let next = next_slot_ms(recovered_at, interval, offset);
        assert!(next > recovered_at);
        assert!(next - recovered_at <= 100_000);
        assert_eq!((next - offset as i64).rem_euclid(100_000), 0);
    }
}
