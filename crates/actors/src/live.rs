//! The configuration in force, which a reload of the settings replaces
//! while the node runs: the actors that read a setting when they act
//! (the scrapers' cadences, the polls' plan, the restart limits, run
//! deadlines, monitors, webhooks' retries) read it from here each time, so
//! a reload reaches them at their next decision without a restart.

use std::sync::{Arc, RwLock};

use crate::ActorsConfig;

/// The configuration in force, shared.
#[derive(Clone)]
pub struct Live {
    inner: Arc<RwLock<Arc<ActorsConfig>>>,
}

impl Live {
    /// Starts with `config`.
    pub fn new(config: Arc<ActorsConfig>) -> Live {
        Live { inner: Arc::new(RwLock::new(config)) }
    }

    /// The configuration in force now.
    pub fn get(&self) -> Arc<ActorsConfig> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `config` in force.
    pub(crate) fn set(&self, config: Arc<ActorsConfig>) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = config;
    }
}
