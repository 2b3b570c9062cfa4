//! The node over time: its own samples of the last hours, from an
//! in-process ring (no Prometheus needed).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Admin;
use crate::service::Data;
use crate::ApiError;

/// `?hours=` of the history.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 1 to 6 (default 6).
    #[param(minimum = 1, maximum = 6)]
    pub hours: Option<i64>,
}

/// The node's samples, oldest first.
#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    /// The node that took them.
    pub node: String,
    /// Seconds between two samples.
    pub step_secs: u64,
    /// Each: `{ts, fetches: {"platform outcome": per second}, points,
    /// waiting: {platform: n}, in_flight: {platform: n}, spool_bytes,
    /// listeners, requests}`; rates are per second over the step.
    #[schema(value_type = Vec<Object>)]
    pub samples: Vec<trawler_actors::history::Sample>,
}

/// What this node did over the last hours, every 30 s: fetches per second
/// by platform and outcome, requests waiting at and in flight to each
/// platform, points written per second, the spool, live streams, HTTP
/// requests. Kept in memory for six hours (a restart starts it again).
#[utoipa::path(get, path = "/api/v1/admin/history", tag = "admin", params(HistoryParams),
    responses((status = 200, body = HistoryView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn get_history(_: Admin, state: Data, q: web::Query<HistoryParams>) -> Result<HttpResponse, ApiError> {
    let hours = q.hours.unwrap_or(6);
    if !(1..=6).contains(&hours) {
        return Err(ApiError::BadRequest("`hours` must be between 1 and 6".into()));
    }
    let from = trawler_domain::now_secs() - hours * 3600;
    Ok(HttpResponse::Ok().json(HistoryView {
        node: state.tree.node().to_owned(),
        step_secs: trawler_actors::history::STEP.as_secs(),
        samples: state.tree.history().since(from),
    }))
}

use crate::views::ErrorBody;
