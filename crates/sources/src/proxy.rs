//! Proxies (`TRAWLER_PROXIES`): pools of HTTP(S) or SOCKS5 proxies, one
//! per platform or host pattern, through reqwest's own proxy support. A
//! request to a host that a pattern's pool covers goes through it, else
//! through its platform's pool, else directly; the pool's proxies take
//! turns. A proxy that cannot be reached (connect error, timeout) is
//! benched — 2 s, doubling with each failure in a row up to 5 minutes —
//! and the others carry the requests; when all are benched, the one back
//! soonest is tried. `/admin/platforms` shows each proxy's state.
//!
//! The targets still pass the egress checks: the allowlist by name, IP
//! literals, and (private addresses refused) a name is resolved here first,
//! since the proxy resolves it past the node's resolver.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use trawler_domain::Platform;

use crate::egress::host_allowed;
use crate::SourceError;

/// The first bench, and the longest.
const FIRST_BENCH: Duration = Duration::from_secs(2);
const MAX_BENCH: Duration = Duration::from_secs(300);

/// What a pool serves.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Platform(Platform),
    Hosts(String),
}

#[derive(Debug, Default)]
struct Health {
    failures_in_row: u32,
    benched_until: Option<Instant>,
    used: u64,
    failed: u64,
}

struct Entry {
    target: Target,
    /// The proxy's URL without its credentials.
    shown: String,
    client: reqwest::Client,
    health: Mutex<Health>,
}

/// A proxy's state, as `/admin/platforms` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyState {
    /// The proxy (its credentials hidden).
    pub proxy: String,
    /// The platform or host pattern it serves.
    pub serves: String,
    /// `ok` or `benched`.
    pub state: &'static str,
    /// Until when it is benched, epoch ms.
    pub benched_until_ms: Option<i64>,
    /// Failures in a row.
    pub failures_in_row: u32,
    /// Requests sent through it, and those that could not reach it.
    pub used: u64,
    /// Requests that could not reach it.
    pub failed: u64,
}

/// Every pool.
#[derive(Default)]
pub(crate) struct Pools {
    entries: Vec<Entry>,
    turn: AtomicUsize,
}

