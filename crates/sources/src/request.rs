//! What a generic source (`http_json`, `html`) sends: its method, headers
//! and body, from its options, and the conditional request that lets an
//! unchanged page answer `304 Not Modified`.
//!
//! - `method`: `GET` (the default) or `POST`.
//! - `headers`: a map of header names to values (`{ref}` is replaced by the
//!   source's reference). Headers the client sets itself (`Host`,
//!   `Content-Length`, …) and the secret's header are refused.
//! - `body` (POST only), one of `{"json": …}`, `{"form": {"k": "v"}}` or
//!   `{"graphql": {"query": "…", "variables": {…}}}`; `{ref}` is replaced in
//!   every string.
//! - `conditional` (default true): remember each source's `ETag` and
//!   `Last-Modified` and ask with `If-None-Match` / `If-Modified-Since`; a
//!   `304` answers with the values read last time.
//!
//! The secret travels only in the header that `secret_header` names.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use serde_json::Value;
use trawler_domain::RunKind;

use crate::adapter::{fill_template, option_str, secret_header, Sample, SourceSpec, RESERVED_HEADERS};
use crate::{HttpClient, HttpResponse, SourceError};

/// Most headers a source may set.
const MAX_HEADERS: usize = 32;
/// The most bytes of headers, or of a body, a source may send.
const MAX_HEADER_BYTES: usize = 8 * 1024;
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A source's request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: reqwest::Method,
    /// The URL, its `{ref}` filled.
    pub url: String,
    /// Headers, the secret's included.
    pub headers: Vec<(String, String)>,
    /// The body and its content type (POST).
    pub body: Body,
    /// Whether the body is a GraphQL query (its answer's `errors` are read).
    pub graphql: bool,
}

/// Replaces `{ref}` in every string of a JSON value.
fn fill_json(value: &Value, reference: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{ref}", reference)),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill_json(v, reference)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), fill_json(v, reference))).collect()),
        other => other.clone(),
    }
}

/// Builds a source's request; an error names the option at fault.
pub fn build(spec: &SourceSpec, accept: &str) -> Result<Request, String> {
    let options = &spec.options;
    let template = option_str(options, "url").ok_or("options.url is required")?;
    let method = match options.get("method") {
        None => reqwest::Method::GET,
        Some(Value::String(m)) if m.eq_ignore_ascii_case("get") => reqwest::Method::GET,
        Some(Value::String(m)) if m.eq_ignore_ascii_case("post") => reqwest::Method::POST,
        Some(_) => return Err("options.method must be GET or POST".into()),
    };
    let secret = secret_header(spec)?;
    let mut headers = vec![("accept".to_owned(), accept.to_owned())];
    if let Some(map) = options.get("headers") {
        let map = map.as_object().ok_or("options.headers must map header names to values")?;
        if map.len() > MAX_HEADERS {
            return Err(format!("options.headers: at most {MAX_HEADERS} headers"));
        }
        let mut bytes = 0;
        for (name, value) in map {
            let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("options.headers: `{name}` is not a header name"))?;
            let name = valid.as_str();
            if RESERVED_HEADERS.contains(&name) || name == "accept" {
                return Err(format!("options.headers cannot set `{name}`: the client sets it"));
            }
            if secret.as_ref().is_some_and(|(s, _)| s == name) {
                return Err(format!("options.headers cannot set `{name}`: it carries the secret"));
            }
            let value = value.as_str().ok_or_else(|| format!("options.headers.{name} must be a string"))?;
            let value = value.replace("{ref}", &spec.external_ref);
            reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| format!("options.headers.{name} is not a valid header value"))?;
            bytes += name.len() + value.len();
            if bytes > MAX_HEADER_BYTES {
                return Err(format!("options.headers: more than {MAX_HEADER_BYTES} bytes"));
            }
            headers.push((name.to_owned(), value));
        }
    }
    headers.extend(secret);
    let (body, graphql) = match options.get("body") {
        None => (None, false),
        Some(_) if method != reqwest::Method::POST => return Err("options.body needs options.method POST".into()),
        Some(b) => body(b, &spec.external_ref)?,
    };
    if body.as_ref().is_some_and(|(b, _)| b.len() > MAX_BODY_BYTES) {
        return Err(format!("options.body: more than {MAX_BODY_BYTES} bytes"));
    }
    Ok(Request { method, url: fill_template(template, &spec.external_ref), headers, body, graphql })
}

/// A body and its content type.
type Body = Option<(Vec<u8>, &'static str)>;

/// The body of `options.body`, and whether it is a GraphQL query.
fn body(b: &Value, reference: &str) -> Result<(Body, bool), String> {
    let shape =
        "options.body is one of {\"json\": …}, {\"form\": {…}} or {\"graphql\": {\"query\": …, \"variables\": {…}}}";
    let o = b.as_object().filter(|o| o.len() == 1).ok_or(shape)?;
    let json = |v: &Value| serde_json::to_vec(v).map_err(|e| format!("options.body: {e}"));
    if let Some(v) = o.get("json") {
        return Ok((Some((json(&fill_json(v, reference))?, "application/json")), false));
    }
    if let Some(form) = o.get("form") {
        let form = form.as_object().ok_or("options.body.form must map names to strings")?;
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            let v = v.as_str().ok_or_else(|| format!("options.body.form.{k} must be a string"))?;
            out.append_pair(k, &v.replace("{ref}", reference));
        }
        return Ok((Some((out.finish().into_bytes(), "application/x-www-form-urlencoded")), false));
    }
    if let Some(g) = o.get("graphql") {
        let query = g.get("query").and_then(Value::as_str).filter(|q| !q.trim().is_empty());
        let query = query.ok_or("options.body.graphql.query must be a query")?;
        let variables = g.get("variables").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        if !variables.is_object() {
            return Err("options.body.graphql.variables must be an object".into());
        }
        let sent = serde_json::json!({"query": query, "variables": fill_json(&variables, reference)});
        return Ok((Some((json(&sent)?, "application/json")), true));
    }
    Err(shape.into())
}

