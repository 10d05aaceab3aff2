//! The SQL of a cluster's workloads ([`crate::clusters::workloads`]): services and
//! persistent volumes as the `cluster_services` and `cluster_volumes` tables hold
//! them, inserted in one transaction with their quota claim. Validation, node ports
//! and the operations that make them real stay in `workloads`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::quotas::claim_then;
use crate::clusters::workloads::{PersistentVolume, Service};
use crate::quotas::Claim;
use crate::{now_ms, Error, Result, Store};

fn service_row(r: &AnyRow) -> Result<Service> {
    let ports: String = r.try_get("ports")?;
    Ok(Service {
        id: r.try_get("id")?,
        cluster_id: r.try_get("cluster_id")?,
        name: r.try_get("name")?,
        ports: serde_json::from_str(&ports).map_err(Error::internal)?,
        status: r.try_get("status")?,
        status_reason: r.try_get("status_reason")?,
        vip: r.try_get("vip")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

fn volume_row(r: &AnyRow) -> Result<PersistentVolume> {
    Ok(PersistentVolume {
        id: r.try_get("id")?,
        cluster_id: r.try_get("cluster_id")?,
        name: r.try_get("name")?,
        size_gib: r.try_get("size_gib")?,
        volume_type: r.try_get("volume_type")?,
        status: r.try_get("status")?,
        status_reason: r.try_get("status_reason")?,
        volume_id: r.try_get("volume_id")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

const SERVICE_COLUMNS: &str =
    "id, cluster_id, name, ports, status, status_reason, vip, created_by, created_at";
const VOLUME_COLUMNS: &str = "id, cluster_id, name, size_gib, volume_type, status, status_reason, volume_id, created_by, created_at";

fn unique_violation(e: sqlx::Error, what: &str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::invalid(
            "name",
            format!("This cluster already has a {what} of that name."),
        ),
        _ => Error::from(e),
    }
}

impl Store {
    /// Records a new service (CREATING) in one transaction with claiming `claim` from
    /// the project's quota: parallel requests see each other's claims. A service of
    /// the same name in the cluster is refused. The row of a Service that was a
    /// LoadBalancer before (same uid, marked deleted) comes back.
    pub(crate) async fn service_insert_within_quota(
        &self,
        project_id: &str,
        service: &Service,
        claim: &Claim<'_>,
    ) -> Result<()> {
        let ports = serde_json::to_string(&service.ports).map_err(Error::internal)?;
        let insert = sqlx::query(
            "INSERT INTO cluster_services (id, cluster_id, name, ports, status, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'CREATING', $5, $6, $6) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, ports = excluded.ports, status = 'CREATING', \
             status_reason = NULL, vip = NULL, deleted_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(&service.id)
        .bind(&service.cluster_id)
        .bind(&service.name)
        .bind(&ports)
        .bind(&service.created_by)
        .bind(service.created_at);
        claim_then(self, project_id, claim, insert)
            .await?
            .map_err(|e| unique_violation(e, "service"))
    }

    /// Records a new persistent volume (CREATING) in one transaction with claiming
    /// `claim` from the project's quota; a volume of the same name in the cluster is
    /// refused.
    pub(crate) async fn volume_insert_within_quota(
        &self,
        project_id: &str,
        volume: &PersistentVolume,
        claim: &Claim<'_>,
    ) -> Result<()> {
        let insert = sqlx::query(
            "INSERT INTO cluster_volumes (id, cluster_id, name, size_gib, volume_type, status, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'CREATING', $6, $7, $7) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, size_gib = excluded.size_gib, status = 'CREATING', \
             status_reason = NULL, volume_id = NULL, deleted_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(&volume.id)
        .bind(&volume.cluster_id)
        .bind(&volume.name)
        .bind(volume.size_gib)
        .bind(&volume.volume_type)
        .bind(&volume.created_by)
        .bind(volume.created_at);
        claim_then(self, project_id, claim, insert)
            .await?
            .map_err(|e| unique_violation(e, "volume"))
    }

    /// The cluster's live services, oldest first.
    pub async fn services_of(&self, cluster_id: &str) -> Result<Vec<Service>> {
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM cluster_services WHERE cluster_id = $1 AND deleted_at IS NULL ORDER BY created_at, name"
        ))
        .bind(cluster_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(service_row).collect()
    }

    /// The cluster's live persistent volumes, oldest first.
    pub async fn volumes_of(&self, cluster_id: &str) -> Result<Vec<PersistentVolume>> {
        let rows = sqlx::query(&format!(
            "SELECT {VOLUME_COLUMNS} FROM cluster_volumes WHERE cluster_id = $1 AND deleted_at IS NULL ORDER BY created_at, name"
        ))
        .bind(cluster_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(volume_row).collect()
    }

    pub(crate) async fn workload_set(
        &self,
        table: &str,
        id: &str,
        status: &str,
        reason: Option<&str>,
        extra: Option<(&str, &str)>,
    ) -> Result<()> {
        let now = now_ms();
        let q = match extra {
            Some((column, _)) => format!(
                "UPDATE {table} SET status = $1, status_reason = $2, updated_at = $3, {column} = $5 WHERE id = $4"
            ),
            None => format!(
                "UPDATE {table} SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4"
            ),
        };
        let mut q = sqlx::query(&q).bind(status).bind(reason).bind(now).bind(id);
        if let Some((_, v)) = extra {
            q = q.bind(v);
        }
        q.execute(self.pool()).await?;
        Ok(())
    }

    /// A volume's size after it grew.
    pub(crate) async fn volume_set_size(&self, id: &str, size_gib: i64) -> Result<()> {
        sqlx::query(
            "UPDATE cluster_volumes SET size_gib = $1, status = 'ACTIVE', status_reason = NULL, updated_at = $2 WHERE id = $3",
        )
        .bind(size_gib)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A service's ports after its load balancer changed.
    pub(crate) async fn service_set_ports(
        &self,
        id: &str,
        ports: &[crate::clusters::workloads::ServicePort],
    ) -> Result<()> {
        let ports = serde_json::to_string(ports).map_err(Error::internal)?;
        sqlx::query("UPDATE cluster_services SET ports = $1, updated_at = $2 WHERE id = $3")
            .bind(ports)
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn workload_mark_deleted(&self, table: &str, id: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(&format!(
            "UPDATE {table} SET status = 'DELETED', deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL"
        ))
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks every service and volume of a cluster deleted (its delete swept them).
    pub async fn workloads_mark_deleted(&self, cluster_id: &str) -> Result<()> {
        let now = now_ms();
        for table in ["cluster_services", "cluster_volumes"] {
            sqlx::query(&format!(
                "UPDATE {table} SET status = 'DELETED', deleted_at = $1, updated_at = $1 WHERE cluster_id = $2 AND deleted_at IS NULL"
            ))
            .bind(now)
            .bind(cluster_id)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }
}
