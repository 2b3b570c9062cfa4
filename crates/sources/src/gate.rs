//! Per-platform rate gates: a token bucket shared by every actor that talks
//! to the platform, so the scrapers and the fast poll together stay inside
//! one budget.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use trawler_domain::Platform;

/// One platform's gate.
pub struct RateGate {
    limiter: DefaultDirectRateLimiter,
    rate_per_sec: f64,
    waiting: AtomicUsize,
    passed: AtomicU64,
}

/// What a gate looks like right now (for `/admin/actors` and the UI).
#[derive(Debug, Clone, Serialize)]
pub struct GateSnapshot {
    /// Requests per second allowed.
    pub rate_per_sec: f64,
    /// Callers waiting for a token now.
    pub waiting: usize,
    /// Requests let through since start.
    pub passed: u64,
}

impl RateGate {
    /// A gate letting `rate_per_sec` requests through per second on average,
    /// with bursts of up to one second's worth (at least one).
    pub fn new(rate_per_sec: f64) -> RateGate {
        let rate = if rate_per_sec.is_finite() && rate_per_sec > 0.0 { rate_per_sec } else { 1.0 };
        let period = Duration::from_secs_f64(1.0 / rate);
        let burst = NonZeroU32::new(rate.floor().clamp(1.0, 10_000.0) as u32).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
        RateGate {
            limiter: RateLimiter::direct(quota),
            rate_per_sec: rate,
            waiting: AtomicUsize::new(0),
            passed: AtomicU64::new(0),
        }
    }

    /// Waits for a token. Holds nothing while waiting.
    pub async fn acquire(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.limiter.until_ready().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.passed.fetch_add(1, Ordering::Relaxed);
    }

    /// The gate's current state.
    pub fn snapshot(&self) -> GateSnapshot {
        GateSnapshot {
            rate_per_sec: self.rate_per_sec,
            waiting: self.waiting.load(Ordering::Relaxed),
            passed: self.passed.load(Ordering::Relaxed),
        }
    }
}

/// The gates of every platform.
#[derive(Clone)]
pub struct Gates {
    gates: Arc<BTreeMap<Platform, RateGate>>,
}

impl Gates {
    /// One gate per platform with the given rates (requests/s).
    pub fn new(rates: &BTreeMap<Platform, f64>) -> Gates {
        let gates =
            Platform::ALL.into_iter().map(|p| (p, RateGate::new(rates.get(&p).copied().unwrap_or(5.0)))).collect();
        Gates { gates: Arc::new(gates) }
    }

    /// The gate of a platform.
    pub fn get(&self, platform: Platform) -> &RateGate {
        // Every platform has a gate: `new` fills all of Platform::ALL.
        &self.gates[&platform]
    }

    /// Every gate's state.
    pub fn snapshot(&self) -> BTreeMap<Platform, GateSnapshot> {
        self.gates.iter().map(|(p, g)| (*p, g.snapshot())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_spaces_requests_after_its_burst() {
        let gate = RateGate::new(50.0);
        let start = std::time::Instant::now();
        for _ in 0..75 {
            gate.acquire().await;
        }
        // 50 pass at once (the burst), the next 25 need ~0.5 s at 50/s.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
        assert_eq!(gate.snapshot().passed, 75);
        assert_eq!(gate.snapshot().waiting, 0);
    }
}
