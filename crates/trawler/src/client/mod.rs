//! The command-line client: `trawler projects …` and `trawler actors` talk
//! to a running node's API with the admin token, and print what an operator
//! needs on one screen. API errors become a one-line message and exit 1.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

/// Where the node is and how to reach it.
#[derive(Args, Clone, Debug)]
pub struct Remote {
    /// The node's base URL.
    #[arg(long, env = "TRAWLER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin token.
    #[arg(long, env = "TRAWLER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
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
    /// Resume a quarantined or archived project.
    Resume {
        /// The project id.
        id: i64,
    },
    /// Apply one action to many projects: `trigger`, `resume` or `archive`;
    /// projects the action does not fit are skipped and listed with why.
    Bulk {
        /// `trigger`, `resume` or `archive`.
        action: String,
        /// Project ids.
        #[arg(required = true)]
        ids: Vec<i64>,
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

/// `trawler export`
#[derive(Args, Clone, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The project id.
    pub id: i64,
    /// Where to write (`-` for standard output).
    #[arg(long, short, default_value = "-")]
    pub output: String,
    /// `csv` or `jsonl`.
    #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
    pub format: String,
    /// One metric only.
    #[arg(long)]
    pub metric: Option<String>,
    /// Start of the range, epoch seconds.
    #[arg(long)]
    pub from: Option<i64>,
    /// End of the range, epoch seconds.
    #[arg(long)]
    pub to: Option<i64>,
}

/// `trawler export`: streams a project's points to a file, with progress.
pub fn export(args: ExportArgs) -> Result<()> {
    use std::io::{Read, Write};
    let api = Api::new(&args.remote)?;
    let mut query = Vec::new();
    if let Some(m) = &args.metric {
        query.push(format!("metric={m}"));
    }
    if let Some(f) = args.from {
        query.push(format!("from={f}"));
    }
    if let Some(t) = args.to {
        query.push(format!("to={t}"));
    }
    let url = format!("{}/api/v1/projects/{}/export.{}?{}", api.base, args.id, args.format, query.join("&"));
    // No overall timeout: an export of years of points may take a while.
    let client = Client::builder().timeout(None).build()?;
    let mut resp =
        client.get(&url).bearer_auth(&api.token).send().with_context(|| format!("cannot reach {}", api.base))?;
    if !resp.status().is_success() {
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        bail!(
            "{status} {}: {}",
            body["error"]["code"].as_str().unwrap_or("error"),
            body["error"]["message"].as_str().unwrap_or("no details")
        );
    }
    let mut sink: Box<dyn Write> = if args.output == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&args.output).with_context(|| format!("creating {}", args.output))?,
        ))
    };
    // A spinner with the figures so far: the size of an export is unknown
    // until its end. Hidden when stderr is not a terminal.
    let progress = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} · {binary_bytes} · {binary_bytes_per_sec} · {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let n = resp.read(&mut buf).context("reading the export")?;
        if n == 0 {
            break;
        }
        sink.write_all(&buf[..n]).context("writing the export")?;
        bytes += n as u64;
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        progress.set_position(bytes);
        progress.set_message(format!("{lines} lines"));
    }
    sink.flush()?;
    progress.finish_and_clear();
    let rows = if args.format == "csv" { lines.saturating_sub(1) } else { lines };
    eprintln!(
        "exported {rows} points ({:.1} MiB) in {:.1} s",
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `trawler import`
#[derive(Args, Clone, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The project id.
    pub id: i64,
    /// The file: JSON lines or CSV, as `trawler export` writes them.
    pub file: std::path::PathBuf,
    /// `csv` or `jsonl` (default: from the file name, else jsonl).
    #[arg(long, value_parser = ["csv", "jsonl"])]
    pub format: Option<String>,
}

/// Bytes per request of an import (the API takes up to 16 MiB).
const IMPORT_PART_BYTES: usize = 8 * 1024 * 1024;

