//! Project leases (cluster mode): each active project is owned by at most
//! one live node at a time. A node renews its leases on every heartbeat;
//! a lease whose `expires_at_ms` has passed may be taken by any node.
//!
//! Taking leases is one transaction: the candidate projects are locked with
//! `SELECT … FOR UPDATE SKIP LOCKED`, so nodes acquiring at the same moment
//! pick different projects instead of queueing on each other, and the
//! upsert only replaces a lease that has expired, so a lease renewed in the
//! meantime is never taken. PostgreSQL coordinates; nothing else does.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::schema::{leases, projects};
use crate::{write_transaction, AnyConnection, StoreResult};
use trawler_domain::{ProjectId, ProjectStatus};

/// How long a lease lasts past its latest renewal, ms. Renewed with every
/// heartbeat ([`crate::node::HEARTBEAT_MS`]), it survives four missed ones.
pub const LEASE_TTL_MS: i64 = crate::node::TTL_MS;

/// Who holds a lease, for the node that owns it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    /// The node's name.
    pub node: &'a str,
    /// The process (a restarted node does not inherit its leases).
    pub instance: &'a str,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn ids(rows: Vec<IdRow>) -> Vec<ProjectId> {
    let mut out: Vec<ProjectId> = rows.into_iter().map(|r| ProjectId(r.id)).collect();
    out.sort();
    out
}

/// The lease operations.
pub struct Lease;

