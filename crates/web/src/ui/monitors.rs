//! The monitors on a project's page: its open alerts (each with a button
//! that silences its monitor), their history, and the form of its own
//! rules and silenced monitors.

use std::collections::HashMap;

use trawler_domain::monitor::{MonitorKind, ProjectMonitors};
use trawler_store::Alert;

use super::*;

/// An alert as the project page lists it.
pub(super) struct AlertRow {
    pub(super) monitor: String,
    pub(super) metric: String,
    pub(super) threshold: String,
    pub(super) detail: String,
    pub(super) fired: String,
    pub(super) recovered: String,
    /// Good news (a milestone), not a problem.
    pub(super) good: bool,
}

impl From<Alert> for AlertRow {
    fn from(a: Alert) -> AlertRow {
        let recovered = match (&a.recovered_at_ms, &a.recovered_detail) {
            (Some(ms), Some(how)) => format!("{} ({how})", ms_text(Some(*ms))),
            (Some(ms), None) => ms_text(Some(*ms)),
            _ => String::new(),
        };
        AlertRow {
            good: a.key.monitor == MonitorKind::Milestone,
            monitor: a.key.monitor.as_str().to_owned(),
            metric: a.key.metric,
            threshold: a.key.at,
            detail: a.detail,
            fired: ms_text(Some(a.fired_at_ms)),
            recovered,
        }
    }
}

/// The monitors' part of a project page.
pub(super) struct MonitorsPart {
    /// Open alerts, newest first.
    pub(super) open: Vec<AlertRow>,
    /// Recovered ones, newest first (the last 20).
    pub(super) history: Vec<AlertRow>,
    /// Every monitor, with whether it is silenced for the project.
    pub(super) silenced: Vec<(String, bool)>,
    /// The project's own rules, as the API takes them.
    pub(super) rules_json: String,
    /// The node's defaults, in a sentence.
    pub(super) defaults: String,
}

impl MonitorsPart {
    pub(super) fn new(state: &Data, project: &Project, alerts: Vec<Alert>) -> MonitorsPart {
        let own = project.monitors.as_deref().cloned().unwrap_or_default();
        let (open, recovered): (Vec<Alert>, Vec<Alert>) = alerts.into_iter().partition(|a| a.recovered_at_ms.is_none());
        let d = &state.tree.config().monitors;
        let defaults = if d.enabled {
            format!(
                "Defaults: stale after {} unchanged while live; a drop of more than {}% of a counter; a move of more \
                 than {}× in one fetch; a metric missing from a fetch; funding milestones at {}%.",
                d.stale_after,
                d.drop_tolerance * 100.0,
                d.jump_factor,
                d.funded_milestones.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
            )
        } else {
            "Monitors are off on this node (TRAWLER_MONITORS=false).".to_owned()
        };
        MonitorsPart {
            open: open.into_iter().map(AlertRow::from).collect(),
            history: recovered.into_iter().take(20).map(AlertRow::from).collect(),
            silenced: MonitorKind::ALL.iter().map(|k| (k.as_str().to_owned(), own.silenced.contains(k))).collect(),
            rules_json: if own.rules.is_empty() {
                "[]".to_owned()
            } else {
                serde_json::to_string_pretty(&own.rules).unwrap_or_default()
            },
            defaults,
        }
    }
}

/// Saves the project's own rules and silenced monitors from its page
/// (`rules`: the JSON list; `silence_<monitor>`: checked).
pub async fn save_monitors(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_csrf(&session, form.get("csrf").map_or("", String::as_str))?;
    let id = ProjectId(id.into_inner());
    let rules: serde_json::Value = serde_json::from_str(form.get("rules").map_or("[]", |r| r.trim()).trim_start())
        .map_err(|e| ApiError::BadRequest(format!("rules: not a JSON list of rules: {e}")))?;
    let silenced: Vec<&str> =
        MonitorKind::ALL.iter().map(|k| k.as_str()).filter(|k| form.contains_key(&format!("silence_{k}"))).collect();
    let monitors =
        ProjectMonitors::parse(&json!({"rules": rules, "silenced": silenced}), std::time::Duration::from_secs(1))
            .map_err(|e| ApiError::Refused(crate::ErrorCode::InvalidMonitor, e))?;
    state.tree.set_monitors(id, Some(monitors).filter(|m| *m != ProjectMonitors::default())).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Monitors+saved")))
}

/// Silences one monitor of the project (`/silence`) or lets it speak again
/// (`/unsilence`).
pub async fn silence(
    session: UiSession,
    state: Data,
    path: web::Path<(i64, String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let (id, monitor, verb) = path.into_inner();
    let id = ProjectId(id);
    let kind: MonitorKind = monitor.parse().map_err(ApiError::NotFound)?;
    let quiet = match verb.as_str() {
        "silence" => true,
        "unsilence" => false,
        _ => return Err(ApiError::NotFound("no such monitor action (silence or unsilence)".into())),
    };
    let project = db(&state, move |conn| Project::get(conn, id)).await?;
    let mut own = project.monitors.as_deref().cloned().unwrap_or_default();
    if quiet {
        own.silenced.insert(kind);
    } else {
        own.silenced.remove(&kind);
    }
    state.tree.set_monitors(id, Some(own).filter(|m| *m != ProjectMonitors::default())).await?;
    let flash = if quiet { format!("Silenced+{kind}") } else { format!("{kind}+speaks+again") };
    Ok(see_other(&format!("/ui/projects/{id}?flash={flash}")))
}
