//! The hosts of a generic platform with a rate of their own
//! (`TRAWLER_HOST_RATES`): each matching host gets a token bucket, waited
//! on before the caller joins the platform's line, so a saturated host
//! waits for its own tokens without holding the line for the others. The
//! platform's bucket still bounds the total; in a cluster each node's host
//! buckets get the node's share, as its platform's bucket does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{Bucket, Limiter};

/// Hosts remembered at most (with a bucket or known to have none); past
/// it the memory starts again.
const MAX_HOSTS: usize = 10_000;

/// A host's own rate, as `/admin/platforms` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HostLimit {
    /// The host (`name:port`).
    pub host: String,
    /// Its requests per second at this node (its share included).
    pub rate_per_sec: f64,
    /// The pattern that gave it.
    pub pattern: String,
}

/// What is known of a host: its bucket and how it shows, or `None` when
/// no pattern gives it one.
type Known = HashMap<String, Option<(Arc<Limiter>, HostLimit)>>;

/// The per-host buckets of one platform.
#[derive(Default)]
pub(crate) struct HostBuckets {
    rates: Vec<(String, f64)>,
    buckets: Mutex<Known>,
}

/// Whether `host` (`name:port`) matches `pattern`: the same `name:port`,
/// or by name (`*.example.com` for a domain and its subdomains).
fn matches(pattern: &str, host: &str) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    crate::http::host_allowed(&[pattern.to_owned()], name)
}

impl HostBuckets {
    pub(crate) fn new(rates: Vec<(String, f64)>) -> HostBuckets {
        HostBuckets { rates, buckets: Mutex::default() }
    }

    /// Whether any host pattern has a rate.
    pub(crate) fn any(&self) -> bool {
        !self.rates.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bucket of `host` at `share` of its rate, if a pattern gives it one.
    pub(crate) fn limiter(&self, host: &str, share: f64) -> Option<Arc<Limiter>> {
        if self.rates.is_empty() {
            return None;
        }
        let mut map = self.lock();
        if let Some(known) = map.get(host) {
            return known.as_ref().map(|(l, _)| l.clone());
        }
        if map.len() >= MAX_HOSTS {
            map.clear();
        }
        let made = self.rates.iter().find(|(p, _)| matches(p, host)).map(|(pattern, rate)| {
            let limit = HostLimit { host: host.to_owned(), rate_per_sec: rate * share, pattern: pattern.clone() };
            (Bucket::new(*rate, share).limiter, limit)
        });
        let limiter = made.as_ref().map(|(l, _)| l.clone());
        map.insert(host.to_owned(), made);
        limiter
    }

    /// Forgets the buckets (the node's share changed): they are made again
    /// at the new share.
    pub(crate) fn reset(&self) {
        self.lock().clear();
    }

    /// The hosts with a bucket now.
    pub(crate) fn snapshot(&self) -> Vec<HostLimit> {
        let mut list: Vec<HostLimit> = self.lock().values().flatten().map(|(_, l)| l.clone()).collect();
        list.sort_by(|a, b| a.host.cmp(&b.host));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn patterns_match_by_name_or_by_name_and_port() {
        assert!(matches("api.example.com", "api.example.com:443"));
        assert!(matches("*.example.com", "shop.example.com:80"));
        assert!(matches("127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(!matches("127.0.0.1:8080", "127.0.0.1:9090"));
        assert!(!matches("api.example.com", "example.com:443"));
    }

    #[tokio::test]
    async fn a_limited_host_waits_for_its_own_tokens_and_another_does_not() {
        let hosts = HostBuckets::new(vec![("slow.example".into(), 4.0)]);
        assert!(hosts.limiter("fast.example:443", 1.0).is_none(), "no pattern, no bucket");
        let slow = hosts.limiter("slow.example:443", 1.0).expect("a bucket");
        let started = Instant::now();
        for _ in 0..8 {
            slow.until_ready().await;
        }
        // A burst of 4, then 4 more at 4 a second.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert_eq!(hosts.snapshot().len(), 1);
        assert_eq!(hosts.snapshot()[0].rate_per_sec, 4.0);
        hosts.reset();
        assert!(hosts.snapshot().is_empty());
        let half = hosts.limiter("slow.example:443", 0.5);
        assert!(half.is_some());
        assert_eq!(hosts.snapshot()[0].rate_per_sec, 2.0, "the node's share");
    }
}
