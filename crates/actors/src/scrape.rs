//! One full scrape of a project: each source fetched through its gate, its
//! samples made durable, and the run's outcome and log.

use crate::deps::Deps;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use trawler_domain::{RunId, RunKind, RunStatus};
use trawler_sources::LinePlace;
use trawler_store::Source;

/// What a scrape came to.
pub(crate) struct Outcome {
    pub(crate) status: RunStatus,
    /// The first error: its class and its message.
    pub(crate) error: Option<(&'static str, String)>,
    pub(crate) points: i64,
    pub(crate) log: String,
    /// The platform of the first error.
    pub(crate) platform: Option<trawler_domain::Platform>,
}

/// What a scrape has done so far, shared with its actor so that a cancel or
/// a deadline can record it.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) points: AtomicI64,
    pub(crate) log: Mutex<String>,
    /// Set once the scrape has started to run.
    pub(crate) begun: AtomicBool,
    /// Where its request waits at a gate, while it does.
    pub(crate) place: LinePlace,
    /// Lines written to its log.
    pub(crate) lines: std::sync::atomic::AtomicU32,
    /// Where its lines go live: the bus, its project and its run.
    pub(crate) tap: Option<(crate::events::EventBus, trawler_domain::ProjectId, RunId)>,
}

impl Progress {
    /// The progress of a run about to start, with the deadline its requests
    /// bring to their gates: someone waiting for it (a manual run, a new
    /// project's first) is due now; a scheduled run within 1% of the
    /// interval after its slot; a catch-up, which has no slot, within an
    /// interval — it passes after the polls and slots that are due sooner.
    pub(crate) fn for_run(slot_ms: Option<i64>, someone_waits: bool, now_ms: i64, interval: Duration) -> Progress {
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        let slack = match slot_ms {
            _ if someone_waits => 0,
            Some(slot) => slot.saturating_add(interval_ms / 100).saturating_sub(now_ms),
            None => interval_ms,
        };
        Progress { place: LinePlace::due_in_ms(slack), ..Progress::default() }
    }

    /// Adds a line to the log. Past the most a run keeps, lines are
    /// dropped here already: a scrape's log never grows without bound in
    /// memory (the stored log says it was cut).
    pub(crate) fn note(&self, line: String) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() > trawler_store::run::MAX_LOG_BYTES {
            return;
        }
        log.push_str(&line);
        let seq = self.lines.fetch_add(1, Ordering::Relaxed);
        drop(log);
        // Sent while someone follows the project: a run's page, `trawler
        // runs follow`. Nobody pays for it otherwise.
        if let Some((events, project_id, run_id)) = &self.tap {
            if events.followed(*project_id) {
                events.publish(crate::events::Event::RunLog {
                    project_id: *project_id,
                    run_id: *run_id,
                    seq,
                    line: line.trim_end_matches('\n').to_owned(),
                    at_ms: trawler_domain::now_millis(),
                });
            }
        }
    }

    /// Points stored and the log so far.
    pub(crate) fn snapshot(&self) -> (i64, String) {
        (self.points.load(Ordering::Relaxed), self.log.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// Fetches every source of a project once and hands the points to ingestion.
pub(crate) async fn scrape(sources: &[Source], deps: &Deps, progress: &Progress, run: Option<RunId>) -> Outcome {
    progress.begun.store(true, Ordering::Relaxed);
    if sources.is_empty() {
        return Outcome {
            status: RunStatus::Failed,
            error: Some(("config", "the project has no sources".into())),
            points: 0,
            log: "no sources configured\n".into(),
            platform: None,
        };
    }
    let mut ok = 0usize;
    let mut first_error = None;
    let mut failed_platform = None;
    // One budget for the whole run: a failing platform cannot keep a run
    // retrying past it, however many sources the project has.
    let budget = deps.adapters.run_budget();
    for source in sources {
        let started = Instant::now();
        // A poll of this source in flight finishes first: one fetch at a time.
        let claim = deps.fetching.claim(source.id).await;
        let fetched = deps.fetch(source, RunKind::Full, &budget, Some(&progress.place), run).await;
        claim.done(fetched.is_ok());
        match fetched {
            Ok(fetched) => {
                let listed: Vec<String> = fetched.samples.iter().map(|s| format!("{}={}", s.metric, s.value)).collect();
                let n = match deps.keep(source, RunKind::Full, fetched.samples).await {
                    Ok(n) => n,
                    Err(e) => {
                        progress.note(format!("{} {}: {e}\n", source.platform, source.external_ref));
                        first_error.get_or_insert(("ingest", e));
                        failed_platform.get_or_insert(source.platform);
                        continue;
                    }
                };
                ok += 1;
                progress.points.fetch_add(n as i64, Ordering::Relaxed);
                progress.note(format!(
                    "{} {}: {n} points in {} ms ({}){}\n",
                    source.platform,
                    source.external_ref,
                    started.elapsed().as_millis(),
                    listed.join(", "),
                    if fetched.notes.is_empty() { String::new() } else { format!(" [{}]", fetched.notes.join(", ")) }
                ));
            }
            Err(e) => {
                progress.note(format!(
                    "{} {}: failed after {} ms: {e}\n",
                    source.platform,
                    source.external_ref,
                    started.elapsed().as_millis()
                ));
                first_error
                    .get_or_insert_with(|| (e.code(), format!("{} {}: {e}", source.platform, source.external_ref)));
                failed_platform.get_or_insert(source.platform);
            }
        }
    }
    let status = match ok {
        0 => RunStatus::Failed,
        n if n == sources.len() => RunStatus::Succeeded,
        _ => RunStatus::Partial,
    };
    let (points, log) = progress.snapshot();
    Outcome { status, error: first_error, points, log, platform: failed_platform }
}
