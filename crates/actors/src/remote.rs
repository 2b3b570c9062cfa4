//! Requests one node forwards to the node that runs a project (cluster
//! mode), through the `commands` table: what the outcome of each looks like
//! on the wire, and the error codes, written once for both ends.
//!
//! An outcome is a short JSON text: `{"run_id": N}`, `{"ok": true}`, a
//! supervision tree, or `{"error": CODE, "message": TEXT?}`.

use std::future::Future;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use trawler_domain::{ProjectId, RunId};
use trawler_store::{Command, CommandKind};

use crate::db::{DbExecutor, Exec};
use crate::error::ActorError;

/// How long a node waits for the node running a project to carry out a
/// request it forwarded.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// How often a node looks for commands queued for it.
const POLL: Duration = Duration::from_millis(100);

/// How often a sender looks for its command's outcome.
const ANSWER_POLL: Duration = Duration::from_millis(25);

/// Why a forwarded request was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Code {
    /// The project does not exist.
    NotFound,
    /// The project is archived.
    Archived,
    /// The project is quarantined.
    Quarantined,
    /// The project's scraper is restarting.
    NotRunning,
    /// The run is not in progress.
    RunNotRunning,
    /// The command waited longer than its sender would (set by the store).
    Stale,
    /// The node it was for is gone (set by the store).
    NodeGone,
    /// Anything else; the message says what.
    #[serde(other)]
    Failed,
}

/// A forwarded request's outcome, as stored in the command's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Outcome {
    /// Not carried out.
    Failed {
        /// Why.
        error: Code,
        /// Details, for `Code::Failed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A full scrape runs (started, or joined).
    Run {
        /// Its run.
        run_id: i64,
    },
    /// Done.
    Done {
        /// Always true.
        ok: bool,
    },
    /// The node's supervision tree.
    Snapshot(serde_json::Value),
}

impl Outcome {
    /// The outcome of a request that failed with `e`.
    pub(crate) fn failed(e: &ActorError) -> Outcome {
        let error = match e {
            ActorError::NotFound => Code::NotFound,
            ActorError::Archived => Code::Archived,
            ActorError::Quarantined => Code::Quarantined,
            ActorError::NotRunning => Code::NotRunning,
            ActorError::RunNotRunning => Code::RunNotRunning,
            _ => return Outcome::Failed { error: Code::Failed, message: Some(e.to_string()) },
        };
        Outcome::Failed { error, message: None }
    }

    /// The outcome of a request's result.
    pub(crate) fn of(result: Result<Outcome, ActorError>) -> Outcome {
        result.unwrap_or_else(|e| Outcome::failed(&e))
    }

    /// Reads a stored outcome; text that is not JSON is a failure.
    pub(crate) fn parse(text: &str) -> Outcome {
        serde_json::from_str(text).unwrap_or_else(|e| Outcome::Failed {
            error: Code::Failed,
            message: Some(format!("unreadable outcome: {e}")),
        })
    }

    /// The stored text.
    pub(crate) fn to_text(&self) -> String {
        // Serialising these plain shapes cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"error":"failed"}"#.to_owned())
    }

    /// The error the asking node reports, or the outcome.
    pub(crate) fn into_result(self) -> Result<Outcome, ActorError> {
        let Outcome::Failed { error, message } = self else {
            return Ok(self);
        };
        Err(match error {
            Code::NotFound => ActorError::NotFound,
            Code::Archived => ActorError::Archived,
            Code::Quarantined => ActorError::Quarantined,
            Code::NotRunning => ActorError::NotRunning,
            Code::RunNotRunning => ActorError::RunNotRunning,
            Code::Stale => ActorError::Remote("the request waited too long and was dropped".into()),
            Code::NodeGone => ActorError::Remote("the node stopped before carrying it out".into()),
            Code::Failed => ActorError::Remote(message.unwrap_or_else(|| "failed".into())),
        })
    }
}