/// What the last full answer of a request said, to ask again conditionally.
#[derive(Debug, Clone)]
struct Remembered {
    etag: Option<String>,
    last_modified: Option<String>,
    samples: Vec<Sample>,
}

/// The validators and values of the last answers, per request.
#[derive(Debug, Default)]
pub struct Conditional(Mutex<HashMap<u64, Remembered>>);

/// Requests remembered at most; past it the memory starts again.
const MAX_REMEMBERED: usize = 65_536;

impl Conditional {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Remembered>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request's key: what it sends and what it reads.
fn key(request: &Request, spec: &SourceSpec, kind: RunKind) -> u64 {
    /// Feeds the options' JSON text to the hasher without building it.
    struct Feed<'a>(&'a mut std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Feed<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::hash::Hasher::write(self.0, bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (request.method.as_str(), &request.url, &request.headers, &request.body).hash(&mut h);
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(Feed(&mut h), &*spec.options);
    kind.as_str().hash(&mut h);
    h.finish()
}

/// Sends a source's request: conditionally when the source allows it and
/// an earlier answer gave validators. Returns the answer (2xx only) or, for
/// a `304`, the values read from the last full answer.
pub async fn send(
    http: &HttpClient,
    spec: &SourceSpec,
    kind: RunKind,
    accept: &str,
    memory: &Conditional,
    jars: &crate::cookies::Jars,
    keep: &crate::Keeper,
) -> Result<Answer, SourceError> {
    let request = build(spec, accept).map_err(SourceError::Config)?;
    let jar = crate::cookies::key(spec);
    let target = reqwest::Url::parse(&request.url).map_err(|e| SourceError::Config(format!("bad URL: {e}")))?;
    let cookie = jar.as_ref().and_then(|j| jars.header(j, &target));
    let conditional = spec.options.get("conditional").and_then(Value::as_bool).unwrap_or(true);
    // Keyed only when something was remembered or is to be: most sites
    // send no validators, and the key hashes the whole request.
    let key_of = || key(&request, spec, kind);
    let key = (conditional && !memory.lock().is_empty()).then(key_of);
    let mut headers: Vec<(&str, &str)> = request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let remembered = key.and_then(|key| memory.lock().get(&key).cloned());
    if let Some(r) = &remembered {
        if let Some(etag) = &r.etag {
            headers.push(("if-none-match", etag));
        }
        if let Some(lm) = &r.last_modified {
            headers.push(("if-modified-since", lm));
        }
    }
    let body = request.body.as_ref().map(|(b, _)| b.clone());
    if let Some((_, content_type)) = &request.body {
        headers.push(("content-type", content_type));
    }
    if let Some(cookie) = &cookie {
        headers.push(("cookie", cookie));
    }
    let resp = http.send(request.method.clone(), &request.url, &headers, body).await?;
    // A 2xx is kept by its reader, once it knows whether it read well; a
    // 304 read well; any other status failed.
    if !(200..300).contains(&resp.status) {
        keep.keep(&request.url, &resp, resp.status != 304);
    }
    // A site may set its session on a refusal too.
    if let Some(jar) = &jar {
        jars.store(jar, &target, &resp.headers);
    }
    if resp.status == 304 {
        if let Some(r) = remembered {
            return Ok(Answer::Unchanged(r.samples));
        }
        return Err(SourceError::HttpStatus { status: 304, detail: "not modified, but nothing was asked".into() });
    }
    let resp = resp.error_for_status()?;
    let validator = |name: reqwest::header::HeaderName| {
        resp.headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 256).map(str::to_owned)
    };
    let etag = validator(reqwest::header::ETAG);
    let last_modified = validator(reqwest::header::LAST_MODIFIED);
    let remember = (conditional && (etag.is_some() || last_modified.is_some())).then(|| Remember {
        key: key.unwrap_or_else(key_of),
        etag,
        last_modified,
    });
    Ok(Answer::Full { response: resp, graphql: request.graphql, remember, url: request.url })
}

/// What to remember of a full answer once its values are read.
#[derive(Debug)]
pub struct Remember {
    key: u64,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Remember {
    /// Keeps the answer's validators with the values read from it.
    pub fn keep(self, memory: &Conditional, samples: &[Sample]) {
        let mut map = memory.lock();
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&self.key) {
            map.clear();
        }
        let r = Remembered { etag: self.etag, last_modified: self.last_modified, samples: samples.to_vec() };
        map.insert(self.key, r);
    }
}

/// A source's answer.
#[derive(Debug)]
pub enum Answer {
    /// A full answer to read.
    Full {
        /// The response.
        response: HttpResponse,
        /// Whether it answers a GraphQL query.
        graphql: bool,
        /// Its validators, to remember with the values read from it.
        remember: Option<Remember>,
        /// The URL asked (the reader keeps the answer under it).
        url: String,
    },
    /// `304 Not Modified`: the values of the last full answer.
    Unchanged(Vec<Sample>),
}

/// A GraphQL answer's first error, if it has any.
pub fn graphql_error(json: &Value) -> Option<String> {
    let first = json.get("errors")?.as_array()?.first()?;
    let message = first.get("message").and_then(Value::as_str).unwrap_or("an error without a message");
    Some(crate::http::excerpt(message, 200))
}

#[cfg(test)]
mod tests;
