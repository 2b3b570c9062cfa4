//! Alerts of the monitors on the numbers: each row one alert, open until
//! it recovers. At most one alert is open per source, monitor, metric and
//! threshold (a unique index over the open rows), so an alert raised twice
//! — by two nodes, or again after a restart — is stored once.

use std::collections::BTreeMap;

use diesel::prelude::*;
use trawler_domain::monitor::{AlertKey, MonitorKind, ProjectMonitors};
use trawler_domain::{Platform, ProjectId};

use crate::schema::{monitor_alerts as ma, projects};
use crate::{AnyConnection, Project, StoreError, StoreResult};

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its id.
    pub id: i64,
    /// The project.
    pub project_id: ProjectId,
    /// The source whose numbers raised it.
    pub source_id: i64,
    /// The source's platform.
    pub platform: Platform,
    /// What it is about.
    pub key: AlertKey,
    /// The level it was measured against (the value before a drop or a
    /// jump, a milestone's threshold).
    pub level: Option<f64>,
    /// The value when it fired.
    pub value: Option<f64>,
    /// What happened.
    pub detail: String,
    /// When it fired, epoch ms.
    pub fired_at_ms: i64,
    /// When it recovered, epoch ms (`None`: open).
    pub recovered_at_ms: Option<i64>,
    /// The value when it recovered.
    pub recovered_value: Option<f64>,
    /// How it recovered.
    pub recovered_detail: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ma)]
struct Row {
    id: i64,
    project_id: i64,
    source_id: i64,
    platform: String,
    monitor: String,
    metric: String,
    threshold: String,
    level: Option<f64>,
    value: Option<f64>,
    detail: String,
    fired_at_ms: i64,
    recovered_at_ms: Option<i64>,
    recovered_value: Option<f64>,
    recovered_detail: Option<String>,
}

impl TryFrom<Row> for Alert {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Alert> {
        Ok(Alert {
            id: r.id,
            project_id: ProjectId(r.project_id),
            source_id: r.source_id,
            platform: r.platform.parse().map_err(|e: trawler_domain::platform::UnknownPlatform| {
                StoreError::Corrupt(format!("alert {}: {e}", r.id))
            })?,
            key: AlertKey {
                monitor: r.monitor.parse().map_err(|e: String| StoreError::Corrupt(format!("alert {}: {e}", r.id)))?,
                metric: r.metric,
                at: r.threshold,
            },
            level: r.level,
            value: r.value,
            detail: r.detail,
            fired_at_ms: r.fired_at_ms,
            recovered_at_ms: r.recovered_at_ms,
            recovered_value: r.recovered_value,
            recovered_detail: r.recovered_detail,
        })
    }
}

/// An alert firing, to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// The project.
    pub project_id: ProjectId,
    /// The source.
    pub source_id: i64,
    /// Its platform.
    pub platform: Platform,
    /// What it is about.
    pub key: AlertKey,
    /// The level it is measured against.
    pub level: Option<f64>,
    /// The value now.
    pub value: Option<f64>,
    /// What happened.
    pub detail: String,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// Keeps a number storable: a non-finite one is not kept.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

impl Alert {
    /// Stores an alert that fired; `false` when the same alert was open
    /// already (nothing stored).
    pub fn fire(conn: &mut AnyConnection, a: &NewAlert) -> StoreResult<bool> {
        let row = (
            ma::project_id.eq(a.project_id.0),
            ma::source_id.eq(a.source_id),
            ma::platform.eq(a.platform.as_str()),
            ma::monitor.eq(a.key.monitor.as_str()),
            ma::metric.eq(&a.key.metric),
            ma::threshold.eq(&a.key.at),
            ma::level.eq(finite(a.level)),
            ma::value.eq(finite(a.value)),
            ma::detail.eq(&a.detail),
            ma::fired_at_ms.eq(a.at_ms),
        );
        let n = db_run!(conn: {
            diesel::insert_into(ma::table).values(row).on_conflict_do_nothing().execute(conn)?
        });
        Ok(n > 0)
    }

