//! trawler's vocabulary: projects, platforms, metrics and points, plus the pure
//! math the rest of the system leans on (schedule offsets, derived metrics,
//! downsampling parameters). Nothing here does I/O.

pub mod allocation;
pub mod campaign;
pub mod capacity;
pub mod clock;
pub mod fixture;
pub mod gaps;
pub mod labels;
pub mod metric;
pub mod money;
pub mod monitor;
pub mod platform;
pub mod project;
pub mod schedule;
pub mod settings;
pub mod slo;
pub mod time;

pub use metric::{downsample, downsample_weighted, Agg, Derived, Metric, Observation, Point, Totals};
pub use money::{Currencies, Currency, FxRates};
pub use platform::Platform;
pub use project::{ProjectId, ProjectStatus, RunId, RunKind, RunStatus, RunTrigger};

/// The current wall-clock time as whole seconds since the Unix epoch.
///
/// The one place that reads the clock for "now" in seconds, so the unit is the
/// same everywhere (points, runs and schedules all use epoch seconds).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The current wall-clock time as milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The wall clock, epoch microseconds (for latencies under a millisecond).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// The text of a caught panic's payload (`panic!("…")` carries a `&str` or
/// a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
