//! Reloading the settings while the node runs (SIGHUP, `POST
//! /api/v1/admin/reload`, the UI's Config page): the file and the
//! environment are read again and checked whole; an invalid configuration
//! is refused with the reason and the old one stays in force. Of a valid
//! one, what can change live is put in force at once — platform rates,
//! cadences, retention, webhooks' retries, monitors, restart limits, the
//! log level — and what only a restart changes (the database, the address,
//! the node's name, keys, ingestion, the archive) is reported as waiting
//! for one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::future::LocalBoxFuture;
use trawler_actors::{ActorsSettings, Tree};
use trawler_domain::settings::Section;
use trawler_domain::{now_millis, Platform};
use trawler_sources::SourcesSettings;
use trawler_web::views::{ConfigView, ReloadReport, SettingChange, SettingView};

use crate::config::{env_name, fields, origins, Invalid, NodeArgs, Settings};

/// The actors' settings that only a restart changes: what the tree builds
/// once (the node's name, ingestion and the spool, the archive, chunks, the
/// exchange rates' fetcher) and the shutdown's wait.
const RESTART_ONLY: &[&str] = &[
    "node_name",
    "shutdown_timeout",
    "exchange_rates",
    "exchange_rates_interval",
    "archive",
    "archive_max_age",
    "archive_project_bytes",
    "archive_total_bytes",
    "archive_polls_every",
    "chunk_span",
    "ingest_batch",
    "ingest_flush_interval",
    "spool_max_bytes",
];

/// Whether a reload changes `key` without a restart: the actors' settings
/// but those above, and the platforms' rates.
pub fn is_live(key: &str) -> bool {
    let actors = ActorsSettings::FIELDS.iter().any(|f| f.key == key) && !RESTART_ONLY.contains(&key);
    let rate = key.starts_with("rate_") && SourcesSettings::FIELDS.iter().any(|f| f.key == key);
    actors || rate
}

/// Where the settings come from.
pub struct Origins {
    /// The configuration file, if any.
    pub file: Option<PathBuf>,
    /// The flags and the environment.
    pub args: NodeArgs,
}

impl Origins {
    fn load(&self) -> Result<Settings, Invalid> {
        self.args.load(self.file.as_deref())
    }
}

/// What is in force.
struct InForce {
    /// Each setting as shown (secrets masked).
    shown: BTreeMap<&'static str, String>,
    /// Since when each is in force.
    since: BTreeMap<&'static str, i64>,
    /// Values waiting for a restart.
    pending: BTreeMap<&'static str, String>,
    origins: BTreeMap<&'static str, &'static str>,
    last: Option<ReloadReport>,
}

/// The node's reloader.
pub struct NodeReloader {
    origins: Origins,
    tree: Tree,
    /// Where a reload by signal is written down (the API's are by the API).
    pool: trawler_store::DbPool,
    cipher: Arc<trawler_store::Cipher>,
    spool_dir: Option<PathBuf>,
    started_at_ms: i64,
    state: Arc<Mutex<InForce>>,
}

fn shown(settings: &Settings) -> BTreeMap<&'static str, String> {
    fields().map(|f| (f.key, settings.show(f.key).unwrap_or_default())).collect()
}

