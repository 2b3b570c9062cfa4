//! Jobs: one bulk action over every project a filter matched, worked
//! through in the background a batch at a time, the way a user of a job
//! dashboard expects "apply to all matching" to behave: the matches are
//! fixed when it starts (a project that starts matching later is not
//! touched), progress is watched live (each batch updates a `watch`
//! channel that the job's event stream and the UI's bar follow), a cancel
//! stops it between batches, and every project left alone is reported
//! with its reason.
//!
//! Jobs live in the node that runs them: running ones and the last
//! [`KEPT`] that ended. A node that stops ends its jobs with it; what they
//! did is in the projects themselves (and the audit of who started them).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::watch;
use trawler_domain::{now_millis, ProjectId};

use crate::filters::Filters;
use crate::service::{db, Data};
use crate::views::{BulkAction, JobProgress, JobStarted, JobState, JobTarget, JobView, StartJob};
use crate::{ApiError, ErrorCode};

/// Projects a job applies its action to at once, between looks at the
/// cancel flag and progress updates.
pub const BATCH: usize = 20;
/// Ended jobs kept for their reports.
pub const KEPT: usize = 100;
/// Jobs a node runs at once.
pub const MOST_RUNNING: usize = 4;
/// Skipped projects a job names (every skip is counted).
pub const SKIPS_NAMED: usize = 1_000;

/// A job: its report so far, and its cancel flag.
pub struct Job {
    view: watch::Sender<JobView>,
    cancel: AtomicBool,
}

impl Job {
    /// Its report now.
    pub fn view(&self) -> JobView {
        self.view.borrow().clone()
    }

    /// Its reports from now on: the receiver sees each change.
    pub fn watch(&self) -> watch::Receiver<JobView> {
        self.view.subscribe()
    }

    /// Asks it to stop before its next batch; false if it had ended.
    pub fn cancel(&self) -> bool {
        if self.view.borrow().progress.state != JobState::Running {
            return false;
        }
        self.cancel.store(true, Ordering::Relaxed);
        true
    }
}

/// What a job does.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The action.
    pub action: BulkAction,
    /// What its filter lists.
    pub of: JobTarget,
    /// The filter, as given.
    pub filter: String,
    /// Who starts it.
    pub by: String,
    /// Their role.
    pub role: &'static str,
    /// Its values besides the projects.
    pub values: crate::views::BulkValues,
}

/// This node's jobs.
#[derive(Default)]
pub struct Jobs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Oldest first.
    jobs: VecDeque<Arc<Job>>,
}

impl Jobs {
    /// Starts a job over `ids` (at least one): it runs in the background on
    /// this thread's runtime. Refused while [`MOST_RUNNING`] run.
    pub fn start(&self, state: Data, spec: JobSpec, ids: Vec<ProjectId>) -> Result<Arc<Job>, ApiError> {
        let job = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let running = inner.jobs.iter().filter(|j| j.view.borrow().progress.state == JobState::Running).count();
            if running >= MOST_RUNNING {
                return Err(ApiError::TooManyRequests {
                    message: format!("{running} jobs are running on this node, the most it runs at once"),
                    retry_after_secs: 5,
                });
            }
            inner.next += 1;
            let view = JobView {
                progress: JobProgress {
                    id: inner.next,
                    state: JobState::Running,
                    total: ids.len() as u64,
                    done: 0,
                    skipped: 0,
                },
                action: spec.action,
                of: spec.of,
                filter: spec.filter.clone(),
                by: spec.by.clone(),
                started_at_ms: now_millis(),
                finished_at_ms: None,
                not_reached: 0,
                error: None,
                skip_reasons: Default::default(),
                skips: Vec::new(),
            };
            let job = Arc::new(Job { view: watch::Sender::new(view), cancel: AtomicBool::new(false) });
            inner.jobs.push_back(job.clone());
            // Forget the oldest ended jobs beyond the kept number.
            while inner.jobs.len() > KEPT + MOST_RUNNING {
                match inner.jobs.iter().position(|j| j.view.borrow().progress.state != JobState::Running) {
                    Some(i) => drop(inner.jobs.remove(i)),
                    None => break,
                }
            }
            job
        };
        log::info!(
            "job {} started by {}: {:?} of {} project(s) matching `{}` ({})",
            job.view().progress.id,
            spec.by,
            spec.action,
            ids.len(),
            spec.filter,
            spec.of.as_str()
        );
        actix_web::rt::spawn(work(state, job.clone(), spec, ids));
        Ok(job)
    }

    /// A job by id.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.jobs.iter().find(|j| j.view.borrow().progress.id == id).cloned()
    }

    /// A job by id, or the API's 404 `job_not_found`.
    pub fn find(&self, id: u64) -> Result<Arc<Job>, ApiError> {
        self.get(id).ok_or_else(|| ApiError::Refused(ErrorCode::JobNotFound, format!("no job {id} on this node")))
    }

    /// Every job kept, newest first.
    pub fn list(&self) -> Vec<JobView> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.jobs.iter().rev().map(|j| j.view()).collect()
    }
}

/// The keys a job's filter may have: those that choose projects or runs,
/// and those of a view's URL that do not (its page, order, chart range).
const FILTER_KEYS: &[&str] =
    &["platform", "status", "last", "node", "project", "label", "from", "to", "q", "page", "sort", "range", "flash"];

