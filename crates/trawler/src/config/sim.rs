//! The flags of `trawler sim`, the platform simulator.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use trawler_domain::Platform;

/// Flags of `trawler sim`.
#[derive(Args, Clone, Debug)]
pub struct SimArgs {
    /// Address the simulator listens on (port 0 picks a free port).
    #[arg(long, env = "TRAWLER_SIM_BIND", default_value = "127.0.0.1:9090")]
    pub bind: SocketAddr,

    /// When the simulated campaigns started, epoch seconds (default: now).
    #[arg(long, env = "TRAWLER_SIM_EPOCH")]
    pub epoch: Option<i64>,

    /// Worker threads.
    #[arg(long, default_value = "2")]
    pub workers: usize,

    /// A JSON file of faults to inject from the start:
    /// `{"kickstarter": {"kind": "slow", "delay_ms": 500}, "meta_ads:act_1": {"kind": "throttle"}}`.
    #[arg(long)]
    pub faults: Option<PathBuf>,

    /// A platform's request limit, `platform=requests_per_second`, answered
    /// with 429 above it (repeatable).
    #[arg(long = "limit", value_parser = limit)]
    pub limits: Vec<(String, u64)>,

    /// A fixture exported from trawler's response archive
    /// (`GET /api/v1/runs/{id}/fixture`): its answers are served again at
    /// `/fixture/{platform}/{ref}`, in turn (repeatable).
    #[arg(long = "fixture")]
    pub fixtures: Vec<PathBuf>,
}

fn limit(s: &str) -> Result<(String, u64), String> {
    let (platform, n) = s.split_once('=').ok_or_else(|| format!("`{s}` is not platform=requests_per_second"))?;
    platform.parse::<Platform>().map_err(|e| e.to_string())?;
    let n: u64 = n.parse().map_err(|_| format!("`{n}` is not a number of requests per second"))?;
    Ok((platform.to_owned(), n))
}
