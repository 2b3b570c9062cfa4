//! Monitor alerts as stored: one open row per alert however often it is
//! raised, recovered once, counted per project, pruned once recovered and
//! old; a project's own rules round-trip. On SQLite and (when
//! `TRAWLER_TEST_DATABASE_URL` is set) PostgreSQL.

use anyhow::{ensure, Result};
use serde_json::json;
use trawler_domain::monitor::{AlertKey, MonitorKind, ProjectMonitors};
use trawler_domain::Platform;
use trawler_store::prune::{prune, Policy};
use trawler_store::testing::TestDb;
use trawler_store::{Alert, NewAlert, NewSource, Project};

#[test]
fn an_alert_is_stored_once_recovers_once_and_goes_when_old() -> Result<()> {
    for db in TestDb::all()? {
        let backend = db.pool.backend();
        let mut conn = db.pool.get()?;
        let source =
            NewSource { platform: Platform::Kickstarter, external_ref: "a/b".into(), options: json!({}), secret: None };
        let (p, sources) = Project::create(&mut conn, "watched", &[source])?;
        let s = sources[0].id;
        let stale = AlertKey::new(MonitorKind::Stale, "backers");
        let alert = |key: AlertKey, at_ms| NewAlert {
            project_id: p.id,
            source_id: s,
            platform: Platform::Kickstarter,
            key,
            level: None,
            value: Some(10.0),
            detail: "backers unchanged".into(),
            at_ms,
        };
        ensure!(Alert::fire(&mut conn, &alert(stale.clone(), 1_000))?, "{backend:?}: first");
        ensure!(!Alert::fire(&mut conn, &alert(stale.clone(), 2_000))?, "{backend:?}: stored twice");
        let hundred = AlertKey::milestone("funded_pct", 100.0);
        ensure!(Alert::fire(&mut conn, &NewAlert { level: Some(f64::NAN), ..alert(hundred.clone(), 3_000) })?);
        let open = Alert::open_all(&mut conn)?;
        ensure!(open.len() == 2 && open[1].key == hundred && open[1].level.is_none(), "{backend:?}: {open:?}");
        let counts = Alert::open_counts(&mut conn)?;
        ensure!(counts[&p.id][&MonitorKind::Stale] == 1 && counts[&p.id][&MonitorKind::Milestone] == 1);

        ensure!(Alert::recover(&mut conn, s, &stale, Some(11.0), "moves again", 5_000)?);
        ensure!(!Alert::recover(&mut conn, s, &stale, Some(12.0), "moves again", 6_000)?, "recovered twice");
        // Raised again after its recovery: a new row.
        ensure!(Alert::fire(&mut conn, &alert(stale.clone(), 7_000))?);
        let all = Alert::list(&mut conn, p.id, false, 10)?;
        ensure!(all.len() == 3, "{backend:?}: {all:?}");
        let recovered: Vec<_> = all.iter().filter(|a| a.recovered_at_ms.is_some()).collect();
        ensure!(recovered.len() == 1 && recovered[0].recovered_value == Some(11.0));
        ensure!(Alert::list(&mut conn, p.id, true, 10)?.len() == 2);

        // Retention takes recovered alerts only.
        let keep = Policy { alerts_before_ms: Some(i64::MAX), ..Policy::nothing(100) };
        ensure!(prune(&mut conn, &keep)?.alerts == 1, "{backend:?}");
        ensure!(Alert::list(&mut conn, p.id, false, 10)?.len() == 2);
    }
    Ok(())
}

#[test]
fn a_projects_own_rules_round_trip() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "rules", &[])?;
        ensure!(p.monitors.is_none());
        let rules = ProjectMonitors::parse(
            &json!({"rules": [{"monitor": "jump", "factor": 4}], "silenced": ["stale"]}),
            std::time::Duration::from_secs(1),
        )
        .map_err(anyhow::Error::msg)?;
        let set = Project::set_monitors(&mut conn, p.id, Some(&rules), 1)?;
        ensure!(set.monitors.as_deref() == Some(&rules));
        let listed = Project::monitors_of(&mut conn, &[p.id])?;
        ensure!(listed.len() == 1 && *listed[0].1 == rules);
        // Back to the defaults: stored as none.
        let cleared = Project::set_monitors(&mut conn, p.id, Some(&ProjectMonitors::default()), 2)?;
        ensure!(cleared.monitors.is_none() && Project::monitors_of(&mut conn, &[p.id])?.is_empty());
        ensure!(Project::set_monitors(&mut conn, trawler_domain::ProjectId(999_999), None, 3).is_err());
    }
    Ok(())
}
