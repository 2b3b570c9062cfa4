//! The Audit page: who changed what, when and from where, filtered, with
//! an export of what the filters match as JSON lines.

use super::*;
use crate::views::{AuditQuery, AuditView};

pub(super) struct AuditRow {
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) role: String,
    pub(super) action: String,
    pub(super) status: i32,
    pub(super) projects: Vec<i64>,
    pub(super) more: usize,
    pub(super) detail: String,
    pub(super) remote: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub(super) struct AuditPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) rows: Vec<AuditRow>,
    pub(super) q: AuditQuery,
    /// The filters as a query string (the export's and the next page's).
    pub(super) query: String,
    pub(super) older: Option<i64>,
}

/// The audit log, newest first, 100 entries a page.
pub async fn audit_page(session: UiSession, state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q: AuditQuery = serde_urlencoded_query(req.query_string())?;
    let filter = crate::api::audit::audit_filter(&AuditQuery { limit: Some(100), ..q.clone() }, 1000)?;
    let entries = db(&state, move |conn| trawler_store::AuditEntry::search(conn, &filter)).await?;
    let older = (entries.len() == 100).then(|| entries.last().map_or(0, |e| e.id));
    let mut query = q.filter_query();
    let rows = entries
        .into_iter()
        .map(AuditView::from)
        .map(|e| AuditRow {
            at: ms_text(Some(e.at_ms)),
            actor: e.actor,
            role: e.role,
            action: e.action,
            status: e.status,
            more: e.projects.len().saturating_sub(10),
            projects: e.projects.into_iter().take(10).collect(),
            detail: e.detail.map(|d| d.to_string()).unwrap_or_default(),
            remote: e.remote.unwrap_or_default(),
        })
        .collect();
    html(&AuditPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "audit",
        flash: None,
        rows,
        q,
        query: query.finish(),
        older,
    })
}

/// Reads the page's query (empty fields are no filter).
fn serde_urlencoded_query(query: &str) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "actor" => q.actor = Some(v),
            "action" => q.action = Some(v),
            "from" => q.from = Some(v),
            "to" => q.to = Some(v),
            "project" => {
                q.project = Some(v.parse().map_err(|_| ApiError::BadRequest(format!("project: `{v}` is not an id")))?)
            }
            "before" => {
                q.before = Some(v.parse().map_err(|_| ApiError::BadRequest(format!("before: `{v}` is not an id")))?)
            }
            _ => {}
        }
    }
    Ok(q)
}
