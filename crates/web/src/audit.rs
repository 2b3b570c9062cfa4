//! The audit log: every request that changes state — through the API or
//! the UI — is written down after it is answered, with who made it (the
//! credential's holder and role), what (the method and route), which
//! projects, when, from where, and how it was answered. Handlers add what
//! the route does not say (the projects of a bulk action, a job's number)
//! with [`note`]. Reads are not recorded, nor requests without a valid
//! credential (failed logins are in the node's log).

use actix_web::{HttpMessage, HttpRequest};
use trawler_store::{AuditEntry, NewAudit};

use crate::AppState;

/// Who a request acts as, set by the extractor that authenticated it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A user's name, `admin` (the UI's password) or `token` (the admin
    /// token).
    pub name: String,
    /// Their role.
    pub role: &'static str,
}

/// What a handler adds to its request's entry.
#[derive(Debug, Clone, Default)]
pub struct Noted {
    /// The projects it touched.
    pub projects: Vec<i64>,
    /// More of what it did.
    pub detail: Option<serde_json::Value>,
}

/// Sets who `req` acts as.
pub(crate) fn act_as(req: &HttpRequest, name: &str, role: &'static str) {
    req.extensions_mut().insert(Actor { name: name.to_owned(), role });
}

/// Who `req` acts as (the admin token when none was set).
pub(crate) fn actor_of(req: &HttpRequest) -> Actor {
    req.extensions().get::<Actor>().cloned().unwrap_or_else(|| Actor { name: "token".into(), role: "admin" })
}

/// Adds the projects a request touched and what else it did.
pub(crate) fn note(req: &HttpRequest, projects: Vec<i64>, detail: Option<serde_json::Value>) {
    req.extensions_mut().insert(Noted { projects, detail });
}

/// The client's address (a trusted proxy's `X-Forwarded-For` followed).
pub(crate) fn client(state: &AppState, req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Some(crate::login::client_address(peer, forwarded, &state.login_guard.trusted_proxies).to_string())
}

/// Writes `entry` without holding up the caller; a failure is logged.
pub(crate) fn write(state: &AppState, entry: NewAudit) {
    let pool = state.pool.clone();
    actix_web::rt::spawn(async move {
        let written = actix_web::web::block(move || {
            let mut conn = pool.get()?;
            AuditEntry::record(&mut conn, &entry)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("audit: an entry could not be written: {e}"),
            Err(e) => log::warn!("audit: an entry could not be written: {e}"),
        }
    });
}

/// Records an answered request if it changed, or tried to change, state
/// with a valid credential (the server's middleware calls this).
pub fn record(state: &AppState, req: &HttpRequest, status: u16) {
    use actix_web::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return;
    }
    let Some(actor) = req.extensions().get::<Actor>().cloned() else { return };
    let noted = req.extensions().get::<Noted>().cloned().unwrap_or_default();
    let pattern = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
    let mut projects = noted.projects;
    if projects.is_empty() && pattern.contains("/projects/{id}") {
        projects.extend(req.match_info().get("id").and_then(|id| id.parse::<i64>().ok()));
    }
    let entry = NewAudit {
        at_ms: trawler_domain::now_millis(),
        actor: actor.name,
        role: actor.role.to_owned(),
        action: format!("{} {pattern}", method_label(req.method())),
        path: req.path().chars().take(500).collect(),
        status: i32::from(status),
        projects,
        detail: noted.detail,
        remote: client(state, req),
    };
    write(state, entry);
}

/// The metrics label of a request method: one of the standard methods, or
/// `other`. Anyone can send any method; a label per made-up method would
/// let anonymous requests grow the node's memory and its `/metrics` page.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
