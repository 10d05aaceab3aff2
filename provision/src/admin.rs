//! What the admin dashboard reads: clusters by status across every project, the last
//! day's operations, the cloud's own capacity figures, and every project's clusters.
//! Admins only.

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
    let by_status = store.cluster_count_by_status().await?;
    let ops = store.op_count_by_state_since(now_ms() - 86_400_000).await?;
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
    let rows = store.cluster_list_all(limit.clamp(1, 1000)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, project) in rows {
        out.push((store.cluster_by_id(&id).await?, project));
    }
    Ok(out)
}

/// One project's limits beside what it uses.
#[derive(Clone, Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectQuota {
    pub project_id: String,
    pub name: String,
    /// The email of the user whose personal project it is, if it is one.
    pub personal_of: Option<String>,
    pub quota: crate::quotas::Quota,
    pub usage: crate::quotas::Usage,
}

/// Every project (oldest first, at most `limit`) with its quota and usage.
pub async fn project_quotas(
    store: &Store,
    actor: &Actor,
    flavors: &[crate::cloud::Flavor],
    limit: i64,
) -> Result<Vec<ProjectQuota>> {
    require_admin(actor)?;
    let rows = store.project_list_with_quota(limit.clamp(1, 1000)).await?;
    let etcd = crate::clusters::saga::ETCD_GIB as i64;
    let mut usage = crate::quotas::usage_by_project(store, None, flavors, etcd).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, name, personal_of, quota) in rows {
        out.push(ProjectQuota {
            quota,
            usage: usage.remove(&id).unwrap_or_default(),
            name,
            personal_of,
            project_id: id,
        });
    }
    Ok(out)
}

/// Sets a project's quota (admins only, audited). A limit below what the project
/// already uses is allowed: nothing is taken away, new requests are refused.
pub async fn set_quota(
    store: &Store,
    actor: &Actor,
    project_id: &str,
    quota: &crate::quotas::Quota,
) -> Result<()> {
    require_admin(actor)?;
    if store.project_get(project_id).await?.is_none() {
        return Err(crate::Error::NotFound(format!(
            "Project {project_id} not found."
        )));
    }
    crate::quotas::set(store, project_id, quota).await?;
    crate::accounts::audit(
        store,
        actor,
        Some(project_id),
        "quota.set",
        project_id,
        crate::domain::Outcome::Success,
        &format!(
            "clusters={} vcpus={} ram_mib={} volume_gib={} load_balancers={}",
            quota.clusters, quota.vcpus, quota.ram_mib, quota.volume_gib, quota.load_balancers
        ),
    )
    .await
}

/// `(id, name)` of every project (oldest first, at most `limit`), and every action the
/// audit log holds: the choices of the audit log's filter.
pub async fn audit_choices(
    store: &Store,
    actor: &Actor,
    limit: i64,
) -> Result<(Vec<(String, String)>, Vec<String>)> {
    require_admin(actor)?;
    let projects = store.project_names(limit.clamp(1, 5000)).await?;
    let actions = store.audit_actions().await?;
    Ok((projects, actions))
}
