//! Fault injection: how the simulator misbehaves on purpose, per platform
//! or per project, set at start (`trawler sim --faults FILE`) or at run time
//! (`POST /_sim/faults`), plus a per-platform request limit that answers 429
//! above it (`--limit kickstarter=50`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::body::to_bytes;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// One way to misbehave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// 429 with `Retry-After` in seconds, or as an HTTP date.
    RateLimited {
        /// Seconds to wait.
        #[serde(default = "one")]
        retry_after: u64,
        /// Send the wait as an HTTP date instead of seconds.
        #[serde(default)]
        http_date: bool,
    },
    /// The platform's own throttling signal: for Meta, error code 613 with a
    /// `X-Business-Use-Case-Usage` header; elsewhere a 429 without a wait.
    Throttle,
    /// A server error with this status.
    ServerError {
        /// The status (500 by default).
        #[serde(default = "five_hundred")]
        status: u16,
    },
    /// Every `every`-th request fails with 500; the others succeed.
    Flapping {
        /// Period of the failures.
        #[serde(default = "two")]
        every: u64,
    },
    /// Answers after a delay.
    Slow {
        /// The delay in milliseconds.
        delay_ms: u64,
    },
    /// Never answers (within an hour).
    Hang,
    /// Sends half the body, then drops the connection.
    Reset,
    /// Sends half the body and ends it there: truncated JSON or HTML.
    Malformed,
    /// Answers 200 with an HTML maintenance page, whatever was asked.
    WrongContentType,
    /// Answers 200 with a body of this many MiB.
    Oversized {
        /// Size in MiB.
        mib: u64,
    },
    /// Redirects to itself forever.
    RedirectLoop,
    /// Answers in the right shape with numbers that do not parse.
    BadNumbers,
}

fn one() -> u64 {
    1
}
fn two() -> u64 {
    2
}
fn five_hundred() -> u16 {
    500
}

/// A fault on a target (`platform` or `platform:reference`), with how often
/// it has fired.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEntry {
    /// The fault.
    pub fault: Fault,
    /// Requests it has answered.
    pub fired: u64,
    seen: u64,
}

/// The faults and limits in force.
#[derive(Default)]
pub struct Faults {
    entries: Mutex<BTreeMap<String, FaultEntry>>,
    limits: Mutex<BTreeMap<String, Limit>>,
}

/// A fixed-window request limit of one platform.
#[derive(Debug, Clone, Serialize)]
struct Limit {
    per_sec: u64,
    window: i64,
    used: u64,
    rejected: u64,
}

/// What to do with one request.
pub enum Verdict {
    /// Answer normally.
    Normal,
    /// Answer normally but with numbers that do not parse.
    BadNumbers,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Answer with this instead.
    Replace(HttpResponse),
    /// Build the normal answer, then break it this way.
    Break(Fault),
}

