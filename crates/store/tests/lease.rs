//! Leases and commands (cluster mode), on SQLite and, when configured, on
//! PostgreSQL, where two nodes acquiring at the same moment must split the
//! projects between them without overlap.

use anyhow::Result;
use diesel::connection::SimpleConnection;
use serde_json::json;
use trawler_domain::{Platform, ProjectId, ProjectStatus};
use trawler_store::testing::TestDb;
use trawler_store::{Backend, Command, CommandKind, Holder, Lease, NewSource, Node, Project};

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

fn beat(conn: &mut trawler_store::AnyConnection, h: Holder<'_>, at: i64) -> Result<()> {
    Ok(Node::heartbeat(conn, h.node, h.instance, "test", 0, at, None)?)
}

#[test]
fn leases_hold_while_their_node_heartbeats() -> Result<()> {
    for db in TestDb::all()? {
        let ids = projects(&db, 10)?;
        let mut conn = db.pool.get()?;
        let now = 1_000_000;
        let live = |at: i64| at - TTL;
        beat(&mut conn, A, now)?;
        beat(&mut conn, B, now)?;
        assert_eq!(Lease::active_projects(&mut conn)?, 10);
        // A takes six, B the four left; nothing is taken twice.
        let a = Lease::acquire(&mut conn, A, 6, live(now), now)?;
        let b = Lease::acquire(&mut conn, B, 6, live(now), now)?;
        assert_eq!(a, ids[..6]);
        assert_eq!(b, ids[6..]);
        assert!(Lease::acquire(&mut conn, B, 6, live(now), now)?.is_empty());
        assert_eq!(Lease::counts(&mut conn, live(now))?, vec![("a".into(), 6), ("b".into(), 4)]);
        assert_eq!(Lease::owner(&mut conn, ids[0], live(now))?, Some(("a".into(), A.instance.into())));
        assert_eq!((Lease::held_count(&mut conn, A)?, Lease::held(&mut conn, A)?), (6, ids[..6].to_vec()));

        // A heartbeats; B stops. Past B's TTL its leases are free, and A takes them.
        let later = now + TTL + 1;
        beat(&mut conn, A, later)?;
        assert_eq!(Lease::owner(&mut conn, ids[6], live(later))?, None);
        assert!(Lease::acquire(&mut conn, B, 10, live(now), later)?.is_empty(), "not while B counts as alive");
        assert_eq!(Lease::acquire(&mut conn, A, 10, live(later), later)?, ids[6..]);
        assert_eq!(Lease::counts(&mut conn, live(later))?, vec![("a".into(), 10)]);
        // B learns it lost them; a restarted A (a new instance) inherits nothing.
        assert!(Lease::held(&mut conn, B)?.is_empty());
        assert!(Lease::held(&mut conn, Holder { node: "a", instance: "a2" })?.is_empty());

        // Archived elsewhere: listed for release; released, it is free.
        Project::set_status(&mut conn, ids[3], ProjectStatus::Archived, None)?;
        assert_eq!(Lease::held_inactive(&mut conn, A)?, vec![ids[3]]);
        assert_eq!(Lease::release(&mut conn, A, &[ids[3], ids[4]])?, 2);
        assert_eq!(Lease::owner(&mut conn, ids[4], live(later))?, None);
        beat(&mut conn, B, later)?;
        assert!(!Lease::acquire_one(&mut conn, B, ids[3], live(later), later)?, "an archived project is not leased");
        assert!(Lease::acquire_one(&mut conn, B, ids[4], live(later), later)?);
        assert!(Lease::acquire_one(&mut conn, B, ids[4], live(later), later)?, "already B's");
        assert!(!Lease::acquire_one(&mut conn, A, ids[4], live(later), later)?, "held by B");
        // A node that stopped cleanly frees its leases at once.
        Node::stopped(&mut conn, "a", "a1", later)?;
        assert_eq!(Lease::acquire(&mut conn, B, 100, live(later), later)?.len(), 8);
        assert_eq!(Lease::release_all(&mut conn, B)?, 9);
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
    for h in &holders {
        beat(&mut *db.pool.get()?, *h, now)?;
    }
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
                        mine.extend(Lease::acquire(&mut conn, *h, 15, now - TTL, now)?);
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
        let id = Command::queue(&mut conn, "b", "b1", ids[0], CommandKind::Trigger, None)?;
        assert!(Command::pending(&mut conn, "a", "a1", 10_000)?.is_empty());
        let pending = Command::pending(&mut conn, "b", "b1", 10_000)?;
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].id, pending[0].kind, pending[0].project_id), (id, CommandKind::Trigger, ids[0]));
        let clock = Node::clock(&mut conn)?;
        assert!((pending[0].created_at_ms - clock).abs() < 60_000, "stamped by the database's clock");
        assert_eq!(Command::outcome(&mut conn, id)?, None);
        Command::finish(&mut conn, id, r#"{"run_id":7}"#, 6)?;
        assert_eq!(Command::outcome(&mut conn, id)?.as_deref(), Some(r#"{"run_id":7}"#));
        assert!(Command::pending(&mut conn, "b", "b1", 10_000)?.is_empty());
        // For a process of b that is gone, or older than its sender waits:
        // refused as stale, never carried out.
        let predecessor = Command::queue(&mut conn, "b", "b0", ids[0], CommandKind::Stop, None)?;
        let old = Command::queue(&mut conn, "b", "b1", ids[0], CommandKind::Stop, None)?;
        let pending = Command::pending(&mut conn, "b", "b1", 10_000)?;
        assert_eq!(pending.iter().map(|c| c.id).collect::<Vec<_>>(), [old]);
        assert_eq!(Command::outcome(&mut conn, predecessor)?.as_deref(), Some(r#"{"error":"stale"}"#));
        assert!(Command::pending(&mut conn, "b", "b1", -60_000)?.is_empty(), "past its age");
        assert_eq!(Command::outcome(&mut conn, old)?.as_deref(), Some(r#"{"error":"stale"}"#));
        // Commands for a node that is gone are closed; old ones are deleted.
        let stale = Command::queue(&mut conn, "c", "c1", ids[0], CommandKind::Stop, None)?;
        assert_eq!(Command::expire(&mut conn, &["c".into()], 0, 8)?, 1);
        assert_eq!(Command::outcome(&mut conn, stale)?.as_deref(), Some(r#"{"error":"node_gone"}"#));
        Command::expire(&mut conn, &[], 100, 9)?;
        assert_eq!(Command::outcome(&mut conn, id)?, None, "deleted");
    }
    Ok(())
}

#[test]
fn the_database_clock_is_what_liveness_is_judged_by() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (before, clock, after) =
            (trawler_domain::now_millis(), Node::clock(&mut conn)?, trawler_domain::now_millis());
        // The test database runs on this machine: the clocks agree.
        assert!(clock >= before - 1_000 && clock <= after + 1_000, "{before} <= {clock} <= {after}");
    }
    Ok(())
}

#[test]
fn notifications_reach_a_listener_on_its_own_connection() -> Result<()> {
    let Some(db) = TestDb::postgres() else {
        return Ok(());
    };
    let db = db?;
    let mut listener = trawler_store::notify::Listener::connect(&db.pool, "trawler_test_events")?;
    assert!(trawler_store::notify::Listener::connect(&db.pool, "bad; DROP").is_err());
    let big = "x".repeat(trawler_store::notify::MAX_PAYLOAD + 1);
    let sent = trawler_store::notify::notify(
        &mut *db.pool.get()?,
        "trawler_test_events",
        &["one".to_owned(), big, "two".to_owned()],
    )?;
    assert_eq!(sent, 2, "the oversized payload is skipped");
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(listener.poll()?);
        if got.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(got, vec!["one".to_owned(), "two".to_owned()]);
    Ok(())
}

/// A node taking one new project while another node's coordinator is in the
/// middle of taking it too: the coordinator has locked the project and is
/// about to write the lease. Both finish, one of them holds it, and neither
/// is killed by PostgreSQL's deadlock detector (the one-project path once
/// wrote its lease first and waited for the project row second, the
/// opposite order).
#[test]
fn taking_one_project_while_a_coordinator_takes_it_is_no_deadlock() -> Result<()> {
    let Some(db) = TestDb::postgres() else {
        return Ok(());
    };
    let db = db?;
    let ids = projects(&db, 1)?;
    let now = trawler_domain::now_millis();
    for h in [A, B] {
        beat(&mut *db.pool.get()?, h, now)?;
    }
    // Widens the coordinator's window between locking the project and
    // writing its lease to a second, so the other node's step lands inside.
    db.pool.get()?.batch_execute(
        "CREATE FUNCTION slow_lease() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.node = 'a' THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$; \
         CREATE TRIGGER slow_lease BEFORE INSERT ON leases FOR EACH ROW EXECUTE FUNCTION slow_lease();",
    )?;
    let mut other = db.pool.get()?;
    let (coordinator, single) = std::thread::scope(|s| {
        let pool = db.pool.clone();
        let coordinator = s
            .spawn(move || -> Result<Vec<ProjectId>> { Ok(Lease::acquire(&mut *pool.get()?, A, 10, now - TTL, now)?) });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let single = Lease::acquire_one(&mut other, B, ids[0], now - TTL, now);
        (coordinator.join().expect("no panic"), single)
    });
    let (coordinator, single) = (coordinator?, single?);
    assert_eq!(coordinator, ids, "the coordinator, first to lock it, holds it");
    assert!(!single, "the other node learns it is held");
    assert_eq!(Lease::owner(&mut *db.pool.get()?, ids[0], now - TTL)?, Some(("a".into(), "a1".into())));
    Ok(())
}
