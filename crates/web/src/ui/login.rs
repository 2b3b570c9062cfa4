//! Signing in and out of the admin UI.

use super::*;

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) enabled: bool,
}

/// An argon2 hash no password matches, checked for an unknown user name so
/// that it takes as long as a known one.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no password matches this one").unwrap_or_default());

/// Whether anyone can log in: the node's admin password is set, or a user
/// exists.
async fn enabled(state: &Data) -> Result<bool, ApiError> {
    Ok(state.ui_password_hash.is_some() || !db(state, trawler_store::User::list).await?.is_empty())
}

pub async fn login_page(state: Data) -> Result<HttpResponse, ApiError> {
    let enabled = enabled(&state).await?;
    html(&LoginPage { role: "", csrf: String::new(), nav: "", flash: None, enabled })
}

#[derive(Deserialize)]
pub struct LoginForm {
    /// A user's name; empty: the node's own admin password.
    #[serde(default)]
    user: String,
    password: String,
}

pub async fn login(state: Data, req: HttpRequest, form: web::Form<LoginForm>) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let name = form.user.trim().to_owned();
    // Whose hash the password is checked against: the user's, or the
    // node's own admin password's.
    let (hash, user) = if name.is_empty() {
        match state.ui_password_hash.clone() {
            Some(hash) => (hash, None),
            None => return login_page(state).await,
        }
    } else {
        let wanted = name.clone();
        match db(&state, move |conn| trawler_store::User::get(conn, &wanted)).await? {
            Some(u) => (u.password_hash, u.role.parse::<crate::auth::Role>().ok().map(|r| (u.name, r))),
            // An unknown name costs a check too: a dummy hash of the same kind.
            None => (DUMMY_HASH.clone(), None),
        }
    };
    let known = name.is_empty() || user.is_some();
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = crate::login::client_address(peer, forwarded, &state.login_guard.trusted_proxies);
    let password = form.password;
    let Ok(checked) = state.login_guard.attempt(ip, move || verify_password(&hash, &password)).await else {
        let page = LoginPage {
            role: "",
            csrf: String::new(),
            nav: "",
            flash: Some("A login from this address is already being checked; try again in a moment.".into()),
            enabled: true,
        };
        let mut resp = html(&page)?;
        *resp.status_mut() = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        return Ok(resp);
    };
    if !(checked && known) {
        log::warn!("ui: failed login from {ip}");
        let flash = Some(if name.is_empty() { "Wrong password." } else { "Wrong user or password." }.into());
        let page = LoginPage { role: "", csrf: String::new(), nav: "", flash, enabled: true };
        let mut resp = html(&page)?;
        *resp.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    }
    let (who, role) = user.map_or(("admin".to_owned(), "admin"), |(n, r)| (n, r.as_str()));
    crate::audit::act_as(&req, &who, role);
    let user = (!name.is_empty()).then_some(who);
    let (id, csrf) = (random_hex(32)?, random_hex(16)?);
    let id_hash = token_hash(&id);
    db(&state, move |conn| Session::create_for(conn, &id_hash, &csrf, SESSION_TTL_MS, user.as_deref())).await?;
    let secure = state.secure_cookies || req.connection_info().scheme() == "https";
    let cookie = Cookie::build(SESSION_COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::milliseconds(SESSION_TTL_MS))
        .finish();
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, "/ui/")).finish())
}

pub async fn logout(session: UiSession, state: Data, form: web::Form<CsrfForm>) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id_hash = session.id_hash.clone();
    db(&state, move |conn| Session::delete(conn, &id_hash)).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther().cookie(gone).insert_header((header::LOCATION, "/ui/login")).finish())
}
