//! Projects and their sources.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use diesel::prelude::*;
use trawler_domain::campaign::Phase;
use trawler_domain::gaps::Cause;
use trawler_domain::{now_millis, Currency, Platform, ProjectId, ProjectStatus};

use crate::schema::{projects, sources};
use crate::{AnyConnection, Scope, StoreError, StoreResult, Timeline};

mod campaign;
mod schedule;

pub use campaign::SourceCampaign;
pub use schedule::{PlatformLoad, Schedule};

/// A project as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// A human name ("Aurora Lamp").
    pub name: String,
    /// Active (scraped) or archived.
    pub status: ProjectStatus,
    /// When it was created, epoch ms.
    pub created_at_ms: i64,
    /// When it was last changed, epoch ms.
    pub updated_at_ms: i64,
    /// Why it is in its status (the crash behind a quarantine), if recorded.
    pub status_reason: Option<String>,
    /// Since when its schedule counts for the freshness SLO, epoch ms:
    /// when a running node first scheduled it, or last resumed it. `None`
    /// until then (created while no node ran): no slot of it is due yet.
    pub scheduled_from_ms: Option<i64>,
    /// Its schedule is paused: it stays active (data served, triggers
    /// scrape it) but no full scrape or poll runs on a schedule.
    pub paused: bool,
    /// Its own full-scrape interval, ms: `None` follows the node's setting,
    /// `Some(0)` is manual only (see `trawler_domain::schedule::own_interval`).
    pub full_interval_ms: Option<i64>,
    /// Its own poll interval, ms: `None` follows the node's setting,
    /// `Some(0)` is manual only (no polls).
    pub poll_interval_ms: Option<i64>,
    /// When its campaign ended (its final numbers in), epoch ms; kept when
    /// an admin resumes it.
    pub ended_at_ms: Option<i64>,
    /// Its own monitor rules and silenced monitors (`None`: the platform
    /// defaults alone).
    pub monitors: Option<Arc<trawler_domain::monitor::ProjectMonitors>>,
    /// The currency its figures are reported in (`None`: its campaign's).
    pub reporting_currency: Option<Currency>,
    /// Its labels (`client=acme`).
    pub labels: trawler_domain::labels::Labels,
    /// The stable key an import finds it by, if it has one.
    pub external_key: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = projects)]
pub(crate) struct ProjectRow {
    id: i64,
    name: String,
    status: String,
    created_at_ms: i64,
    updated_at_ms: i64,
    status_reason: Option<String>,
    scheduled_from_ms: Option<i64>,
    schedule_paused: bool,
    full_interval_ms: Option<i64>,
    poll_interval_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    monitors: Option<String>,
    reporting_currency: Option<String>,
    labels: Option<String>,
    external_key: Option<String>,
}

/// Labels as stored: none is NULL.
pub(crate) fn labels_text(labels: &trawler_domain::labels::Labels) -> Option<String> {
    (!labels.is_empty()).then(|| serde_json::to_string(labels).unwrap_or_else(|_| "{}".into()))
}

/// Labels as read back.
pub(crate) fn read_labels(id: i64, text: Option<&str>) -> StoreResult<trawler_domain::labels::Labels> {
    match text {
        None => Ok(trawler_domain::labels::Labels::new()),
        Some(t) => serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("project {id} labels: {e}"))),
    }
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;
    fn try_from(r: ProjectRow) -> StoreResult<Project> {
        Ok(Project {
            id: ProjectId(r.id),
            name: r.name,
            status: r
                .status
                .parse()
                .map_err(|e: trawler_domain::project::UnknownName| StoreError::Corrupt(e.to_string()))?,
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
            status_reason: r.status_reason,
            scheduled_from_ms: r.scheduled_from_ms,
            paused: r.schedule_paused,
            full_interval_ms: r.full_interval_ms,
            poll_interval_ms: r.poll_interval_ms,
            ended_at_ms: r.ended_at_ms,
            monitors: r
                .monitors
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("project {} monitors: {e}", r.id)))?
                .map(Arc::new),
            reporting_currency: r.reporting_currency.as_deref().and_then(|c| Currency::code(c).ok()),
            labels: read_labels(r.id, r.labels.as_deref())?,
            external_key: r.external_key,
        })
    }
}

