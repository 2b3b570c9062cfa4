//! trawler's persistence: the diesel schema, models and queries, the
//! migrations of both backends, and the connection pool. One code path serves
//! SQLite (the embedded default) and PostgreSQL (production, clusters): each
//! query is written once and expanded per backend by [`db_run!`].

#[macro_use]
mod pool;
pub mod archive;
pub mod audit;
pub mod chunk;
pub mod codec;
pub mod command;
pub mod cookie_jar;
mod error;
pub mod labels;
pub mod lease;
mod migrate;
pub mod money;
pub mod monitor;
pub mod node;
pub mod notify;
pub mod point;
pub mod project;
pub mod prune;
mod rollup;
pub mod run;
mod runbook;
pub mod schema;
pub mod secret;
pub mod session;
mod settings;
pub mod testing;
pub mod timeline;
pub mod token;
pub mod user;
pub mod view;
pub mod webhook;

pub use archive::{Archive, Bounds, Break, NewResponse, Response, ResponseFilter};
pub use audit::{AuditEntry, AuditFilter, NewAudit};
pub use chunk::{Chunks, Pass};
pub use command::{Command, CommandKind};
pub use cookie_jar::CookieJar;
pub use error::StoreError;
pub use lease::{Holder, Lease};
pub use migrate::{migrations_pending, revert_all, run_migrations};
pub use money::RATES_PROJECT;
pub use monitor::{Alert, NewAlert};
pub use node::Node;
pub use point::{ExportCursor, ExportRow, Point, Series, SeriesQuery, SeriesResult};
pub use pool::{read_snapshot, write_transaction, AnyConnection, Backend, DbPool, DbUrl, PooledConn, StoreConfig};
pub use project::{NewSource, PlatformLoad, Project, ProjectPatch, Schedule, Source, SourceCampaign};
pub use run::{Run, RunEnd, RunFilter};
pub use runbook::{Booked, Booking, OwnedRunEnd};
pub use secret::Cipher;
pub use session::Session;
pub use settings::StoreSettings;
pub use timeline::{Scope, Timeline};
pub use token::ProjectToken;
pub use user::User;
pub use webhook::{Attempt, Delivery, DeliveryStatus, DueDelivery, NewWebhook, Webhook};

/// The result type of every store function.
pub type StoreResult<T> = Result<T, StoreError>;

/// Project ids in slices a single statement can bind (`IN (…)`): SQLite
/// takes at most 32,766 parameters per statement and PostgreSQL 65,535, and
/// a node may pass a hundred thousand projects.
pub(crate) fn id_chunks(projects: &[trawler_domain::ProjectId]) -> impl Iterator<Item = Vec<i64>> + '_ {
    projects.chunks(10_000).map(|chunk| chunk.iter().map(|p| p.0).collect())
}
