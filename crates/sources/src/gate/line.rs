//! The line callers wait in at a gate. One caller at a time holds the turn
//! and waits for the pause, a token and a slot; the others wait for the
//! turn. The turn passes to the most urgent caller waiting: the earliest
//! deadline, then the earliest arrival. A poll that must start within
//! seconds of its slot passes before a full scrape that may start within
//! minutes, and a catch-up run that has no slot waits for both — but each
//! caller's deadline comes, so none waits for ever behind newer ones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// A caller's place: its deadline and arrival. Orders the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket {
    due: Instant,
    seq: u64,
}

/// The callers waiting at one gate and who holds the turn.
#[derive(Debug, Default)]
pub(crate) struct Line {
    waiting: BTreeMap<Ticket, Arc<Notify>>,
    /// The caller waiting for the pause, a token and a slot; `None` exactly
    /// when nobody waits.
    turn: Option<Ticket>,
    next_seq: u64,
}

impl Line {
    /// Joins the line with a deadline. Returns the ticket, and what to wait
    /// on for the turn unless it is this caller's at once.
    pub(crate) fn join(&mut self, due: Instant) -> (Ticket, Option<Arc<Notify>>) {
        let ticket = Ticket { due, seq: self.next_seq };
        self.next_seq += 1;
        let notify = Arc::new(Notify::new());
        self.waiting.insert(ticket, notify.clone());
        if self.turn.is_none() {
            self.turn = Some(ticket);
            return (ticket, None);
        }
        (ticket, Some(notify))
    }

    /// Whether `ticket` holds the turn.
    pub(crate) fn has_turn(&self, ticket: Ticket) -> bool {
        self.turn == Some(ticket)
    }

    /// Leaves the line (passed, failed or gave up); the turn, if this caller
    /// held it, goes to the most urgent caller waiting.
    pub(crate) fn leave(&mut self, ticket: Ticket) {
        self.waiting.remove(&ticket);
        if self.turn == Some(ticket) {
            self.turn = self.waiting.first_key_value().map(|(next, notify)| {
                // A permit is stored if the caller has not begun to wait yet.
                notify.notify_one();
                *next
            });
        }
    }

    /// How many callers pass before `ticket`, if it waits: the turn's
    /// holder and every more urgent caller.
    pub(crate) fn ahead_of(&self, ticket: Ticket) -> Option<usize> {
        if !self.waiting.contains_key(&ticket) {
            return None;
        }
        if self.turn == Some(ticket) {
            return Some(0);
        }
        let holder_behind = self.turn.is_some_and(|t| t > ticket);
        Some(self.waiting.range(..ticket).count() + usize::from(holder_behind))
    }

    /// Callers waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_turn_goes_to_the_most_urgent_then_the_earliest() {
        let now = Instant::now();
        let mut line = Line::default();
        let (first, wait) = line.join(now + Duration::from_secs(3600));
        assert!(wait.is_none() && line.has_turn(first), "an empty line's first caller goes at once");
        let (lax, _) = line.join(now + Duration::from_secs(3600));
        let (urgent, _) = line.join(now + Duration::from_secs(3));
        let (urgent_later, _) = line.join(now + Duration::from_secs(3));
        assert_eq!(line.ahead_of(first), Some(0));
        assert_eq!(line.ahead_of(urgent), Some(1), "behind the holder only");
        assert_eq!(line.ahead_of(urgent_later), Some(2));
        assert_eq!(line.ahead_of(lax), Some(3));
        let mut order = Vec::new();
        for _ in 0..4 {
            let holder = line.turn.expect("someone holds the turn");
            order.push(holder);
            line.leave(holder);
        }
        assert_eq!(order, vec![first, urgent, urgent_later, lax]);
        assert!(line.turn.is_none() && line.len() == 0);
        assert_eq!(line.ahead_of(lax), None, "gone");
    }

    #[test]
    fn a_caller_who_gives_up_keeps_nobody_waiting() {
        let now = Instant::now();
        let mut line = Line::default();
        let (a, _) = line.join(now);
        let (b, _) = line.join(now);
        let (c, _) = line.join(now);
        line.leave(b); // waiting, not holding: the turn stays
        assert!(line.has_turn(a));
        line.leave(a);
        assert!(line.has_turn(c));
        assert_eq!(line.ahead_of(c), Some(0));
    }
}
