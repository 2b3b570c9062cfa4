//! The set of adapters a node runs with: one per platform, the HTTP client
//! they share and the rate gates, and how a fetch goes through them
//! (gate, retries within a run's budget, finite values only).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use trawler_domain::{Platform, RunKind};

use crate::adapter::{Adapter, Fetched, SourceSpec};
use crate::{Gates, HttpClient, HttpConfig, Keeper, Kept, LinePlace, SourceError};

/// Settings of the sources: platform base URLs, HTTP bounds, rates, retries.
#[derive(Debug, Clone)]
pub struct SourcesConfig {
    /// Kickstarter's base URL (`https://www.kickstarter.com`).
    pub kickstarter_url: String,
    /// Indiegogo's API base URL (`https://api.indiegogo.com`).
    pub indiegogo_url: String,
    /// The Graph API base URL for Meta Ads (`https://graph.facebook.com`).
    pub meta_url: String,
    /// The Marketing API version in paths (`v21.0`).
    pub meta_api_version: String,
    /// The ECB's base URL, for the euro reference rates
    /// (`https://www.ecb.europa.eu`).
    pub ecb_url: String,
    /// The HTTP client's bounds.
    pub http: HttpConfig,
    /// Requests per second per platform.
    pub rates: BTreeMap<Platform, f64>,
    /// Requests in flight at once, per platform.
    pub max_in_flight_per_platform: usize,
    /// Requests in flight at once, all platforms together.
    pub max_in_flight_total: usize,
    /// Consecutive platform failures that open a platform's circuit.
    pub circuit_failures: u32,
    /// How long an open circuit refuses requests before probing.
    pub circuit_open_for: Duration,
    /// Retries of a transient failure within one request.
    pub max_retries: usize,
    /// Retries one run may spend across all its requests.
    pub retry_budget_per_run: u32,
    /// The longest wait between two tries (a longer Retry-After fails the
    /// fetch instead of holding it).
    pub max_retry_delay: Duration,
    /// The longest pause a platform's answer can impose on its gate.
    pub max_pause: Duration,
    /// Each generic host matching a pattern gets its own rate (requests
    /// per second) inside its platform's: `(pattern, rate)`, first match.
    pub host_rates: Vec<(String, f64)>,
    /// The generic platforms whose sources obey robots.txt.
    pub robots_txt: Vec<Platform>,
}

impl Default for SourcesConfig {
    /// The configuration of the default settings.
    fn default() -> Self {
        crate::SourcesSettings::default().config()
    }
}

/// Every adapter, the HTTP client and the rate gates: what a node needs to
/// fetch any source. Cheap to clone.
#[derive(Clone)]
pub struct Adapters {
    adapters: Arc<BTreeMap<Platform, Arc<dyn Adapter>>>,
    http: HttpClient,
    gates: Gates,
    max_retries: usize,
    max_retry_delay: Duration,
    retry_budget_per_run: u32,
    /// The generic platforms that obey robots.txt, and the sites' rules.
    robots_for: Vec<Platform>,
    robots: Arc<crate::robots::Robots>,
    /// The generic sources' cookie jars.
    cookies: Arc<crate::cookies::Jars>,
}

