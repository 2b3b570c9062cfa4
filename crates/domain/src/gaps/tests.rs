use super::*;

const MIN: i64 = 60_000;

fn span(cause: Cause, from_min: i64, to_min: Option<i64>) -> Span {
    Span {
        cause,
        platform: Some(Platform::Kickstarter),
        host: None,
        detail: format!("{cause} detail"),
        from_ms: from_min * MIN,
        to_ms: to_min.map(|t| t * MIN),
    }
}

/// A line polled every 5 minutes, created at minute 0, read at minute 600.
fn explain(spans: &[Span]) -> Explain<'_> {
    Explain { spans, created_ms: 0, now_ms: 600 * MIN, cadence_ms: 5 * MIN }
}

/// One point per 5-minute bucket from `from` to `to` (minutes), but for the
/// minutes in `holes`.
fn points(from: i64, to: i64, holes: &[(i64, i64)]) -> Vec<(i64, f64)> {
    (from..to)
        .step_by(5)
        .filter(|m| !holes.iter().any(|(a, b)| (a..b).contains(&m)))
        .map(|m| (m * 60 + 10, 1.0))
        .collect()
}

fn summary(gaps: &[Gap]) -> Vec<(i64, i64, Cause)> {
    gaps.iter().map(|g| (g.from / 60, g.until / 60, g.cause)).collect()
}

#[test]
fn an_outage_a_quarantine_and_a_pause_are_three_gaps_with_their_causes() {
    let spans = [
        span(Cause::CircuitOpen, 60, Some(90)),
        span(Cause::Quarantined, 150, Some(180)),
        span(Cause::Paused, 240, None),
    ];
    let pts = points(0, 300, &[(60, 90), (150, 180), (240, 300)]);
    let gaps = explain(&spans).stepped(&pts, None, (0, 300 * 60 - 1), 300);
    assert_eq!(
        summary(&gaps),
        vec![(60, 90, Cause::CircuitOpen), (150, 180, Cause::Quarantined), (240, 300, Cause::Paused)]
    );
    assert_eq!(gaps[1].reason, "quarantined detail");
}

#[test]
fn the_stronger_cause_wins_where_spans_overlap() {
    // A pause during an open circuit: nothing would have been scraped
    // either way, and the pause is what a person did.
    let spans = [span(Cause::CircuitOpen, 60, Some(120)), span(Cause::Paused, 90, Some(100))];
    let pts = points(0, 150, &[(60, 120)]);
    let gaps = explain(&spans).stepped(&pts, None, (0, 150 * 60 - 1), 300);
    assert_eq!(
        summary(&gaps),
        vec![(60, 90, Cause::CircuitOpen), (90, 100, Cause::Paused), (100, 120, Cause::CircuitOpen)]
    );
}

#[test]
fn slots_between_the_scrapes_of_a_slow_metric_are_not_yet_due() {
    // Read every 4 hours, shown hourly: three empty hours out of four are
    // not missing anything.
    let spans = [];
    let e = Explain { cadence_ms: 240 * MIN, ..explain(&spans) };
    let pts = [(10 * 60, 1.0), (250 * 60, 2.0)];
    let gaps = e.stepped(&pts, None, (0, 300 * 60 - 1), 3600);
    assert_eq!(summary(&gaps), vec![(60, 240, Cause::NotYetDue)]);
    // Past one and a half cadences after the last point, a slot is missed.
    let late = Explain { now_ms: 900 * MIN, ..e };
    let gaps = late.stepped(&pts, None, (0, 900 * 60 - 1), 3600);
    assert_eq!(summary(&gaps)[1..], [(300, 600, Cause::NotYetDue), (600, 900, Cause::Missed)]);
}

