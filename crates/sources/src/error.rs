//! The sources' one error type.
//!
//! Policy: every failure is classified (timeout, throttled, http_status,
//! parse, too_large, redirect, connect, blocked, config) so runs and
//! dashboards can say *why* a fetch failed, and so retries only repeat what a
//! retry can fix ([`SourceError::is_transient`]).

use std::time::Duration;

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The platform did not answer in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The connection could not be made or broke.
    #[error("connect: {0}")]
    Connect(String),
    /// The URL resolves to a private, loopback or link-local address and
    /// private targets are not allowed.
    #[error("blocked: {0}")]
    Blocked(String),
    /// Too many redirects, or a redirect to a blocked address.
    #[error("redirect: {0}")]
    Redirect(String),
    /// The body was larger than the configured limit.
    #[error("too_large: response body over {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The platform answered with an error status.
    #[error("http_status: {status} {detail}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// A short excerpt of the body or the platform's error message.
        detail: String,
    },
    /// The platform said to slow down (429, Retry-After, or a platform's own
    /// throttling codes).
    #[error("throttled: {detail}")]
    Throttled {
        /// How long the platform asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// What the platform said.
        detail: String,
        /// Whether the limit is the platform's as a whole (pause every
        /// request to it) or one account's or token's (pause only this source).
        platform_wide: bool,
    },
    /// The body was not in the shape the adapter expects.
    #[error("parse: {0}")]
    Parse(String),
    /// An answer that was fetched well but in which one metric's selector
    /// or pointer found nothing, or something that is not a number: the
    /// page changed its layout, most likely.
    #[error("parse: {detail}")]
    Unread {
        /// The metric that could not be read.
        metric: String,
        /// What was looked for and what was found.
        detail: String,
    },
    /// The platform's circuit is open after repeated failures: not tried.
    #[error("circuit_open: {platform} is failing; next probe in {}s", retry_in.as_secs())]
    CircuitOpen {
        /// The platform.
        platform: String,
        /// Time until the next probe.
        retry_in: Duration,
    },
    /// The run's retry budget is spent (the last error is in the message).
    #[error("{0}")]
    BudgetSpent(Box<SourceError>),
    /// The source is misconfigured (bad URL template, missing token).
    #[error("config: {0}")]
    Config(String),
}

impl SourceError {
    /// A stable snake_case code for logs, runs and the API.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Timeout(_) => "timeout",
            SourceError::Connect(_) => "connect",
            SourceError::Blocked(_) => "blocked",
            SourceError::Redirect(_) => "redirect",
            SourceError::TooLarge { .. } => "too_large",
            SourceError::HttpStatus { .. } => "http_status",
            SourceError::Throttled { .. } => "throttled",
            SourceError::Parse(_) | SourceError::Unread { .. } => "parse",
            SourceError::CircuitOpen { .. } => "circuit_open",
            SourceError::BudgetSpent(inner) => inner.code(),
            SourceError::Config(_) => "config",
        }
    }

    /// Whether the failure says the platform itself is unwell (it counts
    /// towards opening the circuit), as opposed to one project's problem.
    pub fn is_platform_failure(&self) -> bool {
        matches!(self, SourceError::Timeout(_) | SourceError::Connect(_) | SourceError::Throttled { .. })
            || matches!(self, SourceError::HttpStatus { status, .. } if *status >= 500)
    }

    /// Whether trying again later in the same run may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Timeout(_) | SourceError::Connect(_) | SourceError::Throttled { .. } => true,
            SourceError::HttpStatus { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }

    /// The metric a well-fetched answer did not give, if that is the failure.
    pub fn unread_metric(&self) -> Option<&str> {
        match self {
            SourceError::Unread { metric, .. } => Some(metric),
            SourceError::BudgetSpent(inner) => inner.unread_metric(),
            _ => None,
        }
    }

    /// The wait the platform asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
