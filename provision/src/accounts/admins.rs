//! Administrators: the first one, made at start, and the check that an actor is one.

use super::{generate_password, hash_password, validate_email, validate_password};
use crate::domain::{Actor, NewAudit, Outcome};
use crate::{Error, Result, Store};

/// The first admin: created at start when no admin exists. Returns the generated
/// one-time password when none was given, so the caller can print it once.
pub async fn ensure_admin(
    store: &Store,
    email: &str,
    password: Option<&str>,
) -> Result<Option<(String, Option<String>)>> {
    if store.admin_count().await? > 0 {
        return Ok(None);
    }
    let email = validate_email(email)?;
    let (password, generated) = match password {
        Some(p) if !p.is_empty() => {
            validate_password(p)?;
            (p.to_string(), None)
        }
        _ => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let hash = hash_password(&password).await?;
    match store.user_by_email(&email).await? {
        Some(existing) => {
            store.user_set_admin(&existing.id, true).await?;
            store
                .user_set_password(&existing.id, &hash, generated.is_some())
                .await?;
        }
        None => {
            store
                .user_create_with_project(&email, &hash, true, generated.is_some())
                .await?;
        }
    }
    store
        .audit_insert(&NewAudit {
            actor_id: None,
            actor_email: "system",
            project_id: None,
            action: "user.bootstrap_admin",
            object: &format!("user:{email}"),
            outcome: Outcome::Success,
            client_addr: "local",
            detail: "",
        })
        .await?;
    Ok(Some((email, generated)))
}

pub fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(Error::Forbidden("Only administrators can do this.".into()))
    }
}
