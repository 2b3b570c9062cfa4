//! Runs: a page of them, a search, one with its progress.

use serde::{Deserialize, Serialize};
use trawler_actors::RunPhase;
use trawler_domain::{ProjectId, RunId, RunKind, RunStatus, RunTrigger};
use trawler_store::Run;
use utoipa::{IntoParams, ToSchema};

/// A run with its log and, while it runs on this node, where it stands.
#[derive(Serialize, ToSchema)]
pub struct RunDetail {
    /// The run as recorded.
    #[serde(flatten)]
    pub run: Run,
    /// For a running run: `waiting` at a platform's gate (with its place in
    /// line and estimated start) or `fetching`. Absent for ended runs.
    pub progress: Option<RunPhase>,
}

/// `?limit=` of the run list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A run without its log (`GET /runs/{id}` has the log).
#[derive(Serialize, ToSchema)]
pub struct RunBrief {
    /// Its id.
    pub id: RunId,
    /// The project.
    pub project_id: ProjectId,
    /// Full scrape or fast poll.
    pub kind: RunKind,
    /// Schedule or manual trigger.
    pub triggered_by: RunTrigger,
    /// Where it stands.
    pub status: RunStatus,
    /// When it started, epoch ms.
    pub started_at_ms: i64,
    /// When it ended, epoch ms.
    pub finished_at_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The error's class.
    pub error_kind: Option<String>,
    /// Points stored.
    pub points_written: i64,
    /// The node that ran it.
    pub node: String,
    /// When its first request passed the platform's gate, epoch ms (the
    /// time in line is this minus `started_at_ms`).
    pub fetch_started_at_ms: Option<i64>,
}

impl From<Run> for RunBrief {
    fn from(r: Run) -> RunBrief {
        RunBrief {
            id: r.id,
            project_id: r.project_id,
            kind: r.kind,
            triggered_by: r.triggered_by,
            status: r.status,
            started_at_ms: r.started_at_ms,
            finished_at_ms: r.finished_at_ms,
            error: r.error,
            error_kind: r.error_kind,
            points_written: r.points_written,
            node: r.node,
            fetch_started_at_ms: r.fetch_started_at_ms,
        }
    }
}

/// The query of `GET /api/v1/runs`. List filters take several values,
/// repeated (`status=failed&status=partial`) or comma-separated.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunSearchParams {
    /// Platforms: runs of projects with a source on one of them.
    pub platform: Option<String>,
    /// Outcomes: running, succeeded, partial, failed, cancelled, aborted.
    pub status: Option<String>,
    /// Node names.
    pub node: Option<String>,
    /// Project ids.
    pub project: Option<String>,
    /// Started at or after: epoch seconds or a date (YYYY-MM-DD, UTC).
    pub from: Option<String>,
    /// Started before: epoch seconds, or a date (which counts whole).
    pub to: Option<String>,
    /// Runs older than this run id (the next page).
    pub before: Option<i64>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Runs across projects, newest first.
#[derive(Serialize, ToSchema)]
pub struct RunSearch {
    /// The runs.
    pub runs: Vec<RunBrief>,
    /// The next page, if this one is full.
    pub next: Option<String>,
}

/// A project's runs, newest first.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// The project.
    pub project_id: ProjectId,
    /// The runs.
    pub runs: Vec<RunBrief>,
}