/// One source of a project: a platform and the project's reference there.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Its id.
    pub id: i64,
    /// The project it feeds.
    pub project_id: ProjectId,
    /// Which adapter reads it.
    pub platform: Platform,
    /// The project's id on the platform (`creator/slug`, `act_123`, …).
    pub external_ref: String,
    /// Adapter options (URL template, metric map, …), a JSON object,
    /// shared by every source with the same options ([`shared_options`]).
    pub options: Arc<serde_json::Value>,
    /// A credential for the platform (an access token). Stored, never
    /// returned by the API.
    pub secret: Option<String>,
    /// When it was added, epoch ms.
    pub created_at_ms: i64,
    /// Where its campaign stands, as its platform last reported it.
    pub campaign: Option<SourceCampaign>,
}

/// Parsed options, one copy per distinct text. Every project of one site
/// has the same options (a URL template and a metric map), a node holds each
/// source twice (its scraper's, and its platform's poll list), and a parsed
/// JSON object costs a B-tree node of about 600 bytes per map: at 100,000
/// generic sources, sharing saves hundreds of megabytes, and a fetch clones
/// a reference instead of the tree.
fn shared_options(text: &str) -> Result<Arc<serde_json::Value>, serde_json::Error> {
    struct Seen {
        by_text: HashMap<Box<str>, Weak<serde_json::Value>>,
        /// Forget dropped entries when the table grows past this.
        prune_at: usize,
    }
    static SEEN: Mutex<Option<Seen>> = Mutex::new(None);
    let mut guard = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = guard.get_or_insert_with(|| Seen { by_text: HashMap::new(), prune_at: 1024 });
    if let Some(shared) = seen.by_text.get(text).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    let parsed = Arc::new(serde_json::from_str(text)?);
    if seen.by_text.len() >= seen.prune_at {
        seen.by_text.retain(|_, w| w.strong_count() > 0);
        seen.prune_at = (2 * seen.by_text.len()).max(1024);
    }
    seen.by_text.insert(text.into(), Arc::downgrade(&parsed));
    Ok(parsed)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sources)]
struct SourceRow {
    id: i64,
    project_id: i64,
    platform: String,
    external_ref: String,
    options: String,
    secret: Option<String>,
    created_at_ms: i64,
    campaign_state: Option<String>,
    campaign_phase: Option<String>,
    campaign_started_ms: Option<i64>,
    deadline_ms: Option<i64>,
    campaign_seen_at_ms: Option<i64>,
    currency: Option<String>,
}

impl TryFrom<SourceRow> for Source {
    type Error = StoreError;
    fn try_from(r: SourceRow) -> StoreResult<Source> {
        Ok(Source {
            id: r.id,
            project_id: ProjectId(r.project_id),
            platform: r
                .platform
                .parse()
                .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?,
            external_ref: r.external_ref,
            options: shared_options(&r.options)
                .map_err(|e| StoreError::Corrupt(format!("source {} options: {e}", r.id)))?,
            secret: r.secret,
            created_at_ms: r.created_at_ms,
            campaign: match (
                r.campaign_state,
                r.campaign_phase.as_deref().and_then(Phase::parse),
                r.campaign_seen_at_ms,
            ) {
                (Some(state), Some(phase), Some(seen_at_ms)) => {
                    let (deadline_ms, started_ms) = (r.deadline_ms, r.campaign_started_ms);
                    let currency = r.currency.as_deref().and_then(|c| Currency::code(c).ok());
                    Some(SourceCampaign { state, phase, deadline_ms, started_ms, seen_at_ms, currency })
                }
                _ => None,
            },
        })
    }
}

/// A source to add to a project.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSource {
    /// Which adapter reads it.
    pub platform: Platform,
    /// The project's id on the platform.
    pub external_ref: String,
    /// Adapter options, a JSON object.
    pub options: serde_json::Value,
    /// A credential; `None` on an update keeps the secret the same
    /// (platform, reference) had before.
    pub secret: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = sources)]
#[diesel(treat_none_as_default_value = false)]
struct SourceInsert<'a> {
    project_id: i64,
    platform: &'a str,
    external_ref: &'a str,
    options: String,
    secret: Option<&'a str>,
    created_at_ms: i64,
}

