//! The runs page: every run, filtered.

use super::*;

pub(super) struct RunListRow {
    pub(super) id: i64,
    pub(super) project_id: i64,
    pub(super) project: String,
    pub(super) status: String,
    pub(super) trigger: String,
    pub(super) node: String,
    pub(super) started: String,
    pub(super) took: String,
    pub(super) points: i64,
    pub(super) error: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
pub(super) struct RunsPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) rows: Vec<RunListRow>,
    pub(super) filters: FilterForm,
    /// The next page (older runs), if there may be one.
    pub(super) older: Option<String>,
    pub(super) here: String,
    /// With a filter: the projects of every run it matches (what "all
    /// matching" acts on).
    pub(super) matching: usize,
    pub(super) filter_query: String,
}

/// The runs page: every project's runs, newest first, filtered by platform,
/// outcome, node and time; bulk "scrape again" for the selected runs'
/// projects.
pub async fn runs(session: UiSession, state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let f = Filters::parse(req.query_string(), false)?;
    let every = f.clone();
    let (runs, nodes, matching) = db(&state, move |conn| {
        let filter = every.run_filter_in(conn, PAGE_SIZE as i64)?;
        let matching = if every.any() { every.projects_of_matching_runs(conn)?.len() } else { 0 };
        Ok((trawler_store::view::runs_with_project_names(conn, &filter)?, Run::nodes(conn)?, matching))
    })
    .await?;
    let older =
        (runs.len() == PAGE_SIZE).then(|| f.next_runs("/ui/runs", runs.last().map_or(0, |(r, _)| r.id.0), None));
    let rows = runs
        .into_iter()
        .map(|(r, project)| (took_text(&r), r, project))
        .map(|(took, r, project)| RunListRow {
            id: r.id.0,
            project_id: r.project_id.0,
            project,
            status: r.status.to_string(),
            trigger: r.triggered_by.to_string(),
            node: r.node,
            started: ms_text(Some(r.started_at_ms)),
            took,
            points: r.points_written,
            error: r.error.unwrap_or_default(),
        })
        .collect();
    let query = f.query(false, 1);
    html(&RunsPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "runs",
        flash: f.flash.clone(),
        rows,
        filters: filter_form(&f, nodes),
        older,
        here: if query.is_empty() { "/ui/runs".into() } else { format!("/ui/runs?{query}") },
        matching,
        filter_query: f.query(false, 1),
    })
}
