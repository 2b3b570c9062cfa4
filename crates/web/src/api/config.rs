//! The configuration in force, and reloading it.

use actix_web::HttpResponse;

use crate::auth::Admin;
use crate::service::Data;
use crate::views::*;
use crate::{ApiError, ErrorCode};

/// Every setting in force: its value (secrets masked), where it came from,
/// whether a reload changes it live, since when it is in force, a value
/// waiting for a restart, and the last reload.
#[utoipa::path(get, path = "/api/v1/admin/config", tag = "admin",
    responses((status = 200, body = ConfigView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get_config(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(crate::reload::of(&state)?.config()))
}

/// Re-reads the configuration file and the environment (as SIGHUP does)
/// and puts in force what changes live: platform rates, cadences,
/// retention, webhooks' retries, monitors, the log level. An invalid
/// configuration is refused (422 `invalid_config`, with the reason) and the
/// old one stays in force whole.
#[utoipa::path(post, path = "/api/v1/admin/reload", tag = "admin",
    responses((status = 200, body = ReloadReport), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "`invalid_config`: the old configuration stays", body = ErrorBody)))]
pub async fn reload_config(_: Admin, state: Data, req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let report = crate::reload::of(&state)?.reload("admin").await;
    crate::audit::note(&req, Vec::new(), serde_json::to_value(&report).ok());
    match report.error {
        Some(e) if !report.ok => Err(ApiError::Refused(ErrorCode::InvalidConfig, e)),
        _ => Ok(HttpResponse::Ok().json(report)),
    }
}
