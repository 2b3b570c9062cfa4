//! What the archive shows in the UI: a run's page with the answers it
//! kept, one answer's page, and on a project's page its broken sources,
//! their proposals, repair and re-parse.

use std::collections::BTreeMap;

use trawler_store::{Archive, Response, ResponseFilter};

use super::*;
use crate::views::ReparseView;

/// The most of a body an answer's page shows.
const SHOWN_BODY: usize = 256 * 1024;

/// A kept answer as a table row.
pub(super) struct AnswerRow {
    pub(super) id: i64,
    pub(super) fetched: String,
    pub(super) source: String,
    pub(super) kind: String,
    pub(super) page: i32,
    pub(super) status: i32,
    pub(super) size: String,
    pub(super) outcome: String,
    pub(super) metric: String,
    pub(super) recovered: bool,
}

fn bytes_text(n: i64) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
        n if n >= 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

impl From<Response> for AnswerRow {
    fn from(r: Response) -> AnswerRow {
        AnswerRow {
            id: r.id,
            fetched: ms_text(Some(r.fetched_at_ms)),
            source: format!("{} {}", r.platform, r.external_ref),
            kind: r.kind,
            page: r.page,
            status: r.status,
            size: format!("{} ({} kept)", bytes_text(r.body_bytes), bytes_text(r.stored_bytes)),
            outcome: r.outcome,
            metric: r.metric.unwrap_or_default(),
            recovered: r.recovered_at_ms.is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "run.html")]
pub(super) struct RunPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) id: i64,
    pub(super) project_id: i64,
    pub(super) project: String,
    pub(super) status: String,
    pub(super) kind: String,
    pub(super) trigger: String,
    pub(super) node: String,
    pub(super) started: String,
    pub(super) took: String,
    pub(super) points: i64,
    pub(super) error: String,
    pub(super) recovered: Option<String>,
    pub(super) log: String,
    pub(super) answers: Vec<AnswerRow>,
}

/// A run's page: what it did, its log, and the answers it kept.
pub async fn run_page(session: UiSession, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = RunId(id.into_inner());
    let (run, project, answers) = db(&state, move |conn| {
        let run = Run::get(conn, id)?;
        let project = Project::get(conn, run.project_id)?;
        let filter = ResponseFilter { run_id: Some(id), limit: 1_000, ..ResponseFilter::default() };
        let answers = Archive::list(conn, run.project_id, &filter)?;
        Ok((run, project, answers))
    })
    .await?;
    let took = took_text(&run);
    html(&RunPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "runs",
        flash: None,
        id: run.id.0,
        project_id: run.project_id.0,
        project: project.name,
        status: run.status.to_string(),
        kind: run.kind.to_string(),
        trigger: run.triggered_by.to_string(),
        node: run.node,
        started: ms_text(Some(run.started_at_ms)),
        took,
        points: run.points_written,
        error: run.error.unwrap_or_default(),
        recovered: run.recovered_at_ms.map(|ms| ms_text(Some(ms))),
        log: run.log,
        answers: answers.into_iter().rev().map(AnswerRow::from).collect(),
    })
}

#[derive(Template)]
#[template(path = "response.html")]
pub(super) struct ResponsePage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) answer: AnswerRow,
    pub(super) project_id: i64,
    pub(super) run_id: Option<i64>,
    pub(super) url: String,
    pub(super) error: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    pub(super) cut: bool,
}

/// One kept answer: its facts, headers and body (as text: a kept page is
/// shown, never run).
pub async fn response_page(session: UiSession, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (row, body) = db(&state, move |conn| Archive::get(conn, id))
        .await?
        .ok_or_else(|| ApiError::Refused(crate::ErrorCode::ResponseNotFound, format!("no kept answer {id}")))?;
    let cut = body.len() > SHOWN_BODY;
    let shown = String::from_utf8_lossy(&body[..body.len().min(SHOWN_BODY)]).into_owned();
    html(&ResponsePage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "runs",
        flash: None,
        project_id: row.project_id,
        run_id: row.run_id,
        url: row.url.clone(),
        error: row.error.clone().unwrap_or_default(),
        headers: row.header_pairs(),
        answer: row.into(),
        body: shown,
        cut,
    })
}

