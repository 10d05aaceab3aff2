//! The projects' and memberships' rows: projects, who belongs to them, with which role,
//! and the rule that a project always keeps an owner.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::users::user_from_row;
use super::{expect_one, Backend, Store, UserWithProjects};
use crate::domain::{Member, Project, ProjectWithRole, Role};
use crate::{now_ms, Error, Result};

impl Store {
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

    pub(super) async fn user_with_projects_read(
        &self,
        user_id: &str,
    ) -> Result<Option<UserWithProjects>> {
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
