//! Who is asking: the session's keys and claims, the signed-in user and the project
//! the console works in.

use provision::domain::{Actor, User};
use tower_sessions::Session;

use super::{memo, state};
use crate::error::AppError;

/// Session keys.
pub const SESSION_USER: &str = "uid";
pub const SESSION_AUTH_AT: &str = "auth_at";
pub const SESSION_PROJECT: &str = "project_id";
/// The user's `session_epoch` when the session began: once it moves on (a password
/// change), the session is over.
pub const SESSION_EPOCH: &str = "epoch";
/// When the session was last written for being used (Unix ms).
pub const SESSION_SEEN_AT: &str = "seen_at";

/// Keeps an active session alive. tower-sessions saves a session (and so pushes its
/// idle expiry forward) only when its data changes: without this, a session ended
/// `--session-idle-minutes` after sign-in however busy its user was. Written at most
/// once a minute, so page views stay reads.
pub async fn touch(session: &Session) {
    let now = provision::now_ms();
    let seen = session
        .get::<i64>(SESSION_SEEN_AT)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    if now - seen > 60_000 {
        let _ = session.insert(SESSION_SEEN_AT, now).await;
    }
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|_| super::plumbing(super::NO_SESSION_LAYER))
}

pub(super) fn session_err(e: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %e, "session store");
    super::plumbing(super::SESSION_STORAGE_FAILED)
}

/// What a session says about its user; the console and the REST API both judge a
/// session by it.
pub struct SessionClaims {
    pub uid: String,
    pub auth_at: i64,
    pub epoch: i64,
}

impl SessionClaims {
    /// The session's claims, if a user signed in with it.
    pub async fn of(
        session: &Session,
    ) -> Result<Option<SessionClaims>, tower_sessions::session::Error> {
        let Some(uid) = session.get::<String>(SESSION_USER).await? else {
            return Ok(None);
        };
        Ok(Some(SessionClaims {
            uid,
            auth_at: session.get::<i64>(SESSION_AUTH_AT).await?.unwrap_or(0),
            epoch: session.get::<i64>(SESSION_EPOCH).await?.unwrap_or(0),
        }))
    }

    /// Whether the session still stands for `user`: the user is enabled, has not
    /// changed their password since (`session_epoch`), and the session is within its
    /// absolute lifetime.
    pub fn admit(&self, user: &User, now: i64, absolute_ms: i64) -> bool {
        user.id == self.uid
            && !user.disabled
            && user.session_epoch == self.epoch
            && now - self.auth_at <= absolute_ms
    }
}

/// The signed-in user, if the session holds a live one. A disabled user, a session
/// begun before the user's last password change, or one past its absolute lifetime is
/// signed out here, on the spot ([`super::session_user`]).
pub async fn current_user() -> Result<Option<(User, Session)>, AppError> {
    let session = session().await?;
    let user = super::session_user(&state()?, &session).await?;
    Ok(user.map(|u| (u, session)))
}

/// The acting user, or 401; 403 while they must still change a one-time password.
pub async fn require_actor() -> Result<(Actor, User, Session), AppError> {
    let (actor, user, session) = require_signed_in().await?;
    provision::accounts::require_own_password(&user)?;
    Ok((actor, user, session))
}

/// The acting user, or 401, even one who must still change a one-time password: for
/// that change itself. Resolved by [`super::resolve`], as the REST API's callers are.
pub async fn require_signed_in() -> Result<(Actor, User, Session), AppError> {
    let session = session().await?;
    let parts = leptos::prelude::use_context::<http::request::Parts>()
        .unwrap_or_else(|| http::Request::new(()).into_parts().0);
    let caller = super::resolve(&state()?, &parts, Some(&session), super::Accept::Session).await?;
    let Some(caller) = caller else {
        return Err(AppError::from(provision::Error::Unauthenticated(
            "Sign in first.".into(),
        )));
    };
    Ok((caller.actor, caller.user, session))
}

/// Starts an authenticated session: a new session id (no fixation), then the user.
pub async fn begin_session(session: &Session, user: &User) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_err)?;
    session.clear().await;
    session
        .insert(SESSION_USER, &user.id)
        .await
        .map_err(session_err)?;
    session
        .insert(SESSION_AUTH_AT, provision::now_ms())
        .await
        .map_err(session_err)?;
    session
        .insert(SESSION_EPOCH, user.session_epoch)
        .await
        .map_err(session_err)?;
    session
        .insert(SESSION_SEEN_AT, provision::now_ms())
        .await
        .map_err(session_err)?;
    Ok(())
}

pub async fn end_session(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_err)
}

pub async fn session_project(session: &Session) -> Result<Option<String>, AppError> {
    session
        .get::<String>(SESSION_PROJECT)
        .await
        .map_err(session_err)
}

pub async fn set_session_project(session: &Session, project_id: &str) -> Result<(), AppError> {
    session
        .insert(SESSION_PROJECT, project_id)
        .await
        .map_err(session_err)
}

/// The project the console works in: the one chosen in this session while the user is
/// still a member, else their first. With every project of theirs.
pub async fn current_project(
    user_id: &str,
    session: &Session,
) -> Result<
    (
        Option<provision::domain::ProjectWithRole>,
        Vec<provision::domain::ProjectWithRole>,
    ),
    AppError,
> {
    let projects = memo().projects(&state()?.store, user_id).await?;
    let chosen = session_project(session).await?;
    let current = projects
        .iter()
        .find(|p| Some(&p.project.id) == chosen.as_ref())
        .or(projects.first())
        .cloned();
    Ok((current, projects))
}
