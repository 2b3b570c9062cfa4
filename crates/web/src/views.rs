//! What the API sends and receives, as types: the handlers build these, and
//! the OpenAPI document is generated from the same types, so the document
//! cannot drift from the responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trawler_actors::RunPhase;
use trawler_domain::{Agg, Derived, Metric, Observation, Platform, ProjectId, RunId, RunKind, RunStatus, RunTrigger};
use trawler_store::{Delivery, Project, Run, Source, Webhook};
use utoipa::{IntoParams, ToSchema};

// ---- errors and health -------------------------------------------------

/// Every error: a stable code and a message saying what to fix.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, as a client matches on it (see docs/api.md).
    pub code: crate::ErrorCode,
    /// What went wrong.
    pub message: String,
}

/// `/healthz`: the process is alive.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `/readyz`: whether the node can serve.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Each check's state.
    pub checks: ReadyChecks,
}

/// The checks behind readiness.
#[derive(Serialize, ToSchema)]
pub struct ReadyChecks {
    /// `ok` or `unreachable`.
    pub database: String,
    /// `applied` or `pending`.
    pub migrations: String,
    /// `started` or `starting`.
    pub supervisor: String,
}

// ---- projects ----------------------------------------------------------

/// A source as the API shows it: the secret is never returned.
#[derive(Serialize, ToSchema)]
pub struct SourceView {
    /// Its id.
    pub id: i64,
    /// Which adapter reads it.
    pub platform: Platform,
    /// The project's id on the platform.
    pub external_ref: String,
    /// Adapter options.
    #[schema(value_type = Object)]
    pub options: Value,
    /// Whether a secret (an access token) is stored.
    pub has_secret: bool,
}

impl From<Source> for SourceView {
    fn from(s: Source) -> SourceView {
        SourceView {
            id: s.id,
            platform: s.platform,
            external_ref: s.external_ref,
            options: std::sync::Arc::unwrap_or_clone(s.options),
            has_secret: s.secret.is_some_and(|x| !x.is_empty()),
        }
    }
}

/// A project with its sources.
#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// Where its numbers come from.
    pub sources: Vec<SourceView>,
}

impl ProjectView {
    /// A project and its sources.
    pub fn new(project: Project, sources: Vec<Source>) -> ProjectView {
        ProjectView { project, sources: sources.into_iter().map(SourceView::from).collect() }
    }

    /// The view a read-token holder gets: the sources without their
    /// options, which can hold URLs with credentials and selectors that are
    /// the agency's own work (`options` is `{}`).
    pub fn for_reader(mut self) -> ProjectView {
        for s in &mut self.sources {
            s.options = Value::Object(Default::default());
        }
        self
    }
}

/// `GET /projects`.
#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    /// The projects, oldest first.
    pub projects: Vec<ProjectView>,
    /// With `limit`, when the page is full: pass it as `after` for the next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// A source in a create or update body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// `kickstarter`, `indiegogo`, `meta_ads`, `http_json` or `html`.
    #[schema(value_type = Platform, example = "kickstarter")]
    pub platform: String,
    /// The project's id on the platform (`creator/slug`, `act_123`, …).
    #[schema(example = "studio/aurora-lamp", pattern = "\\S")]
    pub external_ref: String,
    /// Adapter options (see docs/sources.md).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
    /// A credential (an access token); stored, never returned.
    #[serde(default)]
    pub secret: Option<String>,
}

/// The body of `POST /projects`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// 1 to 200 characters, no control characters.
    #[schema(
        example = "Aurora Lamp",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Up to 20 sources.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub sources: Vec<SourceInput>,
}

/// The body of `PATCH /projects/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    /// A new name.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    /// The complete new list of sources.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub sources: Option<Vec<SourceInput>>,
}

/// `?status=` of `GET /projects`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `active`, `archived`, `quarantined` or `all` (the default).
    #[param(pattern = "^(active|archived|quarantined|all)$")]
    pub status: Option<String>,
    /// At most this many projects (1 to 10,000); without it, all of them.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// Only projects with a larger id: the previous page's `next_after`.
    pub after: Option<i64>,
}

/// The answer to a trigger.
#[derive(Serialize, ToSchema)]
pub struct Triggered {
    /// The run (a new one, or the one already in progress).
    pub run_id: RunId,
    /// The project.
    pub project_id: ProjectId,
    /// Where to follow the run.
    pub status_url: String,
    /// Where the run stands now (see `RunDetail`); absent once it has ended.
    pub progress: Option<RunPhase>,
}

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

