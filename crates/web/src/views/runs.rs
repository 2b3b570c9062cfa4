//! Runs: a page of them, a search, one with its progress.

use serde::{Deserialize, Serialize};
use trawler_actors as actors;
use trawler_store::Run;
use utoipa::{IntoParams, ToSchema};

use super::wire::{Platform, RunKind, RunStatus, RunTrigger};

/// A run with its log and, while it runs on this node, where it stands.
#[derive(Serialize, ToSchema)]
pub struct RunDetail {
    /// The run as recorded.
    #[serde(flatten)]
    pub run: RunBrief,
    /// What happened, one line per step (while the run runs on the node
    /// asked, its lines so far; each new one comes as a `run_log` event on
    /// its project's stream, numbered from 0).
    pub log: String,
    /// For a running run: `waiting` at a platform's gate (with its place in
    /// line and estimated start) or `fetching`. Absent for ended runs.
    pub progress: Option<RunPhase>,
    /// The answers its generic sources' fetches kept, in the order they
    /// came (see `GET /responses/{id}`).
    pub responses: Vec<super::ResponseView>,
}

impl RunDetail {
    /// A run with its log (so far, while it runs here), and where it
    /// stands if it is running here.
    pub fn new(mut run: Run, progress: Option<actors::RunPhase>) -> RunDetail {
        let mut log = std::mem::take(&mut run.log);
        if let Some(p) = &progress {
            if log.is_empty() {
                log.clone_from(&p.log);
            }
        }
        RunDetail { run: run.into(), log, progress: progress.map(RunPhase::from), responses: Vec::new() }
    }
}

/// Where a running run stands.
#[derive(Serialize, ToSchema)]
pub struct RunPhase {
    /// `waiting`: its next request waits at a platform's gate (for a pause,
    /// a token or a slot); `fetching`: a request is in flight or its points
    /// are being stored.
    pub phase: &'static str,
    /// For a waiting run: its place in line and estimated start.
    pub wait: Option<Standing>,
}

impl From<actors::RunPhase> for RunPhase {
    fn from(p: actors::RunPhase) -> RunPhase {
        let actors::RunPhase { phase, wait, log: _ } = p;
        RunPhase { phase, wait: wait.map(Standing::from) }
    }
}

/// A waiting run's standing at its platform's gate.
#[derive(Serialize, ToSchema)]
pub struct Standing {
    /// The platform whose gate it waits at.
    pub platform: Platform,
    /// Callers ahead of it in line (0: next to pass).
    pub place: usize,
    /// What holds it now: `pause` (the platform asked to wait), `rate` (the
    /// token bucket) or `slot` (requests in flight at their cap).
    pub waiting_for: &'static str,
    /// When it is expected to pass, epoch ms.
    pub estimated_start_ms: i64,
}

impl From<actors::gates::Standing> for Standing {
    fn from(s: actors::gates::Standing) -> Standing {
        let actors::gates::Standing { platform, place, waiting_for, estimated_start_ms } = s;
        Standing { platform: platform.into(), place, waiting_for, estimated_start_ms }
    }
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

/// A scrape run as recorded, without its log (`GET /runs/{id}` has the log).
#[derive(Serialize, ToSchema)]
pub struct RunBrief {
    /// Its id.
    pub id: i64,
    /// The project scraped.
    pub project_id: i64,
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
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The class of the error (timeout, throttled, http_status, parse,
    /// too_large, redirect, connect, blocked, circuit_open, config, panic, …).
    pub error_kind: Option<String>,
    /// Points handed to ingestion.
    pub points_written: i64,
    /// The node that ran it.
    pub node: String,
    /// When its first request passed the platform's gate, epoch ms (the
    /// time in line is this minus `started_at_ms`).
    pub fetch_started_at_ms: Option<i64>,
    /// When a re-parse of its kept answers recovered the points it missed,
    /// epoch ms.
    pub recovered_at_ms: Option<i64>,
}

impl From<Run> for RunBrief {
    fn from(r: Run) -> RunBrief {
        let Run {
            id,
            project_id,
            kind,
            triggered_by,
            status,
            started_at_ms,
            finished_at_ms,
            error,
            points_written,
            log: _,
            error_kind,
            node,
            fetch_started_at_ms,
            recovered_at_ms,
        } = r;
        RunBrief {
            id: id.0,
            project_id: project_id.0,
            kind: kind.into(),
            triggered_by: triggered_by.into(),
            status: status.into(),
            started_at_ms,
            finished_at_ms,
            error,
            error_kind,
            points_written,
            node,
            fetch_started_at_ms,
            recovered_at_ms,
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
    pub project_id: i64,
    /// The runs.
    pub runs: Vec<RunBrief>,
}
