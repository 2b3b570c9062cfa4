//! Access control. Routes that write or inspect take an [`Admin`]: the
//! request carries `Authorization: Bearer <admin token>`. Dashboard reads of
//! one project take a [`Reader`]: the admin token, or a read token of that
//! project (in the header, or as `?token=` where a browser cannot set
//! headers, as with EventSource). Only read tokens travel in a query
//! string: the admin token there would end up in proxy logs and browser
//! history, so it is refused. `/metrics` takes a [`MetricsReader`]: the
//! admin, or the scrape token (`TRAWLER_METRICS_TOKEN`) that gives
//! Prometheus nothing else. Read tokens are random, shown once, and stored
//! only as a SHA-256.
//!
//! A missing or unknown credential is 401; a valid credential without the
//! right (a read token on an admin route, on another project) is 403.

use actix_web::error::InternalError;
use actix_web::http::{header, Method};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use trawler_domain::ProjectId;
use trawler_store::{ProjectToken, Session};

use crate::{ApiError, AppState};

/// The admin UI's session cookie.
pub const SESSION_COOKIE: &str = "trawler_session";

/// The admin session a request's cookie names, if it is live. Only read
/// requests may ride on a cookie: state changes need a bearer token or a
/// form with the session's CSRF token.
/// A pending session lookup: the id's hash, the session and its user's
/// name and role, if live (a session whose user was removed is not).
type SessionLookup = LocalBoxFuture<'static, Result<Option<(String, Session, String, Role)>, ApiError>>;

fn session_lookup(req: &HttpRequest) -> Option<SessionLookup> {
    let id = req.cookie(SESSION_COOKIE)?.value().to_owned();
    let pool = req.app_data::<web::Data<AppState>>()?.pool.clone();
    Some(Box::pin(async move {
        let hash = token_hash(&id);
        let found = web::block(move || {
            let mut conn = pool.get()?;
            let Some(session) = Session::get(&mut conn, &hash)? else { return Ok(None) };
            // The role is read at each request: a change or a removal
            // holds at once.
            let who = match &session.user {
                None => Some(("admin".to_owned(), Role::Admin)),
                Some(name) => trawler_store::User::get(&mut conn, name)?
                    .and_then(|u| u.role.parse::<Role>().ok().map(|role| (u.name, role))),
            };
            Ok::<_, trawler_store::StoreError>(who.map(|(name, role)| (hash, session, name, role)))
        })
        .await??;
        Ok(found)
    }))
}

/// What a user of the admin UI may do: a viewer reads; an operator also
/// triggers, resumes, pauses and cancels; an admin does everything.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads, triggers, resumes, pauses and cancels.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (admin, operator or viewer)")),
        }
    }
}

/// The role a UI route that changes state needs: an operator's actions
/// (triggers, resumes, pauses, cancels, the bulk bar — whose admin-only
/// actions its handler refuses), logging out for anyone, the rest an
/// admin's.
pub fn role_needed(pattern: &str) -> Role {
    match pattern {
        "/ui/logout" => Role::Viewer,
        "/ui/projects/{id}/scrape"
        | "/ui/projects/{id}/resume"
        | "/ui/projects/{id}/schedule/{verb}"
        | "/ui/runs/{id}/cancel"
        | "/ui/jobs/{id}/cancel"
        | "/ui/bulk" => Role::Operator,
        _ => Role::Admin,
    }
}

fn is_read(req: &HttpRequest) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
}

/// A logged-in user of the web UI; pages without one redirect to the
/// login. A state change beyond the user's role is refused (403, naming
/// the role it needs) before its handler runs.
pub struct UiSession {
    /// The token the session's forms carry.
    pub csrf: String,
    /// The hash of the session's id (to end it).
    pub id_hash: String,
    /// Who (`admin`: the node's own password).
    pub user: String,
    /// What they may do.
    pub role: Role,
}

impl UiSession {
    /// Refuses what needs more than the user's role.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "this needs the {} role; {} is {} {}",
            needed.as_str(),
            self.user,
            if self.role == Role::Viewer { "a" } else { "an" },
            self.role.as_str()
        )))
    }

    /// The role's word, for the pages (what they show and hide).
    pub fn role_str(&self) -> &'static str {
        self.role.as_str()
    }
}

impl FromRequest for UiSession {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<UiSession, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lookup = session_lookup(req);
        let req = req.clone();
        Box::pin(async move {
            let to_login = || -> actix_web::Error {
                let resp = HttpResponse::SeeOther().insert_header((header::LOCATION, "/ui/login")).finish();
                InternalError::from_response("log in first", resp).into()
            };
            let Some(lookup) = lookup else { return Err(to_login()) };
            match lookup.await? {
                Some((id_hash, session, user, role)) => {
                    crate::audit::act_as(&req, &user, role.as_str());
                    let ui = UiSession { csrf: session.csrf, id_hash, user, role };
                    if !is_read(&req) {
                        let pattern = req.match_pattern().unwrap_or_default();
                        ui.require(role_needed(&pattern))?;
                    }
                    Ok(ui)
                }
                None => Err(to_login()),
            }
        })
    }
}

/// A new read token: `trw_` and 40 hex digits (160 random bits).
pub fn new_read_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ApiError::Internal("the system random source failed".into()))?;
    Ok(format!("trw_{}", hex(&bytes)))
}

/// The SHA-256 of a token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin credential, compared in constant time.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token. Empty tokens are refused at configuration time.
    pub fn new(token: impl Into<String>) -> AdminToken {
        AdminToken(token.into())
    }

    /// Whether `candidate` is the token. Constant time in the token's
    /// length, so response timing does not reveal a matching prefix.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

