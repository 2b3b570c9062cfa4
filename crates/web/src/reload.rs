//! Reloading the settings without a restart: the node's binary knows how
//! to read them (file, environment, flags) and what each changes; the API
//! and the UI ask it through [`Reloader`].

use futures_util::future::LocalBoxFuture;

use crate::views::{ConfigView, ReloadReport};

/// Reads the settings again and puts what can change live in force.
pub trait Reloader: Send + Sync {
    /// Re-reads the file and the environment; an invalid configuration is
    /// refused whole (the report says why) and the old one stays.
    /// `by`: `signal` or `admin`.
    fn reload(&self, by: &'static str) -> LocalBoxFuture<'static, ReloadReport>;

    /// The settings in force, where each came from and since when.
    fn config(&self) -> ConfigView;
}
