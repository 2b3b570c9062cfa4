//! The derived figures over time: `GET /series?metric=roas` (and the other
//! derived figures), each bucket's figure computed from the same
//! observations the summary takes, in the reporting currency.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use trawler_domain::{Agg, Currencies, Derived, FxRates, Metric, Observation, Platform, ProjectId};
use trawler_store::{Point, Project, SeriesQuery, Source};

use crate::money::money;
use crate::service::{db, Data};
use crate::views::{Gap, SeriesLine, SeriesResponse};
use crate::ApiError;

/// The metrics project `id` has: those its sources read and those stored,
/// sorted, once each.
pub(super) fn known_metrics(
    conn: &mut trawler_store::AnyConnection,
    adapters: &trawler_actors::Adapters,
    id: ProjectId,
) -> trawler_store::StoreResult<Vec<String>> {
    let mut known = Point::metrics_of(conn, id)?;
    for source in Source::list_for_project(conn, id)? {
        known.extend(adapters.metrics(&trawler_actors::source_spec(&source)));
    }
    known.sort();
    known.dedup();
    Ok(known)
}

/// A project's metrics for an error message.
pub(super) fn metric_list(known: &[String]) -> String {
    if known.is_empty() {
        "none yet".to_owned()
    } else {
        known.join(", ")
    }
}

/// A derived series asked for.
pub(super) struct Ask {
    pub(super) project: ProjectId,
    /// One of [`Derived::NAMES`].
    pub(super) name: &'static str,
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) step: Option<i64>,
    pub(super) agg: Agg,
    pub(super) over: Option<String>,
}

/// What a derived series is computed from.
struct Inputs {
    currencies: Currencies,
    fx: FxRates,
    /// The latest observations of the inputs at `from - 1`.
    start: Vec<Observation>,
    /// The inputs' points in the range, by time.
    points: Vec<Observation>,
}

/// A derived figure over time: one value per bucket of `step`, or a gap
/// with the reason.
pub(super) async fn series(state: &Data, ask: Ask) -> Result<HttpResponse, ApiError> {
    let name = ask.name;
    let step = ask.step.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`step` is required for `{name}`: the figure is computed per bucket (e.g. step=3600 for hours)"
        ))
    })?;
    if ask.agg != Agg::Last {
        return Err(ApiError::BadRequest(format!(
            "`agg` of `{name}` is `last`: a bucket's figure is computed over its range (see `over`)"
        )));
    }
    let cumulative = match ask.over.as_deref() {
        None | Some("cumulative") => true,
        Some("bucket") => false,
        Some(_) => return Err(ApiError::BadRequest("`over` is `cumulative` or `bucket`".into())),
    };
    let Some((num, den, _)) = Derived::inputs(name) else {
        return Err(ApiError::BadRequest(format!("`{name}` is not a derived figure")));
    };
    let (id, from, to) = (ask.project, ask.from, ask.to);
    let adapters = state.tree.adapters().clone();
    let loaded = db(state, move |conn| {
        let project = Project::get(conn, id)?;
        let known = known_metrics(conn, &adapters, id)?;
        if let Some(missing) = [num, den].into_iter().find(|m| !known.iter().any(|k| k == m)) {
            return Ok(Err((missing, known)));
        }
        let (currencies, fx) = money(conn, &project)?;
        let wanted = |o: &Observation| o.metric.as_str() == num || o.metric.as_str() == den;
        let start = Point::observations_at(conn, id, from.saturating_sub(1))?.into_iter().filter(wanted).collect();
        let mut points = Vec::new();
        for metric in if num == den { vec![num] } else { vec![num, den] } {
            let metric = Metric::known(metric);
            let q = SeriesQuery {
                project: id,
                metric: metric.clone(),
                platform: None,
                from,
                to,
                step: None,
                agg: Agg::Last,
            };
            let mut read = Point::series(conn, &q)?;
            if read.truncated {
                // Too many raw points: the last of each bucket, dated by
                // the bucket (converted at its start's rate).
                read = Point::series(conn, &SeriesQuery { step: Some(step), ..q })?;
            }
            for s in read.series {
                points.extend(s.points.into_iter().map(|(ts, value)| Observation {
                    platform: s.platform,
                    metric: metric.clone(),
                    ts,
                    value,
                }));
            }
        }
        points.sort_by_key(|o| o.ts);
        Ok(Ok(Inputs { currencies, fx, start, points }))
    })
    .await?;
    let inputs = loaded.map_err(|(missing, known)| {
        let list = metric_list(&known);
        ApiError::Refused(
            crate::ErrorCode::MissingSources,
            format!("`{name}` needs `{num}` and `{den}`: project {id} has no source that reads `{missing}` (its metrics: {list})"),
        )
    })?;
    let (points, gaps) = sweep(&inputs, name, from, to, step, cumulative);
    let money = name == Derived::COST_PER_BACKER;
    Ok(HttpResponse::Ok().json(SeriesResponse {
        project_id: id.0,
        metric: name.to_owned(),
        from,
        to,
        step: Some(step),
        agg: Agg::Last.into(),
        truncated: false,
        series: vec![SeriesLine {
            platform: None,
            currency: inputs.currencies.reporting.filter(|_| money).map(String::from),
            points,
        }],
        gaps,
    }))
}

/// Walks the buckets in order, keeping the latest observation of each
/// (platform, metric) as the summary would find it at each bucket's end.
fn sweep(inputs: &Inputs, name: &str, from: i64, to: i64, step: i64, cumulative: bool) -> (Vec<(i64, f64)>, Vec<Gap>) {
    let mut latest: BTreeMap<(Platform, String), Observation> =
        inputs.start.iter().map(|o| ((o.platform, o.metric.as_str().to_owned()), o.clone())).collect();
    let initial: Vec<Observation> = latest.values().cloned().collect();
    let mut before = initial.clone();
    let (mut values, mut gaps): (Vec<(i64, f64)>, Vec<Gap>) = (Vec::new(), Vec::new());
    let mut next = inputs.points.iter().peekable();
    let mut bucket = from.div_euclid(step) * step;
    while bucket <= to {
        let end_ts = bucket.saturating_add(step - 1).min(to);
        while let Some(o) = next.next_if(|o| o.ts <= end_ts) {
            latest.insert((o.platform, o.metric.as_str().to_owned()), o.clone());
        }
        let end: Vec<Observation> = latest.values().cloned().collect();
        let start = if cumulative { &initial } else { &before };
        let converted = inputs.currencies.totals(&inputs.fx, &end, start);
        let (derived, mut reasons) = inputs.currencies.derived(&converted, &end, start);
        match derived.get(name) {
            Some(v) => values.push((bucket, v)),
            None => {
                let reason = reasons.remove(name).unwrap_or_else(|| "no value".into());
                let end = bucket.saturating_add(step);
                match gaps.last_mut() {
                    Some(g) if g.until == bucket && g.reason == reason => g.until = end,
                    _ => gaps.push(Gap { ts: bucket, until: end, platform: None, cause: "no_value".into(), reason }),
                }
            }
        }
        before = end;
        let Some(n) = bucket.checked_add(step) else { break };
        bucket = n;
    }
    (values, gaps)
}