/// Starts a job over what `request`'s filter matches now, for `by`: the
/// one path of the API, the UI and the CLI. No match, or a dry run, starts
/// nothing and says how many match.
pub(crate) async fn start_job(
    state: &Data,
    request: StartJob,
    by: crate::audit::Actor,
) -> Result<JobStarted, ApiError> {
    if request.filter.len() > 4096 {
        return Err(ApiError::BadRequest("`filter` has at most 4096 characters".into()));
    }
    let filter = request.filter.trim().trim_start_matches('?').to_owned();
    // A misspelt key would match everything: refused, never ignored.
    for (key, _) in url::form_urlencoded::parse(filter.as_bytes()) {
        if !FILTER_KEYS.contains(&key.as_ref()) {
            return Err(ApiError::BadRequest(format!(
                "filter: unknown key `{key}` (platform, status, last, node, project, label, from, to or q)"
            )));
        }
    }
    let f = Filters::parse(&filter, request.of == JobTarget::Projects)?;
    crate::service::check_bulk(state, request.action, &request.values())?;
    let of = request.of;
    let ids = db(state, move |conn| match of {
        JobTarget::Projects => f.matching_projects(conn),
        JobTarget::Runs => f.projects_of_matching_runs(conn),
    })
    .await?;
    let matched = ids.len() as u64;
    let plural = if matched == 1 { "project matches" } else { "projects match" };
    if let Some(expect) = request.expect.filter(|&e| e != matched) {
        return Err(ApiError::Refused(
            ErrorCode::FilterChanged,
            format!("the filter matches {matched} projects now, not {expect}: look again before acting"),
        ));
    }
    if matched == 0 || request.dry_run {
        let message = if matched == 0 {
            "0 projects match the filter: no job started".to_owned()
        } else {
            format!("{matched} {plural} the filter (dry run: no job started)")
        };
        return Ok(JobStarted { matched, job: None, message });
    }
    let spec = JobSpec { action: request.action, of, filter, by: by.name, role: by.role, values: request.values() };
    let job = state.jobs.start(state.clone(), spec, ids)?;
    let view = job.view();
    let message = format!("job {} started: {matched} {plural} the filter", view.progress.id);
    Ok(JobStarted { matched, job: Some(view), message })
}

/// Works through a job's projects a batch at a time.
async fn work(state: Data, job: Arc<Job>, spec: JobSpec, ids: Vec<ProjectId>) {
    let mut failure = None;
    // The projects it changed, for the audit log (the first thousand).
    let mut changed: Vec<i64> = Vec::new();
    for batch in ids.chunks(BATCH) {
        if job.cancel.load(Ordering::Relaxed) {
            break;
        }
        // A database that is away for a moment delays the job; one that
        // stays away ends it (what was done stays done).
        let apply = || async { crate::service::bulk_apply(&state, spec.action, batch.to_vec(), &spec.values).await };
        let outcome = apply
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_delay(Duration::from_secs(10))
                    .with_max_times(5),
            )
            .sleep(tokio::time::sleep)
            .when(|e: &ApiError| matches!(e, ApiError::Unavailable(_)))
            .await;
        match outcome {
            Ok(result) => job.view.send_modify(|v| {
                let room = trawler_store::audit::MOST_PROJECTS.saturating_sub(changed.len());
                changed.extend(result.done.iter().take(room).map(|p| p.0));
                v.progress.done += result.done.len() as u64;
                v.progress.skipped += result.skipped.len() as u64;
                for skip in result.skipped {
                    *v.skip_reasons.entry(skip.reason.clone()).or_default() += 1;
                    if v.skips.len() < SKIPS_NAMED {
                        v.skips.push(skip);
                    }
                }
            }),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let cancelled = job.cancel.load(Ordering::Relaxed);
    job.view.send_modify(|v| {
        v.not_reached = v.progress.remaining();
        v.progress.state = match (&failure, cancelled) {
            (Some(_), _) => JobState::Failed,
            (None, true) if v.not_reached > 0 => JobState::Cancelled,
            (None, _) => JobState::Done,
        };
        v.error = failure.as_ref().map(|e| match e {
            ApiError::Unavailable(_) => "the database stayed unavailable".to_owned(),
            other => other.to_string(),
        });
        v.finished_at_ms = Some(now_millis());
    });
    let view = job.view();
    if let Some(e) = &failure {
        log::error!("job {} failed: {e}", view.progress.id);
    }
    log::info!("job {} {}: {}", view.progress.id, view.progress.state.as_str(), view.summary());
    crate::audit::write(
        &state,
        trawler_store::NewAudit {
            at_ms: now_millis(),
            actor: spec.by.clone(),
            role: spec.role.into(),
            action: format!("job {} {}", view.progress.id, view.progress.state.as_str()),
            path: format!("/api/v1/admin/jobs/{}", view.progress.id),
            status: 200,
            projects: changed,
            detail: Some(serde_json::json!({
                "action": view.action,
                "filter": view.filter,
                "of": view.of,
                "total": view.progress.total,
                "done": view.progress.done,
                "skipped": view.progress.skipped,
                "not_reached": view.not_reached,
                "summary": view.summary(),
            })),
            remote: None,
        },
    );
}
