//! Tasks the tree spawns outside an actor's context. actix and tokio do not
//! report a panic in a spawned task to anyone: the task just ends, and
//! whoever waited for its report waits for ever. Every task goes through
//! here instead: a one-off task's panic becomes an error its owner receives,
//! and a long-running loop is restarted after a panic (with a growing
//! pause), logged and counted in `trawler_task_panics_total{task}`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;

use crate::metrics::Metrics;

pub(crate) use trawler_domain::panic_message;

/// Aborts its task when dropped: a task tied to another's life (a loop
/// unwinding from a panic drops its helpers with it).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut`, turning a panic inside it into `Err` with its message.
pub(crate) async fn caught<F: Future>(fut: F) -> Result<F::Output, String> {
    AssertUnwindSafe(fut).catch_unwind().await.map_err(|p| panic_message(p.as_ref()))
}

/// Spawns a loop that is meant to run for the node's life. When it panics
/// it is logged, counted and started again from `make` after a pause that
/// doubles from 100 ms up to 30 s (reset after a minute without a panic);
/// when it returns, it is done.
pub fn spawn_supervised<F, Fut>(task: &'static str, metrics: Metrics, mut make: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    actix::spawn(async move {
        let mut pause = Duration::from_millis(100);
        loop {
            let started = std::time::Instant::now();
            match caught(make()).await {
                Ok(()) => return,
                Err(msg) => {
                    metrics.task_panic(task);
                    if started.elapsed() > Duration::from_secs(60) {
                        pause = Duration::from_millis(100);
                    }
                    log::error!("task {task} panicked ({msg}); restarting it in {} ms", pause.as_millis());
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[actix::test]
    async fn a_panicking_loop_is_restarted_and_counted() {
        let metrics = Metrics::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let seen = runs.clone();
        let handle = spawn_supervised("test_loop", metrics.clone(), move || {
            let runs = seen.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("boom");
                }
            }
        });
        handle.await.expect("the supervising task itself never panics");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, then a clean end");
        let text = metrics.encode().expect("encodes");
        assert!(text.contains(r#"trawler_task_panics_total{task="test_loop"} 2"#), "{text}");
    }

    #[actix::test]
    async fn a_panic_becomes_an_error() {
        assert_eq!(caught(async { 7 }).await, Ok(7));
        let err = caught(async { panic!("bad {}", 42) }).await;
        assert_eq!(err, Err::<(), _>("bad 42".to_owned()));
    }
}