impl Adapters {
    /// Builds the adapters from the configuration.
    pub fn new(config: &SourcesConfig) -> Result<Adapters, SourceError> {
        let http = HttpClient::new(config.http.clone())?;
        let cookies = Arc::new(crate::cookies::Jars::default());
        let list: [Arc<dyn Adapter>; 6] = [
            Arc::new(crate::kickstarter::Kickstarter::new(&config.kickstarter_url)),
            Arc::new(crate::indiegogo::Indiegogo::new(&config.indiegogo_url)),
            Arc::new(crate::meta_ads::MetaAds::new(&config.meta_url, &config.meta_api_version)),
            Arc::new(crate::http_json::HttpJson::new(cookies.clone())),
            Arc::new(crate::html::Html::new(cookies.clone())),
            Arc::new(crate::ecb::Ecb::new(&config.ecb_url)),
        ];
        let adapters: BTreeMap<Platform, Arc<dyn Adapter>> = list.into_iter().map(|a| (a.platform(), a)).collect();
        Ok(Adapters {
            adapters: Arc::new(adapters),
            http,
            gates: Gates::new(
                &config.rates.keys().map(|p| (*p, config.gate(*p))).collect(),
                config.max_in_flight_total,
            ),
            robots_for: config
                .robots_txt
                .iter()
                .copied()
                .filter(|p| matches!(p, Platform::HttpJson | Platform::Html))
                .collect(),
            robots: Arc::default(),
            cookies,
            max_retries: config.max_retries,
            max_retry_delay: config.max_retry_delay,
            retry_budget_per_run: config.retry_budget_per_run,
        })
    }

    /// Replaces the adapter of its platform (a custom platform client, or a
    /// scripted adapter in tests).
    pub fn with_adapter(mut self, adapter: Arc<dyn Adapter>) -> Adapters {
        let mut map = (*self.adapters).clone();
        map.insert(adapter.platform(), adapter);
        self.adapters = Arc::new(map);
        self
    }

    fn adapter(&self, platform: Platform) -> &dyn Adapter {
        // `new` registers an adapter for every platform.
        self.adapters[&platform].as_ref()
    }

    /// The host whose circuit and pause a source's requests share, for the
    /// platforms that reach unrelated sites (see [`Adapter::circuit_host`]).
    pub fn circuit_host(&self, spec: &SourceSpec) -> Option<String> {
        self.adapter(spec.platform).circuit_host(spec)
    }

    /// The generic sources' cookie jars (kept in the database by the node).
    pub fn cookie_jars(&self) -> &crate::cookies::Jars {
        &self.cookies
    }

    /// The shared HTTP client (webhooks send through it too).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The rate gates.
    pub fn gates(&self) -> &Gates {
        &self.gates
    }

    /// The metrics a source reads (see [`Adapter::metrics`]).
    pub fn metrics(&self, spec: &SourceSpec) -> Vec<String> {
        self.adapter(spec.platform).metrics(spec)
    }

    /// Validates a source (see [`Adapter::validate`]).
    pub fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        if spec.external_ref.trim().is_empty() {
            return Err("external_ref must not be empty".into());
        }
        if spec.external_ref.len() > 500 || spec.external_ref.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("external_ref must be at most 500 characters without spaces or control characters".into());
        }
        if !spec.options.is_object() {
            return Err("options must be a JSON object".into());
        }
        if let Some(c) = spec.options.get("currency") {
            let code = c.as_str().ok_or("option `currency` must be a currency code such as \"USD\"")?;
            trawler_domain::Currency::code(code).map_err(|e| format!("option `currency`: {e}"))?;
        }
        self.adapter(spec.platform).validate(spec)
    }

    /// A fresh retry budget for one run.
    pub fn run_budget(&self) -> RetryBudget {
        RetryBudget::new(self.retry_budget_per_run)
    }

    /// Fetches one source. Every try passes the platform's gate (circuit,
    /// pause, token, slot) and reports its outcome to it; transient failures
    /// are retried with exponential backoff and full jitter, at most
    /// `max_retries` times for this request and only while `budget` lasts,
    /// with a platform's Retry-After replacing the backoff delay up to the
    /// cap. The slot is released before any sleep.
    /// `place`, if given, shows where the request stands while it waits;
    /// `keep` receives the answers of the try that counted, for the
    /// adapters that keep them.
    pub async fn fetch(
        &self,
        spec: &SourceSpec,
        kind: RunKind,
        budget: &RetryBudget,
        place: Option<&LinePlace>,
        keep: &Keeper,
    ) -> Result<Fetched, SourceError> {
        let adapter = self.adapter(spec.platform);
        let gate = self.gates.get(spec.platform);
        // The platform's proxies, if it has any.
        let routed = self.http.has_proxies().then(|| self.http.for_platform(spec.platform));
        let http = routed.as_ref().unwrap_or(&self.http);
        if self.robots_for.contains(&spec.platform) {
            let url = crate::request::build(spec, "*/*").map_err(SourceError::Config)?.url;
            // Boxed, as the charge below: every fetch waiting at its gate
            // carries its future's largest step inline, and these two are
            // seldom taken.
            Box::pin(self.robots.check(http, &self.gates, spec.platform, &url)).await?;
        }
        let cap = self.max_retry_delay;
        let spent = std::sync::atomic::AtomicBool::new(false);
        let host = adapter.circuit_host(spec);
        let attempt = || async {
            let pass = self.gates.enter(spec.platform, place, host.as_deref()).await?;
            keep.start_over();
            let result = adapter.fetch(http, spec, kind, keep).await.and_then(finite);
            gate.record(host.as_deref(), &result);
            if let Ok(extra) = result.as_ref().map(|f| f.extra_requests).map_err(drop) {
                Box::pin(gate.charge(extra, host.as_deref())).await;
            }
            drop(pass);
            result
        };
        let result = attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(self.max_retries)
                    .with_jitter(),
            )
            .sleep(tokio::time::sleep)
            .when(|e: &SourceError| {
                if !e.is_transient() || e.retry_after().is_some_and(|d| d > cap) {
                    return false;
                }
                let ok = budget.try_take();
                if !ok {
                    spent.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                ok
            })
            .adjust(|e: &SourceError, d| e.retry_after().or(d))
            .await;
        match result {
            Err(e) if spent.load(std::sync::atomic::Ordering::Relaxed) => Err(SourceError::BudgetSpent(Box::new(e))),
            other => other,
        }
    }
}

