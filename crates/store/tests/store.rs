//! The store suite: every test runs on SQLite and, when
//! `TRAWLER_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database.

use anyhow::Result;
use serde_json::json;
use trawler_domain::{Agg, Metric, Platform, ProjectId, ProjectStatus, RunKind, RunStatus, RunTrigger, Totals};
use trawler_store::testing::TestDb;
use trawler_store::{
    migrations_pending, revert_all, run_migrations, Backend, Booked, Booking, NewSource, OwnedRunEnd, Point, Project,
    ProjectPatch, Run, RunEnd, RunFilter, SeriesQuery, Source, StoreError,
};
use trawler_store::{Attempt, Delivery, DeliveryStatus, NewWebhook, ProjectToken, Webhook};

fn point(project: ProjectId, platform: Platform, metric: &str, ts: i64, value: f64) -> trawler_domain::Point {
    trawler_domain::Point {
        project_id: project,
        platform,
        metric: metric.parse().expect("test metric names are valid"),
        ts,
        value,
    }
}

fn kickstarter(reference: &str) -> NewSource {
    NewSource { platform: Platform::Kickstarter, external_ref: reference.into(), options: json!({}), secret: None }
}

#[test]
fn the_suite_covers_postgres_when_configured() -> Result<()> {
    let dbs = TestDb::all()?;
    let expect_pg = std::env::var(trawler_store::testing::PG_ENV).is_ok_and(|v| !v.is_empty());
    assert_eq!(dbs.iter().any(|d| d.pool.backend() == Backend::Postgres), expect_pg);
    Ok(())
}

#[test]
fn migrations_apply_revert_and_reapply() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        assert!(!migrations_pending(&mut conn)?);
        let reverted = revert_all(&mut conn)?;
        assert_eq!(reverted.len(), 25, "{:?}", db.pool.backend());
        assert!(migrations_pending(&mut conn)?);
        assert_eq!(run_migrations(&mut conn)?.len(), 25);
        assert!(!migrations_pending(&mut conn)?);
        // The tables are back and usable.
        let (p, _) = Project::create(&mut conn, "after re-migration", &[])?;
        assert_eq!(Project::get(&mut conn, p.id)?.name, "after re-migration");
    }
    Ok(())
}

#[test]
fn statuses_of_many_projects_come_in_one_read_and_skip_unknown_ids() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (a, _) = Project::create(&mut conn, "a", &[])?;
        let (b, _) = Project::create(&mut conn, "b", &[])?;
        Project::set_status(&mut conn, b.id, ProjectStatus::Archived, None)?;
        let mut found = Project::statuses(&mut conn, &[b.id, ProjectId(987_654), a.id])?;
        found.sort_by_key(|(id, _)| *id);
        assert_eq!(found, vec![(a.id, ProjectStatus::Active), (b.id, ProjectStatus::Archived)]);
        assert!(Project::statuses(&mut conn, &[])?.is_empty());
    }
    Ok(())
}

#[test]
fn a_node_start_schedules_the_active_projects_no_node_scheduled_yet() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (a, _) = Project::create(&mut conn, "a", &[])?;
        let (b, _) = Project::create(&mut conn, "b", &[])?;
        let (c, _) = Project::create(&mut conn, "c", &[])?;
        assert_eq!((a.scheduled_from_ms, b.scheduled_from_ms), (None, None));
        Project::mark_scheduled(&mut conn, Some(&[a.id]), 1_000)?;
        Project::set_status(&mut conn, c.id, ProjectStatus::Archived, None)?;
        // A start marks b only: a was scheduled already, c is archived.
        assert_eq!(Project::mark_scheduled(&mut conn, None, 2_000)?, 1);
        let mut from = Vec::new();
        for id in [a.id, b.id, c.id] {
            from.push(Project::get(&mut conn, id)?.scheduled_from_ms);
        }
        assert_eq!(from, vec![Some(1_000), Some(2_000), None]);
        assert_eq!(Project::mark_scheduled(&mut conn, None, 3_000)?, 0);
    }
    Ok(())
}

#[test]
fn a_paused_schedule_leaves_the_poll_list_and_the_capacity_count() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (a, _) = Project::create(&mut conn, "a", &[kickstarter("pause/a")])?;
        let (b, _) = Project::create(&mut conn, "b", &[kickstarter("pause/b")])?;
        Project::mark_scheduled(&mut conn, None, 1_000)?;
        let polled = |conn: &mut trawler_store::AnyConnection| -> Result<Vec<ProjectId>> {
            Ok(Source::list_active_for_platform(conn, Platform::Kickstarter)?
                .iter()
                .map(|(s, _)| s.project_id)
                .collect())
        };
        let p = Project::set_paused(&mut conn, a.id, true, 2_000)?;
        assert!(p.paused && p.status == ProjectStatus::Active);
        assert_eq!(p.scheduled_from_ms, Some(1_000), "a pause keeps the schedule's start");
        assert_eq!(polled(&mut conn)?, vec![b.id]);
        assert_eq!(Source::count_active_by_platform(&mut conn)?, vec![(Platform::Kickstarter, 1)]);
        let mut schedules = Project::schedules(&mut conn, &[a.id, b.id, ProjectId(987_654)])?;
        schedules.sort_by_key(|s| s.id);
        let got: Vec<_> = schedules.iter().map(|s| (s.id, s.paused, s.full_interval_ms, s.ended_once)).collect();
        assert_eq!(got, vec![(a.id, true, None, false), (b.id, false, None, false)]);
        // Pausing twice changes nothing; resuming counts its slots from then.
        assert_eq!(Project::set_paused(&mut conn, a.id, true, 3_000)?.updated_at_ms, 2_000);
        let p = Project::set_paused(&mut conn, a.id, false, 4_000)?;
        assert!(!p.paused && p.scheduled_from_ms == Some(4_000), "{p:?}");
        assert_eq!(polled(&mut conn)?, vec![a.id, b.id]);
    }
    Ok(())
}

