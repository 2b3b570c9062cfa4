//! Kickstarter: no open API. The hot poll reads the project page's
//! `stats.json` (what the page itself polls); the full scrape reads the
//! project page and the project JSON it embeds in `window.current_project`.
//! Field names are listed in docs/sources.md.

use serde_json::Value;
use trawler_domain::campaign::{crowdfunding_phase, CampaignReport};
use trawler_domain::{Metric, Platform, RunKind};

use crate::adapter::{encode_path, json_number, parse_json, Adapter, BoxFuture, Fetched, Sample, SourceSpec};
use crate::{HttpClient, SourceError};

/// The Kickstarter adapter.
pub struct Kickstarter {
    base: String,
}

impl Kickstarter {
    /// An adapter for the site at `base` (`https://www.kickstarter.com`).
    pub fn new(base: &str) -> Kickstarter {
        Kickstarter { base: base.trim_end_matches('/').to_owned() }
    }

    fn page_url(&self, reference: &str) -> String {
        format!("{}/projects/{}", self.base, encode_path(reference))
    }

    async fn poll(&self, http: &HttpClient, spec: &SourceSpec) -> Result<Fetched, SourceError> {
        let url = format!("{}/stats.json?v=1", self.page_url(&spec.external_ref));
        let resp = http.get(&url, &[("Accept", "application/json")]).await?.error_for_status()?;
        let json = parse_json(Platform::Kickstarter, resp.body).await?;
        let project = json
            .get("project")
            .ok_or_else(|| SourceError::Parse("kickstarter stats.json: no `project` object".into()))?;
        let mut fetched = Fetched::default();
        fetched.samples.push(Sample::known(Metric::PLEDGED, required(project, "pledged")?));
        fetched.samples.push(Sample::known(Metric::BACKERS, required(project, "backers_count")?));
        if let Some(c) = project.get("comments_count").and_then(json_number) {
            fetched.samples.push(Sample::known(Metric::COMMENTS, c));
        }
        fetched.campaign = campaign(project);
        Ok(fetched)
    }

    async fn full(&self, http: &HttpClient, spec: &SourceSpec) -> Result<Fetched, SourceError> {
        let resp =
            http.get(&self.page_url(&spec.external_ref), &[("Accept", "text/html")]).await?.error_for_status()?;
        let page = resp.text();
        let project = crate::adapter::parse_off_thread(page.len(), move || embedded_project(&page)).await??;
        let mut fetched = Fetched::default();
        for (field, metric) in [
            ("pledged", Metric::PLEDGED),
            ("backers_count", Metric::BACKERS),
            ("goal", Metric::GOAL),
            ("comments_count", Metric::COMMENTS),
        ] {
            fetched.samples.push(Sample::known(metric, required(&project, field)?));
        }
        for field in ["name", "currency"] {
            if let Some(v) = project.get(field) {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                fetched.notes.push(format!("{field}={text}"));
            }
        }
        fetched.campaign = campaign(&project);
        Ok(fetched)
    }
}

/// The campaign's `state`, `launched_at` and `deadline` (epoch seconds;
/// the stats poll has neither time) and its `currency`.
fn campaign(project: &Value) -> Option<CampaignReport> {
    let state = project.get("state").and_then(Value::as_str)?;
    let ms = |field: &str| project.get(field).and_then(Value::as_i64).and_then(|s| s.checked_mul(1000));
    Some(
        CampaignReport::new(state, crowdfunding_phase(state))
            .with_deadline(ms("deadline"))
            .with_start(ms("launched_at"))
            .with_currency(project.get("currency").and_then(Value::as_str)),
    )
}

fn required(obj: &Value, field: &str) -> Result<f64, SourceError> {
    obj.get(field)
        .and_then(json_number)
        .ok_or_else(|| SourceError::Parse(format!("kickstarter: `{field}` missing or not a number")))
}

