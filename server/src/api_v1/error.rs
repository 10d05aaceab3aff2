//! How every `/api/v1` error answers: a [`provision::Error`] mapped once to its status
//! and the one `{"error": …}` body.

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
        // The one map from the core's error to a status, shared with the console.
        let (status, code) = app::error::status_of(&self.0);
        if let Error::Internal { internal } = &self.0 {
            tracing::error!(error = %internal, "api");
        }
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
