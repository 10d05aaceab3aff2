//! The audit log's rows: appended, and read back filtered.

use sqlx::Row;

use super::Store;
use crate::domain::{AuditEntry, AuditFilter, NewAudit};
use crate::{now_ms, Result};

impl Store {
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
}
