//! A project's points as CSV or JSON lines, streamed.

use actix_web::{web, HttpResponse};
use serde_json::json;
use std::collections::BTreeMap;

use trawler_domain::{Currency, Metric, Platform, ProjectId};
use trawler_store::{Point, Project};

use super::series::times;
use crate::auth::Reader;
use crate::service::{db, Data};
use crate::views::*;
use crate::ApiError;

/// Rows per database read of an export.
const EXPORT_CHUNK: usize = 5_000;

#[derive(Clone, Copy, PartialEq)]
enum ExportFormat {
    Csv,
    JsonLines,
}

/// The currency of each platform's money in an export.
type ExportCurrencies = BTreeMap<Platform, Currency>;

fn render_rows(
    project: ProjectId,
    rows: &[trawler_store::ExportRow],
    format: ExportFormat,
    currencies: &ExportCurrencies,
) -> String {
    let mut out = String::with_capacity(rows.len() * 80);
    for r in rows {
        let resolution = if r.rollup { "hour" } else { "raw" };
        let time = trawler_domain::time::rfc3339(r.ts);
        // Money names its currency; other metrics, and money of a source
        // whose currency is unknown, leave it empty.
        let currency = r
            .platform
            .parse::<Platform>()
            .ok()
            .and_then(|p| currencies.get(&p))
            .filter(|_| trawler_domain::money::is_money(&r.metric));
        match format {
            // Platform and metric names are [a-z0-9_], currencies [A-Z]:
            // nothing to quote.
            ExportFormat::Csv => out.push_str(&format!(
                "{project},{},{},{},{time},{},{resolution},{}\n",
                r.platform,
                r.metric,
                r.ts,
                r.value,
                currency.map_or("", |c| c.as_str())
            )),
            ExportFormat::JsonLines => {
                let line = json!({"project_id": project, "platform": r.platform, "metric": r.metric,
                    "ts": r.ts, "time": time, "value": r.value, "resolution": resolution,
                    "currency": currency.map(|c| c.as_str())});
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
    out
}

/// Streams a project's points, chunk by chunk, so an export of any size
/// holds one chunk in memory.
/// The read's permit is held until the last chunk is sent.
async fn export(reader: Reader, state: Data, q: ExportParams, format: ExportFormat) -> Result<HttpResponse, ApiError> {
    let permit = state.limits.reads.enter(reader.token_id)?;
    let id = reader.project;
    let metric =
        q.metric.as_deref().map(str::parse::<Metric>).transpose().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (from, to) = times(q.from, q.to)?;
    let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to` (both epoch seconds)".into()));
    }
    let (cursor, currencies) = db(&state, move |conn| {
        Project::get(conn, id)?;
        Ok((Point::export_start(conn, id, metric.as_ref())?, crate::money::source_currencies(conn, id)?))
    })
    .await?;
    let currencies = std::sync::Arc::new(currencies);
    let pool = state.pool.clone();
    let chunks = futures_util::stream::unfold(Some(cursor), move |cursor| {
        let pool = pool.clone();
        let currencies = currencies.clone();
        let _held = &permit;
        async move {
            let cursor = cursor?;
            let read = web::block(move || {
                let mut conn = pool.get()?;
                Point::export_chunk(&mut conn, id, from, to, cursor, EXPORT_CHUNK)
            })
            .await;
            Some(match read {
                Ok(Ok((rows, next))) => (Ok(web::Bytes::from(render_rows(id, &rows, format, &currencies))), next),
                // The response has started: the error can only end it.
                Ok(Err(e)) => (Err(actix_web::Error::from(ApiError::from(e))), None),
                Err(e) => (Err(actix_web::Error::from(ApiError::from(e))), None),
            })
        }
    });
    let (content_type, extension, header) = match format {
        ExportFormat::Csv => {
            ("text/csv; charset=utf-8", "csv", "project_id,platform,metric,ts,time,value,resolution,currency\n")
        }
        ExportFormat::JsonLines => ("application/x-ndjson", "jsonl", ""),
    };
    let head =
        futures_util::stream::once(
            async move { Ok::<_, actix_web::Error>(web::Bytes::from_static(header.as_bytes())) },
        );
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"project-{id}.{extension}\"")))
        .streaming(futures_util::StreamExt::chain(head, chunks)))
}

/// Streams a project's points (raw and hourly rollups) as CSV.
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/export.csv", tag = "data",
    params(("id" = i64, Path, description = "Project id"), ExportParams),
    responses((status = 200, description = "project_id,platform,metric,ts,time,value,resolution,currency", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn export_csv(reader: Reader, state: Data, q: web::Query<ExportParams>) -> Result<HttpResponse, ApiError> {
    export(reader, state, q.into_inner(), ExportFormat::Csv).await
}

/// Streams a project's points (raw and hourly rollups) as JSON lines.
#[utoipa::path(get, security(("admin" = []), ("read_token" = [])), path = "/api/v1/projects/{id}/export.jsonl", tag = "data",
    params(("id" = i64, Path, description = "Project id"), ExportParams),
    responses((status = 200, description = "One JSON object per point", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn export_jsonl(reader: Reader, state: Data, q: web::Query<ExportParams>) -> Result<HttpResponse, ApiError> {
    export(reader, state, q.into_inner(), ExportFormat::JsonLines).await
}
