//! The audit log as the API serves it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One entry: who changed what, when and from where.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Its id (newer entries have larger ids).
    pub id: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who: a user's name, `admin` (the UI's password), `token` (the admin
    /// token) or `signal` (SIGHUP).
    pub actor: String,
    /// Their role.
    pub role: String,
    /// The method and route (`POST /api/v1/projects/{id}/scrape`), or what
    /// happened (`job 3 done`).
    pub action: String,
    /// The path.
    pub path: String,
    /// The answer's HTTP status.
    pub status: i32,
    /// The projects it touched (the first 1,000).
    pub projects: Vec<i64>,
    /// More of what it did.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// The client's address.
    pub remote: Option<String>,
}

impl From<trawler_store::AuditEntry> for AuditView {
    fn from(e: trawler_store::AuditEntry) -> AuditView {
        AuditView {
            id: e.id,
            at_ms: e.at_ms,
            actor: e.actor,
            role: e.role,
            action: e.action,
            path: e.path,
            status: e.status,
            projects: e.projects,
            detail: e.detail,
            remote: e.remote,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditView>,
    /// The next (older) page, if there may be one.
    pub next: Option<String>,
}

/// `GET /api/v1/admin/audit` and its export.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor's entries.
    #[param(max_length = 100)]
    pub actor: Option<String>,
    /// Only actions containing this (`archive`, `/ui/`).
    #[param(max_length = 200)]
    pub action: Option<String>,
    /// Only entries that touched this project.
    pub project: Option<i64>,
    /// From this date (`YYYY-MM-DD`) or epoch second.
    pub from: Option<String>,
    /// Until this date (inclusive) or epoch second.
    pub to: Option<String>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
    /// At most this many (1 to 1,000; the export: to 100,000).
    pub limit: Option<i64>,
}

impl AuditQuery {
    /// The filters as a query string (no page, no limit): what an export
    /// and the next page carry.
    pub fn filter_query(&self) -> url::form_urlencoded::Serializer<'static, String> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("actor", &self.actor), ("action", &self.action), ("from", &self.from), ("to", &self.to)] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                query.append_pair(k, v);
            }
        }
        if let Some(p) = self.project {
            query.append_pair("project", &p.to_string());
        }
        query
    }
}
