//! The node over time: charts of its own samples of the last hours
//! (fetches by platform and outcome, the gates, ingestion, the spool, live
//! streams, HTTP), drawn from `GET /api/v1/admin/history`.

use super::*;

#[derive(Template)]
#[template(path = "node.html")]
pub(super) struct NodePage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) node: String,
    pub(super) hours: i64,
    /// (hours, as shown).
    pub(super) choices: Vec<(i64, &'static str)>,
    /// (chart id, title).
    pub(super) charts: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
pub struct NodeQuery {
    hours: Option<i64>,
}

/// The node's page.
pub async fn node(session: UiSession, state: Data, q: web::Query<NodeQuery>) -> Result<HttpResponse, ApiError> {
    html(&NodePage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "node",
        flash: None,
        node: state.tree.node().to_owned(),
        hours: q.hours.unwrap_or(1).clamp(1, 6),
        choices: vec![(1, "1 hour"), (3, "3 hours"), (6, "6 hours")],
        charts: vec![
            ("fetches", "Fetches per second, by platform and outcome"),
            ("waiting", "Requests waiting at each platform's gate"),
            ("in_flight", "Requests in flight to each platform"),
            ("points", "Points written per second"),
            ("spool_bytes", "Bytes in the spool"),
            ("listeners", "Live-update streams open"),
            ("requests", "HTTP requests per second"),
        ],
    })
}
