//! The API's handlers, named `<verb>_<resource>`; wired in `routes.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trawler_actors::SourceSpec;
use trawler_domain::{now_secs, Agg, Derived, Metric, Platform, ProjectId, ProjectStatus, RunId, Totals};
use trawler_store::{AnyConnection, NewSource, Point, Project, ProjectPatch, Run, SeriesQuery, Source, StoreResult};

use crate::auth::Admin;
use crate::{ApiError, AppState};

type Data = web::Data<AppState>;

/// Runs blocking database work on actix-web's blocking pool.
async fn db<R, F>(state: &Data, f: F) -> Result<R, ApiError>
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

// ---- views -------------------------------------------------------------

/// A source as the API shows it: the secret is never returned.
#[derive(Serialize)]
struct SourceView {
    id: i64,
    platform: Platform,
    external_ref: String,
    options: Value,
    has_secret: bool,
}

impl From<Source> for SourceView {
    fn from(s: Source) -> SourceView {
        SourceView {
            id: s.id,
            platform: s.platform,
            external_ref: s.external_ref,
            options: s.options,
            has_secret: s.secret.is_some_and(|x| !x.is_empty()),
        }
    }
}

#[derive(Serialize)]
struct ProjectView {
    #[serde(flatten)]
    project: Project,
    sources: Vec<SourceView>,
}

fn project_view(project: Project, sources: Vec<Source>) -> ProjectView {
    ProjectView { project, sources: sources.into_iter().map(SourceView::from).collect() }
}

// ---- input -------------------------------------------------------------

/// A source in a create or update body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    platform: String,
    external_ref: String,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    secret: Option<String>,
}

/// The body of `POST /projects`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    name: String,
    #[serde(default)]
    sources: Vec<SourceInput>,
}

/// The body of `PATCH /projects/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    sources: Option<Vec<SourceInput>>,
}

const MAX_SOURCES: usize = 20;

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest("name must be 1 to 200 characters".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("name must not contain control characters".into()));
    }
    Ok(name.to_owned())
}

fn check_sources(state: &Data, input: Vec<SourceInput>) -> Result<Vec<NewSource>, ApiError> {
    if input.len() > MAX_SOURCES {
        return Err(ApiError::BadRequest(format!("at most {MAX_SOURCES} sources per project")));
    }
    let mut out = Vec::with_capacity(input.len());
    for (i, s) in input.into_iter().enumerate() {
        let platform: Platform = s.platform.parse().map_err(|e| ApiError::BadRequest(format!("sources[{i}]: {e}")))?;
        let spec = SourceSpec {
            platform,
            external_ref: s.external_ref.trim().to_owned(),
            options: s.options.unwrap_or_else(|| json!({})),
            secret: s.secret.filter(|x| !x.is_empty()),
        };
        state
            .tree
            .adapters()
            .validate(&spec)
            .map_err(|e| ApiError::BadRequest(format!("sources[{i}] ({platform}): {e}")))?;
        if out.iter().any(|o: &NewSource| o.platform == spec.platform && o.external_ref == spec.external_ref) {
            return Err(ApiError::BadRequest(format!(
                "sources[{i}]: duplicate {} source `{}`",
                spec.platform, spec.external_ref
            )));
        }
        out.push(NewSource { platform, external_ref: spec.external_ref, options: spec.options, secret: spec.secret });
    }
    Ok(out)
}

// ---- health ------------------------------------------------------------

pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn get_readyz(state: Data) -> HttpResponse {
    let pool = state.pool.clone();
    let database =
        web::block(move || pool.ping()).await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    let migrations = state.migrated.load(Ordering::Acquire);
    let supervisor = state.tree.is_started().await;
    let ready = database.is_ok() && migrations && supervisor;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "database": match &database { Ok(()) => "ok".to_owned(), Err(e) => { log::warn!("readyz: database: {e}"); "unreachable".to_owned() } },
            "migrations": if migrations { "applied" } else { "pending" },
            "supervisor": if supervisor { "started" } else { "starting" },
        }
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

// ---- projects ----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
}

pub async fn list_projects(_: Admin, state: Data, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let status = match q.into_inner().status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(
            s.parse::<ProjectStatus>()
                .map_err(|e| ApiError::BadRequest(format!("{e} (expected active, archived or all)")))?,
        ),
    };
    let views = db(&state, move |conn| {
        let projects = Project::list(conn, status)?;
        let mut views = Vec::with_capacity(projects.len());
        for p in projects {
            let sources = Source::list_for_project(conn, p.id)?;
            views.push(project_view(p, sources));
        }
        Ok(views)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "projects": views })))
}

pub async fn create_project(_: Admin, state: Data, body: web::Json<CreateProject>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = check_name(&body.name)?;
    let sources = check_sources(&state, body.sources)?;
    let (project, sources) = db(&state, move |conn| Project::create(conn, &name, &sources)).await?;
    let id = project.id;
    state.tree.project_created(id).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/projects/{id}")))
        .json(project_view(project, sources)))
}

pub async fn get_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let (p, s) = db(&state, move |conn| Ok((Project::get(conn, id)?, Source::list_for_project(conn, id)?))).await?;
    Ok(HttpResponse::Ok().json(project_view(p, s)))
}

