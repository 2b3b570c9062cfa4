//! Meta (Facebook) Ads: Marketing API insights of an ad account
//! (`act_<id>`) or a campaign (`<id>`), lifetime totals
//! (`date_preset=maximum`). Numbers arrive as strings; purchases and their
//! value are entries of the `actions` / `action_values` arrays keyed by
//! `action_type`. Throttling is signalled by error codes and usage headers,
//! not only by 429. Field names are listed in docs/sources.md.

use std::time::Duration;

use serde_json::Value;
use trawler_domain::campaign::{ads_phase, CampaignReport};
use trawler_domain::{Metric, Platform, RunKind};

use crate::adapter::{json_number, parse_json, Adapter, BoxFuture, Fetched, Sample, SourceSpec};
use crate::{HttpClient, HttpResponse, SourceError};

/// Most pages of insights followed for one fetch.
const MAX_PAGES: usize = 20;

/// The `action_type`s counted as purchases, in order of preference: the
/// first one present is used, so a purchase reported under both is counted once.
const PURCHASE_TYPES: [&str; 3] = ["purchase", "offsite_conversion.fb_pixel_purchase", "omni_purchase"];

/// Graph API error codes that mean "slow down" (rate limiting pages of the
/// Marketing API): 4 app limit, 17 user/account limit, 32 page limit,
/// 613 too many calls, 80000–80014 business use case limits.
fn is_throttle_code(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 613) || (80_000..=80_014).contains(&code)
}

/// Whether a throttle code limits the whole app (every source on the
/// platform) rather than one user token or ad account.
fn is_app_wide(code: i64) -> bool {
    code == 4
}

/// The Meta Ads adapter.
pub struct MetaAds {
    base: String,
    version: String,
}

impl MetaAds {
    /// An adapter for the Graph API at `base` and API `version` (`v21.0`).
    pub fn new(base: &str, version: &str) -> MetaAds {
        MetaAds { base: base.trim_end_matches('/').to_owned(), version: version.trim_matches('/').to_owned() }
    }

    async fn insights(&self, http: &HttpClient, spec: &SourceSpec) -> Result<Fetched, SourceError> {
        let token = spec
            .secret
            .as_deref()
            .ok_or_else(|| SourceError::Config("meta_ads needs an access token (the source's secret)".into()))?;
        let auth = format!("Bearer {token}");
        let mut url = format!(
            "{}/{}/{}/insights?fields=spend,impressions,clicks,actions,action_values&date_preset=maximum",
            self.base, self.version, spec.external_ref
        );
        let mut totals = [0.0f64; 5]; // spend, impressions, clicks, purchases, purchase_value
        let mut rows = 0usize;
        for page in 0..MAX_PAGES {
            let resp = http.get(&url, &[("Authorization", &auth), ("Accept", "application/json")]).await?;
            let json = parse_json(Platform::MetaAds, check(resp)?).await?;
            let data = json
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| SourceError::Parse("meta_ads: no `data` array".into()))?;
            for row in data {
                rows += 1;
                // A field Meta leaves out had no activity (0); a field that is
                // present but not a number is a parse error, never a silent 0.
                for (i, field) in ["spend", "impressions", "clicks"].iter().enumerate() {
                    totals[i] += match row.get(*field) {
                        None => 0.0,
                        Some(v) => json_number(v).ok_or_else(|| {
                            SourceError::Parse(format!(
                                "meta_ads: `{field}` is not a number: {}",
                                crate::http::excerpt(&v.to_string(), 60)
                            ))
                        })?,
                    };
                }
                totals[3] += action_value(row.get("actions"))?;
                totals[4] += action_value(row.get("action_values"))?;
            }
            match json.pointer("/paging/next").and_then(Value::as_str) {
                Some(next) if page + 1 < MAX_PAGES => url = same_origin(&self.base, next)?,
                Some(_) => {
                    return Err(SourceError::Parse(format!("meta_ads: more than {MAX_PAGES} pages of insights")))
                }
                None => break,
            }
        }
        let mut fetched = Fetched::default();
        for (i, metric) in
            [Metric::SPEND, Metric::IMPRESSIONS, Metric::CLICKS, Metric::PURCHASES, Metric::PURCHASE_VALUE]
                .into_iter()
                .enumerate()
        {
            fetched.samples.push(Sample::known(metric, totals[i]));
        }
        fetched.notes.push(format!("insights rows={rows}"));
        Ok(fetched)
    }

    /// Where the account or campaign stands (a full scrape's second
    /// request): a campaign's `effective_status`, an account's
    /// `account_status`. A failure here costs the report, not the fetch.
    async fn status(&self, http: &HttpClient, spec: &SourceSpec, fetched: &mut Fetched) {
        let Some(token) = spec.secret.as_deref() else { return };
        let account = spec.external_ref.starts_with("act_");
        let field = if account { "account_status" } else { "effective_status" };
        // An account is billed in one currency; a campaign is its account's.
        let fields = if account { "account_status,currency" } else { field };
        let url = format!("{}/{}/{}?fields={fields}", self.base, self.version, spec.external_ref);
        let auth = format!("Bearer {token}");
        let read = async {
            let resp = http.get(&url, &[("Authorization", &auth), ("Accept", "application/json")]).await?;
            let json = parse_json(Platform::MetaAds, check(resp)?).await?;
            let state = json.get(field).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => n.as_i64().map(account_status_name),
                _ => None,
            });
            let currency = json.get("currency").and_then(Value::as_str).map(str::to_owned);
            Ok::<_, SourceError>(state.map(|s| (s, currency)))
        };
        match read.await {
            Ok(Some((state, currency))) => {
                fetched.campaign =
                    Some(CampaignReport::new(&state, ads_phase(&state)).with_currency(currency.as_deref()))
            }
            Ok(None) => fetched.notes.push(format!("no {field} in the answer")),
            Err(e) => fetched.notes.push(format!("{field} not read: {e}")),
        }
    }
}

