//! The SQL of personal API tokens ([`crate::tokens`]): the `api_tokens` rows, keyed
//! by the SHA-256 of the token. Who may create or revoke, lifetimes and what a token
//! grants stay in `tokens`; this file only reads and writes the rows.

use sqlx::Row;

use crate::tokens::ApiToken;
use crate::{Result, Store};

impl Store {
    /// Records a new token of `user_id` by its digest.
    pub(crate) async fn token_insert(
        &self,
        user_id: &str,
        token: &ApiToken,
        token_hash: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at, read_only) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&token.id)
            .bind(user_id)
            .bind(&token.name)
            .bind(token_hash)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.read_only as i64)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The user's tokens, newest first, revoked and expired ones too.
    pub(crate) async fn token_list(&self, user_id: &str) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at, revoked_at, expires_at, read_only FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    expires_at: r.try_get("expires_at")?,
                    read_only: r.try_get::<i64, _>("read_only")? != 0,
                })
            })
            .collect()
    }

    /// Revokes the user's live token `id` at `now`; false when there is none.
    pub(crate) async fn token_revoke(&self, user_id: &str, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(done != 0)
    }

    /// Revokes every live token of the user at `now`; returns how many.
    pub(crate) async fn token_revoke_all(&self, user_id: &str, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// `(token id, user id, read only)` of the live token of this digest at `now`
    /// (not revoked, not expired).
    pub(crate) async fn token_find_live(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(String, String, bool)>> {
        let Some(row) = sqlx::query(
            "SELECT id, user_id, read_only FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let user_id: String = row.try_get("user_id")?;
        let id: String = row.try_get("id")?;
        let read_only = row.try_get::<i64, _>("read_only")? != 0;
        Ok(Some((id, user_id, read_only)))
    }

    /// Stamps the token's last use.
    pub(crate) async fn token_touch(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
