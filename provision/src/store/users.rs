//! The users' rows: creating, finding, listing and changing accounts.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{count, expect_one, Store};
use crate::domain::{Project, User};
use crate::{now_ms, Error, Result};

impl Store {
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
}

pub(super) const USER_COLUMNS: &str = "SELECT id, email, password_hash, is_admin, disabled, must_change_password, session_epoch, created_at FROM users";

pub(super) fn user_from_row(r: &AnyRow) -> Result<User> {
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

/// "alice@example.com" -> "alice (personal)".
fn personal_project_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    format!("{local} (personal)")
}