/// An ad account's numeric `account_status` as the status word it stands
/// for (a code the API may add later reads as `STATUS_<code>`, idle).
fn account_status_name(code: i64) -> String {
    match code {
        1 => "ACTIVE".into(),
        2 => "DISABLED".into(),
        3 => "UNSETTLED".into(),
        7 => "PENDING_RISK_REVIEW".into(),
        8 => "PENDING_SETTLEMENT".into(),
        9 => "IN_GRACE_PERIOD".into(),
        100 => "PENDING_CLOSURE".into(),
        101 => "CLOSED".into(),
        201 => "ANY_ACTIVE".into(),
        202 => "ANY_CLOSED".into(),
        other => format!("STATUS_{other}"),
    }
}

/// `next` if it has the origin (scheme, host, port) of `base`: the access
/// token goes only where it was configured to go, whatever a page of
/// results says. The refusal names the other origin, never the whole URL.
fn same_origin(base: &str, next: &str) -> Result<String, SourceError> {
    let base = url::Url::parse(base).map_err(|e| SourceError::Config(format!("meta_ads: base URL: {e}")))?;
    let url = url::Url::parse(next).map_err(|_| SourceError::Parse("meta_ads: paging.next is not a URL".into()))?;
    if url.origin() != base.origin() {
        return Err(SourceError::Parse(format!(
            "meta_ads: paging.next points to another origin ({}); not followed",
            url.origin().ascii_serialization()
        )));
    }
    Ok(url.into())
}

/// The value of the first purchase `action_type` present in an
/// `actions` / `action_values` array (0 when none is).
fn action_value(list: Option<&Value>) -> Result<f64, SourceError> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Ok(0.0);
    };
    for kind in PURCHASE_TYPES {
        if let Some(entry) = list.iter().find(|a| a.get("action_type").and_then(Value::as_str) == Some(kind)) {
            let value = entry.get("value").unwrap_or(&Value::Null);
            return json_number(value).ok_or_else(|| {
                SourceError::Parse(format!(
                    "meta_ads: {kind} value is not a number: {}",
                    crate::http::excerpt(&value.to_string(), 60)
                ))
            });
        }
    }
    Ok(0.0)
}

/// The longest `estimated_time_to_regain_access` (minutes) in an
/// `X-Business-Use-Case-Usage` header, as a duration.
fn buc_regain(resp: &HttpResponse) -> Option<Duration> {
    let header = resp.headers.get("x-business-use-case-usage")?.to_str().ok()?;
    let json: Value = serde_json::from_str(header).ok()?;
    let minutes = json
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|u| u.get("estimated_time_to_regain_access").and_then(Value::as_f64))
        .filter(|m| m.is_finite())
        .fold(0.0f64, f64::max);
    // A value too large for a duration saturates; the gate caps the pause.
    (minutes > 0.0).then(|| Duration::try_from_secs_f64(minutes * 60.0).unwrap_or(Duration::MAX))
}

/// Turns a Graph API response into its body, or a classified error.
fn check(resp: HttpResponse) -> Result<Vec<u8>, SourceError> {
    let regain = buc_regain(&resp);
    if (200..300).contains(&resp.status) {
        return Ok(resp.body);
    }
    let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    if let Some(err) = json.get("error") {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let subcode = err.get("error_subcode").and_then(Value::as_i64);
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        let detail = match subcode {
            Some(s) => format!("code {code} subcode {s}: {message}"),
            None => format!("code {code}: {message}"),
        };
        if is_throttle_code(code) || resp.status == 429 {
            return Err(SourceError::Throttled {
                retry_after: regain.or(resp.retry_after()),
                detail,
                platform_wide: is_app_wide(code),
            });
        }
        return Err(SourceError::HttpStatus { status: resp.status, detail });
    }
    if regain.is_some() {
        return Err(SourceError::Throttled {
            retry_after: regain,
            detail: format!("HTTP {}", resp.status),
            platform_wide: false,
        });
    }
    resp.error_for_status().map(|r| r.body)
}

