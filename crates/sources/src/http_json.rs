//! Any JSON endpoint: `options.url` with `{ref}`, and `options.metrics`
//! mapping metric names to JSON pointers (RFC 6901, `/data/0/pledged`).

use trawler_domain::{Platform, RunKind};

use crate::adapter::{
    fill_template, generic_metrics, json_number, option_str, parse_json, validate_generic, Adapter, BoxFuture, Fetched,
    Sample, SourceSpec,
};
use crate::{HttpClient, SourceError};

/// The generic JSON adapter.
pub struct HttpJson;

impl HttpJson {
    async fn read(&self, http: &HttpClient, spec: &SourceSpec, kind: RunKind) -> Result<Fetched, SourceError> {
        let template =
            option_str(&spec.options, "url").ok_or_else(|| SourceError::Config("options.url missing".into()))?;
        let url = fill_template(template, &spec.external_ref);
        let secret = crate::adapter::secret_header(spec).map_err(SourceError::Config)?;
        let mut headers = vec![("Accept", "application/json")];
        if let Some((name, value)) = &secret {
            headers.push((name.as_str(), value.as_str()));
        }
        let resp = http.get(&url, &headers).await?.error_for_status()?;
        let json = parse_json(Platform::HttpJson, resp.body).await?;
        let mut fetched = Fetched::default();
        for (name, pointer) in generic_metrics(&spec.options, kind) {
            let value = json
                .pointer(&pointer)
                .ok_or_else(|| SourceError::Parse(format!("http_json: nothing at `{pointer}` for {name}")))?;
            let value = json_number(value).ok_or_else(|| {
                let value = crate::http::excerpt(&value.to_string(), 60);
                SourceError::Parse(format!("http_json: `{pointer}` for {name} is not a number: {value}"))
            })?;
            let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
            fetched.samples.push(Sample { metric, value });
        }
        Ok(fetched)
    }
}

impl Adapter for HttpJson {
    fn platform(&self) -> Platform {
        Platform::HttpJson
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        validate_generic(spec, |pointer| {
            if pointer.is_empty() || pointer.starts_with('/') {
                Ok(())
            } else {
                Err(format!("`{pointer}` is not a JSON pointer (it must start with `/`)"))
            }
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
