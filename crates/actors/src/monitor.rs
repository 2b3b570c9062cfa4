//! The monitors on the numbers as the tree runs them: one [`Track`] per
//! source, fed with each stored fetch's values (see `SharedDeps::monitor`,
//! which stores, announces and counts what fires or recovers).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use trawler_domain::campaign::Phase;
use trawler_domain::monitor::{AlertKey, MonitorDefaults, OpenAlert, ProjectMonitors, Rules, Track, Transition};
use trawler_domain::{ProjectId, RunKind};
use trawler_store::{Alert, Source};

/// Every source's monitor state on this node.
pub(crate) struct MonitorBook {
    /// The rules of projects without their own (a reload replaces them).
    defaults: std::sync::RwLock<Arc<MonitorDefaults>>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each source's track, with its platform.
    tracks: HashMap<i64, (trawler_domain::Platform, Track)>,
    /// Alerts open when the node started (or when a source's track was
    /// dropped), by source, until its next fetch.
    loaded: HashMap<i64, Vec<(AlertKey, OpenAlert)>>,
    /// Each project's own rules (none: the defaults).
    rules: HashMap<ProjectId, Arc<ProjectMonitors>>,
}

/// The rules of a project without its own.
static NO_RULES: std::sync::LazyLock<ProjectMonitors> = std::sync::LazyLock::new(ProjectMonitors::default);

impl MonitorBook {
    pub(crate) fn new(defaults: MonitorDefaults) -> MonitorBook {
        MonitorBook { defaults: std::sync::RwLock::new(Arc::new(defaults)), inner: Mutex::default() }
    }

    /// Puts new defaults in force (a reload): each source's next fetch
    /// is judged by them; what is open stays open until they say otherwise.
    pub(crate) fn set_defaults(&self, defaults: MonitorDefaults) {
        *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(defaults);
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in the alerts open in the database (at start).
    pub(crate) fn load(&self, alerts: Vec<Alert>) {
        let mut inner = self.inner();
        for alert in alerts {
            inner.loaded.entry(alert.source_id).or_default().push((alert.key, OpenAlert { level: alert.level }));
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
        let defaults = self.defaults.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !defaults.enabled {
            return Vec::new();
        }
        let mut inner = self.inner();
        let Inner { tracks, loaded, rules } = &mut *inner;
        let project = rules.get(&source.project_id).map_or(&*NO_RULES, |r| &**r);
        let rules = Rules { project, defaults: &defaults, platform: source.platform };
        let (_, track) = tracks.entry(source.id).or_insert_with(|| {
            let open = loaded.remove(&source.id).unwrap_or_default();
            (source.platform, Track::with_open(open))
        });
        track.observe(&rules, kind == RunKind::Full, values, live, now_ms)
    }

    /// Alerts open on this node now (sources fetched since it started, and
    /// those loaded but not fetched yet).
    pub(crate) fn open_alerts(&self) -> usize {
        let inner = self.inner();
        inner.tracks.values().map(|(_, t)| t.open().len()).sum::<usize>()
            + inner.loaded.values().map(Vec::len).sum::<usize>()
    }

    /// Forgets the tracks of `platform`'s sources that are no longer active
    /// (archived, ended, removed): a node keeps only what it may fetch.
    pub(crate) fn retain(&self, platform: trawler_domain::Platform, active: &std::collections::HashSet<i64>) {
        let mut inner = self.inner();
        let Inner { tracks, loaded, .. } = &mut *inner;
        tracks.retain(|id, (p, track)| {
            let keep = *p != platform || active.contains(id);
            if !keep && !track.open().is_empty() {
                // Still open in the database: not raised again if it comes back.
                loaded.insert(*id, track.open().iter().map(|(k, a)| (k.clone(), a.clone())).collect());
            }
            keep
        });
    }
}

/// Whether standing still is news for `source` now: its campaign runs (or
/// its platform says nothing of campaigns).
pub(crate) fn live(phase: Option<Phase>) -> bool {
    phase.is_none_or(|p| p == Phase::Live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain::Platform;

    fn source() -> Source {
        Source {
            id: 7,
            project_id: ProjectId(1),
            platform: Platform::Kickstarter,
            external_ref: "a/b".into(),
            options: Arc::new(serde_json::json!({})),
            secret: None,
            created_at_ms: 0,
            campaign: None,
        }
    }

    fn values(backers: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("backers".to_owned(), backers)])
    }

    #[test]
    fn an_alert_open_when_a_source_leaves_is_not_raised_again_when_it_comes_back() {
        let book = MonitorBook::new(MonitorDefaults::default());
        let s = source();
        assert!(book.observe(&s, RunKind::Poll, &values(100.0), true, 0).is_empty());
        let jumped = book.observe(&s, RunKind::Poll, &values(5_000.0), true, 1);
        assert_eq!(jumped.len(), 1);
        // The project is archived: its track goes, its open alert is kept.
        book.retain(Platform::Kickstarter, &Default::default());
        assert_eq!(book.open_alerts(), 1);
        // Back, and still far from where it was: not raised a second time.
        assert!(book.observe(&s, RunKind::Poll, &values(100.0), true, 2).is_empty());
        assert!(book.observe(&s, RunKind::Poll, &values(5_000.0), true, 3).is_empty());
        // Another platform's sources are not touched.
        book.retain(Platform::MetaAds, &Default::default());
        assert_eq!(book.open_alerts(), 1);
    }
}
