//! Live updates over SSE on the real binary: a thousand subscribers all get
//! a run's events; a subscriber that stops reading holds no one back. (That
//! it is then dropped once its channel overflows is shown in the web crate:
//! on loopback the kernel buffers megabytes before a server notices.)

mod common;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use common::{server_env, start_server, start_sim, Api};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Opens an event stream with a raw request; returns once the server said
/// `: connected` (the subscription exists).
async fn subscribe(addr: &str, path: &str, token: &str, recv_buffer: Option<u32>) -> Result<TcpStream> {
    Ok(open(addr, path, token, recv_buffer, "").await?.0)
}

/// [`subscribe`] with more request headers (`Last-Event-ID: …\r\n`); also
/// returns what the server sent with `: connected` (a replay comes in it).
async fn open(
    addr: &str,
    path: &str,
    token: &str,
    recv_buffer: Option<u32>,
    headers: &str,
) -> Result<(TcpStream, String)> {
    let host = addr.trim_start_matches("http://");
    let sock = TcpSocket::new_v4()?;
    if let Some(size) = recv_buffer {
        sock.set_recv_buffer_size(size)?;
    }
    let mut stream = sock.connect(host.parse()?).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n{headers}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(": connected") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
        if n == 0 {
            bail!("the stream closed before it started: {}", String::from_utf8_lossy(&seen));
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let seen = String::from_utf8_lossy(&seen).into_owned();
    ensure!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    Ok((stream, seen))
}

/// The ids of the events in `text`, in order.
fn ids(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_prefix("id: ")).map(str::to_owned).collect()
}

/// Reads until `needle` has been seen `count` times; returns what was read.
async fn read_until(stream: &mut TcpStream, needle: &str, count: usize, timeout: Duration) -> Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut text = String::new();
    let mut buf = vec![0u8; 16 * 1024];
    while text.matches(needle).count() < count {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await.map_err(|_| {
            anyhow!("timed out waiting for {count}× `{needle}`; got: {}", &text[text.len().saturating_sub(500)..])
        })??;
        if n == 0 {
            bail!("the stream closed; got: {text}");
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Ok(text)
}

/// What a test holds: dropping it stops the processes and removes the database.
type Setup = (common::Proc, common::Proc, trawler_store::testing::TestDb, Api, i64, String);

fn setup() -> Result<Setup> {
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let env = server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h"), ("TRAWLER_RATE_KICKSTARTER", "2000")],
    );
    let (server, api) = start_server(&env)?;
    let (status, p) = api.send(
        Method::POST,
        "/api/v1/projects",
        // Five sources: a run is seven events (started, five points, finished).
        Some(json!({"name": "Live", "sources": (1..=5)
            .map(|i| json!({"platform": "kickstarter", "external_ref": format!("sse/live-{i}")}))
            .collect::<Vec<_>>()})),
    )?;
    ensure!(status == 201, "{status} {p}");
    let id = p["id"].as_i64().ok_or_else(|| anyhow!("no id"))?;
    let (status, t) = api.send(Method::POST, &format!("/api/v1/projects/{id}/tokens"), Some(json!({"name": "sse"})))?;
    ensure!(status == 201, "{status} {t}");
    let token = t["token"].as_str().ok_or_else(|| anyhow!("no token"))?.to_owned();
    // Let the creation scrape end, so triggers below start runs of their own.
    common::wait_until("the first run", Duration::from_secs(10), || {
        let runs = api.ok(&format!("/api/v1/projects/{id}/runs"))?;
        Ok(runs["runs"][0]["status"].as_str().is_some_and(|s| s != "running"))
    })?;
    Ok((server, sim, db, api, id, token))
}

fn trigger(api: &Api, id: i64) -> Result<i64> {
    let (status, body) = api.send(Method::POST, &format!("/api/v1/projects/{id}/scrape"), None)?;
    ensure!(status == 202, "{status} {body}");
    body["run_id"].as_i64().ok_or_else(|| anyhow!("no run id"))
}

#[test]
fn a_thousand_subscribers_all_receive_a_runs_events() -> Result<()> {
    let (_server, _sim, _db, api, id, token) = setup()?;
    let path = format!("/api/v1/projects/{id}/events");
    let rt = runtime()?;
    let mut streams = rt.block_on(async {
        let mut streams = Vec::with_capacity(1000);
        for _ in 0..1000 {
            streams.push(subscribe(&api.base, &path, &token, None).await?);
        }
        Ok::<_, anyhow::Error>(streams)
    })?;
    let run = trigger(&api, id)?;
    let started = Instant::now();
    let needle = format!("\"run_id\":{run}");
    let delivered = rt.block_on(async {
        let reads = streams.iter_mut().map(|s| async {
            // run_started, points, run_finished: the run id shows twice.
            let text = read_until(s, "event: run_finished", 1, Duration::from_secs(30)).await?;
            ensure!(text.contains("event: run_started") && text.contains("event: points"), "{text}");
            ensure!(text.matches(&needle).count() == 2, "both run events name run {run}: {text}");
            Ok::<_, anyhow::Error>(started.elapsed())
        });
        futures_util::future::try_join_all(reads).await
    })?;
    let last = delivered.iter().max().copied().unwrap_or_default();
    eprintln!("1000 subscribers: the last got run_finished {last:?} after the trigger");
    ensure!(delivered.len() == 1000);
    Ok(())
}

