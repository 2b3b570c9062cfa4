//! One project's page and what can be done there: scrape, cancel,
//! archive, resume, edit sources, and its read tokens.

use super::*;

pub(super) struct RunRow {
    pub(super) id: i64,
    pub(super) started: String,
    pub(super) trigger: String,
    pub(super) status: String,
    pub(super) points: i64,
    pub(super) error: String,
    pub(super) log: String,
}

pub(super) struct TokenRow {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) prefix: String,
    pub(super) created: String,
    pub(super) last_used: String,
    pub(super) revoked: bool,
}

#[derive(Template)]
#[template(path = "project.html")]
pub(super) struct ProjectPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) id: i64,
    /// Its labels as `key=value, …`, and its external key.
    pub(super) labels: String,
    pub(super) external_key: String,
    pub(super) name: String,
    pub(super) status: String,
    pub(super) status_reason: Option<String>,
    pub(super) paused: bool,
    /// Its full-scrape cadence as people read it.
    pub(super) cadence: String,
    /// Its poll cadence as people read it.
    pub(super) poll_cadence: String,
    /// The currency its money is shown in, and why.
    pub(super) currency_text: String,
    /// The currencies it may be reported in.
    pub(super) currency_choices: Vec<String>,
    /// Its own reporting currency, if chosen.
    pub(super) chosen_currency: Option<String>,
    /// When its campaign ended, if it has.
    pub(super) ended: Option<String>,
    /// Where each source's campaign stands, one line each.
    pub(super) campaigns: Vec<String>,
    pub(super) figures: Vec<parts::Figure>,
    pub(super) metrics: Vec<String>,
    pub(super) ranges: Vec<(String, String)>,
    pub(super) range: String,
    pub(super) from: i64,
    pub(super) step: i64,
    pub(super) runs: Vec<RunRow>,
    pub(super) sources_json: String,
    pub(super) tokens: Vec<TokenRow>,
    pub(super) new_token: Option<String>,
    /// Its monitors: open alerts, history, rules.
    pub(super) monitors: super::monitors::MonitorsPart,
    /// Its sources whose answers a metric could not be read in.
    pub(super) breaks: Vec<super::archive::BreakRow>,
}

pub(super) async fn project_page(
    session: UiSession,
    state: &Data,
    id: ProjectId,
    range: Option<String>,
    flash: Option<String>,
    new_token: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let (range, span) = RANGES
        .iter()
        .find(|r| Some(r.0) == range.as_deref())
        .map_or(("24h".to_owned(), 86_400), |r| (r.0.to_owned(), r.2));
    let now = now_secs();
    let (project, sources, obs, runs, tokens, alerts, (currencies, fx)) = db(state, move |conn| {
        let p = Project::get(conn, id)?;
        let money = crate::money::money(conn, &p)?;
        Ok((
            p,
            Source::list_for_project(conn, id)?,
            Point::observations_at(conn, id, now)?,
            Run::list_for_project(conn, id, 20)?,
            ProjectToken::list(conn, id)?,
            trawler_store::Alert::list(conn, id, false, 100)?,
            money,
        ))
    })
    .await?;
    let monitors = super::monitors::MonitorsPart::new(state, &project, alerts);
    let breaks = super::archive::breaks(state, id).await?;
    let (figures, metrics) = figures(&obs, &currencies, &fx);
    let sources_json = serde_json::to_string_pretty(
        &sources
            .iter()
            .map(|s| json!({"platform": s.platform, "external_ref": s.external_ref, "options": &*s.options}))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let page = ProjectPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "projects",
        flash,
        id: id.0,
        labels: project.labels.to_text(", "),
        external_key: project.external_key.clone().unwrap_or_default(),
        name: project.name,
        status: project.status.to_string(),
        status_reason: project.status_reason,
        paused: project.paused,
        cadence: cadence_text(project.full_interval_ms, state.tree.config().full_interval, "only when triggered"),
        poll_cadence: cadence_text(project.poll_interval_ms, state.tree.config().poll_interval, "never"),
        currency_text: match (currencies.reporting, project.reporting_currency) {
            (Some(c), Some(_)) => format!("{c} (chosen)"),
            (Some(c), None) => format!("{c} (the campaign's)"),
            (None, _) => "the platforms' own currencies (none known yet)".into(),
        },
        currency_choices: std::iter::once("EUR")
            .chain(trawler_domain::money::ECB_CURRENCIES)
            .map(str::to_owned)
            .collect(),
        chosen_currency: project.reporting_currency.map(String::from),
        ended: project.ended_at_ms.filter(|_| project.status == ProjectStatus::Ended).map(|ms| ms_text(Some(ms))),
        campaigns: sources.iter().filter_map(campaign_line).collect(),
        figures,
        metrics,
        ranges: RANGES.iter().map(|r| (r.0.to_owned(), r.1.to_owned())).collect(),
        range,
        from: now - span,
        step: (span / 300).max(1),
        runs: runs
            .into_iter()
            .map(|r| RunRow {
                id: r.id.0,
                started: ms_text(Some(r.started_at_ms)),
                trigger: r.triggered_by.to_string(),
                status: r.status.to_string(),
                points: r.points_written,
                error: r.error.unwrap_or_default(),
                log: r.log,
            })
            .collect(),
        sources_json,
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                created: ms_text(Some(t.created_at_ms)),
                last_used: ms_text(t.last_used_at_ms),
                revoked: t.revoked_at_ms.is_some(),
            })
            .collect(),
        new_token,
        monitors,
        breaks,
    };
    html(&page)
}

pub async fn project(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<FlashQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    project_page(session, &state, ProjectId(id.into_inner()), q.range, q.flash, None).await
}

