//! Which projects this node runs: all of them outside cluster mode, those
//! it holds leases for in cluster mode.

use std::collections::HashSet;
use std::sync::RwLock;

use trawler_domain::ProjectId;

/// Which projects this node runs. Outside cluster mode, all of them.
pub(crate) struct Ownership {
    cluster: bool,
    owned: RwLock<HashSet<ProjectId>>,
}

impl Ownership {
    pub(crate) fn new(cluster: bool) -> Ownership {
        Ownership { cluster, owned: RwLock::default() }
    }

    /// Whether projects are shared out by leases.
    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<ProjectId>> {
        self.owned.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<ProjectId>> {
        self.owned.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this node runs `project`.
    pub(crate) fn owns(&self, project: ProjectId) -> bool {
        !self.cluster || self.read().contains(&project)
    }

    pub(crate) fn add(&self, projects: &[ProjectId]) {
        self.write().extend(projects.iter().copied());
    }

    pub(crate) fn remove(&self, projects: &[ProjectId]) {
        let mut owned = self.write();
        for p in projects {
            owned.remove(p);
        }
    }

    pub(crate) fn owned(&self) -> Vec<ProjectId> {
        let mut all: Vec<ProjectId> = self.read().iter().copied().collect();
        all.sort();
        all
    }

    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }
}
