//! Webhooks: a watcher turns events into deliveries (failure streaks,
//! quarantines, recoveries), an SLO check turns freshness crossing its
//! target into deliveries, and a dispatcher sends them.
//!
//! Deliveries live in the database (an outbox), so a restart loses none and
//! retries resume where they stopped; a delivery answered with a 2xx is
//! never sent again. Each body is signed with HMAC-SHA256 over
//! `"{timestamp}.{body}"` with the webhook's secret, sent as
//! `X-Trawler-Signature: t=<unix seconds>,v1=<hex>`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use serde_json::{json, Value};
use tokio::sync::{broadcast, Notify};
use trawler_domain::{now_millis, ProjectId, RunStatus};
use trawler_sources::HttpClient;
use trawler_store::{Attempt, Delivery, DueDelivery, Project, StoreResult, Webhook};

use crate::db::{DbExecutor, Exec};
use crate::events::{Event, EventBus};
use crate::metrics::Metrics;
use crate::quiet::{Heard, QUIET_FOR};
use crate::task::spawn_supervised;

/// The events a webhook can subscribe to.
pub const WEBHOOK_EVENTS: [&str; 11] = [
    "campaign.ended",
    "project.anomaly",
    "project.data_stale",
    "project.failing",
    "project.milestone",
    "project.monitor_recovered",
    "project.quarantined",
    "project.recovered",
    "project.slo_breached",
    "project.slo_restored",
    "ping",
];

/// Settings of webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Consecutive failed full scrapes that send `project.failing`.
    pub failure_streak: u32,
    /// Attempts at one delivery before it is marked failed.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each attempt.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub max_retry_delay: Duration,
    /// Deliveries sent at once.
    pub concurrency: usize,
    /// How often every active project's 24-hour freshness is checked
    /// against the SLO target (`project.slo_breached` / `slo_restored`).
    pub slo_check_every: Duration,
}

impl Default for WebhookConfig {
    /// Delivery under the default settings.
    fn default() -> Self {
        crate::ActorsSettings::default().webhooks()
    }
}

impl WebhookConfig {
    /// The wait after the `attempt`-th failed attempt (1-based).
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(factor).min(self.max_retry_delay)
    }
}

/// `t=<secs>,v1=<hex HMAC-SHA256(secret, "{secs}.{body}")>,v2=<hex
/// HMAC-SHA256(secret, "{secs}.{delivery id}.{body}")>`. `v2` also binds the
/// delivery id (`X-Trawler-Delivery`), so a replay cannot pass itself off
/// as another delivery; `v1` stays for receivers written against it.
pub fn signature(secret: &str, timestamp: i64, delivery: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let hex = |parts: &[&[u8]]| -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
        for part in parts {
            ctx.update(part);
        }
        ctx.sign().as_ref().iter().map(|b| format!("{b:02x}")).collect()
    };
    let (t, id) = (timestamp.to_string(), delivery.to_string());
    let v1 = hex(&[t.as_bytes(), b".", body]);
    let v2 = hex(&[t.as_bytes(), b".", id.as_bytes(), b".", body]);
    format!("t={timestamp},v1={v1},v2={v2}")
}

/// A random secret for a webhook created without one: 32 bytes, hex.
pub fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "the system random source failed".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The handle the tree keeps: wakes the dispatcher when deliveries are added.
#[derive(Clone)]
pub struct Webhooks {
    wake: Arc<Notify>,
    db: Addr<DbExecutor>,
}

