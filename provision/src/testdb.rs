//! Fresh, throw-away databases for tests: a temporary SQLite file, or a new database
//! on the PostgreSQL server named by `SHIPYARD_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`).

use sqlx::{Connection, Executor};

use crate::{Backend, Result, Store};

/// The PostgreSQL server used by tests.
pub fn pg_admin_url() -> String {
    std::env::var("SHIPYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    name: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Result<TestDb> {
        let name = format!("shipyard_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = TempDir::new(&name)?;
                let url = format!("sqlite://{}/shipyard.db", dir.0.display());
                Ok(TestDb {
                    url,
                    backend,
                    name,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await?;
                conn.close().await?;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Ok(TestDb {
                    url: format!("{base}/{name}"),
                    backend,
                    name,
                    _dir: None,
                })
            }
        }
    }

    pub async fn store(&self) -> Result<Store> {
        Store::connect(&self.url).await
    }

    /// Drops the PostgreSQL database (SQLite files go with the temporary directory).
    pub async fn cleanup(self) {
        if self.backend == Backend::Postgres {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(prefix);
        std::fs::create_dir_all(&path).map_err(crate::Error::internal)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