#[test]
fn the_capacity_load_weighs_each_project_at_its_own_interval() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let hour = std::time::Duration::from_secs(3600);
        let mut ids = Vec::new();
        for name in ["default", "ten seconds", "manual", "paused"] {
            ids.push(Project::create(&mut conn, name, &[kickstarter(&format!("load/{name}"))])?.0.id);
        }
        Project::set_full_interval(&mut conn, ids[1], Some(10_000), 1_000)?;
        Project::set_full_interval(&mut conn, ids[2], Some(0), 1_000)?;
        Project::set_paused(&mut conn, ids[3], true, 1_000)?;
        // Polls: one every minute by default, one every 2 s, none when manual.
        Project::set_poll_interval(&mut conn, ids[1], Some(2_000), 1_000)?;
        Project::set_poll_interval(&mut conn, ids[2], Some(0), 1_000)?;
        let load = Source::scheduled_load(&mut conn, hour, std::time::Duration::from_secs(60), hour)?;
        assert_eq!(load.len(), 1, "{load:?}");
        let l = load[0];
        assert_eq!((l.platform, l.sources), (Platform::Kickstarter, 3), "the paused one is left out");
        assert!((l.full_per_sec - (1.0 / 3600.0 + 1.0 / 10.0)).abs() < 1e-9, "{l:?}");
        assert!((l.polls_per_sec - (1.0 / 60.0 + 1.0 / 2.0)).abs() < 1e-9, "{l:?}");
        // The poll list carries each project's own poll interval and leaves
        // manual polls out.
        let mut polled: Vec<(ProjectId, Option<i64>)> =
            Source::list_active_for_platform(&mut conn, Platform::Kickstarter)?
                .into_iter()
                .map(|(s, every)| (s.project_id, every))
                .collect();
        polled.sort();
        assert_eq!(polled, vec![(ids[0], None), (ids[1], Some(2_000))]);
        assert_eq!(Project::get(&mut conn, ids[2])?.poll_interval_ms, Some(0));
        Project::set_poll_interval(&mut conn, ids[2], None, 2_000)?;
        assert_eq!(Source::list_active_for_platform(&mut conn, Platform::Kickstarter)?.len(), 3, "back to the default");
        // Setting the same interval again changes nothing.
        let before = Project::get(&mut conn, ids[1])?;
        assert_eq!(
            Project::set_full_interval(&mut conn, ids[1], Some(10_000), 5_000)?.updated_at_ms,
            before.updated_at_ms
        );
    }
    Ok(())
}

#[test]
fn projects_are_created_listed_updated_and_archived() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let meta = NewSource {
            platform: Platform::MetaAds,
            external_ref: "act_42".into(),
            options: json!({"level": "account"}),
            secret: Some("EAAB-secret".into()),
        };
        let (p, sources) = Project::create(&mut conn, "Aurora Lamp", &[kickstarter("maker/aurora"), meta])?;
        assert_eq!(p.status, ProjectStatus::Active);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[1].secret.as_deref(), Some("EAAB-secret"));
        assert_eq!(*sources[1].options, json!({"level": "account"}));

        let (other, _) = Project::create(&mut conn, "Other", &[])?;
        assert_eq!(Project::list(&mut conn, None)?.len(), 2);
        assert_eq!(Project::count(&mut conn)?, 2);
        let ids = |v: Vec<Project>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(Project::list_at(&mut conn, 0, 1)?), vec![p.id]);
        assert_eq!(ids(Project::list_at(&mut conn, 1, 5)?), vec![other.id]);
        assert!(Project::list_at(&mut conn, 2, 5)?.is_empty());
        assert_eq!(ids(Project::list_page(&mut conn, None, Some(p.id), Some(5))?), vec![other.id]);

        // Replacing the sources without repeating the secret keeps it.
        let patch = ProjectPatch {
            name: Some("Aurora Lamp 2".into()),
            sources: Some(vec![NewSource {
                platform: Platform::MetaAds,
                external_ref: "act_42".into(),
                options: json!({}),
                secret: None,
            }]),
        };
        let updated = Project::update(&mut conn, p.id, &patch)?;
        assert_eq!(updated.name, "Aurora Lamp 2");
        let sources = Source::list_for_project(&mut conn, p.id)?;
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].secret.as_deref(), Some("EAAB-secret"));

        Project::set_status(&mut conn, other.id, ProjectStatus::Archived, None)?;
        let active = Project::list(&mut conn, Some(ProjectStatus::Active))?;
        assert_eq!(active.iter().map(|p| p.id).collect::<Vec<_>>(), vec![p.id]);
        assert!(Source::list_active_for_platform(&mut conn, Platform::MetaAds)?.len() == 1);
        let all_active = Source::list_active(&mut conn)?;
        assert_eq!(
            all_active.iter().map(|s| s.project_id).collect::<Vec<_>>(),
            vec![p.id],
            "archived projects left out"
        );
        Project::set_status(&mut conn, p.id, ProjectStatus::Archived, None)?;
        assert!(Source::list_active_for_platform(&mut conn, Platform::MetaAds)?.is_empty());

        assert!(matches!(Project::get(&mut conn, ProjectId(9999)), Err(StoreError::NotFound(_))));
        assert!(matches!(
            Project::update(&mut conn, ProjectId(9999), &ProjectPatch::default()),
            Err(StoreError::NotFound(_))
        ));
    }
    Ok(())
}

#[test]
fn sources_with_the_same_options_share_one_parsed_copy() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        // Sources with the same options share one parsed copy.
        let generic = |reference: &str| NewSource {
            platform: Platform::HttpJson,
            external_ref: reference.into(),
            options: json!({"url": "http://shop.test/{ref}", "metrics": {"pledged": "/raised"}}),
            secret: None,
        };
        let (g, _) = Project::create(&mut conn, "Generic", &[generic("a"), generic("b")])?;
        let loaded = Source::list_for_project(&mut conn, g.id)?;
        assert!(std::sync::Arc::ptr_eq(&loaded[0].options, &loaded[1].options));
        assert_eq!(loaded[0].options["metrics"]["pledged"], "/raised");
        let other = Project::create(&mut conn, "Other", &[generic("c")])?.1;
        assert!(std::sync::Arc::ptr_eq(&loaded[0].options, &other[0].options));
    }
    Ok(())
}

