//! trawler's supervision tree, after Erlang/OTP: a supervisor that starts one
//! scraper actor per active project and restarts it when it crashes, a
//! registry of live scrapers, a fast-poll actor per platform, and an
//! ingestion actor that batches points into the database with back-pressure.
//! [`Tree`] starts the whole tree and is the handle the web layer uses.

mod archive;
mod campaign;
mod cluster;
mod compactor;
mod config;
mod cookies;
mod db;
mod deps;
mod error;
pub mod events;
mod fetching;
pub mod history;
mod ingest;
mod ledger;
mod live;
pub mod metrics;
mod monitor;
mod ownership;
mod pipeline;
mod quiet;
mod rates;
mod registry;
mod relay;
mod remote;
mod restart;
mod retention;
mod runbook;
mod scrape;
mod scraper;
mod source;
mod spend;
mod spool;
mod stall;
mod state;
mod supervisor;
mod task;
mod timeline;
pub use task::spawn_supervised;
mod tree;
pub mod webhook;

pub use cluster::CoordinatorView;
pub use compactor::{CompactorActor, GetCompactorState};
pub use config::{host_name, ActorsConfig, ActorsSettings, Housekeeping, LogLevel, NodeName, Retention};
pub use db::{DbExecutor, Exec};
pub use deps::source_spec;
pub use error::ActorError;
pub use events::{Envelope, Event, EventBus, Replay, Shared};
pub use ingest::{Flush, GetIngestState, IngestActor, IngestConfig, IngestPoints};
pub use metrics::Metrics;
pub use pipeline::Imported;
pub use rates::{GetRatesState, RatesActor};
pub use registry::{Lookup, Register, Registry, Unregister};
pub use retention::RetentionActor;
pub use scraper::{Reload, RunPhase, ScrapeNow, ScraperActor};
pub use source::{poll_division, PollDivision, SourceActor};
pub use spool::{Spool, SpoolDepth, SpoolError};
pub use state::{ActorInfo, ActorStatus, Mailbox, TreeSnapshot};
pub use supervisor::ProjectSupervisor;
pub use trawler_sources::{Adapters, SourceSpec};

/// The platforms' gates as the tree reports them (`Tree::gates`, a run's
/// place in line), for the layers above, which do not reach the sources.
pub mod gates {
    pub use trawler_sources::proxy::ProxyState;
    pub use trawler_sources::{GateSnapshot, GatesSnapshot, HostCircuit, PauseAsked, Standing};
}
pub use tree::{Bulk, BulkDone, BulkSkip, Cadence, Reparsed, Tree};
pub use webhook::{WebhookConfig, Webhooks, WEBHOOK_EVENTS};
