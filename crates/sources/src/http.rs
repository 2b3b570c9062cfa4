//! The one HTTP client every adapter uses: bounded in time, size and
//! redirects, and refusing private addresses unless the operator allows them.
//!
//! The SSRF guard sits in three places because each sees different URLs: the
//! DNS resolver (every host name, including after redirects), the redirect
//! policy (IP-literal redirect targets never reach the resolver), and `get`
//! itself (IP-literal request URLs).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use reqwest::redirect;

pub use crate::egress::host_allowed;
use crate::SourceError;

/// Settings of the HTTP client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Whole-request deadline (connect, headers and body).
    pub timeout: Duration,
    /// Largest body accepted, in bytes (after decompression).
    pub max_body_bytes: usize,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// Whether loopback and private addresses may be fetched (the simulator,
    /// tests, an intranet platform). Off by default: SSRF protection.
    pub allow_private: bool,
    /// The User-Agent header sent.
    pub user_agent: String,
    /// When set, the only hosts that may be fetched (request URLs and
    /// redirect targets): exact names or IP literals, or `*.example.com` for
    /// a domain and its subdomains. An egress allowlist.
    pub egress_allow: Option<Vec<String>>,
    /// Proxy routes: `(platform or host pattern, proxy URL)`.
    pub proxies: Vec<(String, String)>,
}

impl Default for HttpConfig {
    /// The client of the default settings.
    fn default() -> Self {
        crate::SourcesSettings::default().config().http
    }
}

/// A response whose body was read in full (within the size bound).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first 200 characters of the body, for error messages.
    pub fn excerpt(&self) -> String {
        excerpt(&self.text(), 200)
    }

    /// The `Retry-After` header as a duration, in either of its forms
    /// (delay-seconds or an HTTP date). A number too large for any clock
    /// reads as the longest duration: how long a wait is honoured is the
    /// gate's cap to decide, never the platform's.
    pub fn retry_after(&self) -> Option<Duration> {
        let v = self.headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(v, chrono::Utc::now())
    }

    /// Fails unless the status is 2xx: 429, and 503 with a Retry-After, are
    /// throttling; anything else an HTTP status error.
    pub fn error_for_status(self) -> Result<HttpResponse, SourceError> {
        match self.status {
            200..=299 => Ok(self),
            429 => Err(SourceError::Throttled {
                retry_after: self.retry_after(),
                detail: format!("HTTP {} {}", self.status, self.excerpt()),
                platform_wide: true,
            }),
            503 if self.retry_after().is_some() => Err(SourceError::Throttled {
                retry_after: self.retry_after(),
                detail: format!("HTTP {} {}", self.status, self.excerpt()),
                platform_wide: true,
            }),
            status => Err(SourceError::HttpStatus { status, detail: self.excerpt() }),
        }
    }
}

/// The first `n` characters of `text` (trimmed), with `…` when cut: what an
/// error message may quote of something a platform sent.
pub fn excerpt(text: &str, n: usize) -> String {
    let t = text.trim();
    match t.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// A URL as messages may show it: without its query, fragment and user
/// information, which can hold credentials (`?api_key=…`, `user:pw@`).
pub fn shown_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    };
    excerpt(&shown, 200)
}

/// Reads a `Retry-After` value as seen at `now`: delay-seconds (digits
/// only; more than fit in 64 bits saturate) or an HTTP date (a date in the
/// past means no wait). Anything else is `None`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is a form of RFC 2822.
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some((when.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// Whether an address is on the public internet. Refused: every IPv4 range
/// of IANA's special-purpose registry that is not globally reachable
/// (loopback, private, shared, link-local — cloud metadata lives there —,
/// benchmarking, documentation, reserved, multicast, broadcast), and every
/// IPv6 address outside global unicast (`2000::/3`) or inside one of its
/// special blocks (documentation, benchmarking, ORCHID, SRv6 SIDs). IPv6
/// forms that carry an IPv4 address (mapped, IPv4-compatible, NAT64, 6to4,
/// Teredo) are judged by the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return v4.iter().all(|a| is_public_v4(*a));
            }
            let seg = v6.segments();
            let global_unicast = (seg[0] & 0xe000) == 0x2000;
            let special = match seg[0] {
                // 2001::/23 IETF protocol assignments, 2001:db8::/32 documentation.
                0x2001 => seg[1] < 0x0200 || seg[1] == 0x0db8,
                // SRv6 SIDs.
                0x5f00 => true,
                // 3fff::/20 documentation.
                s => (s & 0xfff0) == 0x3ff0,
            };
            global_unicast && !special
        }
    }
}

