//! The status an error is answered with: set once, where a server function's error
//! is answered (and by the pages that show one).

use http::{HeaderValue, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::error::AppError;

/// Header set on every response whose status a server function chose itself.
pub const ERROR_HEADER: &str = "x-shipyard-error";

/// Sets the response status (and Retry-After) for an error a server function returns.
pub fn set_error_status(err: &AppError) {
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST));
        res.insert_header(
            http::HeaderName::from_static(ERROR_HEADER),
            HeaderValue::from_static("1"),
        );
        if let AppError::Throttled {
            retry_after_secs, ..
        } = err
        {
            res.insert_header(
                http::header::RETRY_AFTER,
                HeaderValue::from(*retry_after_secs),
            );
        }
    }
}

/// A server function's body, answered: an error it ends with sets the response's status
/// (over HTTP, the call's; while a page renders, the page's). Every `#[server]` function
/// goes through here, so an error's status is set in this one place and converting an
/// error (`From<provision::Error>`) has no side effect.
pub async fn answer<T>(
    body: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = body.await;
    match &result {
        Err(e) if !is_plumbing(e) => set_error_status(e),
        _ => {}
    }
    result
}

/// The request came without the application state (the server renders its fallback
/// "not found" page without it).
pub const NO_STATE: &str = "no application state";
/// The request did not pass the session layer.
pub const NO_SESSION_LAYER: &str = "no session layer";
/// The session store failed.
pub const SESSION_STORAGE_FAILED: &str = "Session storage failed; try again.";

/// A failure of the web layer's own plumbing ([`NO_STATE`], [`NO_SESSION_LAYER`],
/// [`SESSION_STORAGE_FAILED`]), not of the core: [`answer`] sets no status for it (it
/// never did). A page keeps its own status when an incidental fetch fails so (the
/// header's session on the fallback "not found" page, rendered without the state), and
/// over HTTP the server's `/api/` middleware answers it (a 500 without [`ERROR_HEADER`]).
pub fn plumbing(message: &'static str) -> AppError {
    AppError::Internal(message.into())
}

fn is_plumbing(e: &AppError) -> bool {
    matches!(e, AppError::Internal(m)
        if [NO_STATE, NO_SESSION_LAYER, SESSION_STORAGE_FAILED].contains(&m.as_str()))
}
