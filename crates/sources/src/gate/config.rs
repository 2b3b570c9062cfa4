//! The settings of a platform's gate, and the pauses a platform asks for.

use serde::Serialize;
use std::time::Duration;

/// Settings of one platform's gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// Requests per second on average.
    pub rate_per_sec: f64,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Consecutive platform failures that open the circuit.
    pub circuit_failures: u32,
    /// How long an open circuit refuses requests before a probe.
    pub circuit_open_for: Duration,
    /// The longest pause a platform's answer can impose (`Retry-After`, a
    /// regain time): a longer ask is cut to this.
    pub max_pause: Duration,
    /// Generic hosts' own rates: `(pattern, requests per second)`, the
    /// first matching pattern wins.
    pub host_rates: Vec<(String, f64)>,
}

impl Default for GateConfig {
    /// Kickstarter's gate under the default settings.
    fn default() -> Self {
        crate::SourcesConfig::default().gate(trawler_domain::Platform::Kickstarter)
    }
}

/// The last pause a platform (or one of its hosts) asked for, and what the
/// gate made of it.
#[derive(Debug, Clone, Serialize)]
pub struct PauseAsked {
    /// The host that asked (generic platforms), or none for the platform.
    pub host: Option<String>,
    /// When it was asked, epoch ms.
    pub at_ms: i64,
    /// The wait asked for, seconds (saturated at the largest integer).
    pub asked_secs: u64,
    /// The wait applied, seconds: the ask, cut to the gate's cap.
    pub applied_secs: u64,
    /// Whether the ask was longer than the cap.
    pub capped: bool,
}
