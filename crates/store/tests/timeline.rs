//! The timeline: spans recorded at each transition and read back for a
//! project's series, with its failed runs.

use trawler_domain::gaps::Cause;
use trawler_domain::{Platform, ProjectId, ProjectStatus};
use trawler_store::testing::TestDb;
use trawler_store::{NewSource, Project, Scope, Timeline};

#[test]
fn spans_open_close_and_are_read_with_the_platforms() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let conn = &mut *db.pool.get()?;
    let src = NewSource {
        platform: Platform::Kickstarter,
        external_ref: "a/b".into(),
        options: serde_json::json!({}),
        secret: None,
    };
    let (p, _) = Project::create(conn, "p", &[src])?;
    let me = Scope::project(p.id);
    Timeline::open(conn, me, Cause::Paused, "paused by an admin", 1_000)?;
    Timeline::open(conn, me, Cause::Paused, "twice", 1_500)?;
    let circuit = Scope { platform: Some(Platform::Kickstarter), node: Some("n1"), ..Scope::default() };
    Timeline::open(conn, circuit, Cause::CircuitOpen, "kickstarter is failing", 2_000)?;
    assert_eq!(Timeline::close(conn, me, &[Cause::Paused], 3_000)?, 1);
    assert_eq!(Timeline::close(conn, me, &[Cause::Paused], 4_000)?, 0, "none open");
    let spans = Timeline::for_project(conn, p.id, 0, 10_000)?;
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert_eq!((spans[0].cause, spans[0].from_ms, spans[0].to_ms), (Cause::Paused, 1_000, Some(3_000)));
    assert_eq!(spans[0].detail, "paused by an admin");
    assert_eq!(
        (spans[1].cause, spans[1].platform, spans[1].to_ms),
        (Cause::CircuitOpen, Some(Platform::Kickstarter), None)
    );
    // Outside the range: not read.
    assert!(Timeline::for_project(conn, p.id, 0, 500)?.is_empty());
    assert_eq!(Timeline::for_project(conn, p.id, 3_500, 9_000)?.len(), 1, "the circuit still open");
    // A closed span is pruned once old; an open one never.
    Timeline::close(conn, Scope { node: Some("n1"), ..Scope::default() }, &[Cause::CircuitOpen], 5_000)?;
    assert_eq!(Timeline::prune(conn, 4_000)?, 1);
    assert_eq!(Timeline::for_project(conn, p.id, 0, 10_000)?.len(), 1);
    Ok(())
}

#[test]
fn a_projects_transitions_write_its_timeline() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let conn = &mut *db.pool.get()?;
    let src = |r: &str| NewSource {
        platform: Platform::Kickstarter,
        external_ref: r.into(),
        options: serde_json::json!({}),
        secret: None,
    };
    let (p, _) = Project::create(conn, "p", &[src("a/b")])?;
    let causes = |conn: &mut trawler_store::AnyConnection, id: ProjectId| -> anyhow::Result<Vec<(Cause, bool)>> {
        Ok(Timeline::for_project(conn, id, 0, i64::MAX)?.iter().map(|s| (s.cause, s.to_ms.is_none())).collect())
    };
    Project::set_status(conn, p.id, ProjectStatus::Quarantined, Some("crashed more than 3 times"))?;
    Project::set_status(conn, p.id, ProjectStatus::Quarantined, Some("again"))?;
    assert_eq!(causes(conn, p.id)?, vec![(Cause::Quarantined, true)], "one span, open");
    Project::set_status(conn, p.id, ProjectStatus::Active, None)?;
    Project::set_paused(conn, p.id, true, trawler_domain::now_millis())?;
    assert_eq!(causes(conn, p.id)?, vec![(Cause::Quarantined, false), (Cause::Paused, true)]);
    Project::set_paused(conn, p.id, false, trawler_domain::now_millis())?;
    // Saving the same sources is no edit; another reference is.
    let same = trawler_store::ProjectPatch { sources: Some(vec![src("a/b")]), ..Default::default() };
    Project::update(conn, p.id, &same)?;
    assert_eq!(causes(conn, p.id)?.len(), 2);
    let other = trawler_store::ProjectPatch { sources: Some(vec![src("a/c")]), ..Default::default() };
    Project::update(conn, p.id, &other)?;
    Project::end(conn, p.id, "the campaign is successful", trawler_domain::now_millis())?;
    let all = Timeline::for_project(conn, p.id, 0, i64::MAX)?;
    let got: Vec<(Cause, bool)> = all.iter().map(|s| (s.cause, s.to_ms.is_none())).collect();
    assert_eq!(
        got,
        vec![
            (Cause::Quarantined, false),
            (Cause::Paused, false),
            (Cause::SourceEdited, false),
            (Cause::CampaignEnded, true)
        ]
    );
    assert_eq!(all[0].detail, "crashed more than 3 times");
    assert_eq!(all[3].detail, "the campaign is successful");
    // Another project reads none of these.
    let (q, _) = Project::create(conn, "q", &[src("x/y")])?;
    assert!(causes(conn, q.id)?.is_empty());
    Ok(())
}