fn is_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 192.88.99/24 6to4 relay anycast
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
        || o[0] >= 240)
}

/// The IPv4 addresses an IPv6 address carries: mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`; the local-use
/// `64:ff9b:1::/48` counts as private), 6to4 (`2002:AABB:CCDD::/48`) and
/// Teredo (`2001::/32`: the server's and, inverted, the client's).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<Vec<std::net::Ipv4Addr>> {
    let seg = v6.segments();
    let o = v6.octets();
    let last = std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(vec![v4]);
    }
    if seg[..6].iter().all(|s| *s == 0) {
        // `::` and `::1` are judged as what they are, not as 0.0.0.x.
        if v6.is_unspecified() || v6.is_loopback() {
            return Some(vec![std::net::Ipv4Addr::UNSPECIFIED]);
        }
        return Some(vec![last]);
    }
    if seg[0] == 0x64 && seg[1] == 0xff9b {
        if seg[2..6].iter().all(|s| *s == 0) {
            return Some(vec![last]);
        }
        if seg[2] == 1 {
            return Some(vec![std::net::Ipv4Addr::UNSPECIFIED]);
        }
    }
    if seg[0] == 0x2002 {
        return Some(vec![std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5])]);
    }
    if seg[0] == 0x2001 && seg[1] == 0 {
        let server = std::net::Ipv4Addr::new(o[4], o[5], o[6], o[7]);
        let client = std::net::Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]);
        return Some(vec![server, client]);
    }
    None
}

/// The error the resolver returns for a host with only private addresses.
#[derive(Debug)]
struct BlockedHost(String);

impl std::fmt::Display for BlockedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to private or loopback addresses", self.0)
    }
}

impl std::error::Error for BlockedHost {}

/// A resolver that drops non-public addresses.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(BlockedHost(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Whether a URL's host is an IP literal that is not public.
fn blocked_literal(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        _ => false,
    }
}

/// The shared, bounded HTTP client. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    config: Arc<HttpConfig>,
    proxies: Arc<crate::proxy::Pools>,
    /// The platform whose proxies this handle's requests use.
    platform: Option<trawler_domain::Platform>,
}

impl HttpClient {
    /// Builds the client.
    pub fn new(config: HttpConfig) -> Result<HttpClient, SourceError> {
        let max_redirects = config.max_redirects;
        let allow_private = config.allow_private;
        let egress_list = config.egress_allow.clone();
        let policy = || {
            let egress = egress_list.clone();
            redirect::Policy::custom(move |attempt| {
                let outside = egress
                    .as_deref()
                    .is_some_and(|allow| !host_allowed(allow, attempt.url().host_str().unwrap_or_default()));
                if attempt.previous().len() > max_redirects {
                    attempt.error(format!("more than {max_redirects} redirects"))
                } else if outside {
                    let msg =
                        format!("redirect to {}, outside the egress allowlist", shown_url(attempt.url().as_str()));
                    attempt.error(msg)
                } else if !allow_private && blocked_literal(attempt.url()) {
                    let msg = format!("redirect to private address {}", shown_url(attempt.url().as_str()));
                    attempt.error(msg)
                } else {
                    attempt.follow()
                }
            })
        };
        let build = |proxy: Option<reqwest::Proxy>| {
            let mut builder = reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(config.timeout.min(Duration::from_secs(10)))
                .redirect(policy())
                .user_agent(config.user_agent.clone())
                .pool_idle_timeout(Duration::from_secs(60));
            // A proxy from the environment (HTTP_PROXY, …) would resolve
            // names itself, past the resolver that refuses private
            // addresses: none is used unless configured (and then the
            // target is resolved here first, in `send`).
            builder = match proxy {
                Some(p) => builder.proxy(p),
                None => builder.no_proxy(),
            };
            if !config.allow_private {
                builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
            }
            builder.build().map_err(|e| SourceError::Config(format!("HTTP client: {e}")))
        };
        let client = build(None)?;
        let proxies = crate::proxy::Pools::new(&config.proxies, |p| build(Some(p)))?;
        Ok(HttpClient { client, config: Arc::new(config), proxies: Arc::new(proxies), platform: None })
    }

