//! A project's schedule as stored: since when it counts for the SLO,
//! whether it is paused, its own full-scrape and poll intervals, and the
//! load the scheduled sources put on each platform.

use std::time::Duration;

use diesel::prelude::*;
use trawler_domain::gaps::Cause;
use trawler_domain::schedule::own_interval;
use trawler_domain::{Platform, ProjectId, ProjectStatus};

use super::{Project, Source};
use crate::schema::{projects, sources};
use crate::{AnyConnection, StoreError, StoreResult};

impl Project {
    /// Marks the schedules of active projects as counting from `now_ms`
    /// for the freshness SLO: `ids`, or (`None`) every active project whose
    /// schedule has not begun yet (created while no node ran). Returns how
    /// many were marked.
    pub fn mark_scheduled(conn: &mut AnyConnection, ids: Option<&[ProjectId]>, now_ms: i64) -> StoreResult<usize> {
        let active = ProjectStatus::Active.as_str();
        let Some(ids) = ids else {
            return Ok(db_run!(conn: {
                diesel::update(
                    projects::table.filter(projects::scheduled_from_ms.is_null()).filter(projects::status.eq(active)),
                )
                .set(projects::scheduled_from_ms.eq(now_ms))
                .execute(conn)?
            }));
        };
        let mut marked = 0;
        for chunk in crate::id_chunks(ids) {
            marked += db_run!(conn: {
                diesel::update(projects::table.filter(projects::id.eq_any(&chunk)).filter(projects::status.eq(active)))
                    .set(projects::scheduled_from_ms.eq(now_ms))
                    .execute(conn)?
            });
        }
        Ok(marked)
    }

    /// Pauses or resumes a project's schedule; a resumed schedule counts
    /// for the SLO from `now_ms` (the slots while paused are not misses).
    pub fn set_paused(conn: &mut AnyConnection, id: ProjectId, paused: bool, now_ms: i64) -> StoreResult<Project> {
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            let before = Project::get(conn, id)?;
            if before.paused == paused {
                return Ok(());
            }
            db_run!(conn: {
                diesel::update(projects::table.find(id.0))
                    .set((projects::schedule_paused.eq(paused), projects::updated_at_ms.eq(now_ms)))
                    .execute(conn)?;
            });
            let me = crate::Scope::project(id);
            if paused {
                crate::Timeline::open(conn, me, Cause::Paused, "the schedule was paused", now_ms)?;
            } else {
                crate::Timeline::close(conn, me, &[Cause::Paused], now_ms)?;
            }
            if !paused && before.scheduled_from_ms.is_some() {
                db_run!(conn: {
                    diesel::update(projects::table.find(id.0))
                        .set(projects::scheduled_from_ms.eq(now_ms))
                        .execute(conn)?;
                });
            }
            Ok(())
        })?;
        Project::get(conn, id)
    }

    /// Sets a project's own full-scrape interval (`None`: the node's,
    /// `Some(0)`: manual only). Its slots move, so its schedule counts for
    /// the SLO from `now_ms`.
    pub fn set_full_interval(
        conn: &mut AnyConnection,
        id: ProjectId,
        interval_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<Project> {
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            let before = Project::get(conn, id)?;
            if before.full_interval_ms == interval_ms {
                return Ok(());
            }
            let from = before.scheduled_from_ms.map(|_| now_ms);
            db_run!(conn: {
                diesel::update(projects::table.find(id.0))
                    .set((
                        projects::full_interval_ms.eq(interval_ms),
                        projects::updated_at_ms.eq(now_ms),
                        projects::scheduled_from_ms.eq(from),
                    ))
                    .execute(conn)?;
            });
            Ok(())
        })?;
        Project::get(conn, id)
    }

    /// Sets a project's own poll interval (`None`: the node's, `Some(0)`:
    /// manual only, no polls).
    pub fn set_poll_interval(
        conn: &mut AnyConnection,
        id: ProjectId,
        interval_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<Project> {
        crate::write_transaction::<_, StoreError, _>(conn, |conn| {
            if Project::get(conn, id)?.poll_interval_ms == interval_ms {
                return Ok(());
            }
            db_run!(conn: {
                diesel::update(projects::table.find(id.0))
                    .set((projects::poll_interval_ms.eq(interval_ms), projects::updated_at_ms.eq(now_ms)))
                    .execute(conn)?;
            });
            Ok(())
        })?;
        Project::get(conn, id)
    }

    /// The schedule of each of `ids` that exists: whether it is paused,
    /// its own full-scrape interval, and whether its campaign ended once.
    pub fn schedules(conn: &mut AnyConnection, ids: &[ProjectId]) -> StoreResult<Vec<Schedule>> {
        let mut out = Vec::new();
        for chunk in crate::id_chunks(ids) {
            let rows: Vec<(i64, bool, Option<i64>, Option<i64>)> = db_run!(conn: {
                projects::table
                    .filter(projects::id.eq_any(&chunk))
                    .select((projects::id, projects::schedule_paused, projects::full_interval_ms, projects::ended_at_ms))
                    .load(conn)?
            });
            out.extend(rows.into_iter().map(|(id, paused, full_interval_ms, ended)| Schedule {
                id: ProjectId(id),
                paused,
                full_interval_ms,
                ended_once: ended.is_some(),
            }));
        }
        Ok(out)
    }
}

