//! Sign-up: whether it is open, and making an account (limited per client address).

use super::{
    audit, hash_password, require_admin, validate_email, validate_password, SETTING_SIGNUP_OPEN,
    SIGNUP_MAX_PER_ADDRESS, SIGNUP_WINDOW_MS,
};
use crate::domain::{Actor, NewAudit, Outcome, Project, User};
use crate::{now_ms, Error, Result, Store};

pub async fn signup_open(store: &Store) -> Result<bool> {
    Ok(store.setting_get(SETTING_SIGNUP_OPEN).await?.as_deref() != Some("false"))
}

pub async fn set_signup_open(store: &Store, actor: &Actor, open: bool) -> Result<()> {
    require_admin(actor)?;
    store
        .setting_set(SETTING_SIGNUP_OPEN, if open { "true" } else { "false" })
        .await?;
    audit(
        store,
        actor,
        None,
        "settings.signup",
        if open { "open" } else { "closed" },
        Outcome::Success,
        "",
    )
    .await
}

/// Creates an account and its personal project, with the default throttle
/// ([`SIGNUP_MAX_PER_ADDRESS`]).
pub async fn sign_up(
    store: &Store,
    email: &str,
    password: &str,
    client_addr: &str,
) -> Result<(User, Project)> {
    sign_up_limited(store, email, password, client_addr, SIGNUP_MAX_PER_ADDRESS).await
}

/// Creates an account and its personal project; at most `max_per_address` sign-ups
/// (successful or not) from one client address in [`SIGNUP_WINDOW_MS`].
pub async fn sign_up_limited(
    store: &Store,
    email: &str,
    password: &str,
    client_addr: &str,
    max_per_address: i64,
) -> Result<(User, Project)> {
    let email = validate_email(email)?;
    validate_password(password)?;
    if !signup_open(store).await? {
        return Err(Error::Forbidden(
            "Sign-up is closed on this Shipyard; ask an administrator for an account.".into(),
        ));
    }
    let now = now_ms();
    let (attempts, oldest) = store
        .signup_attempt(client_addr, now, now - SIGNUP_WINDOW_MS)
        .await?;
    if attempts > max_per_address {
        let oldest = oldest.unwrap_or(now);
        let retry_after_secs = ((oldest + SIGNUP_WINDOW_MS - now).max(1000) + 999) / 1000;
        return Err(Error::Throttled {
            message: format!(
                "Too many sign-ups from your address. Try again in {} minutes.",
                (retry_after_secs + 59) / 60
            ),
            retry_after_secs: retry_after_secs as u64,
        });
    }
    let hash = hash_password(password).await?;
    let created = store
        .user_create_with_project(&email, &hash, false, false)
        .await;
    let (outcome, detail) = match &created {
        Ok(_) => (Outcome::Success, String::new()),
        Err(e) => (Outcome::Failure, e.external_message()),
    };
    let user_id = created.as_ref().ok().map(|(u, _)| u.id.as_str());
    let project_id = created.as_ref().ok().map(|(_, p)| p.id.as_str());
    store
        .audit_insert(&NewAudit {
            actor_id: user_id,
            actor_email: &email,
            project_id,
            action: "user.sign_up",
            object: &format!("user:{email}"),
            outcome,
            client_addr,
            detail: &detail,
        })
        .await?;
    created
}
