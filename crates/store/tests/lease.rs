//! Leases and commands (cluster mode), on SQLite and, when configured, on
//! PostgreSQL, where two nodes acquiring at the same moment must split the
//! projects between them without overlap.

use anyhow::Result;
use serde_json::json;
use trawler_domain::{Platform, ProjectId, ProjectStatus};
use trawler_store::testing::TestDb;
use trawler_store::{Backend, Command, CommandKind, Holder, Lease, NewSource, Project};

const A: Holder<'static> = Holder { node: "a", instance: "a1" };
const B: Holder<'static> = Holder { node: "b", instance: "b1" };
const TTL: i64 = 10_000;

fn projects(db: &TestDb, n: usize) -> Result<Vec<ProjectId>> {
    let mut conn = db.pool.get()?;
    let source = |i: usize| NewSource {
        platform: Platform::HttpJson,
        external_ref: format!("http://127.0.0.1:1/json/p{i}"),
        options: json!({}),
        secret: None,
    };
    (0..n).map(|i| Ok(Project::create(&mut conn, &format!("p{i}"), &[source(i)])?.0.id)).collect()
}

#[test]
fn leases_are_taken_renewed_expired_and_released() -> Result<()> {
    for db in TestDb::all()? {
        let ids = projects(&db, 10)?;
        let mut conn = db.pool.get()?;
        let now = 1_000_000;
        assert_eq!(Lease::active_projects(&mut conn)?, 10);
        // A takes six, B the four left; nothing is taken twice.
        let a = Lease::acquire(&mut conn, A, 6, now, TTL)?;
        let b = Lease::acquire(&mut conn, B, 6, now, TTL)?;
        assert_eq!(a, ids[..6]);
        assert_eq!(b, ids[6..]);
        assert!(Lease::acquire(&mut conn, B, 6, now + 1, TTL)?.is_empty());
        assert_eq!(Lease::counts(&mut conn, now)?, vec![("a".into(), 6), ("b".into(), 4)]);
        assert_eq!(Lease::owner(&mut conn, ids[0], now)?.as_deref(), Some("a"));

        // A renews; B stops renewing, and after its expiry A takes its four.
        let later = now + TTL / 2;
        assert_eq!(Lease::renew(&mut conn, A, later, TTL)?, ids[..6]);
        let past_b = now + TTL + 1;
        assert_eq!(Lease::owner(&mut conn, ids[6], past_b)?, None);
        assert_eq!(Lease::acquire(&mut conn, A, 10, past_b, TTL)?, ids[6..]);
        // B learns it lost them when it renews.
        assert!(Lease::renew(&mut conn, B, past_b, TTL)?.is_empty());
        // A restarted process (a new instance) does not inherit the leases.
        assert!(Lease::renew(&mut conn, Holder { node: "a", instance: "a2" }, past_b, TTL)?.is_empty());

        // Archived elsewhere: listed for release; released, it is free.
        Project::set_status(&mut conn, ids[3], ProjectStatus::Archived, None)?;
        assert_eq!(Lease::held_inactive(&mut conn, A)?, vec![ids[3]]);
        assert_eq!(Lease::release(&mut conn, A, &[ids[3], ids[4]])?, 2);
        assert_eq!(Lease::owner(&mut conn, ids[4], past_b)?, None);
        assert!(!Lease::acquire_one(&mut conn, B, ids[3], past_b, TTL)?, "an archived project is not leased");
        assert!(Lease::acquire_one(&mut conn, B, ids[4], past_b, TTL)?);
        assert!(!Lease::acquire_one(&mut conn, A, ids[4], past_b, TTL)?, "held by B");
        assert_eq!(Lease::release_all(&mut conn, A)?, 8);
        assert_eq!(Lease::counts(&mut conn, past_b)?, vec![("b".into(), 1)]);
    }
    Ok(())
}

#[test]
fn nodes_acquiring_at_once_split_the_projects() -> Result<()> {
    let Some(db) = TestDb::postgres() else {
        return Ok(());
    };
    let db = db?;
    assert_eq!(db.pool.backend(), Backend::Postgres);
    let ids = projects(&db, 400)?;
    let now = trawler_domain::now_millis();
    let holders: Vec<Holder<'static>> =
        vec![A, B, Holder { node: "c", instance: "c1" }, Holder { node: "d", instance: "d1" }];
    // Each node asks for more than its share, in small bites, at the same time.
    let taken: Vec<Vec<ProjectId>> = std::thread::scope(|s| {
        let handles: Vec<_> = holders
            .iter()
            .map(|h| {
                let pool = db.pool.clone();
                s.spawn(move || -> Result<Vec<ProjectId>> {
                    let mut conn = pool.get()?;
                    let mut mine = Vec::new();
                    for _ in 0..20 {
                        mine.extend(Lease::acquire(&mut conn, *h, 15, now, TTL)?);
                    }
                    Ok(mine)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect::<Result<Vec<_>>>()
    })?;
    let mut all: Vec<ProjectId> = taken.iter().flatten().copied().collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a project was leased twice");
    assert_eq!(all, ids, "every project is leased");
    assert!(
        taken.iter().all(|t| !t.is_empty()),
        "every node got some: {:?}",
        taken.iter().map(Vec::len).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn commands_wait_for_their_node_and_carry_an_outcome() -> Result<()> {
    for db in TestDb::all()? {
        let ids = projects(&db, 1)?;
        let mut conn = db.pool.get()?;
        let id = Command::queue(&mut conn, "b", ids[0], CommandKind::Trigger, None, 5)?;
        assert!(Command::pending(&mut conn, "a")?.is_empty());
        let pending = Command::pending(&mut conn, "b")?;
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].id, pending[0].kind, pending[0].project_id), (id, CommandKind::Trigger, ids[0]));
        assert_eq!(Command::outcome(&mut conn, id)?, None);
        Command::finish(&mut conn, id, r#"{"run_id":7}"#, 6)?;
        assert_eq!(Command::outcome(&mut conn, id)?.as_deref(), Some(r#"{"run_id":7}"#));
        assert!(Command::pending(&mut conn, "b")?.is_empty());
        // Commands for a node that is gone are closed; old ones are deleted.
        let stale = Command::queue(&mut conn, "c", ids[0], CommandKind::Stop, None, 7)?;
        assert_eq!(Command::expire(&mut conn, &["c".into()], 0, 8)?, 1);
        assert_eq!(Command::outcome(&mut conn, stale)?.as_deref(), Some(r#"{"error":"node_gone"}"#));
        Command::expire(&mut conn, &[], 100, 9)?;
        assert_eq!(Command::outcome(&mut conn, id)?, None, "deleted");
    }
    Ok(())
}
