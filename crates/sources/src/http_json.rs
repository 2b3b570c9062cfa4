//! Any JSON (or CSV) endpoint: `options.url` with `{ref}`, and
//! `options.metrics` mapping metric names to JSON pointers (RFC 6901,
//! `/data/0/pledged`), `sum /items/*/amount` or `count /items` (see
//! `paging.rs`, which also follows pages) — or, with `options.format:
//! "csv"`, to column names (see `table.rs`). The request's method, headers
//! and body, and the conditional request, are `request.rs`'s.

use std::collections::HashSet;

use serde_json::Value;
use trawler_domain::{Platform, RunKind};

use crate::adapter::{
    generic_metrics, option_str, parse_json_back, validate_generic, Adapter, BoxFuture, Fetched, Sample, SourceSpec,
};
use crate::request::{Answer, Conditional};
use crate::{HttpClient, Kept, SourceError};

/// What the answer is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Json,
    Csv,
}

fn format(options: &Value) -> Result<Format, String> {
    match option_str(options, "format") {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(_) => Err("options.format must be `json` or `csv`".into()),
    }
}

/// The generic JSON adapter.
#[derive(Default)]
pub struct HttpJson {
    memory: Conditional,
    jars: std::sync::Arc<crate::cookies::Jars>,
}

impl HttpJson {
    /// The adapter, its cookies kept in `jars`.
    pub fn new(jars: std::sync::Arc<crate::cookies::Jars>) -> HttpJson {
        HttpJson { memory: Conditional::default(), jars }
    }
}

/// Reads the metrics (name → locator) out of JSON pages (one, unless the
/// source pages).
fn read_json(pages: &[Value], metrics: &[(String, String)], graphql: bool) -> Result<Vec<Sample>, SourceError> {
    let mut out = Vec::with_capacity(metrics.len());
    for (name, locator) in metrics {
        let value = crate::paging::value(pages, name, locator).map_err(|e| {
            // A GraphQL server answers 200 with its errors beside no data.
            let error = graphql.then(|| pages.first().and_then(crate::request::graphql_error)).flatten();
            match (e, error) {
                (SourceError::Unread { metric, .. }, Some(error)) => {
                    SourceError::Unread { metric, detail: format!("http_json: graphql: {error}") }
                }
                (e, _) => e,
            }
        })?;
        let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
        out.push(Sample { metric, value });
    }
    Ok(out)
}

impl HttpJson {
    async fn read(
        &self,
        http: &HttpClient,
        spec: &SourceSpec,
        kind: RunKind,
        keep: &crate::Keeper,
    ) -> Result<Fetched, SourceError> {
        let format = format(&spec.options).map_err(SourceError::Config)?;
        if let Some(paging) = crate::paging::paging(&spec.options).map_err(SourceError::Config)? {
            return self.read_pages(http, spec, kind, paging, keep).await;
        }
        let accept = match format {
            Format::Json => "application/json",
            Format::Csv => "text/csv",
        };
        let (response, graphql, remember, url) =
            match crate::request::send(http, spec, kind, accept, &self.memory, &self.jars, keep).await? {
                Answer::Unchanged(samples) => return Ok(Fetched { samples, ..Fetched::default() }),
                Answer::Full { response, graphql, remember, url } => (response, graphql, remember, url),
            };
        let metrics = generic_metrics(&spec.options, kind);
        let crate::HttpResponse { status, headers, body } = response;
        // The body goes through the parser and comes back, to be kept if
        // what is read in it fails.
        let (read, body) = match format {
            Format::Json => {
                let (json, body) = parse_json_back(Platform::HttpJson, body).await;
                (json.and_then(|json| read_json(&[json], &metrics, graphql)), body)
            }
            Format::Csv => {
                let row = crate::table::row(&spec.options, &spec.external_ref).map_err(SourceError::Config)?;
                let len = body.len();
                crate::adapter::parse_off_thread(len, move || (crate::table::extract(&body, &metrics, &row), body))
                    .await
                    .unwrap_or_else(|e| (Err(e), Vec::new()))
            }
        };
        keep.answer(&url, status, &headers, &body, read.is_err());
        let samples = read?;
        if let Some(remember) = remember {
            remember.keep(&self.memory, &samples);
        }
        Ok(Fetched { samples, ..Fetched::default() })
    }
}

/// A page's answer, held until its fetch ends: URL, status, headers, body.
type Page = (String, u16, reqwest::header::HeaderMap, Vec<u8>);

impl HttpJson {
    /// Reads a paged source: the first page as asked, then each next page
    /// with `GET`, within the bounds of its paging (see `paging.rs`).
    async fn read_pages(
        &self,
        http: &HttpClient,
        spec: &SourceSpec,
        kind: RunKind,
        paging: crate::paging::Paging,
        keep: &crate::Keeper,
    ) -> Result<Fetched, SourceError> {
        // Each page's answer is held until the fetch ends: kept then, all
        // of them, if the fetch failed (or if every answer is kept).
        let mut pages = Vec::new();
        let read = self.fetch_pages(http, spec, kind, paging, keep.is_on().then_some(&mut pages)).await;
        for (url, status, headers, body) in pages {
            keep.answer(&url, status, &headers, &body, read.is_err());
        }
        read
    }