impl Faults {
    /// Sets or replaces the fault of a target.
    pub fn set(&self, target: &str, fault: Fault) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(target.to_owned(), FaultEntry { fault, fired: 0, seen: 0 });
    }

    /// Removes a target's fault, or every fault.
    pub fn clear(&self, target: Option<&str>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match target {
            Some(t) => {
                map.remove(t);
            }
            None => map.clear(),
        }
    }

    /// The faults in force.
    pub fn list(&self) -> BTreeMap<String, FaultEntry> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Limits a platform to `per_sec` requests a second (429 above it).
    pub fn set_limit(&self, platform: &str, per_sec: u64) {
        let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(platform.to_owned(), Limit { per_sec, window: 0, used: 0, rejected: 0 });
    }

    /// 429s answered per platform because of its limit.
    pub fn rejected(&self) -> BTreeMap<String, u64> {
        let map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, l)| (k.clone(), l.rejected)).collect()
    }

    /// Whether the platform's limit lets this request through.
    fn admit(&self, platform: &str, now: i64) -> bool {
        let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        let Some(limit) = map.get_mut(platform) else {
            return true;
        };
        if limit.window != now {
            limit.window = now;
            limit.used = 0;
        }
        limit.used += 1;
        if limit.used > limit.per_sec {
            limit.rejected += 1;
            return false;
        }
        true
    }

    /// Decides what a request to `platform` for `reference` gets, and names
    /// the outcome for the request log.
    pub fn verdict(&self, platform: &str, reference: &str, now: i64) -> (Verdict, String) {
        if !self.admit(platform, now) {
            let resp = HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "1"))
                .json(json!({"error": "rate limit exceeded"}));
            return (Verdict::Replace(resp), "limited".into());
        }
        let verdict = self.fault_verdict(platform, reference, now);
        let outcome = match &verdict {
            (Verdict::Normal, _) => "ok".to_owned(),
            (_, kind) => kind.clone(),
        };
        (verdict.0, outcome)
    }

    fn fault_verdict(&self, platform: &str, reference: &str, now: i64) -> (Verdict, String) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("{platform}:{reference}");
        let entry = match map.contains_key(&key) {
            true => map.get_mut(&key),
            false => map.get_mut(platform),
        };
        let Some(entry) = entry else {
            return (Verdict::Normal, String::new());
        };
        entry.seen += 1;
        if let Fault::Flapping { every } = entry.fault {
            if entry.seen % every.max(1) != 0 {
                return (Verdict::Normal, String::new());
            }
        }
        entry.fired += 1;
        let kind = serde_json::to_value(&entry.fault)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let verdict = match entry.fault.clone() {
            Fault::RateLimited { retry_after, http_date } => {
                let value = if http_date { http_date_in(retry_after as i64, now) } else { retry_after.to_string() };
                Verdict::Replace(
                    HttpResponse::TooManyRequests()
                        .insert_header(("Retry-After", value))
                        .json(json!({"error": "slow down"})),
                )
            }
            Fault::Throttle if platform == "meta_ads" => {
                let usage = json!({"1234": [{"type": "ads_insights", "call_count": 100, "total_cputime": 40,
                    "total_time": 40, "estimated_time_to_regain_access": 1}]});
                Verdict::Replace(
                    HttpResponse::BadRequest().insert_header(("x-business-use-case-usage", usage.to_string())).json(
                        json!({"error": {"message": "(#613) Calls within one hour have exceeded the rate limit.",
                            "type": "OAuthException", "code": 613, "error_subcode": 1487742, "fbtrace_id": "SimTrace"}}),
                    ),
                )
            }
            Fault::Throttle => Verdict::Replace(HttpResponse::TooManyRequests().json(json!({"error": "throttled"}))),
            Fault::ServerError { status } => Verdict::Replace(server_error(status)),
            Fault::Flapping { .. } => Verdict::Replace(server_error(500)),
            Fault::Slow { delay_ms } => Verdict::Delay(Duration::from_millis(delay_ms)),
            Fault::Hang => Verdict::Delay(Duration::from_secs(3600)),
            Fault::WrongContentType => Verdict::Replace(
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<html><body><h1>We'll be right back</h1></body></html>"),
            ),
            Fault::Oversized { mib } => {
                let chunk = Bytes::from(vec![b' '; 64 * 1024]);
                let chunks = mib.saturating_mul(16);
                let body = stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
                Verdict::Replace(HttpResponse::Ok().content_type("application/json").streaming(body))
            }
            Fault::BadNumbers => Verdict::BadNumbers,
            fault @ (Fault::Reset | Fault::Malformed | Fault::RedirectLoop) => Verdict::Break(fault),
        };
        (verdict, kind)
    }
}

fn server_error(status: u16) -> HttpResponse {
    let code =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).body("simulated server error")
}

/// Breaks a normal answer the way `fault` says.
pub async fn break_response(fault: Fault, normal: HttpResponse, req: &HttpRequest) -> HttpResponse {
    if let Fault::RedirectLoop = fault {
        let location = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        return HttpResponse::Found().insert_header(("Location", location)).finish();
    }
    let content_type =
        normal.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_owned();
    let body = to_bytes(normal.into_body()).await.unwrap_or_default();
    let half = body.slice(..body.len() / 2);
    match fault {
        Fault::Reset => {
            let parts =
                vec![Ok(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated reset"))];
            HttpResponse::Ok().content_type(content_type).streaming(stream::iter(parts))
        }
        _ => HttpResponse::Ok().content_type(content_type).body(half),
    }
}

/// `now + secs` as an IMF-fixdate.
fn http_date_in(secs: i64, now: i64) -> String {
    trawler_domain::time::http_date(now.saturating_add(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_format() {
        assert_eq!(http_date_in(0, 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date_in(0, 0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn faults_parse_from_json() {
        let f: Fault = serde_json::from_value(json!({"kind": "rate_limited", "retry_after": 2, "http_date": true}))
            .unwrap_or(Fault::Hang);
        assert_eq!(f, Fault::RateLimited { retry_after: 2, http_date: true });
        assert!(serde_json::from_value::<Fault>(json!({"kind": "explode"})).is_err());
    }

    #[test]
    fn project_faults_win_over_platform_faults_and_limits_count() {
        let faults = Faults::default();
        faults.set("kickstarter", Fault::Hang);
        faults.set("kickstarter:a/b", Fault::BadNumbers);
        assert!(matches!(faults.verdict("kickstarter", "a/b", 0), (Verdict::BadNumbers, k) if k == "bad_numbers"));
        assert!(matches!(faults.verdict("kickstarter", "c/d", 0), (Verdict::Delay(_), k) if k == "hang"));
        assert!(matches!(faults.verdict("indiegogo", "1", 0), (Verdict::Normal, k) if k == "ok"));
        faults.set_limit("indiegogo", 2);
        let passed = (0..5).filter(|_| matches!(faults.verdict("indiegogo", "1", 7).0, Verdict::Normal)).count();
        assert_eq!(passed, 2);
        assert_eq!(faults.rejected().get("indiegogo"), Some(&3));
    }
}
