//! `POST /api/v1/admin/projects/import`: creates or updates projects from a
//! file by their stable key (`external_key`), idempotently — a line that
//! matches its project changes nothing, a changed line updates only its
//! project, a bad line is refused with its reason and the others are
//! applied. `trawler projects import FILE` sends a file in parts.
//!
//! JSON lines: `{"external_key", "name", "sources": [{platform,
//! external_ref, options, secret}], "labels": {…}}`. CSV with a header:
//! `external_key,name,sources,labels`, sources as `platform:reference`
//! separated by spaces, labels as `key=value` separated by `;`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use trawler_domain::labels::Labels;
use trawler_domain::now_millis;
use trawler_store::{NewSource, Project, ProjectPatch, Source};
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::service::{check_name, check_sources, db, Data};
use crate::views::{ErrorBody, SourceInput};
use crate::ApiError;

/// Most lines in one request (the CLI sends files in parts of 500).
pub const MOST_LINES: usize = 10_000;
/// Largest body of one request.
const MOST_BYTES: usize = 16 * 1024 * 1024;

/// One line as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    external_key: String,
    name: String,
    #[serde(default)]
    sources: Vec<SourceInput>,
    #[serde(default)]
    labels: Option<serde_json::Value>,
}

/// What became of one line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineOutcome {
    /// The line's number in the body (the header of a CSV is line 1).
    pub line: usize,
    /// Its key, if it could be read.
    pub external_key: Option<String>,
    /// `created`, `updated`, `unchanged` or `refused`.
    pub outcome: &'static str,
    /// The project, unless refused.
    pub project_id: Option<i64>,
    /// What an update changed (`name`, `sources`, `labels`; empty
    /// otherwise).
    pub changed: Vec<&'static str>,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// The answer to an import.
#[derive(Serialize, ToSchema)]
pub struct ProjectsImported {
    /// Lines that created a project.
    pub created: usize,
    /// Lines that changed their project.
    pub updated: usize,
    /// Lines their project already matched.
    pub unchanged: usize,
    /// Lines refused (see each one's reason); the others were applied.
    pub refused: usize,
    /// Every line, in order.
    pub lines: Vec<LineOutcome>,
}

/// A line read and checked.
struct Wanted {
    key: String,
    name: String,
    sources: Vec<SourceInput>,
    labels: Labels,
}

/// Each line's number and what it asks for, or why it cannot be read.
type Read = Vec<(usize, Result<Wanted, String>)>;

fn read_jsonl(text: &str) -> Read {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, raw)| {
            let wanted =
                serde_json::from_str::<Line>(raw).map_err(|e| format!("not a project line: {e}")).and_then(|l| {
                    let labels = match &l.labels {
                        None => Labels::new(),
                        Some(v) => crate::labels::check_labels(v).map_err(|e| e.to_string())?,
                    };
                    Ok(Wanted { key: l.external_key, name: l.name, sources: l.sources, labels })
                });
            (i + 1, wanted)
        })
        .collect()
}

fn read_csv(text: &str) -> Result<Read, ApiError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| ApiError::BadRequest(format!("line 1: {e}")))?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(k), Some(n)) = (column("external_key"), column("name")) else {
        return Err(ApiError::BadRequest(
            "line 1: the CSV header needs `external_key` and `name` (and `sources`, `labels`)".into(),
        ));
    };
    for h in header.iter() {
        if !["external_key", "name", "sources", "labels"].contains(&h) {
            return Err(ApiError::BadRequest(format!(
                "line 1: unknown column `{h}` (external_key, name, sources, labels)"
            )));
        }
    }
    let (s, l) = (column("sources"), column("labels"));
    let mut out = Vec::new();
    for record in reader.records() {
        let (line, wanted) = match record {
            Err(e) => (e.position().map_or(0, |p| p.line() as usize), Err(format!("not a CSV row: {e}"))),
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                let cell = |i: Option<usize>| i.and_then(|i| r.get(i)).unwrap_or("");
                let sources = cell(s)
                    .split_whitespace()
                    .map(|piece| match piece.split_once(':') {
                        Some((platform, reference)) => Ok(SourceInput {
                            platform: platform.to_owned(),
                            external_ref: reference.to_owned(),
                            options: None,
                            secret: None,
                        }),
                        None => Err(format!("source `{piece}` is not platform:reference")),
                    })
                    .collect::<Result<Vec<_>, _>>();
                let wanted = sources.and_then(|sources| {
                    let labels = Labels::parse_text(cell(l)).map_err(|e| format!("labels: {e}"))?;
                    Ok(Wanted { key: cell(Some(k)).to_owned(), name: cell(Some(n)).to_owned(), sources, labels })
                });
                (line, wanted)
            }
        };
        out.push((line, wanted));
    }
    Ok(out)
}

/// Whether the sources a line asks for are those the project has: the
/// same platforms, references and options, and the same secret where the
/// line gives one (a line without one keeps the project's).
fn same_sources(state: &Data, wanted: &[NewSource], given: &[SourceInput], have: &[Source]) -> bool {
    wanted.len() == have.len()
        && wanted.iter().zip(given).all(|(w, g)| {
            have.iter().any(|h| {
                h.platform == w.platform
                    && h.external_ref == w.external_ref
                    && *h.options == w.options
                    && match g.secret.as_deref().filter(|s| !s.is_empty()) {
                        None => true,
                        Some(plain) => h
                            .secret
                            .as_deref()
                            .and_then(|sealed| state.tree.cipher().open(sealed).ok())
                            .is_some_and(|open| open == plain),
                    }
            })
        })
}

