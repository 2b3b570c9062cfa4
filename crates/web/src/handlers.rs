//! The API's handlers, named `<verb>_<resource>`; wired in `routes.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use trawler_actors::{SourceSpec, TreeSnapshot};
use trawler_domain::{now_secs, Agg, Derived, Metric, Platform, ProjectId, ProjectStatus, RunId, Totals};
use trawler_store::{
    AnyConnection, NewSource, Point, Project, ProjectPatch, Run, SeriesQuery, Source, StoreError, StoreResult,
};

use crate::auth::{Admin, MetricsReader, Reader};
use crate::views::*;
use crate::Moment;
use crate::{ApiError, AppState};

pub(crate) type Data = web::Data<AppState>;

/// Runs blocking database work on actix-web's blocking pool.
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

/// A JSON body as the API takes it: an object (serde would also take an
/// array for a struct), whose `sources`, if any, are objects too.
pub(crate) type Body = web::Json<serde_json::Map<String, serde_json::Value>>;

/// Reads a [`Body`] into its type.
pub(crate) fn from_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let map = body.into_inner();
    if let Some(serde_json::Value::Array(items)) = map.get("sources") {
        if let Some(i) = items.iter().position(|x| !x.is_object()) {
            return Err(ApiError::BadRequest(format!("invalid JSON body: sources[{i}] must be an object")));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

const MAX_SOURCES: usize = 20;

pub(crate) fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
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

// ---- health ------------------------------------------------------------

/// Whether the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Whether the node can serve: database reachable, migrations applied,
/// supervisor started.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "Ready", body = Ready), (status = 503, description = "Not ready", body = Ready)))]
pub async fn get_readyz(state: Data) -> HttpResponse {
    let pool = state.pool.clone();
    let database =
        web::block(move || pool.ping()).await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    let migrations = state.migrated.load(Ordering::Acquire);
    let supervisor = state.tree.is_started().await;
    let ready = database.is_ok() && migrations && supervisor;
    if let Err(e) = &database {
        log::warn!("readyz: database: {e}");
    }
    let body = Ready {
        status: if ready { "ready" } else { "not_ready" }.into(),
        checks: ReadyChecks {
            database: if database.is_ok() { "ok" } else { "unreachable" }.into(),
            migrations: if migrations { "applied" } else { "pending" }.into(),
            supervisor: if supervisor { "started" } else { "starting" }.into(),
        },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

// ---- projects ----------------------------------------------------------

/// Lists projects with their sources.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListQuery),
    responses((status = 200, body = ProjectList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_projects(_: Admin, state: Data, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(
            s.parse::<ProjectStatus>()
                .map_err(|e| ApiError::BadRequest(format!("{e} (expected active, archived or all)")))?,
        ),
    };
    if q.limit.is_some_and(|l| !(1..=10_000).contains(&l)) {
        return Err(ApiError::BadRequest("`limit` must be between 1 and 10000".into()));
    }
    let (limit, after) = (q.limit, q.after.map(ProjectId));
    let views = db(&state, move |conn| {
        let projects = Project::list_page(conn, status, after, limit)?;
        let ids: Vec<ProjectId> = projects.iter().map(|p| p.id).collect();
        let mut sources: std::collections::HashMap<ProjectId, Vec<Source>> = Default::default();
        for s in Source::list_for_projects(conn, &ids)? {
            sources.entry(s.project_id).or_default().push(s);
        }
        Ok(projects
            .into_iter()
            .map(|p| {
                let own = sources.remove(&p.id).unwrap_or_default();
                ProjectView::new(p, own)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    let next_after = match limit {
        Some(l) if views.len() as i64 == l => views.last().map(|v| v.project.id.0),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(ProjectList { projects: views, next_after }))
}

/// Creates a project; its first full scrape starts at once.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_project(_: Admin, state: Data, body: Body) -> Result<HttpResponse, ApiError> {
    let body: CreateProject = from_body(body)?;
    let name = check_name(&body.name)?;
    let sources = check_sources(&state, body.sources, &[])?;
    let (project, sources) = db(&state, move |conn| Project::create(conn, &name, &sources)).await?;
    let id = project.id;
    state.tree.project_created(id).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/projects/{id}")))
        .json(ProjectView::new(project, sources)))
}

/// One project with its sources (secrets are never returned).
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_project(reader: Reader, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let (p, s) = db(&state, move |conn| Ok((Project::get(conn, id)?, Source::list_for_project(conn, id)?))).await?;
    let view = ProjectView::new(p, s);
    Ok(HttpResponse::Ok().json(if reader.admin { view } else { view.for_reader() }))
}

/// Renames a project or replaces its sources.
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    request_body = UpdateProject,
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_project(_: Admin, state: Data, id: web::Path<i64>, body: Body) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let body: UpdateProject = from_body(body)?;
    let name = body.name.as_deref().map(check_name).transpose()?;
    let sources = match body.sources {
        Some(s) => Some(check_source_edit(&state, id, s).await?),
        None => None,
    };
    let patch = ProjectPatch { name, sources };
    let reload = patch.sources.is_some();
    let (p, s) = db(&state, move |conn| {
        let p = Project::update(conn, id, &patch)?;
        Ok((p, Source::list_for_project(conn, id)?))
    })
    .await?;
    if reload && p.status == ProjectStatus::Active {
        state.tree.project_updated(id).await?;
    }
    Ok(HttpResponse::Ok().json(ProjectView::new(p, s)))
}

/// Archives a project: it is not scraped any more; its data stays readable.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn archive_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = set_project_status(&state, ProjectId(id.into_inner()), ProjectStatus::Archived).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Archives (`Archived`) or resumes (`Active`) a project, stored first, then
/// told to the tree: the one path the API and the UI share.
pub(crate) async fn set_project_status(
    state: &Data,
    id: ProjectId,
    status: ProjectStatus,
) -> Result<ProjectView, ApiError> {
    let (p, s) = db(state, move |conn| {
        let p = Project::set_status(conn, id, status, None)?;
        Ok((p, Source::list_for_project(conn, id)?))
    })
    .await?;
    match status {
        ProjectStatus::Archived => state.tree.project_archived(id).await?,
        _ => state.tree.project_resumed(id).await?,
    }
    Ok(ProjectView::new(p, s))
}

/// Makes a quarantined or archived project active again and starts its
/// scraper with a clean restart history.
#[utoipa::path(post, path = "/api/v1/projects/{id}/resume", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = set_project_status(&state, ProjectId(id.into_inner()), ProjectStatus::Active).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Starts a full scrape now, or joins the one in progress.
#[utoipa::path(post, path = "/api/v1/projects/{id}/scrape", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 202, body = Triggered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Archived or quarantined", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn trigger_scrape(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let run = state.tree.trigger(id).await?;
    let progress = state.tree.run_phase(id, run).await?;
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/runs/{run}"))).json(Triggered {
        run_id: run,
        project_id: id,
        status_url: format!("/api/v1/runs/{run}"),
        progress,
    }))
}

// ---- series and summary ------------------------------------------------

/// Largest `step`: one year.
const MAX_STEP_SECS: i64 = 366 * 86_400;
/// Most buckets a downsampled series may have.
const MAX_BUCKETS: i64 = 100_000;

/// `from` and `to` as epoch seconds, when given; refused when out of order.
fn times(from: Option<Moment>, to: Option<Moment>) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let (from, to) = (from.map(Moment::secs), to.map(Moment::secs));
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::BadRequest("`from` must not be after `to`".into()));
        }
    }
    Ok((from, to))
}

