//! The audit log: read, filtered, and exported as JSON lines.

use actix_web::{web, HttpResponse};
use trawler_store::{AuditEntry, AuditFilter};

use crate::auth::Admin;
use crate::service::{db, Data};
use crate::views::*;
use crate::ApiError;

/// Most entries of one export.
const MOST_EXPORTED: i64 = 100_000;

/// The store's filter for a query, at most `most` entries.
pub(crate) fn audit_filter(q: &AuditQuery, most: i64) -> Result<AuditFilter, ApiError> {
    let limit = q.limit.unwrap_or(most.min(100));
    if !(1..=most).contains(&limit) {
        return Err(ApiError::BadRequest(format!("`limit` must be between 1 and {most}")));
    }
    let from_ms = q.from.as_deref().map(|f| crate::filters::bound("from", f.trim(), false)).transpose()?.flatten();
    let to_ms = q.to.as_deref().map(|t| crate::filters::bound("to", t.trim(), true)).transpose()?.flatten();
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if f >= t {
            return Err(ApiError::BadRequest("`from` must come before `to`".into()));
        }
    }
    if q.actor.as_ref().is_some_and(|a| a.chars().count() > 100) {
        return Err(ApiError::BadRequest("`actor` has at most 100 characters".into()));
    }
    if q.action.as_ref().is_some_and(|a| a.chars().count() > 200) {
        return Err(ApiError::BadRequest("`action` has at most 200 characters".into()));
    }
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(AuditFilter {
        actor: text(&q.actor),
        action: text(&q.action),
        project: q.project,
        from_ms,
        to_ms,
        before_id: q.before,
        limit,
    })
}

/// Who changed what, when and from where: newest first, a page at a time,
/// filtered by actor, action, project and time.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_audit(_: Admin, state: Data, q: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let filter = audit_filter(&q, 1000)?;
    let limit = filter.limit;
    let entries = db(&state, move |conn| AuditEntry::search(conn, &filter)).await?;
    let next = (entries.len() as i64 == limit).then(|| {
        let mut query = q.filter_query();
        query.append_pair("limit", &limit.to_string());
        query.append_pair("before", &entries.last().map_or(0, |e| e.id).to_string());
        format!("/api/v1/admin/audit?{}", query.finish())
    });
    Ok(HttpResponse::Ok().json(AuditPage { entries: entries.into_iter().map(AuditView::from).collect(), next }))
}

/// The same entries as JSON lines (newest first, up to 100,000), for an
/// archive or a log pipeline.
#[utoipa::path(get, path = "/api/v1/admin/audit.jsonl", tag = "admin", params(AuditQuery),
    responses((status = 200, description = "JSON lines, one entry each", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn export_audit(_: Admin, state: Data, q: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let mut q = q.into_inner();
    q.limit = Some(q.limit.unwrap_or(MOST_EXPORTED));
    let filter = audit_filter(&q, MOST_EXPORTED)?;
    let entries = db(&state, move |conn| AuditEntry::search(conn, &filter)).await?;
    let mut body = String::new();
    for e in entries {
        body.push_str(&serde_json::to_string(&AuditView::from(e)).unwrap_or_default());
        body.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("Content-Disposition", "attachment; filename=\"trawler-audit.jsonl\""))
        .body(body))
}
