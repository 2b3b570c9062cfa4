use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::*;

fn parse(v: serde_json::Value) -> Result<ProjectMonitors, String> {
    ProjectMonitors::parse(&v, Duration::from_secs(1))
}

fn values(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(m, v)| ((*m).to_owned(), *v)).collect()
}

fn fired(t: &[Transition]) -> Vec<(MonitorKind, &str, bool)> {
    t.iter().map(|t| (t.key.monitor, t.key.metric.as_str(), t.fired)).collect()
}

#[test]
fn bad_rules_are_refused_with_the_field_named() {
    let cases = [
        (
            json!({"rules": [{"monitor": "stale", "platform": "myspace"}]}),
            "`monitors.rules[0].platform`: unknown platform",
        ),
        (
            json!({"rules": [{"monitor": "drop", "platform": "kickstarter", "metric": "spend"}]}),
            "`monitors.rules[0].metric`: kickstarter reports no metric `spend`",
        ),
        (
            json!({"rules": [{"monitor": "drop", "metric": "Spend!"}]}),
            "`monitors.rules[0].metric`: invalid metric name",
        ),
        (
            json!({"rules": [{"monitor": "milestone", "metric": "spend", "at": ["lots"]}]}),
            "`monitors.rules[0].at[0]` must be a number between -1e15 and 1e15",
        ),
        (json!({"rules": [{"monitor": "milestone", "metric": "spend"}]}), "`monitors.rules[0].at` is required"),
        (json!({"rules": [{"monitor": "milestone", "at": [1]}]}), "`monitors.rules[0].metric` is required"),
        (
            json!({"rules": [{"monitor": "drop", "tolerance": 2}]}),
            "`monitors.rules[0].tolerance` must be a number from 0 to 1",
        ),
        (json!({"rules": [{"monitor": "jump", "factor": 1}]}), "`monitors.rules[0].factor` must be a number from 1.01"),
        (
            json!({"rules": [{"monitor": "stale", "after": "400d"}]}),
            "`monitors.rules[0].after` must be a duration between 1s and 365d",
        ),
        (
            json!({"rules": [{"monitor": "stale", "factor": 3}]}),
            "`monitors.rules[0].factor` goes with monitor `jump` only",
        ),
        (json!({"rules": [{"monitor": "sleepy"}]}), "`monitors.rules[0].monitor`: unknown monitor `sleepy`"),
        (json!({"rules": [{"monitor": "stale", "colour": 1}]}), "`monitors.rules[0]`: unknown field `colour`"),
        (json!({"silenced": ["loud"]}), "`monitors.silenced[0]`: unknown monitor `loud`"),
        (
            json!({"rules": [{"monitor": "milestone", "platform": "meta_ads", "metric": "funded_pct", "at": [1]}]}),
            "kickstarter and indiegogo campaigns only",
        ),
        (json!([1]), "`monitors`:"),
    ];
    for (input, expected) in cases {
        let err = parse(input.clone()).expect_err(&input.to_string());
        assert!(err.contains(expected), "{input}: {err}");
    }
    let many: Vec<_> = (0..=MAX_RULES).map(|_| json!({"monitor": "jump"})).collect();
    assert!(parse(json!({ "rules": many })).is_err());
}

#[test]
fn good_rules_round_trip_through_storage() {
    let m = parse(json!({
        "rules": [
            {"monitor": "stale", "platform": "kickstarter", "metric": "backers", "after": "2h"},
            {"monitor": "milestone", "metric": "spend", "at": [5000, 1000, 1000]},
            {"monitor": "jump", "off": true},
        ],
        "silenced": ["missing"],
    }))
    .expect("valid");
    assert_eq!(m.rules[1].at, vec![1000.0, 5000.0], "sorted, without repeats");
    let stored = serde_json::to_string(&m).expect("json");
    assert_eq!(serde_json::from_str::<ProjectMonitors>(&stored).expect("back"), m);
}

