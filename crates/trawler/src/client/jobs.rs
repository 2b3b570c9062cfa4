//! Jobs from the command line: `trawler projects bulk ACTION --filter Q`
//! (a bulk action over every project a filter matches, followed with a
//! progress bar) and `trawler jobs list|show|cancel`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::*;

/// `trawler jobs …`
#[derive(Args, Clone, Debug)]
pub struct JobsArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub what: JobsCommand,
}

/// What to do with jobs.
#[derive(Subcommand, Clone, Debug)]
pub enum JobsCommand {
    /// List the node's jobs (running ones and the last 100 that ended).
    List,
    /// Show a job: its progress and what it skipped and why.
    Show {
        /// The job id.
        id: u64,
    },
    /// Cancel a running job: projects not reached yet are left alone.
    Cancel {
        /// The job id.
        id: u64,
    },
}

/// A bulk action over a filter, as `trawler projects bulk` takes it.
pub struct FilterJob {
    pub action: String,
    pub filter: String,
    pub runs: bool,
    pub full: Option<String>,
    pub poll: Option<String>,
    pub labels: Option<Value>,
    pub yes: bool,
    pub dry_run: bool,
    pub no_wait: bool,
}

/// `trawler jobs …`
pub fn jobs(args: JobsArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    match args.what {
        JobsCommand::List => {
            let list = api.get("/api/v1/admin/jobs")?;
            let jobs = list["jobs"].as_array().cloned().unwrap_or_default();
            if jobs.is_empty() {
                out!("no jobs on this node");
            }
            for j in jobs {
                out!(
                    "#{:<5} {:<10} {:<9} {:>6}/{:<6} {} ({}) by {}",
                    j["id"],
                    j["action"].as_str().unwrap_or("?"),
                    j["state"].as_str().unwrap_or("?"),
                    j["done"].as_u64().unwrap_or(0) + j["skipped"].as_u64().unwrap_or(0),
                    j["total"],
                    shown_filter(&j),
                    j["of"].as_str().unwrap_or("?"),
                    j["by"].as_str().unwrap_or("?")
                );
            }
        }
        JobsCommand::Show { id } => report(&api.get(&format!("/api/v1/admin/jobs/{id}"))?)?,
        JobsCommand::Cancel { id } => {
            let j = api.post(&format!("/api/v1/admin/jobs/{id}/cancel"), None)?;
            out!("job {id} is cancelling: it stops before its next batch ({} of {} reached)", reached(&j), j["total"]);
        }
    }
    Ok(())
}

fn shown_filter(job: &Value) -> String {
    match job["filter"].as_str() {
        Some("") | None => "every project".into(),
        Some(f) => format!("`{f}`"),
    }
}

fn reached(job: &Value) -> u64 {
    job["done"].as_u64().unwrap_or(0) + job["skipped"].as_u64().unwrap_or(0)
}

/// A job's report: its counts, then each skip reason with its projects.
fn report(job: &Value) -> Result<()> {
    out!(
        "job {} ({} of {} matching {}): {}; {} done, {} skipped of {}{}",
        job["id"],
        job["action"].as_str().unwrap_or("?"),
        job["of"].as_str().unwrap_or("?"),
        shown_filter(job),
        job["state"].as_str().unwrap_or("?"),
        job["done"],
        job["skipped"],
        job["total"],
        match job["not_reached"].as_u64() {
            Some(n) if n > 0 => format!(", {n} not reached"),
            _ => String::new(),
        }
    );
    if let Some(e) = job["error"].as_str() {
        out!("  error: {e}");
    }
    let skips = job["skips"].as_array().cloned().unwrap_or_default();
    for (reason, n) in job["skip_reasons"].as_object().into_iter().flatten() {
        let ids: Vec<String> = skips
            .iter()
            .filter(|s| s["reason"].as_str() == Some(reason.as_str()))
            .map(|s| format!("#{}", s["id"]))
            .collect();
        out!("  skipped ({reason}): {n}: {}", ids.join(" "));
    }
    Ok(())
}

/// Asks on the terminal; anything but `y` or `yes` is no.
fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// `trawler projects bulk ACTION --filter Q`: counts the matches, asks
/// (or takes `--yes`), starts the job and follows it with a progress bar.
pub fn filter_job(api: &Api, job: FilterJob) -> Result<()> {
    let mut body =
        json!({"action": job.action, "filter": job.filter, "of": if job.runs { "runs" } else { "projects" }});
    if let Some(full) = &job.full {
        body["full_interval"] = json!(full);
    }
    if let Some(poll) = &job.poll {
        body["poll_interval"] = json!(poll);
    }
    if let Some(labels) = &job.labels {
        body["labels"] = labels.clone();
    }
    let mut count = body.clone();
    count["dry_run"] = json!(true);
    let counted = api.post("/api/v1/admin/jobs", Some(count))?;
    let matched = counted["matched"].as_u64().unwrap_or(0);
    let what = if job.filter.is_empty() { "every project".to_owned() } else { format!("`{}`", job.filter) };
    if matched == 0 {
        out!("0 projects match {what}: nothing to do");
        return Ok(());
    }
    let plural = if matched == 1 { "" } else { "s" };
    if job.dry_run {
        out!("{matched} project{plural} match {what} (dry run: nothing done)");
        return Ok(());
    }
    if !job.yes {
        if !std::io::stdin().is_terminal() {
            bail!("{matched} project{plural} match {what}: add --yes to {} them", job.action);
        }
        if !confirm(&format!("{} {matched} project{plural} matching {what}?", job.action))? {
            out!("nothing done");
            return Ok(());
        }
    }
    body["expect"] = json!(matched);
    let started = api.post("/api/v1/admin/jobs", Some(body))?;
    let Some(id) = started["job"]["id"].as_u64() else {
        out!("{}", started["message"].as_str().unwrap_or("no job started"));
        return Ok(());
    };
    out!("job {id} started: {} of {matched} project{plural}", job.action);
    if job.no_wait {
        out!("follow it with `trawler jobs show {id}`; stop it with `trawler jobs cancel {id}`");
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(matched).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} · {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let last = loop {
        let j = api.get(&format!("/api/v1/admin/jobs/{id}"))?;
        bar.set_position(reached(&j));
        bar.set_message(format!("{} done, {} skipped", j["done"], j["skipped"]));
        if j["state"] != "running" {
            break j;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    bar.finish_and_clear();
    report(&last)?;
    if last["state"] == "failed" {
        bail!("job {id} failed: {}", last["error"].as_str().unwrap_or("see the node's log"));
    }
    Ok(())
}
