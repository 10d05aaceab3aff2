//! A cluster's services exposed on cloud load balancers and its persistent volumes on
//! block storage, one path for every client: the console's forms and the REST API
//! create the Kubernetes objects (a Service of type LoadBalancer, a
//! PersistentVolumeClaim) through the cluster's API, exactly as `kubectl` does, and
//! Shipyard's controllers (`crate::controllers`) make the cloud's side as operations
//! ([`service_lb`], [`claim_volume`]). The lists join the cluster's objects with the
//! ledger the controllers keep of what they made (`cluster_services`,
//! `cluster_volumes`: counted in the project's quota, swept with the cluster).

pub mod claim_volume;
mod listed;
pub mod service_lb;

pub use listed::{listed, Listed};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::check_dns_label;
use crate::authz::Action;
use crate::cloud::*;
use crate::domain::Actor;
use crate::kube::{KubeClient, KubeError};
use crate::pki::SecretKey;
use crate::{Error, Result, Store};

/// Where the console and the API put what they create.
pub const NAMESPACE: &str = "default";

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
    /// The StorageClass (the cluster's default, Cinder-backed, when left out).
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
    /// PENDING (asked in the cluster, no operation yet), CREATING, ACTIVE, DELETING,
    /// FAILED.
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
    /// Its StorageClass.
    pub volume_type: Option<String>,
    /// PENDING, CREATING, ACTIVE, DELETING, FAILED.
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

/// What a new service or volume asks of the project's quota: `more`. The controller's
/// ledger row is inserted in one transaction with the claim.
pub(crate) fn claim(flavors: &[Flavor], more: crate::quotas::Usage) -> crate::quotas::Claim<'_> {
    crate::quotas::Claim {
        flavors,
        etcd_gib: super::saga_shared::ETCD_GIB as i64,
        more,
    }
}

/// Refuses, before anything is asked of the cluster, what the project's quota has no
/// room for (the controller claims it for real when it starts the operation).
async fn quota_room(
    store: &Store,
    cloud: &dyn Cloud,
    project_id: &str,
    more: crate::quotas::Usage,
) -> Result<()> {
    let flavors = super::flavors::of_cloud(cloud).await?;
    let quota = crate::quotas::get(store, project_id).await?;
    let used = crate::quotas::usage(
        store,
        project_id,
        &flavors,
        super::saga_shared::ETCD_GIB as i64,
    )
    .await?;
    crate::quotas::check(&quota, &used, &more)
}

/// A client of the cluster's API for a step: not reaching it is worth another try.
pub(crate) async fn kube_for(
    store: &Store,
    settings: &super::saga::Settings,
    cluster_id: &str,
) -> std::result::Result<KubeClient, crate::ops::StepError> {
    KubeClient::for_cluster(store, &settings.secret_key, cluster_id)
        .await
        .map_err(|e| crate::ops::StepError::retryable(e.to_string()))
}