#[test]
fn failures_and_edits_explain_the_slots_after_them_until_the_next_point() {
    let mut spans = vec![Span::moment(Cause::Failed, None, "http_status: 404".into(), 62 * MIN)];
    let pts = points(0, 120, &[(60, 100)]);
    let gaps = explain(&spans).stepped(&pts, None, (0, 120 * 60 - 1), 300);
    // The point due at 60:10 was not there by 62:40 (half a cadence late).
    assert_eq!(summary(&gaps), vec![(60, 100, Cause::Failed)]);
    assert_eq!(gaps[0].reason, "http_status: 404");
    // An edit of the sources before the failure is the cause of both.
    spans.push(Span::moment(Cause::SourceEdited, None, "sources edited".into(), 58 * MIN));
    let gaps = explain(&spans).stepped(&pts, None, (0, 120 * 60 - 1), 300);
    assert_eq!(summary(&gaps), vec![(60, 100, Cause::SourceEdited)]);
    // A failure before the last point explains nothing after it.
    let old = [Span::moment(Cause::Failed, None, "timeout".into(), 30 * MIN)];
    let gaps = explain(&old).stepped(&pts, None, (0, 120 * 60 - 1), 300);
    assert_eq!(summary(&gaps), vec![(60, 100, Cause::Missed)]);
    // A slot that ends before the next point is half a cadence late is not
    // missing anything yet.
    let gaps = explain(&old).stepped(&[(55 * 60 + 10, 1.0)], None, (3300, 3720 - 1), 60);
    assert_eq!(summary(&gaps), vec![(56, 62, Cause::NotYetDue)]);
}

#[test]
fn before_creation_and_after_now_no_slot_is_missing() {
    let spans = [];
    let e = Explain { created_ms: 100 * MIN, now_ms: 130 * MIN, ..explain(&spans) };
    let pts = points(105, 130, &[]);
    let gaps = e.stepped(&pts, None, (0, 300 * 60), 300);
    // Before creation, then the first poll's wait; nothing from now on.
    assert_eq!(summary(&gaps), vec![(0, 100, Cause::NotYetDue), (100, 105, Cause::NotYetDue)]);
    assert_eq!(gaps[0].reason, "before the project was created");
    assert!(gaps.iter().all(|g| g.from < 130 * 60));
}

#[test]
fn a_raw_line_is_cut_into_slots_of_its_cadence_where_points_are_missing() {
    let spans = [span(Cause::Throttled, 60, Some(80))];
    let pts = points(0, 120, &[(60, 80)]);
    let gaps = explain(&spans).raw(&pts, None, (0, 120 * 60));
    // From the point due after 55:10 until the point at 80:10.
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].cause, Cause::Throttled);
    assert_eq!((gaps[0].from, gaps[0].until), (60 * 60 + 10, 80 * 60 + 10));
    // Points on time: no gap; the range's end is not a gap either.
    assert!(explain(&[]).raw(&points(0, 120, &[]), None, (0, 120 * 60)).is_empty());
}

#[test]
fn spans_of_another_platform_or_host_do_not_concern_a_line() {
    let mut s = span(Cause::CircuitOpen, 0, None);
    assert!(s.concerns(Platform::Kickstarter, &[]));
    assert!(!s.concerns(Platform::Indiegogo, &[]));
    s.platform = Some(Platform::HttpJson);
    s.host = Some("a.example:443".into());
    assert!(s.concerns(Platform::HttpJson, &["a.example:443".into()]));
    assert!(!s.concerns(Platform::HttpJson, &["b.example:443".into()]));
    s.platform = None;
    s.host = None;
    assert!(s.concerns(Platform::MetaAds, &[]), "a node's span concerns every platform");
}

#[test]
fn causes_round_trip_by_name() {
    for c in Cause::ALL {
        assert_eq!(Cause::parse(c.as_str()), Some(c));
    }
    assert_eq!(Cause::parse("bogus"), None);
    assert_eq!(Cause::of_error("circuit_open"), Cause::CircuitOpen);
    assert_eq!(Cause::of_error("parse"), Cause::Failed);
}
