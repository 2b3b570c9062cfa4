//! Any JSON (or CSV) endpoint: `options.url` with `{ref}`, and
//! `options.metrics` mapping metric names to JSON pointers (RFC 6901,
//! `/data/0/pledged`) — or, with `options.format: "csv"`, to column names
//! (see `table.rs`). The request's method, headers and body, and the
//! conditional request, are `request.rs`'s.

use serde_json::Value;
use trawler_domain::{Platform, RunKind};

use crate::adapter::{
    generic_metrics, json_number, option_str, parse_json, validate_generic, Adapter, BoxFuture, Fetched, Sample,
    SourceSpec,
};
use crate::request::{Answer, Conditional};
use crate::{HttpClient, SourceError};

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
}

/// Reads the metrics (name → pointer) out of a JSON answer.
fn read_json(json: &Value, metrics: &[(String, String)], graphql: bool) -> Result<Vec<Sample>, SourceError> {
    let mut out = Vec::with_capacity(metrics.len());
    for (name, pointer) in metrics {
        let Some(value) = json.pointer(pointer) else {
            // A GraphQL server answers 200 with its errors beside no data.
            if let Some(error) = graphql.then(|| crate::request::graphql_error(json)).flatten() {
                return Err(SourceError::Parse(format!("http_json: graphql: {error}")));
            }
            return Err(SourceError::Parse(format!("http_json: nothing at `{pointer}` for {name}")));
        };
        let value = json_number(value).ok_or_else(|| {
            let value = crate::http::excerpt(&value.to_string(), 60);
            SourceError::Parse(format!("http_json: `{pointer}` for {name} is not a number: {value}"))
        })?;
        let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
        out.push(Sample { metric, value });
    }
    Ok(out)
}

impl HttpJson {
    async fn read(&self, http: &HttpClient, spec: &SourceSpec, kind: RunKind) -> Result<Fetched, SourceError> {
        let format = format(&spec.options).map_err(SourceError::Config)?;
        let accept = match format {
            Format::Json => "application/json",
            Format::Csv => "text/csv",
        };
        let (response, graphql, remember) = match crate::request::send(http, spec, kind, accept, &self.memory).await? {
            Answer::Unchanged(samples) => return Ok(Fetched { samples, ..Fetched::default() }),
            Answer::Full { response, graphql, remember } => (response, graphql, remember),
        };
        let metrics = generic_metrics(&spec.options, kind);
        let samples = match format {
            Format::Json => read_json(&parse_json(Platform::HttpJson, response.body).await?, &metrics, graphql)?,
            Format::Csv => {
                let row = crate::table::row(&spec.options, &spec.external_ref).map_err(SourceError::Config)?;
                let body = response.body;
                let len = body.len();
                crate::adapter::parse_off_thread(len, move || crate::table::extract(&body, &metrics, &row)).await??
            }
        };
        if let Some(remember) = remember {
            remember.keep(&self.memory, &samples);
        }
        Ok(Fetched { samples, ..Fetched::default() })
    }
}

impl Adapter for HttpJson {
    fn platform(&self) -> Platform {
        Platform::HttpJson
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        let format = format(&spec.options)?;
        crate::request::build(spec, "*/*")?;
        if format == Format::Csv {
            crate::table::row(&spec.options, &spec.external_ref)?;
        }
        validate_generic(spec, |locator| match format {
            Format::Json if locator.is_empty() || locator.starts_with('/') => Ok(()),
            Format::Json => Err(format!("`{locator}` is not a JSON pointer (it must start with `/`)")),
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
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.read(http, spec, kind))
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
        let err = read_json(&answer, &metrics, true).expect_err("no data");
        assert!(err.to_string().contains("graphql: unknown campaign"), "{err}");
        let err = read_json(&answer, &metrics, false).expect_err("no data");
        assert!(err.to_string().contains("nothing at"), "{err}");
        let ok = json!({"data": {"campaign": {"raised": "1,234"}}, "errors": [{"message": "partial"}]});
        assert_eq!(read_json(&ok, &metrics, true).map(|s| s[0].value).ok(), Some(1234.0));
    }
}
