//! Jobs: one bulk action over every project a filter matches, run in the
//! background with progress.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{BulkAction, BulkSkip};

/// What a job's filter lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobTarget {
    /// Projects, filtered as the projects page filters them (`status` is
    /// the project's state, `last` its latest run's outcome).
    #[default]
    Projects,
    /// Runs, filtered as the runs page filters them (`status` is the run's
    /// outcome): the action applies to their projects, each once.
    Runs,
}

impl JobTarget {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobTarget::Projects => "projects",
            JobTarget::Runs => "runs",
        }
    }
}

/// `POST /api/v1/admin/jobs`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartJob {
    /// The action, as a bulk request names it.
    pub action: BulkAction,
    /// The filter, as the UI's URL writes it: `last=failed&platform=kickstarter`
    /// (projects) or `status=failed&node=n1` (runs). Empty: every project.
    #[serde(default)]
    pub filter: String,
    /// What the filter lists (`projects` or `runs`).
    #[serde(default)]
    pub of: JobTarget,
    /// How many projects the caller was shown as matching: when the filter
    /// matches another number now, nothing starts (409 `filter_changed`).
    #[serde(default)]
    pub expect: Option<u64>,
    /// Only count what the filter matches; start nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The full-scrape cadence of action `cadence` (`"2h"`, `"manual"`,
    /// `"default"`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub full_interval: Option<serde_json::Value>,
    /// The poll cadence of action `cadence`, likewise.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub poll_interval: Option<serde_json::Value>,
    /// The label changes of action `label`: a value sets, `null` removes.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<serde_json::Value>,
}

impl StartJob {
    /// Its values besides the filter.
    pub fn values(&self) -> super::BulkValues {
        super::BulkValues {
            full_interval: self.full_interval.clone(),
            poll_interval: self.poll_interval.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// It is working through its projects.
    Running,
    /// Every project was done or skipped.
    Done,
    /// Someone cancelled it: the projects not reached were left alone.
    Cancelled,
    /// The database stayed unavailable: the projects not reached were left
    /// alone (see `error`).
    Failed,
}

impl JobState {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }
}

/// Where a job stands, without the projects it skipped: what each
/// `progress` event of its stream carries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobProgress {
    /// The job.
    pub id: u64,
    /// Where it stands.
    pub state: JobState,
    /// Projects it acts on (the filter's matches when it started).
    pub total: u64,
    /// Projects it was applied to.
    pub done: u64,
    /// Projects it left alone (see `skips`).
    pub skipped: u64,
}

impl JobProgress {
    /// Projects neither done nor skipped yet (after a cancel: never).
    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.done + self.skipped)
    }
}

/// A job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    /// Where it stands.
    #[serde(flatten)]
    pub progress: JobProgress,
    /// The action.
    pub action: BulkAction,
    /// What the filter lists.
    pub of: JobTarget,
    /// The filter, as given.
    pub filter: String,
    /// Who started it.
    pub by: String,
    /// When it started, epoch ms.
    pub started_at_ms: i64,
    /// When it ended, epoch ms.
    pub finished_at_ms: Option<i64>,
    /// Projects not reached (cancelled or failed), counted when it ended.
    pub not_reached: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// How many were skipped for each reason.
    pub skip_reasons: BTreeMap<String, u64>,
    /// The projects it skipped and why (the first 1,000).
    pub skips: Vec<BulkSkip>,
}

impl JobView {
    /// One line for people: what was done, skipped and not reached.
    pub fn summary(&self) -> String {
        let p = &self.progress;
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let mut out = format!("{} of {} project{}", p.done, p.total, plural(p.total));
        out.push_str(match self.action {
            BulkAction::Trigger => " started",
            BulkAction::Resume => " resumed",
            BulkAction::Archive => " archived",
            BulkAction::Pause => " paused",
            BulkAction::Unpause => " unpaused",
            BulkAction::Cadence => " given the cadence",
            BulkAction::Label => " labelled",
        });
        if p.skipped > 0 {
            let reasons: Vec<String> = self.skip_reasons.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            out.push_str(&format!("; {} skipped ({})", p.skipped, reasons.join("; ")));
        }
        if self.not_reached > 0 {
            out.push_str(&format!("; {} not reached ({})", self.not_reached, p.state.as_str()));
        }
        out
    }
}

/// The answer to `POST /api/v1/admin/jobs`.
#[derive(Serialize, ToSchema)]
pub struct JobStarted {
    /// Projects the filter matches now.
    pub matched: u64,
    /// The job, when one started (none for a dry run or no match).
    pub job: Option<JobView>,
    /// What happened, in words (`0 projects match the filter: no job
    /// started`).
    pub message: String,
}

/// Jobs of this node, newest first.
#[derive(Serialize, ToSchema)]
pub struct JobList {
    /// The jobs (running ones and the last 100 that ended).
    pub jobs: Vec<JobView>,
}