/// A change to a project: fields left `None` stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectPatch {
    /// A new name.
    pub name: Option<String>,
    /// The complete new list of sources (replaces the old list).
    pub sources: Option<Vec<NewSource>>,
}

/// Rows converted into a list of their length (a scraper keeps it for life).
fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> StoreResult<Vec<T>> {
    let mut out = Vec::with_capacity(rows.len());
    rows.into_iter().try_for_each(|row| T::try_from(row).map(|t| out.push(t)))?;
    Ok(out)
}

fn insert_sources(conn: &mut AnyConnection, project: ProjectId, list: &[NewSource], now: i64) -> StoreResult<()> {
    let rows: Vec<SourceInsert<'_>> = list
        .iter()
        .map(|s| SourceInsert {
            project_id: project.0,
            platform: s.platform.as_str(),
            external_ref: &s.external_ref,
            options: s.options.to_string(),
            secret: s.secret.as_deref(),
            created_at_ms: now,
        })
        .collect();
    if !rows.is_empty() {
        db_run!(conn: { diesel::insert_into(sources::table).values(&rows).execute(conn)?; });
    }
    Ok(())
}

impl Project {
    /// Creates an active project with its sources, in one transaction.
    pub fn create(conn: &mut AnyConnection, name: &str, list: &[NewSource]) -> StoreResult<(Project, Vec<Source>)> {
        let ids = Project::create_many(conn, &[(name, list)])?;
        let id = ids.first().copied().ok_or(StoreError::NotFound("project"))?;
        let project = Project::get(conn, id)?;
        let sources = Source::list_for_project(conn, project.id)?;
        Ok((project, sources))
    }

