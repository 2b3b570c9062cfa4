//! Guarding the admin UI's password. Failed logins slow their source down
//! instead of locking it out, so the real admin's right password always gets
//! in, only later:
//!
//! - a **source** is one IPv4 address or one IPv6 /64 (rotating addresses
//!   inside one's own /64 buys nothing), taken from the connection, or from
//!   `X-Forwarded-For` when the connection comes from a trusted proxy
//!   (`TRAWLER_TRUSTED_PROXIES`);
//! - each recent failure of a source doubles the wait before its next check
//!   (250 ms, 500 ms, … up to 10 s); a success forgets its failures, and so
//!   do 15 minutes without one;
//! - a source has at most two attempts waiting or being checked at once
//!   (more gets 429), so waiting cannot be dodged by sending many at once;
//! - the password checks (argon2, slow on purpose) run two at a time on
//!   threads of their own, never on the pool database work shares;
//! - the table of sources is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

/// Failures are forgotten after this long without one.
const FORGET_AFTER_MS: i64 = 15 * 60 * 1000;
/// The most sources the table tracks.
const MAX_SOURCES: usize = 100_000;
/// Attempts of one source waiting or being checked at once.
const MAX_PENDING_PER_SOURCE: u32 = 2;
/// Password checks running at once, node-wide.
const MAX_CHECKS: usize = 2;

/// One source's recent failures and attempts in progress.
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    failures: u32,
    last_failure_ms: i64,
    pending: u32,
}

/// A network range of trusted proxies (`10.0.0.0/8`, `::1/128`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| format!("`{s}`: bad prefix length"))?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

impl Cidr {
    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(bytes: &[u8], bits: u8) -> Vec<u8> {
            let mut out: Vec<u8> = bytes.to_vec();
            for (i, b) in out.iter_mut().enumerate() {
                let keep = (bits as usize).saturating_sub(i * 8).min(8);
                *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
            }
            out
        }
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix(&n.octets(), self.bits) == prefix(&a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix(&n.octets(), self.bits) == prefix(&a.octets(), self.bits),
            (IpAddr::V6(_), IpAddr::V4(a)) => self.contains(IpAddr::V6(a.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| self.contains(IpAddr::V4(a))),
        }
    }
}

/// The client a login comes from: the connection's peer, or, when the peer
/// is a trusted proxy, the right-most address of `X-Forwarded-For` that is
/// not itself a trusted proxy (the left part of that header is whatever the
/// client chose to send).
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => client = ip,
            Ok(ip) => return ip,
            // A hop that is not an address ends what can be trusted.
            Err(_) => return client,
        }
    }
    client
}

/// The throttling key of an address: itself (IPv4) or its /64 (IPv6).
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The wait before a check of a source with `failures` recent failures.
fn delay_for(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let ms = 250u64.saturating_mul(1u64 << (failures - 1).min(16));
    Duration::from_millis(ms.min(10_000))
}

/// The guard of the login form.
pub struct LoginGuard {
    table: Mutex<HashMap<IpAddr, Record>>,
    checks: Arc<Semaphore>,
    /// Trusted proxies, whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(Vec::new())
    }
}

/// Why an attempt was not checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The source already has attempts in progress.
    Busy,
}

/// An attempt in progress: leaving frees the source's place.
struct Pending<'a> {
    guard: &'a LoginGuard,
    source: IpAddr,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.guard.lock().get_mut(&self.source) {
            r.pending = r.pending.saturating_sub(1);
        }
    }
}