    async fn fetch_pages(
        &self,
        http: &HttpClient,
        spec: &SourceSpec,
        kind: RunKind,
        paging: crate::paging::Paging,
        mut kept: Option<&mut Vec<Page>>,
    ) -> Result<Fetched, SourceError> {
        let request = crate::request::build(spec, "application/json").map_err(SourceError::Config)?;
        let headers: Vec<(&str, &str)> = request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let limit = http.config().max_body_bytes.saturating_mul(4);
        let (first, mut url) = (request.url.clone(), request.url.clone());
        let (mut seen, mut pages, mut bytes) = (HashSet::new(), Vec::new(), 0usize);
        loop {
            seen.insert(url.clone());
            let resp = if pages.is_empty() {
                let mut with_type = headers.clone();
                if let Some((_, content_type)) = &request.body {
                    with_type.push(("content-type", content_type));
                }
                let body = request.body.as_ref().map(|(b, _)| b.clone());
                http.send(request.method.clone(), &url, &with_type, body).await?
            } else {
                http.send(reqwest::Method::GET, &url, &headers, None).await?
            };
            if !(200..300).contains(&resp.status) {
                if let Some(kept) = kept.as_mut() {
                    kept.push((url.clone(), resp.status, resp.headers.clone(), resp.body.clone()));
                }
            }
            let resp = resp.error_for_status()?;
            bytes = bytes.saturating_add(resp.body.len());
            if bytes > limit {
                return Err(SourceError::TooLarge { limit });
            }
            let link = crate::paging::link_next(&resp.headers);
            let crate::HttpResponse { status, headers, body } = resp;
            let (json, body) = parse_json_back(Platform::HttpJson, body).await;
            if let Some(kept) = kept.as_mut() {
                kept.push((url.clone(), status, headers, body));
            }
            let json = json?;
            let next = match &paging.next {
                crate::paging::Next::Pointer(p) => json.pointer(p).and_then(Value::as_str).map(str::to_owned),
                crate::paging::Next::Link => link,
            };
            pages.push(json);
            let Some(next) = next.filter(|n| !n.trim().is_empty()) else { break };
            if pages.len() >= paging.max_pages {
                return Err(SourceError::Parse(format!("paging: more than {} pages", paging.max_pages)));
            }
            url = crate::paging::next_url(&url, &next, &first, &seen)?;
        }
        let samples = read_json(&pages, &generic_metrics(&spec.options, kind), request.graphql)?;
        let extra_requests = u32::try_from(pages.len().saturating_sub(1)).unwrap_or(u32::MAX);
        Ok(Fetched { samples, extra_requests, ..Fetched::default() })
    }
}

impl Adapter for HttpJson {
    fn platform(&self) -> Platform {
        Platform::HttpJson
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        let format = format(&spec.options)?;
        crate::request::build(spec, "*/*")?;
        crate::cookies::check(&spec.options)?;
        let pages = crate::paging::paging(&spec.options)?;
        if format == Format::Csv {
            crate::table::row(&spec.options, &spec.external_ref)?;
            if pages.is_some() {
                return Err("options.paginate reads JSON pages; a CSV answer has none".into());
            }
        }
        validate_generic(spec, |locator| match format {
            Format::Json => crate::paging::locator(locator).map(drop),
            Format::Csv if !locator.trim().is_empty() => Ok(()),
            Format::Csv => Err("a CSV metric names its column".into()),
        })
    }

    fn circuit_host(&self, spec: &SourceSpec) -> Option<String> {
        crate::adapter::generic_host(spec)
    }

    fn fetch<'a>(
        &'a self,
        http: &'a HttpClient,
        spec: &'a SourceSpec,
        kind: RunKind,
        keep: &'a crate::Keeper,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.read(http, spec, kind, keep))
    }

    fn reparse(&self, spec: &SourceSpec, kind: RunKind, answers: &[Kept]) -> Option<Result<Vec<Sample>, SourceError>> {
        Some(reread(spec, kind, answers))
    }
}

/// Reads a source's metrics out of the answers of one earlier fetch.
pub(crate) fn reread(spec: &SourceSpec, kind: RunKind, answers: &[Kept]) -> Result<Vec<Sample>, SourceError> {
    let first = crate::keep::readable(answers)?;
    let metrics = generic_metrics(&spec.options, kind);
    let graphql = crate::request::build(spec, "application/json").map_err(SourceError::Config)?.graphql;
    let json = |body: &[u8]| {
        serde_json::from_slice::<Value>(body)
            .map_err(|e| SourceError::Parse(format!("http_json: body is not JSON: {e}")))
    };
    if crate::paging::paging(&spec.options).map_err(SourceError::Config)?.is_some() {
        let pages = answers.iter().map(|a| json(&a.body)).collect::<Result<Vec<_>, _>>()?;
        return read_json(&pages, &metrics, graphql);
    }
    match format(&spec.options).map_err(SourceError::Config)? {
        Format::Json => read_json(&[json(&first.body)?], &metrics, graphql),
        Format::Csv => {
            let row = crate::table::row(&spec.options, &spec.external_ref).map_err(SourceError::Config)?;
            crate::table::extract(&first.body, &metrics, &row)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graphql_errors_are_named_when_the_data_is_missing() {
        let metrics = vec![("pledged".to_string(), "/data/campaign/raised".to_string())];
        let answer = json!({"data": null, "errors": [{"message": "unknown campaign"}]});
        let err = read_json(std::slice::from_ref(&answer), &metrics, true).expect_err("no data");
        assert!(err.to_string().contains("graphql: unknown campaign"), "{err}");
        let err = read_json(&[answer], &metrics, false).expect_err("no data");
        assert!(err.to_string().contains("nothing at"), "{err}");
        let ok = json!({"data": {"campaign": {"raised": "1,234"}}, "errors": [{"message": "partial"}]});
        assert_eq!(read_json(&[ok], &metrics, true).map(|s| s[0].value).ok(), Some(1234.0));
    }
}
