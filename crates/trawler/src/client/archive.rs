//! `trawler fixture`: a run's kept answers as a simulator fixture, so a
//! layout change seen in production becomes a regression test in one
//! command.

use anyhow::{Context, Result};
use clap::Args;

use super::{Api, Remote};

/// `trawler fixture RUN`.
#[derive(Args, Debug)]
pub struct FixtureArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The run whose kept answers to export.
    pub run: i64,
    /// Where to write (`-` for standard output).
    #[arg(long, short, default_value = "-")]
    pub output: String,
}

/// Writes the fixture, then says how to serve it.
pub fn fixture(args: FixtureArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    let fixture = api.get(&format!("/api/v1/runs/{}/fixture", args.run))?;
    let text = serde_json::to_string_pretty(&fixture)?;
    if args.output == "-" {
        out!("{text}");
        return Ok(());
    }
    std::fs::write(&args.output, text + "\n").with_context(|| format!("writing {}", args.output))?;
    let sources: Vec<String> = fixture["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{}/{}", s["platform"].as_str().unwrap_or(""), s["external_ref"].as_str().unwrap_or("")))
        .collect();
    eprintln!(
        "wrote {} ({} source{}: {}); serve it with `trawler sim --fixture {}`",
        args.output,
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        sources.join(", "),
        args.output
    );
    Ok(())
}
