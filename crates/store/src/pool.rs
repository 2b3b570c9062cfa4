//! Connections and the pool.
//!
//! The backend is picked from the URL scheme here, not by diesel's derived
//! `MultiConnection::establish`: that one tries every variant in turn and
//! throws the errors away, so a down PostgreSQL would be reported as
//! "invalid connection url" after SQLite had been tried with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::{StoreError, StoreResult};

/// One connection to either backend. Queries that the common subset of both
/// backends can express could run on it directly; trawler's queries run on
/// the inner connection through [`db_run!`] so that `ON CONFLICT`,
/// `RETURNING` and batch inserts are available on both.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// A PostgreSQL connection.
    Postgresql(PgConnection),
    /// A SQLite connection.
    Sqlite(SqliteConnection),
}

/// Runs one block of diesel code on whichever backend `$conn` holds. The
/// block is compiled once per backend, so it must type-check on both.
#[macro_export]
macro_rules! db_run {
    ($conn:ident: $body:block) => {
        match $conn {
            $crate::AnyConnection::Postgresql($conn) => $body,
            $crate::AnyConnection::Sqlite($conn) => $body,
        }
    };
}

/// Runs `f` in a transaction that writes. On SQLite it begins with
/// `BEGIN IMMEDIATE`, which takes the write lock at once and so waits out a
/// concurrent writer under `busy_timeout`. A deferred transaction that reads
/// first and writes later would instead fail at once with "database is
/// locked" when another connection wrote in between: SQLite cannot upgrade
/// its stale read snapshot, so it does not wait. On PostgreSQL this is an
/// ordinary transaction. Must not be nested; use `transaction` inside.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        AnyConnection::Postgresql(_) => Manager::begin_transaction(conn)?,
    }
    let result = f(conn);
    end_transaction(conn, result)
}

/// Commits the transaction `f` ran in when it succeeded, else rolls it back.
fn end_transaction<T, E>(conn: &mut AnyConnection, result: Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match result {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // The caller's error is the one worth reporting; a failed
            // rollback marks the connection broken and r2d2 discards it.
            let _ = Manager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Runs `f`, which only reads, on one snapshot of the database: a read
/// that takes several statements (the head, then chunks, then hourly
/// rollups) sees no compaction or roll-up committed between them. On
/// PostgreSQL a `REPEATABLE READ READ ONLY` transaction; on SQLite a
/// deferred one (WAL: its snapshot is taken at its first read). Inside a
/// transaction already, `f` runs in it.
pub fn read_snapshot<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let depth = match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()?,
        AnyConnection::Postgresql(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()?
        }
    };
    if depth.is_some() {
        return f(conn);
    }
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
        AnyConnection::Postgresql(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
        }
    }
    let result = f(conn);
    end_transaction(conn, result)
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
    /// SQLite (`sqlite://path`).
    Sqlite,
}

