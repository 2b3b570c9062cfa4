//! Opt-in `robots.txt` (RFC 9309) for the generic platforms named in
//! `TRAWLER_ROBOTS_TXT`: before a source's request, the site's
//! `/robots.txt` is read (through the platform's gate, cached an hour per
//! origin) and the group for `trawler` (else `*`) decides: the longest
//! matching `Allow`/`Disallow` wins, `Allow` on a tie; `*` and `$` work as
//! in the RFC. A disallowed URL is a `blocked` failure naming the rule. A
//! `Crawl-delay` spaces this node's requests to the site by that many
//! seconds (at most a minute), inside the platform's budget. An answer of
//! 4xx allows everything; a 5xx or no answer disallows everything until
//! it is read again, five minutes later.
//!
//! Written here rather than taken from a crate: the maintained choices
//! pull an old parser stack into the build for what is forty lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::shown_url;
use crate::{Gates, HttpClient, SourceError};

/// How long a read `robots.txt` is kept, and a failed read.
const KEPT: Duration = Duration::from_secs(3600);
const KEPT_FAILED: Duration = Duration::from_secs(300);
/// The longest crawl delay honoured.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// Sites remembered at most.
const MAX_SITES: usize = 10_000;
/// The product token groups are matched against.
const AGENT: &str = "trawler";

/// One site's rules for this crawler.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rules {
    /// `(allow, pattern)`.
    rules: Vec<(bool, String)>,
    delay: Option<Duration>,
    /// Everything is disallowed (the file could not be read).
    closed: bool,
}

/// Parses a `robots.txt` body into the rules of the group for `trawler`,
/// or of `*` when no group names it.
pub(crate) fn parse(body: &str) -> Rules {
    // Groups: the agents of consecutive `user-agent` lines, then rules.
    let mut groups: Vec<(Vec<String>, Rules)> = Vec::new();
    let mut in_agents = false;
    for line in body.lines().take(10_000) {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        match key.as_str() {
            "user-agent" => {
                if !in_agents {
                    groups.push((Vec::new(), Rules::default()));
                }
                in_agents = true;
                if let Some(g) = groups.last_mut() {
                    g.0.push(value.to_ascii_lowercase());
                }
            }
            "allow" | "disallow" => {
                in_agents = false;
                if let Some(g) = groups.last_mut() {
                    if !value.is_empty() {
                        g.1.rules.push((key == "allow", value.to_owned()));
                    }
                }
            }
            "crawl-delay" => {
                in_agents = false;
                if let (Some(g), Ok(secs)) = (groups.last_mut(), value.parse::<f64>()) {
                    if secs.is_finite() && secs > 0.0 {
                        g.1.delay = Some(Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64())));
                    }
                }
            }
            _ => {}
        }
    }
    let named = |agent: &'static str| -> Vec<&Rules> {
        groups.iter().filter(|(agents, _)| agents.iter().any(|a| a == agent)).map(|(_, r)| r).collect()
    };
    let mut chosen = named(AGENT);
    if chosen.is_empty() {
        chosen = named("*");
    }
    // Groups for the same agent are one group.
    chosen.into_iter().fold(Rules::default(), |mut all, r| {
        all.rules.extend(r.rules.iter().cloned());
        all.delay = all.delay.or(r.delay);
        all
    })
}