// ---- series and summary ------------------------------------------------

/// The query of `GET /projects/{id}/series`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// The metric: `pledged`, `backers`, `spend`, …
    #[param(required = true, value_type = String, pattern = "^[a-z0-9_]{1,64}$")]
    pub metric: Option<String>,
    /// Start, epoch seconds or RFC 3339 (default: `to` minus 7 days).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// End, epoch seconds or RFC 3339 (default: now).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
    /// Bucket width in seconds, up to a year; at most 100,000 buckets per
    /// series. Without it, raw points.
    #[param(minimum = 1, maximum = 31_622_400)]
    pub step: Option<i64>,
    /// `last` (default), `min`, `max` or `avg` per bucket.
    #[param(value_type = Option<Agg>)]
    pub agg: Option<String>,
    /// One platform only.
    #[param(value_type = Option<Platform>)]
    pub platform: Option<String>,
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}

/// One platform's line of a series.
#[derive(Serialize, ToSchema)]
pub struct SeriesLine {
    /// The platform.
    pub platform: Platform,
    /// `[ts, value]` pairs, `ts` in epoch seconds.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
}

/// A metric over time.
#[derive(Serialize, ToSchema)]
pub struct SeriesResponse {
    /// The project.
    pub project_id: ProjectId,
    /// The metric.
    pub metric: Metric,
    /// Start, epoch seconds.
    pub from: i64,
    /// End, epoch seconds.
    pub to: i64,
    /// Bucket width, if downsampled.
    pub step: Option<i64>,
    /// The aggregate per bucket.
    pub agg: Agg,
    /// Whether the raw points were cut at the limit (ask with a `step`).
    pub truncated: bool,
    /// One line per platform.
    pub series: Vec<SeriesLine>,
}

/// The query of `GET /projects/{id}/summary`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// Start of the range, epoch seconds or RFC 3339 (default: the whole history).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// End of the range, epoch seconds or RFC 3339 (default: now).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}

/// A metric's latest value.
#[derive(Serialize, ToSchema)]
pub struct LatestValue {
    /// The value (summed over platforms).
    pub value: f64,
    /// When it was observed, epoch seconds.
    pub ts: Option<i64>,
}

/// A project's freshness SLO over the last 24 hours.
#[derive(Serialize, ToSchema)]
pub struct SummaryFreshness {
    /// The window, in seconds.
    pub window_secs: i64,
    /// The target share (`TRAWLER_SLO_TARGET`).
    pub target: f64,
    /// Its full-scrape slots: started within 1% of the interval and succeeded.
    pub full: Option<trawler_domain::slo::Freshness>,
    /// Its fast-poll slots (kept in memory since the node started).
    pub polls: Option<trawler_domain::slo::Freshness>,
    /// Whether the full-scrape share is under the target.
    pub below_target: bool,
}

/// Latest values, changes and derived figures over a range.
#[derive(Serialize, ToSchema)]
pub struct SummaryResponse {
    /// The project.
    pub project_id: ProjectId,
    /// Start of the range, if one was given.
    pub from: Option<i64>,
    /// End of the range.
    pub to: i64,
    /// Each metric's value at `to`.
    pub latest: BTreeMap<String, LatestValue>,
    /// Each metric's change over the range.
    pub delta: BTreeMap<String, f64>,
    /// RoAS, blended RoAS, cost per backer, funded %.
    pub derived: Derived,
    /// The observations behind `latest`, per platform.
    pub observations: Vec<Observation>,
    /// The project's freshness over the last 24 hours (whatever the range).
    pub freshness: SummaryFreshness,
}

/// The query of the exports.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// One metric only.
    #[param(pattern = "^[a-z0-9_]{1,64}$")]
    pub metric: Option<String>,
    /// Start, epoch seconds or RFC 3339.
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// End, epoch seconds or RFC 3339.
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
    /// A read token, for clients that cannot send an Authorization header.
    pub token: Option<String>,
}

// ---- runs --------------------------------------------------------------

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

/// What a bulk request does to each project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Start a full scrape now (active projects).
    Trigger,
    /// Make quarantined or archived projects active again.
    Resume,
    /// Stop scraping (projects not yet archived).
    Archive,
}

