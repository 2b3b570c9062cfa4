//! The supervision tree against a real database, with a scripted adapter in
//! place of the http_json platform so a test decides when a fetch is slow or
//! panics.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::json;
use trawler_actors::{ActorError, ActorStatus, ActorsConfig, Tree};
use trawler_domain::{Platform, ProjectId, ProjectStatus, RunId, RunKind, RunStatus, RunTrigger};
use trawler_sources::{Adapter, Adapters, BoxFuture, Fetched, HttpClient, Sample, SourceSpec, SourcesConfig};
use trawler_store::testing::TestDb;
use trawler_store::{NewSource, Project, Run, RunEnd};

/// Answers every fetch after `delay` with `pledged = call number`; panics on
/// the calls listed in `panic_on`, and on every call while `panic_all` is set.
struct Scripted {
    calls: Arc<AtomicUsize>,
    delay: Duration,
    panic_on: Vec<usize>,
    panic_all: Arc<AtomicBool>,
    /// Fetches in flight now, and the most ever at once.
    busy: Arc<AtomicUsize>,
    max_busy: Arc<AtomicUsize>,
}

/// Counts a fetch in flight while it lives.
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Adapter for Scripted {
    fn platform(&self) -> Platform {
        Platform::HttpJson
    }

    fn validate(&self, _: &SourceSpec) -> Result<(), String> {
        Ok(())
    }

    fn fetch<'a>(
        &'a self,
        _: &'a HttpClient,
        _: &'a SourceSpec,
        _: RunKind,
        _keep: &'a trawler_sources::Keeper,
    ) -> BoxFuture<'a, Result<Fetched, trawler_sources::SourceError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay;
        let panic = self.panic_on.contains(&n) || self.panic_all.load(Ordering::SeqCst);
        let (busy, max_busy) = (self.busy.clone(), self.max_busy.clone());
        Box::pin(async move {
            max_busy.fetch_max(busy.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            let _busy = Busy(busy);
            tokio::time::sleep(delay).await;
            if panic {
                panic!("scripted failure in call {n}");
            }
            Ok(Fetched { samples: vec![Sample::known("pledged", n as f64)], ..Fetched::default() })
        })
    }
}

struct Fixture {
    db: TestDb,
    tree: Tree,
    calls: Arc<AtomicUsize>,
    max_busy: Arc<AtomicUsize>,
}

fn config() -> ActorsConfig {
    // Long cadences: only the test's own triggers and creations run scrapes.
    ActorsConfig {
        full_interval: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(86_400),
        ..ActorsConfig::default()
    }
}

fn start(delay: Duration, panic_on: Vec<usize>) -> Result<Fixture> {
    start_with(config(), delay, panic_on, Arc::new(AtomicBool::new(false)))
}

fn start_with(
    config: ActorsConfig,
    delay: Duration,
    panic_on: Vec<usize>,
    panic_all: Arc<AtomicBool>,
) -> Result<Fixture> {
    fixture(TestDb::sqlite()?, config, scripted(delay, panic_on, panic_all))
}

fn scripted(delay: Duration, panic_on: Vec<usize>, panic_all: Arc<AtomicBool>) -> Scripted {
    Scripted { calls: Arc::default(), delay, panic_on, panic_all, busy: Arc::default(), max_busy: Arc::default() }
}

/// Starts a tree on `db` with `scripted` in place of the http_json adapter.
fn fixture(db: TestDb, config: ActorsConfig, scripted: Scripted) -> Result<Fixture> {
    let (calls, max_busy) = (scripted.calls.clone(), scripted.max_busy.clone());
    let adapters = Adapters::new(&SourcesConfig::default())?.with_adapter(Arc::new(scripted));
    let tree = Tree::start(config, db.pool.clone(), adapters)?;
    Ok(Fixture { db, tree, calls, max_busy })
}