#[test]
fn inserting_points_is_idempotent() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        // More than one insert chunk, to cover chunking.
        let batch: Vec<_> = (0..2500).map(|i| point(p.id, Platform::Kickstarter, "backers", i, i as f64)).collect();
        assert_eq!(Point::insert_batch(&mut conn, &batch)?, 2500);
        assert_eq!(Point::insert_batch(&mut conn, &batch)?, 0, "a replay adds nothing");
        // Same ts on another platform or metric is a different point.
        let other = [
            point(p.id, Platform::Indiegogo, "backers", 0, 1.0),
            point(p.id, Platform::Kickstarter, "pledged", 0, 1.0),
        ];
        assert_eq!(Point::insert_batch(&mut conn, &other)?, 2);
        assert_eq!(Point::count_for_project(&mut conn, p.id)?, 2502);
        assert_eq!(Point::metrics_of(&mut conn, p.id)?, ["backers", "pledged"]);
        let (empty, _) = Project::create(&mut conn, "Q", &[])?;
        assert!(Point::metrics_of(&mut conn, empty.id)?.is_empty());
        assert_eq!(Point::insert_batch(&mut conn, &[])?, 0);
        // The same point twice in one batch is stored once.
        let twice = [point(p.id, Platform::Html, "backers", 7, 1.0), point(p.id, Platform::Html, "backers", 7, 1.0)];
        assert_eq!(Point::insert_batch(&mut conn, &twice)?, 1);
    }
    Ok(())
}

#[test]
fn series_are_read_raw_and_downsampled() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        let (q, _) = Project::create(&mut conn, "Q", &[])?;
        let mut batch: Vec<_> =
            (0..120).map(|i| point(p.id, Platform::Kickstarter, "pledged", i * 30, i as f64)).collect();
        batch.push(point(p.id, Platform::Indiegogo, "pledged", 60, 1000.0));
        batch.push(point(q.id, Platform::Kickstarter, "pledged", 60, -1.0));
        Point::insert_batch(&mut conn, &batch)?;

        let mut query = SeriesQuery {
            project: p.id,
            metric: Metric::known(Metric::PLEDGED),
            platform: None,
            from: 0,
            to: 599,
            step: None,
            agg: Agg::Last,
        };
        let raw = Point::series(&mut conn, &query)?;
        assert!(!raw.truncated);
        assert_eq!(raw.series.len(), 2);
        assert_eq!(raw.series[0].platform, Platform::Indiegogo);
        assert_eq!(raw.series[0].points, vec![(60, 1000.0)]);
        assert_eq!(raw.series[1].points.len(), 20, "ts 0..=570 every 30 s");

        query.platform = Some(Platform::Kickstarter);
        query.step = Some(300);
        for (agg, expected) in [
            (Agg::Last, vec![(0, 9.0), (300, 19.0)]),
            (Agg::Min, vec![(0, 0.0), (300, 10.0)]),
            (Agg::Max, vec![(0, 9.0), (300, 19.0)]),
            (Agg::Avg, vec![(0, 4.5), (300, 14.5)]),
        ] {
            query.agg = agg;
            let s = Point::series(&mut conn, &query)?;
            assert_eq!(s.series.len(), 1);
            assert_eq!(s.series[0].points, expected, "{agg:?} on {:?}", db.pool.backend());
        }
        query.metric = Metric::known(Metric::SPEND);
        assert!(Point::series(&mut conn, &query)?.series.is_empty());
    }
    Ok(())
}

/// Points arrive in time order, every project's at each tick, so one series
/// is spread over the whole table. A series must still be one range of the
/// primary key, read without visiting the rows: SQLite keeps the table in
/// its key (WITHOUT ROWID); PostgreSQL's key carries `value` (migration 10)
/// for an index-only scan.
#[test]
fn a_series_is_read_from_the_primary_key_alone() -> Result<()> {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use trawler_store::AnyConnection;

    #[derive(QueryableByName)]
    struct PgLine {
        #[diesel(sql_type = Text)]
        line: String,
    }
    #[derive(QueryableByName)]
    struct SqliteLine {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(Project::create(&mut conn, &format!("P{i}"), &[])?.0.id);
        }
        let batch: Vec<_> = (0..200i64)
            .flat_map(|t| ids.iter().map(move |&id| point(id, Platform::Kickstarter, "pledged", t * 300, t as f64)))
            .collect();
        Point::insert_batch(&mut conn, &batch)?;
        db.settle()?;
        let query = format!(
            "SELECT ts, value FROM points WHERE project_id = {} AND metric = 'pledged' \
             AND platform = 'kickstarter' AND ts >= 0 AND ts <= 100000 ORDER BY ts",
            ids[7].0
        );
        let plan = match &mut **conn {
            AnyConnection::Postgresql(pg) => {
                // So small a table might be read whole; among index reads,
                // the planner must find one that never needs the heap.
                pg.batch_execute(
                    "SET enable_seqscan = off; SET enable_bitmapscan = off;
                     CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
                     DECLARE r text; BEGIN FOR r IN EXECUTE 'EXPLAIN ' || q LOOP RETURN NEXT r; END LOOP; END $$;",
                )?;
                let lines: Vec<PgLine> =
                    diesel::sql_query("SELECT pg_temp.plan_of($1) AS line").bind::<Text, _>(&query).load(pg)?;
                lines.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n")
            }
            AnyConnection::Sqlite(lite) => {
                let lines: Vec<SqliteLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}")).load(lite)?;
                lines.into_iter().map(|l| l.detail).collect::<Vec<_>>().join("\n")
            }
        };
        let expected = match db.pool.backend() {
            Backend::Postgres => "Index Only Scan using points_pkey",
            Backend::Sqlite => "SEARCH points USING PRIMARY KEY",
        };
        assert!(plan.contains(expected), "{:?}: {plan}", db.pool.backend());
        // And the series reads the same through the store.
        let series = Point::series(
            &mut conn,
            &SeriesQuery {
                project: ids[7],
                metric: Metric::known(Metric::PLEDGED),
                platform: None,
                from: 0,
                to: 100_000,
                step: None,
                agg: Agg::Last,
            },
        )?;
        assert_eq!(series.series[0].points.len(), 200);
        assert_eq!(series.series[0].points[199], (199 * 300, 199.0));
    }
    Ok(())
}

