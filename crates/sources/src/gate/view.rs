//! What a gate shows of itself: its state for `/admin/platforms`, and a
//! request's place in its line.

use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use trawler_domain::Platform;

use super::*;

/// Where one caller (a run) stands at a gate: set while it waits, cleared
/// when it passes or gives up. Readable from anywhere, so a run's status
/// can say where its request is in line. It also brings the caller's
/// deadline, which orders the line.
#[derive(Debug, Default)]
pub struct LinePlace {
    pub(crate) at: Mutex<Option<(Platform, Ticket)>>,
    /// When the caller first passed a gate, epoch ms (0: not yet).
    pub(crate) first_pass_ms: AtomicI64,
    /// When the caller should pass at the latest (`None`: due on arrival).
    pub(crate) due: Option<Instant>,
}

impl LinePlace {
    /// A place for a caller that should pass within `slack_ms` from now
    /// (negative: it is late already). A caller with more slack lets those
    /// with less go first.
    pub fn due_in_ms(slack_ms: i64) -> LinePlace {
        let now = Instant::now();
        let by = Duration::from_millis(slack_ms.unsigned_abs());
        let due = if slack_ms >= 0 { now.checked_add(by) } else { now.checked_sub(by) };
        LinePlace { due: Some(due.unwrap_or(now)), ..LinePlace::default() }
    }

