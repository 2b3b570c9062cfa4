//! The store's one error type.
//!
//! Policy: a missing row is `NotFound` (the caller decides whether that is a
//! 404); everything else is a database or configuration failure that the
//! caller reports as such. Messages never contain connection passwords.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The `DATABASE_URL` is not one trawler understands.
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    /// Opening a connection failed (server down, bad credentials, bad path).
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// The database failed moments ago; not tried again yet.
    #[error("the database is unavailable (failed {0} ms ago)")]
    RecentlyDown(i64),
    /// The pool could not hand out a connection in time.
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying or reverting migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The row asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A row holds a value the code does not know (a newer version wrote it?).
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
    /// A stored secret cannot be sealed or opened (its key is not
    /// configured, or the value is damaged). Never carries the secret.
    #[error("stored secret: {0}")]
    Secret(String),
    /// The work panicked; the executor caught it and carries on.
    #[error("database work panicked: {0}")]
    Panicked(String),
    /// The database failed a batch this work was part of (the message of
    /// that failure).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the failure is a unique constraint refusing a second row with
    /// the same key (an external key another project holds).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// Whether the failure is the database being unreachable or failing, as
    /// opposed to a row missing: the first is retried, the second is not.
    pub fn is_unavailable(&self) -> bool {
        !matches!(
            self,
            StoreError::NotFound(_) | StoreError::Corrupt(_) | StoreError::Panicked(_) | StoreError::Secret(_)
        )
    }

    /// The same failure again, for each of several callers who shared it:
    /// its class is kept (a database that was unavailable stays so).
    pub fn shared(&self) -> StoreError {
        match self {
            StoreError::NotFound(what) => StoreError::NotFound(what),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::Panicked(m) => StoreError::Panicked(m.clone()),
            StoreError::Secret(m) => StoreError::Secret(m.clone()),
            StoreError::RecentlyDown(ms) => StoreError::RecentlyDown(*ms),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}
