//! The response archive: answers kept, one with its body, the sources
//! whose answers a metric could not be read in (with proposed locators),
//! re-parse and repair, and a run's answers as a simulator fixture.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trawler_store::archive::{Break, Response, Usage};
use utoipa::{IntoParams, ToSchema};

/// An answer kept, without its body.
#[derive(Serialize, ToSchema)]
pub struct ResponseView {
    /// Its id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The source's platform.
    pub platform: String,
    /// The source's reference.
    pub external_ref: String,
    /// The full scrape it belongs to (none for a poll).
    pub run_id: Option<i64>,
    /// `full` or `poll`.
    pub kind: String,
    /// When it was fetched, epoch ms.
    pub fetched_at_ms: i64,
    /// Its page within the fetch (0 first).
    pub page: i32,
    /// The HTTP status.
    pub status: i32,
    /// The URL asked (without its query).
    pub url: String,
    /// The response headers kept (type, validators, dates; never cookies):
    /// `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The body's size as received.
    pub body_bytes: i64,
    /// What it takes in the archive (compressed, with its row).
    pub stored_bytes: i64,
    /// `ok`, or the fetch's error code (`parse`: a metric could not be read).
    pub outcome: String,
    /// The fetch's error.
    pub error: Option<String>,
    /// The metric a parse failure could not read.
    pub metric: Option<String>,
    /// For a parse failure: the metric's last stored value and the
    /// locators found that read it in this answer (see `/breaks`).
    #[schema(value_type = Option<Object>)]
    pub proposals: Option<Value>,
    /// When a re-parse read it well, epoch ms.
    pub recovered_at_ms: Option<i64>,
    /// Where its body is (`text/plain`).
    pub body_url: String,
}

impl From<Response> for ResponseView {
    fn from(r: Response) -> ResponseView {
        let headers = r.header_pairs();
        let proposals = r.proposals.as_deref().and_then(|p| serde_json::from_str(p).ok());
        ResponseView {
            body_url: format!("/api/v1/responses/{}/body", r.id),
            id: r.id,
            project_id: r.project_id,
            platform: r.platform,
            external_ref: r.external_ref,
            run_id: r.run_id,
            kind: r.kind,
            fetched_at_ms: r.fetched_at_ms,
            page: r.page,
            status: r.status,
            url: r.url,
            headers,
            body_bytes: r.body_bytes,
            stored_bytes: r.stored_bytes,
            outcome: r.outcome,
            error: r.error,
            metric: r.metric,
            proposals,
            recovered_at_ms: r.recovered_at_ms,
        }
    }
}

/// What the archive holds.
#[derive(Serialize, ToSchema)]
pub struct ArchiveUsage {
    /// Answers kept.
    pub answers: i64,
    /// What they take, bytes.
    pub bytes: i64,
}

impl From<Usage> for ArchiveUsage {
    fn from(u: Usage) -> ArchiveUsage {
        ArchiveUsage { answers: u.rows, bytes: u.bytes }
    }
}

/// A project's kept answers, newest first.
#[derive(Serialize, ToSchema)]
pub struct ResponseList {
    /// The project.
    pub project_id: i64,
    /// The answers.
    pub responses: Vec<ResponseView>,
    /// What the project's answers take.
    pub usage: ArchiveUsage,
    /// The next page, when this one is full.
    pub next: Option<String>,
}

/// The query of `GET /projects/{id}/responses`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResponsesParams {
    /// One source's: its platform (with `external_ref`).
    pub platform: Option<String>,
    /// One source's: its reference (with `platform`).
    pub external_ref: Option<String>,
    /// One full scrape's.
    pub run: Option<i64>,
    /// Only fetches that failed to read a metric.
    pub failures: Option<bool>,
    /// Answers with a smaller id (the next page).
    pub before: Option<i64>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// One answer with its body.
#[derive(Serialize, ToSchema)]
pub struct ResponseDetail {
    /// The answer.
    #[serde(flatten)]
    pub response: ResponseView,
    /// The body as text (invalid UTF-8 replaced), its first MiB.
    pub body: String,
    /// Whether `body` is cut (the whole is at `body_url`).
    pub body_truncated: bool,
}

/// A locator proposed for a metric.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// The selector or pointer, as `options.metrics` takes it.
    pub locator: String,
    /// What it reads in the failed answer.
    pub value: f64,
    /// `same` (the last good value), `rounded` (it, rounded for display)
    /// or `near` (within 5 %: the number moved since).
    pub closeness: String,
}

/// A metric a failed answer did not give, with what was found for it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct BrokenMetric {
    /// The metric.
    pub metric: String,
    /// Its locator as the source has it now.
    #[serde(default)]
    pub locator: Option<String>,
    /// Its last stored value, looked for in the failed answer (none: never
    /// stored, so nothing to look for).
    pub last_value: Option<f64>,
    /// Locators that read it there, best first.
    #[serde(rename(deserialize = "found"))]
    pub proposals: Vec<ProposalView>,
}

