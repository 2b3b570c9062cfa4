//! The creator's dashboard: one project for its read-token holder, for a
//! range kept in the URL, with when its numbers were last updated, where
//! its campaign stands (a countdown to its deadline) and where its pledges
//! are heading. Agencies may show it in a frame on their own site
//! (`TRAWLER_EMBED_ORIGINS`).

use super::*;
use trawler_domain::campaign::Phase;
use trawler_domain::{Currencies, FxRates, Observation};

/// The dashboard's ranges: name, label, span (`None`: all history).
const DASHBOARD_RANGES: [(&str, &str, Option<i64>); 4] = [
    ("24h", "24 h", Some(86_400)),
    ("7d", "7 d", Some(7 * 86_400)),
    ("30d", "30 d", Some(30 * 86_400)),
    ("all", "all", None),
];

/// How far back the pledges' trend is read for the projection.
const TREND_SECS: i64 = 3 * 86_400;

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(super) struct DashboardPage {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) token: String,
    pub(super) figures: Vec<parts::Figure>,
    pub(super) metrics: Vec<String>,
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) step: i64,
    /// The ranges offered: name, label, link, whether it is the one shown.
    pub(super) ranges: Vec<(String, String, String, bool)>,
    /// A custom range's days, as the date inputs show them.
    pub(super) custom: (String, String),
    /// When its campaign ended (its numbers are final), if it has.
    pub(super) ended: Option<String>,
    /// When its newest number was observed, and how long ago, if ever.
    pub(super) updated: Option<(String, String)>,
    /// Its freshness badge: `fresh` while its newest number is younger than
    /// two of its scrape intervals, else `stale`; with the share of its
    /// slots on time over 24 hours, once some were due. The flag is bad.
    pub(super) fresh: Option<(String, String, bool)>,
    /// Its campaign: the platform's word and its deadline (epoch ms, and
    /// as people read it), while it runs.
    pub(super) campaign: Option<(String, Option<(i64, String)>)>,
    /// Where its pledges are heading by the deadline.
    pub(super) projection: Option<Projection>,
}

/// The pledges at the deadline if the trend of the recent days holds.
pub(super) struct Projection {
    /// The likeliest final total, as shown.
    pub(super) value: String,
    /// The band around it, as shown.
    pub(super) low: String,
    pub(super) high: String,
    /// The currency, if known.
    pub(super) currency: Option<String>,
    /// For the chart: `[[now, now's], [deadline, likeliest], …low, …high]`
    /// as JSON.
    pub(super) line: String,
}