/// Whether `pattern` (with `*` and a final `$`) matches the start of `path`,
/// and how specific it is (its length).
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let Some(first) = parts.first() else { return true };
    let Some(mut rest) = path.strip_prefix(first) else { return false };
    for (i, part) in parts.iter().enumerate().skip(1) {
        let last = i == parts.len() - 1;
        if last && anchored {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    !anchored || rest.is_empty()
}

impl Rules {
    /// Whether `path` (with its query) may be fetched; the deciding rule.
    pub(crate) fn allows(&self, path: &str) -> Result<(), String> {
        if self.closed {
            return Err("robots.txt could not be read: everything is disallowed until it is".into());
        }
        let best = self.rules.iter().filter(|(_, p)| matches(p, path)).max_by_key(|(allow, p)| (p.len(), *allow));
        match best {
            Some((false, p)) => Err(format!("robots.txt disallows `{p}` for {AGENT}")),
            _ => Ok(()),
        }
    }
}

/// A site's rules and when its next request may go.
struct Site {
    rules: Rules,
    read_at: Instant,
    next_at: Instant,
}

/// The sites' rules, per origin, and a lock per origin so that callers
/// who find a site unknown at once read its file once.
#[derive(Default)]
pub struct Robots {
    sites: Mutex<HashMap<String, Site>>,
    reading: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl Robots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Site>> {
        self.sites.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rules of `origin` if they were read recently enough.
    fn known(&self, origin: &str) -> Option<Rules> {
        self.lock().get(origin).and_then(|s| {
            let fresh = s.read_at.elapsed() < if s.rules.closed { KEPT_FAILED } else { KEPT };
            fresh.then(|| s.rules.clone())
        })
    }

    /// The lock callers hold while one of them reads `origin`'s file.
    fn reading(&self, origin: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut map = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SITES {
            map.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
        }
        map.entry(origin.to_owned()).or_default().clone()
    }

    /// Checks `url` against its site's `robots.txt` (read through the gate
    /// of `platform` when not known) and waits out the site's crawl delay.
    pub async fn check(
        &self,
        http: &HttpClient,
        gates: &Gates,
        platform: trawler_domain::Platform,
        url: &str,
    ) -> Result<(), SourceError> {
        let parsed = http.check_url(url)?;
        let origin = parsed.origin().ascii_serialization();
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let mut known = self.known(&origin);
        let reading = self.reading(&origin);
        let held = match known {
            Some(_) => None,
            // Another caller may have read it while this one waited.
            None => {
                let guard = reading.lock().await;
                known = self.known(&origin);
                Some(guard)
            }
        };
        let rules = match known {
            Some(r) => r,
            None => {
                let host = parsed.host_str().map(|h| match parsed.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                });
                let rules = {
                    let _pass = gates.enter(platform, None, host.as_deref()).await?;
                    match http.get(&format!("{origin}/robots.txt"), &[("accept", "text/plain")]).await {
                        Ok(r) if (400..500).contains(&r.status) => Rules::default(),
                        Ok(r) if (200..300).contains(&r.status) => parse(&r.text()),
                        _ => Rules { closed: true, ..Rules::default() },
                    }
                };
                let mut map = self.lock();
                if map.len() >= MAX_SITES {
                    map.clear();
                }
                let now = Instant::now();
                let next_at = map.get(&origin).map_or(now, |s| s.next_at);
                map.insert(origin.clone(), Site { rules: rules.clone(), read_at: now, next_at });
                rules
            }
        };
        drop(held);
        rules.allows(&path).map_err(|why| SourceError::Blocked(format!("{}: {why}", shown_url(&origin))))?;
        if let Some(delay) = rules.delay {
            let at = {
                let mut map = self.lock();
                let now = Instant::now();
                match map.get_mut(&origin) {
                    Some(site) => {
                        let at = site.next_at.max(now);
                        site.next_at = at + delay;
                        at
                    }
                    None => now,
                }
            };
            tokio::time::sleep_until(at.into()).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# a site\nUser-agent: *\nDisallow: /private\nAllow: /private/open$\n\n\
        User-agent: other\nUser-agent: trawler\nDisallow: /json/forbidden\nAllow: /json/forbidden/but*ok\n\
        Disallow: /*.csv$\nCrawl-delay: 2.5\n\nUser-agent: trawler\nDisallow: /later\n";

    #[test]
    fn the_group_for_trawler_decides_by_the_longest_rule() {
        let rules = parse(FILE);
        assert_eq!(rules.delay, Some(Duration::from_millis(2500)));
        assert!(rules.allows("/private/x").is_ok(), "the * group is not ours");
        assert!(rules.allows("/json/forbidden-lamp").is_err());
        assert!(rules.allows("/json/forbidden/but/this/is/ok").is_ok(), "longer allow wins");
        assert!(rules.allows("/data/table.csv").is_err());
        assert!(rules.allows("/data/table.csv?x=1").is_ok(), "$ anchors the end");
        assert!(rules.allows("/later/x").is_err(), "a second group for trawler adds to the first");
        assert!(rules.allows("/json/ok").is_ok());
        let err = rules.allows("/json/forbidden").expect_err("disallowed");
        assert!(err.contains("/json/forbidden"), "{err}");
    }

    #[test]
    fn without_a_group_for_trawler_the_star_group_applies() {
        let rules = parse("User-agent: *\nDisallow: /private\nAllow: /private/open$\n");
        assert!(rules.allows("/private/x").is_err());
        assert!(rules.allows("/private/open").is_ok());
        assert!(rules.allows("/private/open/more").is_err());
        assert!(parse("").allows("/anything").is_ok());
        assert!(Rules { closed: true, ..Rules::default() }.allows("/").is_err());
    }

    #[test]
    fn hostile_files_are_bounded_and_never_panic() {
        for body in
            ["User-agent\nDisallow", ":::\n", "User-agent: *\nCrawl-delay: 1e400\n", "User-agent: *\nCrawl-delay: -5\n"]
        {
            let _ = parse(body).allows("/x");
        }
        assert_eq!(parse("User-agent: *\nCrawl-delay: 99999\n").delay, Some(MAX_DELAY));
        assert!(matches("/a*b*c$", "/a-b-c"));
        assert!(!matches("/a*b*c$", "/a-b-c-d"));
        assert!(matches("*", "/"));
    }
}