/// `from` and `to`: `to` defaults to now, `from` to `default_span` before it.
fn range(from: Option<Moment>, to: Option<Moment>, default_span: i64) -> Result<(i64, i64), ApiError> {
    let (from, to) = times(from, to)?;
    let to = to.unwrap_or_else(now_secs);
    let from = from.unwrap_or(to.saturating_sub(default_span));
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to`".into()));
    }
    Ok((from, to))
}

/// A metric over time, raw or downsampled to `step`.
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/series", tag = "data",
    params(("id" = i64, Path, description = "Project id"), SeriesParams),
    responses((status = 200, body = SeriesResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_series(
    reader: Reader,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<SeriesParams>,
) -> Result<HttpResponse, ApiError> {
    let _permit = state.limits.reads.enter(reader.token_id)?;
    let id = ProjectId(id.into_inner());
    let q = q.into_inner();
    let metric: Metric = q
        .metric
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("`metric` is required (e.g. pledged, backers, spend)".into()))?
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("{e}")))?;
    let (from, to) = range(q.from, q.to, 7 * 86_400)?;
    if let Some(step) = q.step {
        if !(1..=MAX_STEP_SECS).contains(&step) {
            return Err(ApiError::BadRequest("`step` must be between 1 second and one year, in seconds".into()));
        }
        if to.saturating_sub(from) / step > MAX_BUCKETS {
            return Err(ApiError::BadRequest(format!("`step` too small: at most {MAX_BUCKETS} buckets per series")));
        }
    }
    let agg: Agg = match q.agg.as_deref() {
        None => Agg::Last,
        Some(a) => a.parse().map_err(ApiError::BadRequest)?,
    };
    let platform = q
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let query = SeriesQuery { project: id, metric: metric.clone(), platform, from, to, step: q.step, agg };
    let adapters = state.tree.adapters().clone();
    let (result, known) = db(&state, move |conn| {
        Project::get(conn, id)?;
        let result = Point::series(conn, &query)?;
        if result.series.iter().any(|s| !s.points.is_empty()) {
            return Ok((result, None));
        }
        // Nothing in the range: is the metric one this project has at all?
        let mut known = Point::metrics_of(conn, id)?;
        for source in Source::list_for_project(conn, id)? {
            known.extend(adapters.metrics(&trawler_actors::source_spec(&source)));
        }
        known.sort();
        known.dedup();
        Ok((result, Some(known)))
    })
    .await?;
    if let Some(known) = known.filter(|k| !k.iter().any(|m| m == metric.as_str())) {
        let list = if known.is_empty() { "none yet".to_owned() } else { known.join(", ") };
        return Err(ApiError::NotFound(format!(
            "project {id} has no metric `{metric}`: no source reads it and no point of it is stored (its metrics: {list})"
        )));
    }
    let series = result.series.into_iter().map(|s| SeriesLine { platform: s.platform, points: s.points }).collect();
    Ok(HttpResponse::Ok().json(SeriesResponse {
        project_id: id,
        metric,
        from,
        to,
        step: q.step,
        agg,
        truncated: result.truncated,
        series,
    }))
}

/// Latest values, changes over the range and derived figures (RoAS, …).
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/summary", tag = "data",
    params(("id" = i64, Path, description = "Project id"), SummaryParams),
    responses((status = 200, body = SummaryResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_summary(
    reader: Reader,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<SummaryParams>,
) -> Result<HttpResponse, ApiError> {
    let _permit = state.limits.reads.enter(reader.token_id)?;
    let id = ProjectId(id.into_inner());
    let q = q.into_inner();
    // Without `from`, the summary covers the project's whole history.
    let (q_from, q_to) = times(q.from, q.to)?;
    let to = q_to.unwrap_or_else(now_secs);
    let from = q_from.unwrap_or(0);
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to` (both epoch seconds)".into()));
    }
    let config = state.tree.config().clone();
    let now_ms = trawler_domain::now_millis();
    let (end, start, full) = db(&state, move |conn| {
        let p = Project::get(conn, id)?;
        let end = Point::observations_at(conn, id, to)?;
        let start = if from > 0 { Point::observations_at(conn, id, from - 1)? } else { Vec::new() };
        let full = Run::freshness(conn, config.full_interval, &[p], now_ms - 86_400_000, now_ms)?;
        Ok((end, start, full.into_iter().next()))
    })
    .await?;
    let polls = state.tree.poll_freshness(Some(id), now_ms - 86_400_000, now_ms).await?.remove(&id);
    let target = state.tree.config().slo_target;
    let totals = Totals::from_observations(&end, &start);
    let derived = Derived::from_totals(&totals);
    let mut latest: BTreeMap<String, LatestValue> = BTreeMap::new();
    for (metric, value) in &totals.latest {
        let ts = end.iter().filter(|o| o.metric.as_str() == metric).map(|o| o.ts).max();
        latest.insert(metric.clone(), LatestValue { value: *value, ts });
    }
    Ok(HttpResponse::Ok().json(SummaryResponse {
        project_id: id,
        from: q_from.map(|_| from),
        to,
        latest,
        delta: totals.delta,
        derived,
        observations: end,
        freshness: SummaryFreshness {
            window_secs: 86_400,
            target,
            below_target: full.and_then(|f| f.share).is_some_and(|s| s < target),
            full,
            polls: polls.filter(|f| f.slots > 0),
        },
    }))
}

