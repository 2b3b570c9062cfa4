//! Reloading the settings without a restart: the node's binary knows how
//! to read them (file, environment, flags) and what each changes; the API
//! and the UI ask it through [`Reloader`].

use futures_util::future::LocalBoxFuture;

use crate::views::{ConfigView, ReloadReport};

/// The node's reloader (a node without one has nothing to reload: 409).
pub(crate) fn of(state: &crate::AppState) -> Result<std::sync::Arc<dyn Reloader>, crate::ApiError> {
    state.reloader.clone().ok_or_else(|| crate::ApiError::Conflict("this node has no settings to reload".into()))
}

/// Reads the settings again and puts what can change live in force.
pub trait Reloader: Send + Sync {
    /// Re-reads the file and the environment; an invalid configuration is
    /// refused whole (the report says why) and the old one stays.
    /// `by`: `signal` or `admin`.
    fn reload(&self, by: &'static str) -> LocalBoxFuture<'static, ReloadReport>;

    /// The settings in force, where each came from and since when.
    fn config(&self) -> ConfigView;
}
