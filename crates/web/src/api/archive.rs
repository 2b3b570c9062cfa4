//! The response archive: a project's kept answers, one answer with its
//! body, the sources whose answers a metric could not be read in, re-parse
//! and repair, and a run's answers as a simulator fixture.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::Value;
use trawler_domain::fixture::{Fixture, FixtureAnswer, FixtureSource};
use trawler_domain::{Platform, ProjectId, RunId};
use trawler_store::{Archive, Project, ResponseFilter, Run, Source};

use crate::auth::Admin;
use crate::service::{check_sources, db, Data};
use crate::views::*;
use crate::{ApiError, ErrorCode};

/// The most of a body `GET /responses/{id}` puts in its JSON.
const SHOWN_BODY: usize = 1024 * 1024;

fn platform(name: &str) -> Result<Platform, ApiError> {
    name.parse().map_err(|e| ApiError::BadRequest(format!("platform: {e}")))
}

fn no_source(platform: Platform, reference: &str) -> ApiError {
    ApiError::Refused(ErrorCode::SourceNotFound, format!("the project has no {platform} source `{reference}`"))
}

/// A project's kept answers, newest first: all, one source's, one run's,
/// or only the fetches that failed to read a metric.
#[utoipa::path(get, path = "/api/v1/projects/{id}/responses", tag = "archive",
    params(("id" = i64, Path, description = "Project id"), ResponsesParams),
    responses((status = 200, body = ResponseList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_responses(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<ResponsesParams>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("`limit` must be between 1 and 500".into()));
    }
    let source = match (q.platform.as_deref(), q.external_ref) {
        (Some(p), Some(r)) => Some((platform(p)?, r)),
        (None, None) => None,
        _ => return Err(ApiError::BadRequest("`platform` and `external_ref` go together".into())),
    };
    let filter = ResponseFilter {
        source,
        run_id: q.run.map(RunId),
        failures_only: q.failures.unwrap_or(false),
        before_id: q.before,
        limit,
    };
    let (rows, usage) = db(&state, move |conn| {
        Project::get(conn, id)?;
        Ok((Archive::list(conn, id, &filter)?, Archive::usage(conn, Some(id))?))
    })
    .await?;
    let next = (rows.len() as i64 == limit).then(|| {
        let last = rows.last().map_or(0, |r| r.id);
        format!("/api/v1/projects/{}/responses?before={last}&limit={limit}", id.0)
    });
    let responses = rows.into_iter().map(ResponseView::from).collect();
    Ok(HttpResponse::Ok().json(ResponseList { project_id: id.0, responses, usage: usage.into(), next }))
}

async fn response(state: &Data, id: i64) -> Result<(trawler_store::Response, Vec<u8>), ApiError> {
    db(state, move |conn| Archive::get(conn, id))
        .await?
        .ok_or_else(|| ApiError::Refused(ErrorCode::ResponseNotFound, format!("no kept answer {id}")))
}

