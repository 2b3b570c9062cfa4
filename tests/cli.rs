//! The command line as an operator meets it: bad configuration is one line
//! on stderr and a non-zero exit; `migrate` is idempotent; SIGTERM is a
//! clean exit.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

fn trawler(args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawler"));
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.output()?)
}

fn one_line_error(out: &Output, code: i32, needle: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(code), "exit {:?}, stderr: {stderr}", out.status.code());
    ensure!(stderr.trim_end().lines().count() == 1, "more than one line: {stderr}");
    ensure!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    Ok(())
}

/// A key for stored secrets (required with PostgreSQL).
const KEY: (&str, &str) = ("TRAWLER_SECRET_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

fn temp_dir(name: &str) -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("trawler_cli_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn bad_configuration_is_one_line_and_a_non_zero_exit() -> Result<()> {
    let token = ("TRAWLER_ADMIN_TOKEN", "0123456789abcdef-token");
    one_line_error(&trawler(&["serve", "--full-interval", "banana"], &[token])?, 2, "banana")?;
    one_line_error(&trawler(&["serve"], &[token, ("TRAWLER_POLL_INTERVAL", "0s")])?, 2, "longer than zero")?;
    one_line_error(&trawler(&["serve"], &[token, ("TRAWLER_RATE_META_ADS", "-3")])?, 2, "-3")?;
    one_line_error(&trawler(&["serve"], &[token, ("DATABASE_URL", "mysql://db/x")])?, 2, "mysql")?;
    one_line_error(&trawler(&["serve"], &[token, ("TRAWLER_BIND", "not-an-address")])?, 2, "not-an-address")?;
    one_line_error(&trawler(&["serve"], &[])?, 1, "TRAWLER_ADMIN_TOKEN")?;
    one_line_error(&trawler(&["serve"], &[("TRAWLER_ADMIN_TOKEN", "short")])?, 1, "at least 16")?;
    one_line_error(&trawler(&["frobnicate"], &[])?, 2, "frobnicate")?;
    one_line_error(&trawler(&["serve"], &[token, ("TRAWLER_RETENTION", "5m")])?, 2, "shorter than an hour")?;
    one_line_error(&trawler(&["serve"], &[token, ("TRAWLER_INGEST_BATCH", "0")])?, 2, "ingest-batch")?;
    // A database that is down: its own error, one line, no password.
    let out = trawler(
        &["serve"],
        &[token, KEY, ("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/trawler"), ("TRAWLER_BIND", "127.0.0.1:0")],
    )?;
    one_line_error(&out, 1, "connect")?;
    // PostgreSQL without the key of stored secrets, or with a bad one: one line each.
    let pg = ("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/trawler");
    one_line_error(&trawler(&["serve"], &[token, pg])?, 1, "TRAWLER_SECRET_KEY is required on PostgreSQL")?;
    one_line_error(&trawler(&["serve"], &[token, pg, ("TRAWLER_SECRET_KEY", "abc")])?, 1, "64 hex digits")?;
    ensure!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"), "the password leaked");
    Ok(())
}

#[test]
fn config_check_prints_the_effective_settings_with_secrets_masked() -> Result<()> {
    let out = trawler(
        &["config", "check"],
        &[
            ("TRAWLER_ADMIN_TOKEN", "0123456789abcdef-secret"),
            ("DATABASE_URL", "postgres://app:hunter2@db/trawler"),
            KEY,
        ],
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{out:?}");
    ensure!(stdout.contains("DATABASE_URL=postgres://app:***@db/trawler"), "{stdout}");
    ensure!(stdout.contains("TRAWLER_RETENTION=90d") && stdout.contains("TRAWLER_FULL_INTERVAL=4h"), "{stdout}");
    ensure!(!stdout.contains("hunter2") && !stdout.contains("0123456789abcdef-secret"), "a secret leaked: {stdout}");
    ensure!(
        stdout.contains("TRAWLER_SECRET_KEY=*** (64 characters)") && !stdout.contains(KEY.1),
        "the key is masked: {stdout}"
    );
    one_line_error(&trawler(&["config", "check", "--poll-interval", "soon"], &[])?, 2, "soon")?;
    Ok(())
}

#[test]
fn a_configuration_file_sits_under_the_environment_and_flags() -> Result<()> {
    let dir = temp_dir("toml")?;
    let file = dir.join("trawler.toml");
    std::fs::write(
        &file,
        "admin_token = \"from-the-file-0123456789\"\nfull_interval = \"1h\"\npoll_interval = \"1m\"\n[rate]\nkickstarter = 2.5\n",
    )?;
    let path = file.to_string_lossy().to_string();
    let out =
        trawler(&["config", "check", "--config", &path, "--poll-interval", "7m"], &[("TRAWLER_FULL_INTERVAL", "2h")])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{out:?}");
    ensure!(stdout.contains("TRAWLER_RATE_KICKSTARTER=2.5 requests/s"), "the file applies: {stdout}");
    ensure!(stdout.contains("TRAWLER_FULL_INTERVAL=2h"), "the environment overrides the file: {stdout}");
    ensure!(stdout.contains("TRAWLER_POLL_INTERVAL=7m"), "a flag overrides both: {stdout}");
    std::fs::write(&file, "ful_interval = \"1h\"\n")?;
    one_line_error(&trawler(&["config", "check"], &[("TRAWLER_CONFIG", &path)])?, 2, "unknown setting `ful_interval`")?;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/trawler.example.toml");
    let out =
        trawler(&["config", "check", "--config", example], &[("TRAWLER_ADMIN_TOKEN", "0123456789abcdef-token"), KEY])?;
    ensure!(out.status.success(), "the example file is valid: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn migrate_applies_once() -> Result<()> {
    let dir = temp_dir("migrate")?;
    let url = format!("sqlite://{}/t.db", dir.display());
    let first = trawler(&["migrate"], &[("DATABASE_URL", &url)])?;
    ensure!(first.status.success(), "{first:?}");
    ensure!(String::from_utf8_lossy(&first.stdout).contains("applied"), "{first:?}");
    let second = trawler(&["migrate"], &[("DATABASE_URL", &url)])?;
    ensure!(String::from_utf8_lossy(&second.stdout).contains("up to date"), "{second:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn sigterm_stops_the_server_cleanly() -> Result<()> {
    let dir = temp_dir("sigterm")?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("TRAWLER_ADMIN_TOKEN", "0123456789abcdef-token")
        .env("TRAWLER_DATA_DIR", &dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    ensure!(line.contains("serving on http://127.0.0.1:"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    ensure!(killed.success());
    let status = child.wait()?;
    ensure!(status.code() == Some(0), "exit status {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn sigterm_during_a_scrape_burst_finishes_the_runs_and_loses_no_point() -> Result<()> {
    use trawler_domain::{ProjectId, RunStatus};
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = common::start_sim(trawler_domain::now_secs() - 600, &[])?;
    let env =
        common::server_env(&db.url, &sim.addr, &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h")]);
    let (mut server, api) = common::start_server(&env)?;
    // Every html answer takes 1.5 s: the scrapes are in flight when SIGTERM comes.
    let fault = serde_json::json!({"target": "html", "fault": {"kind": "slow", "delay_ms": 1500}});
    reqwest::blocking::Client::new().post(format!("{}/_sim/faults", sim.addr)).json(&fault).send()?;
    let mut ids = Vec::new();
    for i in 0..5 {
        let source = serde_json::json!({"platform": "html", "external_ref": format!("burst-{i}"),
            "options": {"url": format!("{}/html/{{ref}}", sim.addr), "metrics": {"pledged": ".raised", "backers": ".supporters"}}});
        let body = serde_json::json!({"name": format!("burst {i}"), "sources": [source]});
        let (status, created) = api.send(reqwest::Method::POST, "/api/v1/projects", Some(body))?;
        ensure!(status == 201, "{status} {created}");
        ids.push(created["id"].as_i64().context("id")?);
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status()?;
    ensure!(killed.success());
    common::wait_until("the server to exit", Duration::from_secs(20), || Ok(server.child.try_wait()?.is_some()))?;
    let status = server.child.wait()?;
    ensure!(status.code() == Some(0), "exit status {status:?}");
    let mut conn = db.pool.get()?;
    for id in ids {
        let runs = trawler_store::Run::list_for_project(&mut conn, ProjectId(id), 10)?;
        ensure!(!runs.is_empty(), "project {id} has no run");
        for run in &runs {
            ensure!(run.status == RunStatus::Succeeded, "project {id}: run left {:?}: {run:?}", run.status);
        }
        let written: i64 = runs.iter().map(|r| r.points_written).sum();
        let stored = trawler_store::Point::count_for_project(&mut conn, ProjectId(id))?;
        ensure!(written > 0 && stored >= written, "project {id}: {written} points written, {stored} stored");
    }
    Ok(())
}

#[test]
fn the_command_line_client_drives_a_node() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = common::start_sim(trawler_domain::now_secs() - 600, &[])?;
    let env =
        common::server_env(&db.url, &sim.addr, &[("TRAWLER_FULL_INTERVAL", "1h"), ("TRAWLER_POLL_INTERVAL", "1h")]);
    let (_server, api) = common::start_server(&env)?;
    let remote = [("TRAWLER_URL", api.base.as_str()), ("TRAWLER_ADMIN_TOKEN", common::TOKEN)];
    let run = |args: &[&str]| -> Result<(i32, String, String)> {
        let out = trawler(args, &remote)?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    let (code, out, err) = run(&["projects", "add", "--name", "Lamp", "--source", "kickstarter:cli/lamp"])?;
    ensure!(code == 0 && out.contains("added project 1 (Lamp): kickstarter:cli/lamp"), "{out}{err}");
    let (code, out, _) = run(&["projects", "list"])?;
    ensure!(code == 0 && out.contains("Lamp") && out.contains("1 projects"), "{out}");
    let (code, out, err) = run(&["projects", "scrape", "1"])?;
    ensure!(code == 0 && out.contains("succeeded") && out.contains("kickstarter cli/lamp: 4 points"), "{out}{err}");
    let (code, out, _) = run(&["actors"])?;
    ensure!(code == 0 && out.starts_with("System") && out.contains("scraper:1") && out.contains("ingest"), "{out}");
    let file = std::env::temp_dir().join(format!("trawler_cli_export_{}.csv", std::process::id()));
    let (code, _, err) = run(&["export", "1", "--output", &file.to_string_lossy()])?;
    let csv = std::fs::read_to_string(&file)?;
    let _ = std::fs::remove_file(&file);
    ensure!(code == 0 && csv.starts_with("project_id,platform,metric,ts,time,value,resolution"), "{err}{csv}");
    // The creation scrape and the triggered one: one or two runs of 4 points
    // (two runs in the same second store their points once).
    let stored = csv.lines().count() as u64 - 1;
    ensure!(stored == 4 || stored == 8, "{stored} points: {csv}");
    ensure!(err.contains(&format!("exported {stored} points")), "{err}");
    let (code, out, _) = run(&["export", "1", "--format", "jsonl", "--metric", "backers"])?;
    ensure!(code == 0 && out.lines().count() as u64 == stored / 4 && out.contains("\"metric\":\"backers\""), "{out}");

    // Import: the CSV export into a second project gives the same points;
    // a replay stores nothing new; a bad line stores nothing at all.
    let (code, out, _) = run(&["projects", "add", "--name", "Lamp copy"])?;
    ensure!(code == 0 && out.contains("added project 2"), "{out}");
    let csv_file = std::env::temp_dir().join(format!("trawler_cli_import_{}.csv", std::process::id()));
    std::fs::write(&csv_file, &csv)?;
    let (code, _, err) = run(&["import", "2", &csv_file.to_string_lossy()])?;
    ensure!(
        code == 0 && err.contains(&format!("imported {stored} points into project 2 ({stored} new, 0 already")),
        "{err}"
    );
    let (code, _, err) = run(&["import", "2", &csv_file.to_string_lossy()])?;
    ensure!(code == 0 && err.contains(&format!("(0 new, {stored} already stored)")), "{err}");
    let (_, copy, _) = run(&["export", "2"])?;
    // Without the project id, and without the currency: the copy has no
    // source to say what its money is counted in.
    let strip = |text: &str| -> Vec<String> {
        let row = |l: &str| l.split_once(',').and_then(|(_, rest)| rest.rsplit_once(',')).map(|(r, _)| r.to_owned());
        text.lines().skip(1).map(|l| row(l).unwrap_or_default()).collect()
    };
    ensure!(strip(&copy) == strip(&csv), "the copy matches:\n{copy}\n{csv}");
    let bad = std::env::temp_dir().join(format!("trawler_cli_import_{}.jsonl", std::process::id()));
    std::fs::write(&bad, "{\"platform\":\"kickstarter\",\"metric\":\"goal\",\"ts\":5,\"value\":1}\n{\"platform\":\"myspace\",\"metric\":\"goal\",\"ts\":6,\"value\":1}\n")?;
    let (code, _, err) = run(&["import", "2", &bad.to_string_lossy()])?;
    ensure!(
        code == 1 && err.trim_end().lines().count() == 1 && err.contains("line 2") && err.contains("myspace"),
        "{err}"
    );
    let (_, copy_after, _) = run(&["export", "2"])?;
    ensure!(copy_after == copy, "a rejected import stores nothing");
    let _ = std::fs::remove_file(&csv_file);
    let _ = std::fs::remove_file(&bad);
    let (code, out, _) = run(&["webhooks", "add", "http://127.0.0.1:9/hook", "--event", "project.failing"])?;
    ensure!(code == 0 && out.contains("added webhook 1") && out.contains("secret (shown once"), "{out}");
    let (code, out, _) = run(&["webhooks", "ping", "1"])?;
    ensure!(code == 0 && out.contains("ping queued as delivery"), "{out}");
    let (code, out, _) = run(&["webhooks", "list"])?;
    ensure!(code == 0 && out.contains("http://127.0.0.1:9/hook") && out.contains("project.failing"), "{out}");
    let (code, out, _) = run(&["webhooks", "deliveries", "1"])?;
    ensure!(code == 0 && out.contains("ping"), "{out}");
    let (code, _, err) = run(&["webhooks", "add", "ftp://x/y"])?;
    ensure!(code == 1 && err.contains("400 bad_request"), "{err}");
    let (code, out, _) = run(&["webhooks", "remove", "1"])?;
    ensure!(code == 0 && out.contains("webhook 1 removed"), "{out}");
    // Runs of every project, filtered; bulk actions with what they skipped.
    let (code, out, err) = run(&["runs", "--status", "succeeded", "--platform", "kickstarter"])?;
    ensure!(code == 0 && out.contains("succeeded") && out.lines().any(|l| l.ends_with(" runs")), "{out}{err}");
    ensure!(
        out.lines().skip(1).filter(|l| l.contains("succeeded")).all(|l| l.split_whitespace().nth(1) == Some("1")),
        "{out}"
    );
    // Project 2 has no sources: its creation run failed, and says why.
    let (code, out, _) = run(&["runs", "--status", "failed", "--project", "2"])?;
    ensure!(code == 0 && out.contains("1 runs") && out.contains("the project has no sources"), "{out}");
    let (code, _, err) = run(&["runs", "--status", "sleeping"])?;
    ensure!(code == 1 && err.trim_end().lines().count() == 1 && err.contains("400 bad_request"), "{err}");
    let (code, out, err) = run(&["projects", "bulk", "resume", "1", "2", "99"])?;
    ensure!(code == 0 && out.contains("resume: 0 done"), "{out}{err}");
    ensure!(out.contains("skipped 1: already active") && out.contains("skipped 99: not found"), "{out}");
    let (code, out, err) = run(&["projects", "pause", "1"])?;
    ensure!(code == 0 && out.contains("project 1 is active, its schedule paused"), "{out}{err}");
    let (code, out, _) = run(&["projects", "list"])?;
    ensure!(code == 0 && out.contains("Lamp"), "{out}");
    let (code, out, err) = run(&["projects", "bulk", "unpause", "1", "99"])?;
    ensure!(code == 0 && out.contains("unpause: 1 done (1)") && out.contains("skipped 99: not found"), "{out}{err}");
    let (code, out, err) = run(&["projects", "bulk", "cadence", "--full", "2h", "1"])?;
    ensure!(code == 0 && out.contains("cadence: 1 done (1)"), "{out}{err}");
    let (code, out, err) = run(&["projects", "cadence", "1", "--poll", "2m"])?;
    ensure!(code == 0 && out.contains("project 1 gets full scrapes every 2h and polls every 2m"), "{out}{err}");
    let (code, out, err) = run(&["projects", "bulk", "cadence", "--poll", "manual", "1"])?;
    ensure!(code == 0 && out.contains("cadence: 1 done (1)"), "{out}{err}");
    let (code, out, err) = run(&["projects", "cadence", "1", "--full", "default"])?;
    ensure!(code == 0 && out.contains("at the node's interval and polls never"), "{out}{err}");
    let (code, _, err) = run(&["projects", "cadence", "1"])?;
    ensure!(code != 0 && err.contains("--full") && err.contains("--poll"), "{err}");
    let (code, _, err) = run(&["projects", "cadence", "1", "--poll", "1ms"])?;
    ensure!(code == 1 && err.contains("`poll_interval` must be a duration between"), "{err}");
    let (code, out, _) = run(&["projects", "list"])?;
    ensure!(code == 0 && out.contains("Lamp"), "{out}");
    let (code, _, err) = run(&["projects", "bulk", "cadence", "1"])?;
    ensure!(code == 1 && err.contains("needs `full_interval`"), "{err}");
    let (code, out, err) = run(&["projects", "silence", "1", "stale"])?;
    ensure!(code == 0 && out.contains("silenced: stale"), "{out}{err}");
    let rules = r#"{"rules": [{"monitor": "jump", "factor": 4}], "silenced": ["stale", "missing"]}"#;
    let (code, out, err) = run(&["projects", "monitors", "1", "--set", rules])?;
    ensure!(code == 0 && out.contains("silenced: stale, missing") && out.contains(r#""factor": 4"#), "{out}{err}");
    let (code, out, err) = run(&["projects", "unsilence", "1", "stale"])?;
    ensure!(code == 0 && out.contains("silenced: missing") && out.contains("jump"), "{out}{err}");
    let (code, _, err) = run(&["projects", "silence", "1", "loud"])?;
    ensure!(code == 1 && err.trim_end().lines().count() == 1 && err.contains("422 invalid_monitor"), "{err}");
    let (code, out, err) = run(&["projects", "alerts", "1", "--all"])?;
    ensure!(code == 0 && out.contains("all alerts"), "{out}{err}");
    let (code, _, err) = run(&["projects", "bulk", "snooze", "1"])?;
    ensure!(code != 0 && err.contains("unknown action `snooze`"), "{err}");
    let (code, out, _) = run(&["projects", "archive", "1"])?;
    ensure!(code == 0 && out.contains("project 1 is archived"), "{out}");
    let (code, out, _) = run(&["projects", "bulk", "resume", "1"])?;
    ensure!(code == 0 && out.contains("resume: 1 done (1)"), "{out}");
    let (code, out, _) = run(&["projects", "archive", "1"])?;
    ensure!(code == 0 && out.contains("project 1 is archived"), "{out}");
    // API errors: one line, exit 1.
    let (code, _, err) = run(&["projects", "scrape", "1"])?;
    ensure!(code == 1 && err.trim_end().lines().count() == 1 && err.contains("409 project_archived"), "{err}");
    let (code, _, err) = run(&["projects", "add", "--name", "x", "--source", "myspace:x"])?;
    ensure!(code == 1 && err.contains("400 bad_request") && err.contains("myspace"), "{err}");
    Ok(())
}

#[test]
fn every_setting_is_documented_in_configuration_md() -> Result<()> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md"))?;
    let mut seen = 0;
    for args in [&["serve", "--help"][..], &["projects", "--help"], &["webhooks", "add", "--help"]] {
        let out = trawler(args, &[])?;
        let help = String::from_utf8_lossy(&out.stdout);
        for var in help.split("[env: ").skip(1).filter_map(|rest| rest.split(['=', ']']).next()) {
            seen += 1;
            ensure!(doc.contains(&format!("`{var}`")), "docs/configuration.md does not describe {var}");
        }
    }
    ensure!(seen > 30, "the help listed only {seen} variables");
    Ok(())
}

#[test]
fn config_check_shows_the_egress_allowlist_and_refuses_bad_hosts() -> Result<()> {
    let token = ("TRAWLER_ADMIN_TOKEN", "0123456789abcdef-token");
    let out = trawler(&["config", "check"], &[token, ("TRAWLER_EGRESS_ALLOW", "*.kickstarter.com,127.0.0.1")])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    ensure!(stdout.contains("TRAWLER_EGRESS_ALLOW=*.kickstarter.com,127.0.0.1"), "{stdout}");
    ensure!(stdout.contains("TRAWLER_WEBHOOK_FAILURE_STREAK=3"), "{stdout}");
    one_line_error(&trawler(&["config", "check"], &[token, ("TRAWLER_EGRESS_ALLOW", "http://evil/")])?, 2, "evil")?;
    Ok(())
}

#[test]
fn the_capacity_check_warns_when_sources_outgrow_the_rate_budget() -> Result<()> {
    use trawler_domain::Platform;
    let db = trawler_store::testing::TestDb::sqlite()?;
    {
        let mut conn = db.pool.get()?;
        for i in 0..1000 {
            let source = trawler_store::NewSource {
                platform: Platform::Kickstarter,
                external_ref: format!("cap/p{i}"),
                options: serde_json::json!({}),
                secret: None,
            };
            trawler_store::Project::create(&mut conn, &format!("p{i}"), &[source])?;
        }
    }
    // A budget of 8 requests/s covers 800 polls per 100 s interval.
    let env = [
        ("TRAWLER_ADMIN_TOKEN", "0123456789abcdef-token"),
        ("DATABASE_URL", db.url.as_str()),
        ("TRAWLER_POLL_INTERVAL", "100s"),
        ("TRAWLER_FULL_INTERVAL", "4h"),
        ("TRAWLER_RATE_KICKSTARTER", "8"),
    ];
    let out = trawler(&["config", "check"], &env)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{stdout}");
    ensure!(
        stdout.contains(
            "WARNING capacity kickstarter: 1000 sources need 10.07 requests/s, 126% of the budget of 8.00/s; poll every 2m7s or more"
        ),
        "{stdout}"
    );
    ensure!(stdout.contains("# capacity meta_ads: 0 sources"), "{stdout}");
    // With a budget that fits, no warning.
    let mut fits = env.to_vec();
    fits.retain(|(k, _)| *k != "TRAWLER_RATE_KICKSTARTER");
    fits.push(("TRAWLER_RATE_KICKSTARTER", "20"));
    let stdout = String::from_utf8_lossy(&trawler(&["config", "check"], &fits)?.stdout).into_owned();
    ensure!(
        !stdout.contains("WARNING")
            && stdout.contains("# capacity kickstarter: 1000 sources need 10.07 requests/s, 50%"),
        "{stdout}"
    );

    // Projects whose own poll interval the budget cannot hold: an error.
    {
        let mut conn = db.pool.get()?;
        for id in 1..=30 {
            trawler_store::Project::set_poll_interval(&mut conn, trawler_domain::ProjectId(id), Some(1_000), 0)?;
        }
    }
    let out = trawler(&["config", "check"], &fits)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(!out.status.success(), "{stdout}");
    ensure!(stdout.contains("ERROR capacity kickstarter: its polls cannot be divided"), "{stdout}");
    ensure!(String::from_utf8_lossy(&out.stderr).contains("do not fit a platform's budget"));
    {
        let mut conn = db.pool.get()?;
        for id in 1..=30 {
            trawler_store::Project::set_poll_interval(&mut conn, trawler_domain::ProjectId(id), None, 0)?;
        }
    }

    // The running node says the same in /admin/platforms.
    let sim = common::start_sim(trawler_domain::now_secs() - 600, &[])?;
    let server_env = common::server_env(
        &db.url,
        &sim.addr,
        &[("TRAWLER_POLL_INTERVAL", "100s"), ("TRAWLER_FULL_INTERVAL", "4h"), ("TRAWLER_RATE_KICKSTARTER", "8")],
    );
    let (_server, api) = common::start_server(&server_env)?;
    let view = api.ok("/api/v1/admin/platforms")?;
    let ks = view["capacity"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["platform"] == "kickstarter").cloned())
        .ok_or_else(|| anyhow::anyhow!("no kickstarter capacity: {view}"))?;
    ensure!(ks["sources"] == 1000 && ks["budget_per_sec"] == 8.0, "{ks}");
    let min = ks["min_poll_interval_secs"].as_f64().unwrap_or(0.0);
    ensure!((min - 1000.0 / (8.0 - 1000.0 / 14_400.0)).abs() < 1e-6, "{ks}");
    ensure!(view["warnings"].as_array().is_some_and(|w| w.len() == 1), "{view}");
    // Every platform's gate, the exchange rates' (`ecb`) included.
    ensure!(view["platforms"].as_array().is_some_and(|p| p.len() == 6), "the gates are still there: {view}");
    Ok(())
}