impl NodeReloader {
    /// A reloader for a node started with `settings`, read from `origins`.
    pub fn new(
        origins: Origins,
        settings: &Settings,
        (tree, pool): (Tree, trawler_store::DbPool),
        cipher: Arc<trawler_store::Cipher>,
        spool_dir: Option<PathBuf>,
    ) -> NodeReloader {
        let now = now_millis();
        let shown = shown(settings);
        let state = InForce {
            since: shown.keys().map(|k| (*k, now)).collect(),
            shown,
            pending: BTreeMap::new(),
            origins: crate::config::origins(origins.file.as_deref(), &origins.args.given()),
            last: None,
        };
        NodeReloader { origins, tree, pool, cipher, spool_dir, started_at_ms: now, state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InForce> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads, checks and applies; the report says what happened.
    async fn apply(&self, by: &'static str) -> ReloadReport {
        let at_ms = now_millis();
        let refused = |error: String| ReloadReport {
            at_ms,
            by: by.to_owned(),
            ok: false,
            error: Some(error),
            applied: Vec::new(),
            needs_restart: Vec::new(),
        };
        let new = match self.origins.load() {
            Ok(new) => new,
            Err(e) => return refused(e.to_string()),
        };
        if let Err(e) = new.check() {
            return refused(e.to_string());
        }
        let now_shown = shown(&new);
        let (mut applied, mut needs_restart) = (Vec::new(), Vec::new());
        {
            let state = self.lock();
            for (key, to) in &now_shown {
                let from = state.shown.get(key).cloned().unwrap_or_default();
                if *to == from {
                    continue;
                }
                let change = SettingChange { key: (*key).to_owned(), from, to: to.clone() };
                if is_live(key) {
                    applied.push(change);
                } else {
                    needs_restart.push(change);
                }
            }
        }
        // Live now: the platforms' budgets, the actors' configuration, the log level.
        let sources = new.sources.config();
        let budgets: BTreeMap<Platform, f64> =
            Platform::ALL.into_iter().map(|p| (p, sources.gate(p).rate_per_sec)).collect();
        self.tree.adapters().gates().set_budgets(&budgets);
        let actors = new.actors.config(self.cipher.clone(), self.spool_dir.clone());
        if let Err(e) = self.tree.reconfigure(actors).await {
            return refused(format!("the actors could not take the new settings: {e}"));
        }
        crate::logs::set_level(new.actors.log_level.map(|l| l.0));
        let mut state = self.lock();
        for change in &applied {
            if let Some((key, value)) = now_shown.get_key_value(change.key.as_str()) {
                state.shown.insert(key, value.clone());
                state.since.insert(key, at_ms);
            }
        }
        state.pending = needs_restart
            .iter()
            .filter_map(|c| now_shown.get_key_value(c.key.as_str()).map(|(k, v)| (*k, v.clone())))
            .collect();
        state.origins = origins(self.origins.file.as_deref(), &self.origins.args.given());
        ReloadReport { at_ms, by: by.to_owned(), ok: true, error: None, applied, needs_restart }
    }
}

impl trawler_web::Reloader for NodeReloader {
    fn reload(&self, by: &'static str) -> LocalBoxFuture<'static, ReloadReport> {
        let this = NodeReloader {
            origins: Origins { file: self.origins.file.clone(), args: self.origins.args.clone() },
            tree: self.tree.clone(),
            pool: self.pool.clone(),
            cipher: self.cipher.clone(),
            spool_dir: self.spool_dir.clone(),
            started_at_ms: self.started_at_ms,
            state: self.state.clone(),
        };
        Box::pin(async move {
            let report = this.apply(by).await;
            match (&report.error, report.ok) {
                (Some(e), false) => log::warn!("reload ({by}) refused, the settings in force stay: {e}"),
                _ => log::info!(
                    "reload ({by}): {} applied{}{}",
                    report.applied.len(),
                    if report.applied.is_empty() { String::new() } else { format!(" ({})", keys(&report.applied)) },
                    if report.needs_restart.is_empty() {
                        String::new()
                    } else {
                        format!("; a restart puts in force {}", keys(&report.needs_restart))
                    }
                ),
            }
            this.lock().last = Some(report.clone());
            if by == "signal" {
                this.audit(&report).await;
            }
            report
        })
    }

    fn config(&self) -> ConfigView {
        let state = self.lock();
        let settings = fields()
            .map(|f| SettingView {
                key: f.key.to_owned(),
                env: env_name(f.key),
                value: state.shown.get(f.key).cloned().unwrap_or_default(),
                origin: state.origins.get(f.key).copied().unwrap_or("default").to_owned(),
                live: is_live(f.key),
                since_ms: state.since.get(f.key).copied().unwrap_or(self.started_at_ms),
                pending: state.pending.get(f.key).cloned(),
            })
            .collect();
        ConfigView {
            file: self.origins.file.as_ref().map(|p| p.display().to_string()),
            started_at_ms: self.started_at_ms,
            settings,
            last_reload: state.last.clone(),
        }
    }
}

impl NodeReloader {
    /// Writes a reload by signal in the audit log (SIGHUP has no user: the
    /// actor is `signal`).
    async fn audit(&self, report: &ReloadReport) {
        let entry = trawler_store::NewAudit {
            at_ms: report.at_ms,
            actor: "signal".into(),
            role: "admin".into(),
            action: "SIGHUP reload".into(),
            path: String::new(),
            status: if report.ok { 200 } else { 422 },
            projects: Vec::new(),
            detail: serde_json::to_value(report).ok(),
            remote: None,
        };
        let pool = self.pool.clone();
        let written = actix_web::web::block(move || {
            let mut conn = pool.get()?;
            trawler_store::AuditEntry::record(&mut conn, &entry)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            log::warn!("reload: the audit entry could not be written");
        }
    }
}

fn keys(changes: &[SettingChange]) -> String {
    changes.iter().map(|c| c.key.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_cadences_change_live_and_the_database_does_not() {
        for live in ["rate_kickstarter", "full_interval", "poll_interval", "retention", "log_level", "monitors"] {
            assert!(is_live(live), "{live}");
        }
        for restart in ["database_url", "bind", "node_name", "admin_token", "chunk_span", "http_timeout", "proxies"] {
            assert!(!is_live(restart), "{restart}");
        }
    }
}
