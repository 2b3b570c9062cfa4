//! The adapter trait, what adapters exchange (a source's spec, samples),
//! and the helpers the platform adapters share: templates, options, JSON
//! numbers, parsing off the actors' thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use trawler_domain::{Metric, Platform, RunKind};

use crate::keep::{Keeper, Kept};
use crate::{HttpClient, SourceError};

/// A boxed, sendable future (adapters are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an adapter needs to know about one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// The platform.
    pub platform: Platform,
    /// The project's reference on the platform.
    pub external_ref: String,
    /// Adapter options (a JSON object), shared with the source it describes.
    pub options: std::sync::Arc<Value>,
    /// The platform credential, if any.
    pub secret: Option<String>,
}

/// One metric value read from a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// What it measures.
    pub metric: Metric,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A sample of a well-known metric.
    pub fn known(metric: &'static str, value: f64) -> Sample {
        Sample { metric: Metric::known(metric), value }
    }
}

/// What one fetch brought back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// The numbers.
    pub samples: Vec<Sample>,
    /// Facts worth a line in the run log (title, currency, deadline, state).
    pub notes: Vec<String>,
    /// The campaign's state, where the platform reports one.
    pub campaign: Option<trawler_domain::campaign::CampaignReport>,
    /// Samples the platform dates itself (the ECB's rates, by day): each
    /// stored at its own time, epoch seconds.
    pub dated: Vec<(i64, Sample)>,
    /// Requests made beyond the first (the pages of a paged source): they
    /// take their tokens from the gate afterwards.
    pub extra_requests: u32,
}

/// A platform adapter. One instance serves every project on its platform.
pub trait Adapter: Send + Sync {
    /// The platform it reads.
    fn platform(&self) -> Platform;

    /// Checks a source's reference and options before it is saved, so a bad
    /// source is a 400 at creation, not a failed run hours later.
    fn validate(&self, spec: &SourceSpec) -> Result<(), String>;

    /// Fetches the metrics of one source: every metric for a full scrape,
    /// the hot ones for a poll. An adapter whose parser a user writes puts
    /// the answers it read in `keep` (see [`Adapter::reparse`]).
    fn fetch<'a>(
        &'a self,
        http: &'a HttpClient,
        spec: &'a SourceSpec,
        kind: RunKind,
        keep: &'a Keeper,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>>;

    /// Reads the metrics again out of the answers of one earlier fetch (as
    /// kept, pages in order), with the source as it is now: `None` for an
    /// adapter that keeps no answers.
    fn reparse(
        &self,
        _spec: &SourceSpec,
        _kind: RunKind,
        _answers: &[Kept],
    ) -> Option<Result<Vec<Sample>, SourceError>> {
        None
    }

    /// The host whose circuit a request belongs to, for platforms that reach
    /// unrelated sites; `None` shares the platform's circuit.
    fn circuit_host(&self, _spec: &SourceSpec) -> Option<String> {
        None
    }

    /// The metrics a full scrape of this source reads. By default, the
    /// names in `options.metrics` (the generic platforms).
    fn metrics(&self, spec: &SourceSpec) -> Vec<String> {
        generic_metrics(&spec.options, RunKind::Full).into_iter().map(|(name, _)| name).collect()
    }
}

