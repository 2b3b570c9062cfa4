//! Projects, their sources, and bulk actions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use trawler_domain::ProjectId;
use trawler_store::Source;
use utoipa::{IntoParams, ToSchema};

use super::wire::{Platform, ProjectStatus};
use super::RunPhase;

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
    /// Where its campaign stands, as its platform last reported it
    /// (`null` until a fetch has said, or for platforms without one).
    pub campaign: Option<CampaignView>,
    /// The currency its money is counted in (ISO 4217): as its platform
    /// reported it, else its `currency` option; `null` while unknown.
    #[schema(example = "USD")]
    pub currency: Option<String>,
}

/// A source's campaign as its platform last reported it.
#[derive(Serialize, ToSchema)]
pub struct CampaignView {
    /// The platform's own word (`live`, `successful`, `closed`, `ACTIVE`).
    pub state: String,
    /// What it means: `live`, `ended` (a crowdfunding campaign that is
    /// over) or `idle` (an ad account paused or finished for now).
    #[schema(example = "live")]
    pub phase: String,
    /// When it ends (or ended), epoch ms, if the platform says.
    pub deadline_ms: Option<i64>,
    /// When it launched, epoch ms, if the platform says.
    pub started_ms: Option<i64>,
    /// When it was last heard, epoch ms.
    pub seen_at_ms: i64,
}

impl From<Source> for SourceView {
    fn from(s: Source) -> SourceView {
        let currency = s.currency().map(String::from);
        SourceView {
            id: s.id,
            platform: s.platform.into(),
            external_ref: s.external_ref,
            options: std::sync::Arc::unwrap_or_clone(s.options),
            has_secret: s.secret.is_some_and(|x| !x.is_empty()),
            currency,
            campaign: s.campaign.map(|c| CampaignView {
                state: c.state,
                phase: c.phase.as_str().to_owned(),
                deadline_ms: c.deadline_ms,
                started_ms: c.started_ms,
                seen_at_ms: c.seen_at_ms,
            }),
        }
    }
}

/// A project as stored.
#[derive(Serialize, ToSchema)]
pub struct Project {
    /// Its id.
    pub id: i64,
    /// A human name ("Aurora Lamp").
    pub name: String,
    /// Active (scraped), archived, quarantined or ended (its campaign is
    /// over and its final numbers are in).
    pub status: ProjectStatus,
    /// When it was created, epoch ms.
    pub created_at_ms: i64,
    /// When it was last changed, epoch ms.
    pub updated_at_ms: i64,
    /// Why it is in its status (the crash behind a quarantine), if recorded.
    pub status_reason: Option<String>,
    /// Since when its full-scrape slots count for the freshness SLO, epoch
    /// ms: when a running node first scheduled it, or it was last resumed
    /// from the archive. `null` until a node has scheduled it.
    pub scheduled_from_ms: Option<i64>,
    /// Its schedule is paused: it stays active (data served, a trigger
    /// scrapes it) but no full scrape or poll runs on a schedule.
    pub paused: bool,
    /// Its own full-scrape interval, ms: `null` follows the node's
    /// setting, `0` is manual only (scraped when triggered).
    pub full_interval_ms: Option<i64>,
    /// Its own poll interval, ms: `null` follows the node's setting, `0` is
    /// manual only (no polls; full scrapes and triggers still read its
    /// numbers).
    pub poll_interval_ms: Option<i64>,
    /// When its campaign ended (its final numbers in), epoch ms; kept when
    /// an admin resumes it, so its end is not declared twice.
    pub ended_at_ms: Option<i64>,
    /// Its own monitor rules and silenced monitors (`null`: the platform
    /// defaults alone); see `PUT /projects/{id}/monitors`.
    #[schema(value_type = Option<Object>)]
    pub monitors: Option<Value>,
    /// The currency its figures are reported in, as set (`null`: its
    /// campaign's, see the summary's `currency`).
    #[schema(example = "EUR")]
    pub reporting_currency: Option<String>,
    /// Its labels (`{"client": "acme", "wave": "spring"}`).
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub labels: trawler_domain::labels::Labels,
    /// The stable key an import finds it by (`null`: none).
    pub external_key: Option<String>,
}