    /// This client for the sources of `platform`: its requests go through
    /// the platform's proxies, if it has any.
    pub fn for_platform(&self, platform: trawler_domain::Platform) -> HttpClient {
        HttpClient { platform: Some(platform), ..self.clone() }
    }

    /// Whether any proxy is configured.
    pub fn has_proxies(&self) -> bool {
        !self.proxies.is_empty()
    }

    /// Every proxy's state.
    pub fn proxies(&self) -> Vec<crate::proxy::ProxyState> {
        self.proxies.snapshot()
    }

    /// The client's settings.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// GETs a URL and reads its body up to the size limit. Any status is
    /// returned as is: adapters decide what an error body means.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, SourceError> {
        self.send(reqwest::Method::GET, url, headers, None).await
    }

    /// Sends a request with `method` (and a body) and reads its answer up
    /// to the size limit, like [`HttpClient::get`].
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, SourceError> {
        let url = self.check_url(url)?;
        let proxy = self.proxies.pick(self.platform, url.host_str().unwrap_or_default());
        if proxy.is_some() && !self.config.allow_private {
            refuse_private_target(&url).await?;
        }
        let mut req = proxy.map_or(&self.client, |(_, c)| c).request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let result = self.read(req).await;
        if let Some((i, _)) = proxy {
            let unreachable = matches!(result, Err(SourceError::Connect(_) | SourceError::Timeout(_)));
            self.proxies.outcome(i, !unreachable);
        }
        result
    }

    /// POSTs a body (webhooks) under the same guards and bounds as `get`.
    /// Reads at most `max_response` bytes of the answer and drops the rest
    /// (a receiver's answer is read for its status and an excerpt only).
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        max_response: usize,
    ) -> Result<HttpResponse, SourceError> {
        let mut req = self.client.post(self.check_url(url)?).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send().await.map_err(classify)?;
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let mut body = Vec::new();
        while body.len() < max_response {
            match resp.chunk().await.map_err(classify)? {
                Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(max_response - body.len())]),
                None => break,
            }
        }
        Ok(HttpResponse { status, headers, body })
    }

    /// Parses a URL and applies the scheme, egress and SSRF checks that do
    /// not need DNS (the resolver does the rest).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, SourceError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| SourceError::Config(format!("bad URL `{}`: {e}", shown_url(url))))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SourceError::Config(format!("unsupported scheme in `{}`", shown_url(url))));
        }
        let host = parsed.host_str().unwrap_or_default();
        if let Some(allow) = &self.config.egress_allow {
            if !host_allowed(allow, host) {
                return Err(SourceError::Blocked(format!(
                    "{host} is not in the egress allowlist (TRAWLER_EGRESS_ALLOW)"
                )));
            }
        }
        if !self.config.allow_private && blocked_literal(&parsed) {
            return Err(SourceError::Blocked(format!(
                "{host} is a private address (set TRAWLER_ALLOW_PRIVATE to allow it)"
            )));
        }
        Ok(parsed)
    }

    async fn read(&self, req: reqwest::RequestBuilder) -> Result<HttpResponse, SourceError> {
        let mut resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        // Taken, not copied: the body is read without them.
        let headers = std::mem::take(resp.headers_mut());
        let limit = self.config.max_body_bytes;
        let announced = resp.content_length();
        if announced.is_some_and(|n| n as usize > limit) {
            return Err(SourceError::TooLarge { limit });
        }
        // Read chunk by chunk and stop at the limit: Content-Length can lie
        // or be absent, and gzip bodies grow when decoded.
        let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize).min(64 * 1024));
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > limit {
                return Err(SourceError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body })
    }
}

