//! What the API and the UI share: the database from async code, the
//! checks of what a client sends, the lifecycle steps that write to the
//! store and then tell the tree, and the read models both show.

use actix_web::web;
use serde_json::json;
use trawler_actors::{Cadence, SourceSpec};
use trawler_domain::{Platform, ProjectId, ProjectStatus};
use trawler_store::{AnyConnection, NewSource, Project, ProjectToken, Run, Source, StoreResult};

use crate::auth::{new_read_token, token_hash};
use crate::views::*;
use crate::{ApiError, AppState};

pub(crate) type Data = web::Data<AppState>;

/// Runs blocking database work on actix-web's blocking pool.
/// [`db`] for work that refuses with the API's own errors.
pub(crate) async fn db_checked<R, F>(state: &Data, f: F) -> Result<R, ApiError>
where
    F: FnOnce(&mut AnyConnection) -> Result<R, ApiError> + Send + 'static,
    R: Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get().map_err(ApiError::from)?;
        f(&mut conn)
    })
    .await?
}

pub(crate) async fn db<R, F>(state: &Data, f: F) -> Result<R, ApiError>
where
    F: FnOnce(&mut AnyConnection) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    let pool = state.pool.clone();
    let result = web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?;
    Ok(result?)
}

const MAX_SOURCES: usize = 20;