impl From<trawler_store::Project> for Project {
    fn from(p: trawler_store::Project) -> Project {
        let trawler_store::Project {
            id,
            name,
            status,
            created_at_ms,
            updated_at_ms,
            status_reason,
            scheduled_from_ms,
            paused,
            full_interval_ms,
            poll_interval_ms,
            ended_at_ms,
            monitors,
            reporting_currency,
            labels,
            external_key,
        } = p;
        Project {
            id: id.0,
            name,
            status: status.into(),
            created_at_ms,
            updated_at_ms,
            status_reason,
            scheduled_from_ms,
            paused,
            full_interval_ms,
            poll_interval_ms,
            ended_at_ms,
            monitors: monitors.and_then(|m| serde_json::to_value(&*m).ok()),
            reporting_currency: reporting_currency.map(String::from),
            labels,
            external_key,
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
    pub fn new(project: trawler_store::Project, sources: Vec<Source>) -> ProjectView {
        ProjectView { project: project.into(), sources: sources.into_iter().map(SourceView::from).collect() }
    }

    /// The view a read-token holder gets: the sources without their
    /// options, which can hold URLs with credentials and selectors that are
    /// the agency's own work (`options` is `{}`).
    pub fn for_reader(mut self) -> ProjectView {
        for s in &mut self.sources {
            s.options = Value::Object(Default::default());
        }
        self.project.monitors = None;
        // Labels and keys are the agency's own bookkeeping.
        self.project.labels = Default::default();
        self.project.external_key = None;
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
#[derive(Clone, Deserialize, ToSchema)]
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
    /// Its own full-scrape interval, as in `PATCH` (`"2h"`, `"manual"` or
    /// `"default"`); the node's setting when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub full_interval: Option<serde_json::Value>,
    /// Its own poll interval, as in `PATCH`; the node's setting when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub poll_interval: Option<serde_json::Value>,
    /// Its own monitor rules and silenced monitors, as `PUT
    /// /projects/{id}/monitors` takes them; in force from its first fetch.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub monitors: Option<serde_json::Value>,
    /// The currency its figures are reported in (`"EUR"`, one the ECB
    /// publishes a rate for); its campaign's when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "EUR")]
    pub reporting_currency: Option<serde_json::Value>,
    /// Its labels: an object of strings (`{"client": "acme"}`; keys a
    /// lower-case letter then letters, digits or `_`; at most 16).
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub labels: Option<serde_json::Value>,
    /// A stable key of its own (1 to 200 characters), unique: what
    /// `trawler projects import` finds it by.
    #[serde(default)]
    pub external_key: Option<String>,
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
    /// Pause (`true`) or resume (`false`) the project's schedule.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub paused: Option<serde_json::Value>,
    /// The project's own full-scrape interval (`"2h"`, `"90m"`, between
    /// `TRAWLER_MIN_INTERVAL` and a year), `"manual"` (scraped only when
    /// triggered) or `"default"` (the node's setting).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub full_interval: Option<serde_json::Value>,
    /// The project's own poll interval (`"30s"`, between
    /// `TRAWLER_MIN_INTERVAL` and a year), `"manual"` (no polls) or
    /// `"default"` (the node's setting).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub poll_interval: Option<serde_json::Value>,
    /// The currency its figures are reported in (`"EUR"`, one the ECB
    /// publishes a rate for), or `"default"` (its campaign's).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "EUR")]
    pub reporting_currency: Option<serde_json::Value>,
    /// Its labels, all of them (`{}` removes every label).
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub labels: Option<serde_json::Value>,
    /// Its external key (`""` removes it).
    #[serde(default)]
    pub external_key: Option<String>,
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
    /// Only projects with these labels: `client=acme` (that value) or
    /// `client` (any value), comma-separated, every one must match.
    #[param(max_length = 500)]
    pub label: Option<String>,
}

/// The answer to a trigger.
#[derive(Serialize, ToSchema)]
pub struct Triggered {
    /// The run (a new one, or the one already in progress).
    pub run_id: i64,
    /// The project.
    pub project_id: i64,
    /// Where to follow the run.
    pub status_url: String,
    /// Where the run stands now (see `RunDetail`); absent once it has ended.
    pub progress: Option<RunPhase>,
}

/// What a bulk request does to each project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Start a full scrape now (active projects).
    Trigger,
    /// Make quarantined, ended or archived projects active again.
    Resume,
    /// Stop scraping (projects not yet archived).
    Archive,
    /// Pause the schedule: the project stays active, a trigger scrapes it.
    Pause,
    /// Resume a paused schedule.
    Unpause,
    /// Give each its own cadences (`full_interval`, `poll_interval` or
    /// both in the request: `"2h"`, `"manual"` or `"default"`).
    Cadence,
    /// Set or remove labels (`labels` in the request: `{"wave":
    /// "spring", "old": null}`; `null` removes), others kept.
    Label,
}

/// The values a bulk action may take besides its projects.
#[derive(Debug, Clone, Default)]
pub struct BulkValues {
    /// Action `cadence`'s full-scrape interval.
    pub full_interval: Option<serde_json::Value>,
    /// Action `cadence`'s poll interval.
    pub poll_interval: Option<serde_json::Value>,
    /// Action `label`'s changes.
    pub labels: Option<serde_json::Value>,
}

impl BulkAction {
    /// The tree's action; `cadence` (checked) is action `cadence`'s.
    /// (`label` is no tree's action: `None`.)
    pub fn to_bulk(self, cadence: trawler_actors::Cadence) -> Option<trawler_actors::Bulk> {
        Some(match self {
            BulkAction::Trigger => trawler_actors::Bulk::Trigger,
            BulkAction::Resume => trawler_actors::Bulk::Resume,
            BulkAction::Archive => trawler_actors::Bulk::Archive,
            BulkAction::Pause => trawler_actors::Bulk::Pause,
            BulkAction::Unpause => trawler_actors::Bulk::Unpause,
            BulkAction::Cadence => trawler_actors::Bulk::Cadence(cadence),
            BulkAction::Label => return None,
        })
    }
}

impl std::str::FromStr for BulkAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trigger" => Ok(BulkAction::Trigger),
            "resume" => Ok(BulkAction::Resume),
            "archive" => Ok(BulkAction::Archive),
            "pause" => Ok(BulkAction::Pause),
            "unpause" => Ok(BulkAction::Unpause),
            "cadence" => Ok(BulkAction::Cadence),
            "label" => Ok(BulkAction::Label),
            other => {
                Err(format!("unknown action `{other}` (trigger, resume, archive, pause, unpause, cadence or label)"))
            }
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
    #[schema(value_type = Vec<i64>, min_items = 1, max_items = 10000)]
    pub ids: Vec<ProjectId>,
    /// The full-scrape cadence of action `cadence`: `"2h"`, `"manual"` or
    /// `"default"`.
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

impl BulkRequest {
    /// Its values besides the projects.
    pub fn values(&self) -> BulkValues {
        BulkValues {
            full_interval: self.full_interval.clone(),
            poll_interval: self.poll_interval.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// A project a bulk action left alone, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkSkip {
    /// The project.
    #[schema(value_type = i64)]
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
    #[schema(value_type = Vec<i64>)]
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
            BulkAction::Pause => "Paused the schedules of",
            BulkAction::Unpause => "Resumed the schedules of",
            BulkAction::Cadence => "Set the cadence of",
            BulkAction::Label => "Labelled",
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
