//! What a cluster's cloud controller manager and CSI driver would do, done from the
//! console: expose a service on a cloud load balancer (one listener per port, the
//! cluster's workers as members on the node port, a TCP health monitor), and make a
//! persistent volume on block storage. Both carry the cluster's mark, so they are
//! listed with the cluster, counted in its quota, and swept by its delete.

pub mod claim_volume;
mod members;
mod sagas;
pub mod service_lb;

pub use members::SyncServiceMembers;
pub use sagas::kinds;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::check_dns_label;
use super::saga_shared::cluster_metadata;
use crate::authz::Action;
use crate::cloud::*;
use crate::domain::Actor;
use crate::ops::{Engine, NewOperation, OperationRow};
use crate::{now_ms, Error, Result, Store};

pub const SERVICE_CREATE: &str = "service.create";
pub const SERVICE_DELETE: &str = "service.delete";
pub const VOLUME_CREATE: &str = "volume.create";
pub const VOLUME_DELETE: &str = "volume.delete";

/// Kubernetes' default NodePort range.
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;
const MAX_PORTS: usize = 10;
/// Largest persistent volume, GiB.
pub const MAX_VOLUME_GIB: u64 = 16 * 1024;

/// One port of a service: the load balancer's `port` forwards to every worker's
/// `node_port` (picked from 30000–32767 when omitted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    pub port: u16,
    #[serde(default)]
    pub node_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    pub ports: Vec<ServicePort>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VolumeRequest {
    pub name: String,
    pub size_gib: u64,
    #[serde(default)]
    pub volume_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    pub ports: Vec<ServicePort>,
    /// CREATING, ACTIVE, DELETING, FAILED.
    pub status: String,
    pub status_reason: Option<String>,
    pub vip: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersistentVolume {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    pub size_gib: i64,
    pub volume_type: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub volume_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

impl ServiceSpec {
    fn validate(&self) -> Result<()> {
        check_dns_label("name", "A service name", &self.name, 40)?;
        if self.ports.is_empty() || self.ports.len() > MAX_PORTS {
            return Err(Error::invalid(
                "ports",
                format!("A service exposes 1 to {MAX_PORTS} ports."),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut node_seen = std::collections::BTreeSet::new();
        for p in &self.ports {
            if p.port == 0 {
                return Err(Error::invalid("ports", "Port 0 is not a port."));
            }
            if !seen.insert(p.port) {
                return Err(Error::invalid(
                    "ports",
                    format!("Port {} is listed twice.", p.port),
                ));
            }
            if let Some(np) = p.node_port {
                if !NODE_PORTS.contains(&np) {
                    return Err(Error::invalid(
                        "ports",
                        format!("Node port {np} is outside 30000–32767."),
                    ));
                }
                if !node_seen.insert(np) {
                    return Err(Error::invalid(
                        "ports",
                        format!("Node port {np} is listed twice."),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl VolumeRequest {
    fn validate(&self) -> Result<()> {
        check_dns_label("name", "A volume name", &self.name, 40)?;
        if self.size_gib == 0 || self.size_gib > MAX_VOLUME_GIB {
            return Err(Error::invalid(
                "size_gib",
                format!("A volume is 1 to {MAX_VOLUME_GIB} GiB."),
            ));
        }
        if let Some(t) = &self.volume_type {
            let ok = !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(Error::invalid(
                    "volume_type",
                    "A volume type is up to 64 letters, digits, '-', '_' or '.'.",
                ));
            }
        }
        Ok(())
    }
}

/// A live, ACTIVE cluster the actor may change.
async fn mutable_cluster(store: &Store, actor: &Actor, cluster_id: &str) -> Result<super::Cluster> {
    let (cluster, _) = super::cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    if !cluster.status.accepts_changes() {
        return Err(Error::Conflict(format!(
            "The cluster is {}; change it once it is ACTIVE.",
            cluster.status
        )));
    }
    Ok(cluster)
}

/// The cloud's flavors: they turn the project's recorded clusters into quota usage.
async fn flavors(cloud: &dyn Cloud) -> Result<Vec<Flavor>> {
    super::flavors::of_cloud(cloud).await
}

/// What a new service or volume asks of the project's quota: `more`. The row is
/// inserted in one transaction with the claim: parallel requests see each other's.
pub(crate) fn claim(flavors: &[Flavor], more: crate::quotas::Usage) -> crate::quotas::Claim<'_> {
    crate::quotas::Claim {
        flavors,
        etcd_gib: super::saga_shared::ETCD_GIB as i64,
        more,
    }
}

/// Submits the operation that makes the row `id` of `table` real; when it is refused
/// (another operation runs on the cluster) the row goes again: it was never started.
async fn submit_or_forget(
    store: &Store,
    engine: &Engine,
    table: &str,
    id: &str,
    new: NewOperation,
) -> Result<OperationRow> {
    match engine.submit(new).await {
        Ok(op) => Ok(op),
        Err(e) => {
            store.workload_forget(table, id).await?;
            Err(e)
        }
    }
}

/// Exposes a service: records it (CREATING) and starts the operation that makes its
/// load balancer. Node ports left out are picked from the free ones of the cluster.
pub async fn service_create(
    store: &Store,
    engine: &Engine,
    cloud: &dyn Cloud,
    actor: &Actor,
    cluster_id: &str,
    mut spec: ServiceSpec,
) -> Result<(Service, OperationRow)> {
    spec.validate()?;
    let cluster = mutable_cluster(store, actor, cluster_id).await?;
    let existing = store.services_of(cluster_id).await?;
    let mut taken: std::collections::BTreeSet<u16> = existing
        .iter()
        .flat_map(|s| s.ports.iter().filter_map(|p| p.node_port))
        .collect();
    for p in &spec.ports {
        if let Some(np) = p.node_port {
            if !taken.insert(np) {
                return Err(Error::invalid(
                    "ports",
                    format!("Node port {np} is already used by another service of this cluster."),
                ));
            }
        }
    }
    for p in spec.ports.iter_mut().filter(|p| p.node_port.is_none()) {
        let free = NODE_PORTS
            .clone()
            .find(|n| !taken.contains(n))
            .ok_or_else(|| Error::Conflict("No node port is free in this cluster.".into()))?;
        taken.insert(free);
        p.node_port = Some(free);
    }
    // The members: every worker of the cluster, on the node port.
    let workers: Vec<Value> = cloud
        .server_list(&cluster_metadata(cluster_id))
        .await
        .map_err(|e| Error::internal(format!("listing workers: {e}")))?
        .into_iter()
        .filter(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some("worker"))
        .filter_map(|s| {
            let address = s.addresses.first()?.clone();
            Some(json!({ "name": s.name, "address": address }))
        })
        .collect();
    let id = crate::new_id();
    let row = Service {
        id: id.clone(),
        cluster_id: cluster_id.to_string(),
        name: spec.name.clone(),
        ports: spec.ports.clone(),
        status: "CREATING".into(),
        status_reason: None,
        vip: None,
        created_by: actor.user_id.clone(),
        created_at: now_ms(),
    };
    let one_balancer = crate::quotas::Usage {
        load_balancers: 1,
        ..Default::default()
    };
    let flavors = flavors(cloud).await?;
    store
        .service_insert_within_quota(&cluster.project_id, &row, &claim(&flavors, one_balancer))
        .await?;
    let op = submit_or_forget(
        store,
        engine,
        "cluster_services",
        &id,
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: SERVICE_CREATE.into(),
            target_id: cluster_id.to_string(),
            requested_by: actor.user_id.clone(),
            spec: json!({ "cluster_id": cluster_id, "service_id": id, "spec": spec, "workers": workers }),
        },
    )
    .await?;
    let service = store
        .services_of(cluster_id)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| Error::internal("service vanished"))?;
    Ok((service, op))
}

/// Starts the delete operation of a service or volume row (`(table, kind, id key)`)
/// and marks the row DELETING.
async fn submit_delete(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    cluster: &super::Cluster,
    (table, kind, id_key): (&str, &str, &str),
    id: &str,
    name: &str,
) -> Result<OperationRow> {
    let op = engine
        .submit(NewOperation {
            project_id: cluster.project_id.clone(),
            kind: kind.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: json!({ "cluster_id": cluster.id, id_key: id, "name": name }),
        })
        .await?;
    store
        .workload_set(table, id, "DELETING", None, None)
        .await?;
    Ok(op)
}

/// Starts removing a service's load balancer.
pub async fn service_delete(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    cluster_id: &str,
    name_or_id: &str,
) -> Result<OperationRow> {
    let (cluster, _) = super::cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    let service = store
        .services_of(cluster_id)
        .await?
        .into_iter()
        .find(|s| s.name == name_or_id || s.id == name_or_id)
        .ok_or_else(|| Error::NotFound(format!("Service {name_or_id} not found.")))?;
    submit_delete(
        store,
        engine,
        actor,
        &cluster,
        ("cluster_services", SERVICE_DELETE, "service_id"),
        &service.id,
        &service.name,
    )
    .await
}

/// Creates a persistent volume: records it (CREATING) and starts the operation.
pub async fn volume_create(
    store: &Store,
    engine: &Engine,
    cloud: &dyn Cloud,
    actor: &Actor,
    cluster_id: &str,
    req: VolumeRequest,
) -> Result<(PersistentVolume, OperationRow)> {
    req.validate()?;
    let cluster = mutable_cluster(store, actor, cluster_id).await?;
    let id = crate::new_id();
    let row = PersistentVolume {
        id: id.clone(),
        cluster_id: cluster_id.to_string(),
        name: req.name.clone(),
        size_gib: req.size_gib as i64,
        volume_type: req.volume_type.clone(),
        status: "CREATING".into(),
        status_reason: None,
        volume_id: None,
        created_by: actor.user_id.clone(),
        created_at: now_ms(),
    };
    let size = crate::quotas::Usage {
        volume_gib: req.size_gib as i64,
        ..Default::default()
    };
    let flavors = flavors(cloud).await?;
    store
        .volume_insert_within_quota(&cluster.project_id, &row, &claim(&flavors, size))
        .await?;
    let op = submit_or_forget(
        store,
        engine,
        "cluster_volumes",
        &id,
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: VOLUME_CREATE.into(),
            target_id: cluster_id.to_string(),
            requested_by: actor.user_id.clone(),
            spec: json!({ "cluster_id": cluster_id, "volume_id": id, "spec": req }),
        },
    )
    .await?;
    let volume = store
        .volumes_of(cluster_id)
        .await?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| Error::internal("volume vanished"))?;
    Ok((volume, op))
}

/// Starts removing a persistent volume (detached first if attached).
pub async fn volume_delete(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    cluster_id: &str,
    name_or_id: &str,
) -> Result<OperationRow> {
    let (cluster, _) = super::cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    let volume = store
        .volumes_of(cluster_id)
        .await?
        .into_iter()
        .find(|v| v.name == name_or_id || v.id == name_or_id)
        .ok_or_else(|| Error::NotFound(format!("Volume {name_or_id} not found.")))?;
    submit_delete(
        store,
        engine,
        actor,
        &cluster,
        ("cluster_volumes", VOLUME_DELETE, "volume_id"),
        &volume.id,
        &volume.name,
    )
    .await
}