/// The `host:port` a generic source's URL reaches.
///
/// Asked at every fetch, and the same for every source of one URL template
/// whose `{ref}` lies past the host: remembered per template head (scheme
/// and authority) on each thread, a few hundred at most, instead of
/// parsing a URL each time.
pub fn generic_host(spec: &SourceSpec) -> Option<String> {
    thread_local! {
        static HOSTS: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    const REMEMBERED: usize = 512;
    let template = option_str(&spec.options, "url")?;
    let parse = || {
        let parsed = reqwest::Url::parse(&fill_template(template, &spec.external_ref)).ok()?;
        Some(format!("{}:{}", parsed.host_str()?, parsed.port_or_known_default()?))
    };
    let Some(head) = template_head(template) else { return parse() };
    if let Some(known) = HOSTS.with(|h| h.borrow().get(head).cloned()) {
        return known;
    }
    let host = parse();
    HOSTS.with(|h| {
        let mut h = h.borrow_mut();
        if h.len() >= REMEMBERED {
            h.clear();
        }
        h.insert(head.to_owned(), host.clone());
    });
    host
}

/// The scheme and authority of an http(s) URL template
/// (`https://host:8080`) when they hold no `{ref}`: then they alone decide
/// the host and port (the authority of an http(s) URL ends at the first
/// `/`, `\\`, `?` or `#`).
fn template_head(template: &str) -> Option<&str> {
    let start = ["http://", "https://"].into_iter().find(|s| template.starts_with(s))?.len();
    let end = template[start..].find(['/', '\\', '?', '#']).map_or(template.len(), |i| start + i);
    let head = &template[..end];
    (!head.contains("{ref}")).then_some(head)
}

/// Replaces `{ref}` in a URL template with the percent-encoded reference
/// (`/` kept, so `creator/slug` stays a path).
pub fn fill_template(template: &str, reference: &str) -> String {
    template.replace("{ref}", &encode_path(reference))
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a string option.
pub fn option_str<'a>(options: &'a Value, key: &str) -> Option<&'a str> {
    options.get(key).and_then(Value::as_str)
}

/// Validates the `url` and `metrics` options shared by `http_json` and `html`,
/// with `check` applied to every metric's locator.
pub fn validate_generic(spec: &SourceSpec, check: impl Fn(&str) -> Result<(), String>) -> Result<(), String> {
    let url = option_str(&spec.options, "url")
        .ok_or("options.url is required (a URL, `{ref}` is replaced by external_ref)")?;
    let filled = fill_template(url, &spec.external_ref);
    let parsed = reqwest::Url::parse(&filled).map_err(|e| format!("options.url `{url}` is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("options.url must be http or https".into());
    }
    let metrics = spec
        .options
        .get("metrics")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .ok_or("options.metrics must map at least one metric name to a locator")?;
    for (name, locator) in metrics {
        name.parse::<Metric>().map_err(|e| format!("options.metrics: {e}"))?;
        let locator = locator.as_str().ok_or_else(|| format!("options.metrics.{name} must be a string"))?;
        check(locator).map_err(|e| format!("options.metrics.{name}: {e}"))?;
    }
    secret_header(spec)?;
    if let Some(hot) = spec.options.get("hot") {
        let list = hot.as_array().ok_or("options.hot must be a list of metric names")?;
        for h in list {
            let h = h.as_str().ok_or("options.hot must be a list of metric names")?;
            if !metrics.contains_key(h) {
                return Err(format!("options.hot names `{h}`, which options.metrics does not map"));
            }
        }
    }
    Ok(())
}

/// Headers a generic source must not set: the client sets them itself.
pub(crate) const RESERVED_HEADERS: [&str; 6] =
    ["host", "content-length", "transfer-encoding", "connection", "upgrade", "te"];

/// The header that carries a generic source's secret: `options.secret_header`
/// names it, `options.secret_format` shapes its value (default `{secret}`,
/// e.g. `Bearer {secret}`). The secret travels in that header only, never in
/// the URL. A secret without a header to carry it, or a header without a
/// secret, is a configuration error.
pub fn secret_header(spec: &SourceSpec) -> Result<Option<(String, String)>, String> {
    let name = option_str(&spec.options, "secret_header");
    let format = option_str(&spec.options, "secret_format").unwrap_or("{secret}");
    let (name, secret) = match (name, spec.secret.as_deref()) {
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            return Err("the source has a secret: set options.secret_header (and options.secret_format, e.g. \
                 `Bearer {secret}`) to send it in a header; secrets never go in the URL"
                .into())
        }
        (Some(_), None) => return Err("options.secret_header needs the source's `secret`".into()),
        (Some(name), Some(secret)) => (name, secret),
    };
    let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("options.secret_header `{name}` is not a header name"))?;
    if RESERVED_HEADERS.contains(&valid.as_str()) {
        return Err(format!("options.secret_header cannot be `{name}`"));
    }
    if !format.contains("{secret}") {
        return Err("options.secret_format must contain `{secret}`".into());
    }
    let value = format.replace("{secret}", secret);
    reqwest::header::HeaderValue::from_str(&value)
        .map_err(|_| "the secret, in options.secret_format, is not a valid header value".to_owned())?;
    Ok(Some((valid.as_str().to_owned(), value)))
}

