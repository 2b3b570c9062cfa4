//! The configuration in force, and reloads of it.

use serde::Serialize;
use utoipa::ToSchema;

/// One setting as the node runs with it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingView {
    /// Its key (the file's name; `TRAWLER_` and the key in capitals is its
    /// environment variable).
    pub key: String,
    /// Its environment variable.
    pub env: String,
    /// The value in force (secrets masked).
    pub value: String,
    /// Where it came from: `default`, `file`, `env` or `flag`.
    pub origin: String,
    /// Whether a reload changes it without a restart.
    pub live: bool,
    /// Since when the value is in force, epoch ms (the start, or the reload
    /// that changed it).
    pub since_ms: i64,
    /// A value the file or environment now gives that only a restart puts
    /// in force.
    pub pending: Option<String>,
}

/// A setting a reload changed, or would have.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingChange {
    /// Its key.
    pub key: String,
    /// The value before (secrets masked).
    pub from: String,
    /// The value after (secrets masked).
    pub to: String,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadReport {
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who asked: `signal` (SIGHUP) or `admin` (the API or the UI).
    pub by: String,
    /// Whether the new configuration was read and checked (when not, the
    /// old one stays in force whole).
    pub ok: bool,
    /// Why it was refused.
    pub error: Option<String>,
    /// Settings changed and in force now.
    pub applied: Vec<SettingChange>,
    /// Settings changed that only a restart puts in force (left as they were).
    pub needs_restart: Vec<SettingChange>,
}

/// `GET /api/v1/admin/config`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfigView {
    /// The configuration file read (with `--config` or `TRAWLER_CONFIG`).
    pub file: Option<String>,
    /// When the node started, epoch ms.
    pub started_at_ms: i64,
    /// Every setting.
    pub settings: Vec<SettingView>,
    /// The last reload, if any.
    pub last_reload: Option<ReloadReport>,
}