/// Applies one checked line: creates, updates or leaves its project.
async fn apply(
    state: &Data,
    line: usize,
    wanted: Wanted,
    existing: Option<(Project, Vec<Source>)>,
) -> Result<LineOutcome, ApiError> {
    let key = crate::labels::check_external_key(&wanted.key)?
        .ok_or_else(|| ApiError::BadRequest("`external_key` is required".into()))?;
    let name = check_name(&wanted.name)?;
    let have_sources: &[Source] = existing.as_ref().map_or(&[], |(_, s)| s.as_slice());
    let sources = check_sources(state, wanted.sources.clone(), have_sources)?;
    let outcome = |outcome, project: i64, changed| LineOutcome {
        line,
        external_key: Some(key.clone()),
        outcome,
        project_id: Some(project),
        changed,
        reason: None,
    };
    let Some((project, have)) = existing else {
        let (project, _) = state.tree.create_project(name, sources, Default::default(), None).await?;
        let (id, labels, stored_key) = (project.id, wanted.labels, key.clone());
        crate::service::db_checked(state, move |conn| {
            crate::labels::store(conn, id, Some(&labels), Some(Some(stored_key.as_str())))
        })
        .await?;
        return Ok(outcome("created", id.0, Vec::new()));
    };
    let mut changed = Vec::new();
    let rename = (project.name != name).then(|| {
        changed.push("name");
        name
    });
    let replace = (!same_sources(state, &sources, &wanted.sources, &have)).then(|| {
        changed.push("sources");
        sources
    });
    let id = project.id;
    if rename.is_some() || replace.is_some() {
        state.tree.update_project(id, ProjectPatch { name: rename, sources: replace }).await?;
    }
    if project.labels != wanted.labels {
        changed.push("labels");
        let labels = wanted.labels;
        db(state, move |conn| Project::set_labels(conn, id, &labels, now_millis())).await?;
    }
    Ok(outcome(if changed.is_empty() { "unchanged" } else { "updated" }, id.0, changed))
}

/// Creates or updates projects by their external key, one line each: JSON
/// lines (`application/x-ndjson`) or CSV (`text/csv`) with a header. A bad
/// line is refused with its reason and the others are applied; a line its
/// project already matches changes nothing.
#[utoipa::path(post, path = "/api/v1/admin/projects/import", tag = "projects",
    request_body(content((String = "application/x-ndjson"), (String = "text/csv")),
        description = "Lines of {external_key, name, sources, labels}, or CSV with a header naming those columns; up to 10,000 lines"),
    responses((status = 200, body = ProjectsImported), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn import_projects(
    _: Admin,
    state: Data,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut payload).await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > MOST_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "the body is larger than {MOST_BYTES} bytes; send it in parts (`trawler projects import` does)"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let text = std::str::from_utf8(&body).map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8: {e}")))?;
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let lines = match mime.as_str() {
        "text/csv" => read_csv(text)?,
        "" | "application/x-ndjson" | "application/jsonl" | "application/json" | "text/plain" => read_jsonl(text),
        other => {
            return Err(ApiError::BadRequest(format!(
                "Content-Type `{other}` is not taken: send application/x-ndjson or text/csv"
            )))
        }
    };
    if lines.is_empty() {
        return Err(ApiError::BadRequest("the body has no project lines".into()));
    }
    if lines.len() > MOST_LINES {
        return Err(ApiError::PayloadTooLarge(format!("at most {MOST_LINES} lines at once; send the file in parts")));
    }
    let keys: Vec<String> = lines.iter().filter_map(|(_, w)| w.as_ref().ok().map(|w| w.key.clone())).collect();
    let mut existing = db(&state, move |conn| {
        let projects = Project::by_external_keys(conn, &keys)?;
        let ids: Vec<_> = projects.values().map(|p| p.id).collect();
        let mut sources: BTreeMap<_, Vec<Source>> = BTreeMap::new();
        for s in Source::list_for_projects(conn, &ids)? {
            sources.entry(s.project_id).or_default().push(s);
        }
        Ok(projects
            .into_iter()
            .map(|(k, p)| {
                let s = sources.remove(&p.id).unwrap_or_default();
                (k, (p, s))
            })
            .collect::<BTreeMap<_, _>>())
    })
    .await?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = ProjectsImported { created: 0, updated: 0, unchanged: 0, refused: 0, lines: Vec::new() };
    for (line, wanted) in lines {
        let refused = |key: Option<String>, reason: String| LineOutcome {
            line,
            external_key: key,
            outcome: "refused",
            project_id: None,
            changed: Vec::new(),
            reason: Some(reason),
        };
        let result = match wanted {
            Err(reason) => refused(None, reason),
            Ok(w) => match seen.get(&w.key) {
                Some(first) => refused(Some(w.key.clone()), format!("`{}` is on line {first} already", w.key)),
                None => {
                    seen.insert(w.key.clone(), line);
                    let key = w.key.clone();
                    let had = existing.remove(&key);
                    match apply(&state, line, w, had).await {
                        Ok(outcome) => outcome,
                        // The database or the tree away ends the import: the
                        // lines so far stay applied, and a retry is harmless.
                        Err(e @ ApiError::Unavailable(_)) => return Err(e),
                        Err(e) => refused(Some(key), e.to_string()),
                    }
                }
            },
        };
        match result.outcome {
            "created" => out.created += 1,
            "updated" => out.updated += 1,
            "unchanged" => out.unchanged += 1,
            _ => out.refused += 1,
        }
        out.lines.push(result);
    }
    Ok(HttpResponse::Ok().json(out))
}
