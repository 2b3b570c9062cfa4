//! Cookie jars for the generic sources that ask for one (`options.cookies`:
//! `"source"`, a jar of its own, or `"platform"`, one jar shared by the
//! platform's sources that ask for it): the cookies a site sets are sent
//! back to it, as a browser would, for sites that need a session. The node
//! keeps the jars in its database, sealed like the sources' secrets, so a
//! session survives a restart (see the actors' `cookies.rs`).
//!
//! Bounded: at most 50 cookies of at most 4 KiB in a jar. A cookie goes
//! back to the host that set it (or, with `Domain`, to that domain when it
//! covers the host), on its path, over HTTPS only when `Secure`, until it
//! expires.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapter::{option_str, SourceSpec};

const MAX_COOKIES: usize = 50;
const MAX_COOKIE_BYTES: usize = 4096;

/// A cookie as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Kept {
    name: String,
    value: String,
    /// The host it goes back to, or the domain with `domain_match`.
    domain: String,
    domain_match: bool,
    path: String,
    expires_ms: Option<i64>,
    secure: bool,
}

/// The jars, by key, and which changed since they were last saved.
#[derive(Default)]
pub struct Jars {
    jars: Mutex<HashMap<String, Vec<Kept>>>,
    dirty: Mutex<HashSet<String>>,
}

/// Checks `options.cookies`.
pub fn check(options: &Value) -> Result<(), String> {
    match options.get("cookies") {
        None => Ok(()),
        Some(Value::String(s)) if s == "source" || s == "platform" => Ok(()),
        Some(_) => Err("options.cookies is \"source\" (a jar of its own) or \"platform\" (the platform's jar)".into()),
    }
}

/// The jar a source uses, if it asks for one.
pub fn key(spec: &SourceSpec) -> Option<String> {
    match option_str(&spec.options, "cookies")? {
        "source" => Some(format!("{}:{}", spec.platform, spec.external_ref)),
        "platform" => Some(spec.platform.to_string()),
        _ => None,
    }
}

