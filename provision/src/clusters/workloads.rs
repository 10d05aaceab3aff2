//! What a cluster's cloud controller manager and CSI driver would do, done from the
//! console: expose a service on a cloud load balancer (one listener per port, the
//! cluster's workers as members on the node port, a TCP health monitor), and make a
//! persistent volume on block storage. Both carry the cluster's mark, so they are
//! listed with the cluster, counted in its quota, and swept by its delete.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::check_dns_label;
use super::saga::{cluster_metadata, cluster_tag, prefix, Settings};
use crate::authz::Action;
use crate::cloud::*;
use crate::domain::Actor;
use crate::ops::{
    Engine, NewOperation, OperationRow, SagaKind, Step, StepContext, StepDef, StepError,
};
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

    async fn workload_set(
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

    async fn workload_mark_deleted(&self, table: &str, id: &str) -> Result<()> {
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
    if cluster.status != "ACTIVE" {
        return Err(Error::Conflict(format!(
            "The cluster is {}; change it once it is ACTIVE.",
            cluster.status
        )));
    }
    Ok(cluster)
}

/// Inserts a service or volume row (`insert`) in one transaction with claiming `more`
/// from the project's quota: parallel requests see each other's claims.
async fn insert_within_quota<'q>(
    store: &Store,
    cloud: &dyn Cloud,
    project_id: &str,
    more: crate::quotas::Usage,
    insert: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    what: &str,
) -> Result<()> {
    let flavors = cloud
        .flavor_list()
        .await
        .map_err(|e| Error::internal(format!("listing flavors: {e}")))?;
    let claim = crate::quotas::Claim {
        flavors: &flavors,
        etcd_gib: super::saga::ETCD_GIB as i64,
        more,
    };
    crate::quotas::claim_then(store, project_id, &claim, insert)
        .await?
        .map_err(|e| unique_violation(e, what))
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
            sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
                .bind(id)
                .execute(store.pool())
                .await?;
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
    let now = now_ms();
    let ports = serde_json::to_string(&spec.ports).map_err(Error::internal)?;
    let insert = sqlx::query(
        "INSERT INTO cluster_services (id, cluster_id, name, ports, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'CREATING', $5, $6, $6)",
    )
    .bind(&id)
    .bind(cluster_id)
    .bind(&spec.name)
    .bind(&ports)
    .bind(&actor.user_id)
    .bind(now);
    let one_balancer = crate::quotas::Usage {
        load_balancers: 1,
        ..Default::default()
    };
    insert_within_quota(
        store,
        cloud,
        &cluster.project_id,
        one_balancer,
        insert,
        "service",
    )
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
    let now = now_ms();
    let insert = sqlx::query(
        "INSERT INTO cluster_volumes (id, cluster_id, name, size_gib, volume_type, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'CREATING', $6, $7, $7)",
    )
    .bind(&id)
    .bind(cluster_id)
    .bind(&req.name)
    .bind(req.size_gib as i64)
    .bind(&req.volume_type)
    .bind(&actor.user_id)
    .bind(now);
    let size = crate::quotas::Usage {
        volume_gib: req.size_gib as i64,
        ..Default::default()
    };
    insert_within_quota(store, cloud, &cluster.project_id, size, insert, "volume").await?;
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

// ---- sagas --------------------------------------------------------------------------

/// The four workload operation kinds by name.
pub fn kinds(
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
) -> Vec<(&'static str, Arc<dyn SagaKind>)> {
    let kind = |what: Kind| -> Arc<dyn SagaKind> {
        Arc::new(WorkloadSaga {
            what,
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        })
    };
    vec![
        (SERVICE_CREATE, kind(Kind::ServiceCreate)),
        (SERVICE_DELETE, kind(Kind::ServiceDelete)),
        (VOLUME_CREATE, kind(Kind::VolumeCreate)),
        (VOLUME_DELETE, kind(Kind::VolumeDelete)),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ServiceCreate,
    ServiceDelete,
    VolumeCreate,
    VolumeDelete,
}

struct WorkloadSaga {
    what: Kind,
    store: Store,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

fn service_lb_name(cluster_id: &str, service: &str) -> String {
    format!("{}-svc-{service}", prefix(cluster_id))
}

fn volume_name(cluster_id: &str, volume: &str) -> String {
    format!("{}-pv-{volume}", prefix(cluster_id))
}

fn service_tags(cluster_id: &str, service: &str) -> Vec<String> {
    vec![
        "shipyard".into(),
        cluster_tag(cluster_id),
        "shipyard-role=service".into(),
        format!("shipyard-service={service}"),
    ]
}

fn text(spec: &Value, key: &str) -> Result<String> {
    spec[key]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Error::internal(format!("workload operation without {key}")))
}

/// One step of a workload operation.
enum Res {
    Lb,
    Listener {
        port: u16,
    },
    Pool {
        port: u16,
    },
    Monitor {
        port: u16,
    },
    Member {
        port: u16,
        node_port: u16,
        name: String,
        address: String,
    },
    ServiceGone,
    Volume,
    VolumeGone,
}

struct WorkloadStep {
    res: Res,
    cluster_id: String,
    /// The service's or volume's name.
    name: String,
    volume: Option<VolumeRequest>,
    cloud: Arc<dyn Cloud>,
    settings: Arc<Settings>,
}

fn out<'a>(cx: &'a StepContext, key: &str) -> std::result::Result<&'a str, StepError> {
    cx.output(key)?["id"]
        .as_str()
        .ok_or_else(|| StepError::permanent(format!("step {key} recorded no id")))
}

