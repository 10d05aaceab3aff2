//! Server functions of signing in and out and of the account page: the session,
//! sign-up, the password, API tokens.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::convert;
use crate::dto::*;
use crate::error::AppError;

/// The signed-in user, their projects and the current one; `None` when signed out.
#[server(endpoint = "session")]
pub async fn get_session() -> Result<Option<SessionInfo>, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let Some((user, session)) = current_user().await? else {
            return Ok(None);
        };
        let (current, projects) = current_project(&user.id, &session).await?;
        let current = current.as_ref().map(convert::project);
        Ok(Some(SessionInfo {
            user: convert::user(&user),
            projects: projects.iter().map(convert::project).collect(),
            current,
        }))
    })
    .await
}

#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let st = state()?;
        let (user, project) = provision::accounts::sign_up_limited(
            &st.store,
            &email,
            &password,
            &client_addr().await,
            st.config.signups_per_address,
        )
        .await?;
        let session = session().await?;
        begin_session(&session, &user).await?;
        set_session_project(&session, &project.id).await?;
        leptos_axum::redirect("/clusters");
        Ok(())
    })
    .await
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let st = state()?;
        let user = provision::accounts::sign_in(&st.store, &email, &password, &client_addr().await)
            .await?;
        begin_session(&session().await?, &user).await?;
        leptos_axum::redirect(if user.must_change_password {
            "/account"
        } else {
            "/clusters"
        });
        Ok(())
    })
    .await
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        if let Some((user, session)) = current_user().await? {
            let actor = provision::domain::Actor::new(
                &user,
                client_addr().await,
                provision::domain::Credential::Session,
            );
            provision::accounts::sign_out(&state()?.store, &actor).await?;
            end_session(&session).await?;
        }
        leptos_axum::redirect("/signin");
        Ok(())
    })
    .await
}

/// Changes the password. Every other session of the user ends; this one goes on
/// under a new id. `revoke_tokens` (present when ticked) revokes every API token too.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current: String,
    new: String,
    revoke_tokens: Option<String>,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        // The one thing a user with a one-time password may do.
        let (actor, _, session) = require_signed_in().await?;
        let revoke = revoke_tokens.is_some_and(|v| !v.is_empty() && v != "false");
        let changed =
            provision::accounts::change_password(&state()?.store, &actor, &current, &new, revoke)
                .await?;
        let project = session_project(&session).await?;
        begin_session(&session, &changed.user).await?;
        if let Some(project) = project {
            set_session_project(&session, &project).await?;
        }
        leptos_axum::redirect(&format!(
            "/account?changed=1&revoked={}",
            changed.tokens_revoked
        ));
        Ok(())
    })
    .await
}

/// Whether open sign-up is allowed (for the sign-up page).
#[server(endpoint = "signup_status")]
pub async fn signup_status() -> Result<bool, AppError> {
    crate::ssr::answer(async move {
        Ok(provision::accounts::signup_open(&crate::ssr::state()?.store).await?)
    })
    .await
}

/// The user's API tokens. `shown` is the id of the token just created (from the page's
/// address): its secret, left in this process's memory by `create_token` (never in the
/// session record), is handed over on that page only, for a few seconds, then
/// forgotten; any other page drops it at once.
#[server(endpoint = "tokens")]
pub async fn get_tokens(shown: String) -> Result<TokensView, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        let st = state()?;
        let tokens = st.token_list(&actor).await?;
        let now = provision::now_ms();
        let new_secret = session
            .id()
            .and_then(|sid| st.handoff.take(&sid.to_string(), &shown, now));
        Ok(convert::tokens_view(tokens, new_secret, now))
    })
    .await
}

/// Creates an API token; its secret is shown once, on the page this leads back to.
/// `expires_in_days`: a number of days, or `never`; `read_only`: present when ticked.
#[server(endpoint = "token_create")]
pub async fn create_token(
    name: String,
    expires_in_days: Option<String>,
    read_only: Option<String>,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        let options = token_options(expires_in_days.as_deref(), read_only.as_deref())?;
        let st = state()?;
        let (token, secret) = st.token_create(&actor, &name, options).await?;
        leave_secret(&st, &session, &token.id, secret).await?;
        leptos_axum::redirect(&format!("/account?token={}", token.id));
        Ok(())
    })
    .await
}

#[server(endpoint = "token_revoke")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::tokens::revoke(&state()?.store, &actor, &id).await?;
        leptos_axum::redirect("/account?revoked=1");
        Ok(())
    })
    .await
}

/// A new token's options as the form posted them: `expires_in_days` a number of days,
/// `never`, or empty (the default); `read_only` present when ticked.
#[cfg(feature = "ssr")]
fn token_options(
    expires_in_days: Option<&str>,
    read_only: Option<&str>,
) -> Result<provision::tokens::TokenOptions, provision::Error> {
    let lifetime_days = match expires_in_days.map(str::trim) {
        None | Some("") => Some(provision::tokens::DEFAULT_LIFETIME_DAYS),
        Some("never") => None,
        Some(days) => Some(days.parse::<u32>().map_err(|_| {
            provision::Error::invalid(
                "expires_in_days",
                "Pick how many days the token lives, or never.",
            )
        })?),
    };
    Ok(provision::tokens::TokenOptions {
        lifetime_days,
        read_only: read_only.is_some_and(|v| !v.is_empty() && v != "false"),
    })
}

/// Leaves a new token's secret in this process's memory under the session's id, for
/// the page that shows it (see `get_tokens`). A session that has not been saved yet has
/// no id: it is saved so the secret has a key.
#[cfg(feature = "ssr")]
async fn leave_secret(
    st: &crate::ssr::AppState,
    session: &tower_sessions::Session,
    token_id: &str,
    secret: String,
) -> Result<(), AppError> {
    use crate::ssr::{plumbing, SESSION_STORAGE_FAILED};
    if session.id().is_none() {
        session
            .save()
            .await
            .map_err(|_| plumbing(SESSION_STORAGE_FAILED))?;
    }
    if let Some(sid) = session.id() {
        st.handoff
            .leave(&sid.to_string(), token_id, secret, provision::now_ms());
    }
    Ok(())
}
