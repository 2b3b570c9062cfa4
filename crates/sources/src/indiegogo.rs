//! Indiegogo: the campaign JSON of its public API
//! (`GET /1.1/campaigns/{id}.json?api_token=…`), wrapped in `response`.
//! Field names are listed in docs/sources.md.

use serde_json::Value;
use trawler_domain::{Metric, Platform, RunKind};

use crate::adapter::{encode_path, json_number, parse_json, Adapter, BoxFuture, Fetched, Sample, SourceSpec};
use crate::{HttpClient, SourceError};

/// The Indiegogo adapter.
pub struct Indiegogo {
    base: String,
}

impl Indiegogo {
    /// An adapter for the API at `base` (`https://api.indiegogo.com`).
    pub fn new(base: &str) -> Indiegogo {
        Indiegogo { base: base.trim_end_matches('/').to_owned() }
    }

    async fn campaign(&self, http: &HttpClient, spec: &SourceSpec, kind: RunKind) -> Result<Fetched, SourceError> {
        let mut url = format!("{}/1.1/campaigns/{}.json", self.base, encode_path(&spec.external_ref));
        if let Some(token) = &spec.secret {
            url.push_str("?api_token=");
            url.push_str(&encode_path(token));
        }
        let resp = http.get(&url, &[("Accept", "application/json")]).await?;
        if resp.status == 401 || resp.status == 403 {
            return Err(SourceError::HttpStatus {
                status: resp.status,
                detail: "indiegogo rejected the api_token".into(),
            });
        }
        let resp = resp.error_for_status()?;
        let json = parse_json(Platform::Indiegogo, resp.body).await?;
        let c = json.get("response").ok_or_else(|| SourceError::Parse("indiegogo: no `response` object".into()))?;
        let num = |field: &str| {
            c.get(field)
                .and_then(json_number)
                .ok_or_else(|| SourceError::Parse(format!("indiegogo: `{field}` missing or not a number")))
        };
        let mut fetched = Fetched::default();
        fetched.samples.push(Sample::known(Metric::PLEDGED, num("collected_funds")?));
        fetched.samples.push(Sample::known(Metric::BACKERS, num("contributions_count")?));
        if kind == RunKind::Full {
            fetched.samples.push(Sample::known(Metric::GOAL, num("goal")?));
            if let Some(title) = c.get("title").and_then(Value::as_str) {
                fetched.notes.push(format!("title={title}"));
            }
            if let Some(code) = c.pointer("/currency/iso_code").and_then(Value::as_str) {
                fetched.notes.push(format!("currency={code}"));
            }
            if let Some(end) = c.get("funding_ends_at").and_then(Value::as_str) {
                fetched.notes.push(format!("funding_ends_at={end}"));
            }
        }
        Ok(fetched)
    }
}

impl Adapter for Indiegogo {
    fn platform(&self) -> Platform {
        Platform::Indiegogo
    }

    fn metrics(&self, _: &SourceSpec) -> Vec<String> {
        [Metric::PLEDGED, Metric::BACKERS, Metric::GOAL].iter().map(|m| (*m).to_owned()).collect()
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        if !spec.external_ref.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err("an indiegogo external_ref is the campaign id (digits) or slug".into());
        }
        Ok(())
    }

    fn fetch<'a>(
        &'a self,
        http: &'a HttpClient,
        spec: &'a SourceSpec,
        kind: RunKind,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.campaign(http, spec, kind))
    }
}