impl Webhooks {
    /// Starts the watcher and the dispatcher on the current actix system.
    pub(crate) fn start(
        live: crate::live::Live,
        cipher: Arc<trawler_store::Cipher>,
        db: Addr<DbExecutor>,
        http: HttpClient,
        bus: &EventBus,
        metrics: Metrics,
    ) -> Webhooks {
        let wake = Arc::new(Notify::new());
        let hooks = Webhooks { wake: wake.clone(), db: db.clone() };
        let watcher =
            Watcher { live: live.clone(), hooks: hooks.clone(), streaks: HashMap::new(), alerted: HashSet::new() };
        let bus = bus.clone();
        spawn_supervised("webhook_watcher", metrics.clone(), move || watcher.clone().run(bus.subscribe()));
        let (slo_live, slo_hooks) = (live.clone(), hooks.clone());
        spawn_supervised("slo_watcher", metrics.clone(), move || watch_slo(slo_live.clone(), slo_hooks.clone()));
        let m = metrics.clone();
        spawn_supervised("webhook_dispatch", metrics, move || {
            dispatch(live.clone(), cipher.clone(), db.clone(), http.clone(), wake.clone(), m.clone())
        });
        hooks
    }

    /// Wakes the dispatcher (a delivery was added).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Queues an event for every webhook that wants it.
    async fn enqueue(&self, event: &'static str, project: Option<ProjectId>, data: Value) {
        let result = self
            .db
            .send(Exec(move |conn| {
                let name = match project {
                    Some(p) => Project::get(conn, p).ok().map(|p| p.name),
                    None => None,
                };
                let body = payload(event, project, name, data);
                Delivery::enqueue(conn, event, project, &body)
            }))
            .await;
        match result {
            Ok(Ok(ids)) if !ids.is_empty() => self.wake(),
            Ok(Ok(_)) => {}
            other => log::warn!("webhooks: queueing {event} failed: {other:?}"),
        }
    }
}

/// The body of a delivery.
pub fn payload(event: &str, project: Option<ProjectId>, name: Option<String>, data: Value) -> Value {
    let now = now_millis();
    json!({
        "event": event,
        "created_at": trawler_domain::time::rfc3339(now / 1000),
        "created_at_ms": now,
        "project": project.map(|p| json!({"id": p, "name": name})),
        "data": data,
    })
}

/// Turns events into deliveries.
#[derive(Clone)]
struct Watcher {
    /// The configuration in force (its failure streak).
    live: crate::live::Live,
    hooks: Webhooks,
    /// Consecutive failed full scrapes per project.
    streaks: HashMap<ProjectId, u32>,
    /// Projects told about as failing or quarantined, waiting for a recovery.
    alerted: HashSet<ProjectId>,
}

