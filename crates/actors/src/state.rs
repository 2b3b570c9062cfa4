//! What `/admin/actors` shows: one entry per live actor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};
use serde::Serialize;
use trawler_domain::{Platform, ProjectId};

/// Counts the requests sent to an actor and not answered yet: its mailbox
/// plus the message in hand (actix does not expose its queue length).
#[derive(Debug, Clone, Default)]
pub struct Mailbox(Arc<AtomicUsize>);

/// Decrements the count when the request ends, even if its future is dropped.
struct Pending<'a>(&'a AtomicUsize);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Mailbox {
    /// Sends `msg` to `addr` and waits for the answer, counted.
    pub async fn send<A, M>(&self, addr: &Addr<A>, msg: M) -> Result<M::Result, MailboxError>
    where
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.0.fetch_add(1, Ordering::Relaxed);
        let _pending = Pending(&self.0);
        addr.send(msg).await
    }

    /// Requests waiting or in hand now.
    pub fn len(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An actor's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorStatus {
    /// Running and waiting for work.
    Idle,
    /// Starting up (loading its state).
    Starting,
    /// Fetching from a platform.
    Scraping,
    /// Writing to the database.
    Flushing,
    /// Waiting before a retry (database or platform down).
    BackingOff,
    /// Running (for actors without finer states).
    Running,
    /// Stopped after crashing too often; waits for an admin to resume it.
    Quarantined,
}

/// One actor in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct ActorInfo {
    /// `supervisor`, `registry`, `ingest`, `source` or `scraper`.
    pub kind: &'static str,
    /// A readable name (`scraper:42`, `source:kickstarter`).
    pub name: String,
    /// The project, for scrapers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// The platform, for source actors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Its status now.
    pub status: ActorStatus,
    /// When its last run started, epoch ms.
    pub last_run_ms: Option<i64>,
    /// When its next run is due, epoch ms.
    pub next_run_ms: Option<i64>,
    /// Times the supervisor restarted it.
    pub restarts: u32,
    /// Requests waiting in its mailbox or in hand, where counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<usize>,
    /// The last error it saw.
    pub last_error: Option<String>,
    /// Kind-specific figures (buffer sizes, counters).
    pub detail: serde_json::Value,
}

impl ActorInfo {
    /// An entry with no runs, restarts or error.
    pub fn new(kind: &'static str, name: String, status: ActorStatus) -> ActorInfo {
        ActorInfo {
            kind,
            name,
            project_id: None,
            platform: None,
            status,
            last_run_ms: None,
            next_run_ms: None,
            restarts: 0,
            mailbox: None,
            last_error: None,
            detail: serde_json::Value::Null,
        }
    }
}

/// The whole tree at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct TreeSnapshot {
    /// The node it describes (`TRAWLER_NODE_NAME`).
    pub node: String,
    /// When it was taken, epoch ms.
    pub taken_at_ms: i64,
    /// The supervisor, registry and ingest actor, then sources, then scrapers by project.
    pub actors: Vec<ActorInfo>,
}
