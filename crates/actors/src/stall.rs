//! The event-loop stall probe. Every actor, poll and full scrape of a node
//! shares one thread; anything that holds it (a long loop in a handler, a
//! large value dropped, a blocking call) delays every timer behind it, and
//! a poll planned for a moment inside the stall starts late. The probe
//! sleeps a fixed tick and measures how much later than asked it woke: the
//! delay is how long the thread was held. Recorded in
//! `trawler_runtime_stall_seconds`; a stall of a quarter of a second or more
//! is logged, and the log line's time matches it with a profile taken on the
//! wall clock (`perf record -k CLOCK_REALTIME`).

use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// How often the probe wakes.
const TICK: Duration = Duration::from_millis(100);

/// Stalls at least this long are logged.
const LOGGED: Duration = Duration::from_millis(250);

/// Starts the probe on the current thread's runtime, for the node's life.
pub(crate) fn start(metrics: Metrics) {
    let probe = metrics.clone();
    crate::task::spawn_supervised("stall probe", metrics, move || {
        let metrics = probe.clone();
        async move {
            loop {
                let asked = Instant::now();
                tokio::time::sleep(TICK).await;
                let stall = asked.elapsed().saturating_sub(TICK);
                metrics.runtime_stall.observe(stall.as_secs_f64());
                if stall >= LOGGED {
                    log::warn!(
                        "the node's event loop was held for {} ms: timers and polls behind it ran late",
                        stall.as_millis()
                    );
                }
            }
        }
    });
}
