//! Warnings that come in floods, logged a line per while. When a platform
//! fails, it fails for every source polled: a million sources wrote a
//! million lines to the log within seconds, on the thread that polls, and
//! buried everything else in it. The first warning of a while is logged as
//! it comes; those after it, until the while ends, are counted by kind and
//! logged together as one line (by a timer, or with the next warning).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How long after a logged warning the next ones are counted, not logged.
pub(crate) const QUIET_FOR: Duration = Duration::from_secs(10);

/// What to do with a warning just heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// Log it now (first log what [`Quiet::take`] gives: the count of the
    /// while before).
    Log,
    /// Counted. `first` when it is the first counted in this while: a timer
    /// may log the count when the while ends, `in_` from now.
    Counted { first: bool, in_: Duration },
}

/// The warnings counted in a while and not logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    /// How many.
    pub total: u64,
    /// By kind, "circuit_open 5000, timeout 3", most first.
    pub kinds: String,
    /// The last one's text.
    pub last: String,
}

/// One stream of warnings' quiet time and count.
#[derive(Debug, Default)]
pub(crate) struct Quiet {
    /// The end of the while in which warnings are counted.
    until: Option<Instant>,
    held: BTreeMap<&'static str, u64>,
    last: String,
}

impl Quiet {
    /// `n` warnings of `kind` (the last of them reads `text`) at `now`.
    pub(crate) fn hear(&mut self, kind: &'static str, n: u64, text: &str, now: Instant) -> Heard {
        match self.until {
            Some(until) if now < until => {
                let first = self.held.is_empty();
                let count = self.held.entry(kind).or_default();
                *count = count.saturating_add(n);
                text.clone_into(&mut self.last);
                Heard::Counted { first, in_: until - now }
            }
            _ => {
                self.until = Some(now + QUIET_FOR);
                Heard::Log
            }
        }
    }

    /// The warnings counted since the last logged one, if any; the count
    /// starts again.
    pub(crate) fn take(&mut self) -> Option<Held> {
        if self.held.is_empty() {
            return None;
        }
        let mut by_count: Vec<(&'static str, u64)> = std::mem::take(&mut self.held).into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let total = by_count.iter().fold(0u64, |t, (_, n)| t.saturating_add(*n));
        let mut kinds = String::new();
        for (i, (kind, n)) in by_count.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(kinds, "{sep}{kind} {n}");
        }
        Some(Held { total, kinds, last: std::mem::take(&mut self.last) })
    }

    /// The count, once the while it was counted in has ended (a caller
    /// without a timer asks this with each warning or event).
    pub(crate) fn take_after(&mut self, now: Instant) -> Option<Held> {
        match self.until {
            Some(until) if now < until => None,
            _ => self.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_one_line_then_a_count_per_while() {
        let mut q = Quiet::default();
        let t0 = Instant::now();
        assert_eq!(q.hear("circuit_open", 1, "a", t0), Heard::Log);
        assert_eq!(q.take(), None, "nothing counted before the first line");
        let second = q.hear("circuit_open", 1, "b", t0 + Duration::from_secs(1));
        assert_eq!(second, Heard::Counted { first: true, in_: Duration::from_secs(9) });
        for i in 0..999_998u64 {
            let kind = if i % 100_000 == 0 { "timeout" } else { "circuit_open" };
            let heard = q.hear(kind, 1, "last words", t0 + Duration::from_secs(2));
            assert!(matches!(heard, Heard::Counted { first: false, .. }));
        }
        assert_eq!(q.take_after(t0 + Duration::from_secs(9)), None, "the while has not ended");
        let held = q.take_after(t0 + QUIET_FOR).expect("counted");
        assert_eq!(held.total, 999_999);
        assert_eq!(held.kinds, "circuit_open 999989, timeout 10");
        assert_eq!(held.last, "last words");
        assert_eq!(q.take(), None, "the count starts again");
        // After the while, the next warning is logged again.
        assert_eq!(q.hear("timeout", 1, "c", t0 + QUIET_FOR), Heard::Log);
        // A lag of many at once counts them all.
        assert!(matches!(q.hear("lagged", 5_000, "d", t0 + QUIET_FOR), Heard::Counted { first: true, .. }));
        assert_eq!(q.take().map(|h| h.total), Some(5_000));
    }
}