/// One kept answer with its body (as text, its first MiB).
#[utoipa::path(get, path = "/api/v1/responses/{id}", tag = "archive", params(("id" = i64, Path, description = "Answer id")),
    responses((status = 200, body = ResponseDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_response(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let (row, body) = response(&state, id.into_inner()).await?;
    let body_truncated = body.len() > SHOWN_BODY;
    let shown = &body[..body.len().min(SHOWN_BODY)];
    let body = String::from_utf8_lossy(shown).into_owned();
    Ok(HttpResponse::Ok().json(ResponseDetail { response: row.into(), body, body_truncated }))
}

/// A kept answer's body, whole, as plain text: never as the page it was
/// (a kept page is a stranger's markup, and is not run here).
#[utoipa::path(get, path = "/api/v1/responses/{id}/body", tag = "archive", params(("id" = i64, Path, description = "Answer id")),
    responses((status = 200, description = "The body, as received", content_type = "text/plain"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_response_body(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let (_, body) = response(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"))
        .body(body))
}

/// A project's sources whose fetches could not read a metric and are not
/// recovered, each with the locators found that read the metric's last
/// stored value in the failed answer.
#[utoipa::path(get, path = "/api/v1/projects/{id}/breaks", tag = "archive",
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = BreakList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_breaks(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let breaks = breaks_of(&state, id).await?;
    Ok(HttpResponse::Ok().json(BreakList { project_id: id.0, breaks }))
}

/// A project's broken sources, each with its metrics' locators as the
/// source has them now: the one path of the API and the UI.
pub(crate) async fn breaks_of(state: &Data, id: ProjectId) -> Result<Vec<BreakView>, ApiError> {
    let (breaks, sources) = db(state, move |conn| {
        Project::get(conn, id)?;
        Ok((Archive::breaks(conn, id)?, Source::list_for_project(conn, id)?))
    })
    .await?;
    Ok(breaks
        .into_iter()
        .map(|b| {
            let options = sources
                .iter()
                .find(|s| s.platform.as_str() == b.platform && s.external_ref == b.external_ref)
                .map(|s| (*s.options).clone());
            BreakView::new(b, options.as_ref())
        })
        .collect())
}

/// Reads a source's failed fetches again with its parser as it is now,
/// and stores the points it reads at the times they were fetched
/// (idempotent: a point stored already is skipped).
#[utoipa::path(post, path = "/api/v1/projects/{id}/reparse", tag = "archive",
    params(("id" = i64, Path, description = "Project id")), request_body = ReparseInput,
    responses((status = 200, body = ReparseView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn reparse(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    body: web::Json<ReparseInput>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let body = body.into_inner();
    let platform = platform(&body.platform)?;
    let done = run_reparse(&state, id, platform, &body.external_ref, body.since_ms).await?;
    Ok(HttpResponse::Ok().json(done))
}

pub(crate) async fn run_reparse(
    state: &Data,
    id: ProjectId,
    platform: Platform,
    reference: &str,
    since_ms: Option<i64>,
) -> Result<ReparseView, ApiError> {
    db(state, move |conn| Project::get(conn, id).map(drop)).await?;
    match state.tree.reparse(id, platform, reference, since_ms).await {
        Ok(done) => Ok(done.into()),
        Err(trawler_actors::ActorError::NotFound) => Err(no_source(platform, reference)),
        Err(e) => Err(e.into()),
    }
}

/// Gives a source's metric a new locator (a proposal's, or one's own),
/// checked as any edit of the sources is, then re-parses the source's
/// failed fetches with it.
#[utoipa::path(post, path = "/api/v1/projects/{id}/repair", tag = "archive",
    params(("id" = i64, Path, description = "Project id")), request_body = RepairInput,
    responses((status = 200, body = RepairView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn repair(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    body: web::Json<RepairInput>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let body = body.into_inner();
    let platform = platform(&body.platform)?;
    let reparse = body.reparse.unwrap_or(true);
    let done = repair_source(&state, id, platform, &body.external_ref, &body.metrics, reparse).await?;
    Ok(HttpResponse::Ok().json(done))
}

/// Gives metrics of a source new locators, then re-parses it if asked:
/// the one path of the API and the UI.
pub(crate) async fn repair_source(
    state: &Data,
    id: ProjectId,
    platform: Platform,
    reference: &str,
    locators: &std::collections::BTreeMap<String, String>,
    reparse: bool,
) -> Result<RepairView, ApiError> {
    let kept = db(state, move |conn| {
        Project::get(conn, id)?;
        Source::list_for_project(conn, id)
    })
    .await?;
    if !kept.iter().any(|s| s.platform == platform && s.external_ref == reference) {
        return Err(no_source(platform, reference));
    }
    let mut input = Vec::with_capacity(kept.len());
    for s in &kept {
        let mut options = (*s.options).clone();
        if s.platform == platform && s.external_ref == reference {
            if locators.is_empty() {
                return Err(ApiError::BadRequest("`metrics` must map at least one metric to its locator".into()));
            }
            let Some(metrics) = options.get_mut("metrics").and_then(Value::as_object_mut) else {
                return Err(ApiError::BadRequest("the source reads no metrics by locator".into()));
            };
            for (metric, locator) in locators {
                let Some(slot) = metrics.get_mut(metric) else {
                    return Err(ApiError::BadRequest(format!("the source has no metric `{metric}`")));
                };
                *slot = Value::String(locator.clone());
            }
        }
        input.push(SourceInput {
            platform: s.platform.as_str().to_owned(),
            external_ref: s.external_ref.clone(),
            options: Some(options),
            secret: None,
        });
    }
    let sources = check_sources(state, input, &kept)?;
    let patch = trawler_store::ProjectPatch { name: None, sources: Some(sources) };
    let (p, s) = state.tree.update_project(id, patch).await?;
    let reparse = match reparse {
        true => Some(run_reparse(state, id, platform, reference, None).await?),
        false => None,
    };
    Ok(RepairView { project: ProjectView::new(p, s), reparse })
}

/// A run's kept answers as a simulator fixture: `trawler sim --fixture
/// FILE` serves them again, so a layout change seen here becomes a
/// regression test (see docs/sources.md).
#[utoipa::path(get, path = "/api/v1/runs/{id}/fixture", tag = "archive", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, description = "The fixture (format `trawler-fixture/1`)", content_type = "application/json"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_fixture(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let run = RunId(id.into_inner());
    let (project, sources, rows) = db(&state, move |conn| {
        let r = Run::get(conn, run)?;
        let filter = ResponseFilter { run_id: Some(run), limit: 1_000, ..ResponseFilter::default() };
        let mut rows = Vec::new();
        for row in Archive::list(conn, r.project_id, &filter)?.into_iter().rev() {
            // An answer the bounds dropped since the listing is left out.
            if let Some(kept) = Archive::get(conn, row.id)? {
                rows.push(kept);
            }
        }
        Ok((r.project_id, Source::list_for_project(conn, r.project_id)?, rows))
    })
    .await?;
    if rows.is_empty() {
        return Err(ApiError::Refused(ErrorCode::ResponseNotFound, format!("run {} kept no answers", run.0)));
    }
    let mut out: Vec<FixtureSource> = Vec::new();
    for (row, body) in rows {
        let answer =
            FixtureAnswer::new(row.fetched_at_ms, u16::try_from(row.status).unwrap_or(0), row.header_pairs(), body);
        if let Some(s) = out.iter_mut().find(|s| s.platform == row.platform && s.external_ref == row.external_ref) {
            s.answers.push(answer);
            continue;
        }
        let mut options = sources
            .iter()
            .find(|s| s.platform.as_str() == row.platform && s.external_ref == row.external_ref)
            .map_or_else(|| serde_json::json!({}), |s| (*s.options).clone());
        if let Some(o) = options.as_object_mut() {
            o.insert("url".into(), Value::String(trawler_domain::fixture::url_template(&row.platform)));
            o.remove("paginate");
        }
        out.push(FixtureSource {
            platform: row.platform,
            external_ref: row.external_ref,
            options,
            answers: vec![answer],
        });
    }
    let fixture = Fixture {
        format: trawler_domain::fixture::FORMAT.into(),
        project_id: project.0,
        run_id: Some(run.0),
        sources: out,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"run-{}-fixture.json\"", run.0)))
        .json(fixture))
}