/// `trawler import`: sends a file of points in parts, with a progress bar.
pub fn import(args: ImportArgs) -> Result<()> {
    use std::io::BufRead;
    let api = Api::new(&args.remote)?;
    let csv = match args.format.as_deref() {
        Some(f) => f == "csv",
        None => args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")),
    };
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata()?.len();
    let mut lines = std::io::BufReader::new(file).lines();
    let header = if csv {
        match lines.next() {
            Some(h) => Some(h.context("reading the CSV header")?),
            None => bail!("{} is empty", args.file.display()),
        }
    } else {
        None
    };
    let progress = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:32} {binary_bytes}/{binary_total_bytes} · {msg} · {binary_bytes_per_sec} · eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let content_type = if csv { "text/csv" } else { "application/x-ndjson" };
    let url = format!("{}/api/v1/projects/{}/points", api.base, args.id);
    let started = Instant::now();
    let (mut points, mut stored, mut read) = (0u64, 0u64, header.as_ref().map_or(0, |h| h.len() as u64 + 1));
    let mut done = false;
    while !done {
        let mut part = header.clone().map(|h| h + "\n").unwrap_or_default();
        let start_len = part.len();
        loop {
            match lines.next() {
                Some(line) => {
                    let line = line.context("reading the file")?;
                    read += line.len() as u64 + 1;
                    part.push_str(&line);
                    part.push('\n');
                    if part.len() >= IMPORT_PART_BYTES {
                        break;
                    }
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        if part.len() == start_len {
            break;
        }
        let answer = api.call(api.client.post(&url).header("Content-Type", content_type).body(part))?;
        points += answer["points"].as_u64().unwrap_or(0);
        stored += answer["stored"].as_u64().unwrap_or(0);
        progress.set_position(read.min(size));
        progress.set_message(format!("{points} points"));
    }
    progress.finish_and_clear();
    eprintln!(
        "imported {points} points into project {} ({stored} new, {} already stored) in {:.1} s",
        args.id,
        points - stored,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

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
}

/// Prints a line; a closed pipe (`trawler actors | head`) ends the program
/// quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(e.into());
        }
    }};
}

struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    fn new(remote: &Remote) -> Result<Api> {
        let Some(token) = remote.admin_token.clone().filter(|t| !t.is_empty()) else {
            bail!("TRAWLER_ADMIN_TOKEN (or --admin-token) is required to talk to the node");
        };
        let client = Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Api { client, base: remote.url.trim_end_matches('/').to_owned(), token })
    }

    fn call(&self, req: RequestBuilder) -> Result<Value> {
        let resp = req.bearer_auth(&self.token).send().with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body["error"]["code"].as_str().unwrap_or("error");
            let message = body["error"]["message"].as_str().unwrap_or("no details");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call(self.client.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str, body: Option<Value>) -> Result<Value> {
        let req = self.client.post(format!("{}{path}", self.base));
        self.call(match body {
            Some(b) => req.json(&b),
            None => req,
        })
    }
}