impl Adapters {
    /// Whether a source's platform keeps its answers (see
    /// [`Adapter::reparse`]): the generic ones, whose parsers users write.
    pub fn keeps_answers(platform: Platform) -> bool {
        matches!(platform, Platform::HttpJson | Platform::Html)
    }

    /// Reads a source's metrics again, as it is configured now, out of the
    /// answers one earlier fetch kept; `None` when its adapter keeps none.
    /// Synchronous and CPU-bound: call it off the async threads.
    pub fn reparse(
        &self,
        spec: &SourceSpec,
        kind: RunKind,
        answers: &[Kept],
    ) -> Option<Result<Vec<crate::Sample>, SourceError>> {
        let read = self.adapter(spec.platform).reparse(spec, kind, answers)?;
        Some(read.and_then(|samples| finite(Fetched { samples, ..Fetched::default() }).map(|f| f.samples)))
    }
}

/// Refuses a fetch with a value that is infinite or not a number (a sum that
/// overflowed, a custom adapter's arithmetic): such a value is a parse error
/// of its metric, never a stored point.
fn finite(fetched: Fetched) -> Result<Fetched, SourceError> {
    match fetched.samples.iter().chain(fetched.dated.iter().map(|(_, s)| s)).find(|s| !s.value.is_finite()) {
        Some(s) => Err(SourceError::Parse(format!("{} is not a finite number ({})", s.metric, s.value))),
        None => Ok(fetched),
    }
}

/// Retries one run may still spend, shared by all its requests, so a run
/// against a failing platform ends in bounded time and the next slot comes
/// as usual. There is no retry queue: what the budget does not cover fails.
#[derive(Debug)]
pub struct RetryBudget(std::sync::atomic::AtomicU32);

impl RetryBudget {
    /// A budget of `n` retries.
    pub fn new(n: u32) -> RetryBudget {
        RetryBudget(std::sync::atomic::AtomicU32::new(n))
    }

    /// Takes one retry, if any is left.
    pub fn try_take(&self) -> bool {
        self.0
            .fetch_update(std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed, |n| {
                n.checked_sub(1)
            })
            .is_ok()
    }

    /// Retries left.
    pub fn left(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