impl WorkloadStep {
    fn cloud(&self) -> &dyn Cloud {
        self.cloud.as_ref()
    }

    async fn find_lb(&self) -> std::result::Result<Option<LoadBalancer>, StepError> {
        let name = service_lb_name(&self.cluster_id, &self.name);
        Ok(self
            .cloud()
            .load_balancer_list(&service_tags(&self.cluster_id, &self.name))
            .await?
            .into_iter()
            .find(|l| l.name == name))
    }

    async fn find_volume(&self) -> std::result::Result<Option<Volume>, StepError> {
        let name = volume_name(&self.cluster_id, &self.name);
        Ok(self
            .cloud()
            .volume_list(&cluster_metadata(&self.cluster_id))
            .await?
            .into_iter()
            .find(|v| v.name == name))
    }

    async fn ready(&self, cx: &StepContext) -> std::result::Result<(), StepError> {
        let lb = out(cx, "lb")?;
        self.cloud()
            .wait_load_balancer_active(lb, &self.settings.wait)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for WorkloadStep {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError> {
        let tags = service_tags(&self.cluster_id, &self.name);
        let lb_name = service_lb_name(&self.cluster_id, &self.name);
        match &self.res {
            Res::Lb => {
                let network = self.cloud().network_id(&self.settings.network).await?;
                let lb = self
                    .cloud()
                    .load_balancer_create(&LoadBalancerSpec {
                        name: lb_name,
                        tags,
                        vip_network_id: Some(network),
                        vip_subnet_id: None,
                    })
                    .await?;
                let lb = self
                    .cloud()
                    .wait_load_balancer_active(&lb.id, &self.settings.wait)
                    .await?;
                Ok(json!({ "id": lb.id, "vip": lb.vip_address }))
            }
            Res::Listener { port } => {
                let l = self
                    .cloud()
                    .listener_create(&ListenerSpec {
                        name: format!("{lb_name}-{port}"),
                        load_balancer_id: out(cx, "lb")?.to_string(),
                        port: *port,
                        tags,
                    })
                    .await?;
                self.ready(cx).await?;
                Ok(json!({ "id": l.id }))
            }
            Res::Pool { port } => {
                let p = self
                    .cloud()
                    .pool_create(&PoolSpec {
                        name: format!("{lb_name}-{port}"),
                        listener_id: out(cx, &format!("listener-{port}"))?.to_string(),
                        tags,
                    })
                    .await?;
                self.ready(cx).await?;
                Ok(json!({ "id": p.id }))
            }
            Res::Monitor { port } => {
                let m = self
                    .cloud()
                    .health_monitor_create(&HealthMonitorSpec {
                        name: format!("{lb_name}-{port}"),
                        pool_id: out(cx, &format!("pool-{port}"))?.to_string(),
                        delay_secs: 5,
                        timeout_secs: 3,
                        max_retries: 3,
                    })
                    .await?;
                self.ready(cx).await?;
                Ok(json!({ "id": m.id }))
            }
            Res::Member {
                port,
                node_port,
                name,
                address,
            } => {
                let m = self
                    .cloud()
                    .member_add(
                        out(cx, &format!("pool-{port}"))?,
                        &MemberSpec {
                            name: name.clone(),
                            address: address.clone(),
                            port: *node_port,
                        },
                    )
                    .await?;
                self.ready(cx).await?;
                Ok(json!({ "id": m.id }))
            }
            Res::ServiceGone => {
                let found = self.find_lb().await?;
                if let Some(lb) = &found {
                    self.cloud().load_balancer_delete(&lb.id).await?;
                    if self.find_lb().await?.is_some() {
                        return Err(StepError::retryable(
                            "the load balancer is still being deleted",
                        ));
                    }
                }
                Ok(json!({ "removed": found.map(|l| l.name) }))
            }
            Res::Volume => {
                let req = self
                    .volume
                    .as_ref()
                    .ok_or_else(|| StepError::permanent("volume step without a volume"))?;
                let mut metadata = cluster_metadata(&self.cluster_id);
                metadata.insert("shipyard-operation".into(), cx.operation_id.clone());
                metadata.insert("shipyard-role".into(), "persistent-volume".into());
                metadata.insert("shipyard-volume".into(), req.name.clone());
                let v = self
                    .cloud()
                    .volume_create(&VolumeSpec {
                        name: volume_name(&self.cluster_id, &req.name),
                        size_gib: req.size_gib,
                        volume_type: req.volume_type.clone(),
                        metadata,
                    })
                    .await?;
                self.cloud()
                    .wait_volume_available(&v.id, &self.settings.wait)
                    .await?;
                Ok(json!({ "id": v.id, "size_gib": v.size_gib }))
            }
            Res::VolumeGone => {
                let found = self.find_volume().await?;
                if let Some(v) = &found {
                    for s in &v.attached_to {
                        self.cloud().volume_detach(s, &v.id).await?;
                    }
                    self.cloud().volume_delete(&v.id).await?;
                    if self.find_volume().await?.is_some() {
                        return Err(StepError::retryable("the volume is still being deleted"));
                    }
                }
                Ok(json!({ "removed": found.map(|v| v.name) }))
            }
        }
    }

    async fn undo(
        &self,
        _cx: &StepContext,
        output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        match &self.res {
            // Cascade: listeners, pools, monitors and members go with it (undone last).
            Res::Lb => {
                let id = match output.and_then(|o| o["id"].as_str()) {
                    Some(id) => Some(id.to_string()),
                    None => self.find_lb().await?.map(|l| l.id),
                };
                if let Some(id) = id {
                    self.cloud().load_balancer_delete(&id).await?;
                }
                Ok(())
            }
            Res::Volume => {
                let id = match output.and_then(|o| o["id"].as_str()) {
                    Some(id) => Some(id.to_string()),
                    None => self.find_volume().await?.map(|v| v.id),
                };
                if let Some(id) = id {
                    self.cloud().volume_delete(&id).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl SagaKind for WorkloadSaga {
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>> {
        let cluster_id = text(spec, "cluster_id")?;
        let step = |res: Res, name: &str, volume: Option<VolumeRequest>| -> Arc<dyn Step> {
            Arc::new(WorkloadStep {
                res,
                cluster_id: cluster_id.clone(),
                name: name.to_string(),
                volume,
                cloud: self.cloud.clone(),
                settings: self.settings.clone(),
            })
        };
        Ok(match self.what {
            Kind::ServiceCreate => {
                let svc: ServiceSpec =
                    serde_json::from_value(spec["spec"].clone()).map_err(Error::internal)?;
                let workers: Vec<(String, String)> = spec["workers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|w| {
                                Some((
                                    w["name"].as_str()?.to_string(),
                                    w["address"].as_str()?.to_string(),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let n = svc.name.as_str();
                let mut steps = vec![StepDef::new("lb", &[], step(Res::Lb, n, None))];
                // Octavia takes one change at a time per load balancer: one chain.
                let mut last = "lb".to_string();
                for p in &svc.ports {
                    let port = p.port;
                    let node_port = p
                        .node_port
                        .ok_or_else(|| Error::internal("node port not picked"))?;
                    let (l, pl, m) = (
                        format!("listener-{port}"),
                        format!("pool-{port}"),
                        format!("monitor-{port}"),
                    );
                    steps.push(StepDef::new(
                        &l,
                        &["lb", &last],
                        step(Res::Listener { port }, n, None),
                    ));
                    steps.push(StepDef::new(
                        &pl,
                        &["lb", &l],
                        step(Res::Pool { port }, n, None),
                    ));
                    steps.push(StepDef::new(
                        &m,
                        &["lb", &pl],
                        step(Res::Monitor { port }, n, None),
                    ));
                    last = m;
                    for (name, address) in &workers {
                        let key = format!("member-{port}-{name}");
                        steps.push(StepDef::new(
                            &key,
                            &["lb", &pl, &last],
                            step(
                                Res::Member {
                                    port,
                                    node_port,
                                    name: name.clone(),
                                    address: address.clone(),
                                },
                                n,
                                None,
                            ),
                        ));
                        last = key;
                    }
                }
                steps
            }
            Kind::ServiceDelete => {
                vec![StepDef::new(
                    "load-balancer",
                    &[],
                    step(Res::ServiceGone, &text(spec, "name")?, None),
                )]
            }
            Kind::VolumeCreate => {
                let req: VolumeRequest =
                    serde_json::from_value(spec["spec"].clone()).map_err(Error::internal)?;
                let name = req.name.clone();
                vec![StepDef::new(
                    "volume",
                    &[],
                    step(Res::Volume, &name, Some(req)),
                )]
            }
            Kind::VolumeDelete => {
                vec![StepDef::new(
                    "volume",
                    &[],
                    step(Res::VolumeGone, &text(spec, "name")?, None),
                )]
            }
        })
    }

    fn unwinds(&self) -> bool {
        matches!(self.what, Kind::ServiceCreate | Kind::VolumeCreate)
    }

    async fn succeeded(&self, op: &OperationRow) -> Result<()> {
        let steps = self.store.op_steps(&op.id).await?;
        let output = |key: &str| {
            steps
                .iter()
                .find(|s| s.step == key)
                .and_then(|s| s.output.clone())
        };
        match self.what {
            Kind::ServiceCreate => {
                let id = text(&op.spec, "service_id")?;
                let vip = output("lb").and_then(|o| o["vip"].as_str().map(String::from));
                self.store
                    .workload_set(
                        "cluster_services",
                        &id,
                        "ACTIVE",
                        None,
                        vip.as_deref().map(|v| ("vip", v)),
                    )
                    .await
            }
            Kind::VolumeCreate => {
                let id = text(&op.spec, "volume_id")?;
                let vid = output("volume").and_then(|o| o["id"].as_str().map(String::from));
                self.store
                    .workload_set(
                        "cluster_volumes",
                        &id,
                        "ACTIVE",
                        None,
                        vid.as_deref().map(|v| ("volume_id", v)),
                    )
                    .await
            }
            Kind::ServiceDelete => {
                self.store
                    .workload_mark_deleted("cluster_services", &text(&op.spec, "service_id")?)
                    .await
            }
            Kind::VolumeDelete => {
                self.store
                    .workload_mark_deleted("cluster_volumes", &text(&op.spec, "volume_id")?)
                    .await
            }
        }
    }

    async fn unwound(&self, op: &OperationRow) -> Result<()> {
        let reason = op.error.as_deref().unwrap_or("unknown error");
        match self.what {
            Kind::ServiceCreate => {
                self.store
                    .workload_set(
                        "cluster_services",
                        &text(&op.spec, "service_id")?,
                        "FAILED",
                        Some(reason),
                        None,
                    )
                    .await
            }
            Kind::VolumeCreate => {
                self.store
                    .workload_set(
                        "cluster_volumes",
                        &text(&op.spec, "volume_id")?,
                        "FAILED",
                        Some(reason),
                        None,
                    )
                    .await
            }
            // A failed delete stops as `failed` (retry carries on): still there.
            Kind::ServiceDelete => {
                self.store
                    .workload_set(
                        "cluster_services",
                        &text(&op.spec, "service_id")?,
                        "DELETING",
                        Some(reason),
                        None,
                    )
                    .await
            }
            Kind::VolumeDelete => {
                self.store
                    .workload_set(
                        "cluster_volumes",
                        &text(&op.spec, "volume_id")?,
                        "DELETING",
                        Some(reason),
                        None,
                    )
                    .await
            }
        }
    }
}

/// Makes every service load balancer of the cluster forward to the workers the cluster
/// has now: members added for new workers, removed for gone ones (what the cloud
/// controller manager does when nodes come and go). The last step of every node group
/// operation; undone by removing the members of the workers its operation added.
pub struct SyncServiceMembers {
    pub cluster_id: String,
    pub store: Store,
    pub cloud: Arc<dyn Cloud>,
    pub settings: Arc<Settings>,
}

impl SyncServiceMembers {
    /// (pool, its load balancer's id, node port) for every service port of the cluster.
    async fn pools(&self) -> std::result::Result<Vec<(Pool, String, u16)>, StepError> {
        let tags = vec![
            cluster_tag(&self.cluster_id),
            "shipyard-role=service".to_string(),
        ];
        let lbs = self.cloud.load_balancer_list(&tags).await?;
        let services = self.store.services_of(&self.cluster_id).await?;
        let mut out = Vec::new();
        for pool in self.cloud.pool_list(&tags).await? {
            let Some(lb) = lbs
                .iter()
                .find(|l| pool.name.starts_with(&format!("{}-", l.name)))
            else {
                continue;
            };
            let service = pool
                .tags
                .iter()
                .find_map(|t| t.strip_prefix("shipyard-service="))
                .and_then(|n| services.iter().find(|s| s.name == n));
            let port: Option<u16> = pool.name.rsplit('-').next().and_then(|p| p.parse().ok());
            let node_port = service
                .zip(port)
                .and_then(|(s, port)| s.ports.iter().find(|p| p.port == port))
                .and_then(|p| p.node_port);
            if let Some(node_port) = node_port {
                out.push((pool, lb.id.clone(), node_port));
            }
        }
        Ok(out)
    }

    async fn settle(&self, lb: &str) -> std::result::Result<(), StepError> {
        self.cloud
            .wait_load_balancer_active(lb, &self.settings.wait)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for SyncServiceMembers {
    async fn run(&self, _cx: &StepContext) -> std::result::Result<Value, StepError> {
        let workers: Vec<(String, String)> = self
            .cloud
            .server_list(&cluster_metadata(&self.cluster_id))
            .await?
            .into_iter()
            .filter(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some("worker"))
            .filter_map(|s| Some((s.name, s.addresses.first()?.clone())))
            .collect();
        let (mut added, mut removed) = (0, 0);
        for (pool, lb, node_port) in self.pools().await? {
            let members = self.cloud.member_list(&pool.id).await?;
            for (name, address) in &workers {
                if !members
                    .iter()
                    .any(|m| &m.address == address && m.port == node_port)
                {
                    self.cloud
                        .member_add(
                            &pool.id,
                            &MemberSpec {
                                name: name.clone(),
                                address: address.clone(),
                                port: node_port,
                            },
                        )
                        .await?;
                    self.settle(&lb).await?;
                    added += 1;
                }
            }
            for m in &members {
                if !workers.iter().any(|(_, a)| a == &m.address) {
                    self.cloud.member_remove(&pool.id, &m.id).await?;
                    self.settle(&lb).await?;
                    removed += 1;
                }
            }
        }
        Ok(json!({ "added": added, "removed": removed }))
    }

    async fn undo(
        &self,
        cx: &StepContext,
        _output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        // The workers this operation made are about to be undone: stop sending to them.
        let made: Vec<&str> = cx
            .outputs
            .iter()
            .filter(|(k, _)| k.starts_with("worker-"))
            .filter_map(|(_, v)| v["address"].as_str())
            .collect();
        for (pool, lb, _) in self.pools().await? {
            for m in self.cloud.member_list(&pool.id).await? {
                if made.contains(&m.address.as_str()) {
                    self.cloud.member_remove(&pool.id, &m.id).await?;
                    self.settle(&lb).await?;
                }
            }
        }
        Ok(())
    }
}
