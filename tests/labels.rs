//! Labels and imports: `trawler projects import` creates twenty projects
//! from JSON lines by their external keys and refuses the bad lines with
//! their reasons (the others applied); importing the same file again
//! changes nothing; a changed line updates only its project; a CSV adds
//! more. Labels filter the API, the CLI and the UI, a job labels every
//! project a label filter matches, and `/metrics` counts projects by the
//! label it is told to.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{server_env, start_server, start_sim, Api, TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "labels-test-password";

fn cli(api: &Api, args: &[&str]) -> Result<(bool, String, String)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trawler"))
        .args(args)
        .env("TRAWLER_URL", &api.base)
        .env("TRAWLER_ADMIN_TOKEN", TOKEN)
        .output()?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into()))
}

/// Every project with an external key: key → (id, name, labels, updated_at_ms).
fn by_key(api: &Api) -> Result<BTreeMap<String, (i64, String, Value, i64)>> {
    let all = api.ok("/api/v1/projects?limit=10000")?;
    Ok(all["projects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let key = p["external_key"].as_str()?.to_owned();
            Some((
                key,
                (p["id"].as_i64()?, p["name"].as_str()?.to_owned(), p["labels"].clone(), p["updated_at_ms"].as_i64()?),
            ))
        })
        .collect())
}

fn line(i: usize, name: &str, client: &str) -> String {
    json!({"external_key": format!("crm-{i:02}"), "name": name,
        "sources": [{"platform": "kickstarter", "external_ref": format!("maker/crm-{i:02}")}],
        "labels": {"client": client, "wave": "spring"}})
    .to_string()
}