impl std::str::FromStr for BulkAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trigger" => Ok(BulkAction::Trigger),
            "resume" => Ok(BulkAction::Resume),
            "archive" => Ok(BulkAction::Archive),
            other => Err(format!("unknown action `{other}` (trigger, resume or archive)")),
        }
    }
}

/// `POST /api/v1/admin/projects/bulk`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The action.
    pub action: BulkAction,
    /// The projects (1 to 10,000).
    #[schema(min_items = 1, max_items = 10000)]
    pub ids: Vec<ProjectId>,
}

/// A project a bulk action left alone, and why.
#[derive(Serialize, ToSchema)]
pub struct BulkSkip {
    /// The project.
    pub id: ProjectId,
    /// Why (`already active`, `not found`, …).
    pub reason: String,
}

/// What a bulk action did.
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    /// The action.
    pub action: BulkAction,
    /// Projects it was applied to.
    pub done: Vec<ProjectId>,
    /// Projects it left alone.
    pub skipped: Vec<BulkSkip>,
}

impl BulkResult {
    /// One line for people: what was done, what was skipped and why.
    pub fn summary(&self, action: BulkAction) -> String {
        let verb = match action {
            BulkAction::Trigger => "Started scrapes of",
            BulkAction::Resume => "Resumed",
            BulkAction::Archive => "Archived",
        };
        let n = self.done.len();
        let mut out = format!("{verb} {n} project{}", if n == 1 { "" } else { "s" });
        if !self.skipped.is_empty() {
            let mut reasons: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for s in &self.skipped {
                reasons.entry(s.reason.as_str()).or_default().push(format!("#{}", s.id));
            }
            let listed: Vec<String> = reasons.into_iter().map(|(r, ids)| format!("{r}: {}", ids.join(", "))).collect();
            out.push_str(&format!("; skipped {} ({})", self.skipped.len(), listed.join("; ")));
        }
        out
    }
}

/// A project's runs, newest first.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// The project.
    pub project_id: ProjectId,
    /// The runs.
    pub runs: Vec<RunBrief>,
}

// ---- webhooks ----------------------------------------------------------

/// The body of `POST /admin/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed (http or https).
    #[schema(example = "https://hooks.example.com/trawler", max_length = 2048, pattern = "^https?://[^\\s/?#]+")]
    pub url: String,
    /// Events to send: `project.failing`, `project.quarantined`,
    /// `project.recovered`, `ping`, or `*` (the default) for all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<WebhookEvent>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// The signing secret, 16 to 256 characters without control characters;
    /// generated (and shown once) when absent.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub secret: Option<String>,
    /// A note for operators, up to 500 characters without control characters.
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub description: Option<String>,
}

/// An event a webhook can subscribe to.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the names; the handlers check strings
pub enum WebhookEvent {
    /// A project's full scrapes failed several times in a row.
    #[schema(rename = "project.failing")]
    Failing,
    /// A project crashed too often and is quarantined.
    #[schema(rename = "project.quarantined")]
    Quarantined,
    /// A failing or quarantined project scraped successfully again.
    #[schema(rename = "project.recovered")]
    Recovered,
    /// A test event.
    #[schema(rename = "ping")]
    Ping,
    /// Every event.
    #[schema(rename = "*")]
    All,
}

/// The body of `PATCH /admin/webhooks/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// Whether events are sent to it.
    pub active: bool,
}

/// A new webhook; `secret` only when it was generated.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The generated secret, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Every webhook.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    /// The webhooks.
    pub webhooks: Vec<Webhook>,
    /// The event names a webhook can subscribe to.
    pub events: Vec<String>,
}

/// A queued ping.
#[derive(Serialize, ToSchema)]
pub struct PingQueued {
    /// The delivery to look for in the log.
    pub delivery_id: i64,
    /// The webhook.
    pub webhook_id: i64,
}

/// `?limit=` of the delivery log.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A webhook's deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// The webhook.
    pub webhook_id: i64,
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
}

/// Each platform's gate, and its capacity: what its active sources need
/// against its rate budget.
#[derive(Serialize, ToSchema)]
pub struct PlatformsView {
    /// The gates.
    #[serde(flatten)]
    pub gates: trawler_sources::GatesSnapshot,
    /// One entry per platform.
    pub capacity: Vec<trawler_domain::capacity::Capacity>,
    /// The warnings of the entries over 90% of their budget.
    pub warnings: Vec<String>,
}

