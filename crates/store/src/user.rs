//! People who use the admin UI: a name, a role and an argon2 password hash
//! (the role's meaning is the web crate's).

use diesel::prelude::*;
use serde::Serialize;
use trawler_domain::now_millis;

use crate::schema::{sessions, users};
use crate::{AnyConnection, StoreError, StoreResult};

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Their name (what they log in with).
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// When they were added, epoch ms.
    pub created_at_ms: i64,
    /// Their password's argon2 hash (never shown).
    #[serde(skip)]
    pub password_hash: String,
}

impl User {
    /// Adds a user; a name taken already is a unique violation.
    pub fn create(conn: &mut AnyConnection, name: &str, role: &str, password_hash: &str) -> StoreResult<User> {
        let now = now_millis();
        db_run!(conn: {
            diesel::insert_into(users::table)
                .values((
                    users::name.eq(name),
                    users::role.eq(role),
                    users::password_hash.eq(password_hash),
                    users::created_at_ms.eq(now),
                ))
                .execute(conn)?
        });
        User::get(conn, name)?.ok_or(StoreError::NotFound("user"))
    }

    /// A user by name.
    pub fn get(conn: &mut AnyConnection, name: &str) -> StoreResult<Option<User>> {
        let row: Option<(String, String, String, i64)> = db_run!(conn: {
            users::table
                .filter(users::name.eq(name))
                .select((users::name, users::role, users::password_hash, users::created_at_ms))
                .first(conn)
                .optional()?
        });
        Ok(row.map(|(name, role, password_hash, created_at_ms)| User { name, role, created_at_ms, password_hash }))
    }

    /// Every user, by name.
    pub fn list(conn: &mut AnyConnection) -> StoreResult<Vec<User>> {
        let rows: Vec<(String, String, String, i64)> = db_run!(conn: {
            users::table
                .order(users::name)
                .select((users::name, users::role, users::password_hash, users::created_at_ms))
                .load(conn)?
        });
        Ok(rows
            .into_iter()
            .map(|(name, role, password_hash, created_at_ms)| User { name, role, created_at_ms, password_hash })
            .collect())
    }

    /// Changes a user's role or password (`None`: kept).
    pub fn update(
        conn: &mut AnyConnection,
        name: &str,
        role: Option<&str>,
        password_hash: Option<&str>,
    ) -> StoreResult<User> {
        let before = User::get(conn, name)?.ok_or(StoreError::NotFound("user"))?;
        let role = role.unwrap_or(&before.role);
        let hash = password_hash.unwrap_or(&before.password_hash);
        db_run!(conn: {
            diesel::update(users::table.filter(users::name.eq(name)))
                .set((users::role.eq(role), users::password_hash.eq(hash)))
                .execute(conn)?
        });
        if password_hash.is_some() {
            // A new password ends the sessions opened with the old one.
            User::end_sessions(conn, name)?;
        }
        User::get(conn, name)?.ok_or(StoreError::NotFound("user"))
    }

    /// Removes a user and ends their sessions; whether they existed.
    pub fn delete(conn: &mut AnyConnection, name: &str) -> StoreResult<bool> {
        User::end_sessions(conn, name)?;
        let n = db_run!(conn: { diesel::delete(users::table.filter(users::name.eq(name))).execute(conn)? });
        Ok(n > 0)
    }

    fn end_sessions(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
        db_run!(conn: { diesel::delete(sessions::table.filter(sessions::user_name.eq(name))).execute(conn)? });
        Ok(())
    }
}
