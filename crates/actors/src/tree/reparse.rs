//! Re-parse: a source's parser, as it is configured now, run over the
//! answers the archive kept of its failed fetches, so that the points the
//! broken parser missed are stored at the times they were fetched.
//!
//! Idempotent: the points go in through the import path, which skips a
//! point already stored (same series and time), so re-parsing twice, or
//! over fetches that were read well, stores nothing more.

use serde::Serialize;
use trawler_domain::{Platform, Point, ProjectId, RunId, RunKind};
use trawler_sources::{Kept, SourceSpec};
use trawler_store::archive::Response;
use trawler_store::{Archive, Source};

use super::Tree;
use crate::db::Exec;
use crate::error::ActorError;

/// Archive rows read per batch.
const BATCH: i64 = 200;

/// What a re-parse did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reparsed {
    /// Failed fetches read again.
    pub fetches: usize,
    /// Of them, those the parser read well now.
    pub recovered: usize,
    /// Points read out of them.
    pub points: usize,
    /// Of those, points new to the store.
    pub stored: usize,
    /// Fetches the parser still cannot read.
    pub still_failing: usize,
    /// The first error of those.
    pub error: Option<String>,
    /// The failed runs whose fetches it recovered.
    pub runs: Vec<i64>,
    /// The earliest and latest fetch read, epoch ms.
    pub from_ms: Option<i64>,
    /// See `from_ms`.
    pub to_ms: Option<i64>,
}

/// One fetch of the archive: its rows (pages in order) and their bodies.
struct KeptFetch {
    rows: Vec<Response>,
    answers: Vec<Kept>,
}

impl Tree {
    /// Re-parses the failed fetches of the source `(platform, reference)` of
    /// `project` kept since `since_ms` (by default, since its oldest failed
    /// fetch not yet recovered), with the source as it is now.
    pub async fn reparse(
        &self,
        project: ProjectId,
        platform: Platform,
        reference: &str,
        since_ms: Option<i64>,
    ) -> Result<Reparsed, ActorError> {
        let r = reference.to_owned();
        let (source, since) = self
            .db
            .send(Exec(move |conn| {
                let source = Source::list_for_project(conn, project)?
                    .into_iter()
                    .find(|s| s.platform == platform && s.external_ref == r);
                let since = match since_ms {
                    Some(t) => Some(t),
                    None => Archive::oldest_unrecovered(conn, project, (platform, &r))?,
                };
                Ok((source, since))
            }))
            .await??;
        let source = source.ok_or(ActorError::NotFound)?;
        let mut spec = crate::deps::source_spec(&source);
        spec.secret = None;
        let mut report = Reparsed::default();
        let Some(since) = since else { return Ok(report) };
        let mut after = 0;
        loop {
            let r = reference.to_owned();
            let rows = self
                .db
                .send(Exec(move |conn| Archive::since(conn, project, (platform, &r), since, after, BATCH)))
                .await??;
            let Some(last) = rows.last().map(|(row, _)| row.id) else { break };
            after = last;
            let fetches = group(rows.into_iter().filter(|(row, _)| row.outcome == "parse").collect());
            let (adapters, spec) = (self.adapters.clone(), spec.clone());
            let read = tokio::task::spawn_blocking(move || read_again(&adapters, &spec, project, fetches))
                .await
                .map_err(|e| ActorError::Flush(format!("the re-parse stopped: {e}")))?;
            report.fetches += read.fetches;
            report.still_failing += read.still_failing;
            if report.error.is_none() {
                report.error = read.error;
            }
            report.from_ms = report.from_ms.or(read.from_ms);
            report.to_ms = read.to_ms.or(report.to_ms);
            if !read.points.is_empty() {
                report.points += read.points.len();
                report.stored += self.import(project, read.points).await?.stored;
            }
            report.recovered += read.recovered.len();
            let runs: Vec<RunId> = read.runs.iter().copied().map(RunId).collect();
            report.runs.extend(read.runs);
            let (ids, now) = (read.recovered, now_ms());
            self.db.send(Exec(move |conn| Archive::mark_recovered(conn, &ids, &runs, now))).await??;
        }
        report.runs.sort_unstable();
        report.runs.dedup();
        Ok(report)
    }
}

fn now_ms() -> i64 {
    trawler_domain::now_millis()
}

/// Gathers rows into fetches: the pages of one fetch share its time and
/// come in order.
fn group(rows: Vec<(Response, Vec<u8>)>) -> Vec<KeptFetch> {
    let mut out: Vec<KeptFetch> = Vec::new();
    for (row, body) in rows {
        let answer = Kept {
            page: u32::try_from(row.page).unwrap_or(0),
            status: u16::try_from(row.status).unwrap_or(0),
            url: row.url.clone(),
            headers: row.header_pairs(),
            body,
        };
        match out.last_mut() {
            Some(f) if row.page > 0 && f.rows.first().is_some_and(|r| r.fetched_at_ms == row.fetched_at_ms) => {
                f.rows.push(row);
                f.answers.push(answer);
            }
            _ => out.push(KeptFetch { rows: vec![row], answers: vec![answer] }),
        }
    }
    out
}

/// What one batch read.
#[derive(Default)]
struct Read {
    fetches: usize,
    points: Vec<Point>,
    recovered: Vec<i64>,
    runs: Vec<i64>,
    still_failing: usize,
    error: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

/// Reads each fetch with the adapter as the source is now.
fn read_again(
    adapters: &trawler_sources::Adapters,
    spec: &SourceSpec,
    project: ProjectId,
    fetches: Vec<KeptFetch>,
) -> Read {
    let mut read = Read::default();
    for fetch in fetches {
        let Some(first) = fetch.rows.first() else { continue };
        read.fetches += 1;
        read.from_ms = read.from_ms.or(Some(first.fetched_at_ms));
        read.to_ms = Some(first.fetched_at_ms);
        let kind = if first.kind == RunKind::Poll.as_str() { RunKind::Poll } else { RunKind::Full };
        match adapters.reparse(spec, kind, &fetch.answers) {
            Some(Ok(samples)) => {
                let ts = first.fetched_at_ms.div_euclid(1000);
                read.points.extend(samples.into_iter().map(|s| Point {
                    project_id: project,
                    platform: spec.platform,
                    metric: s.metric,
                    ts,
                    value: s.value,
                }));
                read.recovered.extend(fetch.rows.iter().map(|r| r.id));
                read.runs.extend(first.run_id);
            }
            Some(Err(e)) => {
                read.still_failing += 1;
                read.error.get_or_insert_with(|| e.to_string());
            }
            None => {
                read.still_failing += 1;
                read.error.get_or_insert_with(|| format!("{} sources keep no answers to read again", spec.platform));
            }
        }
    }
    read
}