/// A source whose fetches could not read a metric and are not recovered.
#[derive(Serialize, ToSchema)]
pub struct BreakView {
    /// The source's platform.
    pub platform: String,
    /// The source's reference.
    pub external_ref: String,
    /// The metric its latest failure's error names.
    pub metric: Option<String>,
    /// Every metric the latest failed answer looked at did not give.
    pub metrics: Vec<BrokenMetric>,
    /// Whether the source still fails (its latest fetch failed); `false`:
    /// it reads well again and the failed fetches wait for a re-parse.
    pub open: bool,
    /// Its oldest failed fetch not recovered, epoch ms.
    pub since_ms: i64,
    /// Its latest failed fetch, epoch ms.
    pub last_failed_ms: i64,
    /// Failed fetches not recovered.
    pub failures: i64,
    /// The latest failure's error.
    pub error: Option<String>,
    /// Its latest fetch that read well, epoch ms.
    pub last_ok_ms: Option<i64>,
}

impl BreakView {
    /// A break, with the source's current locator of its metric.
    pub fn new(b: Break, options: Option<&Value>) -> BreakView {
        let stored: Option<Value> = b.proposals.as_deref().and_then(|p| serde_json::from_str(p).ok());
        let mut metrics: Vec<BrokenMetric> = stored
            .as_ref()
            .and_then(|p| p.get("metrics"))
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        if metrics.is_empty() {
            if let Some(metric) = &b.metric {
                metrics.push(BrokenMetric {
                    metric: metric.clone(),
                    locator: None,
                    last_value: None,
                    proposals: vec![],
                });
            }
        }
        for m in &mut metrics {
            m.locator = options.and_then(|o| o.get("metrics")?.get(&m.metric)?.as_str()).map(str::to_owned);
        }
        BreakView {
            open: b.last_ok_ms.is_none_or(|ok| ok < b.last_failed_ms),
            platform: b.platform,
            external_ref: b.external_ref,
            metric: b.metric,
            metrics,
            since_ms: b.since_ms,
            last_failed_ms: b.last_failed_ms,
            failures: b.failures,
            error: b.error,
            last_ok_ms: b.last_ok_ms,
        }
    }
}

/// A project's broken sources.
#[derive(Serialize, ToSchema)]
pub struct BreakList {
    /// The project.
    pub project_id: i64,
    /// Its sources with failed fetches not recovered, latest failure first.
    pub breaks: Vec<BreakView>,
}

/// The body of `POST /projects/{id}/reparse`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReparseInput {
    /// The source's platform (`http_json` or `html`).
    pub platform: String,
    /// The source's reference.
    pub external_ref: String,
    /// Read the failed fetches kept since then, epoch ms (default: since
    /// its oldest failed fetch not recovered).
    pub since_ms: Option<i64>,
}

/// The body of `POST /projects/{id}/repair`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairInput {
    /// The source's platform (`http_json` or `html`).
    pub platform: String,
    /// The source's reference.
    pub external_ref: String,
    /// The metrics to read with new locators: metric → its new selector or
    /// pointer (a proposal's, or one's own).
    #[schema(value_type = Object)]
    pub metrics: std::collections::BTreeMap<String, String>,
    /// Re-parse the failed fetches with it at once (default `true`).
    pub reparse: Option<bool>,
}

/// What a re-parse did.
#[derive(Serialize, ToSchema)]
pub struct ReparseView {
    /// Failed fetches read again.
    pub fetches: usize,
    /// Of them, those read well now (their runs are marked recovered).
    pub recovered: usize,
    /// Points read out of them.
    pub points: usize,
    /// Of those, points new to the store (a point stored already is
    /// skipped: a second re-parse stores nothing).
    pub stored: usize,
    /// Fetches still not read.
    pub still_failing: usize,
    /// The first error of those.
    pub error: Option<String>,
    /// The failed runs it recovered.
    pub runs: Vec<i64>,
    /// The earliest fetch read, epoch ms.
    pub from_ms: Option<i64>,
    /// The latest fetch read, epoch ms.
    pub to_ms: Option<i64>,
}

impl From<trawler_actors::Reparsed> for ReparseView {
    fn from(r: trawler_actors::Reparsed) -> ReparseView {
        let trawler_actors::Reparsed { fetches, recovered, points, stored, still_failing, error, runs, from_ms, to_ms } =
            r;
        ReparseView { fetches, recovered, points, stored, still_failing, error, runs, from_ms, to_ms }
    }
}

/// What a repair did: the project as it is now, and the re-parse.
#[derive(Serialize, ToSchema)]
pub struct RepairView {
    /// The project with its edited source.
    pub project: super::ProjectView,
    /// The re-parse, unless it was not asked for.
    pub reparse: Option<ReparseView>,
}
