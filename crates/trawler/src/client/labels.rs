//! `trawler projects import FILE` (projects created or updated by their
//! external key, a part at a time, with a progress bar and a line of
//! report each) and `trawler projects label ID key=value …`.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::*;

/// Lines per request of a project import.
const PART_LINES: usize = 500;

/// `trawler projects import FILE`.
pub fn import(api: &Api, file: &std::path::Path, format: Option<&str>) -> Result<()> {
    let csv = match format {
        Some(f) => f == "csv",
        None => file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")),
    };
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
    let header = if csv {
        if lines.is_empty() {
            bail!("{} is empty", file.display());
        }
        Some(lines.remove(0).1)
    } else {
        None
    };
    lines.retain(|(_, l)| !l.trim().is_empty());
    if lines.is_empty() {
        bail!("{} has no project lines", file.display());
    }
    let bar = indicatif::ProgressBar::new(lines.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:32} {pos}/{len} lines · {msg} · eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let content_type = if csv { "text/csv" } else { "application/x-ndjson" };
    let url = format!("{}/api/v1/admin/projects/import", api.base);
    let mut counts = [0u64; 4];
    let mut report: Vec<String> = Vec::new();
    for part in lines.chunks(PART_LINES) {
        // Each part is a body of its own: a CSV part repeats the header.
        let mut body = header.map(|h| format!("{h}\n")).unwrap_or_default();
        for (_, l) in part {
            body.push_str(l);
            body.push('\n');
        }
        let answer = api.call(api.client.post(&url).header("Content-Type", content_type).body(body))?;
        for (i, outcome) in answer["lines"].as_array().into_iter().flatten().enumerate() {
            // The body's line numbers, back to the file's.
            let n = part.get(i).map_or(0, |(n, _)| *n);
            report.push(describe(n, outcome));
            let slot = match outcome["outcome"].as_str() {
                Some("created") => 0,
                Some("updated") => 1,
                Some("unchanged") => 2,
                _ => 3,
            };
            counts[slot] += 1;
        }
        bar.inc(part.len() as u64);
        bar.set_message(format!("{} created, {} updated, {} refused", counts[0], counts[1], counts[3]));
    }
    bar.finish_and_clear();
    for line in &report {
        out!("{line}");
    }
    out!("{} created, {} updated, {} unchanged, {} refused", counts[0], counts[1], counts[2], counts[3]);
    if counts[3] > 0 {
        bail!("{} line{} refused (see above)", counts[3], if counts[3] == 1 { "" } else { "s" });
    }
    Ok(())
}

/// One line of the report.
fn describe(n: usize, outcome: &Value) -> String {
    let key = outcome["external_key"].as_str().unwrap_or("-");
    let project = outcome["project_id"].as_i64().map_or(String::new(), |p| format!(" (project {p})"));
    match outcome["outcome"].as_str().unwrap_or("?") {
        "refused" => format!("line {n} {key}: refused: {}", outcome["reason"].as_str().unwrap_or("no reason given")),
        "updated" => {
            let changed: Vec<&str> =
                outcome["changed"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            format!("line {n} {key}: updated {}{project}", changed.join(", "))
        }
        other => format!("line {n} {key}: {other}{project}"),
    }
}

/// `trawler projects label ID key=value … key=`: sets or removes labels
/// (an empty value removes), keeping the others.
pub fn label(api: &Api, id: i64, changes: &[String]) -> Result<()> {
    let project = api.get(&format!("/api/v1/projects/{id}"))?;
    let mut labels = project["labels"].as_object().cloned().unwrap_or_default();
    for change in changes {
        let Some((k, v)) = change.split_once('=') else {
            bail!("`{change}` is not key=value (key= removes the label)");
        };
        if v.trim().is_empty() {
            labels.remove(k.trim());
        } else {
            labels.insert(k.trim().to_owned(), json!(v.trim()));
        }
    }
    let p =
        api.call(api.client.patch(format!("{}/api/v1/projects/{id}", api.base)).json(&json!({ "labels": labels })))?;
    out!("project {id}: {}", labels_line(&p));
    Ok(())
}

/// A project's labels as `key=value key=value` (`no labels`).
pub fn labels_line(project: &Value) -> String {
    let labels: Vec<String> = project["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    if labels.is_empty() {
        "no labels".into()
    } else {
        labels.join(" ")
    }
}

/// `--labels wave=spring,old=` as action `label`'s object (`null` removes).
pub fn change(text: &str) -> Result<Value> {
    let mut object = serde_json::Map::new();
    for piece in text.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = piece.split_once('=') else {
            bail!("`{piece}` is not key=value (key= removes the label)");
        };
        let v = v.trim();
        object.insert(k.trim().to_owned(), if v.is_empty() { Value::Null } else { json!(v) });
    }
    Ok(Value::Object(object))
}