/// Before a request goes through a proxy (which resolves its target past
/// the node's resolver): a target named by a host whose addresses are all
/// private is refused here.
async fn refuse_private_target(url: &reqwest::Url) -> Result<(), SourceError> {
    let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
    let port = url.port_or_known_default().unwrap_or(80);
    let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
        // The proxy may know names this node does not.
        return Ok(());
    };
    let addrs: Vec<SocketAddr> = addrs.collect();
    if !addrs.is_empty() && addrs.iter().all(|a| !is_public(a.ip())) {
        return Err(SourceError::Blocked(format!("{name} resolves only to private or loopback addresses")));
    }
    Ok(())
}

/// Maps a reqwest error to a classified [`SourceError`].
/// The error names no URL: a URL can carry a credential (`?api_key=`,
/// `user:password@`) and errors travel to run records, events, webhooks,
/// `/admin/actors` and logs.
fn classify(e: reqwest::Error) -> SourceError {
    let e = e.without_url();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<BlockedHost>() {
            return SourceError::Blocked(format!("{b} (set TRAWLER_ALLOW_PRIVATE to allow it)"));
        }
        source = s.source();
    }
    let msg = error_chain(&e);
    if e.is_timeout() {
        SourceError::Timeout(msg)
    } else if e.is_redirect() {
        SourceError::Redirect(msg)
    } else if e.is_connect() || e.is_request() || e.is_body() {
        SourceError::Connect(msg)
    } else if e.is_decode() {
        SourceError::Parse(msg)
    } else {
        SourceError::Connect(msg)
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("test literal");
            assert!(!is_public(ip), "{ip} must be blocked");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            let ip: IpAddr = ip.parse().expect("test literal");
            assert!(is_public(ip), "{ip} is public");
        }
    }

    #[test]
    fn egress_allowlist_matches_names_domains_and_literals() {
        let allow: Vec<String> =
            ["127.0.0.1", "*.kickstarter.com", "API.example.org", "::1"].iter().map(|s| s.to_string()).collect();
        for host in
            ["127.0.0.1", "kickstarter.com", "www.kickstarter.com", "api.example.org", "[::1]", "a.b.kickstarter.com."]
        {
            assert!(host_allowed(&allow, host), "{host} is allowed");
        }
        for host in ["127.0.0.2", "evilkickstarter.com", "kickstarter.com.evil.net", "example.org", "localhost"] {
            assert!(!host_allowed(&allow, host), "{host} is not allowed");
        }
    }

    #[test]
    fn retry_after_reads_both_forms_and_saturates() {
        let now = chrono::DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:37 GMT").unwrap().to_utc();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), Some(Duration::from_secs(120)));
        // A date in the past: no wait.
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::ZERO));
        // Far future and absurd numbers saturate instead of failing; the gate caps them.
        assert!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap() > Duration::from_secs(200 * 365 * 86_400)
        );
        assert_eq!(parse_retry_after("9999999999999999999", now), Some(Duration::from_secs(9_999_999_999_999_999_999)));
        assert_eq!(parse_retry_after("99999999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        for junk in ["yesterday", "", "-5", "1.5", "1e9", "NaN", "Sun, 06 Nov 1994 25:00:00 GMT"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk}");
        }
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        let private = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
            "2001:0:a9fe:a9fe::1",                  // Teredo, server 169.254.169.254
            "fec0::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "2001:10::1",
            "2001:20::1",
            "2001:2::1",
            "3fff::1",
            "5f00::1",
            "4000::1",
            "1::1",
        ];
        for ip in private {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert!(!is_public(parsed), "{ip} must be refused");
        }
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:0:808:808:8000:63bf:f7f7:f7f7",
        ];
        for ip in public {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert!(is_public(parsed), "{ip} is public");
        }
    }

    #[test]
    fn shown_urls_carry_no_credentials() {
        assert_eq!(shown_url("https://u:pw@api.example/v1/x?api_key=s3cret#frag"), "https://api.example/v1/x");
        assert_eq!(shown_url("https://api.example"), "https://api.example");
        assert_eq!(shown_url("not a url?token=s3cret"), "not a url");
    }
}
