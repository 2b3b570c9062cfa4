//! `trawler webhooks …`: subscriptions and their deliveries.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::*;

/// `trawler webhooks …`
#[derive(Args, Clone, Debug)]
pub struct WebhooksArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub what: WebhooksCommand,
}

/// What to do with webhooks.
#[derive(Subcommand, Clone, Debug)]
pub enum WebhooksCommand {
    /// List webhooks.
    List,
    /// Add a webhook; without --secret one is generated and printed once.
    Add {
        /// Where events are POSTed.
        url: String,
        /// An event to send (repeatable): campaign.ended, project.anomaly,
        /// project.data_stale, project.failing, project.milestone,
        /// project.monitor_recovered, project.quarantined, project.recovered,
        /// project.slo_breached, project.slo_restored, ping, or `*` (the
        /// default) for all.
        #[arg(long = "event")]
        events: Vec<String>,
        /// The signing secret (16 characters or more).
        #[arg(long, env = "TRAWLER_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// A note for operators.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a webhook and its delivery log.
    Remove {
        /// The webhook id.
        id: i64,
    },
    /// Send a test event.
    Ping {
        /// The webhook id.
        id: i64,
    },
    /// Show a webhook's delivery log, newest first.
    Deliveries {
        /// The webhook id.
        id: i64,
        /// How many.
        #[arg(long, default_value = "20")]
        limit: i64,
    },
}

/// `trawler webhooks …`
pub fn webhooks(args: WebhooksArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    match args.what {
        WebhooksCommand::List => {
            let body = api.get("/api/v1/admin/webhooks")?;
            let hooks = body["webhooks"].as_array().cloned().unwrap_or_default();
            out!("{:>4}  {:<6}  {:<40}  events", "id", "active", "url");
            for h in &hooks {
                let events: Vec<&str> =
                    h["events"].as_array().map(|e| e.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                out!(
                    "{:>4}  {:<6}  {:<40}  {}",
                    h["id"],
                    if h["active"] == true { "yes" } else { "no" },
                    h["url"].as_str().unwrap_or("?"),
                    events.join(",")
                );
            }
            out!("{} webhooks", hooks.len());
        }
        WebhooksCommand::Add { url, events, secret, description } => {
            let mut body = json!({"url": url});
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(s) = secret {
                body["secret"] = json!(s);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let h = api.post("/api/v1/admin/webhooks", Some(body))?;
            out!("added webhook {} → {}", h["id"], h["url"].as_str().unwrap_or("?"));
            if let Some(secret) = h["secret"].as_str() {
                out!("secret (shown once; verify X-Trawler-Signature with it): {secret}");
            }
        }
        WebhooksCommand::Remove { id } => {
            let req = api.client.delete(format!("{}/api/v1/admin/webhooks/{id}", api.base));
            api.call(req)?;
            out!("webhook {id} removed");
        }
        WebhooksCommand::Ping { id } => {
            let d = api.post(&format!("/api/v1/admin/webhooks/{id}/ping"), None)?;
            out!("ping queued as delivery {}; see `trawler webhooks deliveries {id}`", d["delivery_id"]);
        }
        WebhooksCommand::Deliveries { id, limit } => {
            let body = api.get(&format!("/api/v1/admin/webhooks/{id}/deliveries?limit={limit}"))?;
            let list = body["deliveries"].as_array().cloned().unwrap_or_default();
            out!(
                "{:>6}  {:<20}  {:<9}  {:>8}  {:>6}  {:<10}  last error",
                "id",
                "event",
                "status",
                "attempts",
                "code",
                "created"
            );
            for d in &list {
                out!(
                    "{:>6}  {:<20}  {:<9}  {:>8}  {:>6}  {:<10}  {}",
                    d["id"],
                    d["event"].as_str().unwrap_or("?"),
                    d["status"].as_str().unwrap_or("?"),
                    d["attempts"],
                    d["last_status_code"].as_i64().map_or("-".into(), |c| c.to_string()),
                    ago(&d["created_at_ms"]),
                    d["last_error"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
