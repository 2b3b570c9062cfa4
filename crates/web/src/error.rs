//! The API's one error type and its JSON form.
//!
//! Policy: every failure leaves as `{"error": {"code", "message"}}` with the
//! status its code maps to in [`ApiError::status`]. Bad input is always a
//! 4xx with a message saying what to fix. A 5xx logs its cause and sends a
//! generic message: internals (SQL, paths, hosts) never reach a client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use trawler_actors::ActorError;
use trawler_store::StoreError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No or a wrong credential.
    #[error("{0}")]
    Unauthorized(String),
    /// Input that does not validate.
    #[error("{0}")]
    BadRequest(String),
    /// A valid credential that does not cover this resource.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The request body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The route exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The resource is in a state that forbids the action.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (database, actor) is unavailable right now.
    #[error("{0}")]
    Unavailable(String),
    /// The client holds more than its share (streams, reads): 429.
    #[error("{message}")]
    TooManyRequests {
        /// What was refused and the cap.
        message: String,
        /// Sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// The node is at its cap for everyone: 503, and the client may retry.
    #[error("{message}")]
    Busy {
        /// What was refused and the cap.
        message: String,
        /// Sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// A bug or an unexpected failure; the message is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The stable snake_case code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(cause) => {
                log::error!("internal error: {cause}");
                "internal error; see the server log".to_owned()
            }
            ApiError::Unavailable(cause) => {
                log::warn!("unavailable: {cause}");
                "a dependency is unavailable; try again shortly".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after_secs, .. } | ApiError::Busy { retry_after_secs, .. } = self {
            resp.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        resp.json(json!({"error": {"code": self.code(), "message": message}}))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            e if e.is_unavailable() => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ActorError> for ApiError {
    fn from(e: ActorError) -> ApiError {
        match e {
            ActorError::NotFound => ApiError::NotFound("project not found".into()),
            ActorError::NodeNotFound(name) => ApiError::NotFound(format!("no live node named `{name}`")),
            ActorError::Archived => ApiError::Conflict("the project is archived; it is not scraped any more".into()),
            ActorError::Quarantined => {
                ApiError::Conflict("the project is quarantined after repeated crashes; resume it first".into())
            }
            ActorError::NotRunning => ApiError::Unavailable("the project's scraper is restarting".into()),
            ActorError::RunNotRunning => ApiError::Conflict("the run is not running: it ended already".into()),
            ActorError::Store(s) => s.into(),
            ActorError::Metrics(e) => ApiError::Internal(e),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> ApiError {
        ApiError::Unavailable(format!("blocking pool: {e}"))
    }
}
