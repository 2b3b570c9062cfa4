//! The audit log: who changed what, when and from where.

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::audit_log;
use crate::{AnyConnection, StoreResult};

/// Project ids an entry names at most (every one is counted in `detail`).
pub const MOST_PROJECTS: usize = 1_000;

/// An entry to write.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who: a user's name, `admin` (the UI's password) or `token` (the
    /// admin token).
    pub actor: String,
    /// The actor's role.
    pub role: String,
    /// The method and the route (`POST /api/v1/projects/{id}/scrape`), or
    /// what happened (`job 3 done`).
    pub action: String,
    /// The path asked for, without its query.
    pub path: String,
    /// The answer's HTTP status.
    pub status: i32,
    /// The projects it touched.
    pub projects: Vec<i64>,
    /// What else says what it did.
    pub detail: Option<serde_json::Value>,
    /// The client's address.
    pub remote: Option<String>,
}

/// An entry as kept.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    /// Its id (newer entries have larger ids).
    pub id: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What.
    pub action: String,
    /// The path.
    pub path: String,
    /// The answer's status.
    pub status: i32,
    /// The projects it touched (the first 1,000).
    pub projects: Vec<i64>,
    /// More of what it did.
    pub detail: Option<serde_json::Value>,
    /// From where.
    pub remote: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct Row {
    id: i64,
    at_ms: i64,
    actor: String,
    role: String,
    action: String,
    path: String,
    status: i32,
    projects: String,
    detail: Option<String>,
    remote: Option<String>,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at_ms: r.at_ms,
            actor: r.actor,
            role: r.role,
            action: r.action,
            path: r.path,
            status: r.status,
            projects: r.projects.split(',').filter_map(|p| p.parse().ok()).collect(),
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
            remote: r.remote,
        }
    }
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only actions containing this (`archive`, `POST /ui/`).
    pub action: Option<String>,
    /// Only entries that touched this project.
    pub project: Option<i64>,
    /// From this time, epoch ms (inclusive).
    pub from_ms: Option<i64>,
    /// Before this time, epoch ms.
    pub to_ms: Option<i64>,
    /// Only entries older than this id (the next page).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// `,1,2,3,`: the ids as kept, each findable as `,2,`.
fn projects_text(projects: &[i64]) -> String {
    if projects.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = projects.iter().take(MOST_PROJECTS).map(i64::to_string).collect();
    format!(",{},", ids.join(","))
}

impl AuditEntry {
    /// Writes an entry.
    pub fn record(conn: &mut AnyConnection, e: &NewAudit) -> StoreResult<()> {
        let projects = projects_text(&e.projects);
        let detail = e.detail.as_ref().map(|d| d.to_string());
        let values = (
            audit_log::at_ms.eq(e.at_ms),
            audit_log::actor.eq(&e.actor),
            audit_log::role.eq(&e.role),
            audit_log::action.eq(&e.action),
            audit_log::path.eq(&e.path),
            audit_log::status.eq(e.status),
            audit_log::projects.eq(&projects),
            audit_log::detail.eq(detail.as_deref()),
            audit_log::remote.eq(e.remote.as_deref()),
        );
        db_run!(conn: { diesel::insert_into(audit_log::table).values(values).execute(conn)? });
        Ok(())
    }

    /// Entries matching `filter`, newest first.
    pub fn search(conn: &mut AnyConnection, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        // LIKE patterns are built from checked parts: `%` and `_` in what a
        // person typed are escaped.
        let escape = |s: &str| s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let action = f.action.as_deref().map(|a| format!("%{}%", escape(a)));
        let project = f.project.map(|p| format!("%,{p},%"));
        let rows: Vec<Row> = db_run!(conn: {
            let mut q = audit_log::table.into_boxed();
            if let Some(actor) = &f.actor {
                q = q.filter(audit_log::actor.eq(actor.clone()));
            }
            if let Some(action) = &action {
                q = q.filter(audit_log::action.like(action.clone()).escape('\\'));
            }
            if let Some(project) = &project {
                q = q.filter(audit_log::projects.like(project.clone()));
            }
            if let Some(from) = f.from_ms {
                q = q.filter(audit_log::at_ms.ge(from));
            }
            if let Some(to) = f.to_ms {
                q = q.filter(audit_log::at_ms.lt(to));
            }
            if let Some(before) = f.before_id {
                q = q.filter(audit_log::id.lt(before));
            }
            q.order(audit_log::id.desc()).limit(f.limit.max(0)).select(Row::as_select()).load(conn)?
        });
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// Deletes entries older than `before_ms`; how many went.
    pub fn prune(conn: &mut AnyConnection, before_ms: i64) -> StoreResult<usize> {
        Ok(db_run!(conn: { diesel::delete(audit_log::table.filter(audit_log::at_ms.lt(before_ms))).execute(conn)? }))
    }
}
