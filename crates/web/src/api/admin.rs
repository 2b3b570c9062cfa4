//! What operators read: freshness, the cluster, the platforms' gates and
//! every actor's state.

use actix_web::{web, HttpResponse};
use trawler_domain::ProjectStatus;
use trawler_store::Project;

use super::series::times;
use crate::auth::Admin;
use crate::service::{db, freshness_between, platforms_view, Data};
use crate::views::wire;
use crate::views::*;
use crate::ApiError;

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
                project_id: p.id.0,
                name: p.name,
                status: p.status.into(),
                below_target: f.share.is_some_and(|s| s < target),
                freshness: f.into(),
                polls: polls.get(&p.id).copied().filter(|f| f.slots > 0).map(wire::Freshness::from),
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

/// The nodes on this database, their heartbeats and what they scrape.
#[utoipa::path(get, path = "/api/v1/admin/cluster", tag = "admin",
    responses((status = 200, body = ClusterView), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_cluster(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    use trawler_store::node::{HEARTBEAT_MS, TTL_MS};
    let mut cluster = db(&state, trawler_store::view::Cluster::read).await?;
    let nodes = std::mem::take(&mut cluster.nodes);
    let now = cluster.now_ms;
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
                leases: cluster.leases_of(&n.name),
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
        leased: cluster.leased(),
        active_projects: cluster.active_projects,
        coordinator: state.tree.cluster_view().into(),
        node: me,
    }))
}

/// Each platform's rate gate, circuit and slots, and its capacity: the
/// request rate its active sources need against its budget, with a warning
/// past 90%.
#[utoipa::path(get, path = "/api/v1/admin/platforms", tag = "admin",
    responses((status = 200, body = PlatformsView), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_platforms(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(platforms_view(&state).await?))
}

/// The supervision tree: every actor's state, of the node answering or,
/// with `?node=`, of another live node.
#[utoipa::path(get, path = "/api/v1/admin/actors", tag = "admin", params(ActorsParams),
    responses((status = 200, body = TreeSnapshot), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No live node of that name", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_actors(_: Admin, state: Data, q: web::Query<ActorsParams>) -> Result<HttpResponse, ApiError> {
    match q.into_inner().node.filter(|n| n != state.tree.node()) {
        // Another node's snapshot comes as that node serialised it: the same
        // shape (a test in views::admin holds the two together).
        Some(node) => Ok(HttpResponse::Ok().json(state.tree.snapshot_of(&node).await?)),
        None => Ok(HttpResponse::Ok().json(TreeSnapshot::from(state.tree.snapshot().await?))),
    }
}
