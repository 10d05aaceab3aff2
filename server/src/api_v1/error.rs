//! How every `/api/v1` error answers: a [`provision::Error`] mapped once to its status
//! and the one `{"error": …}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use provision::Error;

use crate::views::{ErrorBody, ErrorView};

/// An API error in the one shape every client sees.
pub struct ApiError(pub(super) Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self.0 {
            Error::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Error::Internal { internal } => {
                tracing::error!(error = %internal, "api");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let field = match &self.0 {
            Error::Invalid { field, .. } => *field,
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorView {
                code,
                message: self.0.external_message(),
                retryable: self.0.retryable(),
                field,
            },
        };
        (status, Json(body)).into_response()
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

pub(super) async fn not_found() -> ApiError {
    ApiError(Error::NotFound("No such API route.".into()))
}
