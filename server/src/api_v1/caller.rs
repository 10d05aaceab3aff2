//! Who is asking: the [`Caller`] extractor every handler takes, resolved from a bearer
//! token or the console's session.

use app::ssr::{resolve, Accept};
use provision::domain::{Actor, User};
use provision::Error;
use tower_sessions::Session;

use super::{ApiError, AppState};

/// The signed-in caller: a bearer token, or the console's session. Every handler takes
/// it as an extractor, so each request is resolved the same way: the client address
/// (through the trusted proxies), the user, and what the credential allows.
pub(super) struct Caller {
    pub(super) actor: Actor,
    pub(super) user: User,
    pub(super) session_project: Option<String>,
}

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// [`app::ssr::resolve`], as for the console, with a token accepted too; then a
    /// session's user must have their own password, and the session names the
    /// console's current project.
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = parts.extensions.get::<Session>().cloned();
        let caller = resolve(state, parts, session.as_ref(), Accept::TokenOrSession)
            .await
            .map_err(|e| ApiError(e.into()))?
            .ok_or_else(|| Error::Unauthenticated("Sign in or send an API token.".into()))?;
        let mut session_project = None;
        if let Some(session) = &caller.session {
            provision::accounts::require_own_password(&caller.user)?;
            session_project = session.get(app::ssr::SESSION_PROJECT).await.ok().flatten();
        }
        Ok(Caller {
            actor: caller.actor,
            user: caller.user,
            session_project,
        })
    }
}
