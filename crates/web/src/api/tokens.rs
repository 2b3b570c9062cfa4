//! Read tokens of a project: create (the token is shown once), list,
//! revoke, rotate. Admin only.

use actix_web::{web, HttpResponse};
use trawler_domain::ProjectId;
use trawler_store::ProjectToken;

use crate::api::{from_body, Body};
use crate::auth::Admin;
use crate::service::{check_label, db, issue, issue_for, Data};
use crate::views::*;
use crate::ApiError;

/// Creates a read token of a project; the token is in this answer only.
#[utoipa::path(post, path = "/api/v1/projects/{id}/tokens", tag = "tokens",
    params(("id" = i64, Path, description = "Project id")), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_token(_: Admin, state: Data, id: web::Path<i64>, body: Body) -> Result<HttpResponse, ApiError> {
    let project = ProjectId(id.into_inner());
    let body: CreateToken = from_body(body)?;
    let created = issue(&state, project, check_label(&body.name)?).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Creates one read token for several projects (a creator's campaigns);
/// the token is in this answer only. It reads each of them exactly as a
/// project's own token does, and nothing else; it is listed, rotated and
/// revoked with the first project's tokens. `GET /d?token=…` lists its
/// projects' pages.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateSetToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "One of the projects does not exist", body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_set_token(_: Admin, state: Data, body: Body) -> Result<HttpResponse, ApiError> {
    let body: CreateSetToken = from_body(body)?;
    let name = check_label(&body.name)?;
    if body.projects.is_empty() || body.projects.len() > trawler_store::token::MAX_TOKEN_PROJECTS {
        return Err(ApiError::BadRequest(format!(
            "`projects` lists 1 to {} project ids",
            trawler_store::token::MAX_TOKEN_PROJECTS
        )));
    }
    let created = issue_for(&state, body.projects.into_iter().map(ProjectId).collect(), name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A project's read tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/projects/{id}/tokens", tag = "tokens",
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = TokenList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_tokens(_: Admin, state: Data, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let project = ProjectId(id.into_inner());
    let tokens = db(&state, move |conn| ProjectToken::list(conn, project)).await?;
    Ok(HttpResponse::Ok()
        .json(TokenList { project_id: project.0, tokens: tokens.into_iter().map(Into::into).collect() }))
}

/// Revokes a read token: it reads nothing from now on.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/tokens/{token_id}", tag = "tokens",
    params(("id" = i64, Path, description = "Project id"), ("token_id" = i64, Path, description = "Token id")),
    responses((status = 200, body = crate::views::ProjectToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn revoke_token(_: Admin, state: Data, path: web::Path<(i64, i64)>) -> Result<HttpResponse, ApiError> {
    let (project, token) = path.into_inner();
    let revoked = db(&state, move |conn| ProjectToken::revoke(conn, ProjectId(project), token)).await?;
    Ok(HttpResponse::Ok().json(crate::views::ProjectToken::from(revoked)))
}

/// Replaces a read token: a new one with the same name, the old one revoked.
#[utoipa::path(post, path = "/api/v1/projects/{id}/tokens/{token_id}/rotate", tag = "tokens",
    params(("id" = i64, Path, description = "Project id"), ("token_id" = i64, Path, description = "Token id")),
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The token is revoked already", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn rotate_token(_: Admin, state: Data, path: web::Path<(i64, i64)>) -> Result<HttpResponse, ApiError> {
    let (project, token) = path.into_inner();
    let project = ProjectId(project);
    let old = db(&state, move |conn| ProjectToken::get(conn, project, token)).await?;
    if old.revoked_at_ms.is_some() {
        return Err(ApiError::Refused(crate::ErrorCode::TokenRevoked, "the token is revoked; create a new one".into()));
    }
    // The new one reads what the old one did.
    let created = issue_for(&state, old.projects(), old.name.clone()).await?;
    db(&state, move |conn| ProjectToken::revoke(conn, project, token)).await?;
    Ok(HttpResponse::Created().json(created))
}