impl Lease {
    /// Extends every lease `holder` still holds to `now_ms + ttl_ms`;
    /// returns the projects it holds. A lease another node took over (this
    /// node missed its renewals) is not among them.
    pub fn renew(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<ProjectId>> {
        let sql = "UPDATE leases SET expires_at_ms = $1 WHERE node = $2 AND instance = $3 RETURNING project_id AS id";
        let rows: Vec<IdRow> = db_run!(conn: {
            diesel::sql_query(sql)
                .bind::<BigInt, _>(now_ms + ttl_ms)
                .bind::<Text, _>(holder.node)
                .bind::<Text, _>(holder.instance)
                .load(conn)?
        });
        Ok(ids(rows))
    }

    /// Takes up to `limit` active projects that nobody holds or whose lease
    /// expired before `now_ms`; returns those taken.
    pub fn acquire(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        limit: usize,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<ProjectId>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        write_transaction(conn, |conn| {
            let candidates: Vec<i64> = match conn {
                AnyConnection::Postgresql(c) => diesel::sql_query(
                    "SELECT p.id FROM projects p LEFT JOIN leases l ON l.project_id = p.id \
                     WHERE p.status = $1 AND (l.project_id IS NULL OR l.expires_at_ms < $2) \
                     ORDER BY p.id LIMIT $3 FOR UPDATE OF p SKIP LOCKED",
                )
                .bind::<Text, _>(ProjectStatus::Active.as_str())
                .bind::<BigInt, _>(now_ms)
                .bind::<BigInt, _>(limit as i64)
                .load::<IdRow>(c)?
                .into_iter()
                .map(|r| r.id)
                .collect(),
                // One node per SQLite file: nothing to race with.
                AnyConnection::Sqlite(c) => diesel::sql_query(
                    "SELECT p.id FROM projects p LEFT JOIN leases l ON l.project_id = p.id \
                     WHERE p.status = $1 AND (l.project_id IS NULL OR l.expires_at_ms < $2) \
                     ORDER BY p.id LIMIT $3",
                )
                .bind::<Text, _>(ProjectStatus::Active.as_str())
                .bind::<BigInt, _>(now_ms)
                .bind::<BigInt, _>(limit as i64)
                .load::<IdRow>(c)?
                .into_iter()
                .map(|r| r.id)
                .collect(),
            };
            Self::take(conn, holder, &candidates, now_ms, ttl_ms)
        })
    }

    /// Takes the lease of one project if it is active and nobody holds it
    /// (a project just created or resumed on this node). Returns whether
    /// this node holds it now.
    pub fn acquire_one(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        project: ProjectId,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        write_transaction(conn, |conn| {
            let active: Option<String> = db_run!(conn: {
                projects::table.find(project.0).select(projects::status).first(conn).optional()?
            });
            if active.as_deref() != Some(ProjectStatus::Active.as_str()) {
                return Ok(false);
            }
            let taken = Self::take(conn, holder, &[project.0], now_ms, ttl_ms)?;
            if !taken.is_empty() {
                return Ok(true);
            }
            Ok(Self::owner(conn, project, now_ms)?.as_deref() == Some(holder.node))
        })
    }

    /// Inserts or takes over (when expired) the leases of `candidates`.
    fn take(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        candidates: &[i64],
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<ProjectId>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        const UPSERT: &str = "ON CONFLICT (project_id) DO UPDATE SET node = excluded.node, \
             instance = excluded.instance, acquired_at_ms = excluded.acquired_at_ms, \
             expires_at_ms = excluded.expires_at_ms WHERE leases.expires_at_ms < $4 \
             RETURNING project_id AS id";
        let rows: Vec<IdRow> = match conn {
            AnyConnection::Postgresql(c) => diesel::sql_query(format!(
                "INSERT INTO leases (project_id, node, instance, acquired_at_ms, expires_at_ms) \
                 SELECT unnest($1::bigint[]), $2, $3, $4, $5 {UPSERT}"
            ))
            .bind::<Array<BigInt>, _>(candidates)
            .bind::<Text, _>(holder.node)
            .bind::<Text, _>(holder.instance)
            .bind::<BigInt, _>(now_ms)
            .bind::<BigInt, _>(now_ms + ttl_ms)
            .load(c)?,
            AnyConnection::Sqlite(c) => {
                let mut rows = Vec::new();
                for id in candidates {
                    // `WHERE true` keeps SQLite's parser from reading ON as a join.
                    rows.extend(
                        diesel::sql_query(format!(
                            "INSERT INTO leases (project_id, node, instance, acquired_at_ms, expires_at_ms) \
                             SELECT $1, $2, $3, $4, $5 WHERE true {UPSERT}"
                        ))
                        .bind::<BigInt, _>(*id)
                        .bind::<Text, _>(holder.node)
                        .bind::<Text, _>(holder.instance)
                        .bind::<BigInt, _>(now_ms)
                        .bind::<BigInt, _>(now_ms + ttl_ms)
                        .load::<IdRow>(c)?,
                    );
                }
                rows
            }
        };
        Ok(ids(rows))
    }

    /// Gives up leases of `holder` (projects handed to other nodes,
    /// archived, or all of them at shutdown).
    pub fn release(conn: &mut AnyConnection, holder: Holder<'_>, projects: &[ProjectId]) -> StoreResult<usize> {
        let mut released = 0;
        for chunk in projects.chunks(10_000) {
            let ids: Vec<i64> = chunk.iter().map(|p| p.0).collect();
            released += db_run!(conn: {
                diesel::delete(
                    leases::table
                        .filter(leases::node.eq(holder.node))
                        .filter(leases::instance.eq(holder.instance))
                        .filter(leases::project_id.eq_any(&ids)),
                )
                .execute(conn)?
            });
        }
        Ok(released)
    }

    /// Gives up every lease of `holder` (clean shutdown).
    pub fn release_all(conn: &mut AnyConnection, holder: Holder<'_>) -> StoreResult<usize> {
        Ok(db_run!(conn: {
            diesel::delete(
                leases::table.filter(leases::node.eq(holder.node)).filter(leases::instance.eq(holder.instance)),
            )
            .execute(conn)?
        }))
    }

    /// The node holding an unexpired lease on `project`, if any.
    pub fn owner(conn: &mut AnyConnection, project: ProjectId, now_ms: i64) -> StoreResult<Option<String>> {
        Ok(db_run!(conn: {
            leases::table
                .find(project.0)
                .filter(leases::expires_at_ms.ge(now_ms))
                .select(leases::node)
                .first(conn)
                .optional()?
        }))
    }

    /// Unexpired leases per node, by name.
    pub fn counts(conn: &mut AnyConnection, now_ms: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(db_run!(conn: {
            leases::table
                .filter(leases::expires_at_ms.ge(now_ms))
                .group_by(leases::node)
                .select((leases::node, diesel::dsl::count_star()))
                .order(leases::node)
                .load(conn)?
        }))
    }

    /// Projects `holder` leases that are no longer active (archived or
    /// quarantined, possibly through another node).
    pub fn held_inactive(conn: &mut AnyConnection, holder: Holder<'_>) -> StoreResult<Vec<ProjectId>> {
        let rows: Vec<i64> = db_run!(conn: {
            leases::table
                .inner_join(projects::table)
                .filter(leases::node.eq(holder.node))
                .filter(leases::instance.eq(holder.instance))
                .filter(projects::status.ne(ProjectStatus::Active.as_str()))
                .select(leases::project_id)
                .load(conn)?
        });
        Ok(rows.into_iter().map(ProjectId).collect())
    }

    /// How many projects are active (the whole to share out).
    pub fn active_projects(conn: &mut AnyConnection) -> StoreResult<i64> {
        Ok(db_run!(conn: {
            projects::table.filter(projects::status.eq(ProjectStatus::Active.as_str())).count().get_result(conn)?
        }))
    }
}
