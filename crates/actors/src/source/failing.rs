//! The sources whose polls fail, as spans of the timeline: a series then
//! says "failed: http_status 404" for the slots of a poll that keeps
//! failing while its platform is fine (a campaign gone, a page that no
//! longer parses). Only changes are written — the first failure opens a
//! span for the source's project and platform, the next success closes it
//! — so a steady state writes nothing. A platform that is down is the
//! gate's span (its circuit), not one per source.

use std::collections::HashMap;

use actix::Addr;
use trawler_domain::gaps::Cause;
use trawler_domain::{Platform, ProjectId};
use trawler_store::{AnyConnection, Scope, StoreResult, Timeline};

use crate::db::{DbExecutor, Exec};

/// The failing sources of one platform on this node.
pub(super) struct Failing {
    platform: Platform,
    node: String,
    /// Failing source → its project.
    sources: HashMap<i64, ProjectId>,
}

impl Failing {
    /// None failing yet.
    pub(super) fn new(platform: Platform, node: String) -> Failing {
        Failing { platform, node, sources: HashMap::new() }
    }

    /// Ends the spans a previous run of this node left open (their sources
    /// are polled again and open them again if they still fail).
    pub(super) fn close_stale(&self, db: &Addr<DbExecutor>, now_ms: i64) {
        let (platform, node) = (self.platform, self.node.clone());
        write(db, move |conn| {
            let scope = Scope { platform: Some(platform), node: Some(&node), ..Scope::default() };
            Timeline::close_projects(conn, scope, &[Cause::Failed, Cause::Throttled], now_ms).map(drop)
        });
    }

    /// A poll of `source` failed with an error of `kind`.
    pub(super) fn failed(
        &mut self,
        db: &Addr<DbExecutor>,
        source: i64,
        project: ProjectId,
        kind: &str,
        error: &str,
        at_ms: i64,
    ) {
        // An open circuit is the platform's span already.
        if kind == "circuit_open" || self.sources.insert(source, project).is_some() {
            return;
        }
        let (platform, node, cause) = (self.platform, self.node.clone(), Cause::of_error(kind));
        let detail = format!("polls failing: {}", error.chars().take(300).collect::<String>());
        write(db, move |conn| {
            let scope =
                Scope { project: Some(project), platform: Some(platform), node: Some(&node), ..Scope::default() };
            Timeline::open(conn, scope, cause, &detail, at_ms)
        });
    }

    /// A poll of `source` succeeded.
    pub(super) fn succeeded(&mut self, db: &Addr<DbExecutor>, source: i64, at_ms: i64) {
        if let Some(project) = self.sources.remove(&source) {
            self.close_if_none_left(db, project, at_ms);
        }
    }

    /// `project` stopped here (archived, quarantined, handed to another
    /// node): its spans end.
    pub(super) fn stopped(&mut self, db: &Addr<DbExecutor>, project: ProjectId, at_ms: i64) {
        let before = self.sources.len();
        self.sources.retain(|_, p| *p != project);
        if self.sources.len() < before {
            self.close_if_none_left(db, project, at_ms);
        }
    }

    fn close_if_none_left(&self, db: &Addr<DbExecutor>, project: ProjectId, at_ms: i64) {
        // Another source of the project on this platform may still fail.
        if self.sources.values().any(|p| *p == project) {
            return;
        }
        let (platform, node) = (self.platform, self.node.clone());
        write(db, move |conn| {
            let scope =
                Scope { project: Some(project), platform: Some(platform), node: Some(&node), ..Scope::default() };
            Timeline::close(conn, scope, &[Cause::Failed, Cause::Throttled], at_ms).map(drop)
        });
    }

    /// How many sources fail now.
    pub(super) fn len(&self) -> usize {
        self.sources.len()
    }
}

/// Writes in the background; a failed write is logged (the series then
/// says `missed` where it would have said `failed`).
fn write(db: &Addr<DbExecutor>, f: impl FnOnce(&mut AnyConnection) -> StoreResult<()> + Send + 'static) {
    let send = db.send(Exec(f));
    actix::spawn(async move {
        match send.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("timeline: recording a poll failure failed: {e}"),
            Err(e) => log::warn!("timeline: the database executor is unavailable: {e}"),
        }
    });
}
