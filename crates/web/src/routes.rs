//! Every route, in one place.

use actix_web::error::{InternalError, JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::*;
use crate::ApiError;

/// Largest JSON body accepted.
const MAX_JSON_BYTES: usize = 256 * 1024;

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::ContentType => {
            ApiError::BadRequest("send a JSON body with `Content-Type: application/json`".to_owned())
        }
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")),
        other => ApiError::BadRequest(format!("invalid JSON body: {other}")),
    };
    InternalError::from_response(err, actix_web::ResponseError::error_response(&api)).into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = format!("invalid query string: {err}");
    InternalError::from_response(err, actix_web::ResponseError::error_response(&ApiError::BadRequest(message))).into()
}

fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    let message = format!("invalid path: {err}");
    InternalError::from_response(err, actix_web::ResponseError::error_response(&ApiError::BadRequest(message))).into()
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Refused(crate::ErrorCode::RouteNotFound, "no such route".into()))
}

/// A resource whose unmatched methods answer 405 in JSON, with the `Allow`
/// header listing the methods it takes.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let error = ApiError::MethodNotAllowed(format!("this route takes {allow}"));
        let mut resp = actix_web::ResponseError::error_response(&error);
        resp.headers_mut()
            .insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
        resp
    }))
}

/// Registers every route (the `AppState` must be in `app_data`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_JSON_BYTES).error_handler(json_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .service(resource("/healthz", "GET").route(web::get().to(get_healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(get_readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(get_metrics)))
        // Before the /api/v1 scope, which would otherwise take these paths.
        .service(resource("/api/v1/docs", "GET").route(
            web::get().to(|| async {
                HttpResponse::PermanentRedirect().insert_header(("Location", "/api/v1/docs/")).finish()
            }),
        ))
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs/{_:.*}")
                .url("/api/v1/openapi.json", crate::openapi::document()),
        )
        .service(
            web::scope("/api/v1")
                .service(
                    resource("/projects", "GET, POST")
                        .route(web::get().to(list_projects))
                        .route(web::post().to(create_project)),
                )
                .service(
                    resource("/projects/{id}", "GET, PATCH, DELETE")
                        .route(web::get().to(get_project))
                        .route(web::patch().to(update_project))
                        .route(web::delete().to(archive_project)),
                )
                .service(resource("/projects/{id}/scrape", "POST").route(web::post().to(trigger_scrape)))
                .service(resource("/projects/{id}/resume", "POST").route(web::post().to(resume_project)))
                .service(resource("/projects/{id}/series", "GET").route(web::get().to(get_series)))
                .service(resource("/projects/{id}/summary", "GET").route(web::get().to(get_summary)))
                .service(resource("/projects/{id}/runs", "GET").route(web::get().to(list_runs)))
                .service(
                    resource("/projects/{id}/monitors", "GET, PUT")
                        .route(web::get().to(get_monitors))
                        .route(web::put().to(put_monitors)),
                )
                .service(resource("/projects/{id}/alerts", "GET").route(web::get().to(list_alerts)))
                .service(resource("/projects/{id}/events", "GET").route(web::get().to(crate::sse::project_events)))
                .service(resource("/tokens", "POST").route(web::post().to(crate::api::tokens::create_set_token)))
                .service(
                    resource("/projects/{id}/tokens", "GET, POST")
                        .route(web::get().to(crate::api::tokens::list_tokens))
                        .route(web::post().to(crate::api::tokens::create_token)),
                )
                .service(
                    resource("/projects/{id}/tokens/{token_id}", "DELETE")
                        .route(web::delete().to(crate::api::tokens::revoke_token)),
                )
                .service(
                    resource("/projects/{id}/tokens/{token_id}/rotate", "POST")
                        .route(web::post().to(crate::api::tokens::rotate_token)),
                )
                .service(
                    resource("/projects/{id}/points", "POST").route(web::post().to(crate::api::import::import_points)),
                )
                .service(resource("/projects/{id}/export.csv", "GET").route(web::get().to(export_csv)))
                .service(resource("/projects/{id}/export.jsonl", "GET").route(web::get().to(export_jsonl)))
                .service(resource("/runs", "GET").route(web::get().to(search_runs)))
                .service(resource("/runs/{id}", "GET").route(web::get().to(get_run)))
                .service(resource("/runs/{id}/cancel", "POST").route(web::post().to(cancel_run)))
                .service(resource("/runs/{id}/fixture", "GET").route(web::get().to(get_fixture)))
                .service(resource("/projects/{id}/responses", "GET").route(web::get().to(list_responses)))
                .service(resource("/projects/{id}/breaks", "GET").route(web::get().to(list_breaks)))
                .service(resource("/projects/{id}/reparse", "POST").route(web::post().to(reparse)))
                .service(resource("/projects/{id}/repair", "POST").route(web::post().to(repair)))
                .service(resource("/responses/{id}", "GET").route(web::get().to(get_response)))
                .service(resource("/responses/{id}/body", "GET").route(web::get().to(get_response_body)))
                .service(resource("/admin/actors", "GET").route(web::get().to(get_actors)))
                .service(resource("/admin/platforms", "GET").route(web::get().to(get_platforms)))
                .service(resource("/admin/cluster", "GET").route(web::get().to(get_cluster)))
                .service(resource("/admin/projects/bulk", "POST").route(web::post().to(bulk_projects)))
                .service(resource("/admin/projects/import", "POST").route(web::post().to(import_projects)))
                .service(
                    resource("/admin/jobs", "GET, POST")
                        .route(web::get().to(list_jobs))
                        .route(web::post().to(start_jobs)),
                )
                .service(resource("/admin/jobs/{id}", "GET").route(web::get().to(get_job)))
                .service(resource("/admin/jobs/{id}/cancel", "POST").route(web::post().to(cancel_job)))
                .service(resource("/admin/jobs/{id}/events", "GET").route(web::get().to(job_events)))
                .service(resource("/admin/config", "GET").route(web::get().to(get_config)))
                .service(resource("/admin/audit", "GET").route(web::get().to(get_audit)))
                .service(
                    resource("/admin/users", "GET, POST")
                        .route(web::get().to(list_users))
                        .route(web::post().to(create_user)),
                )
                .service(
                    resource("/admin/users/{name}", "PATCH, DELETE")
                        .route(web::patch().to(update_user))
                        .route(web::delete().to(delete_user)),
                )
                .service(resource("/admin/audit.jsonl", "GET").route(web::get().to(export_audit)))
                .service(resource("/admin/reload", "POST").route(web::post().to(reload_config)))
                .service(resource("/admin/freshness", "GET").route(web::get().to(get_freshness)))
                .service(resource("/admin/history", "GET").route(web::get().to(get_history)))
                .service(resource("/admin/events", "GET").route(web::get().to(crate::sse::admin_events)))
                .service(
                    resource("/admin/webhooks", "GET, POST")
                        .route(web::get().to(list_webhooks))
                        .route(web::post().to(create_webhook)),
                )
                .service(
                    resource("/admin/webhooks/{id}", "GET, PATCH, DELETE")
                        .route(web::get().to(get_webhook))
                        .route(web::patch().to(update_webhook))
                        .route(web::delete().to(delete_webhook)),
                )
                .service(resource("/admin/webhooks/{id}/ping", "POST").route(web::post().to(ping_webhook)))
                .service(resource("/admin/webhooks/{id}/deliveries", "GET").route(web::get().to(list_deliveries))),
        )
        .configure(crate::ui::configure)
        .default_service(web::to(not_found));
}

pub use crate::audit::method_label;

/// Counts a served request in the node's metrics, by route pattern (not the
/// raw path, which would make every project id a new series) and method
/// from a fixed set (see [`method_label`]).
pub fn record_request(
    state: &crate::AppState,
    method: &actix_web::http::Method,
    route: Option<String>,
    status: u16,
    seconds: f64,
) {
    let metrics = state.tree.metrics();
    let labels = trawler_actors::metrics::HttpLabels {
        method: method_label(method).to_owned(),
        route: route.unwrap_or_else(|| "unmatched".into()),
        status: status.to_string(),
    };
    metrics.http_requests.get_or_create(&labels).inc();
    metrics.http_seconds.observe(seconds);
}
