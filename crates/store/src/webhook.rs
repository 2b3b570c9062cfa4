//! Webhooks and their outbox. An event becomes one delivery row per
//! subscribed webhook in the same write; a dispatcher sends due rows and
//! records each attempt, so a delivery survives restarts and one that got a
//! 2xx answer is never sent again.

use diesel::prelude::*;
use trawler_domain::{now_millis, ProjectId};

use crate::schema::{webhook_deliveries as wd, webhooks};
use crate::{AnyConnection, StoreError, StoreResult};

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: String,
    /// The events it receives (`*` for all).
    pub events: Vec<String>,
    /// A note for operators.
    pub description: String,
    /// Whether events are sent to it.
    pub active: bool,
    /// When it was created, epoch ms.
    pub created_at_ms: i64,
}

impl Webhook {
    /// Whether it receives `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// A webhook to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where events are POSTed.
    pub url: String,
    /// The signing key.
    pub secret: String,
    /// The events it receives (`*` for all).
    pub events: Vec<String>,
    /// A note for operators.
    pub description: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhooks)]
struct WebhookRow {
    id: i64,
    url: String,
    secret: String,
    events: String,
    description: String,
    active: bool,
    created_at_ms: i64,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Webhook {
        Webhook {
            id: r.id,
            url: r.url,
            secret: r.secret,
            events: r.events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect(),
            description: r.description,
            active: r.active,
            created_at_ms: r.created_at_ms,
        }
    }
}

impl Webhook {
    /// Stores a webhook.
    pub fn create(conn: &mut AnyConnection, new: &NewWebhook) -> StoreResult<Webhook> {
        let events = new.events.join(",");
        let now = now_millis();
        let id: i64 = db_run!(conn: {
            diesel::insert_into(webhooks::table)
                .values((
                    webhooks::url.eq(&new.url),
                    webhooks::secret.eq(&new.secret),
                    webhooks::events.eq(&events),
                    webhooks::description.eq(&new.description),
                    webhooks::active.eq(true),
                    webhooks::created_at_ms.eq(now),
                ))
                .returning(webhooks::id)
                .get_result(conn)?
        });
        Webhook::get(conn, id)
    }

    /// One webhook, or `NotFound`.
    pub fn get(conn: &mut AnyConnection, id: i64) -> StoreResult<Webhook> {
        let row: Option<WebhookRow> = db_run!(conn: {
            webhooks::table.find(id).select(WebhookRow::as_select()).first(conn).optional()?
        });
        Ok(row.ok_or(StoreError::NotFound("webhook"))?.into())
    }

    /// Every webhook, oldest first.
    pub fn list(conn: &mut AnyConnection) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = db_run!(conn: {
            webhooks::table.order(webhooks::id).select(WebhookRow::as_select()).load(conn)?
        });
        Ok(rows.into_iter().map(Webhook::from).collect())
    }

    /// Turns a webhook on or off; pending deliveries wait while it is off.
    pub fn set_active(conn: &mut AnyConnection, id: i64, active: bool) -> StoreResult<Webhook> {
        let n = db_run!(conn: {
            diesel::update(webhooks::table.find(id)).set(webhooks::active.eq(active)).execute(conn)?
        });
        if n == 0 {
            return Err(StoreError::NotFound("webhook"));
        }
        Webhook::get(conn, id)
    }

    /// Deletes a webhook and its delivery log.
    pub fn delete(conn: &mut AnyConnection, id: i64) -> StoreResult<()> {
        let n = crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            Ok(db_run!(conn: {
                diesel::delete(wd::table.filter(wd::webhook_id.eq(id))).execute(conn)?;
                diesel::delete(webhooks::table.find(id)).execute(conn)?
            }))
        })?;
        if n == 0 {
            return Err(StoreError::NotFound("webhook"));
        }
        Ok(())
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; attempts remain.
    Pending,
    /// Answered with a 2xx: never sent again.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<DeliveryStatus> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(StoreError::Corrupt(format!("delivery status `{other}`"))),
        }
    }
}

/// One event for one webhook, with the record of its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id, also sent as `X-Trawler-Delivery` (receivers dedupe on it).
    pub id: i64,
    /// The webhook it goes to.
    pub webhook_id: i64,
    /// The event name (`project.failing`, …).
    pub event: String,
    /// The project the event is about, if any.
    pub project_id: Option<ProjectId>,
    /// The JSON body sent.
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

#[derive(Queryable, Selectable)]
#[diesel(table_name = wd)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event: String,
    project_id: Option<i64>,
    payload: String,
    status: String,
    attempts: i32,
    next_attempt_at_ms: i64,
    last_attempt_at_ms: Option<i64>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    delivered_at_ms: Option<i64>,
    created_at_ms: i64,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event: r.event,
            project_id: r.project_id.map(ProjectId),
            payload: serde_json::from_str(&r.payload).map_err(|e| StoreError::Corrupt(format!("payload: {e}")))?,
            status: DeliveryStatus::parse(&r.status)?,
            attempts: r.attempts,
            next_attempt_at_ms: r.next_attempt_at_ms,
            last_attempt_at_ms: r.last_attempt_at_ms,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            delivered_at_ms: r.delivered_at_ms,
            created_at_ms: r.created_at_ms,
        })
    }
}

/// A due delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery (its body is `payload`).
    pub delivery: Delivery,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's signing key.
    pub secret: String,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered {
        /// Its status code.
        status: u16,
    },
    /// No answer, or a non-2xx one.
    Failed {
        /// The status code, if an answer came.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When to try again; `None` when attempts are used up.
        retry_at_ms: Option<i64>,
    },
}

