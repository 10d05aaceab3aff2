//! The store: one SQL dialect subset that runs on SQLite (embedded default) and
//! PostgreSQL (shared by replicas), through sqlx's `Any` driver.
//!
//! Queries use `$N` placeholders, which both backends accept; times are Unix
//! milliseconds and flags are 0/1 integers so that rows decode the same on both.
//! Functions are named resource first (`user_create`, `member_list`).

use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::domain::{
    AuditEntry, AuditFilter, Member, NewAudit, Project, ProjectWithRole, Role, User,
};
use crate::{now_ms, Error, Result};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

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

/// The two reads every signed-in request makes before its own — the session record and
/// the user with their projects — kept in memory on SQLite. A SQLite database belongs to
/// one process (replicas share PostgreSQL, which is always read), and every write to
/// `sessions`, `users`, `projects` and `memberships` goes through this `Store`, which
/// forgets what it kept when it writes them: a write takes a [`Forget`] guard that, when
/// the write is over (committed, failed or dropped), bumps the table's generation and
/// drops what is kept. A read keeps what it read only if no write ended while it ran (the
/// generation it saw before reading is still current), so a read that raced a write
/// never keeps the older row. A disabled user or a signed-out session is therefore seen
/// by the next request, as without the cache.
#[derive(Debug, Default)]
struct HotCache {
    sessions: Kept<String, (String, i64)>,
    users: Kept<String, UserWithProjects>,
}

/// A user and every project they belong to, with their role ([`Store::user_with_projects`]).
pub type UserWithProjects = (User, Vec<ProjectWithRole>);

/// At most this many entries of each kind; a full map starts again empty.
const HOT_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Kept<K, V> {
    generation: std::sync::atomic::AtomicU64,
    map: std::sync::Mutex<std::collections::HashMap<K, V>>,
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Kept {
            generation: Default::default(),
            map: Default::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Kept<K, V> {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, V>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map().get(key).cloned()
    }

    /// What is kept for `key` when `on`, or else what `read` reads (kept when `on`, unless
    /// a write ended while it read).
    async fn through<Fut>(&self, on: bool, key: &str, read: Fut) -> Result<Option<V>>
    where
        K: std::borrow::Borrow<str> + for<'k> From<&'k str>,
        Fut: std::future::Future<Output = Result<Option<V>>>,
    {
        if on {
            if let Some(found) = self.get(key) {
                return Ok(Some(found));
            }
        }
        let seen = self.generation();
        let found = read.await?;
        if let (true, Some(found)) = (on, &found) {
            self.keep(seen, K::from(key), found.clone());
        }
        Ok(found)
    }

    /// Keeps `value`, read while the generation was `seen`, unless a write has ended since.
    fn keep(&self, seen: u64, key: K, value: V) {
        let mut map = self.map();
        if self.generation() != seen {
            return;
        }
        if map.len() >= HOT_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }

    /// A write is under way: what is kept is forgotten when the guard drops.
    fn forget(&self) -> Forget<'_, K, V> {
        Forget(self)
    }
}

/// Held by a write to the cached tables; see [`HotCache`].
struct Forget<'a, K: std::hash::Hash + Eq, V>(&'a Kept<K, V>);

impl<K: std::hash::Hash + Eq, V> Drop for Forget<'_, K, V> {
    fn drop(&mut self) {
        let mut map = self.0.map.lock().unwrap_or_else(|e| e.into_inner());
        self.0
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map.clear();
    }
}

/// SQLite connections kept for the reads every page makes (the session, the user, the
/// clusters list: [`Store::reader`]). A connection lent by the pool costs, besides its
/// query, a ping when it goes back (sqlx pings every returned connection, a round trip
/// to the connection's worker thread) and a task to put it back; these are lent and
/// taken back in place. At most `READERS` at once; a reader dropped before it was
/// handed back (its request went away mid-query) is closed, not reused.
struct Readers {
    permits: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<sqlx::AnyConnection>>,
}

const READERS: usize = 4;

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// A connection for one read (see [`Store::reader`]); give it back with [`Reader::done`].
pub(crate) struct Reader<'a> {
    conn: ReaderConn,
    readers: &'a Readers,
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

