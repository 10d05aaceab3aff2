//! The error that crosses the wire: what the browser may see, and the status code the
//! server answers with.

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

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let err = match value {
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
            other => AppError::Internal(other.to_string()),
        };
        // On the server, a request that fails to decode is the client's fault: 400.
        #[cfg(feature = "ssr")]
        crate::ssr::set_error_status(&err);
        err
    }
}

#[cfg(feature = "ssr")]
impl From<provision::Error> for AppError {
    fn from(e: provision::Error) -> Self {
        use provision::Error as E;
        let err = match e {
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
        };
        crate::ssr::set_error_status(&err);
        err
    }
}
