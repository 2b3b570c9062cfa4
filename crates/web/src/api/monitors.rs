//! Monitors on a project's numbers: its rules (read, replace) and its
//! alerts.

use actix_web::{web, HttpResponse};
use trawler_domain::monitor::ProjectMonitors;
use trawler_domain::ProjectId;
use trawler_store::{Alert, Project};

use crate::api::Body;
use crate::auth::{Admin, Reader};
use crate::service::{db, Data};
use crate::views::*;
use crate::{ApiError, ErrorCode};

/// The shortest stale duration a rule may set.
const MIN_STALE: std::time::Duration = std::time::Duration::from_secs(1);

fn view(state: &Data, project: &Project) -> MonitorsView {
    let own = project.monitors.as_deref().cloned().unwrap_or_default();
    let d = &state.tree.config().monitors;
    MonitorsView {
        project_id: project.id.0,
        rules: serde_json::to_value(&own.rules).unwrap_or_default(),
        silenced: own.silenced.iter().map(|k| k.as_str().to_owned()).collect(),
        defaults: MonitorDefaultsView {
            enabled: d.enabled,
            stale_after: d.stale_after.to_string(),
            drop_tolerance: d.drop_tolerance,
            jump_factor: d.jump_factor,
            funded_milestones: d.funded_milestones.clone(),
        },
    }
}

/// A project's own monitor settings from a client (`None`: the defaults
/// alone); a rule that does not hold is a 422 naming its field.
pub(crate) fn check_monitors(raw: &serde_json::Value) -> Result<Option<ProjectMonitors>, ApiError> {
    let monitors =
        ProjectMonitors::parse(raw, MIN_STALE).map_err(|e| ApiError::Refused(ErrorCode::InvalidMonitor, e))?;
    Ok(Some(monitors).filter(|m| *m != ProjectMonitors::default()))
}

/// A project's monitor rules and silenced monitors, with the node's
/// defaults.
#[utoipa::path(get, path = "/api/v1/projects/{id}/monitors", tag = "monitors",
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = MonitorsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_monitors(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let project = db(&state, move |conn| Project::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(view(&state, &project)))
}

/// Replaces a project's monitor rules and silenced monitors. A rule that
/// does not hold is refused (422, the field named) and nothing changes.
#[utoipa::path(put, path = "/api/v1/projects/{id}/monitors", tag = "monitors",
    params(("id" = i64, Path, description = "Project id")), request_body = PutMonitors,
    responses((status = 200, body = MonitorsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "A rule that does not hold", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_monitors(_: Admin, state: Data, id: web::Path<i64>, body: Body) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let monitors = check_monitors(&serde_json::Value::Object(body.into_inner()))?;
    let (project, _) = state.tree.set_monitors(id, monitors).await?;
    Ok(HttpResponse::Ok().json(view(&state, &project)))
}

/// A project's alerts, newest first: the open ones, or every one kept.
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/alerts", tag = "monitors",
    params(("id" = i64, Path, description = "Project id"), AlertQuery),
    responses((status = 200, body = AlertList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_alerts(reader: Reader, state: Data, q: web::Query<AlertQuery>) -> Result<HttpResponse, ApiError> {
    let project = reader.project;
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => return Err(ApiError::BadRequest(format!("`state` must be `open` or `all`, not `{other}`"))),
    };
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(ApiError::BadRequest("`limit` must be a whole number from 1 to 1000".into())),
        },
    };
    let alerts = db(&state, move |conn| {
        Project::get(conn, project)?;
        Alert::list(conn, project, open_only, limit)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .json(AlertList { project_id: project.0, alerts: alerts.into_iter().map(AlertView::from).collect() }))
}
