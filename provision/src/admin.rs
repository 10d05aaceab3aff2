//! What the admin dashboard reads: clusters by status across every project, the last
//! day's operations, the cloud's own capacity figures, and every project's clusters.
//! Admins only.

use sqlx::Row;

use crate::accounts::require_admin;
use crate::cloud::{Cloud, HostUsage};
use crate::clusters::Cluster;
use crate::domain::Actor;
use crate::{now_ms, Result, Store};

/// The cloud as it reports itself.
#[derive(Clone, Debug, Default)]
pub struct Capacity {
    pub hosts: Vec<HostUsage>,
    pub load_balancers: usize,
    pub volumes: usize,
    pub volume_gib: u64,
    /// Why the figures are missing, when the cloud would not give them.
    pub error: Option<String>,
}

/// The dashboard's overview.
#[derive(Clone, Debug, Default)]
pub struct Overview {
    /// `(status, clusters)`, every live cluster of every project.
    pub clusters_by_status: Vec<(String, i64)>,
    /// `(state, operations)` finished in the last 24 hours.
    pub operations_24h: Vec<(String, i64)>,
}

pub async fn overview(store: &Store, actor: &Actor) -> Result<Overview> {
    require_admin(actor)?;
    let by_status = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM clusters WHERE deleted_at IS NULL GROUP BY status ORDER BY status",
    )
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
    .collect::<Result<Vec<_>>>()?;
    let ops = sqlx::query(
        "SELECT state, COUNT(*) AS n FROM operations WHERE finished_at >= $1 GROUP BY state ORDER BY state",
    )
    .bind(now_ms() - 86_400_000)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
    .collect::<Result<Vec<_>>>()?;
    Ok(Overview {
        clusters_by_status: by_status,
        operations_24h: ops,
    })
}

pub async fn capacity(cloud: &dyn Cloud, actor: &Actor) -> Result<Capacity> {
    require_admin(actor)?;
    let read = async {
        let hosts = cloud.host_usage().await?;
        let lbs = cloud.load_balancer_list(&[]).await?;
        let volumes = cloud.volume_list(&Default::default()).await?;
        Ok::<_, crate::cloud::CloudError>((hosts, lbs, volumes))
    };
    Ok(match read.await {
        Ok((hosts, lbs, volumes)) => Capacity {
            hosts,
            load_balancers: lbs.len(),
            volume_gib: volumes.iter().map(|v| v.size_gib).sum(),
            volumes: volumes.len(),
            error: None,
        },
        Err(e) => Capacity {
            error: Some(format!("The cloud did not report its capacity: {e}")),
            ..Default::default()
        },
    })
}

/// Every project's live clusters, newest first, with the project's name.
pub async fn clusters(store: &Store, actor: &Actor, limit: i64) -> Result<Vec<(Cluster, String)>> {
    require_admin(actor)?;
    let rows = sqlx::query(
        "SELECT c.id, p.name AS project FROM clusters c JOIN projects p ON p.id = c.project_id \
         WHERE c.deleted_at IS NULL ORDER BY c.created_at DESC, c.id LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        out.push((store.cluster_by_id(&id).await?, r.try_get("project")?));
    }
    Ok(out)
}
