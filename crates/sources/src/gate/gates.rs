//! Every platform's gate, and the cap on requests in flight across them.

use crate::SourceError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use trawler_domain::Platform;

use super::*;

/// Told how long each request waited at its gate (metrics).
pub type WaitObserver = Arc<dyn Fn(Platform, Duration) + Send + Sync>;

/// The gates of every platform plus the global cap on requests in flight.
#[derive(Clone)]
pub struct Gates {
    pub(crate) gates: Arc<BTreeMap<Platform, PlatformGate>>,
    pub(crate) global: Arc<Semaphore>,
    pub(crate) max_in_flight: usize,
    pub(crate) observer: Arc<std::sync::OnceLock<WaitObserver>>,
}

impl Gates {
    /// One gate per platform (platforms without a config get the default)
    /// and a global cap of `max_in_flight` requests.
    pub fn new(configs: &BTreeMap<Platform, GateConfig>, max_in_flight: usize) -> Gates {
        let gates = Platform::ALL
            .into_iter()
            .map(|p| (p, PlatformGate::new(p, configs.get(&p).cloned().unwrap_or_default())))
            .collect();
        let max_in_flight = max_in_flight.max(1);
        Gates {
            gates: Arc::new(gates),
            global: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            observer: Arc::default(),
        }
    }

    /// Sets the function told each request's wait at its gate (once; later
    /// calls are ignored).
    pub fn observe_waits(&self, observer: WaitObserver) {
        let _ = self.observer.set(observer);
    }

    /// Sets this node's share of each platform's rate (see
    /// [`PlatformGate::set_share`]). Returns the platforms whose share changed.
    pub fn set_shares(&self, shares: &BTreeMap<Platform, f64>) -> Vec<Platform> {
        shares.iter().filter(|(p, share)| self.get(**p).set_share(**share)).map(|(p, _)| *p).collect()
    }

    /// Sets each platform's budget (see [`PlatformGate::set_budget`]).
    /// Returns the platforms whose budget changed.
    pub fn set_budgets(&self, budgets: &BTreeMap<Platform, f64>) -> Vec<Platform> {
        budgets.iter().filter(|(p, budget)| self.get(**p).set_budget(**budget)).map(|(p, _)| *p).collect()
    }

    /// The gate of `platform`.
    pub fn get(&self, platform: Platform) -> &PlatformGate {
        // Every platform has a gate: `new` fills all of Platform::ALL.
        &self.gates[&platform]
    }

    /// Waits at a platform's gate (see [`PlatformGate::enter`]).
    pub async fn enter<'a>(
        &'a self,
        platform: Platform,
        place: Option<&'a LinePlace>,
        host: Option<&str>,
    ) -> Result<Pass<'a>, SourceError> {
        let started = Instant::now();
        let pass = self.get(platform).enter(&self.global, place, host).await;
        if let (Ok(_), Some(observe)) = (&pass, self.observer.get()) {
            observe(platform, started.elapsed());
        }
        pass
    }

    /// Where a waiting caller stands (see [`PlatformGate::standing`]).
    pub fn standing(&self, place: &LinePlace) -> Option<Standing> {
        let (platform, ticket) = place.get()?;
        self.get(platform).standing(ticket)
    }

    /// Every gate's circuit and pause changes since the last call.
    pub fn take_changes(&self) -> Vec<GateChange> {
        self.gates.values().flat_map(PlatformGate::take_changes).collect()
    }

    /// Every gate's state.
    pub fn snapshot(&self) -> GatesSnapshot {
        GatesSnapshot {
            in_flight: self.max_in_flight - self.global.available_permits(),
            max_in_flight: self.max_in_flight,
            platforms: self.gates.values().map(PlatformGate::snapshot).collect(),
        }
    }
}
