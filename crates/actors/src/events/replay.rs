//! What a stream that reconnects missed. Every event gets an id when it is
//! published (`<boot>.<seq>`: this process's start, then a number that only
//! grows), and each project's channel and the lifecycle channel keep their
//! last events, so a subscriber that comes back with the id of the last
//! event it read (SSE's `Last-Event-ID`) receives those after it — or, when
//! they are no longer kept (or the node restarted since), is told to
//! reload.

use std::collections::VecDeque;

use super::Shared;

/// Events kept per project channel.
pub(crate) const PROJECT_KEPT: usize = 512;
/// Events kept on the lifecycle channel.
pub(crate) const LIFECYCLE_KEPT: usize = 4096;

/// The last events of one channel.
pub(crate) struct Ring {
    kept: VecDeque<Shared>,
    cap: usize,
    /// Events numbered below this may be missing here (evicted, or
    /// published before the channel was kept).
    floor: u64,
}

/// What a reconnecting subscriber gets before the live events.
#[derive(Debug)]
pub enum Replay {
    /// The events it missed, oldest first (none if it missed nothing).
    Events(Vec<Shared>),
    /// What it missed is no longer kept, its id is not one of this node's
    /// (another process, a restart) or not an id at all: it should reload.
    Reset,
}

impl Ring {
    /// An empty ring of `cap` events whose first may be numbered `floor`.
    pub(crate) fn new(cap: usize, floor: u64) -> Ring {
        Ring { kept: VecDeque::with_capacity(cap.min(64)), cap: cap.max(1), floor }
    }

    /// Keeps `event`, forgetting the oldest when full.
    pub(crate) fn push(&mut self, event: Shared) {
        if self.kept.len() >= self.cap {
            if let Some(old) = self.kept.pop_front() {
                self.floor = old.seq().saturating_add(1);
            }
        }
        self.kept.push_back(event);
    }

    /// What a subscriber that read up to event `last` (of this process)
    /// missed.
    pub(crate) fn since(&self, last: u64) -> Replay {
        if last.saturating_add(1) < self.floor {
            return Replay::Reset;
        }
        Replay::Events(self.kept.iter().filter(|e| e.seq() > last).cloned().collect())
    }
}

/// The sequence number in `id` if it is an id of the process started at
/// `boot`.
pub(crate) fn parse_id(id: &str, boot: u64) -> Option<u64> {
    let (b, seq) = id.trim().split_once('.')?;
    (b.parse::<u64>().ok()? == boot).then_some(())?;
    seq.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Event};
    use trawler_domain::ProjectId;

    fn event(seq: u64) -> Shared {
        Envelope::sequenced(Event::ProjectResumed { project_id: ProjectId(1), at_ms: 0 }, 9, seq)
    }

    fn seqs(r: Replay) -> Option<Vec<u64>> {
        match r {
            Replay::Events(list) => Some(list.iter().map(|e| e.seq()).collect()),
            Replay::Reset => None,
        }
    }

    #[test]
    fn a_subscriber_gets_what_it_missed_while_it_is_kept() {
        let mut ring = Ring::new(3, 1);
        for s in 1..=3 {
            ring.push(event(s));
        }
        assert_eq!(seqs(ring.since(1)), Some(vec![2, 3]));
        assert_eq!(seqs(ring.since(3)), Some(vec![]), "nothing missed");
        assert_eq!(seqs(ring.since(0)), Some(vec![1, 2, 3]), "from the first event");
        ring.push(event(4));
        assert_eq!(seqs(ring.since(1)), Some(vec![2, 3, 4]), "event 1 was read: nothing is lost");
        assert_eq!(seqs(ring.since(0)), None, "event 1 is gone: reload");
    }

    #[test]
    fn ids_of_another_process_or_no_id_at_all_are_not_ours() {
        assert_eq!(parse_id("9.42", 9), Some(42));
        assert_eq!(parse_id(" 9.42 ", 9), Some(42));
        assert_eq!(parse_id("8.42", 9), None, "another boot");
        for bad in ["", "42", "9.", ".42", "9.x", "9.-1", "9.42.1", &"9".repeat(40)] {
            assert_eq!(parse_id(bad, 9), None, "{bad}");
        }
    }
}
