//! `ApiError`: every failure of a request, rendered as RFC 9457
//! problem+json with a stable `type`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ordo_domain::customer::CustomerError;
use ordo_domain::order::OrderErrorKind;
use ordo_domain::stock::StockError;
use ordo_domain::{FieldError, OrderError, OrderStatus};
use ordo_ledger::{ExecuteError, LedgerError};
use ordo_projections::ProjectionError;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// A failed request. Each variant's doc names its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: fields failed validation; every wrong field is listed.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// 400: the body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 401: no or an unknown bearer token.
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// 403: the caller's role may not do this.
    #[error("role {role} may not do this")]
    Forbidden { role: &'static str },
    /// 404: the resource does not exist (or is not projected yet).
    #[error("{0} not found")]
    NotFound(String),
    /// 409 (or 400/404 by the rule's kind): the domain refused the command.
    #[error("{0}")]
    Rejected(OrderError),
    /// 409 (400 where `is_invalid`): a rule of another aggregate (stock,
    /// location) refused the command.
    #[error("{detail}")]
    Refused {
        code: &'static str,
        detail: String,
        field: Option<String>,
        is_invalid: bool,
    },
    /// 409: still conflicting after the bounded retries.
    #[error("the order is being changed concurrently; retry")]
    Contention,
    /// 412: `If-Match` named another version.
    #[error("expected version {expected} but the order is at version {current}")]
    PreconditionFailed { expected: u64, current: u64 },
    /// 413: the body is larger than we accept.
    #[error("the body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// 415: the body is not declared as JSON.
    #[error("the body must be sent as application/json")]
    UnsupportedMediaType,
    /// 422: the idempotency key was used before with another request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// 503 with `Retry-After`: the read model has not reached the position.
    #[error("the read model has not reached position {position} yet")]
    NotYetProjected { position: u64 },
    /// 503 with `Retry-After`: NATS or PostgreSQL is unreachable.
    #[error("a backing service is unavailable")]
    Unavailable(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// 500: our fault; the body says nothing more, the log has the chain.
    #[error("internal error")]
    Internal(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

/// The problem+json body (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, `urn:ordo:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: every wrong field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// For conflicts with the order's state: its current status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// For `If-Match` mismatches: the current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// JSON pointer into the request body, e.g. `/lines/0/quantity`.
    pub path: String,
    pub message: String,
}

/// The cause of a 5xx, kept on the response for the logging middleware.
#[derive(Debug, Clone)]
pub struct ErrorChain(pub String);

impl ApiError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Arc::new(error))
    }

    pub fn field(path: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            path: path.to_owned(),
            message: message.into(),
        }])
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Rejected(error) => match error.kind() {
                OrderErrorKind::Invalid => StatusCode::BAD_REQUEST,
                OrderErrorKind::NotFound => StatusCode::NOT_FOUND,
                OrderErrorKind::Conflict => StatusCode::CONFLICT,
            },
            Self::Refused { is_invalid, .. } => {
                if *is_invalid {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::CONFLICT
                }
            }
            Self::Contention => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotYetProjected { .. } | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::MalformedJson(_) => "malformed-json",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Rejected(error) => error.code(),
            Self::Refused { code, .. } => code,
            Self::Contention => "contention",
            Self::PreconditionFailed { .. } => "version-mismatch",
            Self::BodyTooLarge { .. } => "body-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::NotYetProjected { .. } => "not-yet-projected",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let mut errors = Vec::new();
        let (mut current_status, mut current_version) = (None, None);
        match self {
            Self::Validation(fields) => errors.extend(fields.iter().map(|f| ProblemField {
                path: f.path.clone(),
                message: f.message.clone(),
            })),
            Self::Rejected(error) => {
                if let Some(path) = error.field() {
                    errors.push(ProblemField {
                        path,
                        message: error.to_string(),
                    });
                }
                current_status = error.status().map(|s: OrderStatus| s.as_str().to_owned());
            }
            Self::PreconditionFailed { current, .. } => current_version = Some(*current),
            Self::Refused {
                field: Some(path),
                detail,
                ..
            } => errors.push(ProblemField {
                path: path.clone(),
                message: detail.clone(),
            }),
            _ => {}
        }
        Problem {
            problem_type: format!("urn:ordo:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
            current_status,
            current_version,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, Self::NotYetProjected { .. } | Self::Unavailable(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, Self::Internal(_) | Self::Unavailable(_)) {
            response
                .extensions_mut()
                .insert(ErrorChain(error_chain(&self)));
        }
        response
    }
}

/// The error and all its sources on one line, for the log.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Unavailable { .. } => Self::Unavailable(Arc::new(error)),
            LedgerError::Conflict { .. } => Self::Contention,
            other => Self::internal(other),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        Self::Rejected(error)
    }
}

impl From<CustomerError> for ApiError {
    fn from(error: CustomerError) -> Self {
        match error {}
    }
}

impl From<std::convert::Infallible> for ApiError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<StockError> for ApiError {
    fn from(error: StockError) -> Self {
        let (code, field, is_invalid) = match &error {
            StockError::InsufficientStock { .. } => ("insufficient-stock", None, false),
            StockError::NoReservation { .. } => ("no-reservation", None, false),
            StockError::ConsumesMoreThanReserved { .. } => {
                ("consumes-more-than-reserved", Some("/quantity"), false)
            }
            StockError::BelowReserved { .. } => ("below-reserved", None, false),
            StockError::ZeroCorrection => ("zero-correction", Some("/delta"), true),
            StockError::UnknownIncoming { .. } => ("unknown-incoming", Some("/incoming_id"), false),
            StockError::DuplicateIncoming { .. } => {
                ("duplicate-incoming", Some("/incoming_id"), false)
            }
        };
        Self::Refused {
            code,
            detail: error.to_string(),
            field: field.map(str::to_owned),
            is_invalid,
        }
    }
}

/// Every command error of every aggregate maps the same way; only the
/// domain's own refusals differ, by their `From`.
impl<E: Into<ApiError>> From<ExecuteError<E>> for ApiError {
    fn from(error: ExecuteError<E>) -> Self {
        match error {
            ExecuteError::Rejected(rule) => rule.into(),
            ExecuteError::VersionMismatch { expected, current } => {
                Self::PreconditionFailed { expected, current }
            }
            ExecuteError::KeyReused => Self::IdempotencyKeyReused,
            ExecuteError::TooManyConflicts { .. } => Self::Contention,
            ExecuteError::Ledger(ledger) => ledger.into(),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::Database { .. } => Self::Unavailable(Arc::new(error)),
            other => Self::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable(Arc::new(error))
            }
            other => Self::internal(other),
        }
    }
}
