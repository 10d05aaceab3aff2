//! localcloud's own state file (`<data-dir>/localcloud.db`, SQLite): each service keeps
//! one versioned JSON document, written after every change and read at start, so that
//! servers, groups and volumes outlive a restart. A write never replaces a newer
//! version with an older one, whatever order concurrent writers finish in.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

pub struct Persist {
    pool: SqlitePool,
}

impl Persist {
    pub async fn open(data_dir: &std::path::Path) -> anyhow::Result<Persist> {
        std::fs::create_dir_all(data_dir)?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("localcloud.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS documents (key TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        Ok(Persist { pool })
    }

    pub async fn load<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        let row = sqlx::query("SELECT body FROM documents WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(serde_json::from_str(
                &r.try_get::<String, _>("body")?,
            )?)),
            None => Ok(None),
        }
    }

    /// Stores `body` as version `version` of `key`, unless a newer version is stored.
    pub async fn save(&self, key: &str, version: u64, body: &str) {
        let done = sqlx::query(
            "INSERT INTO documents (key, version, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET version = excluded.version, body = excluded.body
             WHERE excluded.version > documents.version",
        )
        .bind(key)
        .bind(version as i64)
        .bind(body)
        .execute(&self.pool)
        .await;
        if let Err(e) = done {
            tracing::error!(key, error = %e, "saving localcloud state");
        }
    }
}

/// A serialisable state with a version that grows with every change.
pub fn snapshot<T: Serialize>(state: &T, version: u64) -> (u64, String) {
    (version, serde_json::to_string(state).unwrap_or_default())
}