/// A project's schedule, as a scraper starts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The project.
    pub id: ProjectId,
    /// Its schedule is paused.
    pub paused: bool,
    /// Its own full-scrape interval, ms.
    pub full_interval_ms: Option<i64>,
    /// Its campaign ended once (an admin may have resumed it since).
    pub ended_once: bool,
}

/// What one platform's scheduled sources ask of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlatformLoad {
    /// The platform.
    pub platform: Platform,
    /// Sources of active projects whose schedule is not paused.
    pub sources: u64,
    /// Full scrapes a second they need, each project at its own interval.
    pub full_per_sec: f64,
    /// Polls a second they need, each project at its own interval.
    pub polls_per_sec: f64,
}

impl Source {
    /// What each platform's scheduled sources ask of it: their number, and
    /// the full scrapes and polls a second they need, each project at its
    /// own intervals (`default_full` and `default_poll` where it has none,
    /// nothing when manual; an idle ad account polled every `idle_poll` at
    /// most). Paused schedules left out. For the capacity check.
    pub fn scheduled_load(
        conn: &mut AnyConnection,
        default_full: Duration,
        default_poll: Duration,
        idle_poll: Duration,
    ) -> StoreResult<Vec<PlatformLoad>> {
        // (platform, full interval, poll interval, campaign phase, sources)
        type Group = (String, Option<i64>, Option<i64>, Option<String>, i64);
        let rows: Vec<Group> = db_run!(conn: {
            sources::table
                .inner_join(projects::table)
                .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                .filter(projects::schedule_paused.eq(false))
                .group_by((
                    sources::platform,
                    projects::full_interval_ms,
                    projects::poll_interval_ms,
                    sources::campaign_phase,
                ))
                .select((
                    sources::platform,
                    projects::full_interval_ms,
                    projects::poll_interval_ms,
                    sources::campaign_phase,
                    diesel::dsl::count_star(),
                ))
                .load(conn)?
        });
        let rate = |stored: Option<i64>, default: Duration, n: i64| {
            own_interval(stored, default).map_or(0.0, |d| n as f64 / d.as_secs_f64().max(1e-9))
        };
        let mut out: Vec<PlatformLoad> = Vec::new();
        for (platform, full_ms, poll_ms, phase, n) in rows {
            let platform: Platform = platform
                .parse()
                .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?;
            let at = match out.iter().position(|l| l.platform == platform) {
                Some(i) => i,
                None => {
                    out.push(PlatformLoad { platform, sources: 0, full_per_sec: 0.0, polls_per_sec: 0.0 });
                    out.len() - 1
                }
            };
            let load = &mut out[at];
            load.sources += n as u64;
            load.full_per_sec += rate(full_ms, default_full, n);
            // An idle ad account or campaign is polled every `idle_poll` at
            // most.
            load.polls_per_sec += match phase.as_deref() {
                Some("idle") => own_interval(poll_ms, default_poll)
                    .map_or(0.0, |d| n as f64 / d.max(idle_poll).as_secs_f64().max(1e-9)),
                _ => rate(poll_ms, default_poll, n),
            };
        }
        Ok(out)
    }
}