pub(crate) fn check_name(name: &str) -> Result<String, ApiError> {
    // The length as sent counts (spaces around it included), then the
    // name is kept trimmed.
    let long = name.chars().count() > 200;
    let name = name.trim();
    if name.is_empty() || long {
        return Err(ApiError::BadRequest("name must be 1 to 200 characters".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("name must not contain control characters".into()));
    }
    Ok(name.to_owned())
}

/// Validates a project's new list of sources. `kept` are the sources it
/// has now: a source sent without a secret keeps the secret its (platform,
/// reference) has, so it is validated with that one (and the store keeps
/// it): editing a project never needs its secrets sent again. New secrets
/// come back sealed (see `trawler_store::secret`), ready to store.
pub(crate) fn check_sources(
    state: &Data,
    input: Vec<SourceInput>,
    kept: &[Source],
) -> Result<Vec<NewSource>, ApiError> {
    if input.len() > MAX_SOURCES {
        return Err(ApiError::BadRequest(format!("at most {MAX_SOURCES} sources per project")));
    }
    let mut out = Vec::with_capacity(input.len());
    for (i, s) in input.into_iter().enumerate() {
        let platform: Platform = s.platform.parse().map_err(|e| ApiError::BadRequest(format!("sources[{i}]: {e}")))?;
        let spec = SourceSpec {
            platform,
            external_ref: s.external_ref.trim().to_owned(),
            options: std::sync::Arc::new(s.options.unwrap_or_else(|| json!({}))),
            secret: s.secret.filter(|x| !x.is_empty()),
        };
        let cipher = state.tree.cipher();
        let old_secret = || {
            kept.iter()
                .find(|k| k.platform == spec.platform && k.external_ref == spec.external_ref)
                .and_then(|k| k.secret.as_deref())
                .map(|sealed| cipher.open(sealed))
                .transpose()
        };
        let checked = match spec.secret {
            None => SourceSpec { secret: old_secret()?, ..spec.clone() },
            Some(_) => spec.clone(),
        };
        state
            .tree
            .adapters()
            .validate(&checked)
            .map_err(|e| ApiError::BadRequest(format!("sources[{i}] ({platform}): {e}")))?;
        if out.iter().any(|o: &NewSource| o.platform == spec.platform && o.external_ref == spec.external_ref) {
            return Err(ApiError::BadRequest(format!(
                "sources[{i}]: duplicate {} source `{}`",
                spec.platform, spec.external_ref
            )));
        }
        let options = std::sync::Arc::unwrap_or_clone(spec.options);
        let secret = spec.secret.map(|s| cipher.seal(&s)).transpose()?;
        out.push(NewSource { platform, external_ref: spec.external_ref, options, secret });
    }
    Ok(out)
}

/// Validates a new list of sources for project `id` (see [`check_sources`]).
pub(crate) async fn check_source_edit(
    state: &Data,
    id: ProjectId,
    input: Vec<SourceInput>,
) -> Result<Vec<NewSource>, ApiError> {
    let kept = db(state, move |conn| Source::list_for_project(conn, id)).await?;
    check_sources(state, input, &kept)
}

/// Archives (`Archived`) or resumes (`Active`) a project, as the project's
/// view: the one path the API, the UI and bulk actions share.
pub(crate) async fn set_project_status(
    state: &Data,
    id: ProjectId,
    status: ProjectStatus,
) -> Result<ProjectView, ApiError> {
    let (p, s) = state.tree.set_project_status(id, status).await?;
    Ok(ProjectView::new(p, s))
}

/// The one path of bulk actions, for the API and the UI: the tree applies
/// them; this names each skip as the API would name its error.
/// `full_interval` and `poll_interval` are action `cadence`'s values,
/// checked here (one of them required for it, refused with any other
/// action).
pub(crate) async fn bulk_apply(
    state: &Data,
    action: BulkAction,
    ids: Vec<ProjectId>,
    values: &BulkValues,
) -> Result<BulkResult, ApiError> {
    let (cadence, labels) = check_bulk(state, action, values)?;
    if let Some(change) = labels {
        return bulk_label(state, ids, change).await;
    }
    let Some(bulk) = action.to_bulk(cadence) else {
        return Err(ApiError::Internal(format!("bulk {action:?} has no tree action")));
    };
    let outcome = state.tree.bulk(bulk, ids).await?;
    let skipped =
        outcome.skipped.into_iter().map(|(id, skip)| BulkSkip { id, reason: skip_reason(action, id, skip) }).collect();
    Ok(BulkResult { action, done: outcome.done, skipped })
}

/// Checks a bulk action's values: a cadence (one of `full_interval` and
/// `poll_interval`) for action `cadence` and only for it, `labels` for
/// action `label` and only for it.
pub(crate) fn check_bulk(
    state: &Data,
    action: BulkAction,
    values: &BulkValues,
) -> Result<(trawler_actors::Cadence, Option<crate::labels::LabelChange>), ApiError> {
    let cadence = check_cadence(state, values.full_interval.as_ref(), values.poll_interval.as_ref())?;
    let labels = values.labels.as_ref().map(crate::labels::check_label_change).transpose()?;
    match (action, cadence.is_empty(), labels) {
        (BulkAction::Cadence, true, _) => Err(ApiError::BadRequest(
            "action `cadence` needs `full_interval` or `poll_interval` (`2h`, `manual` or `default`)".into(),
        )),
        (BulkAction::Label, _, None) => Err(ApiError::BadRequest(
            "action `label` needs `labels`: an object of values to set, `null` to remove ({\"wave\": \"spring\", \"old\": null})"
                .into(),
        )),
        (BulkAction::Label, true, Some(change)) => Ok((cadence, Some(change))),
        (BulkAction::Cadence, false, None) => Ok((cadence, None)),
        (_, true, None) => Ok((cadence, None)),
        (_, false, _) => {
            Err(ApiError::BadRequest("`full_interval` and `poll_interval` go with action `cadence` only".into()))
        }
        (_, true, Some(_)) => Err(ApiError::BadRequest("`labels` goes with action `label` only".into())),
    }
}

fn skip_reason(action: BulkAction, id: ProjectId, skip: trawler_actors::BulkSkip) -> String {
    use trawler_actors::BulkSkip as Skip;
    match skip {
        Skip::NotFound => "not found".into(),
        Skip::NotActive => "not active".into(),
        Skip::AlreadyActive => "already active".into(),
        Skip::AlreadyArchived => "already archived".into(),
        Skip::Failed(e) => match ApiError::from(e) {
            ApiError::Internal(e) => {
                log::error!("bulk {action:?} of project {id}: {e}");
                "internal error (see the node's log)".into()
            }
            e => e.to_string(),
        },
    }
}

/// Freshness of projects over `[now - window, now]`, from one read of runs.
pub(crate) fn freshness_of(
    conn: &mut AnyConnection,
    config: &trawler_actors::ActorsConfig,
    projects: &[Project],
    window_ms: i64,
) -> StoreResult<Vec<trawler_domain::slo::Freshness>> {
    let now = trawler_domain::now_millis();
    freshness_between(conn, config, projects, now - window_ms, now)
}

/// Freshness of projects over `[from_ms, to_ms]`.
pub(crate) fn freshness_between(
    conn: &mut AnyConnection,
    config: &trawler_actors::ActorsConfig,
    projects: &[Project],
    from_ms: i64,
    to_ms: i64,
) -> StoreResult<Vec<trawler_domain::slo::Freshness>> {
    Run::freshness(conn, config.full_interval, projects, from_ms, to_ms)
}

/// The gates and the capacity of every platform.
pub(crate) async fn platforms_view(state: &Data) -> Result<PlatformsView, ApiError> {
    let gates = state.tree.adapters().gates().snapshot();
    let config = state.tree.config();
    let (full, poll, idle) = (config.full_interval, config.poll_interval, config.idle_poll_interval);
    let load = db(state, move |conn| Source::scheduled_load(conn, full, poll, idle)).await?;
    let capacity: Vec<trawler_domain::capacity::Capacity> = gates
        .platforms
        .iter()
        .map(|g| {
            let (sources, full, polls) = load
                .iter()
                .find(|l| l.platform == g.platform)
                .map_or((0, 0.0, 0.0), |l| (l.sources, l.full_per_sec, l.polls_per_sec));
            trawler_domain::capacity::capacity_at_rates(g.platform, sources, full, polls, g.rate_per_sec, 1)
        })
        .collect();
    let warnings = capacity.iter().filter_map(|c| c.warning.clone()).collect();
    let mut capacity: Vec<Capacity> = capacity.into_iter().map(Capacity::from).collect();
    for c in &mut capacity {
        let platform: Platform = c.platform.into();
        let Some(source) = state.tree.source_state(platform).await? else { continue };
        let division = source.detail["projects_by_poll_interval_ms"].as_object().cloned().unwrap_or_default();
        c.poll_division = division
            .iter()
            .filter_map(|(ms, n)| Some(PollShare { interval_ms: ms.parse().ok()?, projects: n.as_u64()? }))
            .collect();
        c.poll_division.sort_by_key(|s| s.interval_ms);
    }
    let proxies = state.tree.adapters().http().proxies().into_iter().map(ProxyState::from).collect();
    Ok(PlatformsView { gates: gates.into(), capacity, warnings, proxies })
}

/// A change of a project's own cadences from the `full_interval` and
/// `poll_interval` given (see [`check_interval`]).
pub(crate) fn check_cadence(
    state: &Data,
    full_interval: Option<&serde_json::Value>,
    poll_interval: Option<&serde_json::Value>,
) -> Result<Cadence, ApiError> {
    let min = state.tree.config().min_interval;
    let check = |field: &str, v: Option<&serde_json::Value>| v.map(|v| check_interval(field, v, min)).transpose();
    Ok(Cadence { full_ms: check("full_interval", full_interval)?, poll_ms: check("poll_interval", poll_interval)? })
}

/// A project's reporting currency: `"default"` (`None`: its campaign's) or
/// a code figures can be converted into (`Some`).
pub(crate) fn check_currency(value: &serde_json::Value) -> Result<Option<trawler_domain::Currency>, ApiError> {
    let refuse = |text: String| ApiError::Refused(crate::ErrorCode::InvalidCurrency, text);
    match value.as_str() {
        Some("default") => Ok(None),
        Some(code) => trawler_domain::Currency::reporting(code)
            .map(Some)
            .map_err(|e| refuse(format!("`reporting_currency`: {e}"))),
        None => Err(refuse("`reporting_currency` must be a currency code (\"EUR\") or \"default\"".into())),
    }
}

/// A project's own interval for `field`: `"default"` (`None`: the node's
/// setting), `"manual"` (`Some(0)`) or a duration between `min` and a year.
pub(crate) fn check_interval(
    field: &str,
    value: &serde_json::Value,
    min: std::time::Duration,
) -> Result<Option<i64>, ApiError> {
    const YEAR: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);
    use trawler_domain::settings::Span;
    let range = || {
        let text = format!("`{field}` must be a duration between {} and 365d, `manual` or `default`", span_text(min));
        ApiError::Refused(crate::ErrorCode::InvalidCadence, text)
    };
    let text = value.as_str().ok_or_else(range)?;
    match text {
        "default" => Ok(None),
        "manual" => Ok(Some(0)),
        _ => match Span::parse(text).map(Span::get) {
            Ok(d) if d >= min && d <= YEAR => Ok(Some(d.as_millis().min(i64::MAX as u128) as i64)),
            _ => Err(range()),
        },
    }
}

