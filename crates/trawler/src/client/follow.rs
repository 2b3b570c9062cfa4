//! `trawler runs follow ID`: a run's log as it is written. The project's
//! event stream is opened first, then the log so far is read from the run:
//! the stream's `run_log` lines (numbered from 0) already in it are
//! skipped, and none is missed between the two.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{Api, Remote};

/// One event of a stream: its name and data.
fn next_event(lines: &mut impl BufRead) -> Result<Option<(String, String)>> {
    let (mut name, mut data) = (String::new(), String::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).context("reading the event stream")? == 0 {
            return Ok(None);
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !name.is_empty() || !data.is_empty() {
                return Ok(Some((name, data)));
            }
            continue;
        }
        if let Some(v) = text.strip_prefix("event:") {
            name = v.trim().to_owned();
        } else if let Some(v) = text.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
}

/// Prints the lines of `log` from the `from`th on; returns how many it has.
fn print_from(log: &str, from: usize) -> Result<usize> {
    let lines: Vec<&str> = log.lines().collect();
    for line in lines.iter().skip(from) {
        out!("{line}");
    }
    Ok(lines.len().max(from))
}

fn ended(run: &Value) -> Result<()> {
    let error = run["error"].as_str().map(|e| format!(": {e}")).unwrap_or_default();
    out!(
        "run {} {} ({} points){error}",
        run["id"].as_i64().or(run["run_id"].as_i64()).unwrap_or_default(),
        run["status"].as_str().unwrap_or("?"),
        run["points_written"].as_i64().or(run["points"].as_i64()).unwrap_or_default()
    );
    Ok(())
}

/// Follows run `id` until it ends.
pub fn follow(remote: &Remote, id: i64) -> Result<()> {
    let api = Api::new(remote)?;
    let run = api.get(&format!("/api/v1/runs/{id}"))?;
    if run["status"] != "running" {
        print_from(run["log"].as_str().unwrap_or_default(), 0)?;
        return ended(&run);
    }
    let project = run["project_id"].as_i64().context("the run names no project")?;
    // No overall timeout: a run may take minutes; the server sends a
    // keep-alive every few seconds.
    let client = reqwest::blocking::Client::builder().timeout(None).build()?;
    let mut printed = 0;
    // Each turn: the stream (again, after it skipped events or closed),
    // then the log so far.
    loop {
        let resp = client
            .get(format!("{}/api/v1/projects/{project}/events", api.base))
            .bearer_auth(&api.token)
            .header("accept", "text/event-stream")
            .send()
            .with_context(|| format!("cannot reach {}", api.base))?;
        if !resp.status().is_success() {
            bail!("{} opening the project's event stream", resp.status().as_u16());
        }
        let mut events = std::io::BufReader::new(resp);
        let run = api.get(&format!("/api/v1/runs/{id}"))?;
        printed = print_from(run["log"].as_str().unwrap_or_default(), printed)?;
        if run["status"] != "running" {
            return ended(&run);
        }
        while let Some((name, data)) = next_event(&mut events)? {
            let event: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            let mine = event["run_id"].as_i64() == Some(id);
            match name.as_str() {
                "run_log" if mine => {
                    let seq = usize::try_from(event["seq"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
                    if seq >= printed {
                        out!("{}", event["line"].as_str().unwrap_or_default());
                        printed = seq + 1;
                    }
                }
                "run_finished" if mine => {
                    // Its stored log may hold a last line the stream did
                    // not (the deadline's, a cancel's).
                    let run = api.get(&format!("/api/v1/runs/{id}"))?;
                    print_from(run["log"].as_str().unwrap_or_default(), printed)?;
                    return ended(&run);
                }
                // The stream skipped events: open it and read the run again.
                "lagged" | "reset" => break,
                _ => {}
            }
        }
    }
}