impl LoginGuard {
    /// A guard trusting `X-Forwarded-For` from `trusted_proxies`.
    pub fn new(trusted_proxies: Vec<Cidr>) -> LoginGuard {
        LoginGuard { table: Mutex::default(), checks: Arc::new(Semaphore::new(MAX_CHECKS)), trusted_proxies }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a password attempt from `client`: waits the source's delay,
    /// then runs `check` (the slow password check) on a thread of its own,
    /// at most [`MAX_CHECKS`] at once. Records the outcome.
    pub async fn attempt(
        &self,
        client: IpAddr,
        check: impl FnOnce() -> bool + Send + 'static,
    ) -> Result<bool, Refused> {
        let source = source_of(client);
        let now = trawler_domain::now_millis();
        let wait = {
            let mut table = self.lock();
            if table.len() >= MAX_SOURCES && !table.contains_key(&source) {
                prune(&mut table, now);
            }
            let record = table.entry(source).or_default();
            if now - record.last_failure_ms > FORGET_AFTER_MS {
                record.failures = 0;
            }
            if record.pending >= MAX_PENDING_PER_SOURCE {
                return Err(Refused::Busy);
            }
            record.pending += 1;
            delay_for(record.failures)
        };
        let _pending = Pending { guard: self, source };
        tokio::time::sleep(wait).await;
        let ok = match self.checks.clone().acquire_owned().await {
            Ok(permit) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let spawned = std::thread::Builder::new().name("trawler-password".into()).spawn(move || {
                    let _ = tx.send(check());
                    drop(permit);
                });
                spawned.is_ok() && rx.await.unwrap_or(false)
            }
            Err(_) => false,
        };
        let mut table = self.lock();
        if let Some(record) = table.get_mut(&source) {
            if ok {
                record.failures = 0;
            } else {
                record.failures = record.failures.saturating_add(1);
                record.last_failure_ms = trawler_domain::now_millis();
            }
        }
        Ok(ok)
    }

    /// Sources tracked now.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Makes room in a full table: forgets sources with nothing recent and
/// nothing in progress; if that is not enough, the half with the oldest
/// failures.
fn prune(table: &mut HashMap<IpAddr, Record>, now: i64) {
    table.retain(|_, r| r.pending > 0 || (r.failures > 0 && now - r.last_failure_ms <= FORGET_AFTER_MS));
    if table.len() >= MAX_SOURCES {
        let mut ages: Vec<i64> = table.values().map(|r| r.last_failure_ms).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 2];
        table.retain(|_, r| r.pending > 0 || r.last_failure_ms > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn ipv6_sources_are_their_64() {
        assert_eq!(source_of(ip("2001:db8:1:2:aaaa::1")), source_of(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(source_of(ip("2001:db8:1:2::1")), source_of(ip("2001:db8:1:3::1")));
        assert_eq!(source_of(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_ne!(source_of(ip("10.0.0.1")), source_of(ip("10.0.0.2")));
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().expect("cidr"), "::1".parse().expect("cidr")];
        // Not from a proxy: the header is the client's own word.
        assert_eq!(client_address(ip("203.0.113.5"), Some("1.2.3.4"), &trusted), ip("203.0.113.5"));
        // From a proxy: the right-most untrusted hop; a forged left part is ignored.
        assert_eq!(
            client_address(ip("10.1.1.1"), Some("6.6.6.6, 198.51.100.7, 10.2.2.2"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_address(ip("::1"), Some("2001:db8::7"), &trusted), ip("2001:db8::7"));
        assert_eq!(client_address(ip("10.1.1.1"), None, &trusted), ip("10.1.1.1"));
        assert_eq!(client_address(ip("10.1.1.1"), Some("garbage"), &trusted), ip("10.1.1.1"));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err() && "nope".parse::<Cidr>().is_err());
        let c: Cidr = "192.168.0.0/16".parse().expect("cidr");
        assert!(c.contains(ip("192.168.200.1")) && !c.contains(ip("192.169.0.1")));
        assert!(c.contains(ip("::ffff:192.168.1.1")));
    }

    #[test]
    fn delays_double_up_to_ten_seconds() {
        assert_eq!(delay_for(0), Duration::ZERO);
        assert_eq!(delay_for(1), Duration::from_millis(250));
        assert_eq!(delay_for(3), Duration::from_secs(1));
        assert_eq!(delay_for(100), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_right_password_gets_in_after_failures_and_the_table_is_bounded() {
        let guard = LoginGuard::default();
        let me = ip("198.51.100.7");
        for _ in 0..3 {
            assert_eq!(guard.attempt(me, || false).await, Ok(false));
        }
        let started = std::time::Instant::now();
        assert_eq!(guard.attempt(me, || true).await, Ok(true), "the right password is never refused");
        assert!(started.elapsed() >= Duration::from_secs(1), "it waited its source's delay");
        assert_eq!(guard.lock()[&me].failures, 0, "a success forgets the failures");
        let mut table = guard.lock();
        for i in 0..MAX_SOURCES as u32 {
            table.insert(
                IpAddr::from(i.to_be_bytes()),
                Record { failures: 1, last_failure_ms: i64::from(i), pending: 0 },
            );
        }
        prune(&mut table, i64::from(u32::MAX));
        assert!(table.len() < MAX_SOURCES, "{}", table.len());
    }
}