/// Queues `kind` for node process `to` (name, instance) and waits for its
/// outcome, up to [`TIMEOUT`].
pub(crate) async fn ask(
    db: &Addr<DbExecutor>,
    to: (String, String),
    project: ProjectId,
    kind: CommandKind,
    run: Option<RunId>,
) -> Result<Outcome, ActorError> {
    let (node, instance) = to;
    let id = db.send(Exec(move |conn| Command::queue(conn, &node, &instance, project, kind, run))).await??;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        tokio::time::sleep(ANSWER_POLL).await;
        if let Some(text) = db.send(Exec(move |conn| Command::outcome(conn, id))).await?? {
            return Outcome::parse(&text).into_result();
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ActorError::Remote(format!("no answer within {TIMEOUT:?}")));
        }
    }
}

/// Carries out, for ever, the commands other nodes queue for this node
/// process, with `carry_out`.
pub(crate) async fn serve<F, Fut>(db: Addr<DbExecutor>, node: String, instance: String, carry_out: F)
where
    F: Fn(Command) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL).await;
        let (n, i) = (node.clone(), instance.clone());
        let max_age = TIMEOUT.as_millis() as i64;
        let pending = match db.send(Exec(move |conn| Command::pending(conn, &n, &i, max_age))).await {
            Ok(Ok(p)) => {
                failing = false;
                p
            }
            other => {
                if !failing {
                    log::warn!("node {node}: reading commands failed: {other:?}");
                }
                failing = true;
                continue;
            }
        };
        for command in pending {
            let id = command.id;
            let outcome = carry_out(command).await.to_text();
            let done = db
                .send(Exec(move |conn| {
                    let now = trawler_store::Node::clock(conn)?;
                    Command::finish(conn, id, &outcome, now)
                }))
                .await;
            if !matches!(done, Ok(Ok(()))) {
                log::warn!("node {node}: recording command {id}'s outcome failed: {done:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_back_as_written_and_errors_keep_their_meaning() {
        for outcome in [
            Outcome::Run { run_id: 7 },
            Outcome::Done { ok: true },
            Outcome::failed(&ActorError::Archived),
            Outcome::failed(&ActorError::RunNotRunning),
            Outcome::failed(&ActorError::Remote("disk full".into())),
            Outcome::Snapshot(serde_json::json!({"node": "b", "actors": []})),
        ] {
            assert_eq!(Outcome::parse(&outcome.to_text()), outcome);
        }
        assert_eq!(Outcome::Run { run_id: 7 }.to_text(), r#"{"run_id":7}"#);
        assert_eq!(Outcome::failed(&ActorError::Quarantined).to_text(), r#"{"error":"quarantined"}"#);
        assert!(matches!(Outcome::parse(r#"{"error":"archived"}"#).into_result(), Err(ActorError::Archived)));
        assert!(matches!(Outcome::parse(r#"{"error":"not_found"}"#).into_result(), Err(ActorError::NotFound)));
        assert!(matches!(Outcome::parse(r#"{"error":"not_running"}"#).into_result(), Err(ActorError::NotRunning)));
        // Written by the store when a command expires.
        let stale = Outcome::parse(r#"{"error":"stale"}"#).into_result();
        assert!(matches!(&stale, Err(ActorError::Remote(m)) if m.contains("too long")), "{stale:?}");
        let gone = Outcome::parse(r#"{"error":"node_gone"}"#).into_result();
        assert!(matches!(&gone, Err(ActorError::Remote(m)) if m.contains("stopped")), "{gone:?}");
        // A code this version does not know, from a newer node.
        let unknown = Outcome::parse(r#"{"error":"shiny_new","message":"why"}"#).into_result();
        assert!(matches!(&unknown, Err(ActorError::Remote(m)) if m == "why"), "{unknown:?}");
        assert!(matches!(Outcome::parse("not json").into_result(), Err(ActorError::Remote(_))));
    }
}