#[test]
fn observations_give_range_totals() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        Point::insert_batch(
            &mut conn,
            &[
                point(p.id, Platform::Kickstarter, "pledged", 100, 1000.0),
                point(p.id, Platform::Kickstarter, "pledged", 200, 1600.0),
                point(p.id, Platform::Kickstarter, "pledged", 300, 2000.0),
                point(p.id, Platform::MetaAds, "spend", 100, 50.0),
                point(p.id, Platform::MetaAds, "spend", 300, 250.0),
            ],
        )?;
        let end = Point::observations_at(&mut conn, p.id, 250)?;
        assert_eq!(end.len(), 2);
        let start = Point::observations_at(&mut conn, p.id, 150)?;
        let t = Totals::from_observations(&end, &start);
        assert_eq!(t.latest.get("pledged"), Some(&1600.0));
        assert_eq!(t.delta.get("pledged"), Some(&600.0));
        assert_eq!(t.delta.get("spend"), Some(&0.0));
        assert!(Point::observations_at(&mut conn, p.id, 99)?.is_empty());
    }
    Ok(())
}

#[test]
fn runs_are_recorded_and_unfinished_ones_aborted() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        let r1 = Run::start(&mut conn, p.id, RunKind::Full, RunTrigger::Manual, "node-a")?;
        assert_eq!(r1.status, RunStatus::Running);
        let end = RunEnd { points_written: 7, log: "kickstarter: 7 points\n", ..RunEnd::new(RunStatus::Succeeded) };
        Run::finish(&mut conn, r1.id, end)?;
        let failed = Run::start(&mut conn, p.id, RunKind::Full, RunTrigger::Manual, "node-a")?;
        let end = RunEnd { error: Some(("timeout", "kickstarter a/b: timeout")), ..RunEnd::new(RunStatus::Failed) };
        Run::finish(&mut conn, failed.id, end)?;
        let failed = Run::get(&mut conn, failed.id)?;
        assert_eq!(failed.error_kind.as_deref(), Some("timeout"));
        assert_eq!(failed.error.as_deref(), Some("kickstarter a/b: timeout"));
        let r2 = Run::start(&mut conn, p.id, RunKind::Full, RunTrigger::Schedule, "node-a")?;
        let done = Run::get(&mut conn, r1.id)?;
        assert_eq!(done.status, RunStatus::Succeeded);
        assert_eq!(done.points_written, 7);
        assert!(done.finished_at_ms.is_some());
        let list = Run::list_for_project(&mut conn, p.id, 10)?;
        assert_eq!(list.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2.id, failed.id, r1.id]);
        assert_eq!(Run::last_started(&mut conn)?, vec![(p.id, r2.started_at_ms)]);
        // A run of another node that is still alive is that node's to end.
        let theirs = Run::start(&mut conn, p.id, RunKind::Full, RunTrigger::Schedule, "node-b")?;
        // A run this process began after it started is not a leftover.
        assert_eq!(Run::abort_unfinished(&mut conn, &["node-b".to_owned()], r2.started_at_ms)?, 0);
        assert_eq!(Run::abort_unfinished(&mut conn, &["node-b".to_owned()], r2.started_at_ms + 1)?, 1);
        assert_eq!(Run::get(&mut conn, theirs.id)?.status, RunStatus::Running);
        let aborted = Run::get(&mut conn, r2.id)?;
        assert_eq!(aborted.status, RunStatus::Aborted);
        assert!(aborted.error.is_some());
        assert_eq!(aborted.error_kind.as_deref(), Some("aborted"));
    }
    Ok(())
}

#[test]
fn run_bookkeeping_in_one_batch_answers_each_entry_and_isolates_a_bad_one() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (a, _) = Project::create(&mut conn, "A", &[])?;
        let (b, _) = Project::create(&mut conn, "B", &[])?;
        let open = Run::start(&mut conn, a.id, RunKind::Full, RunTrigger::Schedule, "node-a")?;
        let start =
            |project, at_ms| Booking::Start { project, kind: RunKind::Full, trigger: RunTrigger::Schedule, at_ms };
        let end = OwnedRunEnd {
            status: RunStatus::Failed,
            error: Some(("timeout".into(), "kickstarter a/b: timeout".into())),
            points_written: 3,
            log: "kickstarter a/b: timeout\n".into(),
            fetch_started_at_ms: Some(1_000),
        };
        let batch = vec![start(a.id, 10), Booking::Finish { run: open.id, end: end.clone() }, start(b.id, 20)];
        let booked = Run::book(&mut conn, "node-a", &batch);
        assert_eq!(booked.len(), 3);
        let started: Vec<Run> = booked
            .into_iter()
            .filter_map(|b| match b {
                Ok(Booked::Started(run)) => Some(run),
                Ok(Booked::Finished) => None,
                Err(e) => panic!("a booking failed: {e}"),
            })
            .collect();
        assert_eq!(
            started.iter().map(|r| (r.project_id, r.started_at_ms)).collect::<Vec<_>>(),
            [(a.id, 10), (b.id, 20)]
        );
        assert_eq!(started[0], Run::get(&mut conn, started[0].id)?, "the answer is the stored row");
        assert_eq!(started[1].node, "node-a");
        let ended = Run::get(&mut conn, open.id)?;
        assert_eq!(
            (ended.status, ended.points_written, ended.fetch_started_at_ms),
            (RunStatus::Failed, 3, Some(1_000))
        );
        assert_eq!(ended.error_kind.as_deref(), Some("timeout"));
        // A start for a project that does not exist fails alone; the
        // entries beside it are recorded.
        let batch = vec![
            start(a.id, 30),
            start(ProjectId(a.id.0 + 1_000), 31),
            Booking::Finish { run: started[0].id, end: OwnedRunEnd { error: None, ..end.clone() } },
            Booking::Finish { run: trawler_domain::RunId(started[1].id.0 + 1_000), end },
        ];
        let booked = Run::book(&mut conn, "node-a", &batch);
        assert!(matches!(&booked[0], Ok(Booked::Started(r)) if r.started_at_ms == 30), "{:?}", booked[0]);
        assert!(booked[1].is_err(), "a run of a missing project: {:?}", booked[1]);
        assert!(matches!(booked[2], Ok(Booked::Finished)), "{:?}", booked[2]);
        assert!(matches!(booked[3], Err(StoreError::NotFound("run"))), "{:?}", booked[3]);
        assert_eq!(Run::get(&mut conn, started[0].id)?.status, RunStatus::Failed);
        assert_eq!(Run::list_for_project(&mut conn, a.id, 10)?.len(), 3);
        // Starts alike in every value get a run each.
        let alike: Vec<Booking> = (0..50).map(|_| start(b.id, 40)).collect();
        let mut ids: Vec<i64> = Run::book(&mut conn, "node-a", &alike)
            .into_iter()
            .map(|b| match b {
                Ok(Booked::Started(run)) => Ok(run.id.0),
                other => Err(anyhow::anyhow!("{other:?}")),
            })
            .collect::<Result<_>>()?;
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50);
        assert_eq!(Run::list_for_project(&mut conn, b.id, 100)?.len(), 51);
    }
    Ok(())
}

