//! trawler's HTTP surface: the JSON API under `/api/v1` (projects, triggers,
//! series, summaries, runs, the operators' view of the actor tree) and the
//! health endpoints. Every route is wired in [`routes`]; every error leaves
//! through [`ApiError`].

mod api;
mod audit;
mod auth;
mod error;
mod filters;
mod jobs;
mod labels;
mod limits;
mod login;
mod moment;
mod money;
mod reload;
pub use moment::Moment;
pub use money::CurrencyMemo;
pub use reload::Reloader;
pub mod openapi;
mod routes;
mod service;
mod settings;
mod sse;
mod state;
pub mod ui;
pub mod views;

pub use audit::record as audit_request;
pub use auth::AdminToken;
pub use error::{ApiError, ErrorCode};
pub use jobs::Jobs;
pub use limits::{Limits, LimitsConfig};
pub use login::{Cidr, LoginGuard};
pub use routes::{configure, record_request};
pub use settings::{PasswordHash, WebSettings};
pub use sse::watch_revocations;
pub use state::AppState;
pub use ui::{check_password_hash, hash_password};