pub async fn scrape(
    session: UiSession,
    state: Data,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let run: RunId = state.tree.trigger(id).await?;
    // The page's script asks for JSON and stays on the page.
    let wants_json = req.headers().get(header::ACCEPT).is_some_and(|a| a.as_bytes().starts_with(b"application/json"));
    if wants_json {
        return Ok(HttpResponse::Accepted().json(json!({"run_id": run, "project_id": id})));
    }
    Ok(see_other(&format!("/ui/projects/{id}?flash=Scrape+started+(run+{run})")))
}

/// Cancels a run from the project page (answers JSON to its script).
pub async fn cancel(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let run = state.tree.cancel(RunId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(json!({"run_id": run.id, "status": run.status, "points_written": run.points_written})))
}

pub async fn archive(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    crate::service::set_project_status(&state, id, ProjectStatus::Archived).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Archived")))
}

pub async fn resume(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    crate::service::set_project_status(&state, id, ProjectStatus::Active).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Resumed")))
}

/// Where a source's campaign stands, as a line of its project's page.
fn campaign_line(source: &Source) -> Option<String> {
    let c = source.campaign.as_ref()?;
    let money = source.currency().map_or_else(String::new, |c| format!("; counts in {c}"));
    let when = match (c.phase, c.deadline_ms) {
        (trawler_domain::campaign::Phase::Live, Some(d)) => format!(", ends {}", ms_text(Some(d))),
        (_, Some(d)) => format!(", deadline {}", ms_text(Some(d))),
        (_, None) => String::new(),
    };
    Some(format!(
        "{} {}: {} ({}){when}{money}; heard {}",
        source.platform,
        source.external_ref,
        c.state,
        c.phase.as_str(),
        ms_text(Some(c.seen_at_ms))
    ))
}

/// How a project's own interval reads on its page.
fn cadence_text(own_ms: Option<i64>, node: std::time::Duration, manual: &str) -> String {
    match own_ms {
        None => format!("every {} (the node's)", span_text(node)),
        Some(ms) if ms <= 0 => format!("{manual} (manual)"),
        Some(ms) => format!("every {}", span_text(std::time::Duration::from_millis(ms as u64))),
    }
}

#[derive(Deserialize)]
pub struct CadenceForm {
    csrf: String,
    #[serde(default)]
    full_interval: String,
    #[serde(default)]
    poll_interval: String,
}

/// Sets the project's own cadences from its page (a field left empty
/// keeps its cadence).
pub async fn cadence(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CadenceForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let given = |v: &str| (!v.trim().is_empty()).then(|| serde_json::Value::String(v.trim().to_owned()));
    let cadence = check_cadence(&state, given(&form.full_interval).as_ref(), given(&form.poll_interval).as_ref())?;
    if cadence.is_empty() {
        return Err(ApiError::BadRequest("give a cadence for full scrapes, polls or both".into()));
    }
    state.tree.set_cadence(id, cadence).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Cadence+saved")))
}

#[derive(Deserialize)]
pub struct LabelsForm {
    csrf: String,
    labels: String,
}

/// Replaces the project's labels (`key=value, …`; empty: none).
pub async fn labels(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<LabelsForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let labels = trawler_domain::labels::Labels::parse_text(&form.labels)
        .map_err(|e| ApiError::BadRequest(format!("labels: {e}")))?;
    db(&state, move |conn| Project::set_labels(conn, id, &labels, trawler_domain::now_millis())).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Labels+saved")))
}

#[derive(Deserialize)]
pub struct CurrencyForm {
    csrf: String,
    currency: String,
}

/// Sets the currency the project's figures are shown in (`default`: its
/// campaign's).
pub async fn currency(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CurrencyForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let currency = crate::service::check_currency(&serde_json::Value::String(form.currency.trim().to_owned()))?;
    db(&state, move |conn| Project::set_reporting_currency(conn, id, currency, trawler_domain::now_millis())).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Currency+saved")))
}

/// Pauses the project's schedule (`/pause`) or resumes it (`/unpause`).
pub async fn schedule(
    session: UiSession,
    state: Data,
    path: web::Path<(i64, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let (id, verb) = path.into_inner();
    let id = ProjectId(id);
    let paused = match verb.as_str() {
        "pause" => true,
        "unpause" => false,
        _ => return Err(ApiError::NotFound("no such schedule action (pause or unpause)".into())),
    };
    state.tree.set_paused(id, paused).await?;
    let flash = if paused { "Schedule+paused" } else { "Schedule+resumed" };
    Ok(see_other(&format!("/ui/projects/{id}?flash={flash}")))
}

#[derive(Deserialize)]
pub struct SourcesForm {
    csrf: String,
    sources: String,
}

pub async fn save_sources(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<SourcesForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let inputs: Vec<SourceInput> = serde_json::from_str(&form.sources)
        .map_err(|e| ApiError::BadRequest(format!("sources: not a JSON list of sources: {e}")))?;
    let patch =
        ProjectPatch { name: None, sources: Some(crate::service::check_source_edit(&state, id, inputs).await?) };
    state.tree.update_project(id, patch).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Sources+saved")))
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    name: String,
}

pub async fn make_token(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let created = crate::service::issue(&state, id, crate::service::check_label(&form.name)?).await?;
    // Rendered, not redirected: the token is shown this once.
    project_page(session, &state, id, None, Some("Token made: copy it now".into()), Some(created.token)).await
}

pub async fn revoke_token(
    session: UiSession,
    state: Data,
    path: web::Path<(i64, i64)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let (id, token) = path.into_inner();
    db(&state, move |conn| ProjectToken::revoke(conn, ProjectId(id), token)).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Token+revoked")))
}
