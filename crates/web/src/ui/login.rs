//! Signing in and out of the admin UI.

use super::*;

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) csrf: String,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) enabled: bool,
}

pub async fn login_page(state: Data) -> Result<HttpResponse, ApiError> {
    html(&LoginPage { csrf: String::new(), nav: "", flash: None, enabled: state.ui_password_hash.is_some() })
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
}

pub async fn login(state: Data, req: HttpRequest, form: web::Form<LoginForm>) -> Result<HttpResponse, ApiError> {
    let Some(hash) = state.ui_password_hash.clone() else {
        return login_page(state).await;
    };
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = crate::login::client_address(peer, forwarded, &state.login_guard.trusted_proxies);
    let password = form.into_inner().password;
    let Ok(ok) = state.login_guard.attempt(ip, move || verify_password(&hash, &password)).await else {
        let page = LoginPage {
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
    if !ok {
        log::warn!("ui: failed login from {ip}");
        let page = LoginPage { csrf: String::new(), nav: "", flash: Some("Wrong password.".into()), enabled: true };
        let mut resp = html(&page)?;
        *resp.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    }
    let (id, csrf) = (random_hex(32)?, random_hex(16)?);
    let id_hash = token_hash(&id);
    db(&state, move |conn| Session::create(conn, &id_hash, &csrf, SESSION_TTL_MS)).await?;
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