fn sources_line(project: &Value) -> String {
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
        ProjectsCommand::List { status } => {
            let body = api.get(&format!("/api/v1/projects?status={status}"))?;
            let projects = body["projects"].as_array().cloned().unwrap_or_default();
            out!("{:>6}  {:<11}  {:<28}  sources", "id", "status", "name");
            for p in &projects {
                out!(
                    "{:>6}  {:<11}  {:<28}  {}",
                    p["id"],
                    p["status"].as_str().unwrap_or("?"),
                    p["name"].as_str().unwrap_or("?"),
                    sources_line(p)
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
        ProjectsCommand::Bulk { action, ids } => {
            if !matches!(action.as_str(), "trigger" | "resume" | "archive") {
                bail!("unknown action `{action}` (trigger, resume or archive)");
            }
            let r = api.post("/api/v1/admin/projects/bulk", Some(json!({"action": action, "ids": ids})))?;
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

fn ago(ms: &Value) -> String {
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

/// `trawler webhooks …`
#[derive(Args, Clone, Debug)]
pub struct WebhooksArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub what: WebhooksCommand,
}

/// What to do with webhooks.
#[derive(Subcommand, Clone, Debug)]
pub enum WebhooksCommand {
    /// List webhooks.
    List,
    /// Add a webhook; without --secret one is generated and printed once.
    Add {
        /// Where events are POSTed.
        url: String,
        /// An event to send (repeatable): project.failing, project.quarantined,
        /// project.recovered, ping, or `*` (the default) for all.
        #[arg(long = "event")]
        events: Vec<String>,
        /// The signing secret (16 characters or more).
        #[arg(long, env = "TRAWLER_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// A note for operators.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a webhook and its delivery log.
    Remove {
        /// The webhook id.
        id: i64,
    },
    /// Send a test event.
    Ping {
        /// The webhook id.
        id: i64,
    },
    /// Show a webhook's delivery log, newest first.
    Deliveries {
        /// The webhook id.
        id: i64,
        /// How many.
        #[arg(long, default_value = "20")]
        limit: i64,
    },
}

/// `trawler webhooks …`
pub fn webhooks(args: WebhooksArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    match args.what {
        WebhooksCommand::List => {
            let body = api.get("/api/v1/admin/webhooks")?;
            let hooks = body["webhooks"].as_array().cloned().unwrap_or_default();
            out!("{:>4}  {:<6}  {:<40}  events", "id", "active", "url");
            for h in &hooks {
                let events: Vec<&str> =
                    h["events"].as_array().map(|e| e.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                out!(
                    "{:>4}  {:<6}  {:<40}  {}",
                    h["id"],
                    if h["active"] == true { "yes" } else { "no" },
                    h["url"].as_str().unwrap_or("?"),
                    events.join(",")
                );
            }
            out!("{} webhooks", hooks.len());
        }
        WebhooksCommand::Add { url, events, secret, description } => {
            let mut body = json!({"url": url});
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(s) = secret {
                body["secret"] = json!(s);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let h = api.post("/api/v1/admin/webhooks", Some(body))?;
            out!("added webhook {} → {}", h["id"], h["url"].as_str().unwrap_or("?"));
            if let Some(secret) = h["secret"].as_str() {
                out!("secret (shown once; verify X-Trawler-Signature with it): {secret}");
            }
        }
        WebhooksCommand::Remove { id } => {
            let req = api.client.delete(format!("{}/api/v1/admin/webhooks/{id}", api.base));
            api.call(req)?;
            out!("webhook {id} removed");
        }
        WebhooksCommand::Ping { id } => {
            let d = api.post(&format!("/api/v1/admin/webhooks/{id}/ping"), None)?;
            out!("ping queued as delivery {}; see `trawler webhooks deliveries {id}`", d["delivery_id"]);
        }
        WebhooksCommand::Deliveries { id, limit } => {
            let body = api.get(&format!("/api/v1/admin/webhooks/{id}/deliveries?limit={limit}"))?;
            let list = body["deliveries"].as_array().cloned().unwrap_or_default();
            out!(
                "{:>6}  {:<20}  {:<9}  {:>8}  {:>6}  {:<10}  last error",
                "id",
                "event",
                "status",
                "attempts",
                "code",
                "created"
            );
            for d in &list {
                out!(
                    "{:>6}  {:<20}  {:<9}  {:>8}  {:>6}  {:<10}  {}",
                    d["id"],
                    d["event"].as_str().unwrap_or("?"),
                    d["status"].as_str().unwrap_or("?"),
                    d["attempts"],
                    d["last_status_code"].as_i64().map_or("-".into(), |c| c.to_string()),
                    ago(&d["created_at_ms"]),
                    d["last_error"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// `trawler runs`: every project's runs, newest first, filtered.
pub fn runs(args: RunsArgs) -> Result<()> {
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