#[test]
fn the_most_specific_rule_wins_and_silence_beats_every_rule() {
    let defaults = MonitorDefaults::default();
    let m = parse(json!({
        "rules": [
            {"monitor": "stale", "after": "1h"},
            {"monitor": "stale", "platform": "kickstarter", "after": "2h"},
            {"monitor": "stale", "metric": "backers", "after": "3h"},
            {"monitor": "jump", "platform": "kickstarter", "off": true},
            {"monitor": "jump", "metric": "goal", "factor": 3},
        ],
        "silenced": ["missing"],
    }))
    .expect("valid");
    let ks = Rules { project: &m, defaults: &defaults, platform: Platform::Kickstarter };
    assert_eq!(ks.stale_after_ms("backers"), Some(3 * 3_600_000));
    assert_eq!(ks.stale_after_ms("pledged"), Some(2 * 3_600_000));
    // A project rule applies where no default would.
    assert_eq!(ks.stale_after_ms("comments"), Some(2 * 3_600_000));
    let igg = Rules { platform: Platform::Indiegogo, ..ks };
    assert_eq!(igg.stale_after_ms("pledged"), Some(3_600_000));
    assert_eq!(ks.jump_factor("pledged"), None, "off for kickstarter");
    assert_eq!(ks.jump_factor("goal"), Some(3.0), "a metric rule is more specific than a platform one");
    assert_eq!(igg.jump_factor("pledged"), Some(10.0), "the default elsewhere");
    assert!(!ks.missing("pledged"), "silenced");
    let none = ProjectMonitors::default();
    let html = Rules { project: &none, defaults: &defaults, platform: Platform::Html };
    assert_eq!(html.stale_after_ms("price"), None, "no stale default for a page");
    assert_eq!(html.milestones(), vec![]);
    let plain = Rules { project: &none, ..ks };
    assert_eq!(plain.milestones(), vec![(FUNDED_PCT.to_owned(), vec![100.0, 200.0])]);
    let off = MonitorDefaults { enabled: false, ..MonitorDefaults::default() };
    assert_eq!(Rules { defaults: &off, ..plain }.drop_tolerance("pledged"), None);
}

fn ks_rules<'a>(project: &'a ProjectMonitors, defaults: &'a MonitorDefaults) -> Rules<'a> {
    Rules { project, defaults, platform: Platform::Kickstarter }
}

#[test]
fn stale_fires_once_while_live_and_recovers_once_when_the_number_moves() {
    let defaults = MonitorDefaults { stale_after: crate::settings::Span::secs(60), ..MonitorDefaults::default() };
    let project = ProjectMonitors::default();
    let rules = ks_rules(&project, &defaults);
    let mut t = Track::default();
    let v = values(&[("backers", 10.0)]);
    assert!(t.observe(&rules, false, &v, true, 0).is_empty());
    assert!(t.observe(&rules, false, &v, true, 60_000).is_empty(), "not longer than the limit yet");
    let fired_now = t.observe(&rules, false, &v, true, 61_000);
    assert_eq!(fired(&fired_now), vec![(MonitorKind::Stale, "backers", true)]);
    assert!(fired_now[0].detail.contains("unchanged at 10 for 61.0 s (limit 60 s)"), "{}", fired_now[0].detail);
    assert!(t.observe(&rules, false, &v, true, 120_000).is_empty(), "once");
    let moved = t.observe(&rules, false, &values(&[("backers", 11.0)]), true, 130_000);
    assert_eq!(fired(&moved), vec![(MonitorKind::Stale, "backers", false)]);
    // Not live: standing still is expected.
    let mut ended = Track::default();
    ended.observe(&rules, false, &v, false, 0);
    assert!(ended.observe(&rules, false, &v, false, 999_000).is_empty());
}

#[test]
fn a_stale_alert_open_before_a_restart_waits_for_a_real_move() {
    let defaults = MonitorDefaults { stale_after: crate::settings::Span::secs(60), ..MonitorDefaults::default() };
    let project = ProjectMonitors::default();
    let rules = ks_rules(&project, &defaults);
    let key = AlertKey::new(MonitorKind::Stale, "backers");
    let mut t = Track::with_open([(key.clone(), OpenAlert { level: None })]);
    assert!(t.observe(&rules, false, &values(&[("backers", 10.0)]), true, 0).is_empty());
    assert!(t.open().contains_key(&key));
    let moved = t.observe(&rules, false, &values(&[("backers", 12.0)]), true, 1_000);
    assert_eq!(fired(&moved), vec![(MonitorKind::Stale, "backers", false)]);
}

#[test]
fn a_drop_beyond_the_tolerance_fires_once_and_recovers_at_its_old_level() {
    let defaults = MonitorDefaults::default();
    let project = ProjectMonitors::default();
    let rules = ks_rules(&project, &defaults);
    let mut t = Track::default();
    t.observe(&rules, false, &values(&[("pledged", 1000.0)]), true, 0);
    assert!(t.observe(&rules, false, &values(&[("pledged", 960.0)]), true, 1).is_empty(), "4% is within 5%");
    let fell = t.observe(&rules, false, &values(&[("pledged", 500.0)]), true, 2);
    assert_eq!(fired(&fell), vec![(MonitorKind::Drop, "pledged", true)]);
    assert_eq!(fell[0].level, Some(960.0));
    assert!(t.observe(&rules, false, &values(&[("pledged", 400.0)]), true, 3).is_empty(), "once");
    assert!(t.observe(&rules, false, &values(&[("pledged", 800.0)]), true, 4).is_empty(), "not back yet");
    let back = t.observe(&rules, false, &values(&[("pledged", 960.0)]), true, 5);
    assert_eq!(fired(&back), vec![(MonitorKind::Drop, "pledged", false)]);
    // Comments may go down (deleted): no drop rule by default.
    t.observe(&rules, false, &values(&[("comments", 50.0)]), true, 6);
    assert!(t.observe(&rules, false, &values(&[("comments", 20.0)]), true, 7).is_empty());
}

