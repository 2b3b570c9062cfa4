//! Webhooks and their deliveries.

use serde::{Deserialize, Serialize};
use trawler_store::{Delivery, Webhook};
use utoipa::{IntoParams, ToSchema};

/// The body of `POST /admin/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed (http or https).
    #[schema(example = "https://hooks.example.com/trawler", max_length = 2048, pattern = "^https?://[^\\s/?#]+")]
    pub url: String,
    /// Events to send: `project.failing`, `project.quarantined`,
    /// `project.recovered`, `ping`, or `*` (the default) for all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<WebhookEvent>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// The signing secret, 16 to 256 characters without control characters;
    /// generated (and shown once) when absent.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub secret: Option<String>,
    /// A note for operators, up to 500 characters without control characters.
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub description: Option<String>,
}

/// An event a webhook can subscribe to.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the names; the handlers check strings
pub enum WebhookEvent {
    /// A project's full scrapes failed several times in a row.
    #[schema(rename = "project.failing")]
    Failing,
    /// A project crashed too often and is quarantined.
    #[schema(rename = "project.quarantined")]
    Quarantined,
    /// A failing or quarantined project scraped successfully again.
    #[schema(rename = "project.recovered")]
    Recovered,
    /// A test event.
    #[schema(rename = "ping")]
    Ping,
    /// Every event.
    #[schema(rename = "*")]
    All,
}

/// The body of `PATCH /admin/webhooks/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// Whether events are sent to it.
    pub active: bool,
}

/// A new webhook; `secret` only when it was generated.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The generated secret, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Every webhook.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    /// The webhooks.
    pub webhooks: Vec<Webhook>,
    /// The event names a webhook can subscribe to.
    pub events: Vec<String>,
}

/// A queued ping.
#[derive(Serialize, ToSchema)]
pub struct PingQueued {
    /// The delivery to look for in the log.
    pub delivery_id: i64,
    /// The webhook.
    pub webhook_id: i64,
}

/// `?limit=` of the delivery log.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A webhook's deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// The webhook.
    pub webhook_id: i64,
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
}
