//! The Users page (admins only): who may log in, with which role; add,
//! change a role, remove.

use super::*;
use crate::auth::Role;

#[derive(Template)]
#[template(path = "users.html")]
pub(super) struct UsersPage {
    pub(super) csrf: String,
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    /// Name, role, added.
    pub(super) users: Vec<(String, String, String)>,
}

/// The users.
pub async fn users_page(session: UiSession, state: Data, q: web::Query<FlashQuery>) -> Result<HttpResponse, ApiError> {
    session.require(Role::Admin)?;
    let users = db(&state, trawler_store::User::list).await?;
    html(&UsersPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "users",
        flash: q.into_inner().flash,
        users: users.into_iter().map(|u| (u.name, u.role, ms_text(Some(u.created_at_ms)))).collect(),
    })
}

#[derive(Deserialize)]
pub struct UserForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

fn back(message: &str) -> HttpResponse {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("flash", message).finish();
    see_other(&format!("/ui/users?{query}"))
}

fn role_of(text: &str) -> Result<Role, ApiError> {
    text.parse().map_err(|e: String| ApiError::BadRequest(e))
}

/// Adds a user.
pub async fn add_user(session: UiSession, state: Data, form: web::Form<UserForm>) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let form = form.into_inner();
    let name = form.name.trim().to_owned();
    crate::api::users::check_user_name(&name)?;
    let role = role_of(&form.role)?;
    let hash = crate::api::users::hashed(form.password).await?;
    let added = name.clone();
    let made = db(&state, move |conn| {
        if trawler_store::User::get(conn, &added)?.is_some() {
            return Ok(false);
        }
        trawler_store::User::create(conn, &added, role.as_str(), &hash).map(|_| true)
    })
    .await?;
    Ok(back(&if made { format!("Added {name} ({})", role.as_str()) } else { format!("{name} exists already") }))
}

/// Changes a user's role.
pub async fn set_role(
    session: UiSession,
    state: Data,
    name: web::Path<String>,
    form: web::Form<UserForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let role = role_of(&form.role)?;
    let name = name.into_inner();
    let changed = name.clone();
    db(&state, move |conn| trawler_store::User::update(conn, &changed, Some(role.as_str()), None)).await?;
    Ok(back(&format!("{name} is {} {} now", if role == Role::Viewer { "a" } else { "an" }, role.as_str())))
}

/// Removes a user (their sessions end).
pub async fn remove_user(
    session: UiSession,
    state: Data,
    name: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let name = name.into_inner();
    let gone = name.clone();
    db(&state, move |conn| trawler_store::User::delete(conn, &gone)).await?;
    Ok(back(&format!("Removed {name}")))
}
