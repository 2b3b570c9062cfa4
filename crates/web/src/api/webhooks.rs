//! Webhook routes under `/api/v1/admin/webhooks`: create, list, switch on
//! and off, delete, ping, and the delivery log.

use actix_web::{web, HttpResponse};
use trawler_actors::{webhook, WEBHOOK_EVENTS};
use trawler_store::{self as store, NewWebhook};

use crate::api::{from_body, Body};
use crate::auth::Admin;
use crate::service::{db, Data};
use crate::views::*;
use crate::ApiError;

fn check_events(events: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let events = events.unwrap_or_else(|| vec!["*".to_owned()]);
    if events.is_empty() {
        return Err(ApiError::BadRequest("`events` must name at least one event, or `*`".into()));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        let e = e.trim().to_owned();
        if e != "*" && !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown event `{e}` (expected `*` or any of {})",
                WEBHOOK_EVENTS.join(", ")
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Adds a webhook. Without `secret`, one is generated and returned once.
#[utoipa::path(post, path = "/api/v1/admin/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_webhook(_: Admin, state: Data, body: Body) -> Result<HttpResponse, ApiError> {
    let body: CreateWebhook = from_body(body)?;
    let url = body.url.trim().to_owned();
    if url.len() > 2048 {
        return Err(ApiError::BadRequest("`url` must be at most 2048 characters".into()));
    }
    // The same rules as a platform fetch: scheme, egress allowlist and,
    // for IP literals, the private-address guard.
    state.tree.adapters().http().check_url(&url).map_err(|e| ApiError::BadRequest(format!("url: {e}")))?;
    let events = check_events(body.events)?;
    let description = body.description.unwrap_or_default();
    if description.chars().count() > 500 || description.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "`description` must be at most 500 characters, without control characters".into(),
        ));
    }
    let (secret, generated) = match body.secret {
        Some(s) if s.len() < 16 || s.len() > 256 || s.chars().any(char::is_control) => {
            return Err(ApiError::BadRequest(
                "`secret` must be 16 to 256 characters, without control characters".into(),
            ))
        }
        Some(s) => (s, false),
        None => (webhook::random_secret().map_err(ApiError::Internal)?, true),
    };
    let new = NewWebhook { url, secret: state.tree.cipher().seal(&secret)?, events, description };
    let webhook = db(&state, move |conn| store::Webhook::create(conn, &new)).await?;
    let location = format!("/api/v1/admin/webhooks/{}", webhook.id);
    // A generated secret is shown once, here; a chosen one is never echoed.
    let view = CreatedWebhook { webhook: webhook.into(), secret: generated.then_some(secret) };
    Ok(HttpResponse::Created().insert_header(("Location", location)).json(view))
}

/// Every webhook (secrets are never returned).
#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_webhooks(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    let hooks = db(&state, store::Webhook::list).await?;
    let events = WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect();
    Ok(HttpResponse::Ok().json(WebhookList { webhooks: hooks.into_iter().map(Into::into).collect(), events }))
}

/// One webhook.
#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, body = Webhook), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_webhook(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let hook = db(&state, move |conn| store::Webhook::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(Webhook::from(hook)))
}

/// Switches a webhook on or off; deliveries wait while it is off.
#[utoipa::path(patch, path = "/api/v1/admin/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")), request_body = UpdateWebhook,
    responses((status = 200, body = Webhook), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_webhook(_: Admin, state: Data, id: web::Path<i64>, body: Body) -> Result<HttpResponse, ApiError> {
    let body: UpdateWebhook = from_body(body)?;
    let (id, active) = (id.into_inner(), body.active);
    let hook = db(&state, move |conn| store::Webhook::set_active(conn, id, active)).await?;
    if active {
        state.tree.webhooks().wake();
    }
    Ok(HttpResponse::Ok().json(Webhook::from(hook)))
}

/// Deletes a webhook and its delivery log.
#[utoipa::path(delete, path = "/api/v1/admin/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_webhook(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    db(&state, move |conn| store::Webhook::delete(conn, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queues a `ping` event to one webhook.
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/ping", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 202, body = PingQueued), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn ping_webhook(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let delivery = db(&state, move |conn| webhook::ping(conn, id)).await?;
    state.tree.webhooks().wake();
    Ok(HttpResponse::Accepted().json(PingQueued { delivery_id: delivery, webhook_id: id }))
}

/// A webhook's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), DeliveriesParams),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_deliveries(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<DeliveriesParams>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("`limit` must be between 1 and 500".into()));
    }
    let deliveries: Vec<store::Delivery> = db(&state, move |conn| {
        store::Webhook::get(conn, id)?;
        store::Delivery::list_for_webhook(conn, id, limit)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .json(DeliveryList { webhook_id: id, deliveries: deliveries.into_iter().map(Into::into).collect() }))
}