pub async fn update_project(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    body: web::Json<UpdateProject>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let body = body.into_inner();
    let patch = ProjectPatch {
        name: body.name.as_deref().map(check_name).transpose()?,
        sources: body.sources.map(|s| check_sources(&state, s)).transpose()?,
    };
    let reload = patch.sources.is_some();
    let (p, s) = db(&state, move |conn| {
        let p = Project::update(conn, id, &patch)?;
        Ok((p, Source::list_for_project(conn, id)?))
    })
    .await?;
    if reload && p.status == ProjectStatus::Active {
        state.tree.project_updated(id).await?;
    }
    Ok(HttpResponse::Ok().json(project_view(p, s)))
}

pub async fn archive_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let (p, s) = db(&state, move |conn| {
        let p = Project::set_status(conn, id, ProjectStatus::Archived, None)?;
        Ok((p, Source::list_for_project(conn, id)?))
    })
    .await?;
    state.tree.project_archived(id).await?;
    Ok(HttpResponse::Ok().json(project_view(p, s)))
}

/// Makes a quarantined or archived project active again and starts its
/// scraper with a clean restart history.
pub async fn resume_project(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let (p, s) = db(&state, move |conn| {
        let p = Project::set_status(conn, id, ProjectStatus::Active, None)?;
        Ok((p, Source::list_for_project(conn, id)?))
    })
    .await?;
    state.tree.project_resumed(id).await?;
    Ok(HttpResponse::Ok().json(project_view(p, s)))
}

pub async fn trigger_scrape(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let run = state.tree.trigger(id).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/runs/{run}")))
        .json(json!({"run_id": run, "project_id": id, "status_url": format!("/api/v1/runs/{run}")})))
}

// ---- series and summary ------------------------------------------------

/// Largest `step`: one year.
const MAX_STEP_SECS: i64 = 366 * 86_400;
/// Most buckets a downsampled series may have.
const MAX_BUCKETS: i64 = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    metric: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    step: Option<i64>,
    agg: Option<String>,
    platform: Option<String>,
}

fn range(from: Option<i64>, to: Option<i64>, default_span: i64) -> Result<(i64, i64), ApiError> {
    let to = to.unwrap_or_else(now_secs);
    let from = from.unwrap_or(to.saturating_sub(default_span));
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to` (both epoch seconds)".into()));
    }
    Ok((from, to))
}

pub async fn get_series(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<SeriesParams>,
) -> Result<HttpResponse, ApiError> {
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
    let result = db(&state, move |conn| {
        Project::get(conn, id)?;
        Point::series(conn, &query)
    })
    .await?;
    let series: Vec<Value> = result
        .series
        .into_iter()
        .map(|s| json!({"platform": s.platform, "points": s.points.into_iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>()}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "project_id": id,
        "metric": metric,
        "from": from,
        "to": to,
        "step": q.step,
        "agg": agg,
        "truncated": result.truncated,
        "series": series,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    from: Option<i64>,
    to: Option<i64>,
}

pub async fn get_summary(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<SummaryParams>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    let q = q.into_inner();
    // Without `from`, the summary covers the project's whole history.
    let to = q.to.unwrap_or_else(now_secs);
    let from = q.from.unwrap_or(0);
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to` (both epoch seconds)".into()));
    }
    let (end, start) = db(&state, move |conn| {
        Project::get(conn, id)?;
        let end = Point::observations_at(conn, id, to)?;
        let start = if from > 0 { Point::observations_at(conn, id, from - 1)? } else { Vec::new() };
        Ok((end, start))
    })
    .await?;
    let totals = Totals::from_observations(&end, &start);
    let derived = Derived::from_totals(&totals);
    let mut latest: BTreeMap<String, Value> = BTreeMap::new();
    for (metric, value) in &totals.latest {
        let ts = end.iter().filter(|o| o.metric.as_str() == metric).map(|o| o.ts).max();
        latest.insert(metric.clone(), json!({"value": value, "ts": ts}));
    }
    Ok(HttpResponse::Ok().json(json!({
        "project_id": id,
        "from": if q.from.is_some() { Some(from) } else { None },
        "to": to,
        "latest": latest,
        "delta": totals.delta,
        "derived": derived,
        "observations": end,
    })))
}

// ---- export ------------------------------------------------------------

/// Rows per database read of an export.
const EXPORT_CHUNK: usize = 5_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    metric: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

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
async fn export(state: Data, id: i64, q: ExportParams, format: ExportFormat) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id);
    let metric =
        q.metric.as_deref().map(str::parse::<Metric>).transpose().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let from = q.from.unwrap_or(i64::MIN);
    let to = q.to.unwrap_or(i64::MAX);
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

pub async fn export_csv(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    export(state, id.into_inner(), q.into_inner(), ExportFormat::Csv).await
}

pub async fn export_jsonl(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    export(state, id.into_inner(), q.into_inner(), ExportFormat::JsonLines).await
}

// ---- runs --------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    limit: Option<i64>,
}

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
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|r| {
            let mut v = json!(r);
            if let Some(o) = v.as_object_mut() {
                o.remove("log");
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"project_id": id, "runs": runs})))
}

pub async fn get_run(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = RunId(id.into_inner());
    let run = db(&state, move |conn| Run::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(run))
}

// ---- admin -------------------------------------------------------------

pub async fn get_metrics(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    let text = state.tree.render_metrics().await?;
    Ok(HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text))
}

pub async fn get_platforms(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.tree.adapters().gates().snapshot()))
}

pub async fn get_actors(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    let snapshot = state.tree.snapshot().await?;
    Ok(HttpResponse::Ok().json(snapshot))
}
