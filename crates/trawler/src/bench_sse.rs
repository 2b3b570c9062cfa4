//! `trawler bench sse`: how long a point takes to reach N subscribers of
//! one project's stream, against one subscriber, in the same run. The node
//! runs as a child process (`trawler serve` on a temporary SQLite file, the
//! simulator in this process), so each side holds one end of each
//! connection. Each round triggers a scrape; a point's latency runs from the
//! simulator's answer (its request log, in µs) to the moment a subscriber
//! read the `points` event: the whole path of a point, through parsing,
//! ingestion and the database, to every dashboard. The run's `run_started`
//! is timed too, from the node's own (millisecond) stamp.

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
    /// Run as the baseline's server process (the bench starts it).
    #[arg(long, hide = true)]
    pub baseline_server: bool,
}

const TOKEN: &str = "bench-sse-admin-token-0123456789";
const REFERENCE: &str = "bench/sse";

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

/// What a subscriber saw of one run: when it read the run's `run_started`
/// and then its `points`, epoch µs.
struct Received {
    run: i64,
    run_started_us: i64,
    points_us: i64,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads a subscriber's stream for as long as it lasts, reporting each
/// run's `run_started` and the `points` after it.
async fn follow(mut stream: TcpStream, out: tokio::sync::mpsc::UnboundedSender<Result<Received>>) {
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 8192];
    let mut run: Option<(i64, i64)> = None;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => {
                let _ = out.send(Err(anyhow::anyhow!("a stream closed")));
                return;
            }
            Ok(n) => n,
            Err(e) => {
                let _ = out.send(Err(e.into()));
                return;
            }
        };
        let read_us = trawler_domain::now_micros();
        pending.extend_from_slice(&buf[..n]);
        // Whole frames only; chunk headers between them do not matter.
        while let Some(end) = find(&pending, b"\n\n") {
            let frame = &pending[..end];
            if let Some(at) = find(frame, b"event: run_started\n") {
                let id = find(&frame[at..], b"\"run_id\":").map(|i| {
                    let digits = &frame[at + i + 9..];
                    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
                    std::str::from_utf8(&digits[..len]).ok().and_then(|d| d.parse().ok())
                });
                if let Some(Some(id)) = id {
                    run = Some((id, read_us));
                }
            } else if find(frame, b"event: points\n").is_some() {
                if let Some((id, run_started_us)) = run.take() {
                    if out.send(Ok(Received { run: id, run_started_us, points_us: read_us })).is_err() {
                        return;
                    }
                }
            }
            pending.drain(..end + 2);
        }
    }
}

/// The subscribers, spread over one thread per core as a load generator
/// would be (each thread a single-threaded runtime), so that reading ten
/// thousand sockets is not one core's work while the node uses two.
struct Fleet {
    results: tokio::sync::mpsc::UnboundedReceiver<Result<Received>>,
    stop: tokio::sync::watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Fleet {
    async fn connect(host: &str, path: &str, n: usize) -> Result<Fleet> {
        let threads_n = std::thread::available_parallelism().map_or(2, |c| c.get()).min(n.max(1));
        let (out, results) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel::<Result<()>>();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut threads = Vec::new();
        for t in 0..threads_n {
            let share = n / threads_n + usize::from(t < n % threads_n);
            let (host, path, out, ready_tx, mut stopped) =
                (host.to_owned(), path.to_owned(), out.clone(), ready_tx.clone(), stopped.clone());
            threads.push(std::thread::spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    for _ in 0..share {
                        match subscribe(&host, &path).await {
                            Ok(stream) => {
                                tokio::spawn(follow(stream, out.clone()));
                                let _ = ready_tx.send(Ok(()));
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let _ = stopped.wait_for(|s| *s).await;
                });
            }));
        }
        drop(ready_tx);
        let started = Instant::now();
        for i in 0..n {
            ready.recv().await.context("a subscriber thread ended")??;
            if n >= 1000 && (i + 1) % 1000 == 0 {
                eprint!("\r  {} subscribers connected", i + 1);
            }
        }
        if n >= 1000 {
            eprintln!("\r  {n} subscribers connected in {:.1} s", started.elapsed().as_secs_f64());
        }
        Ok(Fleet { results, stop, threads })
    }

