//! The event bus: what happens in the tree (runs starting and ending,
//! projects changing state), fanned out to whoever listens — webhooks now,
//! live views later. Publishing never blocks: a listener that falls behind
//! skips events (it is told how many), it never holds up a scraper.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use trawler_domain::{now_millis, ProjectId, RunId, RunKind, RunStatus, RunTrigger};

/// Events kept for a slow listener before it starts skipping.
const CAPACITY: usize = 4096;

/// Something that happened in the tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A full scrape started.
    RunStarted {
        /// The project.
        project_id: ProjectId,
        /// The run.
        run_id: RunId,
        /// Its kind.
        kind: RunKind,
        /// Why it started.
        triggered_by: RunTrigger,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// A full scrape ended.
    RunFinished {
        /// The project.
        project_id: ProjectId,
        /// The run, if the database could record it.
        run_id: Option<RunId>,
        /// How it ended.
        status: RunStatus,
        /// The error's class, if it failed.
        error_kind: Option<String>,
        /// The error, if it failed.
        error: Option<String>,
        /// Points stored.
        points: i64,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// The supervisor stopped restarting a project.
    ProjectQuarantined {
        /// The project.
        project_id: ProjectId,
        /// The crash behind it.
        reason: String,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// An admin resumed a project.
    ProjectResumed {
        /// The project.
        project_id: ProjectId,
        /// When, epoch ms.
        at_ms: i64,
    },
}

impl Event {
    /// The project the event is about.
    pub fn project(&self) -> ProjectId {
        match self {
            Event::RunStarted { project_id, .. }
            | Event::RunFinished { project_id, .. }
            | Event::ProjectQuarantined { project_id, .. }
            | Event::ProjectResumed { project_id, .. } => *project_id,
        }
    }

    /// A quarantine event stamped now.
    pub fn quarantined(project_id: ProjectId, reason: String) -> Event {
        Event::ProjectQuarantined { project_id, reason, at_ms: now_millis() }
    }
}

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// A bus with no listeners.
    pub fn new() -> EventBus {
        EventBus { tx: broadcast::channel(CAPACITY).0 }
    }

    /// Sends an event to every listener; without listeners it is dropped.
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new listener, receiving events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Listeners now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_listener_skips_and_never_blocks_the_publisher() {
        let bus = EventBus::new();
        let mut slow = bus.subscribe();
        let mut fast = bus.subscribe();
        for i in 0..(CAPACITY as i64 + 10) {
            bus.publish(Event::ProjectResumed { project_id: ProjectId(i), at_ms: 0 });
            assert_eq!(fast.recv().await.map(|e| e.project()).ok(), Some(ProjectId(i)));
        }
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(slow.recv().await.map(|e| e.project()).ok(), Some(ProjectId(10)));
    }
}
