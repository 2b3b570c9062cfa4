//! Which ad sources are spending: the last spend each Meta source reported
//! and when it last changed, so the poll division can send polls to the ad
//! accounts that spent in the last hour and fewer to those that did not.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// How recent a change of spend makes a source busy.
pub(crate) const SPENDING_WINDOW_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy)]
struct Seen {
    value: f64,
    changed_ms: i64,
    first_ms: i64,
}

/// The spend of this node's ad sources, as last reported.
#[derive(Default)]
pub(crate) struct SpendBook {
    seen: Mutex<HashMap<i64, Seen>>,
}

/// Where each ad source stands for the division.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spending {
    /// Spend changed within the window.
    pub(crate) spending: HashSet<i64>,
    /// Watched for the whole window without a change.
    pub(crate) still: HashSet<i64>,
}

impl SpendBook {
    /// Takes in a source's spend at `now_ms`.
    pub(crate) fn observe(&self, source: i64, value: f64, now_ms: i64) {
        if !value.is_finite() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen.entry(source).or_insert(Seen { value, changed_ms: now_ms, first_ms: now_ms });
        if entry.value != value {
            *entry = Seen { value, changed_ms: now_ms, ..*entry };
        }
    }

    /// The sources that spent in the window before `now_ms`, and those
    /// watched for the whole window that did not.
    pub(crate) fn at(&self, now_ms: i64) -> Spending {
        let since = now_ms.saturating_sub(SPENDING_WINDOW_MS);
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Spending::default();
        for (id, s) in seen.iter() {
            if s.changed_ms > since && s.changed_ms > s.first_ms {
                out.spending.insert(*id);
            } else if s.first_ms <= since {
                out.still.insert(*id);
            }
        }
        out
    }

    /// Forgets sources no longer polled here.
    pub(crate) fn retain(&self, keep: impl Fn(i64) -> bool) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).retain(|id, _| keep(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_spending_in_the_last_hour_is_spending_and_one_still_for_an_hour_is_still() {
        let book = SpendBook::default();
        book.observe(1, 10.0, 0);
        book.observe(2, 10.0, 0);
        book.observe(3, 10.0, 3_000_000);
        // Only seen once, or not yet changed: neither, until an hour passes.
        assert_eq!(book.at(1_000), Spending::default());
        book.observe(1, 12.5, 1_000_000);
        book.observe(2, 10.0, 1_000_000);
        let now = book.at(2_000_000);
        assert!(now.spending.contains(&1) && now.spending.len() == 1, "{now:?}");
        assert!(now.still.is_empty());
        let later = book.at(4_000_000);
        assert!(later.spending.contains(&1), "changed 50 minutes ago");
        assert!(later.still.contains(&2) && !later.still.contains(&3), "{later:?}");
        let much_later = book.at(5_000_000);
        assert!(much_later.still.contains(&1) && much_later.spending.is_empty());
        book.observe(4, f64::NAN, 0);
        book.retain(|id| id != 2);
        assert!(!book.at(9_000_000).still.contains(&2));
        assert!(!book.at(9_000_000).still.contains(&4));
    }
}
