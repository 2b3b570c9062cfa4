//! Helpers shared by the end-to-end tests: start the real binary, wait for
//! its address, talk to its API.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use reqwest::blocking::Client;
use serde_json::Value;

pub const TOKEN: &str = "e2e-admin-token-0123456789";

/// The key that seals stored secrets in tests on PostgreSQL.
pub const TEST_SECRET_KEY: &str = "2f1e0d0c0b0a09080706050403020100f0e1d2c3b4a5968778695a4b3c2d1e0f";

/// A child process that is killed when the guard drops, whatever happens.
pub struct Proc {
    pub child: Child,
    pub addr: String,
    /// A folder to remove when the process is gone (its data dir).
    pub cleanup: Option<std::path::PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.cleanup {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The lines a process wrote to its log (stderr), as they came.
pub type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts the binary and waits for the stdout line that names its address.
pub fn spawn(args: &[&str], env: &[(&str, String)], marker: &str) -> Result<Proc> {
    spawn_with(args, env, marker, None)
}

/// [`spawn`], keeping the process's log lines in `log` when given (they
/// are not shown then).
fn spawn_with(args: &[&str], env: &[(&str, String)], marker: &str, log: Option<Lines>) -> Result<Proc> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawler"));
    let stderr = if log.is_some() { Stdio::piped() } else { Stdio::inherit() };
    cmd.args(args).stdout(Stdio::piped()).stderr(stderr).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().context("starting trawler")?;
    if let (Some(log), Some(stderr)) = (log, child.stderr.take()) {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
    }
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(&marker).nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let mut proc_ = Proc { child, addr: String::new(), cleanup: None };
    proc_.addr = rx.recv_timeout(Duration::from_secs(30)).context("the process did not print its address")?;
    Ok(proc_)
}

pub struct Api {
    pub client: Client,
    pub base: String,
}

impl Api {
    pub fn get(&self, path: &str) -> Result<(u16, Value)> {
        let resp = self.client.get(format!("{}{path}", self.base)).bearer_auth(TOKEN).send()?;
        Ok((resp.status().as_u16(), resp.json().unwrap_or(Value::Null)))
    }