/// The name a list shows: bare in the default namespace, `namespace/name` elsewhere.
pub fn display_name(namespace: &str, name: &str) -> String {
    if namespace == NAMESPACE {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

/// `namespace/name` or a bare name (the default namespace).
fn split_name(name: &str) -> (&str, &str) {
    name.split_once('/').unwrap_or((NAMESPACE, name))
}

/// What the cluster answered, in the caller's words.
fn refused(e: KubeError, what: &str, field: &'static str) -> Error {
    match e {
        KubeError::Status(409, _) => Error::invalid(
            "name",
            format!("This cluster already has a {what} of that name."),
        ),
        KubeError::Status(404, _) => Error::NotFound(format!("That {what} is not in the cluster.")),
        KubeError::Status(422, m) | KubeError::Status(400, m) => Error::invalid(field, m),
        other => Error::from(other),
    }
}

/// Exposes a service: a Service of type LoadBalancer in the cluster (selecting pods
/// labelled `app=<name>`), which the cloud controller gives a load balancer. Node
/// ports left out are picked by the cluster.
pub async fn service_create(
    store: &Store,
    key: &SecretKey,
    cloud: &dyn Cloud,
    actor: &Actor,
    cluster_id: &str,
    spec: ServiceSpec,
) -> Result<Service> {
    spec.validate()?;
    let cluster = mutable_cluster(store, actor, cluster_id).await?;
    let one = crate::quotas::Usage {
        load_balancers: 1,
        ..Default::default()
    };
    quota_room(store, cloud, &cluster.project_id, one).await?;
    let ports: Vec<serde_json::Value> = spec
        .ports
        .iter()
        .map(|p| {
            let mut port = json!({"name": format!("port-{}", p.port), "port": p.port,
                "targetPort": p.port, "protocol": "TCP"});
            if let Some(np) = p.node_port {
                port["nodePort"] = json!(np);
            }
            port
        })
        .collect();
    let object = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": spec.name,
            "namespace": NAMESPACE,
            "annotations": {"shipyard.io/requested-by": actor.email},
        },
        "spec": {"type": "LoadBalancer", "selector": {"app": spec.name}, "ports": ports},
    });
    let kube = KubeClient::for_cluster(store, key, cluster_id).await?;
    let made = kube
        .create(&format!("/api/v1/namespaces/{NAMESPACE}/services"), &object)
        .await
        .map_err(|e| refused(e, "service", "ports"))?;
    let service: k8s_openapi::api::core::v1::Service =
        serde_json::from_value(made).map_err(Error::internal)?;
    Ok(listed::service(cluster_id, &service, None))
}

/// Deletes a Service; the cloud controller removes its load balancer first.
pub async fn service_delete(
    store: &Store,
    key: &SecretKey,
    actor: &Actor,
    cluster_id: &str,
    name: &str,
) -> Result<()> {
    super::cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    let (namespace, name) = split_name(name);
    let kube = KubeClient::for_cluster(store, key, cluster_id).await?;
    let path = format!("/api/v1/namespaces/{namespace}/services/{name}");
    kube.get::<serde_json::Value>(&path)
        .await
        .map_err(|e| refused(e, "service", "name"))?;
    kube.delete(&path).await?;
    Ok(())
}

/// Creates a persistent volume: a PersistentVolumeClaim of `volume_type` (a
/// StorageClass; the cluster's default when left out), which the volume provisioner
/// gives a Cinder volume.
pub async fn volume_create(
    store: &Store,
    key: &SecretKey,
    cloud: &dyn Cloud,
    actor: &Actor,
    cluster_id: &str,
    req: VolumeRequest,
) -> Result<PersistentVolume> {
    req.validate()?;
    let cluster = mutable_cluster(store, actor, cluster_id).await?;
    let size = crate::quotas::Usage {
        volume_gib: req.size_gib as i64,
        ..Default::default()
    };
    quota_room(store, cloud, &cluster.project_id, size).await?;
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": req.name,
            "namespace": NAMESPACE,
            "annotations": {"shipyard.io/requested-by": actor.email},
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": format!("{}Gi", req.size_gib)}},
        },
    });
    if let Some(class) = &req.volume_type {
        object["spec"]["storageClassName"] = json!(class);
    }
    let kube = KubeClient::for_cluster(store, key, cluster_id).await?;
    let made = kube
        .create(
            &format!("/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims"),
            &object,
        )
        .await
        .map_err(|e| refused(e, "volume", "size_gib"))?;
    let claim: k8s_openapi::api::core::v1::PersistentVolumeClaim =
        serde_json::from_value(made).map_err(Error::internal)?;
    Ok(listed::volume(cluster_id, &claim, None))
}

/// Deletes a PersistentVolumeClaim; the provisioner reclaims its volume once it goes.
pub async fn volume_delete(
    store: &Store,
    key: &SecretKey,
    actor: &Actor,
    cluster_id: &str,
    name: &str,
) -> Result<()> {
    super::cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    let (namespace, name) = split_name(name);
    let kube = KubeClient::for_cluster(store, key, cluster_id).await?;
    let path = format!("/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}");
    kube.get::<serde_json::Value>(&path)
        .await
        .map_err(|e| refused(e, "volume", "name"))?;
    kube.delete(&path).await?;
    Ok(())
}
