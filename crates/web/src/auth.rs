//! Access control. Routes that write or inspect take an [`Admin`]: the
//! request carries `Authorization: Bearer <admin token>`. Dashboard reads of
//! one project take a [`Reader`]: the admin token, or a read token of that
//! project (in the header, or as `?token=` where a browser cannot set
//! headers, as with EventSource). Read tokens are random, shown once, and
//! stored only as a SHA-256.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use trawler_domain::ProjectId;
use trawler_store::ProjectToken;

use crate::{ApiError, AppState};

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

/// The credential of a request: the header's bearer token, else `?token=`.
fn credential(req: &HttpRequest) -> Option<String> {
    if let Some(t) = bearer(req) {
        return Some(t.to_owned());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("token").cloned())
        .filter(|t| !t.is_empty())
}

/// Proof that the request may read the project in its path: the admin, or a
/// live read token of that project.
pub struct Reader {
    /// The project in the path.
    pub project: ProjectId,
}

impl FromRequest for Reader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Reader, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let id = req.match_info().get("id").map(str::to_owned);
        let token = credential(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let Some(token) = token else {
                return Err(ApiError::Unauthorized(
                    "send `Authorization: Bearer <admin token or this project's read token>`".into(),
                ));
            };
            let project = id
                .and_then(|id| id.parse::<i64>().ok())
                .map(ProjectId)
                .ok_or_else(|| ApiError::BadRequest("invalid path: the project id must be an integer".into()))?;
            if state.admin_token.matches(&token) {
                return Ok(Reader { project });
            }
            // Only well-formed tokens reach the database.
            if !(token.len() == 44 && token.starts_with("trw_") && token[4..].bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(ApiError::Unauthorized("invalid token".into()));
            }
            let hash = token_hash(&token);
            let pool = state.pool.clone();
            let found = web::block(move || {
                let mut conn = pool.get()?;
                ProjectToken::authenticate(&mut conn, &hash)
            })
            .await??;
            match found {
                Some(t) if t.project_id == project => Ok(Reader { project }),
                Some(_) => Err(ApiError::Forbidden("this token reads another project".into())),
                None => Err(ApiError::Unauthorized("invalid token".into())),
            }
        })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("application state missing".into())));
        };
        ready(match bearer(req) {
            None => Err(ApiError::Unauthorized("send `Authorization: Bearer <admin token>`".into())),
            Some(token) if state.admin_token.matches(token) => Ok(Admin),
            Some(_) => Err(ApiError::Unauthorized("invalid token".into())),
        })
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
