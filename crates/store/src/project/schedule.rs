//! A project's schedule as stored: since when it counts for the SLO,
//! whether it is paused, its own full-scrape interval, and the load the
//! scheduled sources put on each platform.

use diesel::prelude::*;
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

    /// The schedule of each of `ids` that exists: whether it is paused,
    /// and its own full-scrape interval.
    pub fn schedules(conn: &mut AnyConnection, ids: &[ProjectId]) -> StoreResult<Vec<(ProjectId, bool, Option<i64>)>> {
        let mut out = Vec::new();
        for chunk in crate::id_chunks(ids) {
            let rows: Vec<(i64, bool, Option<i64>)> = db_run!(conn: {
                projects::table
                    .filter(projects::id.eq_any(&chunk))
                    .select((projects::id, projects::schedule_paused, projects::full_interval_ms))
                    .load(conn)?
            });
            out.extend(rows.into_iter().map(|(id, paused, full)| (ProjectId(id), paused, full)));
        }
        Ok(out)
    }
}

impl Source {
    /// What each platform's scheduled sources ask of it: their number and
    /// the full scrapes a second they need, each project at its own
    /// interval (`default_full` where it has none, nothing when manual).
    /// Paused schedules left out. For the capacity check.
    pub fn full_scrape_load(
        conn: &mut AnyConnection,
        default_full: std::time::Duration,
    ) -> StoreResult<Vec<(Platform, u64, f64)>> {
        let rows: Vec<(String, Option<i64>, i64)> = db_run!(conn: {
            sources::table
                .inner_join(projects::table)
                .filter(projects::status.eq(ProjectStatus::Active.as_str()))
                .filter(projects::schedule_paused.eq(false))
                .group_by((sources::platform, projects::full_interval_ms))
                .select((sources::platform, projects::full_interval_ms, diesel::dsl::count_star()))
                .load(conn)?
        });
        let mut out: Vec<(Platform, u64, f64)> = Vec::new();
        for (platform, full_ms, n) in rows {
            let platform: Platform = platform
                .parse()
                .map_err(|e: trawler_domain::platform::UnknownPlatform| StoreError::Corrupt(e.to_string()))?;
            let per_sec = trawler_domain::schedule::own_interval(full_ms, default_full)
                .map_or(0.0, |d| n as f64 / d.as_secs_f64().max(1e-9));
            match out.iter_mut().find(|(p, _, _)| *p == platform) {
                Some(entry) => {
                    entry.1 += n as u64;
                    entry.2 += per_sec;
                }
                None => out.push((platform, n as u64, per_sec)),
            }
        }
        Ok(out)
    }
}