fn domain_covers(domain: &str, host: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

impl Jars {
    fn jars(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Kept>>> {
        self.jars.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark(&self, key: &str) {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned());
    }

    /// The `Cookie` header for a request to `url` from jar `key`.
    pub fn header(&self, key: &str, url: &reqwest::Url) -> Option<String> {
        let host = url.host_str()?.to_ascii_lowercase();
        let (path, https) = (url.path(), url.scheme() == "https");
        let now = trawler_domain::now_millis();
        let jars = self.jars();
        let sent: Vec<String> = jars
            .get(key)?
            .iter()
            .filter(|c| if c.domain_match { domain_covers(&c.domain, &host) } else { c.domain == host })
            .filter(|c| path.starts_with(&c.path) && (https || !c.secure) && c.expires_ms.is_none_or(|e| e > now))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!sent.is_empty()).then(|| sent.join("; "))
    }

    /// Keeps the cookies an answer from `url` sets in jar `key`.
    pub fn store(&self, key: &str, url: &reqwest::Url, headers: &reqwest::header::HeaderMap) {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return };
        let now = trawler_domain::now_millis();
        let mut changed = false;
        let mut jars = self.jars();
        let jar = jars.entry(key.to_owned()).or_default();
        for value in headers.get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            if value.len() > MAX_COOKIE_BYTES {
                continue;
            }
            let Ok(c) = cookie::Cookie::parse(value.to_owned()) else { continue };
            let (domain, domain_match) = match c.domain().map(|d| d.trim_start_matches('.').to_ascii_lowercase()) {
                // A site may not set cookies for another.
                Some(d) if !domain_covers(&d, &host) => continue,
                Some(d) => (d, true),
                None => (host.clone(), false),
            };
            let path = c.path().filter(|p| p.starts_with('/')).unwrap_or("/").to_owned();
            let expires_ms = match (c.max_age(), c.expires_datetime()) {
                (Some(age), _) => Some(now.saturating_add(age.whole_milliseconds().clamp(0, i64::MAX as i128) as i64)),
                (None, Some(at)) => Some((at.unix_timestamp_nanos() / 1_000_000).clamp(0, i64::MAX as i128) as i64),
                (None, None) => None,
            };
            jar.retain(|k| !(k.name == c.name() && k.domain == domain && k.path == path));
            if expires_ms.is_none_or(|e| e > now) {
                let secure = c.secure().unwrap_or(false);
                let kept = Kept {
                    name: c.name().to_owned(),
                    value: c.value().to_owned(),
                    domain,
                    domain_match,
                    path,
                    expires_ms,
                    secure,
                };
                jar.push(kept);
                if jar.len() > MAX_COOKIES {
                    jar.remove(0);
                }
            }
            changed = true;
        }
        drop(jars);
        if changed {
            self.mark(key);
        }
    }

    /// The jars changed since the last call, as JSON to keep.
    pub fn take_changed(&self) -> Vec<(String, String)> {
        let keys: Vec<String> = self.dirty.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        let jars = self.jars();
        keys.into_iter()
            .filter_map(|k| {
                let json = serde_json::to_string(jars.get(&k)?).ok()?;
                Some((k, json))
            })
            .collect()
    }

    /// Marks jars as changed again (their save failed).
    pub fn unsaved(&self, keys: impl IntoIterator<Item = String>) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.extend(keys);
    }

    /// Puts back a jar kept earlier; one that does not parse is dropped.
    pub fn restore(&self, key: &str, json: &str) -> bool {
        match serde_json::from_str::<Vec<Kept>>(json) {
            Ok(mut jar) => {
                jar.truncate(MAX_COOKIES);
                self.jars().insert(key.to_owned(), jar);
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> reqwest::Url {
        reqwest::Url::parse(u).expect("a URL")
    }

    fn set(values: &[&str]) -> reqwest::header::HeaderMap {
        let mut h = reqwest::header::HeaderMap::new();
        for v in values {
            h.append(reqwest::header::SET_COOKIE, reqwest::header::HeaderValue::from_str(v).expect("a value"));
        }
        h
    }

    #[test]
    fn cookies_go_back_where_a_browser_would_send_them() {
        let jars = Jars::default();
        let from = url("https://shop.example.com/account/page");
        jars.store(
            "k",
            &from,
            &set(&[
                "sid=abc; Path=/; HttpOnly",
                "pref=1; Path=/account",
                "wide=w; Domain=.example.com; Path=/",
                "safe=s; Secure; Path=/",
                "evil=x; Domain=other.test",
                "old=o; Max-Age=0",
            ]),
        );
        let header = |u: &str| jars.header("k", &url(u)).unwrap_or_default();
        assert_eq!(header("https://shop.example.com/account/x"), "sid=abc; pref=1; wide=w; safe=s");
        assert_eq!(header("http://shop.example.com/"), "sid=abc; wide=w", "no Secure cookie over http, no other path");
        assert_eq!(header("https://api.example.com/"), "wide=w", "only the domain cookie on another host");
        assert_eq!(header("https://other.test/"), "", "a site cannot set another's cookie");
        assert!(jars.header("another jar", &from).is_none());
        // Replaced by name, removed by expiry.
        jars.store("k", &from, &set(&["sid=def; Path=/", "pref=; Path=/account; Max-Age=0"]));
        assert_eq!(header("https://shop.example.com/account/x"), "wide=w; safe=s; sid=def");
    }

    #[test]
    fn changed_jars_are_saved_and_restored() {
        let jars = Jars::default();
        jars.store("k", &url("http://a.example/"), &set(&["sid=1"]));
        let changed = jars.take_changed();
        assert_eq!(changed.len(), 1);
        assert!(jars.take_changed().is_empty(), "taken once");
        let again = Jars::default();
        assert!(again.restore("k", &changed[0].1));
        assert_eq!(again.header("k", &url("http://a.example/x")).as_deref(), Some("sid=1"));
        assert!(!again.restore("k", "not json"));
    }

    #[test]
    fn jars_are_bounded() {
        let jars = Jars::default();
        let many: Vec<String> = (0..80).map(|i| format!("c{i}=v")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        jars.store("k", &url("http://a.example/"), &set(&refs));
        let header = jars.header("k", &url("http://a.example/")).unwrap_or_default();
        assert_eq!(header.split("; ").count(), MAX_COOKIES);
        let huge = format!("big={}", "x".repeat(5000));
        jars.store("k2", &url("http://a.example/"), &set(&[&huge]));
        assert!(jars.header("k2", &url("http://a.example/")).is_none());
        assert!(check(&serde_json::json!({"cookies": "yes"})).is_err());
    }
}