#[test]
fn runs_are_found_by_platform_status_node_and_time() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (ks, _) = Project::create(&mut conn, "K", &[kickstarter("maker/k")])?;
        let igg =
            NewSource { platform: Platform::Indiegogo, external_ref: "i".into(), options: json!({}), secret: None };
        let (ig, _) = Project::create(&mut conn, "I", &[igg])?;
        let (none, _) = Project::create(&mut conn, "N", &[])?;
        let mut ids = Vec::new();
        for (p, node, status) in [
            (ks.id, "a", RunStatus::Failed),
            (ig.id, "b", RunStatus::Failed),
            (none.id, "a", RunStatus::Failed),
            (ks.id, "b", RunStatus::Succeeded),
        ] {
            let r = Run::start(&mut conn, p, RunKind::Full, RunTrigger::Schedule, node)?;
            Run::finish(&mut conn, r.id, RunEnd::new(status))?;
            ids.push(r.id);
        }
        let find = |conn: &mut trawler_store::AnyConnection, f: RunFilter| -> Result<Vec<i64>> {
            Ok(Run::search(conn, &RunFilter { limit: 100, ..f })?.into_iter().map(|r| r.id.0).collect())
        };
        let all = find(&mut conn, RunFilter::default())?;
        assert_eq!(all, ids.iter().rev().map(|r| r.0).collect::<Vec<_>>(), "newest first");
        // The runs page's read model: the same runs, each with its project's name.
        let named: Vec<(i64, String)> =
            trawler_store::view::runs_with_project_names(&mut conn, &RunFilter { limit: 100, ..RunFilter::default() })?
                .into_iter()
                .map(|(r, name)| (r.id.0, name))
                .collect();
        let expected: Vec<(i64, String)> =
            ids.iter().rev().zip(["K", "N", "I", "K"]).map(|(r, n)| (r.0, n.to_owned())).collect();
        assert_eq!(named, expected);
        let failed_on_two_platforms = RunFilter {
            platforms: vec![Platform::Kickstarter, Platform::Indiegogo],
            statuses: vec![RunStatus::Failed],
            ..RunFilter::default()
        };
        assert_eq!(find(&mut conn, failed_on_two_platforms)?, vec![ids[1].0, ids[0].0]);
        let on_a = RunFilter { nodes: vec!["a".into()], ..RunFilter::default() };
        assert_eq!(find(&mut conn, on_a)?, vec![ids[2].0, ids[0].0]);
        let future = RunFilter { from_ms: Some(trawler_domain::now_millis() + 60_000), ..RunFilter::default() };
        assert!(find(&mut conn, future)?.is_empty());
        let page = RunFilter { before_id: Some(ids[2].0), limit: 1, ..RunFilter::default() };
        assert_eq!(Run::search(&mut conn, &page)?.len(), 1);
        assert_eq!(Run::search(&mut conn, &page)?[0].id, ids[1]);
        let mut latest: Vec<(i64, String)> =
            Run::latest_per_project(&mut conn)?.into_iter().map(|r| (r.id.0, r.node)).collect();
        latest.sort();
        assert_eq!(latest, vec![(ids[1].0, "b".into()), (ids[2].0, "a".into()), (ids[3].0, "b".into())]);
        assert_eq!(Run::nodes(&mut conn)?, vec!["a".to_owned(), "b".to_owned()]);
        // A page of projects reads only its own latest runs and full starts.
        let mut page: Vec<(i64, String)> =
            Run::latest_for(&mut conn, &[ks.id, none.id])?.into_iter().map(|r| (r.id.0, r.node)).collect();
        page.sort();
        assert_eq!(page, vec![(ids[2].0, "a".into()), (ids[3].0, "b".into())]);
        let now = trawler_domain::now_millis();
        let starts = Run::full_starts_between(&mut conn, Some(&[ks.id]), now - 60_000, now + 60_000)?;
        assert_eq!(starts.iter().map(|s| s.0).collect::<Vec<_>>(), vec![ks.id, ks.id]);
        assert_eq!(Run::full_starts_between(&mut conn, None, now - 60_000, now + 60_000)?.len(), 4);
        // Node names walked in order, however many runs each has.
        for node in ["c", "a", "0"] {
            Run::start(&mut conn, none.id, RunKind::Poll, RunTrigger::Schedule, node)?;
        }
        assert_eq!(Run::nodes(&mut conn)?, vec!["0", "a", "b", "c"]);
    }
    Ok(())
}

