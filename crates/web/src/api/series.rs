//! A project's numbers: series over time and the summary of a range.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use trawler_domain::{now_secs, Agg, Derived, Metric, Platform, ProjectId};
use trawler_store::{Point, Project, Run, SeriesQuery};

use crate::auth::Reader;
use crate::service::{db, Data};
use crate::views::wire::{Freshness, Observation};
use crate::views::*;
use crate::ApiError;
use crate::Moment;

/// Largest `step`: one year.
const MAX_STEP_SECS: i64 = 366 * 86_400;
/// Most buckets a downsampled series may have.
const MAX_BUCKETS: i64 = 100_000;

/// `from` and `to` as epoch seconds, when given; refused when out of order.
pub(super) fn times(from: Option<Moment>, to: Option<Moment>) -> Result<(Option<i64>, Option<i64>), ApiError> {
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
    if let Some(&name) = Derived::NAMES.iter().find(|n| **n == metric.as_str()) {
        let ask = super::derived::Ask { project: id, name, from, to, step: q.step, agg, over: q.over };
        return super::derived::series(&state, ask).await;
    }
    if q.over.is_some() {
        return Err(ApiError::BadRequest("`over` applies to a derived metric (roas, blended_roas, …) only".into()));
    }
    let platform = q
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let query = SeriesQuery { project: id, metric: metric.clone(), platform, from, to, step: q.step, agg };
    let adapters = state.tree.adapters().clone();
    let money = trawler_domain::money::is_money(metric.as_str());
    let memo = state.currencies.clone();
    let config = state.tree.config();
    let cadences = super::gaps::Cadences { full: config.full_interval, poll: config.poll_interval };
    let (step, now_ms) = (q.step, trawler_domain::now_millis());
    let asked = metric.clone();
    let (result, known, currencies, context) = db(&state, move |conn| {
        let result = Point::series(conn, &query)?;
        let found = result.series.iter().any(|s| !s.points.is_empty());
        // What explains empty slots, read only when there are some.
        let context = if super::gaps::may_have_gaps(&result.series, (from, to), step, now_ms / 1000) {
            Some(super::gaps::load(conn, &adapters, id, &asked, (from, to), cadences)?)
        } else {
            None
        };
        if found {
            // Points are stored only for a project that exists (projects
            // are archived, never deleted): no lookup on this, the hot path,
            // but for the currencies of money.
            let currencies = if money { Some(memo.of(conn, id)?) } else { None };
            return Ok((result, None, currencies, context));
        }
        Project::get(conn, id)?;
        // Nothing in the range: is the metric one this project has at all?
        Ok((result, Some(super::derived::known_metrics(conn, &adapters, id)?), None, context))
    })
    .await?;
    if let Some(known) = known.filter(|k| !k.iter().any(|m| m == metric.as_str())) {
        let list = super::derived::metric_list(&known);
        return Err(ApiError::Refused(crate::ErrorCode::MetricNotFound, format!(
            "project {id} has no metric `{metric}`: no source reads it and no point of it is stored (its metrics: {list})"
        )));
    }
    let gaps = context.map(|c| super::gaps::explain(&c, &result.series, (from, to), step, now_ms)).unwrap_or_default();
    let series = result
        .series
        .into_iter()
        .map(|s| SeriesLine {
            platform: Some(s.platform.into()),
            currency: currencies.as_ref().and_then(|c| c.get(&s.platform)).map(|c| String::from(*c)),
            points: s.points,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SeriesResponse {
        project_id: id.0,
        metric: metric.into(),
        from,
        to,
        step: q.step,
        agg: agg.into(),
        truncated: result.truncated,
        series,
        gaps,
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
    let (end, start, full, (currencies, fx)) = db(&state, move |conn| {
        let p = Project::get(conn, id)?;
        let end = Point::observations_at(conn, id, to)?;
        let start = if from > 0 { Point::observations_at(conn, id, from - 1)? } else { Vec::new() };
        let money = crate::money::money(conn, &p)?;
        let full = Run::freshness(conn, config.full_interval, &[p], now_ms - 86_400_000, now_ms)?;
        Ok((end, start, full.into_iter().next(), money))
    })
    .await?;
    let polls = state.tree.poll_freshness(Some(id), now_ms - 86_400_000, now_ms).await?.remove(&id);
    let target = state.tree.config().slo_target;
    let converted = currencies.totals(&fx, &end, &start);
    let (derived, reasons) = currencies.derived(&converted, &end, &start);
    let (totals, mut absent) = (converted.totals, converted.unavailable);
    absent.extend(reasons);
    let mut latest: BTreeMap<String, LatestValue> = BTreeMap::new();
    for (metric, value) in &totals.latest {
        let ts = end.iter().filter(|o| o.metric.as_str() == metric).map(|o| o.ts).max();
        latest.insert(metric.clone(), LatestValue { value: *value, ts });
    }
    Ok(HttpResponse::Ok().json(SummaryResponse {
        project_id: id.0,
        from: q_from.map(|_| from),
        to,
        latest,
        delta: totals.delta,
        derived: derived.into(),
        currency: currencies.reporting.map(String::from),
        absent,
        exchange_rates: crate::money::rates_age(&currencies, &fx),
        observations: end
            .into_iter()
            .map(|o| {
                let currency = currencies.of.get(&o.platform).copied();
                Observation::new(o, currency)
            })
            .collect(),
        freshness: SummaryFreshness {
            window_secs: 86_400,
            target,
            below_target: full.and_then(|f| f.share).is_some_and(|s| s < target),
            full: full.map(Freshness::from),
            polls: polls.filter(|f| f.slots > 0).map(Freshness::from),
        },
    }))
}
