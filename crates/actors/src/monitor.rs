//! The monitors on the numbers as the tree runs them: one [`Track`] per
//! source, fed with each stored fetch's values (see `SharedDeps::monitor`,
//! which stores, announces and counts what fires or recovers).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use trawler_domain::campaign::Phase;
use trawler_domain::monitor::{MonitorDefaults, OpenAlert, ProjectMonitors, Rules, Track, Transition};
use trawler_domain::{ProjectId, RunKind};
use trawler_store::{Alert, Source};

/// Every source's monitor state on this node.
pub(crate) struct MonitorBook {
    defaults: MonitorDefaults,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tracks: HashMap<i64, Track>,
    /// Alerts open when the node started, by source, until its first fetch.
    loaded: HashMap<i64, Vec<Alert>>,
    /// Each project's own rules (none: the defaults).
    rules: HashMap<ProjectId, Arc<ProjectMonitors>>,
}

/// The rules of a project without its own.
static NO_RULES: std::sync::LazyLock<ProjectMonitors> = std::sync::LazyLock::new(ProjectMonitors::default);

impl MonitorBook {
    pub(crate) fn new(defaults: MonitorDefaults) -> MonitorBook {
        MonitorBook { defaults, inner: Mutex::default() }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in the alerts open in the database (at start).
    pub(crate) fn load(&self, alerts: Vec<Alert>) {
        let mut inner = self.inner();
        for alert in alerts {
            inner.loaded.entry(alert.source_id).or_default().push(alert);
        }
    }

    /// Sets `project`'s own rules (`None`: the defaults).
    pub(crate) fn set_rules(&self, project: ProjectId, rules: Option<Arc<ProjectMonitors>>) {
        let mut inner = self.inner();
        match rules {
            Some(r) => inner.rules.insert(project, r),
            None => inner.rules.remove(&project),
        };
    }

    /// Runs `source`'s monitors over one fetch's values.
    pub(crate) fn observe(
        &self,
        source: &Source,
        kind: RunKind,
        values: &BTreeMap<String, f64>,
        live: bool,
        now_ms: i64,
    ) -> Vec<Transition> {
        if !self.defaults.enabled {
            return Vec::new();
        }
        let mut inner = self.inner();
        let Inner { tracks, loaded, rules } = &mut *inner;
        let project = rules.get(&source.project_id).map_or(&*NO_RULES, |r| &**r);
        let rules = Rules { project, defaults: &self.defaults, platform: source.platform };
        let track = tracks.entry(source.id).or_insert_with(|| {
            let open = loaded.remove(&source.id).unwrap_or_default();
            Track::with_open(open.into_iter().map(|a| (a.key, OpenAlert { level: a.level })))
        });
        track.observe(&rules, kind == RunKind::Full, values, live, now_ms)
    }

    /// Alerts open on this node now (sources fetched since it started, and
    /// those loaded but not fetched yet).
    pub(crate) fn open_alerts(&self) -> usize {
        let inner = self.inner();
        inner.tracks.values().map(|t| t.open().len()).sum::<usize>()
            + inner.loaded.values().map(Vec::len).sum::<usize>()
    }
}

/// Whether standing still is news for `source` now: its campaign runs (or
/// its platform says nothing of campaigns).
pub(crate) fn live(phase: Option<Phase>) -> bool {
    phase.is_none_or(|p| p == Phase::Live)
}
