//! The supervision tree, as `/admin/actors` shows it.

use serde::Serialize;
use trawler_actors as actors;
use utoipa::ToSchema;

use super::wire::{mirror_enum, Platform};

/// The whole tree at one moment.
#[derive(Serialize, ToSchema)]
pub struct TreeSnapshot {
    /// The node it describes (`TRAWLER_NODE_NAME`).
    pub node: String,
    /// When it was taken, epoch ms.
    pub taken_at_ms: i64,
    /// The supervisor, registry and ingest actor, then sources, then scrapers by project.
    pub actors: Vec<ActorInfo>,
}

impl From<actors::TreeSnapshot> for TreeSnapshot {
    fn from(t: actors::TreeSnapshot) -> TreeSnapshot {
        let actors::TreeSnapshot { node, taken_at_ms, actors } = t;
        TreeSnapshot { node, taken_at_ms, actors: actors.into_iter().map(ActorInfo::from).collect() }
    }
}

mirror_enum!(
    /// An actor's status.
    ActorStatus = actors::ActorStatus {
        /// Running and waiting for work.
        Idle,
        /// Starting up (loading its state).
        Starting,
        /// Fetching from a platform.
        Scraping,
        /// Writing to the database.
        Flushing,
        /// Waiting before a retry (database or platform down).
        BackingOff,
        /// Running (for actors without finer states).
        Running,
        /// Stopped after crashing too often; waits for an admin to resume it.
        Quarantined,
    }
);

/// One actor in the tree.
#[derive(Serialize, ToSchema)]
pub struct ActorInfo {
    /// `supervisor`, `registry`, `ingest`, `source` or `scraper`.
    pub kind: &'static str,
    /// A readable name (`scraper:42`, `source:kickstarter`).
    pub name: String,
    /// The project, for scrapers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<i64>,
    /// The platform, for source actors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Its status now.
    pub status: ActorStatus,
    /// When its last run started, epoch ms.
    pub last_run_ms: Option<i64>,
    /// When its next run is due, epoch ms.
    pub next_run_ms: Option<i64>,
    /// Times the supervisor restarted it.
    pub restarts: u32,
    /// Requests waiting in its mailbox or in hand, where counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<usize>,
    /// The last error it saw.
    pub last_error: Option<String>,
    /// Kind-specific figures (buffer sizes, counters).
    #[schema(value_type = Option<Object>)]
    pub detail: serde_json::Value,
}

impl From<actors::ActorInfo> for ActorInfo {
    fn from(a: actors::ActorInfo) -> ActorInfo {
        let actors::ActorInfo {
            kind,
            name,
            project_id,
            platform,
            status,
            last_run_ms,
            next_run_ms,
            restarts,
            mailbox,
            last_error,
            detail,
        } = a;
        ActorInfo {
            kind,
            name,
            project_id: project_id.map(|p| p.0),
            platform: platform.map(Platform::from),
            status: status.into(),
            last_run_ms,
            next_run_ms,
            restarts,
            mailbox,
            last_error,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_domain as domain;

    /// `/admin/actors?node=` relays another node's snapshot as that node's
    /// actors serialised it; it must read the same as this node's answer.
    #[test]
    fn a_relayed_snapshot_has_the_shape_of_a_local_one() {
        let mut scraper = actors::ActorInfo::new("scraper", "scraper:7".into(), actors::ActorStatus::BackingOff);
        scraper.project_id = Some(domain::ProjectId(7));
        scraper.last_run_ms = Some(1_000);
        scraper.restarts = 2;
        scraper.last_error = Some("timeout".into());
        let mut source = actors::ActorInfo::new("source", "source:meta_ads".into(), actors::ActorStatus::Idle);
        source.platform = Some(domain::Platform::MetaAds);
        source.mailbox = Some(3);
        source.detail = serde_json::json!({"in_flight": 1});
        let snapshot = actors::TreeSnapshot { node: "a".into(), taken_at_ms: 5, actors: vec![scraper, source] };
        let relayed = serde_json::to_value(&snapshot).expect("serialises");
        let local = serde_json::to_value(TreeSnapshot::from(snapshot)).expect("serialises");
        assert_eq!(relayed, local);
        assert_eq!(local["actors"][0]["status"], "backing_off");
        assert_eq!(local["actors"][1]["platform"], "meta_ads");
    }
}