/// The metrics a generic adapter reads for a fetch kind: all of them for a
/// full scrape; for a poll, those listed in `options.hot` (all when absent).
pub fn generic_metrics(options: &Value, kind: RunKind) -> Vec<(String, String)> {
    let hot: Option<Vec<&str>> =
        options.get("hot").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect());
    options
        .get("metrics")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(name, _)| kind == RunKind::Full || hot.as_ref().is_none_or(|h| h.contains(&name.as_str())))
                .filter_map(|(name, loc)| loc.as_str().map(|l| (name.clone(), l.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a JSON value as a number: a JSON number, or a string parsed
/// tolerantly (platforms send money as strings).
pub fn json_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        Value::String(s) => crate::number::parse_number(s),
        _ => None,
    }
}

/// Parses a body as JSON, or fails with a parse error naming the platform.
/// A large body is parsed on the blocking pool (see [`parse_off_thread`]).
pub async fn parse_json(platform: Platform, body: Vec<u8>) -> Result<Value, SourceError> {
    parse_off_thread(body.len(), move || {
        serde_json::from_slice(&body).map_err(|e| SourceError::Parse(format!("{platform}: body is not JSON: {e}")))
    })
    .await?
}

/// [`parse_json`] that gives the body back, to be kept if what is read in
/// it fails.
pub(crate) async fn parse_json_back(platform: Platform, body: Vec<u8>) -> (Result<Value, SourceError>, Vec<u8>) {
    let parsed = parse_off_thread(body.len(), move || {
        let json =
            serde_json::from_slice(&body).map_err(|e| SourceError::Parse(format!("{platform}: body is not JSON: {e}")));
        (json, body)
    })
    .await;
    parsed.unwrap_or_else(|e| (Err(e), Vec::new()))
}

/// Bodies up to this size are parsed where they arrive: a thread hop costs
/// more than parsing them.
pub const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// Runs `parse` (of a body of `size` bytes) off the actors' thread when the
/// body is large: on tokio's blocking pool, at most one parse per core at
/// once, so a 4 MiB page delays no heartbeat, poll plan or state query on
/// the thread the actors share. A panic in the parser is a parse error.
pub async fn parse_off_thread<T: Send + 'static>(
    size: usize,
    parse: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SourceError> {
    static PARSERS: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Arc::new(tokio::sync::Semaphore::new(cores.max(2)))
    });
    if size <= INLINE_PARSE_BYTES {
        return Ok(parse());
    }
    let _permit =
        PARSERS.clone().acquire_owned().await.map_err(|_| SourceError::Config("the parser pool is closed".into()))?;
    tokio::task::spawn_blocking(parse).await.map_err(|e| match e.try_into_panic() {
        Ok(p) => SourceError::Parse(format!("the parser panicked: {}", trawler_domain::panic_message(p.as_ref()))),
        Err(e) => SourceError::Parse(format!("the parse was cancelled: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_encode_the_reference() {
        assert_eq!(fill_template("https://x/{ref}/stats", "maker/my lamp"), "https://x/maker/my%20lamp/stats");
        assert_eq!(fill_template("https://x/?id={ref}", "a&b"), "https://x/?id=a%26b");
    }

    #[test]
    fn a_remembered_host_is_the_host_the_url_reaches() {
        let spec = |url: &str, reference: &str| SourceSpec {
            platform: Platform::HttpJson,
            external_ref: reference.into(),
            options: Arc::new(serde_json::json!({ "url": url })),
            secret: None,
        };
        let cases = [
            ("https://api.example/{ref}", "a", Some("api.example:443")),
            ("http://API.Example:8080/x?id={ref}", "a", Some("api.example:8080")),
            ("http://user:pw@host.example/{ref}", "a", Some("host.example:80")),
            ("http://host.example\\{ref}", "a", Some("host.example:80")),
            ("http://host.example#{ref}", "a", Some("host.example:80")),
            ("https://{ref}.shop.example/stats", "alpha", Some("alpha.shop.example:443")),
            ("https://{ref}.shop.example/stats", "beta", Some("beta.shop.example:443")),
            ("https://shop.example:{ref}/stats", "9443", Some("shop.example:9443")),
            ("https://shop.example:{ref}/stats", "9444", Some("shop.example:9444")),
            ("ftp://files.example/{ref}", "a", Some("files.example:21")),
            ("mailto:{ref}", "a", None),
        ];
        // Twice: the second round answers from what the first remembered.
        for _ in 0..2 {
            for (url, reference, host) in cases {
                assert_eq!(generic_host(&spec(url, reference)).as_deref(), host, "{url} with {reference}");
            }
        }
    }

    #[test]
    fn poll_reads_only_hot_metrics() {
        let opts = serde_json::json!({"metrics": {"pledged": "/p", "backers": "/b"}, "hot": ["pledged"]});
        let full = generic_metrics(&opts, RunKind::Full);
        assert_eq!(full.len(), 2);
        let poll = generic_metrics(&opts, RunKind::Poll);
        assert_eq!(poll, vec![("pledged".to_string(), "/p".to_string())]);
    }

    #[test]
    fn a_generic_secret_travels_in_its_header_only() {
        let spec = |options: Value, secret: Option<&str>| SourceSpec {
            platform: Platform::HttpJson,
            external_ref: "x".into(),
            options: Arc::new(options),
            secret: secret.map(str::to_owned),
        };
        let with = |extra: Value| {
            let mut o = serde_json::json!({"url": "https://api.example/{ref}", "metrics": {"pledged": "/p"}});
            for (k, v) in extra.as_object().into_iter().flatten() {
                o[k] = v.clone();
            }
            o
        };
        assert_eq!(secret_header(&spec(with(serde_json::json!({})), None)), Ok(None));
        assert_eq!(
            secret_header(&spec(with(serde_json::json!({"secret_header": "X-Api-Key"})), Some("k1"))),
            Ok(Some(("x-api-key".into(), "k1".into())))
        );
        assert_eq!(
            secret_header(&spec(
                with(serde_json::json!({"secret_header": "Authorization", "secret_format": "Bearer {secret}"})),
                Some("k1")
            )),
            Ok(Some(("authorization".into(), "Bearer k1".into())))
        );
        for (options, secret) in [
            (serde_json::json!({}), Some("k1")),
            (serde_json::json!({"secret_header": "X-Api-Key"}), None),
            (serde_json::json!({"secret_header": "Host"}), Some("k1")),
            (serde_json::json!({"secret_header": "bad header"}), Some("k1")),
            (serde_json::json!({"secret_header": "X-Key", "secret_format": "no placeholder"}), Some("k1")),
            (serde_json::json!({"secret_header": "X-Key"}), Some("line\r\nbreak")),
        ] {
            let err = secret_header(&spec(with(options.clone()), secret)).expect_err(&options.to_string());
            assert!(!err.contains("k1") && !err.contains("break"), "the secret stays out of errors: {err}");
        }
    }
}
