//! `trawler bench sse`: how long an event takes to reach N subscribers of
//! one project's stream, against one subscriber, in the same run. The node
//! runs as a child process (`trawler serve` on a temporary SQLite file, the
//! simulator in this process), so each side holds one end of each
//! connection. The event is a run's `run_started`, stamped by the server
//! (`at_ms`); a subscriber's latency is the time it read the event minus
//! that stamp.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Flags of `trawler bench sse`.
#[derive(Args, Clone, Debug)]
pub struct SseArgs {
    /// Subscribers of the large run.
    #[arg(long, default_value = "10000")]
    pub subscribers: usize,
    /// Events measured per run (one scrape each).
    #[arg(long, default_value = "5")]
    pub rounds: usize,
}

const TOKEN: &str = "bench-sse-admin-token-0123456789";

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn subscribe(host: &str, path: &str) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(host).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while !seen.windows(12).any(|w| w == b": connected\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await??;
        if n == 0 {
            bail!("the stream closed before it started");
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(stream)
}

/// Reads until a `run_started` of `run`; returns when it was read, epoch ms.
async fn wait_for(stream: &mut TcpStream, run: i64) -> Result<i64> {
    let needle = format!("\"run_id\":{run},");
    let mut text = String::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await??;
        if n == 0 {
            bail!("a stream closed");
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(at) = text.find(&needle) {
            if text[..at].rfind("event: run_started").is_some() {
                return Ok(trawler_domain::now_millis());
            }
        }
        if text.len() > 64 * 1024 {
            text.drain(..text.len() - 1024);
        }
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize]
}

/// One measurement: `n` subscribers, `rounds` events; returns every latency.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    host: &str,
    project: i64,
    n: usize,
    rounds: usize,
) -> Result<Vec<i64>> {
    let path = format!("/api/v1/projects/{project}/events");
    let mut streams = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        streams.push(subscribe(host, &path).await?);
        if (i + 1) % 1000 == 0 {
            eprint!("\r  {} subscribers connected", i + 1);
        }
    }
    if n >= 1000 {
        eprintln!("\r  {n} subscribers connected in {:.1} s", started.elapsed().as_secs_f64());
    }
    let mut latencies = Vec::with_capacity(n * rounds);
    for _ in 0..rounds {
        let resp: Value = client
            .post(format!("{base}/api/v1/projects/{project}/scrape"))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        let run = resp["run_id"].as_i64().context("no run id")?;
        let reads = streams.iter_mut().map(|s| wait_for(s, run));
        let received = futures_util::future::try_join_all(reads).await?;
        let run_info: Value =
            client.get(format!("{base}/api/v1/runs/{run}")).bearer_auth(TOKEN).send().await?.json().await?;
        let at = run_info["started_at_ms"].as_i64().context("no start time")?;
        latencies.extend(received.iter().map(|r| r - at));
        // Let the run end before the next one: a trigger would join it.
        loop {
            let r: Value =
                client.get(format!("{base}/api/v1/runs/{run}")).bearer_auth(TOKEN).send().await?.json().await?;
            if r["status"] != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(latencies)
}

pub fn run(args: SseArgs) -> Result<()> {
    ensure!(args.subscribers >= 1 && args.rounds >= 1, "--subscribers and --rounds must be at least 1");
    let dir = std::env::temp_dir().join(format!("trawler_bench_sse_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = actix::System::new().block_on(async {
        let sim = trawler_sim::SimServer::start("127.0.0.1:0", trawler_domain::now_secs() - 3600, 1)?;
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("serve")
            .env("TRAWLER_ADMIN_TOKEN", TOKEN)
            .env("TRAWLER_BIND", "127.0.0.1:0")
            .env("TRAWLER_DATA_DIR", &dir)
            .env("TRAWLER_ALLOW_PRIVATE", "true")
            .env("TRAWLER_FULL_INTERVAL", "1h")
            .env("TRAWLER_POLL_INTERVAL", "1h")
            .env("TRAWLER_KICKSTARTER_URL", format!("http://{}/kickstarter", sim.addr))
            .env("TRAWLER_RATE_KICKSTARTER", "1000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the node")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let child = Child(child);
        let base = {
            use std::io::BufRead;
            let mut base = None;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving on ").nth(1) {
                    base = rest.split_whitespace().next().map(str::to_owned);
                    break;
                }
            }
            base.context("the node did not start")?
        };
        let host = base.trim_start_matches("http://").to_owned();
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created: Value = client
            .post(format!("{base}/api/v1/projects"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": "sse bench", "sources": [{"platform": "kickstarter", "external_ref": "bench/sse"}]}))
            .send()
            .await?
            .json()
            .await?;
        let project = created["id"].as_i64().context("no project id")?;
        tokio::time::sleep(Duration::from_millis(500)).await; // the creation scrape ends
        eprintln!("bench sse: 1 subscriber, {} events", args.rounds);
        let mut one = measure(&client, &base, &host, project, 1, args.rounds).await?;
        eprintln!("bench sse: {} subscribers, {} events", args.subscribers, args.rounds);
        let mut many = measure(&client, &base, &host, project, args.subscribers, args.rounds).await?;
        drop(child);
        one.sort_unstable();
        many.sort_unstable();
        Ok::<_, anyhow::Error>((one, many))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (one, many) = result?;
    let (one_max, many_max) = (*one.last().unwrap_or(&0), *many.last().unwrap_or(&0));
    let ratio = many_max.max(1) as f64 / one_max.max(1) as f64;
    println!("one          : p50 {} ms, max {} ms over {} events", percentile(&one, 50.0), one_max, one.len());
    println!(
        "{:<13}: p50 {} ms, p99 {} ms, max {} ms over {} deliveries",
        format!("{} subs", args.subscribers),
        percentile(&many, 50.0),
        percentile(&many, 99.0),
        many_max,
        many.len()
    );
    println!(
        "ratio        : the last of {} subscribers got it {ratio:.1}× later than the single one (max vs max)",
        args.subscribers
    );
    println!(
        "bench sse subscribers={} rounds={} one_max_ms={one_max} many_p50_ms={} many_p99_ms={} many_max_ms={many_max} ratio={ratio:.2}",
        args.subscribers,
        args.rounds,
        percentile(&many, 50.0),
        percentile(&many, 99.0)
    );
    Ok(())
}
