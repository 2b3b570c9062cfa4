//! What every handler can reach.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use trawler_actors::Tree;
use trawler_store::DbPool;

use crate::AdminToken;

/// Shared by all workers (built once, outside `HttpServer::new`).
pub struct AppState {
    /// The database.
    pub pool: DbPool,
    /// The actor tree.
    pub tree: Tree,
    /// The admin credential.
    pub admin_token: AdminToken,
    /// The scrape token: reads `/metrics` and nothing else.
    pub metrics_token: Option<AdminToken>,
    /// Set once migrations have been applied (for `/readyz`).
    pub migrated: Arc<AtomicBool>,
    /// The argon2 hash of the admin UI's password; without it the UI's
    /// login is off.
    pub ui_password_hash: Option<String>,
    /// Whether session cookies are marked Secure whatever the request's
    /// scheme (set behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// Caps on event streams and expensive reads, per node and per token.
    pub limits: crate::Limits,
    /// Tells read-token event streams of revocations.
    pub revocations: std::sync::Arc<crate::sse::Revocations>,
    /// Limits login attempts per client address.
    pub login_guard: crate::login::LoginGuard,
    /// Origins that may frame the creator's dashboard (none: no site may).
    pub embed_origins: Vec<String>,
    /// Each project's source currencies, remembered a minute.
    pub currencies: std::sync::Arc<crate::CurrencyMemo>,
    /// This node's bulk jobs.
    pub jobs: crate::jobs::Jobs,
    /// Reloads the settings (none: this node has nothing to reload).
    pub reloader: Option<std::sync::Arc<dyn crate::Reloader>>,
}
