//! The archive book: every answer a generic source's fetch kept goes into
//! the response archive through this one actor, in batches on a database
//! thread of its own (compressing and bounding them costs CPU the other
//! writers should not wait for).
//!
//! A fetch whose answer came but a metric could not be read in it (the
//! page changed its layout) gets proposals: the metric's last stored value
//! is looked for in the new answer (see `trawler_sources::propose`). Once
//! per source, metric and configuration an hour at most: a layout change
//! fails every fetch until someone fixes the source, and the first
//! failures already say what to do.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use trawler_domain::clock::SharedClock;
use trawler_domain::{Platform, ProjectId, RunId, RunKind};
use trawler_sources::{Keeping, Kept, SourceError, SourceSpec};
use trawler_store::archive::Usage;
use trawler_store::{Archive, Bounds, NewResponse, Point};

use crate::db::{DbExecutor, Exec};

/// Answers waiting at most, in bytes: past it, the oldest waiting are
/// dropped (and counted) rather than held in memory.
const MAX_WAITING_BYTES: usize = 64 * 1024 * 1024;
/// Proposals remembered at most (each a source, metric and configuration).
const MAX_PROPOSED: usize = 100_000;
/// How often the proposals for one broken metric are looked for again.
const PROPOSE_EVERY_MS: i64 = 3_600_000;
/// Failed answers looked through for proposals per second, at most.
const PROPOSALS_PER_SECOND: u32 = 20;

/// What the archive book has done, for `/admin/actors`.
#[derive(Debug, Default)]
pub struct ArchiveStats {
    /// Answers written.
    pub kept: AtomicU64,
    /// Answers dropped before they were written (too many waiting, or the
    /// database failed).
    pub lost: AtomicU64,
    /// Answers the bounds dropped from the archive.
    pub pruned: AtomicU64,
    /// Fetches that failed to read a metric in a good answer.
    pub unread: AtomicU64,
    /// Answers in the archive after the last write.
    pub rows: AtomicU64,
    /// What they take, bytes.
    pub bytes: AtomicU64,
}

/// One fetch's answers, to keep.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) project: ProjectId,
    pub(crate) spec: SourceSpec,
    pub(crate) kind: RunKind,
    pub(crate) run: Option<RunId>,
    pub(crate) at_ms: i64,
    pub(crate) answers: Vec<Kept>,
    /// The fetch's error: `None` when it read every metric.
    pub(crate) error: Option<SourceError>,
}

/// Keeps one fetch's answers.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct KeepFetch(pub(crate) Fetch);

/// Writes kept answers into the archive.
pub(crate) struct ArchiveBook {
    lane: Addr<DbExecutor>,
    bounds: Bounds,
    clock: SharedClock,
    waiting: Vec<(Fetch, Option<String>)>,
    waiting_bytes: usize,
    writing: bool,
    proposals: Proposing,
    stats: Arc<ArchiveStats>,
    last_write_ms: Option<i64>,
    last_error: Option<String>,
    /// What the archive held after the last write, and when it was last
    /// summed over every row (other nodes write to it too).
    usage: Option<Usage>,
    summed_ms: i64,
}

/// How often the archive's total is summed over every row instead of
/// counted from the last write's.
const RESUM_EVERY_MS: i64 = 60_000;

/// When proposals are looked for: once an hour per source, metric and
/// configuration, and at a bounded rate — a site's redesign breaks every
/// source of it at once, and each proposal parses a page; a source left
/// out now gets them at its next failure.
#[derive(Default)]
struct Proposing {
    /// When each key (source, metric, configuration) last got them.
    done: HashMap<u64, i64>,
    /// The second they are being looked for in, and how many so far.
    second: (i64, u32),
}

