//! The API's one error type and its JSON form.
//!
//! Policy: every failure leaves as `{"error": {"code", "message"}}` with the
//! status its code maps to in [`ApiError::status`]. Bad input is always a
//! 4xx with a message saying what to fix. A 5xx logs its cause and sends a
//! generic message: internals (SQL, paths, hosts) never reach a client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;
use trawler_actors::ActorError;
use trawler_store::StoreError;
use utoipa::ToSchema;

/// Writes the error codes once: the enum, each code's text and status, and
/// the list of all of them.
macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident = $code:literal => $status:ident,)*) => {
        /// What went wrong, as a client matches on it: the `code` of every
        /// error body. Each code has one HTTP status ([`ErrorCode::status`]);
        /// several codes share a status where the reason differs (a 409 for an
        /// archived project is not a 409 for a run that ended).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$meta])* $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The HTTP status of this code.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }

            /// The code as the body writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    /// 401: no credential, or a wrong one.
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    /// 403: a valid credential that does not cover this resource.
    Forbidden = "forbidden" => FORBIDDEN,
    /// 400: input that does not validate; the message says what to fix.
    BadRequest = "bad_request" => BAD_REQUEST,
    /// 422: a cadence out of range (below the shortest interval allowed,
    /// above a year); the message names the field and the range.
    InvalidCadence = "invalid_cadence" => UNPROCESSABLE_ENTITY,
    /// 422: a monitor rule that does not hold (an unknown platform or
    /// metric, a number out of range); the message names the field.
    InvalidMonitor = "invalid_monitor" => UNPROCESSABLE_ENTITY,
    /// 422: a currency code that is not one figures can be reported in
    /// (three letters the ECB publishes a rate for, or the euro).
    InvalidCurrency = "invalid_currency" => UNPROCESSABLE_ENTITY,
    /// 422: a reload found a setting that does not read (an unknown key, a
    /// bad value); the old configuration stays in force.
    InvalidConfig = "invalid_config" => UNPROCESSABLE_ENTITY,
    /// 422: a derived metric asked of a project without the sources it
    /// needs (RoAS without an ad account); the message names them.
    MissingSources = "missing_sources" => UNPROCESSABLE_ENTITY,
    /// 404: no such route.
    RouteNotFound = "route_not_found" => NOT_FOUND,
    /// 404: no such project.
    ProjectNotFound = "project_not_found" => NOT_FOUND,
    /// 404: no such run.
    RunNotFound = "run_not_found" => NOT_FOUND,
    /// 404: no such read token.
    TokenNotFound = "token_not_found" => NOT_FOUND,
    /// 404: no such webhook.
    WebhookNotFound = "webhook_not_found" => NOT_FOUND,
    /// 404: no such webhook delivery.
    DeliveryNotFound = "delivery_not_found" => NOT_FOUND,
    /// 404: no live node of that name.
    NodeNotFound = "node_not_found" => NOT_FOUND,
    /// 404: the project has no such metric.
    MetricNotFound = "metric_not_found" => NOT_FOUND,
    /// 404: no such kept answer (the archive's bounds may have dropped it),
    /// or a run that kept none.
    ResponseNotFound = "response_not_found" => NOT_FOUND,
    /// 404: the project has no such source.
    SourceNotFound = "source_not_found" => NOT_FOUND,
    /// 404: no such job on this node (it may have ended long ago, or run
    /// on another node).
    JobNotFound = "job_not_found" => NOT_FOUND,
    /// 404: anything else that does not exist.
    NotFound = "not_found" => NOT_FOUND,
    /// 405: the route exists, not with this method (see `Allow`).
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    /// 409: the project is archived: resume it first.
    ProjectArchived = "project_archived" => CONFLICT,
    /// 409: the project is quarantined after repeated crashes: resume it first.
    ProjectQuarantined = "project_quarantined" => CONFLICT,
    /// 409: the run is not running (it ended).
    RunNotRunning = "run_not_running" => CONFLICT,
    /// 409: the read token is revoked.
    TokenRevoked = "token_revoked" => CONFLICT,
    /// 409: a job's filter matches another number of projects than the
    /// caller was shown (`expect`): nothing started.
    FilterChanged = "filter_changed" => CONFLICT,
    /// 409: the job has ended: there is nothing to cancel.
    JobNotRunning = "job_not_running" => CONFLICT,
    /// 409: another state forbids the action.
    Conflict = "conflict" => CONFLICT,
    /// 413: the body is over the limit.
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    /// 429: this client holds its most at once (see `Retry-After`).
    TooManyRequests = "too_many_requests" => TOO_MANY_REQUESTS,
    /// 503: the node is at its cap for everyone (see `Retry-After`).
    Busy = "busy" => SERVICE_UNAVAILABLE,
    /// 503: the project's scraper is restarting; try again shortly.
    ScraperRestarting = "scraper_restarting" => SERVICE_UNAVAILABLE,
    /// 503: a dependency (database, actor, another node) is unavailable.
    Unavailable = "unavailable" => SERVICE_UNAVAILABLE,
    /// 500: a bug; the node's log has the cause.
    Internal = "internal" => INTERNAL_SERVER_ERROR,
}

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
    /// Refused for a reason with a code of its own (a project that is
    /// archived, a run that ended, a metric the project lacks); the status
    /// is the code's.
    #[error("{1}")]
    Refused(ErrorCode, String),
}

