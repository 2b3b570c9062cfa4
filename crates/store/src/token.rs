//! Per-project read tokens: a dashboard holding one reads that project and
//! nothing else. Only a hash of each token is stored; the caller makes the
//! token and its hash (see the web layer), so this module never sees one.

use diesel::prelude::*;
use trawler_domain::{now_millis, ProjectId};

use crate::schema::project_tokens as pt;
use crate::{AnyConnection, StoreError, StoreResult};

/// How often `last_used_at_ms` is written at most: reads must not turn into
/// a write each.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A read token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectToken {
    /// Its id.
    pub id: i64,
    /// The project it reads.
    pub project_id: ProjectId,
    /// A label ("creator dashboard").
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    /// When it was made, epoch ms.
    pub created_at_ms: i64,
    /// When it was last used (to the minute), epoch ms.
    pub last_used_at_ms: Option<i64>,
    /// When it was revoked, epoch ms; a revoked token reads nothing.
    pub revoked_at_ms: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = pt)]
struct Row {
    id: i64,
    project_id: i64,
    name: String,
    prefix: String,
    created_at_ms: i64,
    last_used_at_ms: Option<i64>,
    revoked_at_ms: Option<i64>,
}

impl From<Row> for ProjectToken {
    fn from(r: Row) -> ProjectToken {
        ProjectToken {
            id: r.id,
            project_id: ProjectId(r.project_id),
            name: r.name,
            prefix: r.prefix,
            created_at_ms: r.created_at_ms,
            last_used_at_ms: r.last_used_at_ms,
            revoked_at_ms: r.revoked_at_ms,
        }
    }
}

impl ProjectToken {
    /// Stores a token of `project` by its hash; the project must exist.
    pub fn create(
        conn: &mut AnyConnection,
        project: ProjectId,
        name: &str,
        token_hash: &str,
        prefix: &str,
    ) -> StoreResult<ProjectToken> {
        crate::Project::get(conn, project)?;
        let now = now_millis();
        let id: i64 = db_run!(conn: {
            diesel::insert_into(pt::table)
                .values((
                    pt::project_id.eq(project.0),
                    pt::name.eq(name),
                    pt::token_hash.eq(token_hash),
                    pt::prefix.eq(prefix),
                    pt::created_at_ms.eq(now),
                ))
                .returning(pt::id)
                .get_result(conn)?
        });
        ProjectToken::get(conn, project, id)
    }

    /// One token of a project, or `NotFound`.
    pub fn get(conn: &mut AnyConnection, project: ProjectId, id: i64) -> StoreResult<ProjectToken> {
        let row: Option<Row> = db_run!(conn: {
            pt::table
                .filter(pt::id.eq(id))
                .filter(pt::project_id.eq(project.0))
                .select(Row::as_select())
                .first(conn)
                .optional()?
        });
        Ok(row.ok_or(StoreError::NotFound("token"))?.into())
    }

    /// A project's tokens, newest first, revoked ones included.
    pub fn list(conn: &mut AnyConnection, project: ProjectId) -> StoreResult<Vec<ProjectToken>> {
        crate::Project::get(conn, project)?;
        let rows: Vec<Row> = db_run!(conn: {
            pt::table.filter(pt::project_id.eq(project.0)).order(pt::id.desc()).select(Row::as_select()).load(conn)?
        });
        Ok(rows.into_iter().map(ProjectToken::from).collect())
    }

    /// Revokes a token (idempotent); returns it.
    pub fn revoke(conn: &mut AnyConnection, project: ProjectId, id: i64) -> StoreResult<ProjectToken> {
        let token = ProjectToken::get(conn, project, id)?;
        if token.revoked_at_ms.is_none() {
            db_run!(conn: {
                diesel::update(pt::table.filter(pt::id.eq(id))).set(pt::revoked_at_ms.eq(Some(now_millis()))).execute(conn)?
            });
        }
        ProjectToken::get(conn, project, id)
    }

    /// The ids of the tokens revoked at or after `since_ms` (epoch ms).
    pub fn revoked_since(conn: &mut AnyConnection, since_ms: i64) -> StoreResult<Vec<i64>> {
        Ok(db_run!(conn: {
            pt::table.filter(pt::revoked_at_ms.ge(since_ms)).select(pt::id).load(conn)?
        }))
    }

    /// The live (not revoked) token with this hash, marking it used.
    pub fn authenticate(conn: &mut AnyConnection, token_hash: &str) -> StoreResult<Option<ProjectToken>> {
        let row: Option<Row> = db_run!(conn: {
            pt::table
                .filter(pt::token_hash.eq(token_hash))
                .filter(pt::revoked_at_ms.is_null())
                .select(Row::as_select())
                .first(conn)
                .optional()?
        });
        let Some(token) = row.map(ProjectToken::from) else {
            return Ok(None);
        };
        let now = now_millis();
        if token.last_used_at_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            db_run!(conn: {
                diesel::update(pt::table.filter(pt::id.eq(token.id))).set(pt::last_used_at_ms.eq(Some(now))).execute(conn)?
            });
        }
        Ok(Some(token))
    }
}
