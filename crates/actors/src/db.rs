//! The DbExecutor: diesel is blocking, so every query from an actor runs on
//! this SyncArbiter's threads, each borrowing a connection from the pool.
//! Actors never block their own thread on the database.

use actix::{Actor, Handler, Message, SyncContext};
use trawler_store::{AnyConnection, DbPool, StoreError, StoreResult};

/// Runs blocking database work off the actors' threads.
pub struct DbExecutor {
    pool: DbPool,
}

impl DbExecutor {
    /// An executor over a pool (start it with `SyncArbiter::start`).
    pub fn new(pool: DbPool) -> DbExecutor {
        DbExecutor { pool }
    }
}

impl Actor for DbExecutor {
    type Context = SyncContext<Self>;
}

/// Runs a closure with a pooled connection and returns its result.
pub struct Exec<F, R>(pub F)
where
    F: FnOnce(&mut AnyConnection) -> StoreResult<R> + Send + 'static,
    R: Send + 'static;

impl<F, R> Message for Exec<F, R>
where
    F: FnOnce(&mut AnyConnection) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    type Result = StoreResult<R>;
}

impl<F, R> Handler<Exec<F, R>> for DbExecutor
where
    F: FnOnce(&mut AnyConnection) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    type Result = StoreResult<R>;

    fn handle(&mut self, msg: Exec<F, R>, _: &mut SyncContext<Self>) -> StoreResult<R> {
        let mut conn = self.pool.get()?;
        // A panic would end this executor thread for good (and leave the
        // sender waiting): it becomes an error instead.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (msg.0)(&mut conn)))
            .unwrap_or_else(|p| Err(StoreError::Panicked(crate::task::panic_message(p.as_ref()))))
    }
}

/// Writes a batch of points. The batch always comes back with the result,
/// so a failed write (database down, pool exhausted) loses nothing.
pub struct WritePoints(pub Vec<trawler_domain::Point>);

impl Message for WritePoints {
    type Result = (Vec<trawler_domain::Point>, StoreResult<usize>);
}

impl Handler<WritePoints> for DbExecutor {
    type Result = actix::MessageResult<WritePoints>;

    fn handle(&mut self, msg: WritePoints, _: &mut SyncContext<Self>) -> Self::Result {
        let result = self.pool.get().and_then(|mut conn| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                trawler_store::Point::insert_batch(&mut conn, &msg.0)
            }))
            .unwrap_or_else(|p| Err(StoreError::Panicked(crate::task::panic_message(p.as_ref()))))
        });
        actix::MessageResult((msg.0, result))
    }
}
