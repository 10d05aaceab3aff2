//! One error type for the core: a message safe to show, an internal one to log, and
//! whether retrying can help. The web layer maps it to a status code in one place.

/// What went wrong, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is wrong; `field` names the form field when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// Not signed in, wrong credentials, or the session ended.
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Absent, or not visible to the caller (the two are not told apart).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (duplicate name, ...).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again after `retry_after_secs`.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    /// Something failed inside; `internal` is logged, never shown.
    #[error("internal error")]
    Internal { internal: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn internal(internal: impl std::fmt::Display) -> Self {
        Error::Internal {
            internal: internal.to_string(),
        }
    }

    /// The message that may be shown to the user.
    pub fn external_message(&self) -> String {
        match self {
            Error::Internal { .. } => {
                "Something went wrong on our side; it has been logged.".into()
            }
            other => other.to_string(),
        }
    }

    /// Whether the same request may succeed later without changes.
    pub fn retryable(&self) -> bool {
        matches!(self, Error::Throttled { .. } | Error::Internal { .. })
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::internal(format!("database: {e}"))
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::internal(format!("migrations: {e}"))
    }
}
