use super::*;

#[tokio::test]
async fn a_slow_listener_skips_and_never_blocks_the_publisher() {
    let bus = EventBus::new();
    let mut slow = bus.subscribe();
    let mut fast = bus.subscribe();
    for i in 0..(CAPACITY as i64 + 10) {
        bus.publish(Event::ProjectResumed { project_id: ProjectId(i), at_ms: 0 });
        assert_eq!(fast.recv().await.map(|e| e.project()).ok(), Some(ProjectId(i)));
    }
    match slow.recv().await {
        Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
        other => panic!("expected a lag, got {other:?}"),
    }
    assert_eq!(slow.recv().await.map(|e| e.project()).ok(), Some(ProjectId(10)));
}

#[tokio::test]
async fn a_relay_sends_lifecycle_events_and_wanted_points_and_marks_what_comes_in() {
    let bus = EventBus::new();
    let out = bus.enable_relay("a").expect("first time");
    let points = |p| Event::Points {
        project_id: ProjectId(p),
        platform: trawler_domain::Platform::Kickstarter,
        ts: 1,
        values: [("pledged".to_owned(), 1.0)].into(),
    };
    bus.set_remote_interest(&[Interest { all: false, projects: vec![ProjectId(7)] }]);
    assert!(bus.followed(ProjectId(7)) && !bus.followed(ProjectId(8)));
    bus.publish(points(8));
    bus.publish(points(7));
    bus.publish(Event::ProjectResumed { project_id: ProjectId(8), at_ms: 5 });
    let sent: Vec<String> = out.try_iter().collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].starts_with(r#"{"node":"a","event":{"type":"points","project_id":7"#), "{}", sent[0]);
    // Coming in from b: published here, marked remote; our own echo is skipped.
    let mut all = bus.subscribe();
    assert!(bus.publish_relayed(&sent[1].replace(r#""node":"a""#, r#""node":"b""#)));
    assert!(bus.publish_relayed(&sent[1]));
    let got = all.recv().await.expect("one event");
    assert!(got.is_remote() && got.name() == "project_resumed");
    assert!(all.try_recv().is_err(), "the echo of our own event is dropped");
    assert!(!bus.publish_relayed("not json"));
}

#[tokio::test]
async fn followers_get_their_projects_events_and_points_stay_off_the_lifecycle_channel() {
    let bus = EventBus::new();
    let mut all = bus.subscribe();
    let mut seven = bus.subscribe_project(ProjectId(7));
    let points = |p| Event::Points {
        project_id: ProjectId(p),
        platform: trawler_domain::Platform::Kickstarter,
        ts: 1,
        values: [("pledged".to_owned(), 1.0)].into(),
    };
    bus.publish(points(8));
    bus.publish(points(7));
    bus.publish(Event::ProjectResumed { project_id: ProjectId(7), at_ms: 0 });
    assert_eq!(seven.recv().await.map(|e| e.name()).ok(), Some("points"));
    assert_eq!(seven.recv().await.map(|e| e.name()).ok(), Some("project_resumed"));
    assert_eq!(all.recv().await.map(|e| e.name()).ok(), Some("project_resumed"));
    assert!(all.try_recv().is_err(), "no points on the lifecycle channel");
    assert_eq!(bus.followed_projects(), 1);
    drop(seven);
    bus.publish(points(7));
    assert_eq!(bus.followed_projects(), 1, "a channel nobody follows lingers a while");
    bus.sweep(Instant::now() + LINGER + Duration::from_secs(1));
    assert_eq!(bus.followed_projects(), 0, "and is dropped after it");
}

#[tokio::test]
async fn a_follower_that_comes_back_gets_what_it_missed() {
    let bus = EventBus::new();
    let resumed = |p| Event::ProjectResumed { project_id: ProjectId(p), at_ms: 0 };
    let (mut rx, replay) = bus.subscribe_project_since(ProjectId(7), None);
    assert!(replay.is_none(), "a first connection replays nothing");
    bus.publish(resumed(7));
    let read = rx.recv().await.expect("an event");
    let last = read.id().expect("published events have ids");
    drop(rx);
    // Away: two more of its events, and one of another project.
    bus.publish(resumed(7));
    bus.publish(resumed(8));
    bus.publish(Event::ProjectArchived { project_id: ProjectId(7), at_ms: 1 });
    assert!(bus.followed(ProjectId(7)), "its channel lingers, so its points are still made");
    let (mut rx, replay) = bus.subscribe_project_since(ProjectId(7), Some(&last));
    let Some(Replay::Events(missed)) = replay else { panic!("a replay: {replay:?}") };
    assert_eq!(missed.iter().map(|e| e.name()).collect::<Vec<_>>(), ["project_resumed", "project_archived"]);
    assert!(missed.iter().all(|e| e.project() == ProjectId(7) && e.seq() > read.seq()));
    bus.publish(resumed(7));
    assert!(rx.recv().await.expect("live").seq() > missed[1].seq(), "then live, without overlap");
    // An id of another process, or no id at all: reload.
    for foreign in ["1.5", "garbage"] {
        assert!(matches!(bus.subscribe_project_since(ProjectId(7), Some(foreign)).1, Some(Replay::Reset)));
    }
    // The lifecycle channel keeps its own (no points).
    let (_, replay) = bus.subscribe_since(Some(&last), false);
    let Some(Replay::Events(missed)) = replay else { panic!("a replay") };
    assert_eq!(missed.len(), 4, "every project's lifecycle events after it: {missed:?}");
}