/// A parsed `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A PostgreSQL connection string, passed to libpq as is.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl DbUrl {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://relative/path` or
    /// `sqlite:///absolute/path`.
    pub fn parse(url: &str) -> StoreResult<DbUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::InvalidUrl("sqlite:// needs a file path".into()));
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(path)));
        }
        Err(StoreError::InvalidUrl(format!(
            "`{}` (expected postgres://…, sqlite://relative/path or sqlite:///absolute/path)",
            redact(url)
        )))
    }

    /// The SQLite URL of a file.
    pub fn sqlite_file(path: &Path) -> DbUrl {
        DbUrl::Sqlite(path.to_path_buf())
    }

    /// Which backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            DbUrl::Postgres(_) => Backend::Postgres,
            DbUrl::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The URL with any password replaced by `***`, for logs and status pages.
    pub fn redacted(&self) -> String {
        match self {
            DbUrl::Postgres(u) => redact(u),
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        }
    }

    /// Opens one connection, configured for trawler's workload.
    pub fn connect(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        match self {
            DbUrl::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgresql),
            DbUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path)?;
                // WAL lets readers run beside the one writer; NORMAL sync is
                // durable across process crashes (not power loss) at a
                // fraction of FULL's cost; busy_timeout makes concurrent
                // writers wait instead of failing with SQLITE_BUSY. Batch
                // inserts with ON CONFLICT keep a statement sub-journal:
                // temp_store=MEMORY keeps it off the disk (profiling showed
                // it as the largest cost), and a larger cache and checkpoint
                // interval cut the rewrites of index pages that scrape-order
                // inserts touch.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA busy_timeout = 10000;
                     PRAGMA foreign_keys = ON;
                     PRAGMA temp_store = MEMORY;
                     PRAGMA cache_size = -65536;
                     PRAGMA wal_autocheckpoint = 4000;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`.
/// A database URL or connection string with every password masked: the
/// `user:password@` of a URL (the password may itself hold `@` or `:`), a
/// `password=` (or `sslpassword=`, …) query parameter, and a `password=`
/// keyword of a libpq keyword/value string (quoted or not).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_keywords(url);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}{}", masked.join("&"), fragment.map(|f| format!("#{f}")).unwrap_or_default())
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Masks the values of `*password*` keywords in a libpq keyword/value
/// string (`host=db password='a b' user=app`).
fn redact_keywords(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key_start = rest[..eq].trim_end().rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let key = rest[key_start..eq].trim();
        out.push_str(&rest[..=eq]);
        let after = &rest[eq + 1..];
        let value_start = after.len() - after.trim_start().len();
        let value = &after[value_start..];
        // The value's end: a closing quote (backslash escapes skipped), or whitespace.
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let close = quoted.char_indices().find(|&(_, c)| {
                let close = c == '\'' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            });
            close.map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str(&after[..value_start]);
        if key.to_ascii_lowercase().contains("password") {
            out.push_str("***");
        } else {
            out.push_str(&value[..value_len]);
        }
        rest = &value[value_len..];
    }
    out.push_str(rest);
    out
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where the database is.
    pub url: DbUrl,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before failing.
    pub connection_timeout: Duration,
}

impl StoreConfig {
    /// Defaults for a URL: a small pool (SQLite has one writer anyway).
    pub fn new(url: DbUrl) -> StoreConfig {
        let max_connections = match url.backend() {
            // Two database threads, the ingest, poll-window, run-book and
            // coordinator threads, and two to spare for the web layer's
            // reads.
            Backend::Sqlite => 8,
            Backend::Postgres => 12,
        };
        StoreConfig { url, max_connections, connection_timeout: Duration::from_secs(2) }
    }
}

/// The r2d2 manager that opens connections of the configured backend.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
}

/// A pooled connection and when it last went back to the pool.
pub struct Pooled {
    conn: AnyConnection,
    returned: Instant,
}

impl std::ops::Deref for Pooled {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// A connection back in the pool for less than this is handed out without
/// a `SELECT 1` first (as HikariCP's bypass window): it worked a moment
/// ago, and one that broke since (its server gone) fails its next query,
/// which marks it broken and drops it on its return. Under load a
/// connection is rarely idle that long, so checkouts cost no round trip.
const TRUSTED_FOR: Duration = Duration::from_millis(500);

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        Ok(Pooled { conn: self.url.connect()?, returned: Instant::now() })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), Self::Error> {
        if conn.returned.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        conn.conn.batch_execute("SELECT 1").map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection whose transaction manager is broken (a transaction
    /// left open, or PostgreSQL's connection lost: libpq then reports an
    /// unknown transaction state) is dropped rather than pooled again.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.returned = Instant::now();
        match &mut conn.conn {
            AnyConnection::Sqlite(c) => AnsiTransactionManager::is_broken_transaction_manager(c),
            AnyConnection::Postgresql(c) => AnsiTransactionManager::is_broken_transaction_manager(c),
        }
    }
}

/// Logs the pool's connection errors on one line each (libpq's messages
/// span several).
#[derive(Debug)]
struct OneLineErrors;

impl r2d2::HandleError<diesel::ConnectionError> for OneLineErrors {
    fn handle_error(&self, error: diesel::ConnectionError) {
        let text = error.to_string();
        log::warn!("database connection failed: {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
}

/// A pool of connections plus what it was opened with.
#[derive(Clone)]
pub struct DbPool {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    url: DbUrl,
    /// When a connection last failed, epoch ms (0: never). For a moment after
    /// a failure, `get` fails at once instead of waiting for the connect
    /// timeout again: during an outage every caller would otherwise queue on
    /// the database threads.
    failed_at_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// How long after a failed connection `get` fails fast.
const FAIL_FAST_MS: i64 = 1000;

/// A connection borrowed from the pool.
pub type PooledConn = r2d2::PooledConnection<Manager>;

impl DbPool {
    /// A connection of its own, outside the pool (a `LISTEN` that holds it
    /// for good).
    pub fn connect_dedicated(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        self.url.connect()
    }

    /// Opens the pool. For SQLite the file's folder is created first. The
    /// pool is built lazily (no connection yet), so a server can start and
    /// report "not ready" while its database is down; the first `get` fails
    /// with the database's own error.
    pub fn open(config: &StoreConfig) -> StoreResult<DbPool> {
        if let DbUrl::Sqlite(path) = &config.url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::InvalidUrl(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let pool = r2d2::Pool::builder()
            .error_handler(Box::new(OneLineErrors))
            .max_size(config.max_connections)
            .min_idle(Some(0))
            .connection_timeout(config.connection_timeout)
            .build_unchecked(Manager { url: config.url.clone() });
        Ok(DbPool {
            pool,
            backend: config.url.backend(),
            url: config.url.clone(),
            failed_at_ms: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0)),
        })
    }

    /// Borrows a connection. A fresh connection is opened directly first so
    /// that a failure reports the database's own error, not r2d2's timeout.
    pub fn get(&self) -> StoreResult<PooledConn> {
        use std::sync::atomic::Ordering;
        let now = trawler_domain::now_millis();
        let failed_at = self.failed_at_ms.load(Ordering::Relaxed);
        if failed_at > 0 && now - failed_at < FAIL_FAST_MS {
            return Err(StoreError::RecentlyDown(now - failed_at));
        }
        let result = match self.pool.try_get() {
            Some(conn) => Ok(conn),
            // No connection open at all (start-up, or all dropped as broken
            // in an outage): a direct connection answers at once where the
            // pool would wait its whole timeout while the database refuses.
            None if self.pool.state().connections == 0 && self.backend == Backend::Postgres => {
                match self.url.connect() {
                    Err(connect_err) => Err(StoreError::Connect(connect_err)),
                    Ok(_) => self.pool.get().map_err(StoreError::Pool),
                }
            }
            None => match self.pool.get() {
                Ok(conn) => Ok(conn),
                Err(e) => match self.url.connect() {
                    Err(connect_err) => Err(StoreError::Connect(connect_err)),
                    Ok(_) => Err(StoreError::Pool(e)),
                },
            },
        };
        match &result {
            Err(StoreError::Connect(_)) => self.failed_at_ms.store(trawler_domain::now_millis(), Ordering::Relaxed),
            Ok(_) if failed_at > 0 => self.failed_at_ms.store(0, Ordering::Relaxed),
            _ => {}
        }
        result
    }

    /// Which backend the pool talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password masked.
    pub fn url_redacted(&self) -> String {
        self.url.redacted()
    }

    /// Opens one connection outside the pool and drops it: the fastest way
    /// to learn whether the database is reachable, with its own error.
    pub fn probe(&self) -> StoreResult<()> {
        self.url.connect().map(drop).map_err(StoreError::Connect)
    }

    /// Runs `SELECT 1`: is the database reachable right now?
    pub fn ping(&self) -> StoreResult<()> {
        let mut conn = self.get()?;
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(DbUrl::parse("sqlite://data/t.db").ok(), Some(DbUrl::Sqlite(PathBuf::from("data/t.db"))));
        assert_eq!(DbUrl::parse("sqlite:///tmp/t.db").ok(), Some(DbUrl::Sqlite(PathBuf::from("/tmp/t.db"))));
        assert_eq!(DbUrl::parse("postgres://u@h/db").map(|u| u.backend()).ok(), Some(Backend::Postgres));
        assert!(DbUrl::parse("mysql://x").is_err());
        assert!(DbUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_masked() {
        let u = DbUrl::parse("postgres://app:s3cret@db:5432/trawler").map(|u| u.redacted());
        assert_eq!(u.ok().as_deref(), Some("postgres://app:***@db:5432/trawler"));
        let err = DbUrl::parse("mysql://app:s3cret@db/x").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| !e.contains("s3cret")));
        for (url, masked) in [
            ("postgres://app:p@ss:w@rd@db/trawler", "postgres://app:***@db/trawler"),
            (
                "postgres://db/trawler?user=app&password=s3cret&sslmode=require",
                "postgres://db/trawler?user=app&password=***&sslmode=require",
            ),
            ("postgres://db/t?sslpassword=s3cret#x", "postgres://db/t?sslpassword=***#x"),
            ("postgres://app@db/t", "postgres://app@db/t"),
            ("host=db user=app password=s3cret dbname=t", "host=db user=app password=*** dbname=t"),
            ("host=db password = 's3 cr\\'et' user=app", "host=db password = *** user=app"),
            ("password=s3cret", "password=***"),
        ] {
            assert_eq!(redact(url), masked, "{url}");
            assert!(!redact(url).contains("s3"), "{url}");
        }
    }
}