impl Adapter for MetaAds {
    fn platform(&self) -> Platform {
        Platform::MetaAds
    }

    fn metrics(&self, _: &SourceSpec) -> Vec<String> {
        [Metric::SPEND, Metric::IMPRESSIONS, Metric::CLICKS, Metric::PURCHASES, Metric::PURCHASE_VALUE]
            .iter()
            .map(|m| (*m).to_owned())
            .collect()
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        let id = spec.external_ref.strip_prefix("act_").unwrap_or(&spec.external_ref);
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a meta_ads external_ref is an ad account (`act_<digits>`) or a campaign id (digits)".into());
        }
        if spec.secret.as_deref().is_none_or(str::is_empty) {
            return Err("a meta_ads source needs `secret`: a Marketing API access token".into());
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
        // One insights request carries every ad metric, so the poll and the
        // full scrape read the same numbers; a full scrape also reads where
        // the account or campaign stands.
        Box::pin(async move {
            let mut fetched = self.insights(http, spec).await?;
            if kind == RunKind::Full {
                self.status(http, spec, &mut fetched).await;
            }
            Ok(fetched)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    fn response(status: u16, body: Value, headers: &[(&'static str, &str)]) -> HttpResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                map.insert(*k, v);
            }
        }
        HttpResponse { status, headers: map, body: body.to_string().into_bytes() }
    }

    #[test]
    fn purchases_are_counted_once() {
        let actions = json!([
            {"action_type": "link_click", "value": "40"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"},
            {"action_type": "purchase", "value": "3"}
        ]);
        assert_eq!(action_value(Some(&actions)), Ok(3.0));
        assert_eq!(action_value(Some(&json!([{"action_type": "omni_purchase", "value": "2"}]))), Ok(2.0));
        assert_eq!(action_value(None), Ok(0.0));
        assert!(action_value(Some(&json!([{"action_type": "purchase", "value": "n/a"}]))).is_err());
    }

    #[test]
    fn throttling_codes_and_headers_are_throttling() {
        let body = json!({"error": {"message": "User request limit reached", "type": "OAuthException", "code": 17, "error_subcode": 2446079}});
        let buc = r#"{"123": [{"type": "ads_insights", "call_count": 98, "estimated_time_to_regain_access": 2}]}"#;
        match check(response(400, body, &[("x-business-use-case-usage", buc)])) {
            Err(SourceError::Throttled { retry_after, detail, platform_wide }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(120)));
                assert!(!platform_wide, "code 17 limits one user token, not the app");
                assert!(detail.contains("2446079"));
            }
            other => panic!("expected throttled, got {other:?}"),
        }
        let body = json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}});
        assert!(matches!(check(response(400, body, &[])), Err(SourceError::HttpStatus { status: 400, .. })));
        let body = json!({"error": {"message": "too many calls", "code": 613, "error_subcode": 1487742}});
        assert!(matches!(check(response(400, body, &[])), Err(SourceError::Throttled { .. })));
    }

    #[test]
    fn absurd_regain_times_saturate_instead_of_panicking() {
        let body = json!({"error": {"message": "too many calls", "code": 80004}});
        for regain in ["1e300", "1.7976931348623157e308", "-5", "0"] {
            let buc = format!(r#"{{"1": [{{"type": "ads_insights", "estimated_time_to_regain_access": {regain}}}]}}"#);
            let got = check(response(400, body.clone(), &[("x-business-use-case-usage", &buc)]));
            let Err(SourceError::Throttled { retry_after, .. }) = got else { panic!("{regain}: {got:?}") };
            if regain.starts_with('1') {
                assert_eq!(retry_after, Some(Duration::MAX), "{regain}");
            } else {
                assert_eq!(retry_after, None, "{regain}");
            }
        }
    }

    #[test]
    fn paging_stays_on_the_configured_origin() {
        let base = "https://graph.facebook.com";
        let next = "https://graph.facebook.com/v21.0/act_1/insights?after=abc";
        assert_eq!(same_origin(base, next).as_deref(), Ok(next));
        for elsewhere in [
            "https://evil.example/v21.0/act_1/insights?access_token=x",
            "http://graph.facebook.com/v21.0/act_1/insights",
            "https://graph.facebook.com:8443/x",
            "https://graph.facebook.com.evil.example/x",
            "https://graph.facebook.com@evil.example/x",
            "not a url",
        ] {
            let err = same_origin(base, elsewhere).expect_err(elsewhere);
            assert!(!err.to_string().contains("access_token"), "{err}");
        }
    }
}