// ---- export ------------------------------------------------------------

/// Rows per database read of an export.
const EXPORT_CHUNK: usize = 5_000;

#[derive(Clone, Copy, PartialEq)]
enum ExportFormat {
    Csv,
    JsonLines,
}

fn render_rows(project: ProjectId, rows: &[trawler_store::ExportRow], format: ExportFormat) -> String {
    let mut out = String::with_capacity(rows.len() * 80);
    for r in rows {
        let resolution = if r.rollup { "hour" } else { "raw" };
        let time = trawler_domain::time::rfc3339(r.ts);
        match format {
            // Platform and metric names are [a-z0-9_]: nothing to quote.
            ExportFormat::Csv => out
                .push_str(&format!("{project},{},{},{},{time},{},{resolution}\n", r.platform, r.metric, r.ts, r.value)),
            ExportFormat::JsonLines => {
                let line = json!({"project_id": project, "platform": r.platform, "metric": r.metric,
                    "ts": r.ts, "time": time, "value": r.value, "resolution": resolution});
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
    out
}

/// Streams a project's points, chunk by chunk, so an export of any size
/// holds one chunk in memory.
/// The read's permit is held until the last chunk is sent.
async fn export(reader: Reader, state: Data, q: ExportParams, format: ExportFormat) -> Result<HttpResponse, ApiError> {
    let permit = state.limits.reads.enter(reader.token_id)?;
    let id = reader.project;
    let metric =
        q.metric.as_deref().map(str::parse::<Metric>).transpose().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (from, to) = times(q.from, q.to)?;
    let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to` (both epoch seconds)".into()));
    }
    let cursor = db(&state, move |conn| {
        Project::get(conn, id)?;
        Point::export_start(conn, id, metric.as_ref())
    })
    .await?;
    let pool = state.pool.clone();
    let chunks = futures_util::stream::unfold(Some(cursor), move |cursor| {
        let pool = pool.clone();
        let _held = &permit;
        async move {
            let cursor = cursor?;
            let read = web::block(move || {
                let mut conn = pool.get()?;
                Point::export_chunk(&mut conn, id, from, to, cursor, EXPORT_CHUNK)
            })
            .await;
            Some(match read {
                Ok(Ok((rows, next))) => (Ok(web::Bytes::from(render_rows(id, &rows, format))), next),
                // The response has started: the error can only end it.
                Ok(Err(e)) => (Err(actix_web::Error::from(ApiError::from(e))), None),
                Err(e) => (Err(actix_web::Error::from(ApiError::from(e))), None),
            })
        }
    });
    let (content_type, extension, header) = match format {
        ExportFormat::Csv => {
            ("text/csv; charset=utf-8", "csv", "project_id,platform,metric,ts,time,value,resolution\n")
        }
        ExportFormat::JsonLines => ("application/x-ndjson", "jsonl", ""),
    };
    let head =
        futures_util::stream::once(
            async move { Ok::<_, actix_web::Error>(web::Bytes::from_static(header.as_bytes())) },
        );
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"project-{id}.{extension}\"")))
        .streaming(futures_util::StreamExt::chain(head, chunks)))
}

/// Streams a project's points (raw and hourly rollups) as CSV.
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/export.csv", tag = "data",
    params(("id" = i64, Path, description = "Project id"), ExportParams),
    responses((status = 200, description = "project_id,platform,metric,ts,time,value,resolution", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn export_csv(reader: Reader, state: Data, q: web::Query<ExportParams>) -> Result<HttpResponse, ApiError> {
    export(reader, state, q.into_inner(), ExportFormat::Csv).await
}

/// Streams a project's points (raw and hourly rollups) as JSON lines.
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/export.jsonl", tag = "data",
    params(("id" = i64, Path, description = "Project id"), ExportParams),
    responses((status = 200, description = "One JSON object per point", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn export_jsonl(reader: Reader, state: Data, q: web::Query<ExportParams>) -> Result<HttpResponse, ApiError> {
    export(reader, state, q.into_inner(), ExportFormat::JsonLines).await
}

// ---- runs --------------------------------------------------------------

/// A project's runs, newest first, without logs.
#[utoipa::path(get, path = "/api/v1/projects/{id}/runs", tag = "runs",
    params(("id" = i64, Path, description = "Project id"), RunsParams),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_runs(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<RunsParams>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("`limit` must be between 1 and 500".into()));
    }
    let runs = db(&state, move |conn| {
        Project::get(conn, id)?;
        Run::list_for_project(conn, id, limit)
    })
    .await?;
    // The list leaves logs out; GET /runs/{id} has them.
    Ok(HttpResponse::Ok().json(RunList { project_id: id, runs: runs.into_iter().map(RunBrief::from).collect() }))
}

/// Runs across projects, newest first, filtered by platform, outcome,
/// node, project and start time.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunSearchParams),
    responses((status = 200, body = RunSearch), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn search_runs(_: Admin, state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let f = crate::filters::Filters::parse(req.query_string(), false)?;
    let mut limit = 50;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if k == "limit" {
            limit = v
                .parse()
                .ok()
                .filter(|l| (1..=500).contains(l))
                .ok_or_else(|| ApiError::BadRequest("`limit` must be between 1 and 500".into()))?;
        }
    }
    let filter = f.run_filter(limit);
    let runs = db(&state, move |conn| Run::search(conn, &filter)).await?;
    let next = (runs.len() as i64 == limit)
        .then(|| f.next_runs("/api/v1/runs", runs.last().map_or(0, |r| r.id.0), Some(limit)));
    Ok(HttpResponse::Ok().json(RunSearch { runs: runs.into_iter().map(RunBrief::from).collect(), next }))
}

/// Applies one action to many projects: trigger, resume or archive. Each
/// project is handled on its own; those the action does not fit (resuming
/// an active one, archiving an archived one, triggering one that is not
/// active) are skipped with the reason.
#[utoipa::path(post, path = "/api/v1/admin/projects/bulk", tag = "projects", request_body = BulkRequest,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn bulk_projects(_: Admin, state: Data, body: Body) -> Result<HttpResponse, ApiError> {
    let body: BulkRequest = from_body(body)?;
    if body.ids.is_empty() || body.ids.len() > 10_000 {
        return Err(ApiError::BadRequest("`ids` must list 1 to 10,000 projects".into()));
    }
    Ok(HttpResponse::Ok().json(bulk_apply(&state, body.action, body.ids).await?))
}

/// The one path of bulk actions, for the API and the UI.
pub(crate) async fn bulk_apply(state: &Data, action: BulkAction, ids: Vec<ProjectId>) -> Result<BulkResult, ApiError> {
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    let wanted = ids.clone();
    let found: std::collections::HashMap<ProjectId, ProjectStatus> = db(state, move |conn| {
        let mut out = std::collections::HashMap::new();
        for id in wanted {
            match Project::get(conn, id) {
                Ok(p) => {
                    out.insert(id, p.status);
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
    .await?;
    let mut result = BulkResult { action, done: Vec::new(), skipped: Vec::new() };
    for id in ids {
        let skip = |reason: &str| BulkSkip { id, reason: reason.to_owned() };
        let Some(&status) = found.get(&id) else {
            result.skipped.push(skip("not found"));
            continue;
        };
        let outcome = match (action, status) {
            (BulkAction::Trigger, ProjectStatus::Active) => {
                state.tree.trigger(id).await.map(|_| ()).map_err(ApiError::from)
            }
            (BulkAction::Trigger, _) => {
                result.skipped.push(skip("not active"));
                continue;
            }
            (BulkAction::Resume, ProjectStatus::Active) => {
                result.skipped.push(skip("already active"));
                continue;
            }
            (BulkAction::Resume, _) => set_project_status(state, id, ProjectStatus::Active).await.map(|_| ()),
            (BulkAction::Archive, ProjectStatus::Archived) => {
                result.skipped.push(skip("already archived"));
                continue;
            }
            (BulkAction::Archive, _) => set_project_status(state, id, ProjectStatus::Archived).await.map(|_| ()),
        };
        match outcome {
            Ok(()) => result.done.push(id),
            // The database going away fails the whole request (503): the
            // caller retries; the rest are per-project conditions.
            Err(e @ ApiError::Unavailable(_)) => return Err(e),
            Err(ApiError::Internal(e)) => {
                log::error!("bulk {action:?} of project {id}: {e}");
                result.skipped.push(skip("internal error (see the node's log)"));
            }
            Err(e) => result.skipped.push(skip(&e.to_string())),
        }
    }
    Ok(result)
}

/// Cancels a running run: its requests are dropped within a second, the
/// points stored so far stay, and it ends `cancelled`. The next slot runs as
/// usual.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = Run), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The run is not running", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn cancel_run(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let run = state.tree.cancel(RunId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(run))
}

/// One run with its log.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_run(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = RunId(id.into_inner());
    let run = db(&state, move |conn| Run::get(conn, id)).await?;
    let progress = match run.status {
        trawler_domain::RunStatus::Running => state.tree.run_phase(run.project_id, id).await?,
        _ => None,
    };
    Ok(HttpResponse::Ok().json(RunDetail { run, progress }))
}

// ---- freshness ---------------------------------------------------------

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

/// The freshness SLO of every active or quarantined project: the share of
/// its full-scrape slots that started within 1% of the interval and
/// succeeded, worst first.
#[utoipa::path(get, path = "/api/v1/admin/freshness", tag = "admin", params(FreshnessParams),
    responses((status = 200, body = FreshnessList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_freshness(_: Admin, state: Data, q: web::Query<FreshnessParams>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let window_ms: i64 = match q.window.as_deref() {
        None | Some("24h") => 86_400_000,
        Some("7d") => 7 * 86_400_000,
        Some(other) => return Err(ApiError::BadRequest(format!("`window` must be 24h or 7d, not `{other}`"))),
    };
    let (q_from, q_to) = times(q.from, q.to)?;
    let now = trawler_domain::now_millis();
    let to_ms = q_to.map_or(now, |t| (t * 1000).min(now));
    let from_ms = match q_from {
        Some(f) if q.window.is_some() => {
            return Err(ApiError::BadRequest(format!("give `window` or `from`, not both (from={f})")))
        }
        Some(f) => f * 1000,
        None => to_ms - window_ms,
    };
    if from_ms >= to_ms {
        return Err(ApiError::BadRequest("`from` must come before `to` and before now".into()));
    }
    let config = state.tree.config().clone();
    let target = config.slo_target;
    let polls = state.tree.poll_freshness(None, from_ms, to_ms).await?;
    let mut rows = db(&state, move |conn| {
        let projects: Vec<Project> =
            Project::list(conn, None)?.into_iter().filter(|p| p.status != ProjectStatus::Archived).collect();
        let fresh = freshness_between(conn, &config, &projects, from_ms, to_ms)?;
        Ok(projects
            .into_iter()
            .zip(fresh)
            .map(|(p, f)| FreshnessRow {
                project_id: p.id,
                name: p.name,
                status: p.status,
                below_target: f.share.is_some_and(|s| s < target),
                freshness: f,
                polls: polls.get(&p.id).copied().filter(|f| f.slots > 0),
                polls_below_target: polls.get(&p.id).and_then(|f| f.share).is_some_and(|s| s < target),
            })
            .collect::<Vec<_>>())
    })
    .await?;
    rows.sort_by(|a, b| a.freshness.share.unwrap_or(1.0).total_cmp(&b.freshness.share.unwrap_or(1.0)));
    Ok(HttpResponse::Ok().json(FreshnessList {
        window_secs: (to_ms - from_ms) / 1000,
        from_ms,
        to_ms,
        target,
        projects: rows,
    }))
}

// ---- admin -------------------------------------------------------------

/// The nodes on this database, their heartbeats and what they scrape.
#[utoipa::path(get, path = "/api/v1/admin/cluster", tag = "admin",
    responses((status = 200, body = ClusterView), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_cluster(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    use trawler_store::node::{Node, HEARTBEAT_MS, TTL_MS};
    let (now, nodes, leases, active) = db(&state, move |conn| {
        let now = Node::clock(conn)?;
        Ok((
            now,
            Node::list(conn)?,
            trawler_store::Lease::counts(conn, now - TTL_MS)?,
            trawler_store::Lease::active_projects(conn)?,
        ))
    })
    .await?;
    let me = state.tree.node().to_owned();
    let scrapers = state.tree.scraper_count().await?;
    let backend = match state.pool.backend() {
        trawler_store::Backend::Sqlite => "sqlite",
        trawler_store::Backend::Postgres => "postgres",
    };
    Ok(HttpResponse::Ok().json(ClusterView {
        backend: backend.into(),
        heartbeat_ms: HEARTBEAT_MS,
        ttl_ms: TTL_MS,
        nodes: nodes
            .into_iter()
            .map(|n| NodeView {
                leases: leases.iter().find(|(name, _)| *name == n.name).map_or(0, |(_, c)| *c),
                alive: n.alive(now, TTL_MS),
                this_node: n.name == me,
                scrapers: (n.name == me).then_some(scrapers),
                name: n.name,
                version: n.version,
                started_at_ms: n.started_at_ms,
                heartbeat_at_ms: n.heartbeat_at_ms,
                stopped_at_ms: n.stopped_at_ms,
            })
            .collect(),
        leased: leases.iter().map(|(_, c)| c).sum(),
        active_projects: active,
        coordinator: state.tree.cluster_view(),
        node: me,
    }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "admin",
    responses((status = 200, description = "OpenMetrics when the Accept header asks for it, else the Prometheus text format",
        content((String = "text/plain"), (String = "application/openmetrics-text"))), (status = 401, body = ErrorBody)))]
pub async fn get_metrics(_: MetricsReader, state: Data, req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let text = state.tree.render_metrics().await?;
    // Content negotiation, as Prometheus' own clients do: OpenMetrics for
    // scrapers that ask for it, the classic text format otherwise.
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("application/openmetrics-text") {
        Ok(HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text))
    } else {
        Ok(HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(trawler_actors::metrics::to_prometheus_text(&text)))
    }
}

/// Each platform's rate gate, circuit and slots, and its capacity: the
/// request rate its active sources need against its budget, with a warning
/// past 90%.
#[utoipa::path(get, path = "/api/v1/admin/platforms", tag = "admin",
    responses((status = 200, body = PlatformsView), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_platforms(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(platforms_view(&state).await?))
}

/// The gates and the capacity of every platform.
pub(crate) async fn platforms_view(state: &Data) -> Result<PlatformsView, ApiError> {
    let gates = state.tree.adapters().gates().snapshot();
    let counts = db(state, Source::count_active_by_platform).await?;
    let config = state.tree.config();
    let capacity: Vec<trawler_domain::capacity::Capacity> = gates
        .platforms
        .iter()
        .map(|g| {
            let sources = counts.iter().find(|(p, _)| *p == g.platform).map_or(0, |(_, n)| *n);
            trawler_domain::capacity::capacity(
                g.platform,
                sources,
                config.full_interval.as_secs_f64(),
                config.poll_interval.as_secs_f64(),
                g.rate_per_sec,
                1,
            )
        })
        .collect();
    let warnings = capacity.iter().filter_map(|c| c.warning.clone()).collect();
    Ok(PlatformsView { gates, capacity, warnings })
}

/// The supervision tree: every actor's state, of the node answering or,
/// with `?node=`, of another live node.
#[utoipa::path(get, path = "/api/v1/admin/actors", tag = "admin", params(ActorsParams),
    responses((status = 200, body = TreeSnapshot), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No live node of that name", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_actors(_: Admin, state: Data, q: web::Query<ActorsParams>) -> Result<HttpResponse, ApiError> {
    match q.into_inner().node.filter(|n| n != state.tree.node()) {
        Some(node) => Ok(HttpResponse::Ok().json(state.tree.snapshot_of(&node).await?)),
        None => Ok(HttpResponse::Ok().json(state.tree.snapshot().await?)),
    }
}
