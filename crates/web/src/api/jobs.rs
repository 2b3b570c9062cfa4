//! Jobs: a bulk action over every project a filter matches, started,
//! listed, followed and cancelled.

use std::time::Duration;

use actix_web::{web, HttpResponse};

use super::{from_body, Body};
use crate::auth::Admin;
use crate::jobs::{start_job, Job};
use crate::service::Data;
use crate::views::*;
use crate::{ApiError, ErrorCode};

/// Starts a job: the action applies, in the background, to every project
/// the filter matches now. No match starts nothing (`matched: 0`, `job:
/// null`), nor does a dry run.
#[utoipa::path(post, path = "/api/v1/admin/jobs", tag = "admin", request_body = StartJob,
    responses((status = 202, description = "A job started", body = JobStarted),
        (status = 200, description = "Nothing started: no match, or a dry run", body = JobStarted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "`filter_changed`: the filter matches another number than `expect`", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "The node runs its most jobs at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn start_jobs(
    _: Admin,
    state: Data,
    req: actix_web::HttpRequest,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let request: StartJob = from_body(body)?;
    let actor = crate::audit::actor_of(&req);
    let started = start_job(&state, request, actor).await?;
    let job = started.job.as_ref().map(|j| j.progress.id);
    crate::audit::note(&req, Vec::new(), Some(serde_json::json!({"job": job, "matched": started.matched})));
    Ok(match started.job {
        Some(_) => HttpResponse::Accepted().json(started),
        None => HttpResponse::Ok().json(started),
    })
}

/// This node's jobs: running ones and the last 100 that ended, newest first.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin",
    responses((status = 200, body = JobList), (status = 401, body = ErrorBody)))]
pub async fn list_jobs(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(JobList { jobs: state.jobs.list() }))
}

fn job(state: &Data, id: &str) -> Result<std::sync::Arc<Job>, ApiError> {
    match id.parse::<u64>() {
        Ok(id) => state.jobs.find(id),
        Err(_) => Err(ApiError::Refused(ErrorCode::JobNotFound, format!("no job {id} on this node"))),
    }
}

/// One job, with the projects it skipped and why.
#[utoipa::path(get, path = "/api/v1/admin/jobs/{id}", tag = "admin",
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_job(_: Admin, state: Data, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(job(&state, &id)?.view()))
}

/// Cancels a running job before its next batch (at most 20 projects
/// later); the projects not reached are left alone.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/cancel", tag = "admin",
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, description = "Cancelling: the job ends at its next batch", body = JobView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`job_not_running`", body = ErrorBody)))]
pub async fn cancel_job(_: Admin, state: Data, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let job = job(&state, &id)?;
    if !job.cancel() {
        return Err(ApiError::Refused(ErrorCode::JobNotRunning, format!("job {id} has ended")));
    }
    Ok(HttpResponse::Ok().json(job.view()))
}

/// How often an idle job stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A job's progress as it goes: an `event: progress` (`JobProgress`) at
/// once and after each batch, and one `event: done` (`JobView`, with its
/// skips) when it ends; then the stream closes.
#[utoipa::path(get, path = "/api/v1/admin/jobs/{id}/events", tag = "admin",
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn job_events(_: Admin, state: Data, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let job = job(&state, &id)?;
    let permit = state.limits.streams.enter(None)?;
    let mut rx = job.watch();
    rx.mark_changed();
    let mut tick = tokio::time::interval(KEEP_ALIVE);
    tick.reset();
    let body = futures_util::stream::unfold(Some((rx, tick, permit)), |s| async move {
        let (mut rx, mut tick, permit) = s?;
        let bytes = tokio::select! {
            changed = rx.changed() => {
                let view = rx.borrow_and_update().clone();
                match (changed, view.progress.state) {
                    (Ok(()), JobState::Running) => frame("progress", &view.progress),
                    // Ended (or the job was forgotten): the whole report, then the end.
                    _ => return Some((Ok::<_, actix_web::Error>(frame("done", &view)), None)),
                }
            }
            _ = tick.tick() => web::Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok(bytes), Some((rx, tick, permit))))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

fn frame(name: &str, value: &impl serde::Serialize) -> web::Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    web::Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}