impl Delivery {
    /// Queues `event` for every active webhook that wants it; returns the new deliveries' ids.
    pub fn enqueue(
        conn: &mut AnyConnection,
        event: &str,
        project: Option<ProjectId>,
        payload: &serde_json::Value,
    ) -> StoreResult<Vec<i64>> {
        let hooks: Vec<Webhook> = Webhook::list(conn)?.into_iter().filter(|w| w.wants(event)).collect();
        let mut ids = Vec::with_capacity(hooks.len());
        for hook in &hooks {
            ids.push(Delivery::enqueue_to(conn, hook, event, project, payload)?);
        }
        Ok(ids)
    }

    /// Queues `event` for one webhook, whatever it subscribes to (a ping).
    pub fn enqueue_to(
        conn: &mut AnyConnection,
        hook: &Webhook,
        event: &str,
        project: Option<ProjectId>,
        payload: &serde_json::Value,
    ) -> StoreResult<i64> {
        let body = payload.to_string();
        let now = now_millis();
        Ok(db_run!(conn: {
            diesel::insert_into(wd::table)
                .values((
                    wd::webhook_id.eq(hook.id),
                    wd::event.eq(event),
                    wd::project_id.eq(project.map(|p| p.0)),
                    wd::payload.eq(&body),
                    wd::status.eq(DeliveryStatus::Pending.as_str()),
                    wd::attempts.eq(0),
                    wd::next_attempt_at_ms.eq(now),
                    wd::created_at_ms.eq(now),
                ))
                .returning(wd::id)
                .get_result(conn)?
        }))
    }

    /// Claims up to `limit` pending deliveries due at `now` (of active
    /// webhooks) for `lease_ms`: a claimed row is not due again until the
    /// lease ends, so a crash mid-send retries it and two dispatchers never
    /// send the same row at once.
    pub fn claim_due(conn: &mut AnyConnection, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<DueDelivery>> {
        let rows: Vec<(DeliveryRow, String, String)> = db_run!(conn: {
            wd::table
                .inner_join(webhooks::table)
                .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(wd::next_attempt_at_ms.le(now))
                .filter(webhooks::active.eq(true))
                .order(wd::next_attempt_at_ms)
                .limit(limit)
                .select((DeliveryRow::as_select(), webhooks::url, webhooks::secret))
                .load(conn)?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (row, url, secret) in rows {
            let (id, due) = (row.id, row.next_attempt_at_ms);
            let claimed = db_run!(conn: {
                diesel::update(
                    wd::table
                        .filter(wd::id.eq(id))
                        .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
                        .filter(wd::next_attempt_at_ms.eq(due)),
                )
                .set(wd::next_attempt_at_ms.eq(now + lease_ms))
                .execute(conn)?
            });
            if claimed == 1 {
                out.push(DueDelivery { delivery: row.try_into()?, url, secret });
            }
        }
        Ok(out)
    }

    /// Records an attempt.
    pub fn record(conn: &mut AnyConnection, id: i64, attempt: &Attempt) -> StoreResult<()> {
        let now = now_millis();
        let n = db_run!(conn: {
            match attempt {
                Attempt::Delivered { status } => diesel::update(wd::table.find(id))
                    .set((
                        wd::status.eq(DeliveryStatus::Delivered.as_str()),
                        wd::attempts.eq(wd::attempts + 1),
                        wd::last_attempt_at_ms.eq(Some(now)),
                        wd::last_status_code.eq(Some(i32::from(*status))),
                        wd::last_error.eq(None::<String>),
                        wd::delivered_at_ms.eq(Some(now)),
                    ))
                    .execute(conn)?,
                Attempt::Failed { status, error, retry_at_ms } => diesel::update(wd::table.find(id))
                    .set((
                        wd::status.eq(if retry_at_ms.is_some() {
                            DeliveryStatus::Pending.as_str()
                        } else {
                            DeliveryStatus::Failed.as_str()
                        }),
                        wd::attempts.eq(wd::attempts + 1),
                        wd::next_attempt_at_ms.eq(retry_at_ms.unwrap_or(now)),
                        wd::last_attempt_at_ms.eq(Some(now)),
                        wd::last_status_code.eq(status.map(i32::from)),
                        wd::last_error.eq(Some(error.as_str())),
                    ))
                    .execute(conn)?,
            }
        });
        if n == 0 {
            return Err(StoreError::NotFound("delivery"));
        }
        Ok(())
    }

    /// When the next pending delivery of an active webhook is due, epoch ms.
    pub fn next_due_ms(conn: &mut AnyConnection) -> StoreResult<Option<i64>> {
        Ok(db_run!(conn: {
            wd::table
                .inner_join(webhooks::table)
                .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(webhooks::active.eq(true))
                .select(diesel::dsl::min(wd::next_attempt_at_ms))
                .first::<Option<i64>>(conn)?
        }))
    }

    /// A webhook's deliveries, newest first.
    pub fn list_for_webhook(conn: &mut AnyConnection, webhook: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = db_run!(conn: {
            wd::table
                .filter(wd::webhook_id.eq(webhook))
                .order(wd::id.desc())
                .limit(limit)
                .select(DeliveryRow::as_select())
                .load(conn)?
        });
        rows.into_iter().map(Delivery::try_from).collect()
    }
}