impl Proposing {
    fn due(&mut self, key: u64, now_ms: i64) -> bool {
        if self.done.get(&key).is_some_and(|at| now_ms.saturating_sub(*at) < PROPOSE_EVERY_MS) {
            return false;
        }
        let second = now_ms.div_euclid(1000);
        if self.second.0 != second {
            self.second = (second, 0);
        }
        if self.second.1 >= PROPOSALS_PER_SECOND {
            return false;
        }
        self.second.1 += 1;
        if self.done.len() >= MAX_PROPOSED {
            self.done.clear();
        }
        self.done.insert(key, now_ms);
        true
    }
}

impl ArchiveBook {
    pub(crate) fn new(lane: Addr<DbExecutor>, bounds: Bounds, clock: SharedClock, stats: Arc<ArchiveStats>) -> Self {
        ArchiveBook {
            lane,
            bounds,
            clock,
            waiting: Vec::new(),
            waiting_bytes: 0,
            writing: false,
            proposals: Proposing::default(),
            stats,
            last_write_ms: None,
            last_error: None,
            usage: None,
            summed_ms: 0,
        }
    }

    /// The metric to look for proposals for, if this fetch needs them now.
    fn needs_proposals(&mut self, fetch: &Fetch) -> Option<String> {
        let metric = fetch.error.as_ref()?.unread_metric()?.to_owned();
        self.stats.unread.fetch_add(1, Ordering::Relaxed);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (fetch.project.0, fetch.spec.platform.as_str(), &fetch.spec.external_ref, &metric).hash(&mut h);
        fetch.spec.options.to_string().hash(&mut h);
        self.proposals.due(h.finish(), fetch.at_ms).then_some(metric)
    }

    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.waiting.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.waiting);
        self.waiting_bytes = 0;
        self.writing = true;
        self.last_write_ms = Some(self.clock.now_ms());
        let (bounds, now_ms, n) =
            (self.bounds, self.clock.now_ms(), batch.iter().map(|(f, _)| f.answers.len()).sum::<usize>());
        let known = self.usage.filter(|_| now_ms.saturating_sub(self.summed_ms) < RESUM_EVERY_MS);
        if known.is_none() {
            self.summed_ms = now_ms;
        }
        let write = self.lane.send(Exec(move |conn| {
            let mut rows = Vec::new();
            for (fetch, metric) in batch {
                let proposals = match metric {
                    Some(metric) => proposals(conn, &fetch, &metric),
                    None => None,
                };
                rows.extend(responses(fetch, proposals));
            }
            Archive::keep(conn, &rows, &bounds, now_ms, known)
        }));
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.writing = false;
            match result {
                Ok(Ok((pruned, usage))) => {
                    act.stats.kept.fetch_add(n as u64, Ordering::Relaxed);
                    act.stats.pruned.fetch_add(pruned, Ordering::Relaxed);
                    act.stats.rows.store(u64::try_from(usage.rows).unwrap_or(0), Ordering::Relaxed);
                    act.stats.bytes.store(u64::try_from(usage.bytes).unwrap_or(0), Ordering::Relaxed);
                    act.usage = Some(usage);
                    act.last_error = None;
                }
                Ok(Err(e)) => {
                    act.stats.lost.fetch_add(n as u64, Ordering::Relaxed);
                    act.usage = None;
                    log::warn!("archive: keeping {n} answers failed: {e}");
                    act.last_error = Some(e.to_string());
                }
                Err(e) => {
                    act.stats.lost.fetch_add(n as u64, Ordering::Relaxed);
                    log::warn!("archive: the database thread is gone: {e}");
                }
            }
            act.write(ctx);
        }));
    }
}

