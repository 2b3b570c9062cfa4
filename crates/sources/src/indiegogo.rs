//! Indiegogo: the campaign JSON of its public API
//! (`GET /1.1/campaigns/{id}.json?api_token=…`), wrapped in `response`.
//! Field names are listed in docs/sources.md.

use serde_json::Value;
use trawler_domain::campaign::{crowdfunding_phase, CampaignReport};
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
        }
        fetched.campaign = campaign(c);
        Ok(fetched)
    }
}

/// The campaign's `status` (`open`, `closed`) and its close date,
/// `funding_ends_at` (RFC 3339). Without a status, an open campaign is
/// live until its close date has passed.
fn campaign(c: &Value) -> Option<CampaignReport> {
    let date = |field: &str| {
        c.get(field)
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    let deadline_ms = date("funding_ends_at");
    let status = c.get("status").and_then(Value::as_str);
    if status.is_none() && deadline_ms.is_none() {
        return None;
    }
    let state = status.unwrap_or("open");
    Some(
        CampaignReport::new(state, crowdfunding_phase(state))
            .with_deadline(deadline_ms)
            .with_start(date("funding_started_at"))
            .with_currency(c.pointer("/currency/iso_code").and_then(Value::as_str)),
    )
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
        _keep: &'a crate::Keeper,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.campaign(http, spec, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::campaign::Phase;

    #[test]
    fn the_status_and_close_date_are_read() {
        let c = campaign(&serde_json::json!({"status": "closed", "funding_ends_at": "2026-12-31T23:59:59-08:00"}))
            .expect("a report");
        assert_eq!((c.phase, c.deadline_ms), (Phase::Ended, Some(1_798_790_399_000)));
        let open = campaign(&serde_json::json!({"funding_ends_at": "2026-12-31T23:59:59Z"})).expect("a report");
        assert_eq!((open.state.as_str(), open.phase), ("open", Phase::Live));
        let bad = campaign(&serde_json::json!({"status": "open", "funding_ends_at": "soon"})).expect("a report");
        assert_eq!(bad.deadline_ms, None);
        assert!(campaign(&serde_json::json!({"title": "x"})).is_none());
    }
}
