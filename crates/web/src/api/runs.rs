//! Runs: a project's, a search over all, one with its log, and cancel.

use actix_web::{web, HttpRequest, HttpResponse};
use trawler_domain::{ProjectId, RunId};
use trawler_store::{Project, Run};

use crate::auth::Admin;
use crate::service::{db, Data};
use crate::views::*;
use crate::ApiError;

/// A project's runs, newest first, without logs.
#[utoipa::path(get, path = "/api/v1/projects/{id}/runs", tag = "runs",
    params(("id" = i64, Path, description = "Project id"), RunsParams),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_runs(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<RunsParams>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("`limit` must be between 1 and 500".into()));
    }
    let runs = db(&state, move |conn| {
        Project::get(conn, id)?;
        Run::list_for_project(conn, id, limit)
    })
    .await?;
    // The list leaves logs out; GET /runs/{id} has them.
    Ok(HttpResponse::Ok().json(RunList { project_id: id.0, runs: runs.into_iter().map(RunBrief::from).collect() }))
}

/// Runs across projects, newest first, filtered by platform, outcome,
/// node, project and start time.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunSearchParams),
    responses((status = 200, body = RunSearch), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn search_runs(_: Admin, state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let f = crate::filters::Filters::parse(req.query_string(), false)?;
    let mut limit = 50;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if k == "limit" {
            limit = v
                .parse()
                .ok()
                .filter(|l| (1..=500).contains(l))
                .ok_or_else(|| ApiError::BadRequest("`limit` must be between 1 and 500".into()))?;
        }
    }
    let labelled = f.clone();
    let runs = db(&state, move |conn| {
        let filter = labelled.run_filter_in(conn, limit)?;
        Run::search(conn, &filter)
    })
    .await?;
    let next = (runs.len() as i64 == limit)
        .then(|| f.next_runs("/api/v1/runs", runs.last().map_or(0, |r| r.id.0), Some(limit)));
    Ok(HttpResponse::Ok().json(RunSearch { runs: runs.into_iter().map(RunBrief::from).collect(), next }))
}

/// Cancels a running run: its requests are dropped within a second, the
/// points stored so far stay, and it ends `cancelled`. The next slot runs as
/// usual.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The run is not running", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn cancel_run(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let run = state.tree.cancel(RunId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(RunDetail::new(run, None)))
}

/// One run with its log.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_run(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = RunId(id.into_inner());
    let (run, kept) = db(&state, move |conn| {
        let run = Run::get(conn, id)?;
        let filter = trawler_store::ResponseFilter { run_id: Some(id), limit: 1_000, ..Default::default() };
        let kept = trawler_store::Archive::list(conn, run.project_id, &filter)?;
        Ok((run, kept))
    })
    .await?;
    let progress = match run.status {
        trawler_domain::RunStatus::Running => state.tree.run_phase(run.project_id, id).await?,
        _ => None,
    };
    let mut detail = RunDetail::new(run, progress);
    detail.responses = kept.into_iter().rev().map(ResponseView::from).collect();
    Ok(HttpResponse::Ok().json(detail))
}
