//! The line callers wait in at a gate. One caller at a time holds the turn
//! and waits for the pause, a token and a slot; the others wait for the
//! turn. The turn passes to the most urgent caller waiting: the earliest
//! deadline, then the earliest arrival. A poll that must start within
//! seconds of its slot passes before a full scrape that may start within
//! minutes, and a catch-up run that has no slot waits for both — but each
//! caller's deadline comes, so none waits for ever behind newer ones.
//!
//! Handing the turn on costs a wake-up: the next holder runs when the event
//! loop comes round to it. So the holder, once it has passed, also grants
//! passes to the callers behind it for as long as tokens and slots are free
//! at once (see `PlatformGate::grant_behind`): they wake with their pass in
//! hand, and the line moves many callers per round of the event loop, not
//! one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// A caller's place: its deadline and arrival. Orders the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket {
    due: Instant,
    seq: u64,
}

/// A caller waiting: how to wake it, and the host it goes to (a host's
/// pause holds it).
#[derive(Debug)]
struct Waiter {
    notify: Arc<Notify>,
    host: Option<String>,
}

/// The callers waiting at one gate, who holds the turn, and the passes
/// granted (`G`) to callers who have not woken to take them yet.
#[derive(Debug)]
pub(crate) struct Line<G> {
    waiting: BTreeMap<Ticket, Waiter>,
    /// The caller waiting for the pause, a token and a slot; `None` exactly
    /// when nobody waits.
    turn: Option<Ticket>,
    granted: HashMap<Ticket, G>,
    next_seq: u64,
}

impl<G> Default for Line<G> {
    fn default() -> Self {
        Line { waiting: BTreeMap::new(), turn: None, granted: HashMap::new(), next_seq: 0 }
    }
}

impl<G> Line<G> {
    /// Joins the line with a deadline. Returns the ticket, and what to wait
    /// on for the turn or a grant unless the turn is this caller's at once.
    pub(crate) fn join(&mut self, due: Instant, host: Option<&str>) -> (Ticket, Option<Arc<Notify>>) {
        let ticket = Ticket { due, seq: self.next_seq };
        self.next_seq += 1;
        let notify = Arc::new(Notify::new());
        self.waiting.insert(ticket, Waiter { notify: notify.clone(), host: host.map(str::to_owned) });
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

    /// The pass granted to `ticket`, if one was.
    pub(crate) fn take_grant(&mut self, ticket: Ticket) -> Option<G> {
        self.granted.remove(&ticket)
    }

    /// The most urgent caller waiting behind the turn's holder, and its host.
    pub(crate) fn next_behind(&self) -> Option<(Ticket, Option<&str>)> {
        self.waiting.iter().find(|(t, _)| self.turn != Some(**t)).map(|(t, w)| (*t, w.host.as_deref()))
    }

    /// Gives a waiting caller (not the turn's holder) its pass: it leaves
    /// the line and wakes with it.
    pub(crate) fn grant(&mut self, ticket: Ticket, pass: G) {
        if self.turn == Some(ticket) {
            return;
        }
        if let Some(waiter) = self.waiting.remove(&ticket) {
            self.granted.insert(ticket, pass);
            waiter.notify.notify_one();
        }
    }

    /// Leaves the line (passed, failed or gave up); the turn, if this caller
    /// held it, goes to the most urgent caller waiting. A pass granted and
    /// not taken is dropped.
    pub(crate) fn leave(&mut self, ticket: Ticket) {
        self.waiting.remove(&ticket);
        self.granted.remove(&ticket);
        if self.turn == Some(ticket) {
            self.turn = self.waiting.first_key_value().map(|(next, waiter)| {
                // A permit is stored if the caller has not begun to wait yet.
                waiter.notify.notify_one();
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
        let mut line: Line<()> = Line::default();
        let (first, wait) = line.join(now + Duration::from_secs(3600), None);
        assert!(wait.is_none() && line.has_turn(first), "an empty line's first caller goes at once");
        let (lax, _) = line.join(now + Duration::from_secs(3600), None);
        let (urgent, _) = line.join(now + Duration::from_secs(3), None);
        let (urgent_later, _) = line.join(now + Duration::from_secs(3), None);
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

    #[tokio::test]
    async fn passes_granted_behind_the_holder_go_in_order_and_leave_the_line() {
        let now = Instant::now();
        let mut line: Line<u32> = Line::default();
        let (holder, _) = line.join(now + Duration::from_secs(60), None);
        let (lax, _) = line.join(now + Duration::from_secs(60), Some("a.example:80"));
        let (urgent, wait) = line.join(now, None);
        assert_eq!(line.next_behind(), Some((urgent, None)), "the holder is not granted to");
        line.grant(urgent, 1);
        assert_eq!(line.next_behind(), Some((lax, Some("a.example:80"))));
        assert_eq!((line.len(), line.ahead_of(urgent)), (2, None), "granted: out of the line");
        line.grant(holder, 9); // the holder waits for its own pass
        assert_eq!(line.take_grant(holder), None);
        let notified = wait.expect("it waits");
        let woken = tokio::time::timeout(Duration::from_millis(100), notified.notified()).await;
        assert!(woken.is_ok(), "the granted caller is woken");
        assert_eq!(line.take_grant(urgent), Some(1));
        line.grant(lax, 2);
        line.leave(lax); // gave up before taking it: the pass is dropped
        assert_eq!(line.take_grant(lax), None);
        line.leave(holder);
        assert!(line.turn.is_none() && line.len() == 0);
    }

    #[test]
    fn a_caller_who_gives_up_keeps_nobody_waiting() {
        let now = Instant::now();
        let mut line: Line<()> = Line::default();
        let (a, _) = line.join(now, None);
        let (b, _) = line.join(now, None);
        let (c, _) = line.join(now, None);
        line.leave(b); // waiting, not holding: the turn stays
        assert!(line.has_turn(a));
        line.leave(a);
        assert!(line.has_turn(c));
        assert_eq!(line.ahead_of(c), Some(0));
    }
}
