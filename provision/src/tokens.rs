//! Personal API tokens for the REST API (`Authorization: Bearer sy_…`). The token is
//! random (256 bits), shown once at creation; only its SHA-256 is stored, so a leaked
//! database does not leak usable tokens. Revoked and expired tokens, disabled users and
//! users who must still change their password stop working at once (every request looks
//! the token up). A token expires after [`DEFAULT_LIFETIME_DAYS`] unless asked otherwise,
//! may be read-only, and cannot mint tokens: only a signed-in session can.

use sha2::{Digest, Sha256};

use crate::domain::{Actor, Credential, NewAudit, Outcome, User};
use crate::{now_ms, Error, Result, Store};

/// Every token starts with this, so that secret scanners can recognise one.
pub const PREFIX: &str = "sy_";

/// A new token lives this long unless its creator picks another lifetime or none.
pub const DEFAULT_LIFETIME_DAYS: u32 = 90;
/// The longest lifetime one may pick (besides none).
pub const MAX_LIFETIME_DAYS: u32 = 3650;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// When it stops working; `None`: never.
    pub expires_at: Option<i64>,
    /// It may only read (GET and HEAD on the REST API).
    pub read_only: bool,
}

impl ApiToken {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// What a new token may do and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenOptions {
    /// Days until it expires; `None`: it never does.
    pub lifetime_days: Option<u32>,
    pub read_only: bool,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            lifetime_days: Some(DEFAULT_LIFETIME_DAYS),
            read_only: false,
        }
    }
}

/// A bearer token's user, and what the token grants.
#[derive(Debug)]
pub struct Authenticated {
    pub user: User,
    pub credential: Credential,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token for the actor; returns it with its plaintext, which is not kept.
/// Only a signed-in session may: a token cannot mint another (a leaked read-only or
/// short-lived token would otherwise buy a lasting one).
pub async fn create(
    store: &Store,
    actor: &Actor,
    name: &str,
    options: TokenOptions,
) -> Result<(ApiToken, String)> {
    if matches!(actor.credential, Credential::Token { .. }) {
        return Err(Error::Forbidden(
            "An API token cannot create tokens; sign in to the console to make one.".into(),
        ));
    }
    if let Some(days) = options.lifetime_days {
        if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
            return Err(Error::invalid(
                "expires_in_days",
                format!("A token lives 1–{MAX_LIFETIME_DAYS} days, or leave it without expiry."),
            ));
        }
    }
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
    let expires_at = options.lifetime_days.map(|d| now + i64::from(d) * DAY_MS);
    let created = ApiToken {
        id,
        name: name.to_string(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        expires_at,
        read_only: options.read_only,
    };
    store
        .token_insert(&actor.user_id, &created, &digest(&token))
        .await?;
    audit(store, actor, "token.create", &created.id).await?;
    Ok((created, token))
}

pub async fn list(store: &Store, actor: &Actor) -> Result<Vec<ApiToken>> {
    store.token_list(&actor.user_id).await
}

/// Revokes one of the actor's own tokens (another user's is "not found").
pub async fn revoke(store: &Store, actor: &Actor, id: &str) -> Result<()> {
    if !store.token_revoke(&actor.user_id, id, now_ms()).await? {
        return Err(Error::NotFound(format!("No live token {id}.")));
    }
    audit(store, actor, "token.revoke", id).await
}

/// Revokes every live token of the actor's (after a password change, if they ask);
/// returns how many.
pub async fn revoke_all(store: &Store, actor: &Actor) -> Result<u64> {
    let done = store.token_revoke_all(&actor.user_id, now_ms()).await?;
    if done > 0 {
        audit(store, actor, "token.revoke_all", &format!("{done} tokens")).await?;
    }
    Ok(done)
}

/// The user behind a bearer token, if the token is live (not revoked, not expired) and
/// the user enabled and not bound to change their password first.
pub async fn authenticate(store: &Store, token: &str) -> Result<Authenticated> {
    let refused = || {
        Error::Unauthenticated(
            "The API token is unknown, revoked or expired, or its user is disabled.".into(),
        )
    };
    if !token.starts_with(PREFIX) || token.len() > 128 {
        return Err(refused());
    }
    let now = now_ms();
    let (id, user_id, read_only) = store
        .token_find_live(&digest(token), now)
        .await?
        .ok_or_else(refused)?;
    let user = store
        .user_by_id(&user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(refused)?;
    if user.must_change_password {
        return Err(Error::Forbidden(
            crate::accounts::MUST_CHANGE_PASSWORD.into(),
        ));
    }
    store.token_touch(&id, now).await?;
    Ok(Authenticated {
        user,
        credential: Credential::Token { id, read_only },
    })
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
