//! The event bus: what happens in the tree (runs starting and ending,
//! projects changing state, points stored), fanned out to whoever listens —
//! webhooks, the admin stream, dashboards following one project. Publishing
//! never blocks: a listener that falls behind skips events (it is told how
//! many), it never holds up a scraper.
//!
//! Two kinds of channel: one for lifecycle events of every project (runs and
//! states, not points: a node stores thousands of points a second), and one
//! per project that someone follows, carrying everything about it. A project
//! nobody follows costs one map lookup per publish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;
use trawler_domain::{now_millis, ProjectId, RunId, RunKind, RunStatus, RunTrigger};

/// Events kept for a slow listener before it starts skipping.
const CAPACITY: usize = 4096;
/// The same, for one project's channel.
const PROJECT_CAPACITY: usize = 256;

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
    /// An admin archived a project.
    ProjectArchived {
        /// The project.
        project_id: ProjectId,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// Points of one source fetch were stored (database or spool).
    Points {
        /// The project.
        project_id: ProjectId,
        /// The platform they came from.
        platform: trawler_domain::Platform,
        /// When they were observed, epoch seconds.
        ts: i64,
        /// Metric → value.
        values: std::collections::BTreeMap<String, f64>,
    },
}

impl Event {
    /// The project the event is about.
    pub fn project(&self) -> ProjectId {
        match self {
            Event::RunStarted { project_id, .. }
            | Event::RunFinished { project_id, .. }
            | Event::ProjectQuarantined { project_id, .. }
            | Event::ProjectResumed { project_id, .. }
            | Event::ProjectArchived { project_id, .. }
            | Event::Points { project_id, .. } => *project_id,
        }
    }

    /// The SSE event name: the `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::RunFinished { .. } => "run_finished",
            Event::ProjectQuarantined { .. } => "project_quarantined",
            Event::ProjectResumed { .. } => "project_resumed",
            Event::ProjectArchived { .. } => "project_archived",
            Event::Points { .. } => "points",
        }
    }

    /// A quarantine event stamped now.
    pub fn quarantined(project_id: ProjectId, reason: String) -> Event {
        Event::ProjectQuarantined { project_id, reason, at_ms: now_millis() }
    }
}

/// An event as the bus hands it out: shared by every listener, with its
/// JSON form made once, by the first listener that asks (a thousand SSE
/// subscribers must not serialise it a thousand times).
#[derive(Debug)]
pub struct Envelope {
    event: Event,
    json: std::sync::OnceLock<String>,
}

impl Envelope {
    /// Wraps an event for listeners.
    pub fn new(event: Event) -> Shared {
        Arc::new(Envelope { event, json: std::sync::OnceLock::new() })
    }

    /// The event as JSON (with its `type` tag).
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| serde_json::to_string(&self.event).unwrap_or_else(|_| "{}".into()))
    }
}

impl std::ops::Deref for Envelope {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.event
    }
}

/// What a listener receives.
pub type Shared = Arc<Envelope>;

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Shared>,
    /// Everything, points included, for the few who want it all (the admin
    /// UI's project list); fed only while someone listens.
    firehose: broadcast::Sender<Shared>,
    projects: Arc<Mutex<HashMap<ProjectId, broadcast::Sender<Shared>>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// A bus with no listeners.
    pub fn new() -> EventBus {
        EventBus {
            tx: broadcast::channel(CAPACITY).0,
            firehose: broadcast::channel(CAPACITY).0,
            projects: Arc::default(),
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<ProjectId, broadcast::Sender<Shared>>> {
        self.projects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends an event to its project's followers and, unless it is points,
    /// to every lifecycle listener. Without listeners it is dropped.
    pub fn publish(&self, event: Event) {
        let event = Envelope::new(event);
        let project = event.project();
        {
            let mut topics = self.topics();
            if let Some(tx) = topics.get(&project) {
                if tx.send(event.clone()).is_err() {
                    // Everyone left: forget the channel.
                    topics.remove(&project);
                }
            }
        }
        if self.firehose.receiver_count() > 0 {
            let _ = self.firehose.send(event.clone());
        }
        if !matches!(**event, Event::Points { .. }) {
            let _ = self.tx.send(event);
        }
    }

    /// A new lifecycle listener (every project's runs and states, no points),
    /// receiving events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Shared> {
        self.tx.subscribe()
    }

    /// A new listener of every event, points included.
    pub fn subscribe_all(&self) -> broadcast::Receiver<Shared> {
        self.firehose.subscribe()
    }

    /// A new follower of one project: all its events, points included.
    pub fn subscribe_project(&self, project: ProjectId) -> broadcast::Receiver<Shared> {
        self.topics().entry(project).or_insert_with(|| broadcast::channel(PROJECT_CAPACITY).0).subscribe()
    }

    /// Whether anyone follows a project (so a publisher can skip building
    /// an event nobody would read).
    pub fn followed(&self, project: ProjectId) -> bool {
        self.firehose.receiver_count() > 0 || self.topics().contains_key(&project)
    }

    /// Projects followed now.
    pub fn followed_projects(&self) -> usize {
        self.topics().len()
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

    #[tokio::test]
    async fn followers_get_their_projects_events_and_points_stay_off_the_lifecycle_channel() {
        let bus = EventBus::new();
        let mut all = bus.subscribe();
        let mut seven = bus.subscribe_project(ProjectId(7));
        let points = |p| Event::Points {
            project_id: ProjectId(p),
            platform: trawler_domain::Platform::Kickstarter,
            ts: 1,
            values: [("pledged".to_owned(), 1.0)].into(),
        };
        bus.publish(points(8));
        bus.publish(points(7));
        bus.publish(Event::ProjectResumed { project_id: ProjectId(7), at_ms: 0 });
        assert_eq!(seven.recv().await.map(|e| e.name()).ok(), Some("points"));
        assert_eq!(seven.recv().await.map(|e| e.name()).ok(), Some("project_resumed"));
        assert_eq!(all.recv().await.map(|e| e.name()).ok(), Some("project_resumed"));
        assert!(all.try_recv().is_err(), "no points on the lifecycle channel");
        assert_eq!(bus.followed_projects(), 1);
        drop(seven);
        bus.publish(points(7));
        assert_eq!(bus.followed_projects(), 0, "a channel nobody follows is dropped");
    }
}
