//! The monitors on the numbers as the tree runs them: one [`Track`] per
//! source, fed with each stored fetch's values; alerts that fire or recover
//! are stored (one open row per alert, so a restart or a second node does
//! not repeat one), published as `alert` events (SSE, webhooks) and
//! counted in the metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use trawler_domain::campaign::Phase;
use trawler_domain::monitor::{MonitorDefaults, OpenAlert, ProjectMonitors, Rules, Track, Transition};
use trawler_domain::{ProjectId, RunKind};
use trawler_store::{Alert, NewAlert, Source};

use crate::db::Exec;
use crate::deps::SharedDeps;
use crate::events::{AlertState, Event};

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

impl SharedDeps {
    /// Runs `source`'s monitors over values it just stored, and stores,
    /// announces and counts what fired or recovered.
    pub(crate) fn monitor(&self, source: &Source, kind: RunKind, values: &BTreeMap<String, f64>) {
        let phase = self.campaigns.current(source).map(|c| c.phase);
        let now_ms = self.clock.now_ms();
        let transitions = self.monitors.observe(source, kind, values, live(phase), now_ms);
        if transitions.is_empty() {
            return;
        }
        let (project_id, source_id, platform) = (source.project_id, source.id, source.platform);
        for t in &transitions {
            let state = if t.fired { AlertState::Fired } else { AlertState::Recovered };
            self.metrics.alert(t.key.monitor.as_str(), if t.fired { "fired" } else { "recovered" });
            log::info!(
                "project {project_id} {platform} {}: {} {} ({})",
                source.external_ref,
                t.key.monitor,
                if t.fired { "fired" } else { "recovered" },
                t.detail
            );
            self.events.publish(Event::Alert {
                project_id,
                source_id,
                platform,
                monitor: t.key.monitor,
                metric: t.key.metric.clone(),
                threshold: t.key.at.clone(),
                state,
                value: t.value,
                detail: t.detail.clone(),
                at_ms: now_ms,
            });
        }
        self.metrics.alerts_open.set(self.monitors.open_alerts() as i64);
        self.db.do_send(Exec(move |conn| {
            for t in transitions {
                let stored = if t.fired {
                    let alert = NewAlert {
                        project_id,
                        source_id,
                        platform,
                        key: t.key.clone(),
                        level: t.level,
                        value: t.value,
                        detail: t.detail.clone(),
                        at_ms: now_ms,
                    };
                    Alert::fire(conn, &alert)
                } else {
                    Alert::recover(conn, source_id, &t.key, t.value, &t.detail, now_ms)
                };
                if let Err(e) = stored {
                    log::warn!("project {project_id}: storing a {} alert failed: {e}", t.key.monitor);
                }
            }
            Ok(())
        }));
    }
}
