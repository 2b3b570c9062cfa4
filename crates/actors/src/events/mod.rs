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
//!
//! In cluster mode the bus also relays: the lifecycle events a node
//! publishes, and the points of projects followed on other nodes, go out
//! through PostgreSQL `NOTIFY`, and events relayed by other nodes come in
//! marked remote (live-update streams show them; webhooks act only on their
//! own node's). Which projects other nodes follow travels with the
//! heartbeats.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use trawler_domain::{now_millis, ProjectId, RunId, RunKind, RunStatus, RunTrigger};

mod replay;
pub use replay::Replay;
use replay::{parse_id, Ring, LIFECYCLE_KEPT, PROJECT_KEPT};

/// Events kept for a slow listener before it starts skipping.
const CAPACITY: usize = 4096;
/// The same, for one project's channel.
const PROJECT_CAPACITY: usize = 256;
/// How long a project's channel (and what it kept) outlives its last
/// follower: a dashboard that reconnects within it misses nothing.
const LINGER: Duration = Duration::from_secs(120);

/// Something that happened in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A project was created (its first scrape starts at once).
    ProjectCreated {
        /// The project.
        project_id: ProjectId,
        /// Its name.
        name: String,
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
    /// A project's campaign is over and its final numbers are in: nothing
    /// more is scheduled for it.
    CampaignEnded {
        /// The project.
        project_id: ProjectId,
        /// What its platforms said (`campaign ended (kickstarter successful)`).
        reason: String,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// A monitor on a project's numbers raised an alert, or the alert
    /// recovered.
    Alert {
        /// The project.
        project_id: ProjectId,
        /// The source whose numbers raised it.
        source_id: i64,
        /// Its platform.
        platform: trawler_domain::Platform,
        /// The monitor (`stale`, `drop`, `jump`, `missing`, `milestone`).
        monitor: trawler_domain::monitor::MonitorKind,
        /// The metric.
        metric: String,
        /// A milestone's threshold (empty for the other monitors).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        threshold: String,
        /// `fired` or `recovered`.
        state: AlertState,
        /// The value now.
        value: Option<f64>,
        /// What happened.
        detail: String,
        /// When, epoch ms.
        at_ms: i64,
    },
    /// A running run wrote a line to its log (sent while someone follows
    /// its project; the run's page and `trawler runs follow` show them).
    RunLog {
        /// The project.
        project_id: ProjectId,
        /// The run.
        run_id: RunId,
        /// The line's place in the run's log, from 0: a follower who read
        /// the first lines from the run itself skips those.
        seq: u32,
        /// The line, without its newline.
        line: String,
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
            | Event::ProjectCreated { project_id, .. }
            | Event::ProjectResumed { project_id, .. }
            | Event::ProjectArchived { project_id, .. }
            | Event::CampaignEnded { project_id, .. }
            | Event::Alert { project_id, .. }
            | Event::RunLog { project_id, .. }
            | Event::Points { project_id, .. } => *project_id,
        }
    }

    /// The SSE event name: the `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::RunFinished { .. } => "run_finished",
            Event::ProjectQuarantined { .. } => "project_quarantined",
            Event::ProjectCreated { .. } => "project_created",
            Event::ProjectResumed { .. } => "project_resumed",
            Event::ProjectArchived { .. } => "project_archived",
            Event::CampaignEnded { .. } => "campaign_ended",
            Event::Alert { .. } => "alert",
            Event::RunLog { .. } => "run_log",
            Event::Points { .. } => "points",
        }
    }

    /// Whether it goes to every lifecycle listener (webhooks, the admin
    /// stream, other nodes): not points and log lines, which only their
    /// project's followers get.
    pub fn is_lifecycle(&self) -> bool {
        !matches!(self, Event::Points { .. } | Event::RunLog { .. })
    }

    /// A quarantine event stamped now.
    pub fn quarantined(project_id: ProjectId, reason: String) -> Event {
        Event::ProjectQuarantined { project_id, reason, at_ms: now_millis() }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// It fired.
    Fired,
    /// It recovered.
    Recovered,
}

/// An event as the bus hands it out: shared by every listener, with its
/// JSON form made once, by the first listener that asks (a thousand SSE
/// subscribers must not serialise it a thousand times).
#[derive(Debug)]
pub struct Envelope {
    event: Event,
    /// Its place among this process's events (0: not published on a bus).
    seq: u64,
    /// When this process started, epoch ms: with `seq`, the event's id.
    boot: u64,
    json: std::sync::OnceLock<String>,
    /// Its wire form for listeners, made once for every subscriber.
    wire: std::sync::OnceLock<String>,
    /// Relayed from another node.
    remote: bool,
}