/// The proposals for every metric a fetch's answers do not give (the one
/// its error names among them), as JSON: each metric's last stored value
/// looked for in the new answer.
fn proposals(conn: &mut trawler_store::AnyConnection, fetch: &Fetch, named: &str) -> Option<String> {
    let mut unread = trawler_sources::propose::unread(&fetch.spec, fetch.kind, &fetch.answers);
    if !unread.iter().any(|m| m == named) {
        unread.insert(0, named.to_owned());
    }
    let observed = Point::observations_at(conn, fetch.project, fetch.at_ms / 1000)
        .map_err(|e| log::warn!(project = fetch.project.0; "archive: reading the last values of project {} failed: {e}", fetch.project))
        .ok()?;
    let metrics: Vec<serde_json::Value> = unread
        .iter()
        .map(|metric| {
            let last = observed
                .iter()
                .find(|o| o.platform == fetch.spec.platform && o.metric.as_str() == metric)
                .map(|o| o.value);
            let found = last
                .map(|last| trawler_sources::propose::propose(&fetch.spec, metric, last, &fetch.answers))
                .unwrap_or_default();
            serde_json::json!({"metric": metric, "last_value": last, "found": found})
        })
        .collect();
    serde_json::to_string(&serde_json::json!({ "metrics": metrics })).ok()
}

/// The rows of one fetch: one per answer, the outcome on each, the
/// failure's metric and proposals on the first.
fn responses(fetch: Fetch, proposals: Option<String>) -> Vec<NewResponse> {
    let outcome = fetch.error.as_ref().map_or("ok", SourceError::code).to_owned();
    let error = fetch.error.as_ref().map(|e| e.to_string().chars().take(500).collect::<String>());
    let metric = fetch.error.as_ref().and_then(|e| e.unread_metric()).map(str::to_owned);
    let mut proposals = proposals;
    fetch
        .answers
        .into_iter()
        .map(|a| NewResponse {
            project_id: fetch.project,
            platform: fetch.spec.platform,
            external_ref: fetch.spec.external_ref.clone(),
            run_id: fetch.run,
            kind: fetch.kind,
            fetched_at_ms: fetch.at_ms,
            page: i32::try_from(a.page).unwrap_or(i32::MAX),
            status: i32::from(a.status),
            url: a.url,
            headers: a.headers,
            body: a.body,
            outcome: outcome.clone(),
            error: error.clone().filter(|_| a.page == 0),
            metric: metric.clone().filter(|_| a.page == 0),
            proposals: proposals.take().filter(|_| a.page == 0),
        })
        .collect()
}

impl Actor for ArchiveBook {
    type Context = Context<Self>;
}

impl Handler<KeepFetch> for ArchiveBook {
    type Result = ();

    fn handle(&mut self, msg: KeepFetch, ctx: &mut Context<Self>) {
        let fetch = msg.0;
        if fetch.answers.is_empty() {
            return;
        }
        let metric = self.needs_proposals(&fetch);
        self.waiting_bytes += fetch.answers.iter().map(|a| a.body.len()).sum::<usize>();
        self.waiting.push((fetch, metric));
        while self.waiting_bytes > MAX_WAITING_BYTES && self.waiting.len() > 1 {
            let (dropped, _) = self.waiting.remove(0);
            let bytes: usize = dropped.answers.iter().map(|a| a.body.len()).sum();
            self.waiting_bytes = self.waiting_bytes.saturating_sub(bytes);
            self.stats.lost.fetch_add(dropped.answers.len() as u64, Ordering::Relaxed);
        }
        self.write(ctx);
    }
}

/// The archive book's state, for `/admin/actors`.
pub(crate) struct GetArchiveState;

impl Message for GetArchiveState {
    type Result = crate::state::ActorInfo;
}

impl Handler<GetArchiveState> for ArchiveBook {
    type Result = MessageResult<GetArchiveState>;

