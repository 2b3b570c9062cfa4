//! Admin UI sessions, kept in the database so they survive a restart and
//! work behind a load balancer. The cookie's id is hashed by the caller.

use diesel::prelude::*;
use trawler_domain::now_millis;

use crate::schema::sessions;
use crate::{AnyConnection, StoreResult};

/// A live session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The token forms must carry (CSRF).
    pub csrf: String,
    /// When it ends, epoch ms.
    pub expires_at_ms: i64,
    /// Its user (none: the node's own admin password).
    pub user: Option<String>,
}

impl Session {
    /// Stores a session of the node's own admin password, and drops
    /// expired ones.
    pub fn create(conn: &mut AnyConnection, id_hash: &str, csrf: &str, ttl_ms: i64) -> StoreResult<Session> {
        Session::create_for(conn, id_hash, csrf, ttl_ms, None)
    }

    /// Stores a session of `user` (none: the node's own admin password).
    pub fn create_for(
        conn: &mut AnyConnection,
        id_hash: &str,
        csrf: &str,
        ttl_ms: i64,
        user: Option<&str>,
    ) -> StoreResult<Session> {
        let now = now_millis();
        db_run!(conn: {
            diesel::delete(sessions::table.filter(sessions::expires_at_ms.lt(now))).execute(conn)?;
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id_hash.eq(id_hash),
                    sessions::csrf.eq(csrf),
                    sessions::created_at_ms.eq(now),
                    sessions::expires_at_ms.eq(now + ttl_ms),
                    sessions::user_name.eq(user),
                ))
                .execute(conn)?
        });
        Ok(Session { csrf: csrf.to_owned(), expires_at_ms: now + ttl_ms, user: user.map(str::to_owned) })
    }

    /// The session with this id hash, unless it expired.
    pub fn get(conn: &mut AnyConnection, id_hash: &str) -> StoreResult<Option<Session>> {
        let now = now_millis();
        let row: Option<(String, i64, Option<String>)> = db_run!(conn: {
            sessions::table
                .filter(sessions::id_hash.eq(id_hash))
                .filter(sessions::expires_at_ms.ge(now))
                .select((sessions::csrf, sessions::expires_at_ms, sessions::user_name))
                .first(conn)
                .optional()?
        });
        Ok(row.map(|(csrf, expires_at_ms, user)| Session { csrf, expires_at_ms, user }))
    }

    /// Ends a session (logout).
    pub fn delete(conn: &mut AnyConnection, id_hash: &str) -> StoreResult<()> {
        db_run!(conn: { diesel::delete(sessions::table.filter(sessions::id_hash.eq(id_hash))).execute(conn)? });
        Ok(())
    }
}