impl Watcher {
    async fn run(mut self, mut rx: broadcast::Receiver<crate::events::Shared>) {
        // A node flooded with events falls behind many times a second:
        // a line per while (see `crate::quiet`), the count of the rest
        // with the first event after it.
        let mut quiet = crate::quiet::Quiet::default();
        let mut counted = false;
        loop {
            let event = rx.recv().await;
            if counted {
                if let Some(held) = quiet.take_after(std::time::Instant::now()) {
                    log::warn!("webhooks: fell {} more events behind within {} s", held.total, QUIET_FOR.as_secs());
                    counted = false;
                }
            }
            match event {
                // Another node's events are its own webhooks' business.
                Ok(event) if event.is_remote() => {}
                Ok(event) => self.handle(&event).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    match quiet.hear("lagged", n, "", std::time::Instant::now()) {
                        Heard::Log => {
                            log::warn!("webhooks: fell {n} events behind; streaks may be off by those runs")
                        }
                        Heard::Counted { .. } => counted = true,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn handle(&mut self, event: &Event) {
        match event {
            Event::RunFinished { project_id, run_id, status, error_kind, error, .. } => {
                let p = *project_id;
                match status {
                    RunStatus::Failed => {
                        let streak = self.streaks.entry(p).or_default();
                        *streak += 1;
                        if *streak == self.live.get().webhooks.failure_streak && self.alerted.insert(p) {
                            let data = json!({
                                "consecutive_failures": *streak,
                                "run_id": run_id,
                                "error_kind": error_kind,
                                "error": error,
                            });
                            self.hooks.enqueue("project.failing", Some(p), data).await;
                        }
                    }
                    RunStatus::Succeeded | RunStatus::Partial => {
                        self.streaks.remove(&p);
                        if self.alerted.remove(&p) {
                            let data = json!({"run_id": run_id, "status": status});
                            self.hooks.enqueue("project.recovered", Some(p), data).await;
                        }
                    }
                    _ => {}
                }
            }
            Event::ProjectQuarantined { project_id, reason, .. } => {
                self.streaks.remove(project_id);
                self.alerted.insert(*project_id);
                self.hooks.enqueue("project.quarantined", Some(*project_id), json!({"reason": reason})).await;
            }
            Event::CampaignEnded { project_id, reason, at_ms } => {
                let data = json!({"reason": reason, "ended_at_ms": at_ms});
                self.hooks.enqueue("campaign.ended", Some(*project_id), data).await;
            }
            Event::Alert {
                project_id,
                source_id,
                platform,
                monitor,
                metric,
                threshold,
                state,
                value,
                detail,
                at_ms,
            } => {
                let name = match state {
                    crate::events::AlertState::Fired => monitor.event(),
                    crate::events::AlertState::Recovered => trawler_domain::monitor::RECOVERED_EVENT,
                };
                let data = json!({
                    "monitor": monitor,
                    "source_id": source_id,
                    "platform": platform,
                    "metric": metric,
                    "threshold": Some(threshold).filter(|t| !t.is_empty()),
                    "value": value,
                    "detail": detail,
                    "at_ms": at_ms,
                });
                self.hooks.enqueue(name, Some(*project_id), data).await;
            }
            _ => {}
        }
    }
}

/// The 24-hour window of the SLO check.
const SLO_WINDOW_MS: i64 = 86_400_000;

/// Checks every active project's 24-hour freshness against the target every
/// `slo_check_every`, and queues `project.slo_breached` when a project
/// falls below it and `project.slo_restored` when it is back. The first
/// check only notes where projects stand: a restart does not repeat alerts
/// already sent. The interval, the slots and the target are those in force
/// at each check.
async fn watch_slo(live: crate::live::Live, hooks: Webhooks) {
    let mut below: Option<HashSet<ProjectId>> = None;
    loop {
        let now = now_millis();
        let config = live.get();
        let (full_interval, target, every) = (config.full_interval, config.slo_target, config.webhooks.slo_check_every);
        let checked = hooks
            .db
            .send(Exec(move |conn| {
                let projects = Project::list(conn, Some(trawler_domain::ProjectStatus::Active))?;
                let fresh = trawler_store::Run::freshness(conn, full_interval, &projects, now - SLO_WINDOW_MS, now)?;
                Ok::<_, trawler_store::StoreError>(projects.into_iter().map(|p| p.id).zip(fresh).collect::<Vec<_>>())
            }))
            .await;
        let rows = match checked {
            Ok(Ok(rows)) => rows,
            other => {
                log::warn!("webhooks: the SLO check could not read freshness: {other:?}");
                tokio::time::sleep(every).await;
                continue;
            }
        };
        let now_below: HashSet<ProjectId> =
            rows.iter().filter(|(_, f)| f.share.is_some_and(|s| s < target)).map(|(p, _)| *p).collect();
        if let Some(before) = &below {
            for (p, f) in &rows {
                let data = json!({
                    "window_secs": SLO_WINDOW_MS / 1000,
                    "target": target,
                    "share": f.share,
                    "slots": f.slots,
                    "met": f.met,
                    "failed": f.failed,
                    "missed": f.missed,
                });
                match (before.contains(p), now_below.contains(p)) {
                    (false, true) => hooks.enqueue("project.slo_breached", Some(*p), data).await,
                    (true, false) => hooks.enqueue("project.slo_restored", Some(*p), data).await,
                    _ => {}
                }
            }
        }
        below = Some(now_below);
        tokio::time::sleep(every).await;
    }
}

/// Rows claimed per round.
const CLAIM: i64 = 32;

/// The most of a receiver's answer read: its status matters, and an
/// excerpt for the delivery's error.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Sends due deliveries until the system stops. Each delivery is sent as
/// soon as it is claimed, as a task of its own, at most
/// `config.concurrency` at once: a slow receiver holds one slot, never the
/// others' deliveries, and no claimed delivery waits behind another for
/// longer than its claim lasts.
async fn dispatch(
    live: crate::live::Live,
    cipher: Arc<trawler_store::Cipher>,
    db: Addr<DbExecutor>,
    http: HttpClient,
    wake: Arc<Notify>,
    metrics: Metrics,
) {
    // A claimed row is leased for longer than one attempt can take, and an
    // attempt starts as soon as its row is claimed: no other node sends it
    // meanwhile.
    let lease_ms = (http.config().timeout.as_millis() as i64) * 3 + 10_000;
    let slots = Arc::new(tokio::sync::Semaphore::new(live.get().webhooks.concurrency.max(1)));
    // Logged when it changes, not on every round of an outage.
    let mut failing = false;
    loop {
        let Ok(first) = slots.clone().acquire_owned().await else { return };
        let free = (1 + slots.available_permits()).min(CLAIM as usize) as i64;
        let claimed = db.send(Exec(move |conn| Delivery::claim_due(conn, now_millis(), lease_ms, free))).await;
        let due = match claimed {
            Ok(Ok(due)) => {
                if std::mem::take(&mut failing) {
                    log::info!("webhooks: reading due deliveries works again");
                }
                due
            }
            Ok(Err(e)) => {
                if !std::mem::replace(&mut failing, true) {
                    log::warn!("webhooks: reading due deliveries failed (retrying every 5 s): {e}");
                }
                Vec::new()
            }
            Err(e) => {
                log::warn!("webhooks: the database executor is gone; dispatcher stops: {e}");
                return;
            }
        };
        if due.is_empty() {
            drop(first);
            let next = db.send(Exec(Delivery::next_due_ms)).await;
            let wait = match next {
                Ok(Ok(Some(at))) => Duration::from_millis((at - now_millis()).clamp(0, 5_000) as u64),
                _ => Duration::from_secs(5),
            };
            let _ = tokio::time::timeout(wait, wake.notified()).await;
            continue;
        }
        let mut first = Some(first);
        for d in due {
            // Only this loop takes slots: the ones counted free are there.
            let Some(permit) = first.take().or_else(|| slots.clone().try_acquire_owned().ok()) else { break };
            // Each delivery's retries follow the settings in force when it is sent.
            let config = live.get().webhooks.clone();
            let (db, http, metrics) = (db.clone(), http.clone(), metrics.clone());
            let cipher = cipher.clone();
            actix::spawn(async move {
                let id = d.delivery.id;
                if let Err(msg) = crate::task::caught(send(&config, &cipher, &db, &http, &metrics, d)).await {
                    metrics.task_panic("webhook_send");
                    log::error!("webhooks: sending delivery {id} panicked ({msg}); it is retried when its claim ends");
                }
                drop(permit);
            });
        }
    }
}

/// One attempt at one delivery, recorded.
async fn send(
    config: &WebhookConfig,
    cipher: &trawler_store::Cipher,
    db: &Addr<DbExecutor>,
    http: &HttpClient,
    metrics: &Metrics,
    due: DueDelivery,
) {
    let DueDelivery { delivery, url, secret } = due;
    // A secret that does not open signs nothing: the attempt fails, saying why.
    let secret = match cipher.open(&secret) {
        Ok(s) => s,
        Err(e) => {
            let attempt = Attempt::Failed { status: None, error: e.to_string(), retry_at_ms: None };
            metrics.webhook_attempt("failed");
            let id = delivery.id;
            let recorded = db.send(Exec(move |conn| Delivery::record(conn, id, &attempt))).await;
            log::error!("webhooks: delivery {id} cannot be signed: {e} ({recorded:?})");
            return;
        }
    };
    let body = delivery.payload.to_string().into_bytes();
    let timestamp = now_millis() / 1000;
    let sig = signature(&secret, timestamp, delivery.id, &body);
    let id = delivery.id.to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Trawler-Event", delivery.event.as_str()),
        ("X-Trawler-Delivery", id.as_str()),
        ("X-Trawler-Signature", sig.as_str()),
    ];
    let attempt_no = delivery.attempts as u32 + 1;
    let retry_at =
        || (attempt_no < config.max_attempts).then(|| now_millis() + config.retry_delay(attempt_no).as_millis() as i64);
    let attempt = match http.post(&url, &headers, body, MAX_RESPONSE_BYTES).await {
        Ok(resp) if (200..300).contains(&resp.status) => Attempt::Delivered { status: resp.status },
        Ok(resp) => Attempt::Failed {
            status: Some(resp.status),
            error: format!("HTTP {} {}", resp.status, resp.excerpt()),
            retry_at_ms: retry_at(),
        },
        Err(e) => Attempt::Failed { status: None, error: e.to_string(), retry_at_ms: retry_at() },
    };
    let outcome = match &attempt {
        Attempt::Delivered { .. } => "delivered",
        Attempt::Failed { retry_at_ms: Some(_), .. } => "retrying",
        Attempt::Failed { retry_at_ms: None, .. } => "failed",
    };
    metrics.webhook_attempt(outcome);
    if let Attempt::Failed { error, retry_at_ms, .. } = &attempt {
        log::warn!(
            "webhooks: delivery {} of {} to {} failed (attempt {attempt_no}{}): {error}",
            delivery.id,
            delivery.event,
            trawler_sources::shown_url(&url),
            if retry_at_ms.is_some() { ", will retry" } else { ", giving up" }
        );
    }
    let delivery_id = delivery.id;
    let recorded = db.send(Exec(move |conn| Delivery::record(conn, delivery_id, &attempt))).await;
    if !matches!(recorded, Ok(Ok(()))) {
        // The lease runs out and the row is sent again: at-least-once.
        log::warn!("webhooks: recording delivery {delivery_id} failed: {recorded:?}");
    }
}

/// Queues a `ping` to one webhook (the test button).
pub fn ping(conn: &mut trawler_store::AnyConnection, webhook: i64) -> StoreResult<i64> {
    let hook = Webhook::get(conn, webhook)?;
    let body = payload("ping", None, None, json!({"webhook_id": hook.id, "url": hook.url}));
    Delivery::enqueue_to(conn, &hook, "ping", None, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_a_known_hmac_sha256() {
        // The primitive against RFC 4231 test case 2, then the signed
        // string: "{timestamp}.{body}".
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"Jefe");
        let tag = aws_lc_rs::hmac::sign(&key, b"what do ya want for nothing?");
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let sig = signature("Jefe", 1_700_000_000, 42, b"{}");
        let hex = |m: &[u8]| -> String {
            aws_lc_rs::hmac::sign(&key, m).as_ref().iter().map(|b| format!("{b:02x}")).collect()
        };
        let (v1, v2) = (hex(b"1700000000.{}"), hex(b"1700000000.42.{}"));
        assert_eq!(sig, format!("t=1700000000,v1={v1},v2={v2}"));
        assert_ne!(signature("Jefe", 1_700_000_000, 43, b"{}"), sig, "another delivery id, another v2");
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let c = WebhookConfig {
            retry_base: Duration::from_secs(10),
            max_retry_delay: Duration::from_secs(60),
            ..Default::default()
        };
        let waits: Vec<u64> = (1..=5).map(|a| c.retry_delay(a).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 60, 60]);
    }

    #[test]
    fn random_secrets_are_long_and_distinct() {
        let a = random_secret().expect("random source");
        let b = random_secret().expect("random source");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