    /// Marks the open alert `key` of `source` recovered; `false` when none
    /// was open.
    pub fn recover(
        conn: &mut AnyConnection,
        source: i64,
        key: &AlertKey,
        value: Option<f64>,
        detail: &str,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let n = db_run!(conn: {
            diesel::update(
                ma::table
                    .filter(ma::source_id.eq(source))
                    .filter(ma::monitor.eq(key.monitor.as_str()))
                    .filter(ma::metric.eq(&key.metric))
                    .filter(ma::threshold.eq(&key.at))
                    .filter(ma::recovered_at_ms.is_null()),
            )
            .set((
                ma::recovered_at_ms.eq(Some(at_ms)),
                ma::recovered_value.eq(finite(value)),
                ma::recovered_detail.eq(Some(detail)),
            ))
            .execute(conn)?
        });
        Ok(n > 0)
    }

    /// Every open alert (a node loads them when it starts, so nothing open
    /// fires again).
    pub fn open_all(conn: &mut AnyConnection) -> StoreResult<Vec<Alert>> {
        let rows: Vec<Row> = db_run!(conn: {
            ma::table.filter(ma::recovered_at_ms.is_null()).order(ma::id).select(Row::as_select()).load(conn)?
        });
        rows.into_iter().map(Alert::try_from).collect()
    }

    /// `project`'s alerts, newest first: the open ones only, or every one.
    pub fn list(conn: &mut AnyConnection, project: ProjectId, open_only: bool, limit: i64) -> StoreResult<Vec<Alert>> {
        let rows: Vec<Row> = db_run!(conn: {
            let mut q = ma::table.filter(ma::project_id.eq(project.0)).into_boxed();
            if open_only {
                q = q.filter(ma::recovered_at_ms.is_null());
            }
            q.order((ma::fired_at_ms.desc(), ma::id.desc())).limit(limit).select(Row::as_select()).load(conn)?
        });
        rows.into_iter().map(Alert::try_from).collect()
    }

    /// Open alerts per project and monitor.
    pub fn open_counts(conn: &mut AnyConnection) -> StoreResult<BTreeMap<ProjectId, BTreeMap<MonitorKind, i64>>> {
        let rows: Vec<(i64, String, i64)> = db_run!(conn: {
            ma::table
                .filter(ma::recovered_at_ms.is_null())
                .group_by((ma::project_id, ma::monitor))
                .select((ma::project_id, ma::monitor, diesel::dsl::count_star()))
                .load(conn)?
        });
        let mut out: BTreeMap<ProjectId, BTreeMap<MonitorKind, i64>> = BTreeMap::new();
        for (project, monitor, n) in rows {
            if let Ok(kind) = monitor.parse::<MonitorKind>() {
                out.entry(ProjectId(project)).or_default().insert(kind, n);
            }
        }
        Ok(out)
    }

    /// Deletes recovered alerts that recovered before `before_ms`; returns
    /// how many.
    pub fn prune(conn: &mut AnyConnection, before_ms: i64) -> StoreResult<usize> {
        Ok(db_run!(conn: {
            diesel::delete(ma::table.filter(ma::recovered_at_ms.lt(before_ms))).execute(conn)?
        }))
    }
}

impl Project {
    /// Sets `id`'s own monitor settings (`None`: the defaults alone).
    pub fn set_monitors(
        conn: &mut AnyConnection,
        id: ProjectId,
        monitors: Option<&ProjectMonitors>,
        now_ms: i64,
    ) -> StoreResult<Project> {
        let text = monitors
            .filter(|m| **m != ProjectMonitors::default())
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("monitors: {e}")))?;
        let n = db_run!(conn: {
            diesel::update(projects::table.find(id.0))
                .set((projects::monitors.eq(text), projects::updated_at_ms.eq(now_ms)))
                .execute(conn)?
        });
        if n == 0 {
            return Err(StoreError::NotFound("project"));
        }
        Project::get(conn, id)
    }
}

impl Project {
    /// The own monitor settings of those of `ids` that have some.
    pub fn monitors_of(
        conn: &mut AnyConnection,
        ids: &[ProjectId],
    ) -> StoreResult<Vec<(ProjectId, std::sync::Arc<ProjectMonitors>)>> {
        let mut out = Vec::new();
        for chunk in crate::id_chunks(ids) {
            let rows: Vec<(i64, Option<String>)> = db_run!(conn: {
                projects::table
                    .filter(projects::id.eq_any(&chunk))
                    .filter(projects::monitors.is_not_null())
                    .select((projects::id, projects::monitors))
                    .load(conn)?
            });
            for (id, text) in rows {
                let Some(text) = text else { continue };
                let parsed = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("project {id} monitors: {e}")))?;
                out.push((ProjectId(id), std::sync::Arc::new(parsed)));
            }
        }
        Ok(out)
    }
}
