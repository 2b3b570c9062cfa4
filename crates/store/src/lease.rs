//! Project leases (cluster mode): each active project is owned by at most
//! one live node at a time.
//!
//! A lease names a node process (name and instance) and holds while that
//! process heartbeats in `nodes`: one heartbeat renews all of a node's
//! leases, so a node holding 50,000 projects writes one row every two
//! seconds, not 50,000. Once the holder's heartbeat is older than the TTL,
//! or it stopped, any node may take the project over.
//!
//! Taking leases is one transaction: the candidate projects are locked with
//! `SELECT … FOR NO KEY UPDATE SKIP LOCKED`, so nodes acquiring at the same
//! moment pick different projects instead of queueing on each other, and the
//! upsert replaces only a lease whose holder is gone, so a lease is never
//! taken from a live node. PostgreSQL coordinates; nothing else does.
//!
//! Every path locks the project row before it writes the project's lease,
//! so two of them never wait on each other in opposite orders. The lock is
//! `NO KEY UPDATE`, which leaves the rows that refer to a project (runs,
//! points, the lease itself) free to be written meanwhile.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::schema::{leases, nodes, projects, sources};
use crate::{write_transaction, AnyConnection, StoreResult};
use trawler_domain::{ProjectId, ProjectStatus};

/// A node process that holds leases.
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

fn sorted(mut ids: Vec<ProjectId>) -> Vec<ProjectId> {
    ids.sort();
    ids
}

/// Projects without a live holder: never leased, or held by a node process
/// whose heartbeat is older than `$2` or that stopped.
const FREE: &str = "SELECT p.id FROM projects p \
     LEFT JOIN leases l ON l.project_id = p.id \
     LEFT JOIN nodes n ON n.name = l.node AND n.instance = l.instance \
         AND n.stopped_at_ms IS NULL AND n.heartbeat_at_ms >= $2 \
     WHERE p.status = $1 AND n.name IS NULL \
     ORDER BY p.id LIMIT $3";

/// Replaces a lease only when its holder is gone (`$4`: the oldest live
/// heartbeat), so a project is never taken from a live node.
const UPSERT: &str = "ON CONFLICT (project_id) DO UPDATE SET node = excluded.node, \
     instance = excluded.instance, acquired_at_ms = excluded.acquired_at_ms \
     WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = leases.node AND n.instance = leases.instance \
         AND n.stopped_at_ms IS NULL AND n.heartbeat_at_ms >= $4) \
     RETURNING project_id AS id";

/// The lease operations. `live_since_ms` is the oldest heartbeat that
/// still counts as alive (now minus the TTL).
pub struct Lease;

impl Lease {
    /// The projects `holder` holds.
    pub fn held(conn: &mut AnyConnection, holder: Holder<'_>) -> StoreResult<Vec<ProjectId>> {
        let rows: Vec<i64> = db_run!(conn: {
            leases::table
                .filter(leases::node.eq(holder.node))
                .filter(leases::instance.eq(holder.instance))
                .select(leases::project_id)
                .load(conn)?
        });
        Ok(sorted(rows.into_iter().map(ProjectId).collect()))
    }

    /// How many projects `holder` holds.
    pub fn held_count(conn: &mut AnyConnection, holder: Holder<'_>) -> StoreResult<usize> {
        let n: i64 = db_run!(conn: {
            leases::table
                .filter(leases::node.eq(holder.node))
                .filter(leases::instance.eq(holder.instance))
                .count()
                .get_result(conn)?
        });
        Ok(n as usize)
    }

    /// Takes up to `limit` active projects without a live holder; returns
    /// those taken.
    pub fn acquire(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        limit: usize,
        live_since_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<ProjectId>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        write_transaction(conn, |conn| {
            let sql = match conn {
                AnyConnection::Postgresql(_) => format!("{FREE} FOR NO KEY UPDATE OF p SKIP LOCKED"),
                // One node per SQLite file, and its writes are serialised.
                AnyConnection::Sqlite(_) => FREE.replace('$', "?"),
            };
            let rows: Vec<IdRow> = db_run!(conn: {
                diesel::sql_query(sql)
                    .bind::<Text, _>(ProjectStatus::Active.as_str())
                    .bind::<BigInt, _>(live_since_ms)
                    .bind::<BigInt, _>(limit as i64)
                    .load(conn)?
            });
            let candidates: Vec<i64> = rows.into_iter().map(|r| r.id).collect();
            Self::take(conn, holder, &candidates, live_since_ms, now_ms)
        })
    }