#[test]
fn a_jump_fires_once_and_recovers_at_the_next_ordinary_move() {
    let defaults = MonitorDefaults::default();
    let project = ProjectMonitors::default();
    let rules = ks_rules(&project, &defaults);
    let mut t = Track::default();
    t.observe(&rules, false, &values(&[("backers", 100.0)]), true, 0);
    let up = t.observe(&rules, false, &values(&[("backers", 5000.0)]), true, 1);
    assert_eq!(fired(&up), vec![(MonitorKind::Jump, "backers", true)]);
    let calm = t.observe(&rules, false, &values(&[("backers", 5010.0)]), true, 2);
    assert_eq!(fired(&calm), vec![(MonitorKind::Jump, "backers", false)]);
    // Small numbers: 0 → 30 is not a factor.
    t.observe(&rules, false, &values(&[("comments", 0.0)]), true, 3);
    assert!(t.observe(&rules, false, &values(&[("comments", 30.0)]), true, 4).is_empty());
}

#[test]
fn a_metric_missing_from_its_kind_of_fetch_fires_and_recovers() {
    let defaults = MonitorDefaults::default();
    let project = ProjectMonitors::default();
    let rules = ks_rules(&project, &defaults);
    let mut t = Track::default();
    let full = values(&[("backers", 1.0), ("goal", 100.0), ("pledged", 1.0)]);
    let poll = values(&[("backers", 1.0), ("pledged", 1.0)]);
    t.observe(&rules, true, &full, true, 0);
    assert!(t.observe(&rules, false, &poll, true, 1).is_empty(), "a poll never reported the goal");
    let gone = t.observe(&rules, false, &values(&[("backers", 1.0)]), true, 2);
    assert_eq!(fired(&gone), vec![(MonitorKind::Missing, "pledged", true)]);
    assert!(t.observe(&rules, false, &values(&[("backers", 1.0)]), true, 3).is_empty(), "once");
    let back = t.observe(&rules, false, &poll, true, 4);
    assert_eq!(fired(&back), vec![(MonitorKind::Missing, "pledged", false)]);
}

#[test]
fn funding_milestones_fire_once_each() {
    let defaults = MonitorDefaults::default();
    let project = parse(json!({"rules": [{"monitor": "jump", "off": true}]})).expect("valid");
    let rules = ks_rules(&project, &defaults);
    let mut t = Track::default();
    assert!(t.observe(&rules, true, &values(&[("goal", 1000.0), ("pledged", 500.0)]), true, 0).is_empty());
    let one = t.observe(&rules, false, &values(&[("pledged", 1000.0)]), true, 1);
    assert_eq!(fired(&one), vec![(MonitorKind::Milestone, FUNDED_PCT, true)]);
    assert_eq!((one[0].key.at.as_str(), one[0].value), ("100", Some(100.0)));
    assert!(t.observe(&rules, false, &values(&[("pledged", 1500.0)]), true, 2).is_empty());
    let two = t.observe(&rules, false, &values(&[("pledged", 2500.0)]), true, 3);
    assert_eq!(two.iter().map(|t| t.key.at.as_str()).collect::<Vec<_>>(), vec!["200"]);
    // A spend threshold set by the project.
    let spend = parse(json!({"rules": [{"monitor": "milestone", "metric": "spend", "at": [1000]}]})).expect("valid");
    let ads = Rules { project: &spend, defaults: &defaults, platform: Platform::MetaAds };
    let mut t = Track::default();
    assert!(t.observe(&ads, false, &values(&[("spend", 999.0)]), true, 0).is_empty());
    let hit = t.observe(&ads, false, &values(&[("spend", 1000.5)]), true, 1);
    assert_eq!(fired(&hit), vec![(MonitorKind::Milestone, "spend", true)]);
}

#[test]
fn an_alert_whose_monitor_is_silenced_recovers_at_the_next_fetch() {
    let defaults = MonitorDefaults::default();
    let none = ProjectMonitors::default();
    let mut t = Track::default();
    t.observe(&ks_rules(&none, &defaults), true, &values(&[("goal", 100.0), ("pledged", 150.0)]), true, 0);
    assert_eq!(t.open().len(), 1, "100% funded");
    let silenced = parse(json!({"silenced": ["milestone"]})).expect("valid");
    let quiet = t.observe(&ks_rules(&silenced, &defaults), false, &values(&[("pledged", 151.0)]), true, 1);
    assert_eq!(fired(&quiet), vec![(MonitorKind::Milestone, FUNDED_PCT, false)]);
    assert!(quiet[0].detail.contains("silenced or off"), "{}", quiet[0].detail);
    assert!(t.observe(&ks_rules(&silenced, &defaults), false, &values(&[("pledged", 152.0)]), true, 2).is_empty());
}
