//! Jobs in the UI: "apply to all matching" from the projects and runs
//! pages starts one; its page shows the progress bar (live over SSE), a
//! cancel button while it runs, and what it skipped and why.

use super::*;
use crate::views::{JobState, JobTarget, JobView, StartJob};

pub(super) struct JobRow {
    pub(super) id: u64,
    pub(super) action: String,
    pub(super) of: String,
    pub(super) filter: String,
    pub(super) by: String,
    pub(super) state: String,
    pub(super) total: u64,
    pub(super) done: u64,
    pub(super) skipped: u64,
    pub(super) started: String,
    pub(super) summary: String,
}

impl From<&JobView> for JobRow {
    fn from(v: &JobView) -> JobRow {
        JobRow {
            id: v.progress.id,
            action: serde_json::to_value(v.action).ok().and_then(|a| a.as_str().map(str::to_owned)).unwrap_or_default(),
            of: v.of.as_str().to_owned(),
            filter: if v.filter.is_empty() { "(every project)".into() } else { v.filter.clone() },
            by: v.by.clone(),
            state: v.progress.state.as_str().to_owned(),
            total: v.progress.total,
            done: v.progress.done,
            skipped: v.progress.skipped,
            started: ms_text(Some(v.started_at_ms)),
            summary: v.summary(),
        }
    }
}

#[derive(Template)]
#[template(path = "job.html")]
pub(super) struct JobPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) job: JobRow,
    pub(super) running: bool,
    pub(super) finished: String,
    pub(super) not_reached: u64,
    pub(super) error: String,
    /// Where the filter's view is.
    pub(super) view: String,
    /// Reason, how many.
    pub(super) reasons: Vec<(String, u64)>,
    /// Project id, reason (the first 1,000).
    pub(super) skips: Vec<(i64, String)>,
    /// Skipped projects beyond those named.
    pub(super) unnamed: u64,
}

#[derive(Template)]
#[template(path = "jobs.html")]
pub(super) struct JobsPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) jobs: Vec<JobRow>,
}

/// One job: its progress bar, counts, cancel, and skips.
pub async fn job_page(
    session: UiSession,
    state: Data,
    id: web::Path<u64>,
    q: web::Query<FlashQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = state.jobs.find(id.into_inner())?.view();
    let path = match view.of {
        JobTarget::Projects => "/ui/",
        JobTarget::Runs => "/ui/runs",
    };
    html(&JobPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "jobs",
        flash: q.into_inner().flash,
        running: view.progress.state == JobState::Running,
        finished: view.finished_at_ms.map_or_else(String::new, |ms| ms_text(Some(ms))),
        not_reached: view.not_reached,
        error: view.error.clone().unwrap_or_default(),
        view: if view.filter.is_empty() { path.to_owned() } else { format!("{path}?{}", view.filter) },
        reasons: view.skip_reasons.iter().map(|(r, n)| (r.clone(), *n)).collect(),
        skips: view.skips.iter().map(|s| (s.id.0, s.reason.clone())).collect(),
        unnamed: view.progress.skipped.saturating_sub(view.skips.len() as u64),
        job: JobRow::from(&view),
    })
}

/// This node's jobs, newest first.
pub async fn jobs_page(session: UiSession, state: Data, q: web::Query<FlashQuery>) -> Result<HttpResponse, ApiError> {
    html(&JobsPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "jobs",
        flash: q.into_inner().flash,
        jobs: state.jobs.list().iter().map(JobRow::from).collect(),
    })
}

/// Cancels a running job, then shows it.
pub async fn cancel_job(
    session: UiSession,
    state: Data,
    id: web::Path<u64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = id.into_inner();
    let message = if state.jobs.find(id)?.cancel() {
        "Cancelling: the job stops before its next batch"
    } else {
        "The job had ended"
    };
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("flash", message).finish();
    Ok(see_other(&format!("/ui/jobs/{id}?{query}")))
}

/// Starts a job from a page's bulk bar ("all N matching"): to its page, or
/// back to the view with the reason nothing started.
pub(super) async fn start_from_view(
    state: &Data,
    action: BulkAction,
    of: JobTarget,
    filter: String,
    expect: Option<u64>,
    values: crate::views::BulkValues,
    by: crate::audit::Actor,
) -> Result<Result<u64, String>, ApiError> {
    let request = StartJob {
        action,
        filter,
        of,
        expect,
        dry_run: false,
        full_interval: values.full_interval,
        poll_interval: values.poll_interval,
        labels: values.labels,
    };
    match crate::jobs::start_job(state, request, by).await {
        Ok(started) => Ok(started.job.map(|j| j.progress.id).ok_or(started.message)),
        // Said on the page the operator came from, not as an error page.
        Err(e @ (ApiError::Refused(crate::ErrorCode::FilterChanged, _) | ApiError::TooManyRequests { .. })) => {
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(e),
    }
}
