//! Restart intensity, as OTP's `max_restarts` in `max_seconds`: the
//! supervisor's decision after a scraper crashes, apart from the actor so it
//! is tested with plain numbers.

use std::collections::VecDeque;
use std::time::Duration;

/// Longest wait before restarting a crashed scraper.
pub(crate) const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// What to do with a scraper that crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Start it again after this delay.
    Restart(Duration),
    /// It crashed more than `max_restarts` times inside the window: stop
    /// restarting it until an admin resumes it.
    Quarantine,
}

/// The wait before the next restart of a scraper restarted `restarts` times
/// so far: 1 s, 2 s, 4 s … up to a minute.
pub(crate) fn restart_delay(restarts: u32) -> Duration {
    Duration::from_secs(1u64 << restarts.min(6)).min(MAX_RESTART_DELAY)
}

/// One project's crashes inside the restart window, epoch ms.
#[derive(Debug, Default)]
pub(crate) struct Crashes(VecDeque<i64>);

impl Crashes {
    /// Records a crash at `now_ms` and decides: a restart after
    /// [`restart_delay`] while the crashes inside `window` (this one
    /// included) number at most `max_restarts`, else quarantine.
    pub(crate) fn record(&mut self, now_ms: i64, restarts: u32, max_restarts: u32, window: Duration) -> Verdict {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self.0.push_back(now_ms);
        while self.0.front().is_some_and(|&t| now_ms.saturating_sub(t) > window_ms) {
            self.0.pop_front();
        }
        if self.0.len() > max_restarts as usize {
            Verdict::Quarantine
        } else {
            Verdict::Restart(restart_delay(restarts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::clock::{Clock, ManualClock};

    const WINDOW: Duration = Duration::from_secs(600);

    #[test]
    fn restarts_back_off_doubling_up_to_a_minute() {
        let delays: Vec<u64> = (0..9).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(restart_delay(u32::MAX), MAX_RESTART_DELAY);
    }

    #[test]
    fn the_crash_after_max_restarts_inside_the_window_quarantines() {
        let clock = ManualClock::at(1_000_000);
        let mut crashes = Crashes::default();
        assert_eq!(crashes.record(clock.now_ms(), 0, 2, WINDOW), Verdict::Restart(Duration::from_secs(1)));
        clock.advance(Duration::from_secs(1));
        assert_eq!(crashes.record(clock.now_ms(), 1, 2, WINDOW), Verdict::Restart(Duration::from_secs(2)));
        clock.advance(Duration::from_secs(2));
        assert_eq!(crashes.record(clock.now_ms(), 2, 2, WINDOW), Verdict::Quarantine);
    }

    #[test]
    fn crashes_older_than_the_window_are_forgotten() {
        let clock = ManualClock::at(0);
        let mut crashes = Crashes::default();
        for restarts in 0..2 {
            assert!(matches!(crashes.record(clock.now_ms(), restarts, 2, WINDOW), Verdict::Restart(_)));
            // Each crash comes just after the previous one left the window.
            clock.advance(WINDOW + Duration::from_millis(1));
        }
        // The third crash in all, but the only one inside the window.
        assert!(matches!(crashes.record(clock.now_ms(), 2, 2, WINDOW), Verdict::Restart(_)));
        assert_eq!(crashes.0.len(), 1);
    }

    #[test]
    fn no_restarts_allowed_quarantines_at_the_first_crash() {
        let mut crashes = Crashes::default();
        assert_eq!(crashes.record(0, 0, 0, WINDOW), Verdict::Quarantine);
    }

    #[test]
    fn a_clock_that_steps_back_keeps_the_crash() {
        let mut crashes = Crashes::default();
        assert!(matches!(crashes.record(10_000, 0, 1, WINDOW), Verdict::Restart(_)));
        // The wall clock stepped back an hour: the earlier crash still counts.
        assert_eq!(crashes.record(10_000 - 3_600_000, 1, 1, WINDOW), Verdict::Quarantine);
    }
}