/// `?window=` of the freshness list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FreshnessParams {
    /// `24h` (default) or `7d`, ending now (or at `to`).
    #[param(pattern = "^(24h|7d)$")]
    pub window: Option<String>,
    /// Instead of `window`: the start, epoch seconds or RFC 3339.
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub from: Option<crate::Moment>,
    /// The end, epoch seconds or RFC 3339 (default: now; later is cut to now).
    #[param(value_type = Option<String>, example = "2025-12-05T00:00:00Z")]
    pub to: Option<crate::Moment>,
}

/// One project's freshness over the window.
#[derive(Serialize, ToSchema)]
pub struct FreshnessRow {
    /// The project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: trawler_domain::ProjectStatus,
    /// Its full-scrape slots and how they went.
    #[serde(flatten)]
    pub freshness: trawler_domain::slo::Freshness,
    /// Whether its full-scrape share is under the target.
    pub below_target: bool,
    /// Its fast-poll slots and how they went: kept in memory for the last
    /// day since the node started, so absent for a window this node has not
    /// seen (or a project without polls).
    pub polls: Option<trawler_domain::slo::Freshness>,
    /// Whether its poll share is under the target.
    pub polls_below_target: bool,
}

/// Every active or quarantined project's freshness, worst first.
#[derive(Serialize, ToSchema)]
pub struct FreshnessList {
    /// The window, in seconds.
    pub window_secs: i64,
    /// Its start, epoch ms.
    pub from_ms: i64,
    /// Its end, epoch ms.
    pub to_ms: i64,
    /// The target share (`TRAWLER_SLO_TARGET`).
    pub target: f64,
    /// The projects, lowest share first.
    pub projects: Vec<FreshnessRow>,
}

/// `GET /admin/actors` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActorsParams {
    /// Another live node of the cluster, whose tree this node fetches
    /// (default: the node answering).
    pub node: Option<String>,
}

/// `?token=` of the event streams.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// A read token or the admin token, for EventSource (which cannot send
    /// an Authorization header).
    pub token: Option<String>,
}

/// The body of `POST /projects/{id}/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label, 1 to 100 characters ("creator dashboard").
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

/// A new read token: the token itself is in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token's record.
    #[serde(flatten)]
    pub record: trawler_store::ProjectToken,
    /// The token: send it as `Authorization: Bearer <token>` or `?token=`.
    pub token: String,
}

/// A project's read tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// The project.
    pub project_id: ProjectId,
    /// Its tokens, newest first, revoked ones included.
    pub tokens: Vec<trawler_store::ProjectToken>,
}

/// The query of `/admin/events`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminEventsParams {
    /// Also every project's points (many per second on a busy node).
    pub points: Option<bool>,
}

// ---- cluster -----------------------------------------------------------

/// One node of the registry.
#[derive(Serialize, ToSchema)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// The version it runs.
    pub version: String,
    /// When it started, epoch ms.
    pub started_at_ms: i64,
    /// Its latest heartbeat, epoch ms.
    pub heartbeat_at_ms: i64,
    /// When it shut down cleanly, if it did.
    pub stopped_at_ms: Option<i64>,
    /// Heartbeating (within the TTL) and not stopped.
    pub alive: bool,
    /// Whether it is the node answering.
    pub this_node: bool,
    /// Projects it scrapes (known for the node answering).
    pub scrapers: Option<usize>,
    /// Project leases it holds (PostgreSQL; 0 for a node that is gone).
    pub leases: i64,
}

/// `GET /api/v1/admin/cluster`.
#[derive(Serialize, ToSchema)]
pub struct ClusterView {
    /// The node answering.
    pub node: String,
    /// `sqlite` (one node) or `postgres`.
    pub backend: String,
    /// How often nodes heartbeat, ms.
    pub heartbeat_ms: i64,
    /// Silence after which a node counts as gone, ms.
    pub ttl_ms: i64,
    /// Every node that has run on this database, by name.
    pub nodes: Vec<NodeView>,
    /// Projects leased by a live node, out of `active_projects`.
    pub leased: i64,
    /// Active projects.
    pub active_projects: i64,
    /// What this node's coordinator saw at its last round: live nodes,
    /// its fair share, leases taken and handed back.
    pub coordinator: trawler_actors::CoordinatorView,
}