    fn handle(&mut self, _: GetArchiveState, _: &mut Context<Self>) -> Self::Result {
        let status = if self.writing { crate::state::ActorStatus::Flushing } else { crate::state::ActorStatus::Idle };
        let mut info = crate::state::ActorInfo::new("archive", "archive".into(), status);
        info.last_run_ms = self.last_write_ms;
        info.last_error = self.last_error.clone();
        info.mailbox = Some(self.waiting.len());
        let s = &self.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        info.detail = serde_json::json!({
            "answers": load(&s.rows),
            "bytes": load(&s.bytes),
            "kept_total": load(&s.kept),
            "pruned_total": load(&s.pruned),
            "lost_total": load(&s.lost),
            "unread_total": load(&s.unread),
            "waiting_bytes": self.waiting_bytes,
            "bounds": {
                "max_age_secs": self.bounds.max_age_ms / 1000,
                "project_bytes": self.bounds.project_bytes,
                "total_bytes": self.bounds.total_bytes,
            },
        });
        MessageResult(info)
    }
}

/// Whether a source's answers go into the archive.
pub(crate) fn keeps(platform: Platform) -> bool {
    trawler_sources::Adapters::keeps_answers(platform)
}

/// Sources remembered at most by the poll sampler; past it, it starts
/// again (and keeps one more answer of each).
const MAX_SAMPLED: usize = 1_000_000;

/// The archive as the fetches see it: where answers go, and which of them.
pub(crate) struct Archiving {
    pub(crate) book: Addr<ArchiveBook>,
    pub(crate) sampler: Sampler,
}

/// Which answers are kept. A full scrape's answers and a failed fetch's
/// always are; a poll that read well is kept once per `polls_every` per
/// source — polls come every few minutes, and what a re-parse needs is the
/// answers that failed.
pub(crate) struct Sampler {
    polls_every_ms: i64,
    last_kept: std::sync::Mutex<HashMap<i64, i64>>,
}

impl Sampler {
    pub(crate) fn new(polls_every: std::time::Duration) -> Sampler {
        let polls_every_ms = i64::try_from(polls_every.as_millis()).unwrap_or(i64::MAX);
        Sampler { polls_every_ms, last_kept: std::sync::Mutex::default() }
    }

    /// Which answers a fetch of `source` starting at `now_ms` keeps: a
    /// poll whose turn has not come keeps only those of a failure (the
    /// others are never copied).
    pub(crate) fn keeping(&self, source: i64, kind: RunKind, now_ms: i64) -> Keeping {
        if kind == RunKind::Full {
            return Keeping::Everything;
        }
        let mut last = self.last_kept.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(&source).is_some_and(|at| now_ms.saturating_sub(*at) < self.polls_every_ms) {
            return Keeping::Failures;
        }
        if last.len() >= MAX_SAMPLED {
            last.clear();
        }
        last.insert(source, now_ms);
        Keeping::Everything
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_come_once_an_hour_per_metric_and_at_a_bounded_rate() {
        let mut p = Proposing::default();
        assert!(p.due(1, 0));
        assert!(!p.due(1, 10_000), "the same key within the hour");
        assert!(p.due(1, PROPOSE_EVERY_MS), "an hour later");
        let storm: Vec<bool> = (100..140).map(|key| p.due(key, 5_000_500)).collect();
        assert_eq!(storm.iter().filter(|d| **d).count(), PROPOSALS_PER_SECOND as usize, "a second's worth");
        assert!(p.due(139, 5_001_000), "one left out gets them the next second");
    }

    #[test]
    fn polls_that_read_well_are_sampled_and_the_rest_kept() {
        let a = Sampler::new(std::time::Duration::from_secs(60));
        assert_eq!(a.keeping(1, RunKind::Poll, 0), Keeping::Everything, "the first poll of a source");
        assert_eq!(a.keeping(1, RunKind::Poll, 30_000), Keeping::Failures, "within the minute");
        assert_eq!(a.keeping(1, RunKind::Full, 32_000), Keeping::Everything, "a full scrape, always");
        assert_eq!(a.keeping(2, RunKind::Poll, 33_000), Keeping::Everything, "another source");
        assert_eq!(a.keeping(1, RunKind::Poll, 60_000), Keeping::Everything, "a minute later");
    }
}