/// A broken source on its project's page.
pub(super) struct BreakRow {
    pub(super) platform: String,
    pub(super) external_ref: String,
    pub(super) open: bool,
    pub(super) failures: i64,
    pub(super) since: String,
    pub(super) last_failed: String,
    pub(super) error: String,
    pub(super) metrics: Vec<BrokenRow>,
}

/// One metric of a broken source, with its proposals.
pub(super) struct BrokenRow {
    pub(super) metric: String,
    pub(super) locator: String,
    pub(super) last_value: String,
    /// (locator, what it reads, how close).
    pub(super) proposals: Vec<(String, String, String)>,
}

/// A project's broken sources, for its page.
pub(super) async fn breaks(state: &Data, id: ProjectId) -> Result<Vec<BreakRow>, ApiError> {
    Ok(crate::api::archive::breaks_of(state, id)
        .await?
        .into_iter()
        .map(|b| BreakRow {
            platform: b.platform,
            external_ref: b.external_ref,
            open: b.open,
            failures: b.failures,
            since: ms_text(Some(b.since_ms)),
            last_failed: ms_text(Some(b.last_failed_ms)),
            error: b.error.unwrap_or_default(),
            metrics: b
                .metrics
                .into_iter()
                .map(|m| BrokenRow {
                    metric: m.metric,
                    locator: m.locator.unwrap_or_default(),
                    last_value: number(m.last_value),
                    proposals: m
                        .proposals
                        .into_iter()
                        .map(|p| (p.locator, number(Some(p.value)), p.closeness))
                        .collect(),
                })
                .collect(),
        })
        .collect())
}

/// What a re-parse did, in one line.
fn reparse_line(r: &ReparseView) -> String {
    let mut line = format!("{} of {} failed fetches read again, {} points stored", r.recovered, r.fetches, r.stored);
    if r.still_failing > 0 {
        line.push_str(&format!("; {} still fail: {}", r.still_failing, r.error.as_deref().unwrap_or("")));
    }
    line
}

fn back(id: ProjectId, flash: &str) -> HttpResponse {
    let flash: String = url::form_urlencoded::byte_serialize(flash.as_bytes()).collect();
    see_other(&format!("/ui/projects/{id}?flash={flash}#breaks"))
}

/// The repair form: for each metric `metric.NAME` (the proposal chosen,
/// or `keep`) and `own.NAME` (a locator typed in, which wins).
pub async fn repair(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let fields: BTreeMap<String, String> = form.into_inner().into_iter().collect();
    check_csrf(&session, fields.get("csrf").map_or("", String::as_str))?;
    let platform: Platform = fields
        .get("platform")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("the form names no platform".into()))?;
    let reference = fields.get("external_ref").cloned().unwrap_or_default();
    let mut locators = BTreeMap::new();
    for (key, value) in &fields {
        if let Some(metric) = key.strip_prefix("metric.") {
            let own = fields.get(&format!("own.{metric}")).map(|o| o.trim()).filter(|o| !o.is_empty());
            match (own, value.as_str()) {
                (Some(own), _) => locators.insert(metric.to_owned(), own.to_owned()),
                (None, "keep") => None,
                (None, chosen) => locators.insert(metric.to_owned(), chosen.to_owned()),
            };
        }
    }
    if locators.is_empty() {
        return Ok(back(id, "Nothing to repair: choose a proposal or type a locator"));
    }
    match crate::api::archive::repair_source(&state, id, platform, &reference, &locators, true).await {
        Ok(done) => {
            let line = done.reparse.as_ref().map(reparse_line).unwrap_or_default();
            Ok(back(id, &format!("Repaired {platform} {reference}: {line}")))
        }
        Err(ApiError::BadRequest(why)) => Ok(back(id, &format!("Not repaired: {why}"))),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ReparseForm {
    csrf: String,
    platform: String,
    external_ref: String,
}

/// Re-parses a source's failed fetches as it is configured now.
pub async fn reparse(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<ReparseForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let platform: Platform = form.platform.parse().map_err(|e| ApiError::BadRequest(format!("platform: {e}")))?;
    let done = crate::api::archive::run_reparse(&state, id, platform, &form.external_ref, None).await?;
    Ok(back(id, &format!("Re-parsed {platform} {}: {}", form.external_ref, reparse_line(&done))))
}