/// A proxy's URL shown without its credentials.
fn shown(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Checks a route (`target=url`): the target is a platform name or a host
/// pattern; the URL an `http`, `https`, `socks5` or `socks5h` proxy.
pub fn check_route(target: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("proxy `{target}=…`: not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https" | "socks5" | "socks5h") {
        return Err(format!("proxy `{target}=…`: the scheme must be http, https, socks5 or socks5h"));
    }
    reqwest::Proxy::all(url).map_err(|e| format!("proxy `{target}=…`: {e}"))?;
    Ok(())
}

impl Pools {
    /// Builds the pools; `client` makes a client that sends through a proxy.
    pub(crate) fn new(
        routes: &[(String, String)],
        client: impl Fn(reqwest::Proxy) -> Result<reqwest::Client, SourceError>,
    ) -> Result<Pools, SourceError> {
        let mut entries = Vec::with_capacity(routes.len());
        for (target, url) in routes {
            check_route(target, url).map_err(SourceError::Config)?;
            let parsed = reqwest::Url::parse(url).map_err(|e| SourceError::Config(e.to_string()))?;
            let proxy = reqwest::Proxy::all(url).map_err(|e| SourceError::Config(e.to_string()))?;
            let target = match target.parse::<Platform>() {
                Ok(p) => Target::Platform(p),
                Err(_) => Target::Hosts(target.clone()),
            };
            entries.push(Entry { target, shown: shown(&parsed), client: client(proxy)?, health: Mutex::default() });
        }
        Ok(Pools { entries, turn: AtomicUsize::new(0) })
    }

    /// Whether any proxy is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The proxy for a request to `host` (a name, no port) on `platform`:
    /// its index and client, or `None` to go directly.
    pub(crate) fn pick(&self, platform: Option<Platform>, host: &str) -> Option<(usize, &reqwest::Client)> {
        let covers = |e: &Entry| matches!(&e.target, Target::Hosts(p) if host_allowed(std::slice::from_ref(p), host));
        let mut pool: Vec<usize> = (0..self.entries.len()).filter(|i| covers(&self.entries[*i])).collect();
        if pool.is_empty() {
            pool = (0..self.entries.len())
                .filter(|i| platform.is_some_and(|p| self.entries[*i].target == Target::Platform(p)))
                .collect();
        }
        if pool.is_empty() {
            return None;
        }
        let now = Instant::now();
        let benched = |i: usize| self.health(i).benched_until.is_some_and(|t| t > now);
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let ready = (0..pool.len()).map(|k| pool[(start + k) % pool.len()]).find(|i| !benched(*i));
        let chosen = ready.unwrap_or_else(|| {
            let back = |i: &usize| self.health(*i).benched_until;
            pool.iter().copied().min_by_key(back).unwrap_or(pool[0])
        });
        self.health(chosen).used += 1;
        Some((chosen, &self.entries[chosen].client))
    }

    fn health(&self, i: usize) -> std::sync::MutexGuard<'_, Health> {
        self.entries[i].health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records whether proxy `i` could be reached.
    pub(crate) fn outcome(&self, i: usize, reached: bool) {
        let mut h = self.health(i);
        if reached {
            h.failures_in_row = 0;
            h.benched_until = None;
            return;
        }
        h.failed += 1;
        h.failures_in_row = h.failures_in_row.saturating_add(1);
        let bench = FIRST_BENCH.saturating_mul(1u32 << h.failures_in_row.saturating_sub(1).min(16)).min(MAX_BENCH);
        h.benched_until = Some(Instant::now() + bench);
        log::warn!("proxy {} could not be reached; benched for {} s", self.entries[i].shown, bench.as_secs());
    }

    /// Every proxy's state.
    pub fn snapshot(&self) -> Vec<ProxyState> {
        let now = Instant::now();
        let now_ms = trawler_domain::now_millis();
        (0..self.entries.len())
            .map(|i| {
                let e = &self.entries[i];
                let h = self.health(i);
                let until = h.benched_until.filter(|t| *t > now);
                ProxyState {
                    proxy: e.shown.clone(),
                    serves: match &e.target {
                        Target::Platform(p) => p.to_string(),
                        Target::Hosts(p) => p.clone(),
                    },
                    state: if until.is_some() { "benched" } else { "ok" },
                    benched_until_ms: until.map(|t| now_ms + t.duration_since(now).as_millis() as i64),
                    failures_in_row: h.failures_in_row,
                    used: h.used,
                    failed: h.failed,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(routes: &[(&str, &str)]) -> Result<Pools, SourceError> {
        let routes: Vec<(String, String)> = routes.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Pools::new(&routes, |p| {
            reqwest::Client::builder().proxy(p).build().map_err(|e| SourceError::Config(e.to_string()))
        })
    }

    #[test]
    fn a_host_pattern_wins_over_the_platform_and_proxies_take_turns() -> Result<(), SourceError> {
        let p = pools(&[
            ("html", "http://user:secret@10.0.0.1:3128"),
            ("html", "http://10.0.0.2:3128"),
            ("*.shop.example", "socks5://10.0.0.3:1080"),
        ])?;
        assert_eq!(p.pick(Some(Platform::Html), "a.shop.example").map(|x| x.0), Some(2));
        let turns: Vec<usize> = (0..4).filter_map(|_| p.pick(Some(Platform::Html), "x.example").map(|x| x.0)).collect();
        assert!(turns.contains(&0) && turns.contains(&1) && !turns.contains(&2), "{turns:?}");
        assert!(p.pick(Some(Platform::HttpJson), "x.example").is_none(), "no pool: direct");
        let shown = p.snapshot();
        assert!(!shown[0].proxy.contains("secret") && !shown[0].proxy.contains("user"), "{shown:?}");
        Ok(())
    }

    #[test]
    fn an_unreachable_proxy_is_benched_and_the_others_carry_on() -> Result<(), SourceError> {
        let p = pools(&[("html", "http://10.0.0.1:3128"), ("html", "http://10.0.0.2:3128")])?;
        p.outcome(0, false);
        for _ in 0..4 {
            assert_eq!(p.pick(Some(Platform::Html), "x.example").map(|x| x.0), Some(1));
        }
        assert_eq!(p.snapshot()[0].state, "benched");
        p.outcome(1, false);
        p.outcome(1, false);
        // All benched: the one back soonest.
        assert_eq!(p.pick(Some(Platform::Html), "x.example").map(|x| x.0), Some(0));
        p.outcome(0, true);
        assert_eq!(p.snapshot()[0].state, "ok");
        Ok(())
    }

    #[test]
    fn bad_routes_are_refused() {
        assert!(check_route("html", "ftp://10.0.0.1").is_err());
        assert!(check_route("html", "not a url").is_err());
        assert!(check_route("html", "socks5://10.0.0.1:1080").is_ok());
    }
}
