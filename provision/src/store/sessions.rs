//! The web layer's session records (opaque to this crate), kept in memory on SQLite.

use sqlx::Row;

use super::{Backend, Store};
use crate::Result;

impl Store {
    pub async fn session_insert(&self, id: &str, data: &str, expires_at: i64) -> Result<bool> {
        let _forget = self.hot.sessions.forget();
        let done = sqlx::query(
            "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(data)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn session_save(&self, id: &str, data: &str, expires_at: i64) -> Result<()> {
        let _forget = self.hot.sessions.forget();
        sqlx::query(
            "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(id)
        .bind(data)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session's record, unless it has expired (kept in memory on SQLite: [`HotCache`]).
    pub async fn session_load(&self, id: &str, now: i64) -> Result<Option<String>> {
        let on = self.backend == Backend::Sqlite;
        let read = async {
            let mut reader = self.reader().await?;
            let row = sqlx::query("SELECT data, expires_at FROM sessions WHERE id = $1")
                .bind(id)
                .fetch_optional(reader.conn())
                .await?;
            reader.done();
            row.map(|r| Ok((r.try_get("data")?, r.try_get("expires_at")?)))
                .transpose()
        };
        let found = self.hot.sessions.through(on, id, read).await?;
        Ok(found.and_then(|(data, expires_at)| (expires_at > now).then_some(data)))
    }

    pub async fn session_delete(&self, id: &str) -> Result<()> {
        let _forget = self.hot.sessions.forget();
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn session_delete_expired(&self, now: i64) -> Result<u64> {
        let _forget = self.hot.sessions.forget();
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
