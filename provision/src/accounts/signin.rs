//! Sign-in, throttled per account and per client address, and sign-out.

use super::passwords::dummy_hash;
use super::{
    audit, verify_password, ACCOUNT_SLOWDOWN, EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS,
    THROTTLE_MAX_FAILURES, THROTTLE_WINDOW_MS,
};
use crate::domain::{Actor, NewAudit, Outcome, User};
use crate::{now_ms, Error, Result, Store};

/// Checks credentials, with throttling per account and per client address.
pub async fn sign_in(
    store: &Store,
    email: &str,
    password: &str,
    client_addr: &str,
) -> Result<User> {
    let email_raw = email.trim().to_lowercase();
    if email_raw.is_empty() {
        return Err(Error::invalid("email", "Enter your email address."));
    }
    if password.is_empty() {
        return Err(Error::invalid("password", "Enter your password."));
    }
    if email_raw.chars().count() > EMAIL_MAX_CHARS || password.chars().count() > PASSWORD_MAX_CHARS
    {
        return Err(Error::Unauthenticated("Wrong email or password.".into()));
    }
    let now = now_ms();
    let since = now - THROTTLE_WINDOW_MS;
    // The attempt counts as a failure from the start (a success clears it): parallel
    // guesses each see the others, so no more than the limit are ever checked.
    store
        .login_failure_record(&email_raw, client_addr, now)
        .await?;
    let [(account_failures, _), (address_failures, oldest)] = store
        .login_failure_window(&email_raw, client_addr, since)
        .await?;
    if address_failures > THROTTLE_MAX_FAILURES {
        let oldest = oldest.unwrap_or(now);
        let retry_after_secs = ((oldest + THROTTLE_WINDOW_MS - now).max(1000) + 999) / 1000;
        audit_sign_in(
            store,
            None,
            &email_raw,
            Outcome::Denied,
            client_addr,
            "throttled",
        )
        .await?;
        return Err(Error::Throttled {
            message: format!(
                "Too many failed sign-in attempts. Try again in {} seconds.",
                retry_after_secs
            ),
            retry_after_secs: retry_after_secs as u64,
        });
    }
    if account_failures > THROTTLE_MAX_FAILURES {
        tokio::time::sleep(ACCOUNT_SLOWDOWN).await;
    }

    let user = store.user_by_email(&email_raw).await?;
    let ok = match &user {
        Some(u) => verify_password(password, &u.password_hash).await?,
        None => {
            verify_password(password, dummy_hash().await).await?;
            false
        }
    };
    let failure = |detail: &'static str| async move {
        audit_sign_in(
            store,
            None,
            &email_raw,
            Outcome::Failure,
            client_addr,
            detail,
        )
        .await
    };
    match user {
        Some(user) if ok && !user.disabled => {
            store.login_failures_clear_email(&user.email).await?;
            audit_sign_in(
                store,
                Some(&user.id),
                &user.email,
                Outcome::Success,
                client_addr,
                "",
            )
            .await?;
            Ok(user)
        }
        Some(user) if ok && user.disabled => {
            failure("account disabled").await?;
            Err(Error::Forbidden(
                "This account is disabled; ask an administrator.".into(),
            ))
        }
        _ => {
            failure("wrong email or password").await?;
            Err(Error::Unauthenticated("Wrong email or password.".into()))
        }
    }
}

/// One sign-in attempt in the audit log.
async fn audit_sign_in(
    store: &Store,
    user_id: Option<&str>,
    email: &str,
    outcome: Outcome,
    client_addr: &str,
    detail: &str,
) -> Result<()> {
    store
        .audit_insert(&NewAudit {
            actor_id: user_id,
            actor_email: email,
            project_id: None,
            action: "user.sign_in",
            object: &format!("user:{email}"),
            outcome,
            client_addr,
            detail,
        })
        .await
}

/// Records a sign-out.
pub async fn sign_out(store: &Store, actor: &Actor) -> Result<()> {
    audit(
        store,
        actor,
        None,
        "user.sign_out",
        &format!("user:{}", actor.email),
        Outcome::Success,
        "",
    )
    .await
}
