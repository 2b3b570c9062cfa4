//! Liveness, readiness and the Prometheus metrics.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};

use crate::auth::MetricsReader;
use crate::service::Data;
use crate::views::*;
use crate::ApiError;

/// Whether the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Whether the node can serve: database reachable, migrations applied,
/// supervisor started.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "Ready", body = Ready), (status = 503, description = "Not ready", body = Ready)))]
pub async fn get_readyz(state: Data) -> HttpResponse {
    let pool = state.pool.clone();
    let database =
        web::block(move || pool.ping()).await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    let migrations = state.migrated.load(Ordering::Acquire);
    let supervisor = state.tree.is_started().await;
    let ready = database.is_ok() && migrations && supervisor;
    if let Err(e) = &database {
        log::warn!("readyz: database: {e}");
    }
    let body = Ready {
        status: if ready { "ready" } else { "not_ready" }.into(),
        checks: ReadyChecks {
            database: if database.is_ok() { "ok" } else { "unreachable" }.into(),
            migrations: if migrations { "applied" } else { "pending" }.into(),
            supervisor: if supervisor { "started" } else { "starting" }.into(),
        },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "admin",
    responses((status = 200, description = "OpenMetrics when the Accept header asks for it, else the Prometheus text format",
        content((String = "text/plain"), (String = "application/openmetrics-text"))), (status = 401, body = ErrorBody)))]
pub async fn get_metrics(_: MetricsReader, state: Data, req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let text = state.tree.render_metrics().await?;
    // Content negotiation, as Prometheus' own clients do: OpenMetrics for
    // scrapers that ask for it, the classic text format otherwise.
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("application/openmetrics-text") {
        Ok(HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text))
    } else {
        Ok(HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(trawler_actors::metrics::to_prometheus_text(&text)))
    }
}
