//! Embedded migrations, one set per backend, applied at start-up.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{AnyConnection, StoreError, StoreResult};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

fn migration_err(e: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Migration(e.to_string())
}

/// Applies every pending migration; returns the names of those applied.
pub fn run_migrations(conn: &mut AnyConnection) -> StoreResult<Vec<String>> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES).map_err(migration_err)?,
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map_err(migration_err)?,
    };
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Whether some migration has not been applied yet.
pub fn migrations_pending(conn: &mut AnyConnection) -> StoreResult<bool> {
    match conn {
        AnyConnection::Postgresql(c) => c.has_pending_migration(POSTGRES).map_err(migration_err),
        AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE).map_err(migration_err),
    }
}

/// Reverts every applied migration (tests of `down.sql`, and `trawler migrate --revert-all`).
pub fn revert_all(conn: &mut AnyConnection) -> StoreResult<Vec<String>> {
    let reverted = match conn {
        AnyConnection::Postgresql(c) => c.revert_all_migrations(POSTGRES).map_err(migration_err)?,
        AnyConnection::Sqlite(c) => c.revert_all_migrations(SQLITE).map_err(migration_err)?,
    };
    Ok(reverted.into_iter().map(|v| v.to_string()).collect())
}

/// Reverts the newest applied migration; returns its name (tests of an
/// upgrade from the schema before it).
pub(crate) fn revert_last(conn: &mut AnyConnection) -> StoreResult<String> {
    let reverted = match conn {
        AnyConnection::Postgresql(c) => c.revert_last_migration(POSTGRES).map_err(migration_err)?,
        AnyConnection::Sqlite(c) => c.revert_last_migration(SQLITE).map_err(migration_err)?,
    };
    Ok(reverted.to_string())
}
