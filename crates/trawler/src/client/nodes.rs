//! `trawler actors`, `trawler cluster` and `trawler runs`: what a node runs.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::*;

/// `trawler actors`
#[derive(Args, Clone, Debug)]
pub struct ActorsArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Another node of the cluster, whose tree the node asked fetches.
    #[arg(long)]
    pub node: Option<String>,
}

/// `trawler cluster`
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub remote: Remote,
}

/// `trawler runs`
#[derive(Args, Clone, Debug)]
pub struct RunsArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Outcomes, comma-separated: running, succeeded, partial, failed, cancelled, aborted.
    #[arg(long)]
    pub status: Option<String>,
    /// Platforms, comma-separated: runs of projects with a source on one of them.
    #[arg(long)]
    pub platform: Option<String>,
    /// Nodes, comma-separated.
    #[arg(long)]
    pub node: Option<String>,
    /// Project ids, comma-separated.
    #[arg(long)]
    pub project: Option<String>,
    /// Started at or after: a date (YYYY-MM-DD, UTC) or epoch seconds.
    #[arg(long)]
    pub from: Option<String>,
    /// Started before: a date (counted whole) or epoch seconds.
    #[arg(long)]
    pub to: Option<String>,
    /// Most runs to list (1 to 500).
    #[arg(long, default_value = "50")]
    pub limit: u32,
    #[command(subcommand)]
    pub action: Option<RunsAction>,
}

/// What `trawler runs` does besides listing.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum RunsAction {
    /// Print a run's log as it is written, until the run ends.
    Follow(FollowArgs),
}

/// `trawler runs follow ID`
#[derive(Args, Clone, Debug)]
pub struct FollowArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The run.
    pub id: i64,
}

pub(super) fn ago(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else {
        return "-".into();
    };
    let delta = (trawler_domain::now_millis() - ms) / 1000;
    if delta >= 0 {
        format!("{delta}s ago")
    } else {
        format!("in {}s", -delta)
    }
}

/// `trawler actors`: the supervision tree as a tree.
pub fn actors(args: ActorsArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    let path = match &args.node {
        Some(node) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("node", node).finish();
            format!("/api/v1/admin/actors?{query}")
        }
        None => "/api/v1/admin/actors".to_owned(),
    };
    let tree = api.get(&path)?;
    let actors = tree["actors"].as_array().cloned().unwrap_or_default();
    let line = |a: &Value| {
        let mut parts =
            vec![format!("{:<22} {}", a["name"].as_str().unwrap_or("?"), a["status"].as_str().unwrap_or("?"))];
        if !a["last_run_ms"].is_null() {
            parts.push(format!("last {}", ago(&a["last_run_ms"])));
        }
        if !a["next_run_ms"].is_null() {
            parts.push(format!("next {}", ago(&a["next_run_ms"])));
        }
        if a["restarts"].as_u64().unwrap_or(0) > 0 {
            parts.push(format!("restarts {}", a["restarts"]));
        }
        if let Some(m) = a["mailbox"].as_u64() {
            parts.push(format!("mailbox {m}"));
        }
        if let Some(e) = a["last_error"].as_str() {
            parts.push(format!("error: {e}"));
        }
        parts.join("  ")
    };
    out!("System (node {})", tree["node"].as_str().unwrap_or("?"));
    let (scrapers, others): (Vec<&Value>, Vec<&Value>) = actors.iter().partition(|a| a["kind"] == "scraper");
    for a in others.iter().filter(|a| a["kind"] != "supervisor") {
        out!("├── {}", line(a));
    }
    if let Some(sup) = others.iter().find(|a| a["kind"] == "supervisor") {
        out!("└── {}", line(sup));
        for (i, a) in scrapers.iter().enumerate() {
            let branch = if i + 1 == scrapers.len() { "└──" } else { "├──" };
            out!("    {branch} {}", line(a));
        }
    }
    Ok(())
}

/// Prints the nodes on the node's database: liveness, heartbeat, version
/// and the projects each one leases.
pub fn cluster(args: ClusterArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    let c = api.get("/api/v1/admin/cluster")?;
    let backend = c["backend"].as_str().unwrap_or("?");
    let active = c["active_projects"].as_i64().unwrap_or(0);
    out!(
        "{backend}, {} of {active} active projects leased (answered by {})",
        c["leased"].as_i64().unwrap_or(0),
        c["node"].as_str().unwrap_or("?")
    );
    out!("{:<20} {:<8} {:<16} {:<10} {:>8}  share", "NODE", "STATE", "HEARTBEAT", "VERSION", "LEASES");
    for n in c["nodes"].as_array().into_iter().flatten() {
        let state = if n["alive"] == true {
            "alive"
        } else if n["stopped_at_ms"].is_i64() {
            "stopped"
        } else {
            "gone"
        };
        let leases = n["leases"].as_i64().unwrap_or(0);
        let width = if active > 0 { (leases * 30 + active / 2) / active } else { 0 } as usize;
        out!(
            "{:<20} {:<8} {:<16} {:<10} {:>8}  {}",
            n["name"].as_str().unwrap_or("?"),
            state,
            ago(&n["heartbeat_at_ms"]),
            n["version"].as_str().unwrap_or("?"),
            leases,
            "█".repeat(width)
        );
    }
    let co = &c["coordinator"];
    if co["leases"] == true {
        out!(
            "this node: {} live nodes, fair share {}, holds {} (taken {}, handed back {}, lost {})",
            co["nodes_alive"],
            co["fair_share"],
            co["held"],
            co["acquired_total"],
            co["released_total"],
            co["lost_total"]
        );
    }
    Ok(())
}

/// `trawler runs`: every project's runs, newest first, filtered.
pub fn runs(args: RunsArgs) -> Result<()> {
    if let Some(RunsAction::Follow(follow)) = args.action {
        return super::follow::follow(&follow.remote, follow.id);
    }
    let api = Api::new(&args.remote)?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("status", &args.status),
        ("platform", &args.platform),
        ("node", &args.node),
        ("project", &args.project),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        if let Some(v) = value {
            query.append_pair(key, v);
        }
    }
    query.append_pair("limit", &args.limit.to_string());
    let body = api.get(&format!("/api/v1/runs?{}", query.finish()))?;
    let runs = body["runs"].as_array().cloned().unwrap_or_default();
    out!(
        "{:>7}  {:>7}  {:<10}  {:<9}  {:<12}  {:<19}  error",
        "run",
        "project",
        "outcome",
        "trigger",
        "node",
        "started"
    );
    for r in &runs {
        let started = r["started_at_ms"].as_i64().map_or("?".into(), trawler_domain::time::display_ms);
        out!(
            "{:>7}  {:>7}  {:<10}  {:<9}  {:<12}  {:<19}  {}",
            r["id"].as_i64().unwrap_or_default(),
            r["project_id"].as_i64().unwrap_or_default(),
            r["status"].as_str().unwrap_or("?"),
            r["triggered_by"].as_str().unwrap_or("?"),
            r["node"].as_str().unwrap_or(""),
            started,
            r["error"].as_str().unwrap_or("")
        );
    }
    out!(
        "{} runs{}",
        runs.len(),
        if body["next"].is_string() { " (more: raise --limit or narrow the filters)" } else { "" }
    );
    Ok(())
}