    pub(crate) fn set(&self, at: Option<(Platform, Ticket)>) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub(crate) fn passed(&self) {
        let _ =
            self.first_pass_ms.compare_exchange(0, trawler_domain::now_millis(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The platform and ticket of the wait in progress, if any.
    pub fn get(&self) -> Option<(Platform, Ticket)> {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the caller's first request passed its gate, epoch ms.
    pub fn first_pass_ms(&self) -> Option<i64> {
        Some(self.first_pass_ms.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }
}

impl PlatformGate {
    /// Where the caller holding `ticket` stands, if it still waits: its
    /// place in line and when it should pass. The estimate takes the
    /// latest of three times: the end of a pause; when the bucket, refilling
    /// at the configured rate from its last known level, has a token for
    /// everyone ahead and for this caller; and when a slot frees for it,
    /// assuming each request in flight or ahead takes the recent average.
    pub fn standing(&self, ticket: Ticket) -> Option<Standing> {
        let state = self.lock();
        let ahead = state.line.ahead_of(ticket)?;
        Some(self.estimate(&state, ahead))
    }

    /// Where a caller arriving now would stand: behind everyone waiting.
    pub fn standing_if_joined(&self) -> Standing {
        let state = self.lock();
        self.estimate(&state, state.line.len())
    }

    fn estimate(&self, state: &GateState, ahead: usize) -> Standing {
        let now = Instant::now();
        let (rate, burst) = {
            let bucket = self.bucket();
            (bucket.rate, bucket.burst)
        };
        let mut waits: Vec<(&'static str, Duration)> = Vec::with_capacity(3);
        if let Some(until) = state.paused_until.filter(|t| *t > now) {
            waits.push(("pause", until - now));
        }
        let tokens_now = match state.last_token_at {
            Some(at) => (f64::from(state.remaining_burst) + at.elapsed().as_secs_f64() * rate).min(f64::from(burst)),
            None => f64::from(burst),
        };
        let short = ahead as f64 + 1.0 - tokens_now;
        if short > 0.0 {
            waits.push(("rate", Duration::from_secs_f64(short / rate)));
        }
        let avg = state.avg_request.unwrap_or(Duration::from_millis(500));
        let cap = self.config.max_in_flight;
        // When each slot frees: the requests in flight end after the
        // average, counted from their start; free slots are free now.
        let mut frees: BinaryHeap<Reverse<Duration>> =
            state.in_flight_since.values().map(|since| Reverse(avg.saturating_sub(since.elapsed()))).collect();
        while frees.len() < cap {
            frees.push(Reverse(Duration::ZERO));
        }
        // Everyone ahead takes the earliest free slot for one average request.
        for _ in 0..ahead.min(100_000) {
            if let Some(Reverse(t)) = frees.pop() {
                frees.push(Reverse(t + avg));
            }
        }
        if let Some(Reverse(t)) = frees.peek().copied().filter(|t| !t.0.is_zero()) {
            waits.push(("slot", t));
        }
        let (waiting_for, wait) = waits.into_iter().max_by_key(|(_, d)| *d).unwrap_or(("rate", Duration::ZERO));
        Standing {
            platform: self.platform,
            place: ahead,
            waiting_for,
            estimated_start_ms: trawler_domain::now_millis() + wait.as_millis() as i64,
        }
    }
}

/// A waiting caller's standing at its gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standing {
    /// The platform whose gate it waits at.
    pub platform: Platform,
    /// Callers ahead of it in line (0: next to pass).
    pub place: usize,
    /// What holds it now: `pause` (the platform asked to wait), `rate` (the
    /// token bucket) or `slot` (requests in flight at their cap).
    pub waiting_for: &'static str,
    /// When it is expected to pass, epoch ms.
    pub estimated_start_ms: i64,
}

/// A gate's state, for `/admin/platforms` and `/admin/actors`.
#[derive(Debug, Clone, Serialize)]
pub struct GateSnapshot {
    /// The platform.
    pub platform: Platform,
    /// Requests per second this node lets through: its share of the budget.
    pub rate_per_sec: f64,
    /// The platform's budget for the whole cluster, requests per second.
    pub budget_per_sec: f64,
    /// This node's share of the budget (1 outside cluster mode).
    pub share: f64,
    /// Largest burst the bucket allows.
    pub burst: u32,
    /// Tokens left in the bucket after the last request let through.
    pub tokens: u32,
    /// `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    /// Consecutive platform failures counted by a closed circuit.
    pub consecutive_failures: u32,
    /// Until when an open circuit refuses requests, epoch ms.
    pub circuit_open_until_ms: Option<i64>,
    /// How often the circuit has opened.
    pub circuit_opened_total: u64,
    /// Until when the platform asked us to pause, epoch ms (never more than
    /// `max_pause_secs` after the ask).
    pub paused_until_ms: Option<i64>,
    /// The longest pause a platform's answer can impose, seconds.
    pub max_pause_secs: u64,
    /// The last pause the platform or one of its hosts asked for.
    pub last_pause: Option<PauseAsked>,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Callers waiting for the pause, a token or a slot.
    pub waiting: usize,
    /// Requests let through since start.
    pub passed: u64,
    /// Throttling answers seen since start.
    pub throttled: u64,
    /// Platform failures seen since start.
    pub failures: u64,
    /// Generic platforms: the hosts that are failing, paused or recovering,
    /// each with its own circuit.
    pub hosts: Vec<HostCircuit>,
    /// Generic platforms: the hosts with a rate of their own
    /// (`TRAWLER_HOST_RATES`) seen so far.
    pub host_rates: Vec<super::HostLimit>,
}

/// Every gate at once.
#[derive(Debug, Clone, Serialize)]
pub struct GatesSnapshot {
    /// Requests in flight across platforms now.
    pub in_flight: usize,
    /// The global cap.
    pub max_in_flight: usize,
    /// One entry per platform.
    pub platforms: Vec<GateSnapshot>,
}

/// A host of a generic platform whose circuit is not plainly closed.
#[derive(Debug, Clone, Serialize)]
pub struct HostCircuit {
    /// `host:port`.
    pub host: String,
    /// `closed` (counting failures), `open` or `half_open`.
    pub circuit: &'static str,
    /// Consecutive failures counted while closed.
    pub consecutive_failures: u32,
    /// Until when an open circuit refuses requests, epoch ms.
    pub circuit_open_until_ms: Option<i64>,
    /// Until when the host asked us to pause, epoch ms.
    pub paused_until_ms: Option<i64>,
    /// How often its circuit has opened.
    pub circuit_opened_total: u64,
}