fn new_project(fx: &Fixture, name: &str) -> Result<ProjectId> {
    let source =
        NewSource { platform: Platform::HttpJson, external_ref: name.into(), options: json!({}), secret: None };
    Ok(Project::create(&mut *fx.db.pool.get()?, name, &[source])?.0.id)
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn finished_run(fx: &Fixture, id: RunId) -> Result<Run> {
    wait_for("the run to finish", || {
        let run = Run::get(&mut *fx.db.pool.get()?, id)?;
        Ok((run.status != RunStatus::Running).then_some(run))
    })
    .await
}

/// The restart count of a project's *live* scraper (not one waiting for its
/// restart or quarantined), if there is one.
async fn scraper_restarts(fx: &Fixture, project: ProjectId) -> Result<Option<u32>> {
    let snapshot = fx.tree.snapshot().await?;
    Ok(snapshot
        .actors
        .iter()
        .filter(|a| !matches!(a.status, ActorStatus::BackingOff | ActorStatus::Quarantined))
        .find(|a| a.kind == "scraper" && a.project_id == Some(project))
        .map(|a| a.restarts))
}

#[test]
fn a_trigger_during_a_scrape_joins_it() -> Result<()> {
    actix::System::new().block_on(async {
        let fx = start(Duration::from_millis(600), vec![])?;
        wait_for("start-up", || Ok(Some(()))).await?;
        let project = new_project(&fx, "slow")?;
        fx.tree.project_created(project).await?; // scrapes at once
        let (a, b) = futures_util::join!(fx.tree.trigger(project), fx.tree.trigger(project));
        let (a, b) = (a?, b?);
        assert_eq!(a, b, "both triggers join the run in progress");
        let run = finished_run(&fx, a).await?;
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(fx.calls.load(Ordering::SeqCst), 1, "one fetch, not three");
        // Once it has finished, a trigger starts a new run.
        let c = fx.tree.trigger(project).await?;
        assert_ne!(c, a);
        assert_eq!(finished_run(&fx, c).await?.status, RunStatus::Succeeded);
        assert_eq!(fx.calls.load(Ordering::SeqCst), 2);
        Ok(())
    })
}

#[test]
fn a_panicking_scrape_is_recorded_and_its_scraper_restarted() -> Result<()> {
    actix::System::new().block_on(async {
        let fx = start(Duration::from_millis(10), vec![1])?;
        let bystander = new_project(&fx, "bystander")?;
        let victim = new_project(&fx, "victim")?;
        fx.tree.project_created(bystander).await?;
        // Let the bystander's first scrape (call 0) finish so the victim's is call 1.
        wait_for("the bystander's scrape", || Ok((fx.calls.load(Ordering::SeqCst) >= 1).then_some(()))).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        fx.tree.project_created(victim).await?;
        let crashed = wait_for("the crashed run", || {
            let runs = Run::list_for_project(&mut *fx.db.pool.get()?, victim, 1)?;
            Ok(runs.into_iter().next().filter(|r| r.status != RunStatus::Running))
        })
        .await?;
        assert_eq!(crashed.status, RunStatus::Failed);
        assert!(crashed.error.as_deref().is_some_and(|e| e.contains("panic: scripted failure")), "{crashed:?}");
        // Restarted by the supervisor, counted, and usable again.
        let mut restarts = None;
        for _ in 0..100 {
            restarts = scraper_restarts(&fx, victim).await?;
            if restarts == Some(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(restarts, Some(1), "the victim's scraper was restarted once");
        let run = fx.tree.trigger(victim).await?;
        assert_eq!(finished_run(&fx, run).await?.status, RunStatus::Succeeded);
        // The crash touched no one else.
        assert_eq!(scraper_restarts(&fx, bystander).await?, Some(0));
        let run = fx.tree.trigger(bystander).await?;
        assert_eq!(finished_run(&fx, run).await?.status, RunStatus::Succeeded);
        Ok(())
    })
}

/// The http_json source actor, as `/admin/actors` shows it.
async fn source_actor(fx: &Fixture) -> Result<serde_json::Value> {
    let snapshot = fx.tree.snapshot().await?;
    let source = snapshot.actors.iter().find(|a| a.name == "source:http_json").cloned();
    let Some(source) = source else { bail!("no source actor for http_json") };
    Ok(serde_json::to_value(&source)?)
}

#[test]
fn a_panicking_poll_reports_back_and_frees_its_source() -> Result<()> {
    actix::System::new().block_on(async {
        let config = ActorsConfig { poll_interval: Duration::from_secs(1), ..config() };
        let fx = start_with(config, Duration::from_millis(10), vec![], Arc::new(AtomicBool::new(true)))?;
        // In the database only: the fast poll finds it, no full scrape runs.
        new_project(&fx, "poll-panic")?;
        let mut seen = serde_json::Value::Null;
        for _ in 0..200 {
            seen = source_actor(&fx).await?;
            if seen["detail"]["counters"]["polls_failed"].as_u64() >= Some(3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let counters = &seen["detail"]["counters"];
        assert!(counters["polls_failed"].as_u64() >= Some(3), "each panicking poll reports back: {seen}");
        assert_eq!(counters["polls_skipped_in_flight"], 0, "no source stays in flight: {seen}");
        assert!(
            seen["last_error"].as_str().is_some_and(|e| e.contains("panic: scripted failure")),
            "the panic is the poll's error: {seen}"
        );
        let metrics = fx.tree.metrics().encode()?;
        assert!(metrics.contains(r#"trawler_task_panics_total{task="poll"}"#), "{metrics}");
        Ok(())
    })
}

#[test]
fn a_poll_and_a_full_scrape_never_fetch_one_source_at_once() -> Result<()> {
    actix::System::new().block_on(async {
        let config = ActorsConfig { poll_interval: Duration::from_secs(1), ..config() };
        let fx = start_with(config, Duration::from_millis(700), vec![], Arc::new(AtomicBool::new(false)))?;
        let project = new_project(&fx, "busy")?;
        fx.tree.project_created(project).await?;
        // Full scrapes back to back while a poll comes due every second.
        let mut joined = 0;
        for _ in 0..12 {
            let run = fx.tree.trigger(project).await?;
            finished_run(&fx, run).await?;
            joined = source_actor(&fx).await?["detail"]["counters"]["polls_joined_full_scrape"].as_u64().unwrap_or(0);
            if joined >= 1 {
                break;
            }
        }
        assert_eq!(fx.max_busy.load(Ordering::SeqCst), 1, "never two fetches of the source at once");
        assert!(joined >= 1, "a poll due during a full scrape is satisfied by it");
        Ok(())
    })
}

#[test]
fn archiving_stops_a_scraper_for_good() -> Result<()> {
    actix::System::new().block_on(async {
        let fx = start(Duration::from_millis(10), vec![])?;
        let project = new_project(&fx, "archived")?;
        fx.tree.project_created(project).await?;
        wait_for("the first scrape", || Ok((fx.calls.load(Ordering::SeqCst) >= 1).then_some(()))).await?;
        Project::set_status(&mut *fx.db.pool.get()?, project, ProjectStatus::Archived, None)?;
        fx.tree.project_archived(project).await?;
        // Longer than the first restart delay: an archived scraper stays down.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(scraper_restarts(&fx, project).await?, None, "no scraper for an archived project");
        match fx.tree.trigger(project).await {
            Err(ActorError::Archived) => {}
            other => return Err(anyhow!("expected Archived, got {other:?}")),
        }
        match fx.tree.trigger(ProjectId(424_242)).await {
            Err(ActorError::NotFound) => {}
            other => return Err(anyhow!("expected NotFound, got {other:?}")),
        }
        Ok(())
    })
}

#[test]
fn start_up_closes_runs_left_running_and_starts_active_projects() -> Result<()> {
    actix::System::new().block_on(async {
        let db = TestDb::sqlite()?;
        let source =
            NewSource { platform: Platform::HttpJson, external_ref: "x".into(), options: json!({}), secret: None };
        let (p, _) = Project::create(&mut *db.pool.get()?, "left over", std::slice::from_ref(&source))?;
        let (gone, _) = Project::create(&mut *db.pool.get()?, "archived", &[source])?;
        Project::set_status(&mut *db.pool.get()?, gone.id, ProjectStatus::Archived, None)?;
        let stale = Run::start(&mut *db.pool.get()?, p.id, RunKind::Full, RunTrigger::Schedule, "test")?;
        let fx = fixture(db, config(), scripted(Duration::ZERO, vec![], Arc::default()))?;
        wait_for("start-up", || Ok(Some(()))).await?;
        for _ in 0..100 {
            if fx.tree.is_started().await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(fx.tree.is_started().await);
        assert_eq!(Run::get(&mut *fx.db.pool.get()?, stale.id)?.status, RunStatus::Aborted);
        assert_eq!(scraper_restarts(&fx, p.id).await?, Some(0), "the active project has a scraper");
        assert_eq!(scraper_restarts(&fx, gone.id).await?, None, "the archived one has none");
        Ok(())
    })
}

#[test]
fn a_crash_loop_is_quarantined_and_resumed_by_an_admin() -> Result<()> {
    actix::System::new().block_on(async {
        // Every slot (each second) panics; one restart is allowed (the
        // counting itself is unit-tested in restart.rs).
        let config = ActorsConfig {
            full_interval: Duration::from_secs(1),
            max_restarts: 1,
            restart_window: Duration::from_secs(600),
            ..config()
        };
        let panic_all = Arc::new(AtomicBool::new(true));
        let fx = start_with(config, Duration::ZERO, vec![], panic_all.clone())?;
        let project = new_project(&fx, "crashy")?;
        fx.tree.project_created(project).await?;
        let quarantined = wait_for("the quarantine", || {
            let p = Project::get(&mut *fx.db.pool.get()?, project)?;
            Ok((p.status == ProjectStatus::Quarantined).then_some(p))
        })
        .await?;
        assert!(quarantined.status_reason.as_deref().is_some_and(|r| r.contains("panic")), "{quarantined:?}");
        let crashes = Run::list_for_project(&mut *fx.db.pool.get()?, project, 100)?;
        assert_eq!(crashes.len(), 2, "one restart, then the second crash quarantines");
        assert!(crashes.iter().all(|r| r.error_kind.as_deref() == Some("panic")), "{crashes:?}");
        // Not restarted: no new runs, shown as quarantined, triggers refused.
        let calls = fx.calls.load(Ordering::SeqCst);
        // Longer than a slot: a project still scheduled would have run.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(fx.calls.load(Ordering::SeqCst), calls, "a quarantined project is not scraped");
        let snapshot = fx.tree.snapshot().await?;
        let entry = snapshot.actors.iter().find(|a| a.project_id == Some(project));
        assert_eq!(entry.map(|a| a.status), Some(ActorStatus::Quarantined));
        assert!(matches!(fx.tree.trigger(project).await, Err(ActorError::Quarantined)));
        // The admin fixes the cause and resumes: it runs again.
        panic_all.store(false, Ordering::SeqCst);
        Project::set_status(&mut *fx.db.pool.get()?, project, ProjectStatus::Active, None)?;
        fx.tree.project_resumed(project).await?;
        wait_for("a successful run", || {
            let runs = Run::list_for_project(&mut *fx.db.pool.get()?, project, 1)?;
            Ok(runs.first().filter(|r| r.status == RunStatus::Succeeded).cloned())
        })
        .await?;
        assert_eq!(scraper_restarts(&fx, project).await?, Some(0), "resumed with a clean history");
        // The timeline holds the quarantine, from the supervisor's decision
        // to the resumption: the project's series say why they are empty.
        let spans = trawler_store::Timeline::for_project(&mut *fx.db.pool.get()?, project, 0, i64::MAX)?;
        let quarantine: Vec<_> = spans.iter().filter(|s| s.cause == trawler_domain::gaps::Cause::Quarantined).collect();
        assert_eq!(quarantine.len(), 1, "{spans:?}");
        assert!(quarantine[0].detail.contains("crashed more than 1 times"), "{spans:?}");
        assert!(quarantine[0].to_ms.is_some(), "closed by the resumption: {spans:?}");
        assert!(spans.iter().any(|s| s.cause == trawler_domain::gaps::Cause::Failed), "the crashed runs: {spans:?}");
        Ok(())
    })
}

#[test]
fn missed_slots_run_once_then_the_schedule_returns_to_its_offsets() -> Result<()> {
    actix::System::new().block_on(async {
        let interval = Duration::from_secs(2);
        let db = TestDb::sqlite()?;
        let source =
            NewSource { platform: Platform::HttpJson, external_ref: "late".into(), options: json!({}), secret: None };
        let (p, _) = Project::create(&mut *db.pool.get()?, "late", &[source])?;
        // The last run was 6.5 s ago: the node was "down" for three slots.
        let then = trawler_domain::now_millis() - 6_500;
        let old = Run::start_at(&mut *db.pool.get()?, p.id, RunKind::Full, RunTrigger::Schedule, "test", then)?;
        Run::finish(&mut *db.pool.get()?, old.id, RunEnd { points_written: 1, ..RunEnd::new(RunStatus::Succeeded) })?;
        let config = ActorsConfig { full_interval: interval, ..config() };
        let fx = fixture(db, config, scripted(Duration::ZERO, vec![], Arc::default()))?;
        tokio::time::sleep(Duration::from_millis(5500)).await;
        let mut runs = Run::list_for_project(&mut *fx.db.pool.get()?, p.id, 100)?;
        runs.retain(|r| r.id != old.id);
        runs.sort_by_key(|r| r.started_at_ms);
        // One catch-up run, not three; then one run per slot.
        assert!((2..=4).contains(&runs.len()), "{} runs in 5.5 s after a 3-slot outage", runs.len());
        let offset = trawler_domain::schedule::offset_ms(p.id.0 as u64, trawler_domain::schedule::FULL_SEED, interval);
        for r in &runs[1..] {
            let phase = (r.started_at_ms - offset as i64).rem_euclid(2000);
            let off_by = phase.min(2000 - phase);
            assert!(off_by < 300, "run at {} is {off_by} ms off its slot", r.started_at_ms);
        }
        Ok(())
    })
}

#[test]
fn a_node_polls_the_rest_of_the_window_under_way_when_it_starts() -> Result<()> {
    use trawler_domain::schedule::{current_slot_ms, offset_ms, POLL_SEED};
    let interval = Duration::from_secs(20);
    let len = interval.as_millis() as i64;
    // Start just after a window's boundary: the next one is 15 s away or more.
    let into = trawler_domain::now_millis() - current_slot_ms(trawler_domain::now_millis(), interval, 0);
    if into > 5_000 {
        std::thread::sleep(Duration::from_millis((len - into + 200) as u64));
    }
    let db = TestDb::sqlite()?;
    let mut ids = Vec::new();
    for i in 0..200 {
        let source =
            NewSource { platform: Platform::HttpJson, external_ref: format!("w{i}"), options: json!({}), secret: None };
        ids.push(Project::create(&mut *db.pool.get()?, &format!("w{i}"), &[source])?.0.id);
    }
    actix::System::new().block_on(async move {
        let started = trawler_domain::now_millis();
        let window = current_slot_ms(started, interval, 0);
        let config = ActorsConfig { poll_interval: interval, ..config() };
        let fx = fixture(db, config, scripted(Duration::from_millis(5), vec![], Arc::default()))?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        // The sources whose slot in this window came between half a second
        // and three seconds after the start were polled, although the next
        // window is further away.
        let due: usize = ids
            .iter()
            .map(|id| window + offset_ms(id.0 as u64, POLL_SEED, interval) as i64)
            .filter(|slot| (started + 500..started + 3_000).contains(slot) && *slot < window + len)
            .count();
        let seen = source_actor(&fx).await?;
        let counters = &seen["detail"]["counters"];
        let polled =
            counters["polls_ok"].as_u64().unwrap_or(0) + counters["polls_joined_full_scrape"].as_u64().unwrap_or(0);
        assert!(due >= 5, "200 sources over 20 s: about 25 due in those 2.5 s, {due} here");
        assert!(polled as usize >= due, "{polled} polls, {due} slots due: {seen}");
        Ok(())
    })
}
