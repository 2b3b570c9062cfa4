//! Errors, liveness and readiness.

use serde::Serialize;
use utoipa::ToSchema;

/// Every error: a stable code and a message saying what to fix.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, as a client matches on it (see docs/api.md).
    pub code: crate::ErrorCode,
    /// What went wrong.
    pub message: String,
}

/// `/healthz`: the process is alive.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `/readyz`: whether the node can serve.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Each check's state.
    pub checks: ReadyChecks,
}

/// The checks behind readiness.
#[derive(Serialize, ToSchema)]
pub struct ReadyChecks {
    /// `ok` or `unreachable`.
    pub database: String,
    /// `applied` or `pending`.
    pub migrations: String,
    /// `started` or `starting`.
    pub supervisor: String,
}