    /// Creates active projects with their sources, all in one transaction
    /// (bulk setup: one commit for the lot); returns their ids in order.
    pub fn create_many(conn: &mut AnyConnection, projects: &[(&str, &[NewSource])]) -> StoreResult<Vec<ProjectId>> {
        let now = now_millis();
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            let mut ids = Vec::with_capacity(projects.len());
            for (name, list) in projects {
                let id: i64 = db_run!(conn: {
                    diesel::insert_into(projects::table)
                        .values((
                            projects::name.eq(name),
                            projects::status.eq(ProjectStatus::Active.as_str()),
                            projects::created_at_ms.eq(now),
                            projects::updated_at_ms.eq(now),
                        ))
                        .returning(projects::id)
                        .get_result(conn)?
                });
                insert_sources(conn, ProjectId(id), list, now)?;
                ids.push(ProjectId(id));
            }
            Ok(ids)
        })
    }

    /// One project, or `NotFound`.
    pub fn get(conn: &mut AnyConnection, id: ProjectId) -> StoreResult<Project> {
        let row: Option<ProjectRow> = db_run!(conn: {
            projects::table
                .find(id.0)
                .select(ProjectRow::as_select())
                .first(conn)
                .optional()?
        });
        row.ok_or(StoreError::NotFound("project"))?.try_into()
    }

    /// The status of each of `ids` that exists, in one query per 10,000.
    pub fn statuses(conn: &mut AnyConnection, ids: &[ProjectId]) -> StoreResult<Vec<(ProjectId, ProjectStatus)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in crate::id_chunks(ids) {
            let rows: Vec<(i64, String)> = db_run!(conn: {
                projects::table
                    .filter(projects::id.eq_any(&chunk))
                    .select((projects::id, projects::status))
                    .load(conn)?
            });
            for (id, status) in rows {
                let status = status
                    .parse()
                    .map_err(|e: trawler_domain::project::UnknownName| StoreError::Corrupt(e.to_string()))?;
                out.push((ProjectId(id), status));
            }
        }
        Ok(out)
    }

    /// Every project, or those with one status, by id.
    pub fn list(conn: &mut AnyConnection, status: Option<ProjectStatus>) -> StoreResult<Vec<Project>> {
        Project::list_page(conn, status, None, None)
    }

    /// How many projects there are, in every state.
    pub fn count(conn: &mut AnyConnection) -> StoreResult<u64> {
        let n: i64 = db_run!(conn: { projects::table.count().get_result(conn)? });
        Ok(n.max(0) as u64)
    }

    /// Projects by id from position `offset`, at most `limit` (a numbered
    /// page of an unfiltered list).
    pub fn list_at(conn: &mut AnyConnection, offset: i64, limit: i64) -> StoreResult<Vec<Project>> {
        let rows: Vec<ProjectRow> = db_run!(conn: {
            projects::table
                .select(ProjectRow::as_select())
                .order(projects::id)
                .offset(offset)
                .limit(limit)
                .load(conn)?
        });
        convert(rows)
    }

    /// Projects by id, those after `after` (exclusive), at most `limit`:
    /// one page of a listing that walks a hundred thousand projects by key.
    pub fn list_page(
        conn: &mut AnyConnection,
        status: Option<ProjectStatus>,
        after: Option<ProjectId>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<Project>> {
        let rows: Vec<ProjectRow> = db_run!(conn: {
            let mut q = projects::table.select(ProjectRow::as_select()).order(projects::id).into_boxed();
            if let Some(s) = status {
                q = q.filter(projects::status.eq(s.as_str()));
            }
            if let Some(after) = after {
                q = q.filter(projects::id.gt(after.0));
            }
            if let Some(limit) = limit {
                q = q.limit(limit);
            }
            q.load(conn)?
        });
        convert(rows)
    }

    /// Applies a patch; replacing the sources keeps the secrets of the
    /// (platform, reference) pairs that stay, unless the patch sets new ones.
    pub fn update(conn: &mut AnyConnection, id: ProjectId, patch: &ProjectPatch) -> StoreResult<Project> {
        let now = now_millis();
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            Project::get(conn, id)?;
            if let Some(name) = &patch.name {
                db_run!(conn: {
                    diesel::update(projects::table.find(id.0))
                        .set(projects::name.eq(name))
                        .execute(conn)?;
                });
            }
            if let Some(list) = &patch.sources {
                let old = Source::list_for_project(conn, id)?;
                let same = old.len() == list.len()
                    && old.iter().zip(list).all(|(o, n)| {
                        (o.platform, &o.external_ref, &*o.options) == (n.platform, &n.external_ref, &n.options)
                    });
                if !same {
                    let what = format!("the sources were edited ({} before, {} now)", old.len(), list.len());
                    Timeline::record(conn, Scope::project(id), Cause::SourceEdited, &what, now, Some(now))?;
                }
                let merged: Vec<NewSource> = list
                    .iter()
                    .map(|s| {
                        let mut s = s.clone();
                        if s.secret.is_none() {
                            s.secret = old
                                .iter()
                                .find(|o| o.platform == s.platform && o.external_ref == s.external_ref)
                                .and_then(|o| o.secret.clone());
                        }
                        s
                    })
                    .collect();
                db_run!(conn: {
                    diesel::delete(sources::table.filter(sources::project_id.eq(id.0))).execute(conn)?;
                });
                insert_sources(conn, id, &merged, now)?;
            }
            db_run!(conn: {
                diesel::update(projects::table.find(id.0))
                    .set(projects::updated_at_ms.eq(now))
                    .execute(conn)?;
            });
            Ok(())
        })?;
        Project::get(conn, id)
    }

    /// Sets a project's status (archive, quarantine, resume) and why.
    pub fn set_status(
        conn: &mut AnyConnection,
        id: ProjectId,
        status: ProjectStatus,
        reason: Option<&str>,
    ) -> StoreResult<Project> {
        let now = now_millis();
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            let before = Project::get(conn, id)?.status;
            db_run!(conn: {
                diesel::update(projects::table.find(id.0))
                    .set((
                        projects::status.eq(status.as_str()),
                        projects::status_reason.eq(reason),
                        projects::updated_at_ms.eq(now),
                    ))
                    .execute(conn)?
            });
            if before != status {
                let me = Scope::project(id);
                Timeline::close(conn, me, &[Cause::Archived, Cause::Quarantined, Cause::CampaignEnded], now)?;
                let (cause, default) = match status {
                    ProjectStatus::Active => return Ok(()),
                    ProjectStatus::Archived => (Cause::Archived, "archived by an admin"),
                    ProjectStatus::Quarantined => (Cause::Quarantined, "quarantined"),
                    ProjectStatus::Ended => (Cause::CampaignEnded, "the campaign ended"),
                };
                Timeline::open(conn, me, cause, reason.unwrap_or(default), now)?;
            }
            Ok(())
        })?;
        Project::get(conn, id)
    }
}

