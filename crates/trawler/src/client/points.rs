//! `trawler export` and `trawler import`: a project's points out and in.

use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::blocking::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

use super::*;

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
pub(super) const IMPORT_PART_BYTES: usize = 8 * 1024 * 1024;

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
