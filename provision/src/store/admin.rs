//! The SQL of the admin dashboard ([`crate::admin`]): reads across every project —
//! clusters by status, operations by state, every project's clusters and quotas, and
//! the choices of the audit log's filter. Who may read them stays in `admin`.

use sqlx::Row;

use super::quotas::{quota_from_row, QUOTA_COLUMNS};
use crate::quotas::Quota;
use crate::{Result, Store};

/// A project as the quota table lists it: `(id, name, personal_of email, quota)`.
pub type ProjectQuotaRow = (String, String, Option<String>, Quota);

impl Store {
    /// `(status, clusters)` over every live cluster of every project.
    pub(crate) async fn cluster_count_by_status(&self) -> Result<Vec<(String, i64)>> {
        sqlx::query(
            "SELECT status, COUNT(*) AS n FROM clusters WHERE deleted_at IS NULL GROUP BY status ORDER BY status",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
    }

    /// `(state, operations)` over the operations finished since `since`.
    pub(crate) async fn op_count_by_state_since(&self, since: i64) -> Result<Vec<(String, i64)>> {
        sqlx::query(
            "SELECT state, COUNT(*) AS n FROM operations WHERE finished_at >= $1 GROUP BY state ORDER BY state",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect()
    }

    /// `(cluster id, project name)` of every project's live clusters, newest first, at
    /// most `limit`.
    pub(crate) async fn cluster_list_all(&self, limit: i64) -> Result<Vec<(String, String)>> {
        sqlx::query(
            "SELECT c.id, p.name AS project FROM clusters c JOIN projects p ON p.id = c.project_id \
             WHERE c.deleted_at IS NULL ORDER BY c.created_at DESC, c.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("project")?)))
        .collect()
    }

    /// Every project (oldest first, at most `limit`) with its owner's email if it is
    /// personal, and its quota.
    pub(crate) async fn project_list_with_quota(&self, limit: i64) -> Result<Vec<ProjectQuotaRow>> {
        sqlx::query(&format!(
            "SELECT p.id, p.name, u.email, {QUOTA_COLUMNS} FROM projects p \
             LEFT JOIN users u ON u.id = p.personal_of \
             LEFT JOIN project_quotas q ON q.project_id = p.id \
             ORDER BY p.created_at, p.id LIMIT $1",
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("name")?,
                r.try_get("email")?,
                quota_from_row(r)?,
            ))
        })
        .collect()
    }

    /// `(id, name)` of every project, oldest first, at most `limit`.
    pub(crate) async fn project_names(&self, limit: i64) -> Result<Vec<(String, String)>> {
        sqlx::query("SELECT id, name FROM projects ORDER BY created_at, id LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    /// Every action the audit log holds, sorted.
    pub(crate) async fn audit_actions(&self) -> Result<Vec<String>> {
        sqlx::query("SELECT DISTINCT action FROM audit_log ORDER BY action")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok(r.try_get("action")?))
            .collect()
    }
}