impl Envelope {
    /// Wraps an event for listeners, without an id (not published on a bus).
    pub fn new(event: Event) -> Shared {
        Envelope::sequenced(event, 0, 0)
    }

    /// Wraps an event numbered `seq` by the process started at `boot`.
    pub fn sequenced(event: Event, boot: u64, seq: u64) -> Shared {
        Arc::new(Envelope { event, seq, boot, json: OnceLock::new(), wire: OnceLock::new(), remote: false })
    }

    /// Its place among this process's events (0: none).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Its id, `<boot>.<seq>`, for a stream's `Last-Event-ID`; `None`
    /// unless it was published on a bus.
    pub fn id(&self) -> Option<String> {
        (self.seq > 0).then(|| format!("{}.{}", self.boot, self.seq))
    }

    /// The event in a listener's wire form (the web layer's Server-Sent
    /// Events frame), made by `make` from the event's id, name and JSON for
    /// the first subscriber that asks and shared by every other: one form
    /// per envelope, whoever makes it.
    pub fn wire(&self, make: fn(id: Option<&str>, name: &str, json: &str) -> String) -> &str {
        self.wire.get_or_init(|| make(self.id().as_deref(), self.name(), self.json()))
    }

    /// Whether another node published it (relayed in cluster mode).
    pub fn is_remote(&self) -> bool {
        self.remote
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

/// What a node's listeners follow, as it tells the other nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interest {
    /// Someone wants every event, points included.
    pub all: bool,
    /// Projects someone follows.
    pub projects: Vec<ProjectId>,
}

/// Events waiting to be relayed before new ones are dropped.
const RELAY_CAPACITY: usize = 10_000;

/// The relay to other nodes (cluster mode).
struct Relay {
    node: String,
    out: std::sync::mpsc::SyncSender<String>,
    /// What the other nodes follow.
    wanted: RwLock<(bool, HashSet<ProjectId>)>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Relay {
    fn wants(&self, project: ProjectId) -> bool {
        let wanted = self.wanted.read().unwrap_or_else(|p| p.into_inner());
        wanted.0 || wanted.1.contains(&project)
    }
}

/// An event on its way between nodes.
#[derive(Deserialize)]
struct Relayed {
    node: String,
    event: Event,
}

/// One followed project's channel, and what it kept for reconnections.
struct Topic {
    tx: broadcast::Sender<Shared>,
    kept: Ring,
    /// Since when nobody follows it (it is dropped [`LINGER`] later).
    idle_since: Option<Instant>,
}

impl Topic {
    fn lingered(&self, now: Instant) -> bool {
        self.tx.receiver_count() == 0 && self.idle_since.is_some_and(|t| now.duration_since(t) > LINGER)
    }
}

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Shared>,
    /// The lifecycle channel's last events, for reconnections; held while
    /// an event is sent, so a new subscriber's replay and its live events
    /// neither overlap nor leave a gap.
    kept: Arc<Mutex<Ring>>,
    /// Everything, points included, for the few who want it all (the admin
    /// UI's project list); fed only while someone listens.
    firehose: broadcast::Sender<Shared>,
    projects: Arc<Mutex<HashMap<ProjectId, Topic>>>,
    relay: Arc<OnceLock<Relay>>,
    /// When this process's bus started, epoch ms (the ids' first part).
    boot: u64,
    /// The last event's number.
    seq: Arc<AtomicU64>,
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
            kept: Arc::new(Mutex::new(Ring::new(LIFECYCLE_KEPT, 1))),
            firehose: broadcast::channel(CAPACITY).0,
            projects: Arc::default(),
            relay: Arc::default(),
            boot: u64::try_from(now_millis()).unwrap_or(0),
            seq: Arc::default(),
        }
    }

    /// Turns relaying on (cluster mode) for node `node`: returns the
    /// receiving end of the events to send to the other nodes, as JSON.
    pub(crate) fn enable_relay(&self, node: &str) -> Option<std::sync::mpsc::Receiver<String>> {
        let (out, rx) = std::sync::mpsc::sync_channel(RELAY_CAPACITY);
        let relay = Relay { node: node.to_owned(), out, wanted: RwLock::default(), dropped: Default::default() };
        self.relay.set(relay).ok().map(|()| rx)
    }

    /// What this node's listeners follow now.
    pub fn interest(&self) -> Interest {
        let mut projects: Vec<ProjectId> = self.topics().keys().copied().collect();
        projects.sort();
        Interest { all: self.firehose.receiver_count() > 0, projects }
    }

    /// Records what the other nodes' listeners follow.
    pub(crate) fn set_remote_interest(&self, others: &[Interest]) {
        if let Some(relay) = self.relay.get() {
            let all = others.iter().any(|i| i.all);
            let projects = others.iter().flat_map(|i| i.projects.iter().copied()).collect();
            *relay.wanted.write().unwrap_or_else(|p| p.into_inner()) = (all, projects);
        }
    }

    /// Publishes an event another node relayed: to this node's listeners
    /// only, marked remote.
    pub(crate) fn publish_relayed(&self, payload: &str) -> bool {
        let Ok(relayed) = serde_json::from_str::<Relayed>(payload) else {
            return false;
        };
        if self.relay.get().is_some_and(|r| r.node == relayed.node) {
            return true;
        }
        let seq = self.next_seq();
        self.fan_out(Arc::new(Envelope {
            event: relayed.event,
            seq,
            boot: self.boot,
            json: OnceLock::new(),
            wire: OnceLock::new(),
            remote: true,
        }));
        true
    }

    /// Events the relay dropped because it fell behind.
    pub fn relay_dropped(&self) -> u64 {
        self.relay.get().map_or(0, |r| r.dropped.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<ProjectId, Topic>> {
        self.projects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// What a subscriber that read up to `last` missed on `ring`.
    fn replay(&self, ring: &Ring, last: Option<&str>) -> Option<Replay> {
        let last = last?;
        Some(parse_id(last, self.boot).map_or(Replay::Reset, |seq| ring.since(seq)))
    }

    /// Sends an event to its project's followers and, unless it is points,
    /// to every lifecycle listener. Without listeners it is dropped.
    pub fn publish(&self, event: Event) {
        let event = Envelope::sequenced(event, self.boot, self.next_seq());
        if let Some(relay) = self.relay.get() {
            if event.is_lifecycle() || relay.wants(event.project()) {
                let node = serde_json::to_string(&relay.node).unwrap_or_else(|_| "\"\"".into());
                let payload = format!(r#"{{"node":{node},"event":{}}}"#, event.json());
                if relay.out.try_send(payload).is_err() {
                    relay.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        self.fan_out(event);
    }

    fn fan_out(&self, event: Shared) {
        let project = event.project();
        {
            let mut topics = self.topics();
            if let Some(topic) = topics.get_mut(&project) {
                topic.kept.push(event.clone());
                if topic.tx.send(event.clone()).is_err() {
                    // Everyone left: the channel stays a while for those
                    // who come back, then goes.
                    let now = Instant::now();
                    topic.idle_since.get_or_insert(now);
                    if topic.lingered(now) {
                        topics.remove(&project);
                    }
                }
            }
        }
        if self.firehose.receiver_count() > 0 {
            let _ = self.firehose.send(event.clone());
        }
        if event.is_lifecycle() {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.push(event.clone());
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
        self.subscribe_project_since(project, None).0
    }

    /// A follower of one project that read up to event `last` (an id, as
    /// a stream's `Last-Event-ID` gives it): what it missed, then its live
    /// events. `None` for a first connection.
    pub fn subscribe_project_since(
        &self,
        project: ProjectId,
        last: Option<&str>,
    ) -> (broadcast::Receiver<Shared>, Option<Replay>) {
        self.sweep(Instant::now());
        let mut topics = self.topics();
        let floor = self.seq.load(Ordering::Relaxed) + 1;
        let topic = topics.entry(project).or_insert_with(|| Topic {
            tx: broadcast::channel(PROJECT_CAPACITY).0,
            kept: Ring::new(PROJECT_KEPT, floor),
            idle_since: None,
        });
        topic.idle_since = None;
        let rx = topic.tx.subscribe();
        (rx, self.replay(&topic.kept, last))
    }

    /// Drops the channels nobody has followed for [`LINGER`] at `now`.
    fn sweep(&self, now: Instant) {
        self.topics().retain(|_, t| !t.lingered(now));
    }

    /// A lifecycle listener that read up to event `last`: what it missed
    /// (of the lifecycle events: points are not kept here), then the
    /// events of `all` (every event) or of the lifecycle channel.
    pub fn subscribe_since(&self, last: Option<&str>, all: bool) -> (broadcast::Receiver<Shared>, Option<Replay>) {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let rx = if all { self.firehose.subscribe() } else { self.tx.subscribe() };
        (rx, self.replay(&kept, last))
    }

    /// Whether anyone follows a project (so a publisher can skip building
    /// an event nobody would read).
    pub fn followed(&self, project: ProjectId) -> bool {
        self.firehose.receiver_count() > 0
            || self.topics().contains_key(&project)
            || self.relay.get().is_some_and(|r| r.wants(project))
    }

    /// Projects followed now (or left moments ago: their channels linger).
    pub fn followed_projects(&self) -> usize {
        self.topics().len()
    }

    /// Listeners now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests;
