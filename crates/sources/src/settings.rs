//! The sources' settings: where the platforms are, how fast and how hard
//! they are asked, and which hosts may be fetched at all. Each field's
//! default is the one the service runs with.

use serde::{de, Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use trawler_domain::settings::{Bounded, Bytes, Rate, Show, Span};
use trawler_domain::Platform;

use crate::{GateConfig, HttpConfig, SourcesConfig};

trawler_domain::settings! {
    /// Settings of the platforms' clients.
    pub struct SourcesSettings {
        /// Allow fetching loopback and private addresses (simulator,
        /// intranet). Off: SSRF protection.
        allow_private: bool = false;
        /// The only hosts that may be fetched (platforms and webhooks), comma
        /// separated: names, IP literals or `*.example.com`. Unset: any
        /// public host.
        egress_allow: Option<Vec<HostPattern>> = None, unset "any public host";
        /// Deadline of one HTTP request to a platform.
        http_timeout: Span = Span::secs(20);
        /// Largest response body read from a platform, in bytes.
        max_body_bytes: Bytes = Bytes::of(4 * 1024 * 1024);
        /// Requests per second to Kickstarter.
        rate_kickstarter: Rate = Rate::of(5.0);
        /// Requests per second to Indiegogo.
        rate_indiegogo: Rate = Rate::of(5.0);
        /// Requests per second to the Meta Marketing API.
        rate_meta_ads: Rate = Rate::of(10.0);
        /// Requests per second to http_json sources (all hosts together).
        rate_http_json: Rate = Rate::of(20.0);
        /// Requests per second to html sources (all hosts together).
        rate_html: Rate = Rate::of(10.0);
        /// Requests per second to the ECB (exchange rates).
        rate_ecb: Rate = Rate::of(1.0);
        /// Requests per second to the hosts of the generic platforms
        /// (`http_json`, `html`) that match a pattern, comma separated:
        /// `api.shop.example=2,*.cdn.example=0.5`. Each matching host gets
        /// its own bucket at that rate, inside its platform's: one busy site
        /// cannot take a platform's whole budget. Unset: the hosts share
        /// their platform's rate.
        host_rates: Option<Vec<HostRate>> = None, unset "hosts share their platform's rate";
        /// The generic platforms (`http_json`, `html`) whose sources obey
        /// the robots.txt of their sites, comma separated. Unset: none.
        robots_txt: Option<Vec<Platform>> = None, unset "none";
        /// Proxies, comma separated `target=url`: the target a platform
        /// (`html`) or a host pattern (`*.shop.example`), the URL an
        /// `http`, `https`, `socks5` or `socks5h` proxy; several for one
        /// target make a pool that takes turns. Unset: direct.
        proxies: Option<Vec<ProxyRoute>> = None, unset "none: direct";
        /// Kickstarter's base URL.
        kickstarter_url: BaseUrl = BaseUrl::of("https://www.kickstarter.com");
        /// Indiegogo's API base URL.
        indiegogo_url: BaseUrl = BaseUrl::of("https://api.indiegogo.com");
        /// The Graph API base URL for Meta Ads.
        meta_url: BaseUrl = BaseUrl::of("https://graph.facebook.com");
        /// The European Central Bank's base URL (euro reference rates).
        ecb_url: BaseUrl = BaseUrl::of("https://www.ecb.europa.eu");
        /// The Marketing API version used in paths.
        meta_api_version: String = "v21.0".into();
        /// Requests in flight at once per platform.
        max_in_flight_per_platform: Bounded<1, 100_000> = Bounded::of(32);
        /// Requests in flight at once across all platforms.
        max_in_flight: Bounded<1, 1_000_000> = Bounded::of(256);
        /// Retries of one request on a transient failure.
        max_retries: Bounded<0, 20> = Bounded::of(2);
        /// Retries one run may spend across all its requests.
        retry_budget: Bounded<0, 1000> = Bounded::of(6);
        /// Consecutive platform failures that open its circuit.
        circuit_failures: Bounded<1, 10_000> = Bounded::of(5);
        /// How long an open circuit refuses requests before one probe.
        circuit_open_for: Span = Span::secs(30);
        /// The longest pause a platform's answer (Retry-After, a regain time)
        /// can impose on it or one of its hosts; a longer ask is cut to this.
        max_pause: Span = Span::secs(3600);
    }
}

impl SourcesSettings {
    /// Requests per second per platform.
    pub fn rates(&self) -> BTreeMap<Platform, f64> {
        BTreeMap::from([
            (Platform::Kickstarter, self.rate_kickstarter.get()),
            (Platform::Indiegogo, self.rate_indiegogo.get()),
            (Platform::MetaAds, self.rate_meta_ads.get()),
            (Platform::HttpJson, self.rate_http_json.get()),
            (Platform::Html, self.rate_html.get()),
            (Platform::Ecb, self.rate_ecb.get()),
        ])
    }

    /// The clients' configuration these settings make.
    pub fn config(&self) -> SourcesConfig {
        SourcesConfig {
            kickstarter_url: self.kickstarter_url.0.clone(),
            indiegogo_url: self.indiegogo_url.0.clone(),
            meta_url: self.meta_url.0.clone(),
            meta_api_version: self.meta_api_version.clone(),
            ecb_url: self.ecb_url.0.clone(),
            http: HttpConfig {
                timeout: self.http_timeout.get(),
                max_body_bytes: self.max_body_bytes.usize(),
                max_redirects: 5,
                allow_private: self.allow_private,
                user_agent: format!("trawler/{}", env!("CARGO_PKG_VERSION")),
                egress_allow: self
                    .egress_allow
                    .as_ref()
                    .filter(|a| !a.is_empty())
                    .map(|a| a.iter().map(|h| h.0.clone()).collect()),
                proxies: self.proxies.iter().flatten().map(|r| (r.target.clone(), r.url.clone())).collect(),
            },
            rates: self.rates(),
            max_in_flight_per_platform: self.max_in_flight_per_platform.usize(),
            max_in_flight_total: self.max_in_flight.usize(),
            circuit_failures: self.circuit_failures.u32(),
            circuit_open_for: self.circuit_open_for.get(),
            max_retries: self.max_retries.usize(),
            retry_budget_per_run: self.retry_budget.u32(),
            max_retry_delay: Duration::from_secs(30),
            max_pause: self.max_pause.get(),
            host_rates: self.host_rates.iter().flatten().map(|h| (h.pattern.0.clone(), h.rate)).collect(),
            robots_txt: self.robots_txt.iter().flatten().copied().collect(),
        }
    }
}

impl SourcesConfig {
    /// The gate of `platform` under this configuration.
    pub fn gate(&self, platform: Platform) -> GateConfig {
        GateConfig {
            rate_per_sec: self.rates.get(&platform).copied().unwrap_or(1.0),
            max_in_flight: self.max_in_flight_per_platform,
            circuit_failures: self.circuit_failures.max(1),
            circuit_open_for: self.circuit_open_for,
            max_pause: self.max_pause,
            host_rates: self.host_rates.clone(),
        }
    }
}

/// An http:// or https:// base URL.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// A built-in base URL.
    fn of(url: &str) -> BaseUrl {
        BaseUrl(url.to_owned())
    }

    /// Checks `url`.
    pub fn new(url: &str) -> Result<BaseUrl, String> {
        match url.split_once("://") {
            Some(("http" | "https", rest)) if !rest.is_empty() => Ok(BaseUrl(url.to_owned())),
            _ => Err(format!("`{url}` must be an http:// or https:// URL")),
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Show for BaseUrl {
    fn show(&self) -> String {
        self.0.clone()
    }
}

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BaseUrl, D::Error> {
        BaseUrl::new(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// An entry of the egress allowlist: a host name, an IP literal, or
/// `*.example.com` for a domain and its subdomains.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HostPattern(String);

impl HostPattern {
    /// Checks `entry`.
    pub fn new(entry: &str) -> Result<HostPattern, String> {
        let entry = entry.trim();
        let name = entry.strip_prefix("*.").unwrap_or(entry);
        let ok = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
        if ok {
            Ok(HostPattern(entry.to_owned()))
        } else {
            Err(format!("`{entry}` is not a host name, an IP address or *.domain"))
        }
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Show for HostPattern {
    fn show(&self) -> String {
        self.0.clone()
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HostPattern, D::Error> {
        HostPattern::new(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A host pattern and its own rate (`api.shop.example=2`).
#[derive(Clone, PartialEq, Serialize)]
pub struct HostRate {
    /// The hosts it covers (a name, an IP literal, `*.example.com`; with
    /// `:port`, that port only).
    pub pattern: HostPattern,
    /// Requests per second to each such host.
    pub rate: f64,
}

impl HostRate {
    /// Parses `pattern=rate`.
    pub fn new(entry: &str) -> Result<HostRate, String> {
        let (pattern, rate) =
            entry.split_once('=').ok_or_else(|| format!("`{entry}` is not host=rate (e.g. api.example.com=2)"))?;
        let rate: f64 = rate.trim().parse().map_err(|_| format!("`{rate}` in `{entry}` is not a number"))?;
        if !(rate.is_finite() && (0.001..=100_000.0).contains(&rate)) {
            return Err(format!("the rate in `{entry}` must be between 0.001 and 100000 requests a second"));
        }
        Ok(HostRate { pattern: HostPattern::new(pattern)?, rate })
    }
}

impl fmt::Debug for HostRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.pattern.0, self.rate)
    }
}

impl Show for HostRate {
    fn show(&self) -> String {
        format!("{}={}", self.pattern.0, self.rate)
    }
}

impl<'de> Deserialize<'de> for HostRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HostRate, D::Error> {
        HostRate::new(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A proxy route (`html=http://10.0.0.1:3128`).
#[derive(Clone, PartialEq)]
pub struct ProxyRoute {
    /// A platform's name or a host pattern.
    pub target: String,
    /// The proxy's URL (its credentials, if any, are never shown).
    pub url: String,
}

impl ProxyRoute {
    /// Parses `target=url`.
    pub fn new(entry: &str) -> Result<ProxyRoute, String> {
        let (target, url) =
            entry.split_once('=').ok_or_else(|| "a proxy is target=url (e.g. html=http://10.0.0.1:3128)".to_owned())?;
        let target = target.trim();
        if target.parse::<Platform>().is_err() {
            HostPattern::new(target).map_err(|e| format!("proxy target: {e} (or a platform's name)"))?;
        }
        crate::proxy::check_route(target, url.trim())?;
        Ok(ProxyRoute { target: target.to_owned(), url: url.trim().to_owned() })
    }

    fn shown(&self) -> String {
        let url = reqwest::Url::parse(&self.url).map_or_else(
            |_| "?".to_owned(),
            |mut u| {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.to_string()
            },
        );
        format!("{}={url}", self.target)
    }
}

impl fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Serialize for ProxyRoute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown())
    }
}

impl Show for ProxyRoute {
    fn show(&self) -> String {
        self.shown()
    }
}

impl<'de> Deserialize<'de> for ProxyRoute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ProxyRoute, D::Error> {
        ProxyRoute::new(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}