#[test]
fn projects_are_imported_by_key_labelled_filtered_and_counted() -> Result<()> {
    let sim = start_sim(trawler_domain::now_secs() - 3600, &[])?;
    let db = trawler_store::testing::TestDb::sqlite()?;
    let hash = trawler_web::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let (_server, api) = start_server(&server_env(
        &db.url,
        &sim.addr,
        &[
            ("TRAWLER_FULL_INTERVAL", "1h"),
            ("TRAWLER_POLL_INTERVAL", "1h"),
            ("TRAWLER_METRICS_LABEL", "client"),
            ("TRAWLER_ADMIN_PASSWORD_HASH", &hash),
        ],
    ))?;
    let dir = std::env::temp_dir().join(format!("trawler_labels_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("projects.jsonl");
    let mut lines: Vec<String> =
        (1..=20).map(|i| line(i, &format!("Campaign {i}"), if i <= 12 { "acme" } else { "globex" })).collect();
    lines.push(
        r#"{"external_key": "crm-bad-source", "name": "X", "sources": [{"platform": "myspace", "external_ref": "x"}]}"#
            .into(),
    );
    lines.push("{not json".into());
    lines.push(line(3, "Campaign 3 again", "acme"));
    std::fs::write(&file, lines.join("\n") + "\n")?;
    let path = file.to_string_lossy().into_owned();

    // Twenty created; the three bad lines refused, each with its reason.
    let (ok, out, err) = cli(&api, &["projects", "import", &path])?;
    ensure!(!ok && err.contains("3 lines refused"), "{out} {err}");
    ensure!(out.contains("20 created, 0 updated, 0 unchanged, 3 refused"), "{out}");
    ensure!(out.contains("line 21 crm-bad-source: refused: sources[0]: unknown platform"), "{out}");
    ensure!(out.contains("line 22 -: refused: not a project line"), "{out}");
    ensure!(out.contains("line 23 crm-03: refused: `crm-03` is on line 3 already"), "{out}");
    ensure!(out.contains("line 1 crm-01: created (project "), "{out}");
    let first = by_key(&api)?;
    ensure!(first.len() == 20, "{first:?}");
    ensure!(first["crm-03"].1 == "Campaign 3", "the first line of a key wins");
    ensure!(first["crm-13"].2 == json!({"client": "globex", "wave": "spring"}), "{:?}", first["crm-13"]);

    // The same file again: nothing changes.
    std::thread::sleep(Duration::from_millis(20));
    let (_, out, _) = cli(&api, &["projects", "import", &path])?;
    ensure!(out.contains("0 created, 0 updated, 20 unchanged, 3 refused"), "{out}");
    ensure!(by_key(&api)? == first, "a second import changed nothing");

    // One line changed: only its project is updated.
    lines[4] = line(5, "Campaign 5, renamed", "globex");
    std::fs::write(&file, lines.join("\n") + "\n")?;
    let (_, out, _) = cli(&api, &["projects", "import", &path])?;
    ensure!(out.contains("0 created, 1 updated, 19 unchanged, 3 refused"), "{out}");
    ensure!(out.contains("line 5 crm-05: updated name, labels (project "), "{out}");
    let second = by_key(&api)?;
    for (key, before) in &first {
        let after = &second[key];
        if key == "crm-05" {
            ensure!(after.1 == "Campaign 5, renamed" && after.2["client"] == "globex" && after.3 > before.3);
        } else {
            ensure!(after == before, "{key} was left alone");
        }
    }

    // A CSV: two new projects, and one that is already as it says.
    let csv = dir.join("more.csv");
    std::fs::write(
        &csv,
        "external_key,name,sources,labels\n\
         crm-21,Campaign 21,kickstarter:maker/crm-21,client=initech;wave=autumn\n\
         crm-22,\"Campaign 22, the sequel\",kickstarter:maker/crm-22 indiegogo:crm-22,client=initech\n\
         crm-01,Campaign 1,kickstarter:maker/crm-01,client=acme;wave=spring\n",
    )?;
    let (ok, out, err) = cli(&api, &["projects", "import", &csv.to_string_lossy()])?;
    ensure!(ok && out.contains("2 created, 0 updated, 1 unchanged, 0 refused"), "{out} {err}");
    let third = by_key(&api)?;
    ensure!(third["crm-22"].1 == "Campaign 22, the sequel", "{:?}", third["crm-22"]);

    // Labels filter the API and the CLI.
    let acme = api.ok("/api/v1/projects?label=client%3Dacme")?;
    ensure!(acme["projects"].as_array().map_or(0, Vec::len) == 11, "{acme}");
    let (status, bad) = api.get("/api/v1/projects?label=Client")?;
    ensure!(status == 400, "{status} {bad}");
    let (_, out, _) = cli(&api, &["projects", "list", "--label", "client=initech"])?;
    ensure!(out.contains("2 projects") && out.contains("[client=initech wave=autumn]"), "{out}");

    // A job labels every globex project; the others keep their labels.
    let body =
        json!({"action": "label", "filter": "label=client=globex", "labels": {"wave": "autumn", "tier": "gold"}});
    let (status, started) = api.send(Method::POST, "/api/v1/admin/jobs", Some(body))?;
    ensure!(status == 202 && started["matched"] == 9, "{status} {started}");
    let id = started["job"]["id"].as_u64().context("job")?;
    common::wait_until("the label job", Duration::from_secs(10), || {
        Ok(api.ok(&format!("/api/v1/admin/jobs/{id}"))?["state"] == "done")
    })?;
    let labelled = by_key(&api)?;
    for (key, (_, _, labels, _)) in &labelled {
        let globex = labels["client"] == "globex";
        ensure!(globex == (labels["tier"] == "gold"), "{key}: {labels}");
        if globex {
            ensure!(labels["wave"] == "autumn", "{key}: {labels}");
        }
    }
    let (status, refused) = api.send(
        Method::POST,
        "/api/v1/admin/projects/bulk",
        Some(json!({"action": "label", "ids": [labelled["crm-01"].0], "labels": {"Bad Key": "x"}})),
    )?;
    ensure!(
        status == 400 && refused["error"]["message"].as_str().is_some_and(|m| m.contains("label key")),
        "{refused}"
    );

    // /metrics counts projects by client.
    let metrics =
        reqwest::blocking::Client::new().get(format!("{}/metrics", api.base)).bearer_auth(TOKEN).send()?.text()?;
    for (client, n) in [("acme", 11), ("globex", 9), ("initech", 2)] {
        let sample = format!(r#"trawler_projects_labelled{{label="client",value="{client}",status="active"}} {n}"#);
        ensure!(
            metrics.contains(&sample),
            "{sample} in:\n{}",
            metrics.lines().filter(|l| l.contains("labelled")).collect::<Vec<_>>().join("\n")
        );
    }

    // The UI lists them under a label filter, with their labels.
    let browser = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (cookie, _) = common::ui_login(&browser, &api.base, PASSWORD)?;
    let page =
        browser.get(format!("{}/ui/?label=client%3Dinitech", api.base)).header("Cookie", &cookie).send()?.text()?;
    ensure!(page.contains(r#"<span class="count" id="count">2 of 22</span>"#), "the count");
    ensure!(page.contains(">client=initech</a>") && page.contains("Campaign 22, the sequel"), "labels shown");
    ensure!(page.contains(r#"id="filter-labels" value="client=initech""#), "the filter kept in its field");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