#[test]
fn a_subscriber_that_stops_reading_delays_no_one() -> Result<()> {
    let (_server, _sim, _db, api, id, token) = setup()?;
    let path = format!("/api/v1/projects/{id}/events");
    let rt = runtime()?;
    let (mut slow, mut reader) = rt.block_on(async {
        // The smallest receive window the kernel allows, and never read.
        let slow = subscribe(&api.base, &path, &token, Some(1024)).await?;
        let reader = subscribe(&api.base, &path, &token, None).await?;
        Ok::<_, anyhow::Error>((slow, reader))
    })?;
    // Runs one after another: the reading subscriber sees each one finish,
    // within a bound, while the other reads nothing.
    let runs = 100;
    let mut slowest = Duration::ZERO;
    for i in 1..=runs {
        let asked = Instant::now();
        let run = trigger(&api, id)?;
        let text = rt.block_on(read_until(&mut reader, "event: run_finished", 1, Duration::from_secs(10)))?;
        ensure!(text.contains(&format!("\"run_id\":{run}")), "run {i} ({run}) reached the reading subscriber: {text}");
        slowest = slowest.max(asked.elapsed());
    }
    eprintln!("{runs} runs with a stalled subscriber: the slowest reached the reader in {slowest:?}");
    // What the stalled one gets when it reads again is whole events, in order.
    let backlog = rt.block_on(async {
        let mut text = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), slow.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let finished = backlog.matches("event: run_finished").count();
    ensure!(finished == runs || backlog.contains("event: lagged"), "{finished} of {runs} runs, and no lag notice");
    Ok(())
}

#[test]
fn a_subscriber_that_reconnects_with_its_last_event_id_misses_nothing() -> Result<()> {
    let (_server, _sim, _db, api, id, token) = setup()?;
    let path = format!("/api/v1/projects/{id}/events");
    let rt = runtime()?;
    // One subscriber stays all along: what it reads is what there was.
    let (mut watcher, mut client) = rt.block_on(async {
        Ok::<_, anyhow::Error>((
            subscribe(&api.base, &path, &token, None).await?,
            subscribe(&api.base, &path, &token, None).await?,
        ))
    })?;
    trigger(&api, id)?;
    let read = rt.block_on(read_until(&mut client, "event: run_finished", 1, Duration::from_secs(20)))?;
    let last = ids(&read).pop().ok_or_else(|| anyhow!("no id: {read}"))?;
    let mut seen = rt.block_on(read_until(&mut watcher, "event: run_finished", 1, Duration::from_secs(20)))?;
    ensure!(ids(&seen).last() == Some(&last), "both read the same events: {seen}");
    // The client drops off for a few seconds, while two more runs happen.
    drop(client);
    trigger(&api, id)?;
    seen.push_str(&rt.block_on(read_until(&mut watcher, "event: run_finished", 1, Duration::from_secs(20)))?);
    trigger(&api, id)?;
    seen.push_str(&rt.block_on(read_until(&mut watcher, "event: run_finished", 1, Duration::from_secs(20)))?);
    std::thread::sleep(Duration::from_secs(2));
    let away: Vec<String> = ids(&seen).into_iter().skip_while(|i| *i != last).skip(1).collect();
    // Two runs: each starts and finishes, with points between (two runs in
    // the same second store, and announce, some points once).
    ensure!(away.len() >= 2 * 2, "two runs' events: {away:?}");
    // Back with the id of the last event it read: it gets exactly the rest.
    let (mut client, mut got) =
        rt.block_on(open(&api.base, &path, &token, None, &format!("Last-Event-ID: {last}\r\n")))?;
    if got.matches("event: run_finished").count() < 2 {
        got.push_str(&rt.block_on(read_until(
            &mut client,
            "event: run_finished",
            2 - got.matches("event: run_finished").count(),
            Duration::from_secs(10),
        ))?);
    }
    // Events may have followed the last run (a late point): the watcher
    // reads on to the client's last one, and both must have read the same.
    if let Some(end) = ids(&got).last().filter(|end| !seen.contains(&format!("id: {end}\n"))) {
        seen.push_str(&rt.block_on(read_until(&mut watcher, &format!("id: {end}\n"), 1, Duration::from_secs(10)))?);
    }
    let missed: Vec<String> = ids(&seen).into_iter().skip_while(|i| *i != last).skip(1).collect();
    ensure!(ids(&got) == missed, "the replay is what it missed, once each: {:?} against {missed:?}", ids(&got));
    // An id this node never gave (another process, a restart): reload.
    let (_, text) = rt.block_on(open(&api.base, &path, &token, None, "Last-Event-ID: 1.1\r\n"))?;
    ensure!(text.contains("event: reset"), "{text}");
    Ok(())
}
