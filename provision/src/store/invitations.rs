//! The SQL of membership invitations ([`crate::invitations`]): the
//! `project_invitations` rows, made, renewed, listed, accepted and deleted. Who may
//! invite and what accepting grants stay in `invitations`.

use sqlx::Row;

use crate::domain::Role;
use crate::invitations::Invitation;
use crate::{Error, Result, Store};

const COLUMNS: &str = "i.project_id, p.name AS project_name, i.email, i.role, i.invited_by, \
                       i.created_at, i.expires_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        project_id: r.try_get("project_id")?,
        project_name: r.try_get("project_name")?,
        email: r.try_get("email")?,
        role: r.try_get::<String, _>("role")?.parse()?,
        invited_by: r.try_get("invited_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    /// Invites `email` to a project, or renews its invitation with `role`.
    pub async fn invitation_upsert(
        &self,
        project_id: &str,
        email: &str,
        role: Role,
        invited_by: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO project_invitations (project_id, email, role, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, email) DO UPDATE SET role = excluded.role,
               invited_by = excluded.invited_by, created_at = excluded.created_at,
               expires_at = excluded.expires_at",
        )
        .bind(project_id)
        .bind(email)
        .bind(role.as_str())
        .bind(invited_by)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A project's invitations not expired at `now`, by email.
    pub async fn invitations_of_project(
        &self,
        project_id: &str,
        now: i64,
    ) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM project_invitations i JOIN projects p ON p.id = i.project_id
             WHERE i.project_id = $1 AND i.expires_at > $2 ORDER BY i.email"
        ))
        .bind(project_id)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The invitations of `email` not expired at `now`, newest first.
    pub async fn invitations_for_email(&self, email: &str, now: i64) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM project_invitations i JOIN projects p ON p.id = i.project_id
             WHERE i.email = $1 AND i.expires_at > $2 ORDER BY i.created_at DESC"
        ))
        .bind(email)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The invitation of `email` to `project_id`, unless expired at `now`.
    pub async fn invitation_for(
        &self,
        project_id: &str,
        email: &str,
        now: i64,
    ) -> Result<Option<Invitation>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM project_invitations i JOIN projects p ON p.id = i.project_id
             WHERE i.project_id = $1 AND i.email = $2 AND i.expires_at > $3"
        ))
        .bind(project_id)
        .bind(email)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Deletes an invitation; answers whether there was one.
    pub async fn invitation_delete(&self, project_id: &str, email: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM project_invitations WHERE project_id = $1 AND email = $2")
                .bind(project_id)
                .bind(email)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Turns an invitation into a membership in one transaction: the user joins with
    /// `role`, or keeps the role they have if already a member; the invitation goes.
    /// Answers the role they now have.
    pub async fn invitation_accept(
        &self,
        project_id: &str,
        email: &str,
        user_id: &str,
        role: Role,
    ) -> Result<Role> {
        let _forget = self.users_changing();
        let mut tx = self.pool().begin().await?;
        let gone =
            sqlx::query("DELETE FROM project_invitations WHERE project_id = $1 AND email = $2")
                .bind(project_id)
                .bind(email)
                .execute(&mut *tx)
                .await?;
        if gone.rows_affected() == 0 {
            return Err(Error::NotFound("No such invitation.".into()));
        }
        let had: Option<String> =
            sqlx::query("SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("role"))
                .transpose()?;
        let role = match had {
            Some(had) => had.parse()?,
            None => {
                sqlx::query(
                    "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(project_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(crate::now_ms())
                .execute(&mut *tx)
                .await?;
                role
            }
        };
        tx.commit().await?;
        drop(_forget);
        self.access_changed(vec![project_id.to_string()]).await;
        Ok(role)
    }
}
