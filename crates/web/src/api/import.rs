//! `POST /api/v1/projects/{id}/points`: loads points into a project — the
//! other half of the exports, so history moves between nodes (a SQLite
//! trial to a PostgreSQL production) or comes in from another tool.
//!
//! The body is JSON lines (`application/x-ndjson`, the default) or CSV
//! (`text/csv`) with a header row; both exports' formats are accepted as they
//! are. Every line is checked before anything is stored: a bad line is a 400
//! naming it and nothing is written. Replays are harmless: a point that is
//! already stored is skipped.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use trawler_domain::{Metric, Platform, Point, ProjectId};
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::service::Data;
use crate::views::ErrorBody;
use crate::ApiError;

/// Largest body of one import request; the CLI sends bigger files in parts.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;
use trawler_domain::time::MAX_EPOCH;

/// The answer to an import.
#[derive(Serialize, ToSchema)]
pub struct Imported {
    /// The project.
    pub project_id: i64,
    /// Points read from the body.
    pub points: usize,
    /// Points new to the database (the rest were stored already).
    pub stored: usize,
}

/// One JSON line; other fields (`project_id`, `time`, `resolution`) are
/// ignored, so an export.jsonl imports as it is.
#[derive(Deserialize)]
struct Line {
    platform: String,
    metric: String,
    ts: i64,
    value: f64,
}

fn point(project: ProjectId, n: usize, line: Line) -> Result<Point, ApiError> {
    let bad = |what: String| ApiError::BadRequest(format!("line {n}: {what}"));
    let platform = line.platform.parse::<Platform>().map_err(|e| bad(e.to_string()))?;
    let metric = line.metric.parse::<Metric>().map_err(|e| bad(e.to_string()))?;
    if !(0..=MAX_EPOCH).contains(&line.ts) {
        return Err(bad(format!("ts {} is not epoch seconds between 0 and {MAX_EPOCH}", line.ts)));
    }
    if !line.value.is_finite() {
        return Err(bad("value must be a finite number".into()));
    }
    Ok(Point { project_id: project, platform, metric, ts: line.ts, value: line.value })
}

fn parse_jsonl(project: ProjectId, text: &str) -> Result<Vec<Point>, ApiError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            ApiError::BadRequest(format!("line {}: not a point ({{platform, metric, ts, value}}): {e}", i + 1))
        })?;
        out.push(point(project, i + 1, line)?);
    }
    Ok(out)
}

fn parse_csv(project: ProjectId, text: &str) -> Result<Vec<Point>, ApiError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        columns.iter().position(|c| *c == name).ok_or_else(|| {
            ApiError::BadRequest(format!("line 1: the CSV header lacks `{name}` (platform, metric, ts, value)"))
        })
    };
    let (p, m, t, v) = (find("platform")?, find("metric")?, find("ts")?, find("value")?);
    let mut out = Vec::new();
    for (i, raw) in lines {
        let n = i + 1;
        // Platform and metric names never hold commas or quotes: no quoting.
        let cells: Vec<&str> = raw.split(',').map(str::trim).collect();
        let cell =
            |k: usize| cells.get(k).copied().ok_or_else(|| ApiError::BadRequest(format!("line {n}: too few columns")));
        let ts = cell(t)?
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("line {n}: ts `{}` is not an integer", cell(t).unwrap_or(""))))?;
        let value = cell(v)?.parse().map_err(|_| {
            ApiError::BadRequest(format!("line {n}: value `{}` is not a number", cell(v).unwrap_or("")))
        })?;
        out.push(point(project, n, Line { platform: cell(p)?.to_owned(), metric: cell(m)?.to_owned(), ts, value })?);
    }
    Ok(out)
}

/// Loads points into a project (JSON lines or CSV, as the exports write them).
#[utoipa::path(post, path = "/api/v1/projects/{id}/points", tag = "data",
    params(("id" = i64, Path, description = "Project id")),
    request_body(content((String = "application/x-ndjson"), (String = "text/csv")),
        description = "JSON lines of {platform, metric, ts, value}, or CSV with a header naming those columns; up to 16 MiB"),
    responses((status = 200, body = Imported), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn import_points(
    _: Admin,
    state: Data,
    id: web::Path<i64>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    // Read by hand, so an oversized body gets the API's JSON 413.
    let mut body = web::BytesMut::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut payload).await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "the body is larger than {MAX_IMPORT_BYTES} bytes; send it in parts (`trawler import` does)"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let text = std::str::from_utf8(&body).map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("the body is empty: send points as JSON lines or CSV".into()));
    }
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let points = match mime.as_str() {
        "text/csv" => parse_csv(id, text)?,
        "" | "application/x-ndjson" | "application/jsonl" | "application/json" | "text/plain" => parse_jsonl(id, text)?,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Content-Type `{other}` is not taken: send application/x-ndjson or text/csv"
            )))
        }
    };
    let imported = state.tree.import(id, points).await?;
    Ok(HttpResponse::Ok().json(Imported { project_id: id.0, points: imported.points, stored: imported.stored }))
}