#[derive(Deserialize)]
pub struct DashboardQuery {
    token: Option<String>,
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The range asked for: `[from, to]` epoch seconds and its name.
fn asked_range(q: &DashboardQuery, now: i64, first: Option<i64>) -> Result<(i64, i64, String), ApiError> {
    if let (Some(from), Some(to)) =
        (q.from.as_deref().filter(|s| !s.is_empty()), q.to.as_deref().filter(|s| !s.is_empty()))
    {
        let day = |s: &str| {
            trawler_domain::time::parse_date(s).ok_or_else(|| {
                ApiError::BadRequest(format!("`{}` is not a date (YYYY-MM-DD)", s.chars().take(20).collect::<String>()))
            })
        };
        let (from, to) = (day(from)?, day(to)?.saturating_add(86_399).min(now));
        if from > to {
            return Err(ApiError::BadRequest("the range's start must not be after its end".into()));
        }
        return Ok((from, to, "custom".into()));
    }
    let name = q.range.as_deref().unwrap_or("7d");
    let Some(&(name, _, span)) = DASHBOARD_RANGES.iter().find(|r| r.0 == name) else {
        return Err(ApiError::BadRequest("`range` is 24h, 7d, 30d or all (or give `from` and `to`)".into()));
    };
    let from = match span {
        Some(span) => now - span,
        None => first.unwrap_or(now - 86_400).min(now - 3600),
    };
    Ok((from, now, name.to_owned()))
}

/// The projection of `project`'s pledges to its deadline, from the trend of
/// the last three days (or the last day), with a band from the slower to
/// the faster of the two, a tenth wider each way.
fn projection(
    currencies: &Currencies,
    fx: &FxRates,
    (now_obs, day_obs, trend_obs): (&[Observation], &[Observation], &[Observation]),
    now: i64,
    deadline: i64,
) -> Option<Projection> {
    let pledged = |end: &[Observation], start: &[Observation]| {
        currencies.totals(fx, end, start).totals.delta.get(trawler_domain::Metric::PLEDGED).copied()
    };
    let latest = currencies.totals(fx, now_obs, &[]).totals.latest.get(trawler_domain::Metric::PLEDGED).copied()?;
    let remaining = (deadline - now) as f64;
    if remaining <= 0.0 {
        return None;
    }
    // A start the trend did not see counts from 0: skip such a trend.
    let rate = |start: &[Observation], secs: i64| {
        let seen = start.iter().any(|o| o.metric.as_str() == trawler_domain::Metric::PLEDGED);
        seen.then(|| pledged(now_obs, start)).flatten().map(|d| d.max(0.0) / secs as f64)
    };
    let (day, three) = (rate(day_obs, 86_400), rate(trend_obs, TREND_SECS));
    let likely = three.or(day)?;
    let (lo, hi) = match (day, three) {
        (Some(a), Some(b)) => (a.min(b), a.max(b)),
        _ => (likely * 0.8, likely * 1.2),
    };
    // The band: between the two trends, a tenth wider on each side.
    let (lo, hi) = (lo * 0.9, hi * 1.1);
    let at = |r: f64| latest + r * remaining;
    let line = serde_json::json!([[now, latest], [deadline, at(likely)], [deadline, at(lo)], [deadline, at(hi)]]);
    Some(Projection {
        value: number(Some(at(likely))),
        low: number(Some(at(lo))),
        high: number(Some(at(hi))),
        currency: currencies.reporting.map(String::from),
        line: line.to_string(),
    })
}

/// "5 min ago" for a moment `secs` ago.
fn ago(secs: i64) -> String {
    match secs.max(0) {
        s if s < 90 => format!("{s} s ago"),
        s if s < 90 * 60 => format!("{} min ago", s / 60),
        s if s < 36 * 3600 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// `/d/{id}?token=…&range=7d` (or `from`/`to` days): a project's live
/// figures and charts for its creator.
pub async fn dashboard(
    reader: crate::auth::Reader,
    state: Data,
    q: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = reader.project;
    let now = now_secs();
    let config = state.tree.config().clone();
    let target = config.slo_target;
    let (node_poll, node_full) = (config.poll_interval.as_secs() as i64, config.full_interval.as_secs() as i64);
    let loaded = db(&state, move |conn| {
        let project = Project::get(conn, id)?;
        let money = crate::money::money(conn, &project)?;
        let sources = Source::list_for_project(conn, id)?;
        let obs = (
            Point::observations_at(conn, id, now)?,
            Point::observations_at(conn, id, now - 86_400)?,
            Point::observations_at(conn, id, now - TREND_SECS)?,
        );
        let fresh = crate::service::freshness_of(conn, &config, std::slice::from_ref(&project), 86_400_000)?;
        Ok((project, money, sources, obs, fresh.into_iter().next()))
    })
    .await?;
    let (project, (currencies, fx), sources, (now_obs, day_obs, trend_obs), fresh) = loaded;
    let q = q.into_inner();
    // All of it: since the project was created (imported history is older:
    // a custom range shows it).
    let (from, to, range) = asked_range(&q, now, Some(project.created_at_ms / 1000))?;
    let (figures, metrics) = figures(&now_obs, &currencies, &fx);
    let token = q.token.unwrap_or_default();
    let link = |name: &str| {
        format!("/d/{}?range={name}{}", id.0, if token.is_empty() { String::new() } else { format!("&token={token}") })
    };
    let live = sources.iter().filter_map(|s| s.campaign.as_ref().map(|c| (s, c))).find(|(s, _)| {
        matches!(s.platform, trawler_domain::Platform::Kickstarter | trawler_domain::Platform::Indiegogo)
    });
    let campaign = live.map(|(_, c)| {
        let deadline = c.deadline_ms.filter(|_| c.phase == Phase::Live).map(|ms| (ms, ms_text(Some(ms))));
        (c.state.clone(), deadline)
    });
    let deadline = campaign.as_ref().and_then(|c| c.1.as_ref()).map(|d| d.0 / 1000);
    let projection = deadline.and_then(|d| projection(&currencies, &fx, (&now_obs, &day_obs, &trend_obs), now, d));
    let newest = now_obs.iter().map(|o| o.ts).max();
    // How often its numbers come: its polls, else its full scrapes.
    let secs = |ms: i64| ms / 1000;
    let every = match project.poll_interval_ms {
        Some(0) => project.full_interval_ms.filter(|ms| *ms > 0).map_or(node_full, secs),
        Some(ms) => secs(ms),
        None => node_poll,
    };
    let day = |t: i64| trawler_domain::time::rfc3339(t).chars().take(10).collect::<String>();
    framed_by(
        &DashboardPage {
            id: id.0,
            name: project.name,
            figures,
            metrics,
            from,
            to,
            step: ((to - from) / 300).max(1),
            ranges: DASHBOARD_RANGES
                .iter()
                .map(|r| (r.0.to_owned(), r.1.to_owned(), link(r.0), r.0 == range))
                .collect(),
            custom: (day(from), day(to)),
            token,
            ended: project
                .ended_at_ms
                .filter(|_| project.status == trawler_domain::ProjectStatus::Ended)
                .map(|ms| ms_text(Some(ms))),
            updated: newest.map(|t| (ms_text(Some(t * 1000)), ago(now - t))),
            fresh: newest.map(|t| {
                let stale = now - t > 2 * every;
                let share = fresh.and_then(|f| f.share);
                let title = share.map_or_else(
                    || "no scrape was due yet in the last 24 hours".to_owned(),
                    |s| format!("{:.1}% of the last 24 hours' scrapes on time", s * 100.0),
                );
                let word = if stale { "stale" } else { "fresh" };
                (word.to_owned(), title, stale || share.is_some_and(|s| s < target))
            }),
            campaign,
            projection,
        },
        &state.embed_origins,
    )
}

#[derive(Template)]
#[template(path = "dashboards.html")]
pub(super) struct DashboardsPage {
    pub(super) token: String,
    /// Each project it reads: id, name, status.
    pub(super) projects: Vec<(i64, String, String)>,
}

#[derive(Deserialize)]
pub struct IndexQuery {
    token: Option<String>,
}

/// `/d?token=…`: the pages a read token opens (a creator's campaigns).
pub async fn dashboards(state: Data, q: web::Query<IndexQuery>) -> Result<HttpResponse, ApiError> {
    let token = q.into_inner().token.unwrap_or_default();
    let unknown = || ApiError::Unauthorized("open this page with `?token=<a read token>`".into());
    let read = crate::auth::live_read_token(&state, &token).await?.ok_or_else(unknown)?;
    let ids = read.projects();
    let projects = db(&state, move |conn| {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // A project of the set deleted meanwhile is simply not listed.
            if let Ok(p) = Project::get(conn, id) {
                out.push((p.id.0, p.name, p.status.to_string()));
            }
        }
        Ok(out)
    })
    .await?;
    framed_by(&DashboardsPage { token, projects }, &state.embed_origins)
}