    pub fn ok(&self, path: &str) -> Result<Value> {
        let (status, body) = self.get(path)?;
        ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// One actor's row of `/api/v1/admin/actors` by its name
    /// (`source:kickstarter`).
    pub fn actor(&self, name: &str) -> Result<Value> {
        let actors = self.ok("/api/v1/admin/actors")?;
        actors["actors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == name)
            .cloned()
            .ok_or_else(|| anyhow!("no actor {name}: {actors}"))
    }

    pub fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send()?;
        Ok((resp.status().as_u16(), resp.json().unwrap_or(Value::Null)))
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let start = Instant::now();
    loop {
        if check()? {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Logs in to the admin UI at `base` with `password` (the client must not
/// follow redirects). Returns the session cookie to send (`name=value`) and
/// the whole `Set-Cookie` header, for its attributes.
pub fn ui_login(client: &Client, base: &str, password: &str) -> Result<(String, String)> {
    let login = client
        .post(format!("{base}/ui/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("password={password}"))
        .send()?;
    ensure!(login.status() == 303, "login: {}", login.status());
    let set_cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    Ok((cookie, set_cookie))
}

/// The environment of a server scraping the simulator at `sim` into `db_url`,
/// with compressed cadences; `extra` entries override the defaults.
pub fn server_env(db_url: &str, sim: &str, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let data_dir = std::env::temp_dir().join(format!(
        "trawler_e2e_data_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut env: Vec<(&'static str, String)> = vec![
        ("TRAWLER_DATA_DIR", data_dir.to_string_lossy().into_owned()),
        ("DATABASE_URL", db_url.to_owned()),
        ("TRAWLER_BIND", "127.0.0.1:0".into()),
        ("TRAWLER_ADMIN_TOKEN", TOKEN.into()),
        ("TRAWLER_ALLOW_PRIVATE", "true".into()),
        ("TRAWLER_FULL_INTERVAL", "3s".into()),
        ("TRAWLER_POLL_INTERVAL", "1s".into()),
        ("TRAWLER_HTTP_TIMEOUT", "5s".into()),
        ("TRAWLER_KICKSTARTER_URL", format!("{sim}/kickstarter")),
        ("TRAWLER_INDIEGOGO_URL", format!("{sim}/indiegogo")),
        ("TRAWLER_META_URL", format!("{sim}/meta")),
        ("TRAWLER_ECB_URL", format!("{sim}/ecb")),
        ("TRAWLER_RATE_KICKSTARTER", "200".into()),
        ("TRAWLER_RATE_META_ADS", "200".into()),
        ("TRAWLER_HTTP_WORKERS", "2".into()),
    ];
    if db_url.starts_with("postgres") {
        // Nodes sharing a database share the key of its stored secrets.
        env.push(("TRAWLER_SECRET_KEY", TEST_SECRET_KEY.into()));
    }
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        let key: &'static str = Box::leak(k.to_string().into_boxed_str());
        env.push((key, (*v).to_owned()));
    }
    env
}

/// Starts the simulator with extra arguments; returns it and its base URL.
pub fn start_sim(epoch: i64, extra: &[&str]) -> Result<Proc> {
    let epoch = epoch.to_string();
    let mut args = vec!["sim", "--bind", "127.0.0.1:0", "--epoch", &epoch];
    args.extend_from_slice(extra);
    spawn(&args, &[], "listening on ")
}

/// Starts a server and waits until it is ready.
pub fn start_server(env: &[(&'static str, String)]) -> Result<(Proc, Api)> {
    start_server_with(env, None)
}

/// [`start_server`], keeping its log lines.
pub fn start_server_logged(env: &[(&'static str, String)]) -> Result<(Proc, Api, Lines)> {
    let log = Lines::default();
    let (server, api) = start_server_with(env, Some(log.clone()))?;
    Ok((server, api, log))
}

fn start_server_with(env: &[(&'static str, String)], log: Option<Lines>) -> Result<(Proc, Api)> {
    let mut server = spawn_with(&["serve"], env, "serving on ", log)?;
    // Data dirs made by server_env live in the temp dir: remove them with the process.
    server.cleanup = env
        .iter()
        .find(|(k, _)| *k == "TRAWLER_DATA_DIR")
        .map(|(_, v)| std::path::PathBuf::from(v))
        .filter(|d| d.starts_with(std::env::temp_dir()) && d.to_string_lossy().contains("trawler_e2e_data_"));
    // Idle connections are dropped well before the server's keep-alive (5 s)
    // closes them: a request sent on a connection the server is closing at
    // that moment fails ("connection closed before message completed").
    let client =
        Client::builder().timeout(Duration::from_secs(10)).pool_idle_timeout(Duration::from_secs(2)).build()?;
    let api = Api { client: client.clone(), base: server.addr.clone() };
    wait_until("readiness", Duration::from_secs(30), || {
        Ok(client.get(format!("{}/readyz", api.base)).send()?.status() == 200)
    })?;
    Ok((server, api))
}

/// The resident memory of a process, in KiB (Linux).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

/// A throwaway PostgreSQL cluster in a temporary folder on a free port, made
/// with the machine's own initdb and pg_ctl; stopped and removed on drop.
pub struct PgCluster {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    pub port: u16,
}

impl PgCluster {
    /// Creates and starts a cluster, or `None` when no PostgreSQL binaries
    /// are installed.
    pub fn start() -> Result<Option<PgCluster>> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
        else {
            return Ok(None);
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("trawler_pg_{}_{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let cluster = PgCluster { bin, dir, port };
        // initdb refuses to run as root: hand the folder to `postgres`.
        if cluster.as_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster.dir).status()?;
            ensure!(status.success(), "chown failed");
        }
        let data = cluster.dir.join("data");
        cluster.pg("initdb", &["-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "-E", "UTF8"])?;
        cluster.up()?;
        Ok(Some(cluster))
    }

    fn as_root(&self) -> bool {
        Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
    }

    fn pg(&self, tool: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(tool);
        let out = if self.as_root() {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()?
        } else {
            Command::new(&exe).args(args).output()?
        };
        ensure!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// Starts (or restarts) the server.
    pub fn up(&self) -> Result<()> {
        let data = self.dir.join("data");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=on",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.pg("pg_ctl", &["-D", &data.to_string_lossy(), "-l", &log.to_string_lossy(), "-o", &opts, "-w", "start"])
    }

    /// Stops the server the hard way (`-m immediate`: like pulling the plug).
    pub fn crash(&self) -> Result<()> {
        let data = self.dir.join("data");
        self.pg("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"])
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.pg("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `promtool check metrics` on a metrics page. Without promtool on the
/// PATH the check is skipped, unless TRAWLER_REQUIRE_PROMTOOL is set (CI).
pub fn promtool_check(text: &str) -> Result<()> {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var_os("TRAWLER_REQUIRE_PROMTOOL").is_none() => {
            eprintln!("promtool not run ({e}); set TRAWLER_REQUIRE_PROMTOOL to require it");
            return Ok(());
        }
        Err(e) => bail!("promtool is required (TRAWLER_REQUIRE_PROMTOOL) but cannot run: {e}"),
    };
    child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?.write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A Kickstarter reference whose simulated campaign is in `currency`.
pub fn campaign_in(currency: &str) -> Result<String> {
    (0..500)
        .map(|i| format!("fx/campaign-{i}"))
        .find(|r| trawler_sim::Campaign::at(r, 0, 0).currency == currency)
        .ok_or_else(|| anyhow!("no simulated campaign in {currency}"))
}

/// An ad account billed in `currency`.
pub fn account_in(currency: &str) -> Result<String> {
    (0..500)
        .map(|i| format!("act_{}", 7_000 + i))
        .find(|r| trawler_sim::model::Ads::currency(r) == currency)
        .ok_or_else(|| anyhow!("no simulated account in {currency}"))
}