#[test]
fn rolled_up_points_read_the_same_through_series_and_summaries() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        // Five hours of points every 10 minutes, on two platforms.
        let mut batch = Vec::new();
        for i in 0..30 {
            let ts = 36_000 + i * 600;
            batch.push(point(p.id, Platform::Kickstarter, "pledged", ts, (i * i) as f64));
            batch.push(point(p.id, Platform::Indiegogo, "pledged", ts, 1000.0 - i as f64));
        }
        Point::insert_batch(&mut conn, &batch)?;
        let query = |agg: Agg, step: Option<i64>| SeriesQuery {
            project: p.id,
            metric: Metric::known(Metric::PLEDGED),
            platform: None,
            from: 0,
            to: 100_000,
            step,
            agg,
        };
        let aggs = [Agg::Last, Agg::Min, Agg::Max, Agg::Avg];
        let before: Vec<_> =
            aggs.iter().map(|a| Point::series(&mut conn, &query(*a, Some(3600)))).collect::<Result<_, _>>()?;
        let obs_before = Point::observations_at(&mut conn, p.id, 100_000)?;
        // Rolled-up data has hourly resolution: compare at an hour's end.
        let mid_before = Point::observations_at(&mut conn, p.id, 39_599)?;

        // Roll up everything before 10:00 + 3 h (points at 10:00..12:59).
        let rolled = Point::roll_up_before(&mut conn, 36_000 + 3 * 3600 + 1234)?.moved;
        assert_eq!(rolled, 36, "3 hours x 6 points x 2 platforms");
        assert_eq!(Point::count_for_project(&mut conn, p.id)?, 24);
        for (agg, expected) in aggs.iter().zip(&before) {
            let after = Point::series(&mut conn, &query(*agg, Some(3600)))?;
            assert_eq!(after.series.len(), expected.series.len());
            for (a, e) in after.series.iter().zip(&expected.series) {
                assert_eq!(a.platform, e.platform);
                assert_eq!(a.points.len(), e.points.len(), "{agg:?}");
                for (x, y) in a.points.iter().zip(&e.points) {
                    assert_eq!(x.0, y.0);
                    assert!((x.1 - y.1).abs() < 1e-9, "{agg:?} {x:?} != {y:?} on {:?}", db.pool.backend());
                }
            }
        }
        assert_eq!(Point::observations_at(&mut conn, p.id, 100_000)?, obs_before);
        assert_eq!(
            Point::observations_at(&mut conn, p.id, 39_599)?,
            mid_before,
            "a summary range deep in the rolled past"
        );
        // The projects page's read model: the same values, for a whole page
        // in two queries (a project without points has none).
        let (q, _) = Project::create(&mut conn, "Q", &[])?;
        Point::insert_batch(&mut conn, &[point(q.id, Platform::MetaAds, "spend", 50_000, 7.5)])?;
        let empty = ProjectId(q.id.0 + 1000);
        for (at, expected) in [(100_000, &obs_before), (39_599, &mid_before)] {
            let page = trawler_store::view::latest_values(&mut conn, &[p.id, q.id, empty], at)?;
            assert_eq!(page.get(&p.id), Some(expected), "at {at} on {:?}", db.pool.backend());
            let q_seen = page.get(&q.id).map(|o| (o.len(), o[0].value));
            assert_eq!(q_seen, (at >= 50_000).then_some((1, 7.5)), "a value is read at or before its time");
            assert!(!page.contains_key(&empty));
        }
        // Raw reads of a rolled hour give one point per hour (its last).
        let raw = Point::series(&mut conn, &query(Agg::Last, None))?;
        assert_eq!(raw.series[0].points.len(), 3 + 12);

        // A late point for a rolled hour is merged by the next roll-up.
        Point::insert_batch(&mut conn, &[point(p.id, Platform::Kickstarter, "pledged", 36_001, -5.0)])?;
        assert_eq!(Point::roll_up_before(&mut conn, 36_000 + 3 * 3600)?.moved, 1);
        let min = Point::series(
            &mut conn,
            &SeriesQuery { platform: Some(Platform::Kickstarter), ..query(Agg::Min, Some(3600)) },
        )?;
        assert_eq!(min.series[0].points[0], (36_000, -5.0));
        let last = Point::series(
            &mut conn,
            &SeriesQuery { platform: Some(Platform::Kickstarter), ..query(Agg::Last, Some(3600)) },
        )?;
        assert_eq!(last.series[0].points[0], (36_000, 25.0), "the late point is not the hour's last");
        assert_eq!(Point::roll_up_before(&mut conn, 36_000)?.moved, 0, "nothing before the cutoff: no-op");
    }
    Ok(())
}

#[test]
fn exports_walk_rollups_and_raw_points_in_chunks() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        let mut batch = Vec::new();
        for i in 0..30 {
            batch.push(point(p.id, Platform::Kickstarter, "pledged", 36_000 + i * 600, i as f64));
            batch.push(point(p.id, Platform::Kickstarter, "backers", 36_000 + i * 600, i as f64));
        }
        Point::insert_batch(&mut conn, &batch)?;
        Point::roll_up_before(&mut conn, 36_000 + 2 * 3600)?; // 2 hours per metric rolled up
        let mut cursor = Some(Point::export_start(&mut conn, p.id, None)?);
        let mut rows = Vec::new();
        let mut chunks = 0;
        while let Some(c) = cursor {
            let (chunk, next) = Point::export_chunk(&mut conn, p.id, 0, i64::MAX, c, 7)?;
            assert!(chunk.len() <= 7);
            rows.extend(chunk);
            cursor = next;
            chunks += 1;
        }
        // Per metric: 2 rolled hours + 18 raw points.
        assert_eq!(rows.len(), 2 * (2 + 18), "{:?}", db.pool.backend());
        assert!(chunks >= 6);
        assert_eq!(rows.iter().filter(|r| r.rollup).count(), 4);
        assert_eq!(rows[0].metric, "backers");
        assert!(rows[0].rollup && rows[1].rollup && !rows[2].rollup);
        for w in rows.windows(2) {
            if w[0].metric == w[1].metric && w[0].rollup == w[1].rollup {
                assert!(w[0].ts < w[1].ts, "ordered and without repeats");
            }
        }
        // One metric, a time range.
        let c = Point::export_start(&mut conn, p.id, Some(&Metric::known(Metric::PLEDGED)))?;
        let (chunk, next) = Point::export_chunk(&mut conn, p.id, 50_000, 50_400, c, 100)?;
        assert_eq!(chunk.iter().map(|r| r.ts).collect::<Vec<_>>(), vec![50_400]);
        assert!(next.is_none());
    }
    Ok(())
}

