//! The node registry: every node heartbeats its row while it runs and marks
//! it stopped on a clean shutdown, so a node can tell whether another one is
//! using the same database.

use diesel::prelude::*;

use crate::schema::nodes;
use crate::{AnyConnection, StoreResult};

/// How often a node heartbeats, ms.
pub const HEARTBEAT_MS: i64 = 2_000;
/// How long after its last heartbeat a node counts as gone, ms.
pub const TTL_MS: i64 = 10_000;

/// A node's row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = nodes)]
pub struct Node {
    /// Its name (`TRAWLER_NODE_NAME`).
    pub name: String,
    /// A random id of the process, new at each start.
    pub instance: String,
    /// The version it runs.
    pub version: String,
    /// When the process started, epoch ms.
    pub started_at_ms: i64,
    /// Its latest heartbeat, epoch ms.
    pub heartbeat_at_ms: i64,
    /// When it shut down cleanly, epoch ms.
    pub stopped_at_ms: Option<i64>,
    /// What its live-update listeners follow (JSON, cluster mode).
    pub following: Option<String>,
}

impl Node {
    /// Records a heartbeat of `name`: the row is created or taken over by
    /// this process.
    pub fn heartbeat(
        conn: &mut AnyConnection,
        name: &str,
        instance: &str,
        version: &str,
        started_at_ms: i64,
        now_ms: i64,
        following: Option<&str>,
    ) -> StoreResult<()> {
        db_run!(conn: {
            diesel::insert_into(nodes::table)
                .values((
                    nodes::name.eq(name),
                    nodes::instance.eq(instance),
                    nodes::version.eq(version),
                    nodes::started_at_ms.eq(started_at_ms),
                    nodes::heartbeat_at_ms.eq(now_ms),
                    nodes::stopped_at_ms.eq(None::<i64>),
                    nodes::following.eq(following),
                ))
                .on_conflict(nodes::name)
                .do_update()
                .set((
                    nodes::instance.eq(instance),
                    nodes::version.eq(version),
                    nodes::started_at_ms.eq(started_at_ms),
                    nodes::heartbeat_at_ms.eq(now_ms),
                    nodes::stopped_at_ms.eq(None::<i64>),
                    nodes::following.eq(following),
                ))
                .execute(conn)?;
        });
        Ok(())
    }

    /// Marks `name` stopped, if this process still holds it.
    pub fn stopped(conn: &mut AnyConnection, name: &str, instance: &str, now_ms: i64) -> StoreResult<()> {
        db_run!(conn: {
            diesel::update(nodes::table.filter(nodes::name.eq(name)).filter(nodes::instance.eq(instance)))
                .set(nodes::stopped_at_ms.eq(Some(now_ms)))
                .execute(conn)?;
        });
        Ok(())
    }

    /// Every node that has run on this database, by name.
    pub fn list(conn: &mut AnyConnection) -> StoreResult<Vec<Node>> {
        Ok(db_run!(conn: {
            nodes::table.select(Node::as_select()).order(nodes::name).load(conn)?
        }))
    }

    /// The database's clock, epoch ms. Liveness, lease expiry and command
    /// ages are all judged by this one clock, so a node whose own clock is
    /// off neither takes leases early nor keeps them past their time.
    pub fn clock(conn: &mut AnyConnection) -> StoreResult<i64> {
        #[derive(diesel::QueryableByName)]
        struct Now {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            ms: i64,
        }
        let now: Now = match conn {
            AnyConnection::Postgresql(c) => {
                diesel::sql_query("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT AS ms")
                    .get_result(c)?
            }
            AnyConnection::Sqlite(c) => {
                diesel::sql_query("SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) AS ms")
                    .get_result(c)?
            }
        };
        Ok(now.ms)
    }

    /// The names of the nodes alive at `now_ms` other than `me`.
    pub fn others_alive(conn: &mut AnyConnection, me: &str, now_ms: i64) -> StoreResult<Vec<String>> {
        Ok(Node::list(conn)?.into_iter().filter(|n| n.name != me && n.alive(now_ms, TTL_MS)).map(|n| n.name).collect())
    }

    /// Whether the node looks alive at `now_ms`: not stopped, and a
    /// heartbeat within `ttl_ms`.
    pub fn alive(&self, now_ms: i64, ttl_ms: i64) -> bool {
        self.stopped_at_ms.is_none() && now_ms - self.heartbeat_at_ms <= ttl_ms
    }
}