/// Proof that the request carries the admin token.
pub struct Admin;

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `token` has the shape of a read token (`trw_` and 40 hex digits).
fn is_read_token(token: &str) -> bool {
    token.len() == 44 && token.starts_with("trw_") && token[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The credential of a request: the header's bearer token, else `?token=`
/// (read tokens only), and whether it came in the query string.
fn credential(req: &HttpRequest) -> Option<(String, bool)> {
    if let Some(t) = bearer(req) {
        return Some((t.to_owned(), false));
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("token").cloned())
        .filter(|t| !t.is_empty())
        .map(|t| (t, true))
}

/// Whether `token` is a live read token of some project (well-formed
/// tokens only reach the database).
pub(crate) async fn live_read_token(state: &AppState, token: &str) -> Result<Option<ProjectToken>, ApiError> {
    if !is_read_token(token) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let pool = state.pool.clone();
    Ok(web::block(move || {
        let mut conn = pool.get()?;
        ProjectToken::authenticate(&mut conn, &hash)
    })
    .await??)
}

/// Proof that the request may read the project in its path: the admin, or a
/// live read token of that project.
pub struct Reader {
    /// The project in the path.
    pub project: ProjectId,
    /// Whether the credential is the admin's (token or UI session), not a
    /// project's read token.
    pub admin: bool,
    /// The read token's id, when the credential is one.
    pub token_id: Option<i64>,
}

impl FromRequest for Reader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Reader, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let id = req.match_info().get("id").map(str::to_owned);
        let token = credential(req);
        let session = if token.is_none() && is_read(req) { session_lookup(req) } else { None };
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let parse = |id: Option<String>| {
                id.and_then(|id| id.parse::<i64>().ok())
                    .map(ProjectId)
                    .ok_or_else(|| ApiError::BadRequest("invalid path: the project id must be an integer".into()))
            };
            if let Some(session) = session {
                if session.await?.is_some() {
                    return Ok(Reader { project: parse(id)?, admin: true, token_id: None });
                }
            }
            let Some((token, in_query)) = token else {
                return Err(ApiError::Unauthorized(
                    "send `Authorization: Bearer <admin token or this project's read token>`".into(),
                ));
            };
            let project = parse(id)?;
            if state.admin_token.matches(&token) {
                if in_query {
                    return Err(ApiError::Unauthorized(
                        "the admin token is accepted only in the Authorization header, never in a URL".into(),
                    ));
                }
                return Ok(Reader { project, admin: true, token_id: None });
            }
            match live_read_token(&state, &token).await? {
                Some(t) if t.covers(project) => Ok(Reader { project, admin: false, token_id: Some(t.id) }),
                Some(_) => Err(ApiError::Forbidden("this token reads another project".into())),
                None if state.metrics_token.as_ref().is_some_and(|t| t.matches(&token)) => {
                    Err(ApiError::Forbidden("the metrics token reads /metrics only".into()))
                }
                None => Err(ApiError::Unauthorized("invalid token".into())),
            }
        })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Box::pin(async { Err(ApiError::Internal("application state missing".into())) });
        };
        let state = state.clone();
        let token = bearer(req).map(str::to_owned);
        let verdict = match &token {
            Some(token) if state.admin_token.matches(token) => {
                crate::audit::act_as(req, "token", "admin");
                Ok(Admin)
            }
            Some(_) => Err(ApiError::Unauthorized("invalid token".into())),
            None => Err(ApiError::Unauthorized("send `Authorization: Bearer <admin token>`".into())),
        };
        // The UI's pages read the API with their session cookie.
        let session = if verdict.is_err() && token.is_none() && is_read(req) { session_lookup(req) } else { None };
        Box::pin(async move {
            if let Some(session) = session {
                if session.await?.is_some() {
                    return Ok(Admin);
                }
            }
            if let (Err(_), Some(token)) = (&verdict, &token) {
                forbid_lesser_credential(&state, token).await?;
            }
            verdict
        })
    }
}

/// A credential that is valid but not the admin's (a read token, the
/// metrics token) is refused with 403: it authenticates, it lacks the right.
async fn forbid_lesser_credential(state: &AppState, token: &str) -> Result<(), ApiError> {
    if state.metrics_token.as_ref().is_some_and(|t| t.matches(token)) {
        return Err(ApiError::Forbidden("the metrics token reads /metrics only".into()));
    }
    if live_read_token(state, token).await?.is_some() {
        return Err(ApiError::Forbidden(
            "a read token reads its own project only; this route needs the admin token".into(),
        ));
    }
    Ok(())
}

/// Proof that the request may read `/metrics`: the admin (token or UI
/// session), or the scrape token (`TRAWLER_METRICS_TOKEN`).
pub struct MetricsReader;

impl FromRequest for MetricsReader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<MetricsReader, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let scrape = req.app_data::<web::Data<AppState>>().and_then(|s| {
            let token = bearer(req)?;
            s.metrics_token.as_ref().is_some_and(|t| t.matches(token)).then_some(())
        });
        if scrape.is_some() {
            return Box::pin(async { Ok(MetricsReader) });
        }
        let admin = Admin::from_request(req, payload);
        Box::pin(async move { admin.await.map(|Admin| MetricsReader) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let t = AdminToken::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret!"));
        assert!(!t.matches(""));
    }

    #[test]
    fn read_tokens_are_random_and_hashed() {
        let a = new_read_token().expect("random source");
        let b = new_read_token().expect("random source");
        assert!(a.starts_with("trw_") && a.len() == 44 && a != b);
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