#[test]
fn webhook_deliveries_are_queued_claimed_retried_and_logged() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let all = Webhook::create(
            &mut conn,
            &NewWebhook {
                url: "http://127.0.0.1:1/a".into(),
                secret: "s3cret".into(),
                events: vec!["*".into()],
                description: String::new(),
            },
        )?;
        let failing_only = Webhook::create(
            &mut conn,
            &NewWebhook {
                url: "http://127.0.0.1:1/b".into(),
                secret: "other".into(),
                events: vec!["project.failing".into()],
                description: "pager".into(),
            },
        )?;
        assert_eq!(Webhook::list(&mut conn)?.len(), 2);

        // An event reaches only the webhooks that want it.
        let p = ProjectId(7);
        let ids =
            Delivery::enqueue(&mut conn, "project.quarantined", Some(p), &json!({"event": "project.quarantined"}))?;
        assert_eq!(ids.len(), 1);
        let ids = Delivery::enqueue(&mut conn, "project.failing", Some(p), &json!({"event": "project.failing"}))?;
        assert_eq!(ids.len(), 2);

        // Claiming leases rows: a second claim at the same time gets none.
        let now = trawler_domain::now_millis();
        let due = Delivery::claim_due(&mut conn, now, 30_000, 10)?;
        assert_eq!(due.len(), 3);
        assert!(Delivery::claim_due(&mut conn, now, 30_000, 10)?.is_empty());
        let to_b = due.iter().find(|d| d.delivery.webhook_id == failing_only.id).expect("b has one");
        assert_eq!(to_b.secret, "other");
        assert_eq!(to_b.delivery.payload, json!({"event": "project.failing"}));

        // A failure with a retry stays pending; the last failure is final;
        // a success is final too.
        Delivery::record(
            &mut conn,
            to_b.delivery.id,
            &Attempt::Failed { status: Some(500), error: "HTTP 500".into(), retry_at_ms: Some(now + 1_000) },
        )?;
        assert_eq!(Delivery::next_due_ms(&mut conn)?, Some(now + 1_000));
        let again = Delivery::claim_due(&mut conn, now + 1_000, 30_000, 10)?;
        assert_eq!(again.len(), 1);
        Delivery::record(
            &mut conn,
            to_b.delivery.id,
            &Attempt::Failed { status: None, error: "refused".into(), retry_at_ms: None },
        )?;
        for d in due.iter().filter(|d| d.delivery.webhook_id == all.id) {
            Delivery::record(&mut conn, d.delivery.id, &Attempt::Delivered { status: 204 })?;
        }
        let log_b = Delivery::list_for_webhook(&mut conn, failing_only.id, 10)?;
        assert_eq!(log_b.len(), 1);
        assert_eq!((log_b[0].status, log_b[0].attempts, log_b[0].last_status_code), (DeliveryStatus::Failed, 2, None));
        assert_eq!(log_b[0].last_error.as_deref(), Some("refused"));
        let log_all = Delivery::list_for_webhook(&mut conn, all.id, 10)?;
        assert!(log_all
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1 && d.delivered_at_ms.is_some()));
        assert_eq!(Delivery::next_due_ms(&mut conn)?, None);
        assert!(Delivery::claim_due(&mut conn, now + 10_000_000, 30_000, 10)?.is_empty());

        // An inactive webhook gets nothing new; deleting one removes its log.
        Webhook::set_active(&mut conn, all.id, false)?;
        Delivery::enqueue(&mut conn, "project.recovered", Some(p), &json!({}))?;
        assert!(Delivery::claim_due(&mut conn, now + 10_000_000, 30_000, 10)?.is_empty());
        Webhook::delete(&mut conn, all.id)?;
        assert!(matches!(Webhook::get(&mut conn, all.id), Err(StoreError::NotFound(_))));
        assert!(Delivery::list_for_webhook(&mut conn, all.id, 10)?.is_empty());
    }
    Ok(())
}

#[test]
fn read_tokens_authenticate_until_revoked() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "tokens", &[])?;
        let t = ProjectToken::create(&mut conn, p.id, "dashboard", "hash-1", "trw_ab12")?;
        assert_eq!(
            (t.project_id, t.name.as_str(), t.prefix.as_str(), t.revoked_at_ms),
            (p.id, "dashboard", "trw_ab12", None)
        );
        assert!(matches!(
            ProjectToken::create(&mut conn, ProjectId(999_999), "x", "hash-2", "p"),
            Err(StoreError::NotFound(_))
        ));
        let found = ProjectToken::authenticate(&mut conn, "hash-1")?.expect("a live token");
        assert_eq!(found.id, t.id);
        assert!(ProjectToken::get(&mut conn, p.id, t.id)?.last_used_at_ms.is_some(), "use is recorded");
        assert_eq!(ProjectToken::authenticate(&mut conn, "nope")?, None);
        let revoked = ProjectToken::revoke(&mut conn, p.id, t.id)?;
        assert!(revoked.revoked_at_ms.is_some());
        assert_eq!(ProjectToken::authenticate(&mut conn, "hash-1")?, None, "a revoked token reads nothing");
        assert_eq!(ProjectToken::revoke(&mut conn, p.id, t.id)?.revoked_at_ms, revoked.revoked_at_ms, "idempotent");
        assert_eq!(ProjectToken::list(&mut conn, p.id)?.len(), 1);
        let (other, _) = Project::create(&mut conn, "other", &[])?;
        assert!(
            matches!(ProjectToken::revoke(&mut conn, other.id, t.id), Err(StoreError::NotFound(_))),
            "tokens are per project"
        );
    }
    Ok(())
}

#[test]
fn sessions_live_until_they_expire_or_end() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        trawler_store::Session::create(&mut conn, "h1", "csrf-1", 60_000)?;
        trawler_store::Session::create(&mut conn, "h2", "csrf-2", -1)?;
        assert_eq!(trawler_store::Session::get(&mut conn, "h1")?.map(|s| s.csrf), Some("csrf-1".to_owned()));
        assert_eq!(trawler_store::Session::get(&mut conn, "h2")?, None, "expired");
        trawler_store::Session::delete(&mut conn, "h1")?;
        assert_eq!(trawler_store::Session::get(&mut conn, "h1")?, None, "logged out");
    }
    Ok(())
}

