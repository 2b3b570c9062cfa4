//! Projects: list, create, read, edit, archive, resume, scrape now, and
//! bulk actions.

use actix_web::{web, HttpResponse};
use trawler_domain::{now_millis, ProjectId, ProjectStatus};
use trawler_store::{Project, ProjectPatch, Source};

use super::{from_body, Body};
use crate::auth::{Admin, Reader};
use crate::service::{
    bulk_apply, check_cadence, check_currency, check_name, check_source_edit, check_sources, db, db_checked,
    set_project_status, Data,
};
use crate::views::*;
use crate::ApiError;

/// Lists projects with their sources.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListQuery),
    responses((status = 200, body = ProjectList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_projects(_: Admin, state: Data, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(
            s.parse::<ProjectStatus>()
                .map_err(|e| ApiError::BadRequest(format!("{e} (expected active, archived or all)")))?,
        ),
    };
    if q.limit.is_some_and(|l| !(1..=10_000).contains(&l)) {
        return Err(ApiError::BadRequest("`limit` must be between 1 and 10000".into()));
    }
    let (limit, after) = (q.limit, q.after.map(ProjectId));
    let labels = match q.label.as_deref() {
        None | Some("") => Vec::new(),
        Some(text) => {
            let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("label", text).finish();
            crate::filters::Filters::parse(&query, true)?.labels
        }
    };
    let views = db(&state, move |conn| {
        let projects = if labels.is_empty() {
            Project::list_page(conn, status, after, limit)?
        } else {
            // Labels are read from each project's row: filtered here, then paged.
            let mut all = Project::list(conn, status)?;
            all.retain(|p| after.is_none_or(|a| p.id > a) && p.labels.matches(&labels));
            all.sort_by_key(|p| p.id);
            all.truncate(limit.map_or(usize::MAX, |l| l as usize));
            all
        };
        let ids: Vec<ProjectId> = projects.iter().map(|p| p.id).collect();
        let mut sources: std::collections::HashMap<ProjectId, Vec<Source>> = Default::default();
        for s in Source::list_for_projects(conn, &ids)? {
            sources.entry(s.project_id).or_default().push(s);
        }
        Ok(projects
            .into_iter()
            .map(|p| {
                let own = sources.remove(&p.id).unwrap_or_default();
                ProjectView::new(p, own)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    let next_after = match limit {
        Some(l) if views.len() as i64 == l => views.last().map(|v| v.project.id),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(ProjectList { projects: views, next_after }))
}

/// Creates a project; its first full scrape starts at once.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "A cadence out of range, a monitor rule that does not hold or an unknown currency", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_project(
    _: Admin,
    state: Data,
    req: actix_web::HttpRequest,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let body: CreateProject = from_body(body)?;
    let name = check_name(&body.name)?;
    let sources = check_sources(&state, body.sources, &[])?;
    let cadence = check_cadence(&state, body.full_interval.as_ref(), body.poll_interval.as_ref())?;
    let monitors = body.monitors.as_ref().map(crate::api::monitors::check_monitors).transpose()?.flatten();
    let currency = body.reporting_currency.as_ref().map(check_currency).transpose()?.flatten();
    let labels = body.labels.as_ref().map(crate::labels::check_labels).transpose()?;
    let key = body.external_key.as_deref().map(crate::labels::check_external_key).transpose()?.flatten();
    if let Some(key) = key.clone() {
        // Refused before anything is created.
        let held = db(&state, move |conn| Project::by_external_keys(conn, std::slice::from_ref(&key))).await?;
        if let Some((key, other)) = held.into_iter().next() {
            return Err(crate::labels::taken(&key, other.id));
        }
    }
    let (mut project, sources) = state.tree.create_project(name, sources, cadence, monitors).await?;
    let id = project.id;
    crate::audit::note(&req, vec![id.0], None);
    if labels.is_some() || key.is_some() {
        let stored =
            db_checked(&state, move |conn| crate::labels::store(conn, id, labels.as_ref(), key.as_deref().map(Some)))
                .await?;
        project = stored.unwrap_or(project);
    }
    if let Some(currency) = currency {
        project =
            db(&state, move |conn| Project::set_reporting_currency(conn, id, Some(currency), now_millis())).await?;
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/projects/{id}")))
        .json(ProjectView::new(project, sources)))
}

/// One project with its sources (secrets are never returned).
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_project(reader: Reader, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let (p, s) = db(&state, move |conn| Ok((Project::get(conn, id)?, Source::list_for_project(conn, id)?))).await?;
    let view = ProjectView::new(p, s);
    Ok(HttpResponse::Ok().json(if reader.admin { view } else { view.for_reader() }))
}

/// Renames a project, replaces its sources, pauses or resumes its
/// schedule, or sets its own cadences.
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    request_body = UpdateProject,
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "A cadence out of range or an unknown currency", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_project(_: Admin, state: Data, id: web::Path<i64>, body: Body) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let body: UpdateProject = from_body(body)?;
    let name = body.name.as_deref().map(check_name).transpose()?;
    let sources = match body.sources {
        Some(s) => Some(check_source_edit(&state, id, s).await?),
        None => None,
    };
    // Checked here, to name the field: serde's own error does not.
    let paused = match body.paused {
        None => None,
        Some(serde_json::Value::Bool(b)) => Some(b),
        Some(_) => return Err(ApiError::BadRequest("`paused` must be true or false".into())),
    };
    let cadence = check_cadence(&state, body.full_interval.as_ref(), body.poll_interval.as_ref())?;
    let currency = body.reporting_currency.as_ref().map(check_currency).transpose()?;
    let labels = body.labels.as_ref().map(crate::labels::check_labels).transpose()?;
    let key = body.external_key.as_deref().map(crate::labels::check_external_key).transpose()?;
    let (mut p, mut s) = state.tree.update_project(id, ProjectPatch { name, sources }).await?;
    if labels.is_some() || key.is_some() {
        let stored = db_checked(&state, move |conn| {
            crate::labels::store(conn, id, labels.as_ref(), key.as_ref().map(Option::as_deref))
        })
        .await?;
        p = stored.unwrap_or(p);
    }
    if let Some(currency) = currency {
        p = db(&state, move |conn| Project::set_reporting_currency(conn, id, currency, now_millis())).await?;
    }
    if let Some(paused) = paused {
        (p, s) = state.tree.set_paused(id, paused).await?;
    }
    if !cadence.is_empty() {
        (p, s) = state.tree.set_cadence(id, cadence).await?;
    }
    Ok(HttpResponse::Ok().json(ProjectView::new(p, s)))
}

/// Archives a project: it is not scraped any more; its data stays readable.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn archive_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = set_project_status(&state, ProjectId(id.into_inner()), ProjectStatus::Archived).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Makes a quarantined, ended or archived project active again and starts its
/// scraper with a clean restart history.
#[utoipa::path(post, path = "/api/v1/projects/{id}/resume", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = set_project_status(&state, ProjectId(id.into_inner()), ProjectStatus::Active).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Starts a full scrape now, or joins the one in progress.
#[utoipa::path(post, path = "/api/v1/projects/{id}/scrape", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 202, body = Triggered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Archived or quarantined", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn trigger_scrape(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let run = state.tree.trigger(id).await?;
    let progress = state.tree.run_phase(id, run).await?;
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/runs/{run}"))).json(Triggered {
        run_id: run.0,
        project_id: id.0,
        status_url: format!("/api/v1/runs/{run}"),
        progress: progress.map(RunPhase::from),
    }))
}

/// Applies one action to many projects: trigger, resume or archive. Each
/// project is handled on its own; those the action does not fit (resuming
/// an active one, archiving an archived one, triggering one that is not
/// active) are skipped with the reason.
#[utoipa::path(post, path = "/api/v1/admin/projects/bulk", tag = "projects", request_body = BulkRequest,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, description = "A cadence out of range", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn bulk_projects(
    _: Admin,
    state: Data,
    req: actix_web::HttpRequest,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let body: BulkRequest = from_body(body)?;
    if body.ids.is_empty() || body.ids.len() > 10_000 {
        return Err(ApiError::BadRequest("`ids` must list 1 to 10,000 projects".into()));
    }
    let result = bulk_apply(&state, body.action, body.ids.clone(), &body.values()).await?;
    crate::audit::note(
        &req,
        result.done.iter().map(|p| p.0).collect(),
        Some(serde_json::json!({"action": body.action, "done": result.done.len(), "skipped": result.skipped.len()})),
    );
    Ok(HttpResponse::Ok().json(result))
}
