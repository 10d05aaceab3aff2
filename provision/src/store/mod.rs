//! The store: one SQL dialect subset that runs on SQLite (embedded default) and
//! PostgreSQL (shared by replicas), through sqlx's `Any` driver.
//!
//! All the SQL of the core lives here, one file per area (accounts and sessions,
//! projects, clusters, workloads, operations, quotas, tokens, certificates, the
//! catalog of flavors and versions, the admin dashboard's reads); the modules above
//! keep their rules and call these methods, and none of them writes a query. A method
//! that takes several statements in one transaction keeps them together here.
//!
//! Queries use `$N` placeholders, which both backends accept; times are Unix
//! milliseconds and flags are 0/1 integers so that rows decode the same on both.
//! Functions are named resource first (`user_create`, `member_list`).

use std::sync::Arc;

use cache::HotCache;
use readers::{Readers, READERS};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

use crate::domain::{ProjectWithRole, User};
use crate::{Error, Result};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

mod admin;
mod audit;
mod cache;
mod catalog;
mod clusters;
mod invitations;
mod logins;
mod operations;
mod pki;
mod projects;
mod quotas;
mod readers;
mod sessions;
mod settings;
mod tokens;
mod users;
mod workloads;

pub use clusters::{Cluster, ClusterFilter, ClusterSummary, NodeGroup};
pub(crate) use operations::StepChange;
pub use operations::{EventRow, NewOperation, OperationRow, StepRow};

#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod reader_tests;

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    readers: Arc<Readers>,
    hot: Arc<HotCache>,
    access: Arc<AccessHook>,
}

/// What runs when who may use a project's clusters changes (see
/// [`crate::clusters::access`]): set once by whoever runs the clusters' access sync.
pub type AccessFn = Arc<
    dyn Fn(Vec<String>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

#[derive(Default)]
struct AccessHook(std::sync::OnceLock<AccessFn>);

impl std::fmt::Debug for AccessHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessHook(set: {})", self.0.get().is_some())
    }
}

/// A user and every project they belong to, with their role ([`Store::user_with_projects`]).
pub type UserWithProjects = (User, Vec<ProjectWithRole>);

/// Creates the directories of `path` that are missing (mode 0700) and the file itself
/// when it is missing (mode 0600), so that a SQLite database (and the WAL files SQLite
/// makes with its mode) is its owner's alone. Existing directories are left as they are.
pub fn private_file(path: &std::path::Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::internal(format!("creating {}: {e}", path.display()))),
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or(url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(Error::invalid(
                    "database_url",
                    "SQLite URL has no file path.",
                ));
            }
            private_file(std::path::Path::new(path))?;
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else {
            return Err(Error::invalid(
                "database_url",
                "DATABASE_URL must start with sqlite:// or postgres://",
            ));
        };
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            // sqlx pings a connection before lending it by default: for SQLite that is a
            // round trip to the connection's worker thread (a futex wake each way) before
            // every query, for a file that cannot have gone away. It cost about a tenth
            // of a signed-in page's CPU (docs/DECISIONS.md). PostgreSQL keeps the check:
            // its server can drop a connection.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await?;
        let store = Store {
            pool,
            backend,
            readers: Arc::new(Readers {
                permits: tokio::sync::Semaphore::new(READERS),
                idle: std::sync::Mutex::new(Vec::with_capacity(READERS)),
            }),
            hot: Arc::default(),
            access: Arc::default(),
        };
        store.migrator().run(&store.pool).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Sets what [`Store::access_changed`] runs (once; later calls are ignored).
    pub fn set_access_hook(&self, hook: AccessFn) {
        let _ = self.access.0.set(hook);
    }

    /// Who may use these projects' clusters changed (a member added, removed or given
    /// another role, a user disabled or enabled): their clusters' access is synced
    /// before this returns, so the change holds from the next request on.
    pub async fn access_changed(&self, project_ids: Vec<String>) {
        if let Some(hook) = self.access.0.get() {
            hook(project_ids).await;
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// Ready when the database answers and every known migration is applied.
    pub async fn readiness(&self) -> Result<()> {
        let applied: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await
                .map(|r| r.try_get::<i64, _>("n"))??;
        let known = self.migrator().iter().count() as i64;
        if applied < known {
            return Err(Error::internal(format!(
                "{applied} of {known} migrations applied"
            )));
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.readers.permits.close();
        let kept =
            std::mem::take(&mut *self.readers.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for conn in kept {
            let _ = sqlx::Connection::close(conn).await;
        }
        self.pool.close().await;
    }
}

async fn count(pool: &AnyPool, sql: &str) -> Result<i64> {
    let row = sqlx::query(sql).fetch_one(pool).await?;
    Ok(row.try_get("n")?)
}

fn expect_one(rows: u64, what: &str) -> Result<()> {
    if rows == 0 {
        Err(Error::NotFound(format!("No such {what}.")))
    } else {
        Ok(())
    }
}
