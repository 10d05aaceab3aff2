//! Who is asking, resolved one way for both entry points: the console's server
//! functions and the REST API. A bearer token (REST only) or the session, the client
//! address through the trusted proxies, and the [`Actor`] the core is called with.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::request::Parts;
use provision::domain::{Actor, Credential, User};
use provision::Error;
use tower_sessions::Session;

use super::{client_address, memo, session_err, touch, AppState, SessionClaims};
use crate::error::AppError;

/// The signed-in caller.
pub struct Caller {
    pub actor: Actor,
    pub user: User,
    /// The console's session, when the caller came with one (not with a token).
    pub session: Option<Session>,
}

/// What a caller may present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// The console: its session cookie only.
    Session,
    /// The REST API: `Authorization: Bearer sy_…`, else the session cookie.
    TokenOrSession,
}

/// The client's address as the request shows it (see [`client_address`]).
pub fn address_of(parts: &Parts, forwarded_hops: usize) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    client_address(peer, forwarded, forwarded_hops)
}

/// The user a session stands for while its claims still admit them (enabled, same
/// password epoch, within the absolute lifetime); otherwise the session is signed out
/// on the spot and `None`.
pub async fn session_user(state: &AppState, session: &Session) -> Result<Option<User>, AppError> {
    let Some(claims) = SessionClaims::of(session).await.map_err(session_err)? else {
        return Ok(None);
    };
    let user = memo().user(&state.store, &claims.uid).await?;
    match user {
        Some(user)
            if claims.admit(&user, provision::now_ms(), state.config.session_absolute_ms) =>
        {
            touch(session).await;
            Ok(Some(user))
        }
        _ => {
            session.flush().await.map_err(session_err)?;
            Ok(None)
        }
    }
}

/// The one resolver. `None`: nobody is signed in. A token that is unknown, expired or
/// revoked is an error, and so is a read-only token on anything but GET and HEAD.
pub async fn resolve(
    state: &AppState,
    parts: &Parts,
    session: Option<&Session>,
    accept: Accept,
) -> Result<Option<Caller>, AppError> {
    let addr = address_of(parts, state.config.forwarded_hops);
    let bearer = parts.headers.get(http::header::AUTHORIZATION);
    if let (Accept::TokenOrSession, Some(auth)) = (accept, bearer) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Error::Unauthenticated("Use 'Authorization: Bearer <token>'.".into()))?;
        let found = provision::tokens::authenticate(&state.store, token.trim()).await?;
        let read_only = matches!(
            found.credential,
            Credential::Token {
                read_only: true,
                ..
            }
        );
        if read_only && !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
            return Err(AppError::from(Error::Forbidden(
                "This API token is read-only: it may only make GET requests.".into(),
            )));
        }
        return Ok(Some(Caller {
            actor: Actor::new(&found.user, addr, found.credential),
            user: found.user,
            session: None,
        }));
    }
    let Some(session) = session else {
        return Ok(None);
    };
    let Some(user) = session_user(state, session).await? else {
        return Ok(None);
    };
    Ok(Some(Caller {
        actor: Actor::new(&user, addr, Credential::Session),
        user,
        session: Some(session.clone()),
    }))
}