    /// Takes the lease of one project if it is active and has no live
    /// holder (a project just created or resumed on this node). Returns
    /// whether `holder` holds it now.
    pub fn acquire_one(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        project: ProjectId,
        live_since_ms: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        write_transaction(conn, |conn| {
            // The project row first, as `acquire` takes it: a coordinator
            // that locked it is waited for, not deadlocked with.
            let status: Option<String> = match conn {
                AnyConnection::Postgresql(c) => {
                    projects::table.find(project.0).select(projects::status).for_no_key_update().first(c).optional()?
                }
                AnyConnection::Sqlite(c) => {
                    projects::table.find(project.0).select(projects::status).first(c).optional()?
                }
            };
            if status.as_deref() != Some(ProjectStatus::Active.as_str()) {
                return Ok(false);
            }
            if !Self::take(conn, holder, &[project.0], live_since_ms, now_ms)?.is_empty() {
                return Ok(true);
            }
            let held: Option<(String, String)> = db_run!(conn: {
                leases::table.find(project.0).select((leases::node, leases::instance)).first(conn).optional()?
            });
            Ok(held.is_some_and(|(n, i)| n == holder.node && i == holder.instance))
        })
    }

    /// Inserts, or takes over from a gone holder, the leases of `candidates`.
    fn take(
        conn: &mut AnyConnection,
        holder: Holder<'_>,
        candidates: &[i64],
        live_since_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<ProjectId>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<IdRow> = match conn {
            AnyConnection::Postgresql(c) => diesel::sql_query(format!(
                "INSERT INTO leases (project_id, node, instance, acquired_at_ms) \
                 SELECT unnest($1::bigint[]), $2, $3, $5 {UPSERT}"
            ))
            .bind::<Array<BigInt>, _>(candidates)
            .bind::<Text, _>(holder.node)
            .bind::<Text, _>(holder.instance)
            .bind::<BigInt, _>(live_since_ms)
            .bind::<BigInt, _>(now_ms)
            .load(c)?,
            AnyConnection::Sqlite(c) => {
                let mut rows = Vec::new();
                for id in candidates {
                    // `WHERE true` keeps SQLite's parser from reading ON as a join.
                    rows.extend(
                        diesel::sql_query(
                            format!(
                                "INSERT INTO leases (project_id, node, instance, acquired_at_ms) \
                             SELECT $1, $2, $3, $5 WHERE true {UPSERT}"
                            )
                            // SQLite numbers `$n` by first appearance; `?n` is position n.
                            .replace('$', "?"),
                        )
                        .bind::<BigInt, _>(*id)
                        .bind::<Text, _>(holder.node)
                        .bind::<Text, _>(holder.instance)
                        .bind::<BigInt, _>(live_since_ms)
                        .bind::<BigInt, _>(now_ms)
                        .load::<IdRow>(c)?,
                    );
                }
                rows
            }
        };
        Ok(sorted(rows.into_iter().map(|r| ProjectId(r.id)).collect()))
    }

    /// Gives up leases of `holder` (projects handed to other nodes, or
    /// archived).
    pub fn release(conn: &mut AnyConnection, holder: Holder<'_>, projects: &[ProjectId]) -> StoreResult<usize> {
        let mut released = 0;
        for ids in crate::id_chunks(projects) {
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

    /// The live node holding `project`, if any: its name and instance.
    pub fn owner(
        conn: &mut AnyConnection,
        project: ProjectId,
        live_since_ms: i64,
    ) -> StoreResult<Option<(String, String)>> {
        Ok(db_run!(conn: {
            leases::table
                .inner_join(nodes::table.on(nodes::name.eq(leases::node).and(nodes::instance.eq(leases::instance))))
                .filter(leases::project_id.eq(project.0))
                .filter(nodes::stopped_at_ms.is_null())
                .filter(nodes::heartbeat_at_ms.ge(live_since_ms))
                .select((leases::node, leases::instance))
                .first(conn)
                .optional()?
        }))
    }

    /// Leases per live node, by name.
    pub fn counts(conn: &mut AnyConnection, live_since_ms: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(db_run!(conn: {
            leases::table
                .inner_join(nodes::table.on(nodes::name.eq(leases::node).and(nodes::instance.eq(leases::instance))))
                .filter(nodes::stopped_at_ms.is_null())
                .filter(nodes::heartbeat_at_ms.ge(live_since_ms))
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
        Ok(sorted(rows.into_iter().map(ProjectId).collect()))
    }

    /// The sources of active projects `holder` holds, per platform (its
    /// share of each platform's rate follows them).
    pub fn held_sources_by_platform(conn: &mut AnyConnection, holder: Holder<'_>) -> StoreResult<Vec<(String, i64)>> {
        Ok(db_run!(conn: {
            leases::table
                .inner_join(projects::table.inner_join(sources::table))
                .filter(leases::node.eq(holder.node))
                .filter(leases::instance.eq(holder.instance))
                .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                .group_by(sources::platform)
                .select((sources::platform, diesel::dsl::count_star()))
                .load(conn)?
        }))
    }

    /// How many projects are active (the whole to share out).
    pub fn active_projects(conn: &mut AnyConnection) -> StoreResult<i64> {
        Ok(db_run!(conn: {
            projects::table.filter(projects::status.eq(ProjectStatus::Active.as_str())).count().get_result(conn)?
        }))
    }
}
