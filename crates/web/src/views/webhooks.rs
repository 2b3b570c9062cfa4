//! Webhooks and their deliveries.

use serde::{Deserialize, Serialize};
use trawler_store as store;
use utoipa::{IntoParams, ToSchema};

use super::wire::mirror_enum;

/// The body of `POST /admin/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed (http or https).
    #[schema(example = "https://hooks.example.com/trawler", max_length = 2048, pattern = "^https?://[^\\s/?#]+")]
    pub url: String,
    /// Events to send: `campaign.ended`, `project.anomaly`,
    /// `project.data_stale`, `project.failing`, `project.milestone`,
    /// `project.monitor_recovered`, `project.quarantined`,
    /// `project.recovered`, `project.slo_breached`, `project.slo_restored`,
    /// `ping`, or `*` (the default) for all.
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
    /// A project's campaign is over and its final numbers are in.
    #[schema(rename = "campaign.ended")]
    CampaignEnded,
    /// A monitor found a number moving wrong: a drop, a jump, a metric
    /// missing from a fetch.
    #[schema(rename = "project.anomaly")]
    Anomaly,
    /// A monitor found a number of a live campaign standing still too long.
    #[schema(rename = "project.data_stale")]
    DataStale,
    /// A milestone was crossed (a share of the goal, a spend).
    #[schema(rename = "project.milestone")]
    Milestone,
    /// A monitor's alert recovered (`data.monitor` says which).
    #[schema(rename = "project.monitor_recovered")]
    MonitorRecovered,
    /// A project's full scrapes failed several times in a row.
    #[schema(rename = "project.failing")]
    Failing,
    /// A project crashed too often and is quarantined.
    #[schema(rename = "project.quarantined")]
    Quarantined,
    /// A failing or quarantined project scraped successfully again.
    #[schema(rename = "project.recovered")]
    Recovered,
    /// A project's freshness fell below the target.
    #[schema(rename = "project.slo_breached")]
    SloBreached,
    /// A project's freshness is back at the target.
    #[schema(rename = "project.slo_restored")]
    SloRestored,
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

/// A webhook endpoint (its secret is never shown after creation).
#[derive(Serialize, ToSchema)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// The events it receives (`*` for all).
    pub events: Vec<String>,
    /// A note for operators.
    pub description: String,
    /// Whether events are sent to it.
    pub active: bool,
    /// When it was created, epoch ms.
    pub created_at_ms: i64,
}

impl From<store::Webhook> for Webhook {
    fn from(w: store::Webhook) -> Webhook {
        let store::Webhook { id, url, secret: _, events, description, active, created_at_ms } = w;
        Webhook { id, url, events, description, active, created_at_ms }
    }
}

mirror_enum!(
    /// Where a delivery stands.
    DeliveryStatus = store::DeliveryStatus {
        /// Not yet answered with a 2xx; attempts remain.
        Pending,
        /// Answered with a 2xx: never sent again.
        Delivered,
        /// Every attempt failed.
        Failed,
    }
);

/// One event for one webhook, with the record of its attempts.
#[derive(Serialize, ToSchema)]
pub struct Delivery {
    /// Its id, also sent as `X-Trawler-Delivery` (receivers dedupe on it).
    pub id: i64,
    /// The webhook it goes to.
    pub webhook_id: i64,
    /// The event name (`project.failing`, …).
    pub event: String,
    /// The project the event is about, if any.
    pub project_id: Option<i64>,
    /// The JSON body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due, epoch ms (pending only).
    pub next_attempt_at_ms: i64,
    /// When the last attempt was made, epoch ms.
    pub last_attempt_at_ms: Option<i64>,
    /// The HTTP status of the last answer.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When a 2xx answer came, epoch ms.
    pub delivered_at_ms: Option<i64>,
    /// When the event happened, epoch ms.
    pub created_at_ms: i64,
}

impl From<store::Delivery> for Delivery {
    fn from(d: store::Delivery) -> Delivery {
        let store::Delivery {
            id,
            webhook_id,
            event,
            project_id,
            payload,
            status,
            attempts,
            next_attempt_at_ms,
            last_attempt_at_ms,
            last_status_code,
            last_error,
            delivered_at_ms,
            created_at_ms,
        } = d;
        Delivery {
            id,
            webhook_id,
            event,
            project_id: project_id.map(|p| p.0),
            payload,
            status: status.into(),
            attempts,
            next_attempt_at_ms,
            last_attempt_at_ms,
            last_status_code,
            last_error,
            delivered_at_ms,
            created_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_shown_without_its_secret() {
        let stored = store::Webhook {
            id: 1,
            url: "http://127.0.0.1:9/hook".into(),
            secret: "sealed-secret".into(),
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            created_at_ms: 0,
        };
        let shown = serde_json::to_value(Webhook::from(stored)).expect("serialises");
        assert_eq!(shown.get("secret"), None);
        assert!(!shown.to_string().contains("sealed-secret"), "{shown}");
        assert_eq!(shown["url"], "http://127.0.0.1:9/hook");
    }
}