/// Edits read before they write. On SQLite a deferred transaction doing that
/// beside another writer fails at once with "database is locked"; write
/// transactions begin IMMEDIATE so they wait their turn instead.
#[test]
fn edits_beside_a_busy_writer_wait_instead_of_failing() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "Busy", &[kickstarter("maker/busy")])?;
        drop(conn);
        let db = &db;
        std::thread::scope(|s| -> Result<()> {
            let writer = s.spawn(|| -> Result<()> {
                let mut conn = db.pool.get()?;
                for i in 0..200 {
                    let batch: Vec<_> =
                        (0..20).map(|k| point(p.id, Platform::Kickstarter, "pledged", i * 100 + k, 1.0)).collect();
                    Point::insert_batch(&mut conn, &batch)?;
                }
                Ok(())
            });
            let editors: Vec<_> = (0..3)
                .map(|e| {
                    s.spawn(move || -> Result<()> {
                        let mut conn = db.pool.get()?;
                        for i in 0..40 {
                            let patch = ProjectPatch { name: Some(format!("Busy {e}.{i}")), ..Default::default() };
                            Project::update(&mut conn, p.id, &patch)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            writer.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
            for e in editors {
                e.join().map_err(|_| anyhow::anyhow!("editor panicked"))??;
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn nodes_heartbeat_stop_and_expire() -> Result<()> {
    use trawler_store::node::{Node, TTL_MS};
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let t = 1_000_000;
        Node::heartbeat(&mut conn, "a", "i1", "0.1.0", t, t, None)?;
        Node::heartbeat(&mut conn, "b", "i2", "0.1.0", t, t, Some(r#"{"all":false,"projects":[3]}"#))?;
        assert_eq!(Node::others_alive(&mut conn, "a", t + 1)?, vec!["b".to_owned()]);
        let b = Node::list(&mut conn)?.into_iter().find(|n| n.name == "b").expect("b is listed");
        assert_eq!(b.following.as_deref(), Some(r#"{"all":false,"projects":[3]}"#));
        // A heartbeat moves the row on; a new instance takes it over.
        Node::heartbeat(&mut conn, "b", "i3", "0.1.1", t + 5, t + 5, None)?;
        let b = Node::list(&mut conn)?.into_iter().find(|n| n.name == "b").expect("b is listed");
        assert_eq!((b.instance.as_str(), b.heartbeat_at_ms, b.version.as_str()), ("i3", t + 5, "0.1.1"));
        // Silence past the TTL, or a clean stop, and it is gone.
        assert!(Node::others_alive(&mut conn, "a", t + 5 + TTL_MS + 1)?.is_empty());
        Node::stopped(&mut conn, "b", "i2", t + 6)?;
        assert_eq!(Node::others_alive(&mut conn, "a", t + 7)?, vec!["b".to_owned()], "only its own instance stops it");
        Node::stopped(&mut conn, "b", "i3", t + 6)?;
        assert!(Node::others_alive(&mut conn, "a", t + 7)?.is_empty());
    }
    Ok(())
}

/// A connection the server dropped while it sat in the pool: handed out
/// again within the trust window (no `SELECT 1`), its query fails once and
/// it is not pooled again; after the window, the checkout's check replaces
/// it before anyone uses it.
#[test]
fn a_connection_the_server_dropped_fails_once_at_most_and_is_not_pooled_again() -> Result<()> {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Integer;
    use trawler_store::AnyConnection;
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let Some(db) = TestDb::postgres() else {
        eprintln!("no PostgreSQL: skipping");
        return Ok(());
    };
    let db = db?;
    let pid_of = |conn: &mut AnyConnection| -> Result<i32> {
        match conn {
            AnyConnection::Postgresql(pg) => {
                Ok(diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(pg)?.pid)
            }
            AnyConnection::Sqlite(_) => anyhow::bail!("PostgreSQL expected"),
        }
    };
    let kill = |pid: i32| -> Result<()> {
        let mut admin = trawler_store::DbUrl::parse(&db.url)?.connect()?;
        admin.batch_execute(&format!("SELECT pg_terminate_backend({pid})"))?;
        std::thread::sleep(std::time::Duration::from_millis(100));
        Ok(())
    };
    for wait in [std::time::Duration::ZERO, std::time::Duration::from_millis(700)] {
        let mut conn = db.pool.get()?;
        let pid = pid_of(&mut conn)?;
        drop(conn);
        kill(pid)?;
        std::thread::sleep(wait);
        let mut failures = 0;
        let mut pids = Vec::new();
        for _ in 0..3 {
            let mut conn = db.pool.get()?;
            match pid_of(&mut conn) {
                Ok(p) => pids.push(p),
                Err(_) => failures += 1,
            }
        }
        let allowed = if wait.is_zero() { 1 } else { 0 };
        anyhow::ensure!(failures <= allowed, "after {wait:?}: {failures} failed queries");
        anyhow::ensure!(pids.len() == 3 - failures && !pids.contains(&pid), "after {wait:?}: {pids:?} (killed {pid})");
    }
    Ok(())
}

#[test]
fn a_campaign_state_is_stored_per_source_and_a_project_ends_once() -> Result<()> {
    use trawler_domain::campaign::Phase;
    use trawler_store::SourceCampaign;
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, sources) = Project::create(&mut conn, "ending", &[kickstarter("end/a")])?;
        assert_eq!(sources[0].campaign, None, "unknown until a fetch says");
        let live = SourceCampaign {
            state: "live".into(),
            phase: Phase::Live,
            deadline_ms: Some(5_000),
            started_ms: Some(500),
            seen_at_ms: 1_000,
            currency: Some(trawler_domain::Currency::EUR),
        };
        Source::set_campaign(&mut conn, sources[0].id, &live)?;
        let stored = Source::list_for_project(&mut conn, p.id)?.remove(0);
        assert_eq!(stored.currency(), Some(trawler_domain::Currency::EUR), "the platform's currency is kept");
        assert_eq!(stored.campaign, Some(live));
        let ended = Project::end(&mut conn, p.id, "campaign ended (kickstarter successful)", 9_000)?.expect("active");
        assert_eq!((ended.status, ended.ended_at_ms), (ProjectStatus::Ended, Some(9_000)));
        assert!(Source::list_active_for_platform(&mut conn, Platform::Kickstarter)?.is_empty(), "no more polls");
        assert!(Project::end(&mut conn, p.id, "again", 10_000)?.is_none(), "ended already");
        // Resumed by an admin, it keeps the moment it ended and is not ended again.
        let resumed = Project::set_status(&mut conn, p.id, ProjectStatus::Active, None)?;
        assert_eq!((resumed.status, resumed.ended_at_ms), (ProjectStatus::Active, Some(9_000)));
        assert!(Project::end(&mut conn, p.id, "again", 11_000)?.is_none(), "ended once");
        assert!(Project::schedules(&mut conn, &[p.id])?[0].ended_once);
    }
    Ok(())
}
