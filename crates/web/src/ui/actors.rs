//! The actors page: every actor of this node, or of another.

use super::*;

pub(super) struct ActorRow {
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) status: String,
    pub(super) info: String,
    pub(super) error: Option<String>,
    pub(super) project: Option<i64>,
}

#[derive(Template)]
#[template(path = "actors.html")]
pub(super) struct ActorsPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) taken: String,
    pub(super) actors: Vec<ActorRow>,
    /// The node described.
    pub(super) node: String,
    /// The node answering (the others' trees come through the database).
    pub(super) this_node: String,
    /// Every node of the registry.
    pub(super) nodes: Vec<NodeRow>,
    /// Projects leased out of the active ones (cluster mode; 0 on SQLite).
    pub(super) leased: i64,
    pub(super) active: i64,
}

/// One node on the actors page.
pub(super) struct NodeRow {
    pub(super) name: String,
    pub(super) alive: bool,
    /// `heartbeat 1 s ago` or `stopped`.
    pub(super) seen: String,
    /// Projects it holds.
    pub(super) leases: i64,
    /// Its part of the active projects, percent (the bar's width).
    pub(super) pct: f64,
}

/// `?node=` of the actors page.
#[derive(Deserialize)]
pub struct ActorsQuery {
    node: Option<String>,
}

pub async fn actors(session: UiSession, state: Data, q: web::Query<ActorsQuery>) -> Result<HttpResponse, ApiError> {
    use trawler_store::node::TTL_MS;
    // This node's tree, or another live node's through the database.
    let snapshot = match q.into_inner().node.filter(|n| n != state.tree.node()) {
        Some(node) => state.tree.snapshot_of(&node).await?,
        None => serde_json::to_value(state.tree.snapshot().await?).map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    let mut cluster = db(&state, trawler_store::view::Cluster::read).await?;
    let nodes = std::mem::take(&mut cluster.nodes);
    let (now, active) = (cluster.now_ms, cluster.active_projects);
    let nodes: Vec<NodeRow> = nodes
        .into_iter()
        .map(|n| {
            let alive = n.alive(now, TTL_MS);
            let seen = if n.stopped_at_ms.is_some() {
                "stopped".to_owned()
            } else {
                format!("heartbeat {:.0} s ago", (now - n.heartbeat_at_ms) as f64 / 1000.0)
            };
            let held = cluster.leases_of(&n.name);
            let pct = if active > 0 { held as f64 * 100.0 / active as f64 } else { 0.0 };
            NodeRow { name: n.name, alive, seen, leases: held, pct }
        })
        .collect();
    let leased = cluster.leased();
    let rel = |ms: Option<i64>| {
        ms.map(|ms| {
            let s = (ms - now) / 1000;
            if s >= 0 {
                format!("in {s}s")
            } else {
                format!("{}s ago", -s)
            }
        })
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let actors = snapshot["actors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let mut info = Vec::new();
            if let Some(t) = rel(a["last_run_ms"].as_i64()) {
                info.push(format!("last {t}"));
            }
            if let Some(t) = rel(a["next_run_ms"].as_i64()) {
                info.push(format!("next {t}"));
            }
            if let Some(r) = a["restarts"].as_u64().filter(|r| *r > 0) {
                info.push(format!("restarts {r}"));
            }
            if let Some(m) = a["mailbox"].as_u64() {
                info.push(format!("mailbox {m}"));
            }
            ActorRow {
                kind: text(&a["kind"]),
                name: text(&a["name"]),
                status: text(&a["status"]),
                info: info.join(" · "),
                error: a["last_error"].as_str().map(str::to_owned),
                project: a["project_id"].as_i64(),
            }
        })
        .collect();
    html(&ActorsPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "actors",
        flash: None,
        taken: ms_text(snapshot["taken_at_ms"].as_i64()),
        actors,
        node: text(&snapshot["node"]),
        this_node: state.tree.node().to_owned(),
        nodes,
        leased,
        active,
    })
}