enum ReaderConn {
    Kept(sqlx::AnyConnection),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Reader<'_> {
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        match &mut self.conn {
            ReaderConn::Kept(c) => c,
            ReaderConn::Pooled(c) => c,
        }
    }

    /// The read went through: the connection can serve the next one (the permit goes
    /// back after it is kept).
    pub(crate) fn done(self) {
        let Reader {
            conn,
            readers,
            _permit,
        } = self;
        if let ReaderConn::Kept(c) = conn {
            readers
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(c);
        }
    }
}

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

    /// Every project's id.
    pub async fn project_ids(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM projects")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// The ids of a project's members whose accounts are disabled.
    pub async fn disabled_members(
        &self,
        project_id: &str,
    ) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query(
            "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND u.disabled <> 0",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A connection for one of the reads every page makes. On SQLite one of the kept
    /// readers ([`Readers`]); on PostgreSQL, whose server can drop a connection, one from
    /// the pool as usual.
    pub(crate) async fn reader(&self) -> Result<Reader<'_>> {
        if self.backend == Backend::Postgres {
            return Ok(Reader {
                conn: ReaderConn::Pooled(self.pool.acquire().await?),
                readers: &self.readers,
                _permit: None,
            });
        }
        let permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| Error::internal("the database readers are closed"))?;
        let kept = self
            .readers
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match kept {
            Some(c) => c,
            // Opened through the pool (its settings, `after_connect`), then kept apart.
            None => self.pool.acquire().await?.detach(),
        };
        Ok(Reader {
            conn: ReaderConn::Kept(conn),
            readers: &self.readers,
            _permit: Some(permit),
        })
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

    // ---- users ---------------------------------------------------------------------

    /// Creates a user, a personal project owned by them, and the membership, at once.
    pub async fn user_create_with_project(
        &self,
        email: &str,
        password_hash: &str,
        is_admin: bool,
        must_change_password: bool,
    ) -> Result<(User, Project)> {
        let _forget = self.hot.users.forget();
        let now = now_ms();
        let user = User {
            id: crate::new_id(),
            email: email.to_string(),
            password_hash: password_hash.to_string(),
            is_admin,
            disabled: false,
            must_change_password,
            session_epoch: 0,
            created_at: now,
        };
        let project = Project {
            id: crate::new_id(),
            name: personal_project_name(email),
            description: String::new(),
            personal_of: Some(user.id.clone()),
            created_at: now,
        };
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, password_hash, is_admin, disabled, must_change_password, created_at)
             VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(is_admin as i64)
        .bind(must_change_password as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::Conflict(
                "An account with this email already exists.".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO projects (id, name, description, personal_of, created_at) VALUES ($1, $2, '', $3, $4)",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(&user.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(&project.id)
        .bind(&user.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((user, project))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!("{USER_COLUMNS} WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!("{USER_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub async fn user_list(&self, limit: i64, offset: i64) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("{USER_COLUMNS} ORDER BY email LIMIT $1 OFFSET $2"))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn user_count(&self) -> Result<i64> {
        count(&self.pool, "SELECT COUNT(*) AS n FROM users").await
    }

    pub async fn admin_count(&self) -> Result<i64> {
        count(
            &self.pool,
            "SELECT COUNT(*) AS n FROM users WHERE is_admin = 1",
        )
        .await
    }

    pub async fn user_set_password(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
    ) -> Result<()> {
        let _forget = self.hot.users.forget();
        let done = sqlx::query(
            // A new password ends every session begun with the old one (`session_epoch`).
            "UPDATE users SET password_hash = $1, must_change_password = $2, session_epoch = session_epoch + 1 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(must_change_password as i64)
        .bind(id)
        .execute(&self.pool)
        .await?;
        expect_one(done.rows_affected(), "user")
    }

    pub async fn user_set_admin(&self, id: &str, is_admin: bool) -> Result<()> {
        let _forget = self.hot.users.forget();
        let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
            .bind(is_admin as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        expect_one(done.rows_affected(), "user")
    }

    pub async fn user_set_disabled(&self, id: &str, disabled: bool) -> Result<()> {
        let _forget = self.hot.users.forget();
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(disabled as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        expect_one(done.rows_affected(), "user")?;
        drop(_forget);
        let projects = sqlx::query("SELECT project_id FROM memberships WHERE user_id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("project_id"))
            .collect::<std::result::Result<Vec<String>, _>>()?;
        self.access_changed(projects).await;
        Ok(())
    }

    // ---- projects and members ------------------------------------------------------

    /// Creates a project owned by `owner_id`. With a `limit`, the owner may own at
    /// most that many projects: the count and the insert are one transaction that
    /// first takes the owner's row for writing, so parallel creates wait for each other.
    pub async fn project_create(
        &self,
        name: &str,
        owner_id: &str,
        limit: Option<i64>,
    ) -> Result<Project> {
        let _forget = self.hot.users.forget();
        let project = Project {
            id: crate::new_id(),
            name: name.to_string(),
            description: String::new(),
            personal_of: None,
            created_at: now_ms(),
        };
        let mut tx = self.pool.begin().await?;
        if let Some(limit) = limit {
            sqlx::query("UPDATE users SET email = email WHERE id = $1")
                .bind(owner_id)
                .execute(&mut *tx)
                .await?;
            let owned: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM memberships WHERE user_id = $1 AND role = 'owner'",
            )
            .bind(owner_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if owned >= limit {
                return Err(Error::Conflict(format!(
                    "You own {owned} projects, the most one may (an administrator sets the limit). Delete one or ask an administrator."
                )));
            }
        }
        sqlx::query(
            "INSERT INTO projects (id, name, description, personal_of, created_at) VALUES ($1, $2, '', NULL, $3)",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(project.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(&project.id)
        .bind(owner_id)
        .bind(project.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(project)
    }

    pub async fn project_get(&self, id: &str) -> Result<Option<Project>> {
        let row = sqlx::query(
            "SELECT id, name, description, personal_of, created_at FROM projects WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| project_from_row(&r)).transpose()
    }

    /// The projects a user is a member of, with their role, personal project first.
    pub async fn project_list_for_user(&self, user_id: &str) -> Result<Vec<ProjectWithRole>> {
        let rows = sqlx::query(
            "SELECT p.id, p.name, p.description, p.personal_of, p.created_at, m.role
             FROM projects p JOIN memberships m ON m.project_id = p.id
             WHERE m.user_id = $1
             ORDER BY CASE WHEN p.personal_of = $1 THEN 0 ELSE 1 END, p.name, p.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProjectWithRole {
                    project: project_from_row(r)?,
                    role: r.try_get::<String, _>("role")?.parse()?,
                })
            })
            .collect()
    }

    /// A user and every project they belong to (with their role, ordered as
    /// [`Store::project_list_for_user`]), in one query: what every signed-in page reads
    /// first.
    pub async fn user_with_projects(&self, user_id: &str) -> Result<Option<UserWithProjects>> {
        // Kept in memory on SQLite ([`HotCache`]).
        let on = self.backend == Backend::Sqlite;
        let read = self.user_with_projects_read(user_id);
        self.hot.users.through(on, user_id, read).await
    }

    async fn user_with_projects_read(&self, user_id: &str) -> Result<Option<UserWithProjects>> {
        let mut reader = self.reader().await?;
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.is_admin, u.disabled,
                    u.must_change_password, u.session_epoch, u.created_at,
                    p.id AS p_id, p.name AS p_name, p.description AS p_description,
                    p.personal_of AS p_personal_of, p.created_at AS p_created_at, m.role AS p_role
             FROM users u
             LEFT JOIN memberships m ON m.user_id = u.id
             LEFT JOIN projects p ON p.id = m.project_id
             WHERE u.id = $1
             ORDER BY CASE WHEN p.personal_of = $1 THEN 0 ELSE 1 END, p.name, p.id",
        )
        .bind(user_id)
        .fetch_all(reader.conn())
        .await?;
        reader.done();
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let user = user_from_row(first)?;
        let mut projects = Vec::with_capacity(rows.len());
        for r in &rows {
            let Some(id) = r.try_get::<Option<String>, _>("p_id")? else {
                continue;
            };
            projects.push(ProjectWithRole {
                project: Project {
                    id,
                    name: r.try_get("p_name")?,
                    description: r.try_get("p_description")?,
                    personal_of: r.try_get("p_personal_of")?,
                    created_at: r.try_get("p_created_at")?,
                },
                role: r.try_get::<String, _>("p_role")?.parse()?,
            });
        }
        Ok(Some((user, projects)))
    }

    pub async fn project_count_named_for_owner(&self, owner_id: &str, name: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM projects p JOIN memberships m ON m.project_id = p.id
             WHERE m.user_id = $1 AND m.role = 'owner' AND p.name = $2",
        )
        .bind(owner_id)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn project_update_description(&self, id: &str, description: &str) -> Result<()> {
        let _forget = self.hot.users.forget();
        let done = sqlx::query("UPDATE projects SET description = $1 WHERE id = $2")
            .bind(description)
            .bind(id)
            .execute(&self.pool)
            .await?;
        expect_one(done.rows_affected(), "project")
    }

    /// A project and the user's role in it (`None`: not a member), or `None` when the
    /// project does not exist.
    pub async fn project_with_role(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<Option<(Project, Option<Role>)>> {
        let row = sqlx::query(
            "SELECT p.id, p.name, p.description, p.personal_of, p.created_at, m.role
             FROM projects p LEFT JOIN memberships m ON m.project_id = p.id AND m.user_id = $2
             WHERE p.id = $1",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let role = r
                .try_get::<Option<String>, _>("role")?
                .map(|s| s.parse())
                .transpose()?;
            Ok((project_from_row(&r)?, role))
        })
        .transpose()
    }

    pub async fn membership_role(&self, project_id: &str, user_id: &str) -> Result<Option<Role>> {
        let row =
            sqlx::query("SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| r.try_get::<String, _>("role")?.parse())
            .transpose()
    }

    pub async fn member_list(&self, project_id: &str) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.created_at
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 ORDER BY u.email",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    role: r.try_get::<String, _>("role")?.parse()?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// For a write to memberships made outside this file: what is kept of users is
    /// forgotten when the answer drops (see [`HotCache`]).
    pub(crate) fn users_changing(&self) -> impl Drop + '_ {
        self.hot.users.forget()
    }

    /// Adds a member or changes their role; refused (Conflict) if it would leave the
    /// project without an owner.
    pub async fn member_upsert(&self, project_id: &str, user_id: &str, role: Role) -> Result<()> {
        let _forget = self.hot.users.forget();
        let mut tx = self.membership_change(project_id).await?;
        sqlx::query(
            "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Self::still_owned(tx, project_id).await?;
        drop(_forget);
        self.access_changed(vec![project_id.to_string()]).await;
        Ok(())
    }

    /// Removes a member; refused (Conflict) if it would leave the project without an
    /// owner.
    pub async fn member_remove(&self, project_id: &str, user_id: &str) -> Result<()> {
        let _forget = self.hot.users.forget();
        let mut tx = self.membership_change(project_id).await?;
        let done = sqlx::query("DELETE FROM memberships WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        expect_one(done.rows_affected(), "member")?;
        Self::still_owned(tx, project_id).await?;
        drop(_forget);
        self.access_changed(vec![project_id.to_string()]).await;
        Ok(())
    }

    /// A transaction for a change to a project's members that first takes the project's
    /// row for writing (SQLite: the write lock; PostgreSQL: the row lock), so two
    /// changes to one project's members take turns: two owners removing each other at
    /// once cannot both see the other still there.
    async fn membership_change(
        &self,
        project_id: &str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projects SET name = name WHERE id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Commits a membership change if the project still has an owner.
    async fn still_owned(
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        project_id: &str,
    ) -> Result<()> {
        let owners: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM memberships WHERE project_id = $1 AND role = 'owner'",
        )
        .bind(project_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if owners == 0 {
            return Err(Error::Conflict(
                "A project keeps at least one owner.".into(),
            ));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn owner_count(&self, project_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM memberships WHERE project_id = $1 AND role = 'owner'",
        )
        .bind(project_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    // ---- login throttling ------------------------------------------------------------

    pub async fn login_failure_record(
        &self,
        email: &str,
        client_addr: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO login_failures (email, client_addr, at) VALUES ($1, $2, $3)")
            .bind(email)
            .bind(client_addr)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failures since `since` for this email and for this address, and the oldest of
    /// each (to compute Retry-After).
    pub async fn login_failure_window(
        &self,
        email: &str,
        client_addr: &str,
        since: i64,
    ) -> Result<[(i64, Option<i64>); 2]> {
        let mut out = [(0, None), (0, None)];
        for (i, (column, value)) in [("email", email), ("client_addr", client_addr)]
            .into_iter()
            .enumerate()
        {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures WHERE {column} = $1 AND at > $2"
            ))
            .bind(value)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
            out[i] = (row.try_get("n")?, row.try_get("oldest")?);
        }
        Ok(out)
    }

    pub async fn login_failures_clear_email(&self, email: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn login_failures_prune(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a sign-up attempt from `client_addr` and answers how many there were
    /// since `since` up to this one (included) and the oldest of them. Attempts from one
    /// address take turns (SQLite: the insert takes the write lock first; PostgreSQL: a
    /// transaction lock on the address), so a parallel burst is counted exactly.
    pub async fn signup_attempt(
        &self,
        client_addr: &str,
        at: i64,
        since: i64,
    ) -> Result<(i64, Option<i64>)> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('signup:' || $1))::text AS l")
                .bind(client_addr)
                .fetch_one(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO signup_attempts (client_addr, at) VALUES ($1, $2)")
            .bind(client_addr)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM signup_attempts WHERE client_addr = $1 AND at > $2",
        )
        .bind(client_addr)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let counted = (row.try_get("n")?, row.try_get("oldest")?);
        tx.commit().await?;
        Ok(counted)
    }

    pub async fn signup_attempts_prune(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM signup_attempts WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ---- sessions (opaque records for the web layer's session store) ----------------

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

    // ---- audit log -------------------------------------------------------------------

    pub async fn audit_insert(&self, entry: &NewAudit<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_email, project_id, action, object, outcome, client_addr, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(now_ms())
        .bind(entry.actor_id)
        .bind(entry.actor_email)
        .bind(entry.project_id)
        .bind(entry.action)
        .bind(entry.object)
        .bind(entry.outcome.as_str())
        .bind(entry.client_addr)
        .bind(entry.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor_id, actor_email, project_id, action, object, outcome, client_addr, detail
             FROM audit_log
             WHERE ($1 IS NULL OR actor_email = $1)
               AND ($2 IS NULL OR project_id = $2)
               AND ($3 IS NULL OR action = $3)
               AND ($4 IS NULL OR outcome = $4)
               AND ($5 IS NULL OR at >= $5)
               AND ($6 IS NULL OR at <= $6)
             ORDER BY id DESC LIMIT $7",
        )
        .bind(filter.actor_email.as_deref())
        .bind(filter.project_id.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.outcome.as_deref())
        .bind(filter.since_ms)
        .bind(filter.until_ms)
        .bind(filter.limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor_id: r.try_get("actor_id")?,
                    actor_email: r.try_get("actor_email")?,
                    project_id: r.try_get("project_id")?,
                    action: r.try_get("action")?,
                    object: r.try_get("object")?,
                    outcome: r.try_get("outcome")?,
                    client_addr: r.try_get("client_addr")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    // ---- settings --------------------------------------------------------------------

    pub async fn setting_get(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    pub async fn setting_set(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

const USER_COLUMNS: &str = "SELECT id, email, password_hash, is_admin, disabled, must_change_password, session_epoch, created_at FROM users";

fn user_from_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        is_admin: r.try_get::<i64, _>("is_admin")? != 0,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        session_epoch: r.try_get("session_epoch")?,
        created_at: r.try_get("created_at")?,
    })
}

fn project_from_row(r: &AnyRow) -> Result<Project> {
    Ok(Project {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        personal_of: r.try_get("personal_of")?,
        created_at: r.try_get("created_at")?,
    })
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

/// "alice@example.com" -> "alice (personal)".
fn personal_project_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    format!("{local} (personal)")
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    async fn sqlite() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("shipyard-readers-{}", crate::new_id()));
        let store = Store::connect(&format!("sqlite://{}/s.db", dir.display()))
            .await
            .unwrap();
        (store, dir)
    }

    fn idle(store: &Store) -> usize {
        store.readers.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn readers_are_kept_when_done_and_closed_when_dropped() {
        let (store, dir) = sqlite().await;
        let mut r = store.reader().await.unwrap();
        sqlx::query("SELECT 1").execute(r.conn()).await.unwrap();
        r.done();
        assert_eq!(idle(&store), 1);
        // The kept one serves the next read; a second at the same time gets its own.
        let a = store.reader().await.unwrap();
        let b = store.reader().await.unwrap();
        assert_eq!(idle(&store), 0);
        a.done();
        // A reader dropped without `done` (its read went away) is not kept.
        drop(b);
        assert_eq!(idle(&store), 1);
        // No more than READERS at once: the next waits for one to come back.
        let mut held = Vec::new();
        for _ in 0..READERS {
            held.push(store.reader().await.unwrap());
        }
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), store.reader());
        assert!(waiting.await.is_err(), "a reader beyond {READERS}");
        drop(held);
        store.close().await;
        assert!(store.reader().await.is_err(), "readers after close");
        let _ = std::fs::remove_dir_all(dir);
    }

    // What the store keeps of sessions and users (SQLite) is never older than the last
    // write through it.
    #[tokio::test]
    async fn kept_sessions_and_users_follow_every_write() {
        let (store, dir) = sqlite().await;
        let (user, personal) = store
            .user_create_with_project("kim@example.com", "hash", false, false)
            .await
            .unwrap();
        let read = |store: Store, id: String| async move {
            store.user_with_projects(&id).await.unwrap().unwrap()
        };
        let (u, projects) = read(store.clone(), user.id.clone()).await;
        assert!(!u.disabled);
        assert_eq!(projects.len(), 1);
        assert_eq!(store.hot.users.map().len(), 1, "kept after the first read");

        store.user_set_disabled(&user.id, true).await.unwrap();
        assert!(read(store.clone(), user.id.clone()).await.0.disabled);
        store.user_set_admin(&user.id, true).await.unwrap();
        assert!(read(store.clone(), user.id.clone()).await.0.is_admin);
        store
            .user_set_password(&user.id, "other", true)
            .await
            .unwrap();
        assert_eq!(
            read(store.clone(), user.id.clone()).await.0.password_hash,
            "other"
        );
        let team = store.project_create("team", &user.id, None).await.unwrap();
        assert_eq!(read(store.clone(), user.id.clone()).await.1.len(), 2);
        store
            .project_update_description(&team.id, "ours")
            .await
            .unwrap();
        let (_, projects) = read(store.clone(), user.id.clone()).await;
        assert!(projects.iter().any(|p| p.project.description == "ours"));
        // A project keeps an owner: another one joins before kim leaves or steps down.
        let (lee, _) = store
            .user_create_with_project("lee@example.com", "hash", false, false)
            .await
            .unwrap();
        store
            .member_upsert(&team.id, &lee.id, Role::Owner)
            .await
            .unwrap();
        store
            .member_upsert(&personal.id, &lee.id, Role::Owner)
            .await
            .unwrap();
        store.member_remove(&team.id, &user.id).await.unwrap();
        assert_eq!(read(store.clone(), user.id.clone()).await.1.len(), 1);
        store
            .member_upsert(&personal.id, &user.id, Role::Viewer)
            .await
            .unwrap();
        assert_eq!(
            read(store.clone(), user.id.clone()).await.1[0].role,
            Role::Viewer
        );

        let now = now_ms();
        assert!(store
            .session_insert("s1", "one", now + 60_000)
            .await
            .unwrap());
        assert_eq!(
            store.session_load("s1", now).await.unwrap().as_deref(),
            Some("one")
        );
        store.session_save("s1", "two", now + 60_000).await.unwrap();
        assert_eq!(
            store.session_load("s1", now).await.unwrap().as_deref(),
            Some("two")
        );
        // Expiry is checked on every load, kept or not.
        assert_eq!(store.session_load("s1", now + 60_000).await.unwrap(), None);
        store.session_delete("s1").await.unwrap();
        assert_eq!(store.session_load("s1", now).await.unwrap(), None);
        store.session_save("s2", "x", now + 10).await.unwrap();
        assert!(store.session_load("s2", now).await.unwrap().is_some());
        store.session_delete_expired(now + 10).await.unwrap();
        assert_eq!(store.session_load("s2", now).await.unwrap(), None);

        // A read that started before a write ended does not keep what it read.
        let kept = &store.hot.users;
        let value = store
            .user_with_projects_read(&user.id)
            .await
            .unwrap()
            .unwrap();
        kept.map().clear();
        let seen = kept.generation();
        drop(kept.forget());
        kept.keep(seen, user.id.clone(), value.clone());
        assert!(kept.map().is_empty(), "a stale read was kept");
        kept.keep(kept.generation(), user.id.clone(), value);
        assert_eq!(kept.map().len(), 1);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod file_tests {
    use std::os::unix::fs::PermissionsExt;

    /// A new SQLite database and the directories made for it are its owner's alone.
    #[tokio::test]
    async fn a_new_sqlite_database_is_private() {
        let root = std::env::temp_dir().join(format!("shipyard-private-{}", crate::new_id()));
        let db = root.join("data/shipyard.db");
        let store = super::Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&root.join("data")), 0o700);
        assert_eq!(mode(&root), 0o700);
        let wal = root.join("data/shipyard.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
        store.close().await;
        let _ = std::fs::remove_dir_all(root);
    }
}