impl Source {
    /// The sources of one project, by id.
    pub fn list_for_project(conn: &mut AnyConnection, id: ProjectId) -> StoreResult<Vec<Source>> {
        let rows: Vec<SourceRow> = db_run!(conn: {
            sources::table
                .filter(sources::project_id.eq(id.0))
                .select(SourceRow::as_select())
                .order(sources::id)
                .load(conn)?
        });
        convert(rows)
    }

    /// Every project's sources, by project (the projects page filters on
    /// them in one query instead of one per project).
    pub fn list_all(conn: &mut AnyConnection) -> StoreResult<Vec<Source>> {
        let rows: Vec<SourceRow> = db_run!(conn: {
            sources::table.select(SourceRow::as_select()).order((sources::project_id, sources::id)).load(conn)?
        });
        convert(rows)
    }

    /// The sources of every active project, by project (start-up loads them
    /// in one query instead of one per project).
    pub fn list_active(conn: &mut AnyConnection) -> StoreResult<Vec<Source>> {
        let rows: Vec<SourceRow> = db_run!(conn: {
            sources::table
                .inner_join(projects::table)
                .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                .select(SourceRow::as_select())
                .order((sources::project_id, sources::id))
                .load(conn)?
        });
        convert(rows)
    }

    /// The sources of `projects`, by project.
    pub fn list_for_projects(conn: &mut AnyConnection, projects: &[ProjectId]) -> StoreResult<Vec<Source>> {
        Source::list_of(conn, projects, false)
    }

    /// The sources of the active projects among `projects` (a node taking
    /// over some projects loads only theirs).
    pub fn list_active_for_projects(conn: &mut AnyConnection, projects: &[ProjectId]) -> StoreResult<Vec<Source>> {
        Source::list_of(conn, projects, true)
    }

    fn list_of(conn: &mut AnyConnection, projects: &[ProjectId], active_only: bool) -> StoreResult<Vec<Source>> {
        let mut out = Vec::new();
        for ids in crate::id_chunks(projects) {
            let rows: Vec<SourceRow> = db_run!(conn: {
                let mut q = sources::table
                    .inner_join(projects::table)
                    .filter(sources::project_id.eq_any(&ids))
                    .select(SourceRow::as_select())
                    .order((sources::project_id, sources::id))
                    .into_boxed();
                if active_only {
                    q = q.filter(projects::status.eq(ProjectStatus::Active.as_str()));
                }
                q.load(conn)?
            });
            out.extend(convert(rows)?);
        }
        Ok(out)
    }

    /// How many sources of active projects each platform has, paused
    /// schedules left out (the load the capacity check weighs).
    pub fn count_active_by_platform(conn: &mut AnyConnection) -> StoreResult<Vec<(Platform, u64)>> {
        let rows: Vec<(String, i64)> = db_run!(conn: {
            sources::table
                .inner_join(projects::table)
                .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                .filter(projects::schedule_paused.eq(false))
                .group_by(sources::platform)
                .select((sources::platform, diesel::dsl::count_star()))
                .load(conn)?
        });
        rows.into_iter()
            .map(|(p, n)| {
                Ok((
                    p.parse()
                        .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?,
                    n as u64,
                ))
            })
            .collect()
    }

    /// The sources on one platform of every active project whose polls run
    /// on a schedule (not paused, not manual), each with its project's own
    /// poll interval in ms (`None`: the node's): the fast poll's work list.
    pub fn list_active_for_platform(
        conn: &mut AnyConnection,
        platform: Platform,
    ) -> StoreResult<Vec<(Source, Option<i64>)>> {
        let rows: Vec<(SourceRow, Option<i64>)> = db_run!(conn: {
            sources::table
                .inner_join(projects::table)
                .filter(sources::platform.eq(platform.as_str()))
                .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                .filter(projects::schedule_paused.eq(false))
                .filter(projects::poll_interval_ms.is_null().or(projects::poll_interval_ms.gt(0)))
                .select((SourceRow::as_select(), projects::poll_interval_ms))
                .order(sources::id)
                .load(conn)?
        });
        rows.into_iter().map(|(row, every)| Ok((Source::try_from(row)?, every))).collect()
    }
}