impl ApiError {
    /// The code clients match on.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            ApiError::Busy { .. } => ErrorCode::Busy,
            ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::Refused(code, _) => *code,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
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
        resp.json(json!({"error": {"code": self.code().as_str(), "message": message}}))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => {
                let code = match what {
                    "project" => ErrorCode::ProjectNotFound,
                    "run" => ErrorCode::RunNotFound,
                    "token" => ErrorCode::TokenNotFound,
                    "webhook" => ErrorCode::WebhookNotFound,
                    "delivery" => ErrorCode::DeliveryNotFound,
                    _ => ErrorCode::NotFound,
                };
                ApiError::Refused(code, format!("{what} not found"))
            }
            e if e.is_unavailable() => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ActorError> for ApiError {
    fn from(e: ActorError) -> ApiError {
        match e {
            ActorError::NotFound => ApiError::Refused(ErrorCode::ProjectNotFound, "project not found".into()),
            ActorError::NodeNotFound(name) => {
                ApiError::Refused(ErrorCode::NodeNotFound, format!("no live node named `{name}`"))
            }
            ActorError::Archived => ApiError::Refused(
                ErrorCode::ProjectArchived,
                "the project is archived; it is not scraped any more (resume it first)".into(),
            ),
            ActorError::Quarantined => ApiError::Refused(
                ErrorCode::ProjectQuarantined,
                "the project is quarantined after repeated crashes; resume it first".into(),
            ),
            ActorError::NotRunning => ApiError::Refused(
                ErrorCode::ScraperRestarting,
                "the project's scraper is restarting; try again shortly".into(),
            ),
            ActorError::RunNotRunning => {
                ApiError::Refused(ErrorCode::RunNotRunning, "the run is not running: it ended already".into())
            }
            // One classification of "try again later", the actors' own.
            e if e.is_unavailable() => ApiError::Unavailable(e.to_string()),
            ActorError::Store(s) => s.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> ApiError {
        ApiError::Unavailable(format!("blocking pool: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/api.md");
        for &code in ErrorCode::ALL {
            let row = format!("| {} | `{}` |", code.status().as_u16(), code.as_str());
            assert!(doc.contains(&row), "docs/api.md lacks the row {row}");
            let json = serde_json::to_value(code).expect("a code serialises");
            assert_eq!(json, code.as_str(), "the body and the schema spell {code:?} alike");
        }
    }

    #[test]
    fn the_openapi_document_lists_every_code() {
        let doc = serde_json::to_value(crate::openapi::document()).expect("the document serialises");
        let schema = doc["components"]["schemas"]["ErrorCode"].to_string();
        for &code in ErrorCode::ALL {
            assert!(schema.contains(&format!("\"{}\"", code.as_str())), "{} is not in {schema}", code.as_str());
        }
    }

    #[test]
    fn refusals_from_the_tree_keep_their_reason() {
        let cases = [
            (ActorError::Archived, ErrorCode::ProjectArchived, 409),
            (ActorError::Quarantined, ErrorCode::ProjectQuarantined, 409),
            (ActorError::RunNotRunning, ErrorCode::RunNotRunning, 409),
            (ActorError::NotFound, ErrorCode::ProjectNotFound, 404),
            (ActorError::NotRunning, ErrorCode::ScraperRestarting, 503),
        ];
        for (e, code, status) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.code(), api.status_code().as_u16()), (code, status));
        }
        let store = ApiError::from(StoreError::NotFound("run"));
        assert_eq!(store.code(), ErrorCode::RunNotFound);
    }
}
