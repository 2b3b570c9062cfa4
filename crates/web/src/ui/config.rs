//! The Config page: every setting in force, where it came from, since when,
//! which ones a reload changes live, values waiting for a restart, the last
//! reload, and a button that reloads (as SIGHUP does).

use super::*;
use crate::views::SettingView;

pub(super) struct ReloadRow {
    pub(super) at: String,
    pub(super) by: String,
    pub(super) ok: bool,
    pub(super) error: String,
    /// key, from, to.
    pub(super) applied: Vec<(String, String, String)>,
    pub(super) needs_restart: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "config.html")]
pub(super) struct ConfigPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) file: String,
    pub(super) started: String,
    pub(super) settings: Vec<(SettingView, String)>,
    pub(super) last: Option<ReloadRow>,
}

/// The settings in force.
pub async fn config_page(session: UiSession, state: Data, q: web::Query<FlashQuery>) -> Result<HttpResponse, ApiError> {
    let view = crate::reload::of(&state)?.config();
    let changes = |list: &[crate::views::SettingChange]| {
        list.iter().map(|c| (c.key.clone(), c.from.clone(), c.to.clone())).collect::<Vec<_>>()
    };
    let started = view.started_at_ms;
    html(&ConfigPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "config",
        flash: q.into_inner().flash,
        file: view.file.clone().unwrap_or_else(|| "none (defaults, environment and flags)".into()),
        started: ms_text(Some(started)),
        settings: view
            .settings
            .into_iter()
            .map(|s| {
                let since = if s.since_ms > started { ms_text(Some(s.since_ms)) } else { "start".into() };
                (s, since)
            })
            .collect(),
        last: view.last_reload.map(|r| ReloadRow {
            at: ms_text(Some(r.at_ms)),
            by: r.by,
            ok: r.ok,
            error: r.error.unwrap_or_default(),
            applied: changes(&r.applied),
            needs_restart: changes(&r.needs_restart),
        }),
    })
}

/// Reloads, then shows the page with what happened.
pub async fn reload(session: UiSession, state: Data, form: web::Form<CsrfForm>) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let report = crate::reload::of(&state)?.reload("admin").await;
    let message = match (&report.error, report.ok) {
        (Some(e), false) => format!("Reload refused, the settings in force stay: {e}"),
        _ if report.applied.is_empty() && report.needs_restart.is_empty() => "Reloaded: nothing changed".into(),
        _ => format!(
            "Reloaded: {} setting{} in force now{}",
            report.applied.len(),
            if report.applied.len() == 1 { "" } else { "s" },
            if report.needs_restart.is_empty() {
                String::new()
            } else {
                format!(", {} waiting for a restart", report.needs_restart.len())
            }
        ),
    };
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("flash", &message).finish();
    Ok(see_other(&format!("/ui/config?{query}")))
}
