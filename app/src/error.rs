//! The error that crosses the wire: what the browser may see, and the status code it
//! stands for. Converting an error sets nothing: the status is set where a server
//! function's error is answered (`ssr::answer`); `status_of` is the one map from the
//! core's error to an HTTP status, for the REST API too.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Internal(String),
    /// The browser could not reach the server, or the answer was unreadable.
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } => 400,
            AppError::Unauthenticated(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Throttled { .. } => 429,
            AppError::Internal(_) => 500,
            AppError::Transport(_) => 502,
        }
    }

    /// The form field this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<AppError> for provision::Error {
    /// Back to the core's error, for the REST API, which answers in its own shape what
    /// the shared resolver ([`crate::ssr::resolve`]) refused.
    fn from(e: AppError) -> Self {
        use provision::Error as E;
        match e {
            AppError::Invalid { message, .. } => E::Invalid {
                field: None,
                message,
            },
            AppError::Unauthenticated(m) => E::Unauthenticated(m),
            AppError::Forbidden(m) => E::Forbidden(m),
            AppError::NotFound(m) => E::NotFound(m),
            AppError::Conflict(m) => E::Conflict(m),
            AppError::Throttled {
                message,
                retry_after_secs,
            } => E::Throttled {
                message,
                retry_after_secs,
            },
            AppError::Internal(m) | AppError::Transport(m) => E::internal(m),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(e)
            | ServerFnErrorErr::MissingArg(e)
            | ServerFnErrorErr::Deserialization(e) => AppError::Invalid {
                field: None,
                message: format!("Malformed request: {e}"),
            },
            ServerFnErrorErr::UnsupportedRequestMethod(e) => AppError::Invalid {
                field: None,
                message: format!("Unsupported request method: {e}"),
            },
            ServerFnErrorErr::Request(e) | ServerFnErrorErr::Response(e) => {
                AppError::Transport(format!("Could not reach Shipyard: {e}"))
            }
            // (On the server a request that fails to decode never reaches a server
            // function's body, so no status is set for it here: the server's `/api/`
            // middleware answers such a failure, a 500 without `ssr::ERROR_HEADER`, 400.)
            other => AppError::Internal(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<provision::Error> for AppError {
    fn from(e: provision::Error) -> Self {
        use provision::Error as E;
        match e {
            E::Invalid { field, message } => AppError::Invalid {
                field: field.map(String::from),
                message,
            },
            E::Unauthenticated(m) => AppError::Unauthenticated(m),
            E::Forbidden(m) => AppError::Forbidden(m),
            E::NotFound(m) => AppError::NotFound(m),
            E::Conflict(m) => AppError::Conflict(m),
            E::Throttled {
                message,
                retry_after_secs,
            } => AppError::Throttled {
                message,
                retry_after_secs,
            },
            e @ E::Internal { .. } => {
                tracing::error!(error = ?e, "internal error");
                AppError::Internal(e.external_message())
            }
        }
    }
}

/// The HTTP status of an error of the core, and its short code (`invalid`,
/// `not_found`, ...): the one map from [`provision::Error`] to HTTP, for the server
/// functions (through [`AppError::status`], which agrees with it) and the REST API.
#[cfg(feature = "ssr")]
pub fn status_of(e: &provision::Error) -> (http::StatusCode, &'static str) {
    use http::StatusCode;
    use provision::Error as E;
    match e {
        E::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
        E::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        E::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        E::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        E::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        E::Internal { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    /// A core error answered by a server function and by the REST API has one status.
    #[test]
    fn the_wire_error_keeps_the_cores_status() {
        use provision::Error as E;
        for e in [
            E::invalid("name", "bad"),
            E::Unauthenticated("who".into()),
            E::Forbidden("no".into()),
            E::NotFound("gone".into()),
            E::Conflict("taken".into()),
            E::Throttled {
                message: "slow down".into(),
                retry_after_secs: 3,
            },
            E::internal("boom"),
        ] {
            let (status, _) = status_of(&e);
            assert_eq!(AppError::from(e).status(), status.as_u16());
        }
    }
}
