//! The changes of a gate's circuits and pauses, kept until the node writes
//! them to its timeline (a series says "platform down" or "throttled" from
//! them).

use std::collections::VecDeque;

use trawler_domain::Platform;

/// Most changes kept unread per gate: past it, the oldest are dropped (the
/// circuit opens at most once per `circuit_open_for`, so this is hours of
/// changes even for a flapping platform).
const MAX_KEPT: usize = 1024;

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum GateEvent {
    /// The circuit opened; the failure that opened it.
    CircuitOpened(String),
    /// The circuit closed (a probe, or a request in flight, succeeded).
    CircuitClosed,
    /// The platform (or host) asked to pause until then, epoch ms.
    Paused {
        /// The end of the pause, epoch ms.
        until_ms: i64,
        /// What the platform said.
        detail: String,
    },
}

/// A change of one gate (or one host behind it).
#[derive(Debug, Clone, PartialEq)]
pub struct GateChange {
    /// The platform.
    pub platform: Platform,
    /// The host, for a generic platform's own circuit or pause.
    pub host: Option<String>,
    /// When, epoch ms.
    pub at_ms: i64,
    /// What.
    pub event: GateEvent,
}

/// The unread changes of one gate.
#[derive(Debug, Default)]
pub(crate) struct Changes(VecDeque<GateChange>);

impl Changes {
    pub(crate) fn push(&mut self, change: GateChange) {
        if self.0.len() >= MAX_KEPT {
            self.0.pop_front();
        }
        self.0.push_back(change);
    }

    pub(crate) fn take(&mut self) -> Vec<GateChange> {
        self.0.drain(..).collect()
    }
}
