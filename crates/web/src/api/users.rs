//! People who use the admin UI: added with a role and a password, their
//! role changed, removed (which ends their sessions at once).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use trawler_store::User;
use utoipa::ToSchema;

use super::{from_body, Body};
use crate::auth::{Admin, Role};
use crate::service::{db, Data};
use crate::views::ErrorBody;
use crate::ApiError;

/// Shortest password.
pub const PASSWORD_MIN: usize = 10;

/// A user (never their password).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// Their name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// When they were added, epoch ms.
    pub created_at_ms: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> UserView {
        UserView { role: u.role.parse().unwrap_or(Role::Viewer), name: u.name, created_at_ms: u.created_at_ms }
    }
}

/// Every user.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    /// By name.
    pub users: Vec<UserView>,
}

/// `POST /api/v1/admin/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 lower-case letters, digits, `.`, `_` or `-`.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: Role,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
}

/// `PATCH /api/v1/admin/users/{name}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// A new role.
    #[serde(default)]
    pub role: Option<Role>,
    /// A new password (ends their sessions).
    #[serde(default)]
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
}

pub(crate) fn check_user_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest("`name`: 1 to 64 lower-case letters, digits, `.`, `_` or `-`".into()))
    }
}

/// The argon2 hash of a checked password (off the server's threads).
pub(crate) async fn hashed(password: String) -> Result<String, ApiError> {
    let n = password.chars().count();
    if !(PASSWORD_MIN..=1024).contains(&n) || password.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "`password`: {PASSWORD_MIN} to 1024 characters, no control characters"
        )));
    }
    web::block(move || crate::ui::hash_password(&password)).await?.map_err(ApiError::Internal)
}

/// Every user of the admin UI, with their role.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody)))]
pub async fn list_users(_: Admin, state: Data) -> Result<HttpResponse, ApiError> {
    let users = db(&state, User::list).await?;
    Ok(HttpResponse::Ok().json(UserList { users: users.into_iter().map(UserView::from).collect() }))
}

/// Adds a user with a role and a password.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody)))]
pub async fn create_user(_: Admin, state: Data, body: Body) -> Result<HttpResponse, ApiError> {
    let body: NewUser = from_body(body)?;
    check_user_name(&body.name)?;
    let hash = hashed(body.password).await?;
    let (name, role) = (body.name, body.role);
    let user = db(&state, move |conn| {
        if User::get(conn, &name)?.is_some() {
            return Ok(None);
        }
        User::create(conn, &name, role.as_str(), &hash).map(Some)
    })
    .await?
    .ok_or_else(|| ApiError::Conflict("a user of that name exists".into()))?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Changes a user's role or password (a new password ends their sessions).
#[utoipa::path(patch, path = "/api/v1/admin/users/{name}", tag = "admin", request_body = UpdateUser,
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_user(_: Admin, state: Data, name: web::Path<String>, body: Body) -> Result<HttpResponse, ApiError> {
    let body: UpdateUser = from_body(body)?;
    let hash = match body.password {
        Some(p) => Some(hashed(p).await?),
        None => None,
    };
    let (name, role) = (name.into_inner(), body.role);
    let user = db(&state, move |conn| User::update(conn, &name, role.map(Role::as_str), hash.as_deref())).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// Removes a user; their sessions end at once.
#[utoipa::path(delete, path = "/api/v1/admin/users/{name}", tag = "admin",
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_user(_: Admin, state: Data, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if !db(&state, move |conn| User::delete(conn, &name)).await? {
        return Err(ApiError::NotFound("no such user".into()));
    }
    Ok(HttpResponse::NoContent().finish())
}
