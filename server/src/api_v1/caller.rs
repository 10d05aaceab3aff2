//! Who is asking: the [`Caller`] extractor every handler takes, resolved from a bearer
//! token or the console's session.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use provision::domain::{Actor, Credential, User};
use provision::Error;
use tower_sessions::Session;

use super::{ApiError, ApiResult, AppState};

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

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let session = parts.extensions.get::<Session>().cloned();
        resolve_caller(state, &parts.method, &parts.headers, peer, session).await
    }
}

async fn resolve_caller(
    state: &AppState,
    method: &http::Method,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    session: Option<Session>,
) -> ApiResult<Caller> {
    let addr = app::ssr::client_address(
        peer,
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        state.config.forwarded_hops,
    );
    let (user, credential, session_project) = if let Some(auth) =
        headers.get(http::header::AUTHORIZATION)
    {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Error::Unauthenticated("Use 'Authorization: Bearer <token>'.".into()))?;
        let found = provision::tokens::authenticate(&state.core.store, token.trim()).await?;
        if matches!(
            found.credential,
            Credential::Token {
                read_only: true,
                ..
            }
        ) && !matches!(*method, http::Method::GET | http::Method::HEAD)
        {
            return Err(ApiError(Error::Forbidden(
                "This API token is read-only: it may only make GET requests.".into(),
            )));
        }
        (found.user, found.credential, None)
    } else {
        let signed_out = || Error::Unauthenticated("Sign in or send an API token.".into());
        let session = session.ok_or_else(signed_out)?;
        let claims = app::ssr::SessionClaims::of(&session)
            .await
            .ok()
            .flatten()
            .ok_or_else(signed_out)?;
        let user = state
            .core
            .store
            .user_by_id(&claims.uid)
            .await?
            .filter(|u| claims.admit(u, provision::now_ms(), state.config.session_absolute_ms))
            .ok_or_else(signed_out)?;
        provision::accounts::require_own_password(&user)?;
        let project: Option<String> = session.get(app::ssr::SESSION_PROJECT).await.ok().flatten();
        app::ssr::touch(&session).await;
        (user, Credential::Session, project)
    };
    Ok(Caller {
        actor: Actor::new(&user, addr, credential),
        user,
        session_project,
    })
}