/// A duration as the settings write it (`4h`, `1h 30m`).
pub(crate) fn span_text(d: std::time::Duration) -> String {
    trawler_domain::settings::Span::new(d).map_or_else(|_| format!("{d:?}"), |s| s.to_string())
}

pub(crate) fn check_label(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("`name` must be 1 to 100 characters, without control characters".into()));
    }
    Ok(name.to_owned())
}

pub(crate) async fn issue(state: &Data, project: ProjectId, name: String) -> Result<CreatedToken, ApiError> {
    issue_for(state, vec![project], name).await
}

/// A new read token of every one of `projects` (the first is its own).
pub(crate) async fn issue_for(state: &Data, projects: Vec<ProjectId>, name: String) -> Result<CreatedToken, ApiError> {
    let token = new_read_token()?;
    let (hash, prefix) = (token_hash(&token), token[..8].to_owned());
    let record = db(state, move |conn| ProjectToken::create_for(conn, &projects, &name, &hash, &prefix)).await?;
    Ok(CreatedToken { record: record.into(), token })
}

/// Applies a label change to each project: set and removed, the others
/// kept; a project the change would give more than 16 is skipped.
pub(crate) async fn bulk_label(
    state: &Data,
    ids: Vec<ProjectId>,
    change: crate::labels::LabelChange,
) -> Result<crate::views::BulkResult, ApiError> {
    let (done, skipped) = db(state, move |conn| {
        let (mut done, mut skipped) = (Vec::new(), Vec::new());
        let now = trawler_domain::now_millis();
        for id in ids {
            let project = match Project::get(conn, id) {
                Ok(p) => p,
                Err(trawler_store::StoreError::NotFound(_)) => {
                    skipped.push(crate::views::BulkSkip { id, reason: "not found".into() });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut labels = project.labels.clone();
            let mut refused = None;
            for (k, v) in &change {
                match v {
                    Some(v) => {
                        if let Err(e) = labels.set(k, v) {
                            refused = Some(e);
                        }
                    }
                    None => {
                        labels.remove(k);
                    }
                }
            }
            match refused {
                Some(reason) => skipped.push(crate::views::BulkSkip { id, reason }),
                None if labels == project.labels => {
                    skipped.push(crate::views::BulkSkip { id, reason: "already labelled so".into() })
                }
                None => {
                    Project::set_labels(conn, id, &labels, now)?;
                    done.push(id);
                }
            }
        }
        Ok((done, skipped))
    })
    .await?;
    Ok(crate::views::BulkResult { action: crate::views::BulkAction::Label, done, skipped })
}