/// Extracts the JSON of `window.current_project = "…";` from a project page:
/// a JavaScript string literal holding HTML-escaped JSON.
pub(crate) fn embedded_project(page: &str) -> Result<Value, SourceError> {
    const MARK: &str = "window.current_project";
    let start =
        page.find(MARK).ok_or_else(|| SourceError::Parse("kickstarter page: no window.current_project".into()))?;
    let rest = &page[start + MARK.len()..];
    let open = rest
        .find('"')
        .ok_or_else(|| SourceError::Parse("kickstarter page: window.current_project is not a string".into()))?;
    let literal = &rest[open + 1..];
    // Find the closing quote, skipping backslash escapes.
    let mut raw = String::new();
    let mut chars = literal.chars();
    let mut closed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => raw.push('\n'),
                Some('t') => raw.push('\t'),
                Some(other) => raw.push(other),
                None => break,
            },
            '"' => {
                closed = true;
                break;
            }
            c => raw.push(c),
        }
    }
    if !closed {
        return Err(SourceError::Parse("kickstarter page: unterminated window.current_project".into()));
    }
    let json = unescape_html(&raw);
    serde_json::from_str(&json)
        .map_err(|e| SourceError::Parse(format!("kickstarter page: current_project is not JSON: {e}")))
}

/// Decodes the HTML character references a page uses to embed JSON.
pub(crate) fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let decoded = match entity {
            "quot" => Some('"'),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => {
                u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32)
            }
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Adapter for Kickstarter {
    fn platform(&self) -> Platform {
        Platform::Kickstarter
    }

    fn metrics(&self, _: &SourceSpec) -> Vec<String> {
        [Metric::PLEDGED, Metric::BACKERS, Metric::GOAL, Metric::COMMENTS].iter().map(|m| (*m).to_owned()).collect()
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        let parts: Vec<&str> = spec.external_ref.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(
                "a kickstarter external_ref is `creator/slug`, as in kickstarter.com/projects/creator/slug".into()
            );
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
        Box::pin(async move {
            match kind {
                RunKind::Poll => self.poll(http, spec).await,
                RunKind::Full => self.full(http, spec).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::campaign::Phase;

    #[test]
    fn the_campaign_state_and_deadline_are_read() {
        let live = campaign(&serde_json::json!({"state": "live", "deadline": 1_767_225_600})).expect("a state");
        assert_eq!((live.state.as_str(), live.phase, live.deadline_ms), ("live", Phase::Live, Some(1_767_225_600_000)));
        let over = campaign(&serde_json::json!({"state": "successful"})).expect("a state");
        assert_eq!((over.phase, over.deadline_ms), (Phase::Ended, None));
        // A deadline that is not a believable date is left out.
        let odd = campaign(&serde_json::json!({"state": "live", "deadline": i64::MAX})).expect("a state");
        assert_eq!(odd.deadline_ms, None);
        assert!(campaign(&serde_json::json!({"deadline": 1})).is_none(), "no state, no report");
    }

    #[test]
    fn the_embedded_project_is_decoded() -> Result<(), SourceError> {
        let page = r#"<html><script>window.current_project = "{&quot;id&quot;:7,&quot;name&quot;:&quot;Lamp &amp; Co&quot;,&quot;goal&quot;:10000.0,&quot;pledged&quot;:1234.5,&quot;currency&quot;:&quot;USD&quot;,&quot;backers_count&quot;:12,&quot;comments_count&quot;:3,&quot;deadline&quot;:1767225600}";</script></html>"#;
        let p = embedded_project(page)?;
        assert_eq!(p["name"], "Lamp & Co");
        assert_eq!(p["goal"], 10000.0);
        assert_eq!(p["backers_count"], 12);
        Ok(())
    }

    #[test]
    fn pages_without_the_project_fail_to_parse() {
        assert!(matches!(embedded_project("<html></html>"), Err(SourceError::Parse(_))));
        assert!(matches!(embedded_project("window.current_project = \"{oops"), Err(SourceError::Parse(_))));
    }

    #[test]
    fn entities_decode() {
        assert_eq!(unescape_html("a&quot;b&#39;c&#x41;&amp;&bogus; & d"), "a\"b'cA&&bogus; & d");
    }
}
