//! The HTTP side's settings: the address, the credentials, the caps on
//! streams and reads, the proxies trusted to name a client.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::net::SocketAddr;
use trawler_domain::settings::{Bounded, Secret, Show};

use crate::{Cidr, LimitsConfig};

trawler_domain::settings! {
    /// Settings of the HTTP API and the admin UI.
    pub struct WebSettings {
        /// Address the HTTP API listens on (port 0 picks a free port).
        bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
        /// The admin bearer token every API route requires (at least 16
        /// characters).
        admin_token: Option<Secret> = None, unset "unset (required)";
        /// A bearer token that reads `/metrics` and nothing else, for
        /// Prometheus (at least 16 characters; optional).
        metrics_token: Option<Secret> = None, unset "off";
        /// The argon2 hash of the admin UI's password (`trawler
        /// hash-password` makes one). Without it the UI's login is off; the
        /// API still works.
        admin_password_hash: Option<PasswordHash> = None, unset "unset (the UI's login is off)";
        /// Mark session cookies Secure whatever the request's scheme (behind
        /// a TLS-terminating proxy). Requests over https get it anyway.
        cookie_secure: bool = false;
        /// Proxies whose `X-Forwarded-For` names the client (for the login
        /// throttle): addresses or CIDR ranges, comma-separated.
        trusted_proxies: Vec<Cidr> = Vec::new();
        /// Event streams (SSE) open at once on this node; past it, 503.
        max_streams: Bounded<1, 1_000_000> = Bounded::of(20_000);
        /// Event streams open at once with one read token; past it, 429.
        max_streams_per_token: Bounded<1, 100_000> = Bounded::of(2_000);
        /// Expensive reads (series, summaries, exports) in progress at once
        /// on this node; past it, 503.
        max_reads: Bounded<1, 100_000> = Bounded::of(64);
        /// Expensive reads in progress at once with one read token; past it,
        /// 429.
        max_reads_per_token: Bounded<1, 100_000> = Bounded::of(32);
        /// Sites that may show the creator's dashboard (`/d/…`) in a frame:
        /// origins such as `https://agency.example` or
        /// `https://*.agency.example`, comma-separated. Empty: no site may
        /// (every other page is never framed).
        embed_origins: Vec<EmbedOrigin> = Vec::new();
        /// HTTP worker threads (default: one per CPU).
        http_workers: Option<Bounded<1, 1024>> = None, unset "one per CPU";
    }
}

impl WebSettings {
    /// The caps on streams and reads.
    pub fn limits(&self) -> LimitsConfig {
        LimitsConfig {
            max_streams: self.max_streams.usize(),
            max_streams_per_token: self.max_streams_per_token.usize(),
            max_reads: self.max_reads.usize(),
            max_reads_per_token: self.max_reads_per_token.usize(),
        }
    }

    /// Checks what no single field can: the admin token is set and long
    /// enough, the metrics token too and differs from it.
    pub fn check(&self) -> Result<(), String> {
        let Some(token) = self.admin_token.as_ref().filter(|t| !t.is_empty()) else {
            return Err("TRAWLER_ADMIN_TOKEN (or --admin-token) is required: every API route needs it".into());
        };
        if token.expose().len() < 16 {
            return Err("the admin token must be at least 16 characters".into());
        }
        if let Some(metrics) = self.metrics_token.as_ref().filter(|t| !t.is_empty()) {
            if metrics.expose().len() < 16 {
                return Err("the metrics token must be at least 16 characters".into());
            }
            if metrics == token {
                return Err("the metrics token must differ from the admin token".into());
            }
        }
        Ok(())
    }
}

/// An origin allowed to frame the creator's dashboard: `http(s)://host`
/// with an optional port, the host a name (possibly `*.` and a name) or an
/// IP literal; no path, no quote, no space, nothing a Content Security
/// Policy would read as more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedOrigin(String);

impl EmbedOrigin {
    /// The origin as the policy writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for EmbedOrigin {
    type Err = String;
    fn from_str(text: &str) -> Result<EmbedOrigin, String> {
        let text = text.trim().trim_end_matches('/');
        let bad =
            || format!("`{text}` is not an origin such as https://agency.example or https://*.agency.example:8443");
        let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
        if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.len() > 253 {
            return Err(bad());
        }
        // The port: after the last `:`, unless that is inside an IPv6 literal.
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p)),
            _ => (rest, None),
        };
        let name = host.strip_prefix("*.").unwrap_or(host);
        let ip6 = host.len() > 2
            && host.starts_with('[')
            && host.ends_with(']')
            && host[1..host.len() - 1].chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        let dns = !name.is_empty()
            && name.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let port_ok = port.is_none_or(|p| p.chars().all(|c| c.is_ascii_digit()) && p.parse::<u16>().is_ok());
        if !(ip6 || dns) || !port_ok {
            return Err(bad());
        }
        Ok(EmbedOrigin(format!("{scheme}://{}", rest.to_ascii_lowercase())))
    }
}

impl Show for EmbedOrigin {
    fn show(&self) -> String {
        self.0.clone()
    }
}

impl Serialize for EmbedOrigin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmbedOrigin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EmbedOrigin, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// The argon2 hash of a password, checked to be one.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Checks `hash`.
    pub fn new(hash: &str) -> Result<PasswordHash, String> {
        crate::check_password_hash(hash.trim())?;
        Ok(PasswordHash(hash.trim().to_owned()))
    }

    /// The hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Show for PasswordHash {
    const SECRET: bool = true;
    fn show(&self) -> String {
        "*** (the UI's login is on)".into()
    }
}

impl Serialize for PasswordHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for PasswordHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PasswordHash, D::Error> {
        PasswordHash::new(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl Show for Cidr {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::EmbedOrigin;

    #[test]
    fn embed_origins_are_origins_and_nothing_more() {
        for (given, kept) in [
            ("https://agency.example", "https://agency.example"),
            ("https://Agency.Example/", "https://agency.example"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://*.agency.example", "https://*.agency.example"),
            ("http://[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(given.parse::<EmbedOrigin>().map(|o| o.as_str().to_owned()), Ok(kept.to_owned()), "{given}");
        }
        for bad in [
            "agency.example",
            "ftp://agency.example",
            "https://",
            "https://agency.example/path",
            "https://a.example 'unsafe-inline'",
            "https://a.example;script-src *",
            "https://a.example:99999",
            "https://a.example:80x",
            "https://*",
            "https://a..example",
            "*",
        ] {
            assert!(bad.parse::<EmbedOrigin>().is_err(), "{bad}");
        }
    }
}
