//! `trawler projects alerts|monitors|silence|unsilence`: a project's
//! monitor alerts and rules.

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::*;

/// Lists a project's alerts (open ones, or every one kept).
pub(super) fn alerts(api: &Api, id: i64, all: bool) -> Result<()> {
    let state = if all { "all" } else { "open" };
    let body = api.get(&format!("/api/v1/projects/{id}/alerts?state={state}"))?;
    let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
    for a in &alerts {
        let fired = a["fired_at_ms"].as_i64().map(trawler_domain::time::display_ms).unwrap_or_default();
        let until = match a["recovered_at_ms"].as_i64() {
            Some(ms) => format!(" → recovered {}", trawler_domain::time::display_ms(ms)),
            None => String::new(),
        };
        out!(
            "{:<9}  {:<10}  {:<12}  {fired}{until}  {}",
            a["monitor"].as_str().unwrap_or("?"),
            a["metric"].as_str().unwrap_or("?"),
            a["platform"].as_str().unwrap_or("?"),
            a["detail"].as_str().unwrap_or("")
        );
    }
    out!("{} {state} alerts", alerts.len());
    Ok(())
}

fn show(m: &Value) -> Result<()> {
    let silenced: Vec<&str> = m["silenced"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    out!("silenced: {}", if silenced.is_empty() { "none".to_owned() } else { silenced.join(", ") });
    out!("rules: {}", serde_json::to_string_pretty(&m["rules"]).unwrap_or_default());
    let d = &m["defaults"];
    out!(
        "defaults: stale after {}, drop tolerance {}, jump factor {}, funding milestones {}{}",
        d["stale_after"].as_str().unwrap_or("?"),
        d["drop_tolerance"],
        d["jump_factor"],
        d["funded_milestones"],
        if d["enabled"] == false { " (monitors off on this node)" } else { "" }
    );
    Ok(())
}

/// Shows a project's monitor rules, or replaces them with `set` (JSON:
/// `{"rules": [...], "silenced": [...]}`).
pub(super) fn monitors(api: &Api, id: i64, set: Option<String>) -> Result<()> {
    let path = format!("/api/v1/projects/{id}/monitors");
    let m = match set {
        None => api.get(&path)?,
        Some(text) => {
            let body: Value = serde_json::from_str(&text).context("--set is not JSON")?;
            api.call(api.client.put(format!("{}{path}", api.base)).json(&body))?
        }
    };
    show(&m)
}

/// Silences one monitor of a project, or lets it speak again.
pub(super) fn silence(api: &Api, id: i64, monitor: &str, quiet: bool) -> Result<()> {
    let path = format!("/api/v1/projects/{id}/monitors");
    let now = api.get(&path)?;
    let mut silenced: Vec<String> =
        now["silenced"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
    silenced.retain(|m| m != monitor);
    if quiet {
        silenced.push(monitor.to_owned());
    }
    let body = json!({"rules": now["rules"], "silenced": silenced});
    let m = api.call(api.client.put(format!("{}{path}", api.base)).json(&body))?;
    show(&m)
}
