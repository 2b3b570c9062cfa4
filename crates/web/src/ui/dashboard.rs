//! The creator's dashboard: one project for its read-token holder.

use super::*;

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(super) struct DashboardPage {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) token: String,
    pub(super) figures: Vec<parts::Figure>,
    pub(super) metrics: Vec<String>,
    pub(super) from: i64,
    pub(super) step: i64,
    /// When its campaign ended (its numbers are final), if it has.
    pub(super) ended: Option<String>,
}

#[derive(Deserialize)]
pub struct DashboardQuery {
    token: Option<String>,
}

/// `/d/{id}?token=…`: a project's live figures and charts for its creator.
pub async fn dashboard(
    reader: crate::auth::Reader,
    state: Data,
    q: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = reader.project;
    let now = now_secs();
    let (project, obs, (currencies, fx)) = db(&state, move |conn| {
        let project = Project::get(conn, id)?;
        let money = crate::money::money(conn, &project)?;
        Ok((project, Point::observations_at(conn, id, now)?, money))
    })
    .await?;
    let (figures, metrics) = figures(&obs, &currencies, &fx);
    let span = 7 * 86_400;
    html(&DashboardPage {
        id: id.0,
        name: project.name,
        token: q.into_inner().token.unwrap_or_default(),
        figures,
        metrics,
        from: now - span,
        step: span / 300,
        ended: project
            .ended_at_ms
            .filter(|_| project.status == trawler_domain::ProjectStatus::Ended)
            .map(|ms| ms_text(Some(ms))),
    })
}
