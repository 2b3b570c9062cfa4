//! Per-project read tokens: a dashboard holding one reads that project and
//! nothing else. Only a hash of each token is stored; the caller makes the
//! token and its hash (see the web layer), so this module never sees one.

use diesel::prelude::*;
use trawler_domain::{now_millis, ProjectId};

use crate::schema::project_tokens as pt;
use crate::schema::token_projects as tp;
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
    /// The other projects it reads, by id (a token for several projects).
    pub also: Vec<ProjectId>,
}

/// Most projects one token reads.
pub const MAX_TOKEN_PROJECTS: usize = 100;

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
            also: Vec::new(),
        }
    }
}

impl ProjectToken {
    /// Whether it reads `project`.
    pub fn covers(&self, project: ProjectId) -> bool {
        self.project_id == project || self.also.contains(&project)
    }

    /// Every project it reads: its own first.
    pub fn projects(&self) -> Vec<ProjectId> {
        std::iter::once(self.project_id).chain(self.also.iter().copied()).collect()
    }

    /// With the other projects it reads.
    fn with_also(mut self, conn: &mut AnyConnection) -> StoreResult<ProjectToken> {
        let ids: Vec<i64> = db_run!(conn: {
            tp::table.filter(tp::token_id.eq(self.id)).order(tp::project_id).select(tp::project_id).load(conn)?
        });
        self.also = ids.into_iter().map(ProjectId).collect();
        Ok(self)
    }

    /// Stores a token that reads every one of `projects` (the first is its
    /// own: the token is listed and revoked there), by its hash. Each
    /// project must exist; duplicates count once.
    pub fn create_for(
        conn: &mut AnyConnection,
        projects: &[ProjectId],
        name: &str,
        token_hash: &str,
        prefix: &str,
    ) -> StoreResult<ProjectToken> {
        let Some((&first, rest)) = projects.split_first() else {
            return Err(StoreError::NotFound("project"));
        };
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            let token = ProjectToken::create(conn, first, name, token_hash, prefix)?;
            let mut others: Vec<ProjectId> = rest.iter().copied().filter(|p| *p != first).collect();
            others.sort();
            others.dedup();
            for p in others {
                crate::Project::get(conn, p)?;
                db_run!(conn: {
                    diesel::insert_into(tp::table).values((tp::token_id.eq(token.id), tp::project_id.eq(p.0))).execute(conn)?
                });
            }
            ProjectToken::get(conn, first, token.id)
        })
    }

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
        ProjectToken::from(row.ok_or(StoreError::NotFound("token"))?).with_also(conn)
    }

    /// A project's tokens, newest first, revoked ones included.
    pub fn list(conn: &mut AnyConnection, project: ProjectId) -> StoreResult<Vec<ProjectToken>> {
        crate::Project::get(conn, project)?;
        let rows: Vec<Row> = db_run!(conn: {
            pt::table.filter(pt::project_id.eq(project.0)).order(pt::id.desc()).select(Row::as_select()).load(conn)?
        });
        rows.into_iter().map(|r| ProjectToken::from(r).with_also(conn)).collect()
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
        let token = token.with_also(conn)?;
        let now = now_millis();
        if token.last_used_at_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            db_run!(conn: {
                diesel::update(pt::table.filter(pt::id.eq(token.id))).set(pt::last_used_at_ms.eq(Some(now))).execute(conn)?
            });
        }
        Ok(Some(token))
    }
}
