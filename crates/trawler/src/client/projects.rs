//! `trawler projects …`: list, add, edit, scrape, archive, resume, bulk.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::time::Duration;

use super::*;

/// Pauses or resumes a project's schedule.
fn pause(api: &Api, id: i64, paused: bool) -> Result<()> {
    let resp = api.client.patch(format!("{}/api/v1/projects/{id}", api.base)).json(&json!({ "paused": paused }));
    let p = api.call(resp)?;
    let schedule = if p["paused"] == true { "paused" } else { "running" };
    out!("project {id} is {}, its schedule {schedule}", p["status"].as_str().unwrap_or("?"));
    Ok(())
}

/// `trawler projects …`
#[derive(Args, Clone, Debug)]
pub struct ProjectsArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub what: ProjectsCommand,
}

/// What to do with projects.
#[derive(Subcommand, Clone, Debug)]
pub enum ProjectsCommand {
    /// List projects.
    List {
        /// `active`, `archived`, `quarantined` or `all`.
        #[arg(long, default_value = "all")]
        status: String,
        /// Only projects with this label: `client=acme` (that value) or
        /// `client` (any value); repeatable, every one must match.
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Create or update projects from a file, by their `external_key`:
    /// JSON lines (`{"external_key", "name", "sources", "labels"}`) or CSV
    /// (`external_key,name,sources,labels`). Importing the same file again
    /// changes nothing; each line is reported created, updated, unchanged
    /// or refused (and why).
    Import {
        /// The file.
        file: std::path::PathBuf,
        /// `csv` or `jsonl` (default: from the file name, else jsonl).
        #[arg(long, value_parser = ["csv", "jsonl"])]
        format: Option<String>,
    },
    /// Set labels on a project (`key=value`), or remove them (`key=`).
    Label {
        /// The project id.
        id: i64,
        /// `key=value` or `key=`.
        #[arg(required = true)]
        labels: Vec<String>,
    },
    /// Add a project.
    Add {
        /// Its name.
        #[arg(long)]
        name: String,
        /// A source as `platform:external_ref` (repeatable), e.g. `kickstarter:studio/lamp`.
        #[arg(long = "source")]
        sources: Vec<String>,
        /// A source as the API's JSON object (repeatable), for options and secrets.
        #[arg(long = "source-json")]
        sources_json: Vec<String>,
    },
    /// Archive a project (stop scraping it for good).
    Archive {
        /// The project id.
        id: i64,
    },
    /// Resume a quarantined, ended or archived project.
    Resume {
        /// The project id.
        id: i64,
    },
    /// Pause a project's schedule: it stays active (its data is served,
    /// `scrape` scrapes it) but nothing scrapes or polls it on a schedule.
    Pause {
        /// The project id.
        id: i64,
    },
    /// Resume a paused schedule.
    Unpause {
        /// The project id.
        id: i64,
    },
    /// Set a project's own cadences (`--full`, `--poll` or both).
    #[command(group(clap::ArgGroup::new("cadence").required(true).multiple(true).args(["full", "poll"])))]
    Cadence {
        /// The project id.
        id: i64,
        /// Its full-scrape interval (`2h`, `90m`), `manual` (scraped only
        /// when triggered) or `default` (the node's setting).
        #[arg(long)]
        full: Option<String>,
        /// Its poll interval (`30s`, `1m`), `manual` (no polls) or
        /// `default` (the node's setting).
        #[arg(long)]
        poll: Option<String>,
    },
    /// Apply one action to many projects: `trigger`, `resume`, `archive`,
    /// `pause`, `unpause` or `cadence` (with `--full`, `--poll` or both);
    /// projects the action does not fit are skipped and listed with why.
    /// Given ids, to those; given `--filter`, to every project it matches,
    /// as a job on the node followed with a progress bar.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "filter"])))]
    Bulk {
        /// `trigger`, `resume`, `archive`, `pause`, `unpause` or `cadence`.
        action: String,
        /// The full-scrape interval of `cadence` (`2h`, `manual`, `default`).
        #[arg(long)]
        full: Option<String>,
        /// The poll interval of `cadence` (`1m`, `manual`, `default`).
        #[arg(long)]
        poll: Option<String>,
        /// The labels of `label`: `wave=spring,old=` (an empty value removes).
        #[arg(long)]
        labels: Option<String>,
        /// Project ids.
        ids: Vec<i64>,
        /// Every project this filter matches, written as the UI's URL
        /// writes it: `last=failed&platform=kickstarter`, `status=active`,
        /// `q=lamp` (an empty filter: every project).
        #[arg(long)]
        filter: Option<String>,
        /// The filter is the runs page's (`status=failed&node=n1`): act on
        /// the projects of the runs it matches.
        #[arg(long, requires = "filter")]
        runs: bool,
        /// Act without asking how many (needed when not on a terminal).
        #[arg(long, short = 'y', requires = "filter")]
        yes: bool,
        /// Only count the matches.
        #[arg(long, requires = "filter")]
        dry_run: bool,
        /// Start the job and return (`trawler jobs show ID` follows it).
        #[arg(long, requires = "filter")]
        no_wait: bool,
    },
    /// List a project's monitor alerts (the open ones; `--all`: every one
    /// kept, recovered too).
    Alerts {
        /// The project id.
        id: i64,
        /// Recovered alerts too.
        #[arg(long)]
        all: bool,
    },
    /// Show a project's monitor rules and silenced monitors, or replace
    /// them (`--set '{"rules": [...], "silenced": [...]}'`).
    Monitors {
        /// The project id.
        id: i64,
        /// The new rules and silenced monitors, as JSON.
        #[arg(long)]
        set: Option<String>,
    },
    /// Silence one monitor of a project (`stale`, `drop`, `jump`, `missing`
    /// or `milestone`): it raises nothing for it.
    Silence {
        /// The project id.
        id: i64,
        /// The monitor.
        monitor: String,
    },
    /// Let a silenced monitor raise alerts again.
    Unsilence {
        /// The project id.
        id: i64,
        /// The monitor.
        monitor: String,
    },
    /// Scrape a project now and wait for the run to finish.
    Scrape {
        /// The project id.
        id: i64,
        /// Return at once instead of waiting for the run.
        #[arg(long)]
        no_wait: bool,
    },
}

pub(super) fn sources_line(project: &Value) -> String {
    project["sources"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|x| {
                    format!("{}:{}", x["platform"].as_str().unwrap_or("?"), x["external_ref"].as_str().unwrap_or("?"))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `trawler projects …`
pub fn projects(args: ProjectsArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    match args.what {
        ProjectsCommand::Import { file, format } => super::labels::import(&api, &file, format.as_deref())?,
        ProjectsCommand::Label { id, labels } => super::labels::label(&api, id, &labels)?,
        ProjectsCommand::List { status, labels } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("status", &status);
            if !labels.is_empty() {
                query.append_pair("label", &labels.join(","));
            }
            let body = api.get(&format!("/api/v1/projects?{}", query.finish()))?;
            let projects = body["projects"].as_array().cloned().unwrap_or_default();
            out!("{:>6}  {:<11}  {:<28}  sources", "id", "status", "name");
            for p in &projects {
                out!(
                    "{:>6}  {:<11}  {:<28}  {}{}",
                    p["id"],
                    p["status"].as_str().unwrap_or("?"),
                    p["name"].as_str().unwrap_or("?"),
                    sources_line(p),
                    match super::labels::labels_line(p).as_str() {
                        "no labels" => String::new(),
                        labels => format!("  [{labels}]"),
                    }
                );
            }
            out!("{} projects", projects.len());
        }
        ProjectsCommand::Add { name, sources, sources_json } => {
            let mut list = Vec::new();
            for s in &sources {
                let Some((platform, reference)) = s.split_once(':') else {
                    bail!("--source `{s}` is not platform:external_ref");
                };
                list.push(json!({"platform": platform, "external_ref": reference}));
            }
            for s in &sources_json {
                list.push(
                    serde_json::from_str::<Value>(s).with_context(|| format!("--source-json `{s}` is not JSON"))?,
                );
            }
            let p = api.post("/api/v1/projects", Some(json!({"name": name, "sources": list})))?;
            out!("added project {} ({}): {}", p["id"], p["name"].as_str().unwrap_or("?"), sources_line(&p));
        }
        ProjectsCommand::Archive { id } => {
            let resp = api.client.delete(format!("{}/api/v1/projects/{id}", api.base));
            let p = api.call(resp)?;
            out!("project {id} is {}", p["status"].as_str().unwrap_or("?"));
        }
        ProjectsCommand::Resume { id } => {
            let p = api.post(&format!("/api/v1/projects/{id}/resume"), None)?;
            out!("project {id} is {}", p["status"].as_str().unwrap_or("?"));
        }
        ProjectsCommand::Alerts { id, all } => super::monitors::alerts(&api, id, all)?,
        ProjectsCommand::Monitors { id, set } => super::monitors::monitors(&api, id, set)?,
        ProjectsCommand::Silence { id, monitor } => super::monitors::silence(&api, id, &monitor, true)?,
        ProjectsCommand::Unsilence { id, monitor } => super::monitors::silence(&api, id, &monitor, false)?,
        ProjectsCommand::Pause { id } => pause(&api, id, true)?,
        ProjectsCommand::Unpause { id } => pause(&api, id, false)?,
        ProjectsCommand::Cadence { id, full, poll } => {
            let mut body = json!({});
            if let Some(full) = full {
                body["full_interval"] = json!(full);
            }
            if let Some(poll) = poll {
                body["poll_interval"] = json!(poll);
            }
            let p = api.call(api.client.patch(format!("{}/api/v1/projects/{id}", api.base)).json(&body))?;
            let every = |field: &str, manual: &str| match p[field].as_i64() {
                None => "at the node's interval".to_owned(),
                Some(0) => manual.to_owned(),
                Some(ms) => {
                    format!("every {}", humantime::format_duration(std::time::Duration::from_millis(ms as u64)))
                }
            };
            out!(
                "project {id} gets full scrapes {} and polls {}",
                every("full_interval_ms", "only when triggered"),
                every("poll_interval_ms", "never")
            );
        }
        ProjectsCommand::Bulk { action, full, poll, labels, ids, filter, runs, yes, dry_run, no_wait } => {
            if !matches!(action.as_str(), "trigger" | "resume" | "archive" | "pause" | "unpause" | "cadence" | "label")
            {
                bail!("unknown action `{action}` (trigger, resume, archive, pause, unpause, cadence or label)");
            }
            let labels = labels.as_deref().map(super::labels::change).transpose()?;
            if let Some(filter) = filter {
                if !ids.is_empty() {
                    bail!("give project ids or --filter, not both");
                }
                let job = super::jobs::FilterJob { action, filter, runs, full, poll, labels, yes, dry_run, no_wait };
                return super::jobs::filter_job(&api, job);
            }
            let mut body = json!({"action": action, "ids": ids});
            if let Some(labels) = labels {
                body["labels"] = labels;
            }
            if let Some(full) = full {
                body["full_interval"] = json!(full);
            }
            if let Some(poll) = poll {
                body["poll_interval"] = json!(poll);
            }
            let r = api.post("/api/v1/admin/projects/bulk", Some(body))?;
            let done: Vec<String> = r["done"].as_array().into_iter().flatten().map(|v| v.to_string()).collect();
            out!(
                "{action}: {} done{}",
                done.len(),
                if done.is_empty() { String::new() } else { format!(" ({})", done.join(", ")) }
            );
            for s in r["skipped"].as_array().into_iter().flatten() {
                out!("  skipped {}: {}", s["id"], s["reason"].as_str().unwrap_or("?"));
            }
        }
        ProjectsCommand::Scrape { id, no_wait } => {
            let started = api.post(&format!("/api/v1/projects/{id}/scrape"), None)?;
            let run = started["run_id"].as_i64().context("the node answered without a run id")?;
            out!("run {run} started for project {id}");
            if no_wait {
                return Ok(());
            }
            let progress = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} run {msg} · {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            progress.set_message(format!("{run} running"));
            progress.enable_steady_tick(Duration::from_millis(120));
            loop {
                let r = api.get(&format!("/api/v1/runs/{run}"))?;
                // While it waits in a platform's line, say where it stands.
                let wait = &r["progress"]["wait"];
                match (wait["place"].as_u64(), wait["estimated_start_ms"].as_i64()) {
                    (Some(place), Some(at)) => progress.set_message(format!(
                        "{run} waiting for {}: {place} ahead, starts in ~{} s",
                        wait["platform"].as_str().unwrap_or("its platform"),
                        ((at - trawler_domain::now_millis()).max(0) + 999) / 1000
                    )),
                    _ => progress.set_message(format!("{run} running")),
                }
                if r["status"] != "running" {
                    progress.finish_and_clear();
                    out!("run {run}: {} ({} points)", r["status"].as_str().unwrap_or("?"), r["points_written"]);
                    out!("{}", r["log"].as_str().unwrap_or("").trim_end());
                    if r["status"] == "failed" {
                        bail!("run {run} failed: {}", r["error"].as_str().unwrap_or("unknown error"));
                    }
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    Ok(())
}
