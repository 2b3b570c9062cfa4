//! Points on their way to the database, with who waits for them.

use tokio::sync::oneshot;
use trawler_domain::Point;

/// Runs once a message's points are in the database.
pub type OnWritten = Box<dyn FnOnce() + Send>;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Points, the senders waiting for their acknowledgement, and what runs
/// once they are written.
#[derive(Default)]
pub(super) struct Pending {
    points: Vec<Point>,
    waiters: Vec<Waiter>,
    on_written: Vec<OnWritten>,
}

/// A [`Pending`] whose points are away (being written).
pub(super) struct Rest {
    waiters: Vec<Waiter>,
    on_written: Vec<OnWritten>,
}

impl Rest {
    /// Puts the points back.
    pub(super) fn join(self, points: Vec<Point>) -> Pending {
        Pending { points, waiters: self.waiters, on_written: self.on_written }
    }
}

impl Pending {
    /// Adds a message's points; the receiver hears when they are durable.
    pub(super) fn push(
        &mut self,
        points: Vec<Point>,
        on_written: Option<OnWritten>,
    ) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        self.points.extend(points);
        self.waiters.push(tx);
        self.on_written.extend(on_written);
        rx
    }

    pub(super) fn len(&self) -> usize {
        self.points.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.points.is_empty() && self.waiters.is_empty() && self.on_written.is_empty()
    }

    /// Senders still waiting for their acknowledgement.
    pub(super) fn senders(&self) -> usize {
        self.waiters.len()
    }

    pub(super) fn take(&mut self) -> Pending {
        std::mem::take(self)
    }

    pub(super) fn split(self) -> (Vec<Point>, Rest) {
        (self.points, Rest { waiters: self.waiters, on_written: self.on_written })
    }

    /// Adds newer points after these.
    pub(super) fn append(&mut self, newer: Pending) {
        self.points.extend(newer.points);
        self.waiters.extend(newer.waiters);
        self.on_written.extend(newer.on_written);
    }

    /// Puts older points in front of these.
    pub(super) fn prepend(&mut self, mut older: Pending) {
        older.append(self.take());
        *self = older;
    }

    /// Tells the senders their points are durable; what runs once they are
    /// written stays.
    pub(super) fn acknowledge(&mut self) {
        for w in self.waiters.drain(..) {
            // A sender that gave up waiting is gone; nothing to tell it.
            let _ = w.send(Ok(()));
        }
    }

    /// Tells the senders how it ended; on success, runs what waited for
    /// the write.
    pub(super) fn finish(self, result: Result<(), String>) {
        let ok = result.is_ok();
        for w in self.waiters {
            let _ = w.send(result.clone());
        }
        if ok {
            for f in self.on_written {
                f();
            }
        }
    }
}