    /// Every subscriber's view of `run`.
    async fn round(&mut self, run: i64, n: usize) -> Result<Vec<Received>> {
        let mut got = Vec::with_capacity(n);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while got.len() < n {
            let r = tokio::time::timeout_at(deadline, self.results.recv())
                .await
                .context("the subscribers did not all see the run within 60 s")?
                .context("the subscribers stopped")??;
            if r.run == run {
                got.push(r);
            }
        }
        Ok(got)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize]
}

/// Latencies of one measurement, µs: points from the platform's answer,
/// `run_started` from the node's stamp (a millisecond one).
#[derive(Default)]
struct Latencies {
    points: Vec<i64>,
    run_started: Vec<i64>,
}

/// One measurement: `n` subscribers, `rounds` scrapes; returns every latency.
async fn measure(
    client: &reqwest::Client,
    sim: &trawler_sim::SimServer,
    base: &str,
    host: &str,
    project: i64,
    n: usize,
    rounds: usize,
) -> Result<Latencies> {
    let path = format!("/api/v1/projects/{project}/events");
    let mut fleet = Fleet::connect(host, &path, n).await?;
    let mut latencies = Latencies::default();
    for _ in 0..rounds {
        let asked_us = trawler_domain::now_micros();
        let resp: Value = client
            .post(format!("{base}/api/v1/projects/{project}/scrape"))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        let run = resp["run_id"].as_i64().context("no run id")?;
        let received = fleet.round(run, n).await?;
        let run_info: Value =
            client.get(format!("{base}/api/v1/runs/{run}")).bearer_auth(TOKEN).send().await?.json().await?;
        let started_us = run_info["started_at_ms"].as_i64().context("no start time")? * 1000;
        // The points arrived with the platform's last answer of this run.
        let answered_us = sim
            .state
            .requests(Some("kickstarter"))
            .iter()
            .filter(|r| r.reference == REFERENCE && r.at_us >= asked_us)
            .map(|r| r.at_us)
            .max()
            .context("the simulator saw no request of the run")?;
        latencies.points.extend(received.iter().map(|r| r.points_us - answered_us));
        latencies.run_started.extend(received.iter().map(|r| r.run_started_us - started_us));
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
    latencies.points.sort_unstable();
    latencies.run_started.sort_unstable();
    Ok(latencies)
}

/// The baseline: `n` subscribers of the minimal server, `rounds` frames;
/// each latency runs from the moment the server handed the frame to its
/// broadcast to a subscriber's read of it, µs. The server is a child
/// process, as the node is (each holds its own ends of the connections),
/// driven over its stdin: a round number in, the send's time out.
async fn measure_baseline(n: usize, rounds: usize) -> Result<Vec<i64>> {
    use std::io::{BufRead, Write};
    let mut child = Command::new(std::env::current_exe()?)
        .args(["bench", "sse", "--baseline-server"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the baseline server")?;
    let mut input = child.stdin.take().context("no stdin")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let _child = Child(child);
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut next_line = async || -> Result<String> {
        tokio::time::timeout(Duration::from_secs(30), lines.recv())
            .await
            .context("the baseline server did not answer")?
            .context("the baseline server stopped")
    };
    let host = next_line().await?.strip_prefix("baseline listening on ").context("no address")?.to_owned();
    let mut fleet = Fleet::connect(&host, "/events", n).await?;
    let mut latencies = Vec::with_capacity(n * rounds);
    for round in 1..=rounds as i64 {
        writeln!(input, "{round}")?;
        input.flush()?;
        let sent = next_line().await?;
        let sent_us: i64 = sent
            .strip_prefix(&format!("sent {round} "))
            .and_then(|us| us.parse().ok())
            .with_context(|| format!("the baseline server said `{sent}`"))?;
        latencies.extend(fleet.round(round, n).await?.iter().map(|r| r.points_us - sent_us));
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// `trawler bench sse --baseline-server`: the baseline's process. Prints its
/// address; then, for each round number read from stdin, broadcasts a
/// `run_started` frame and a `points` frame (a Kickstarter scrape's event,
/// serialized and framed as the node frames it) and prints when the latter
/// was handed to the broadcast.
fn baseline_server() -> Result<()> {
    use std::io::{BufRead, Write};
    let baseline = crate::bench_sse_baseline::Baseline::start()?;
    let mut out = std::io::stdout();
    writeln!(out, "baseline listening on {}", baseline.host)?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let round: i64 = line?.trim().parse().context("a round number")?;
        let values = [("backers", 1234.0), ("comments", 56.0), ("goal", 50_000.0), ("pledged", 67_890.12)];
        let event = trawler_actors::Event::Points {
            project_id: trawler_domain::ProjectId(1),
            platform: trawler_domain::Platform::Kickstarter,
            ts: trawler_domain::now_secs(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        };
        let points = format!("event: {}\ndata: {}\n\n", event.name(), serde_json::to_string(&event)?);
        let started = format!("event: run_started\ndata: {{\"type\":\"run_started\",\"run_id\":{round}}}\n\n");
        baseline.send(started.into_bytes().into())?;
        let sent_us = trawler_domain::now_micros();
        baseline.send(points.into_bytes().into())?;
        writeln!(out, "sent {round} {sent_us}")?;
        out.flush()?;
    }
    Ok(())
}

pub fn run(args: SseArgs) -> Result<()> {
    if args.baseline_server {
        return baseline_server();
    }
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
            .json(&serde_json::json!({"name": "sse bench", "sources": [{"platform": "kickstarter", "external_ref": REFERENCE}]}))
            .send()
            .await?
            .json()
            .await?;
        let project = created["id"].as_i64().context("no project id")?;
        tokio::time::sleep(Duration::from_millis(500)).await; // the creation scrape ends
        eprintln!("bench sse: 1 subscriber, {} scrapes", args.rounds);
        let one = measure(&client, &sim, &base, &host, project, 1, args.rounds).await?;
        eprintln!("bench sse: {} subscribers, {} scrapes", args.subscribers, args.rounds);
        let many = measure(&client, &sim, &base, &host, project, args.subscribers, args.rounds).await?;
        drop(child);
        eprintln!("bench sse: baseline, {} subscribers of a bare broadcast server", args.subscribers);
        let baseline = measure_baseline(args.subscribers, args.rounds).await?;
        Ok::<_, anyhow::Error>((one, many, baseline))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (one, many, baseline) = result?;
    let ms = |us: i64| us as f64 / 1000.0;
    let max = |v: &[i64]| *v.last().unwrap_or(&0);
    let ratio = |many: &[i64], one: &[i64]| max(many).max(1) as f64 / max(one).max(1) as f64;
    let subs = format!("{} subs", args.subscribers);
    for (what, one, many) in [
        ("points (from the platform's answer)", &one.points, &many.points),
        ("run_started (from the node's ms stamp)", &one.run_started, &many.run_started),
    ] {
        println!("{what}:");
        println!(
            "  one          : p50 {:.2} ms, max {:.2} ms over {} events",
            ms(percentile(one, 50.0)),
            ms(max(one)),
            one.len()
        );
        println!(
            "  {subs:<13}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} deliveries; the last got it {:.1}x later than the single one",
            ms(percentile(many, 50.0)),
            ms(percentile(many, 99.0)),
            ms(max(many)),
            many.len(),
            ratio(many, one)
        );
    }
    println!("baseline (a bare broadcast server, from the frame's send):");
    println!(
        "  {subs:<13}: p50 {:.2} ms, max {:.2} ms; the node's last delivery took {:.1}x the baseline's",
        ms(percentile(&baseline, 50.0)),
        ms(max(&baseline)),
        ratio(&many.points, &baseline)
    );
    println!(
        "bench sse subscribers={} rounds={} one_max_ms={:.2} many_p50_ms={:.2} many_p99_ms={:.2} many_max_ms={:.2} ratio={:.2} run_started_one_max_ms={:.2} run_started_many_max_ms={:.2} run_started_ratio={:.2} baseline_p50_ms={:.2} baseline_max_ms={:.2} ratio_to_baseline={:.2}",
        args.subscribers,
        args.rounds,
        ms(max(&one.points)),
        ms(percentile(&many.points, 50.0)),
        ms(percentile(&many.points, 99.0)),
        ms(max(&many.points)),
        ratio(&many.points, &one.points),
        ms(max(&one.run_started)),
        ms(max(&many.run_started)),
        ratio(&many.run_started, &one.run_started),
        ms(percentile(&baseline, 50.0)),
        ms(max(&baseline)),
        ratio(&many.points, &baseline),
    );
    Ok(())
}
