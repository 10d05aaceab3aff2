//! Personal API tokens for the REST API (`Authorization: Bearer sy_…`). The token is
//! random (256 bits), shown once at creation; only its SHA-256 is stored, so a leaked
//! database does not leak usable tokens. Revoked tokens and disabled users stop
//! working at once (every request looks the token up).

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::domain::{Actor, NewAudit, Outcome, User};
use crate::{now_ms, Error, Result, Store};

/// Every token starts with this, so that secret scanners can recognise one.
pub const PREFIX: &str = "sy_";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token for the actor; returns it with its plaintext, which is not kept.
pub async fn create(store: &Store, actor: &Actor, name: &str) -> Result<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(Error::invalid(
            "name",
            "Give the token a name of 1–64 characters.",
        ));
    }
    let secret: [u8; 32] = rand::random();
    let token = format!("{PREFIX}{}", hex::encode(secret));
    let id = crate::new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(&actor.user_id)
        .bind(name)
        .bind(digest(&token))
        .bind(now)
        .execute(store.pool())
        .await?;
    audit(store, actor, "token.create", &id).await?;
    Ok((
        ApiToken {
            id,
            name: name.to_string(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        },
        token,
    ))
}

pub async fn list(store: &Store, actor: &Actor) -> Result<Vec<ApiToken>> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(&actor.user_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiToken {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect()
}

/// Revokes one of the actor's own tokens (another user's is "not found").
pub async fn revoke(store: &Store, actor: &Actor, id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .bind(&actor.user_id)
        .execute(store.pool())
        .await?
        .rows_affected();
    if done == 0 {
        return Err(Error::NotFound(format!("No live token {id}.")));
    }
    audit(store, actor, "token.revoke", id).await
}

/// The user behind a bearer token, if it is live and the user is enabled.
pub async fn authenticate(store: &Store, token: &str) -> Result<User> {
    let refused = || {
        Error::Unauthenticated("The API token is unknown, revoked, or its user is disabled.".into())
    };
    if !token.starts_with(PREFIX) || token.len() > 128 {
        return Err(refused());
    }
    let row = sqlx::query(
        "SELECT id, user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(digest(token))
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(refused)?;
    let user_id: String = row.try_get("user_id")?;
    let id: String = row.try_get("id")?;
    let user = store
        .user_by_id(&user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(refused)?;
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&id)
        .execute(store.pool())
        .await?;
    Ok(user)
}

async fn audit(store: &Store, actor: &Actor, action: &str, target: &str) -> Result<()> {
    store
        .audit_insert(&NewAudit {
            actor_id: Some(&actor.user_id),
            actor_email: &actor.email,
            project_id: None,
            action,
            object: target,
            outcome: Outcome::Success,
            client_addr: &actor.client_addr,
            detail: "",
        })
        .await
}
