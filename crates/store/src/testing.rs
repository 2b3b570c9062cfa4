//! Throwaway databases for tests: a SQLite file per test, and — when
//! `TRAWLER_TEST_DATABASE_URL` points at a PostgreSQL server — a fresh
//! database per test, dropped afterwards. The same suite runs on both.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::SimpleConnection;

use crate::{run_migrations, AnyConnection, DbPool, DbUrl, StoreConfig, StoreError, StoreResult};

/// The variable naming a PostgreSQL server for tests (any database on it;
/// the tests create and drop their own).
pub const PG_ENV: &str = "TRAWLER_TEST_DATABASE_URL";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_suffix() -> String {
    format!("{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin: DbUrl, name: String },
}

/// A migrated, empty database that is removed when dropped.
pub struct TestDb {
    /// A pool on it.
    pub pool: DbPool,
    /// Its URL, for handing to a child process.
    pub url: String,
    cleanup: Cleanup,
}

impl TestDb {
    /// A fresh SQLite file in its own temporary folder.
    pub fn sqlite() -> StoreResult<TestDb> {
        let dir = std::env::temp_dir().join(format!("trawler_test_{}", unique_suffix()));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let file = dir.join("test.db");
        let url = format!("sqlite://{}", file.display());
        let pool = DbPool::open(&StoreConfig::new(DbUrl::parse(&url)?))?;
        run_migrations(&mut *pool.get()?)?;
        Ok(TestDb { pool, url, cleanup: Cleanup::Dir(dir) })
    }

    /// A fresh database on the server named by [`PG_ENV`], or `None` when the
    /// variable is not set.
    pub fn postgres() -> Option<StoreResult<TestDb>> {
        let admin_url = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty())?;
        Some(Self::postgres_on(&admin_url))
    }

    fn postgres_on(admin_url: &str) -> StoreResult<TestDb> {
        let admin = DbUrl::parse(admin_url)?;
        let name = format!("trawler_test_{}", unique_suffix());
        let mut conn = admin.connect()?;
        conn.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = with_database(admin_url, &name);
        let pool = DbPool::open(&StoreConfig::new(DbUrl::parse(&url)?))?;
        run_migrations(&mut *pool.get()?)?;
        Ok(TestDb { pool, url, cleanup: Cleanup::Postgres { admin, name } })
    }

    /// Brings a freshly loaded database to the state a live one is kept in:
    /// statistics gathered, and on PostgreSQL the visibility map that
    /// autovacuum maintains (index-only scans skip the heap only for pages
    /// marked all-visible).
    pub fn settle(&self) -> StoreResult<()> {
        let mut conn = self.pool.get()?;
        match &self.cleanup {
            Cleanup::Postgres { .. } => conn.batch_execute("VACUUM (ANALYZE)")?,
            Cleanup::Dir(_) => conn.batch_execute("ANALYZE")?,
        }
        Ok(())
    }

    /// Takes the database back to the schema before the newest migration,
    /// as a node of the previous version left it; returns the migration's
    /// name. The next `run_migrations` (a node starting) applies it again.
    pub fn revert_last_migration(&self) -> StoreResult<String> {
        crate::migrate::revert_last(&mut *self.pool.get()?)
    }

    /// SQLite, plus PostgreSQL when configured: run a test body on each.
    pub fn all() -> StoreResult<Vec<TestDb>> {
        let mut dbs = vec![TestDb::sqlite()?];
        if let Some(pg) = TestDb::postgres() {
            dbs.push(pg?);
        }
        Ok(dbs)
    }
}

impl TestDb {
    /// Bytes the tables that hold points take on disk (with their indexes),
    /// after the space of deleted rows has been given back: the SQLite
    /// file after a checkpoint and VACUUM (the other tables are small; an
    /// empty database's size is the caller's to subtract), or the total
    /// relation size of `points`, `chunks`, `series` and `points_hourly` on
    /// PostgreSQL after VACUUM FULL.
    pub fn point_bytes(&self) -> StoreResult<u64> {
        let mut conn = self.pool.get()?;
        match &mut **conn {
            AnyConnection::Sqlite(c) => {
                c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
                let path = self.url.trim_start_matches("sqlite://");
                Ok(std::fs::metadata(path).map_err(|e| StoreError::InvalidUrl(e.to_string()))?.len())
            }
            AnyConnection::Postgresql(c) => {
                // One statement each: several in one string run as one
                // transaction, where VACUUM cannot.
                for table in ["points", "chunks", "series", "points_hourly"] {
                    c.batch_execute(&format!("VACUUM FULL {table}"))?;
                }
                #[derive(diesel::QueryableByName)]
                struct Size {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    bytes: i64,
                }
                let size: Size = diesel::RunQueryDsl::get_result(
                    diesel::sql_query(
                        "SELECT CAST(SUM(pg_total_relation_size(t)) AS BIGINT) AS bytes \
                         FROM unnest(ARRAY['points', 'chunks', 'series', 'points_hourly']::regclass[]) AS t",
                    ),
                    c,
                )?;
                Ok(size.bytes.max(0) as u64)
            }
        }
    }
}

impl TestDb {
    /// Bytes `tables` take with their indexes, after the space of deleted
    /// rows has been given back (SQLite: VACUUM, then the pages of each
    /// table and its indexes from `dbstat`; PostgreSQL: VACUUM FULL, then
    /// `pg_total_relation_size`). Table names are the caller's constants.
    pub fn table_bytes(&self, tables: &[&str]) -> StoreResult<u64> {
        #[derive(diesel::QueryableByName)]
        struct Size {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            bytes: i64,
        }
        let list = tables.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
        let mut conn = self.pool.get()?;
        let size: Size = match &mut **conn {
            AnyConnection::Sqlite(c) => {
                c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")?;
                diesel::RunQueryDsl::get_result(
                    diesel::sql_query(format!(
                        "SELECT CAST(COALESCE(SUM(pgsize), 0) AS BIGINT) AS bytes FROM dbstat \
                         WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name IN ({list}))"
                    )),
                    c,
                )?
            }
            AnyConnection::Postgresql(c) => {
                for table in tables {
                    c.batch_execute(&format!("VACUUM FULL {table}"))?;
                }
                diesel::RunQueryDsl::get_result(
                    diesel::sql_query(format!(
                        "SELECT CAST(COALESCE(SUM(pg_total_relation_size(t)), 0) AS BIGINT) AS bytes \
                         FROM unnest(ARRAY[{list}]::regclass[]) AS t"
                    )),
                    c,
                )?
            }
        };
        Ok(size.bytes.max(0) as u64)
    }
}

/// `admin_url` with its database name replaced by `name`.
pub fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin, name } => {
                if let Ok(mut conn) = admin.connect() {
                    let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/postgres?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
