//! The actors' one error type.
//!
//! Policy: `NotFound` and `Archived` are the caller's problem (404, 409);
//! `Store` and `Mailbox` mean the system could not do the work right now.

use trawler_store::StoreError;

/// What can go wrong when asking the tree to do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The project does not exist.
    #[error("project not found")]
    NotFound,
    /// The project is archived: it is not scraped any more.
    #[error("project is archived")]
    Archived,
    /// The project is quarantined after crashing too often.
    #[error("project is quarantined; resume it first")]
    Quarantined,
    /// The project is active but its scraper is not running (restarting after a crash).
    #[error("the project's scraper is restarting; try again shortly")]
    NotRunning,
    /// The run is not in progress (it ended, or never started here).
    #[error("the run is not running")]
    RunNotRunning,
    /// No live node of that name.
    #[error("no live node named `{0}`")]
    NodeNotFound(String),
    /// The node owning the project did not carry out the request.
    #[error("the node running this project did not answer: {0}")]
    Remote(String),
    /// The spool could not be opened.
    #[error("spool: {0}")]
    Spool(String),
    /// Encoding the metrics failed.
    #[error("encoding metrics: {0}")]
    Metrics(String),
    /// Writing buffered points failed.
    #[error("flushing points failed: {0}")]
    Flush(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An actor could not be reached (stopping, or its mailbox closed).
    #[error("actor unavailable: {0}")]
    Mailbox(#[from] actix::MailboxError),
}

impl ActorError {
    /// Whether the system could not do the work right now (the database,
    /// an actor or another node unreachable): worth a retry, unlike a
    /// refusal.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ActorError::Store(e) => e.is_unavailable(),
            ActorError::Remote(_) | ActorError::Spool(_) | ActorError::Flush(_) | ActorError::Mailbox(_) => true,
            _ => false,
        }
    }
}
