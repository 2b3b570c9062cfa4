//! PostgreSQL `NOTIFY`/`LISTEN`, for relaying live events between the
//! nodes of a cluster. On SQLite (one node) sending does nothing and
//! listening is refused.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use crate::{AnyConnection, DbPool, StoreError, StoreResult};

/// The longest payload `NOTIFY` carries, bytes.
pub const MAX_PAYLOAD: usize = 7_999;

/// Sends each payload on `channel`, in one statement. Payloads longer than
/// [`MAX_PAYLOAD`] are skipped; returns how many were sent.
pub fn notify(conn: &mut AnyConnection, channel: &str, payloads: &[String]) -> StoreResult<usize> {
    let fitting: Vec<&String> = payloads.iter().filter(|p| p.len() <= MAX_PAYLOAD).collect();
    match conn {
        AnyConnection::Postgresql(c) => {
            diesel::sql_query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind::<Text, _>(channel)
                .bind::<Array<Text>, _>(&fitting)
                .execute(c)?;
            Ok(fitting.len())
        }
        AnyConnection::Sqlite(_) => Ok(0),
    }
}

/// A connection of its own that listens on one channel.
pub struct Listener {
    conn: PgConnection,
}

impl Listener {
    /// Connects outside the pool and starts listening on `channel` (a plain
    /// identifier).
    pub fn connect(pool: &DbPool, channel: &str) -> StoreResult<Listener> {
        if !channel.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::InvalidUrl(format!("`{channel}` is not a channel name")));
        }
        match pool.connect_dedicated().map_err(StoreError::from)? {
            AnyConnection::Postgresql(mut conn) => {
                diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn)?;
                Ok(Listener { conn })
            }
            AnyConnection::Sqlite(_) => Err(StoreError::InvalidUrl("SQLite has no LISTEN".into())),
        }
    }

    /// The payloads received since the last call (does not wait).
    pub fn poll(&mut self) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        for n in self.conn.notifications_iter() {
            out.push(n?.payload);
        }
        Ok(out)
    }
}
