//! What the cloud must do for a cluster, worked out from its objects alone (no I/O, so
//! it is tested as a function): the cloud controller's part for Services of type
//! LoadBalancer, and the volume provisioner's for claims of a Cinder-backed class.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::clusters::workloads::claim_volume::{self, ClaimRef, PROVISIONER};
use crate::clusters::workloads::service_lb::{
    self, fingerprint, LbMember, LbPort, ServiceRef, APPLIED_ANNOTATION, CLEANUP_FINALIZER,
    LB_ID_ANNOTATION,
};

/// A cluster's objects, as the caches hold them.
#[derive(Default)]
pub struct Snapshot {
    pub services: Vec<Service>,
    pub nodes: Vec<Node>,
    pub claims: Vec<PersistentVolumeClaim>,
    pub volumes: Vec<PersistentVolume>,
    pub classes: Vec<StorageClass>,
    pub pods: Vec<Pod>,
}

/// One thing to do. Only `AddFinalizer` is a write to the cluster alone; the others
/// change the cloud and run as operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    AddFinalizer(ServiceRef),
    EnsureLb(service_lb::EnsureParams),
    RemoveLb(service_lb::RemoveParams),
    Provision(claim_volume::EnsureParams),
    Expand(claim_volume::ExpandParams),
    Reclaim(claim_volume::RemoveParams),
}

/// The Ready nodes a load balancer sends to (those labelled out excluded), by name.
pub fn members(nodes: &[Node]) -> Vec<LbMember> {
    let mut out: Vec<LbMember> = nodes
        .iter()
        .filter(|n| {
            !n.metadata.labels.as_ref().is_some_and(|l| {
                l.contains_key("node.kubernetes.io/exclude-from-external-load-balancers")
            })
        })
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|n| {
            let address = n
                .status
                .as_ref()?
                .addresses
                .as_ref()?
                .iter()
                .find(|a| a.type_ == "InternalIP")?
                .address
                .clone();
            Some(LbMember {
                name: n.metadata.name.clone()?,
                address,
            })
        })
        .collect();
    out.sort();
    out
}

fn service_ref(s: &Service) -> Option<ServiceRef> {
    Some(ServiceRef {
        namespace: s.metadata.namespace.clone()?,
        name: s.metadata.name.clone()?,
        uid: s.metadata.uid.clone()?,
    })
}

fn annotation<'a>(
    m: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    m.annotations.as_ref()?.get(key).map(String::as_str)
}

/// What the Services ask of the cloud.
pub fn services(cluster_id: &str, snap: &Snapshot) -> Vec<Action> {
    let members = members(&snap.nodes);
    let mut out = Vec::new();
    for s in &snap.services {
        let Some(r) = service_ref(s) else { continue };
        let spec = s.spec.clone().unwrap_or_default();
        let is_lb = spec.type_.as_deref() == Some("LoadBalancer");
        let ours = s
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == CLEANUP_FINALIZER));
        if s.metadata.deletion_timestamp.is_some() {
            if ours {
                out.push(Action::RemoveLb(service_lb::RemoveParams {
                    cluster_id: cluster_id.into(),
                    service: r,
                    deleting: true,
                }));
            }
            continue;
        }
        if !is_lb {
            if ours || annotation(&s.metadata, LB_ID_ANNOTATION).is_some() {
                out.push(Action::RemoveLb(service_lb::RemoveParams {
                    cluster_id: cluster_id.into(),
                    service: r,
                    deleting: false,
                }));
            }
            continue;
        }
        if !ours {
            out.push(Action::AddFinalizer(r.clone()));
        }
        let mut ports: Vec<LbPort> = spec
            .ports
            .unwrap_or_default()
            .iter()
            .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
            .filter_map(|p| {
                Some(LbPort {
                    port: u16::try_from(p.port).ok()?,
                    node_port: u16::try_from(p.node_port?).ok()?,
                })
            })
            .collect();
        ports.sort();
        if ports.is_empty() {
            continue;
        }
        let applied = fingerprint(&ports, &members);
        let published = s
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        if annotation(&s.metadata, APPLIED_ANNOTATION) != Some(applied.as_str()) || !published {
            out.push(Action::EnsureLb(service_lb::EnsureParams {
                cluster_id: cluster_id.into(),
                service: r,
                ports,
                members: members.clone(),
                applied,
            }));
        }
    }
    out
}

/// Bytes in a Kubernetes quantity (`10Gi`, `500M`, `1.5Ti`); `None` if it does not read.
pub fn quantity_bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        _ => return None,
    };
    Some(n * scale)
}

/// Whole GiB, rounded up (a volume is never smaller than asked), at least 1.
pub fn gib(q: &str) -> Option<u64> {
    let bytes = quantity_bytes(q)?;
    Some(((bytes / 1024f64.powi(3)).ceil() as u64).max(1))
}

fn storage(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> Option<u64> {
    gib(&map?.get("storage")?.0)
}

/// What the claims and provisioned volumes ask of the cloud.
pub fn volumes(cluster_id: &str, snap: &Snapshot) -> Vec<Action> {
    let classes: BTreeMap<&str, &StorageClass> = snap
        .classes
        .iter()
        .filter(|c| c.provisioner == PROVISIONER)
        .filter_map(|c| Some((c.metadata.name.as_deref()?, c)))
        .collect();
    let pv_named = |name: &str| {
        snap.volumes
            .iter()
            .find(|v| v.metadata.name.as_deref() == Some(name))
    };
    let mut out = Vec::new();
    for c in &snap.claims {
        let (Some(namespace), Some(name), Some(uid)) = (
            c.metadata.namespace.clone(),
            c.metadata.name.clone(),
            c.metadata.uid.clone(),
        ) else {
            continue;
        };
        if c.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = c.spec.clone().unwrap_or_default();
        let Some(class) = spec
            .storage_class_name
            .as_deref()
            .and_then(|n| classes.get(n))
        else {
            continue;
        };
        let claim = ClaimRef {
            namespace,
            name,
            uid,
        };
        let wanted = spec
            .resources
            .as_ref()
            .and_then(|r| storage(r.requests.as_ref()))
            .unwrap_or(1);
        let pv = pv_named(&claim.volume_name());
        match (spec.volume_name.as_deref(), pv) {
            (None, None) => out.push(Action::Provision(claim_volume::EnsureParams {
                cluster_id: cluster_id.into(),
                size_gib: wanted,
                volume_type: class
                    .parameters
                    .as_ref()
                    .and_then(|p| p.get("type").cloned()),
                storage_class: class.metadata.name.clone().unwrap_or_default(),
                access_modes: spec
                    .access_modes
                    .clone()
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
                reclaim_policy: class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
                claim,
            })),
            (Some(bound), Some(pv)) if bound == claim.volume_name() => {
                let has = pv
                    .spec
                    .as_ref()
                    .and_then(|s| storage(s.capacity.as_ref()))
                    .unwrap_or(0);
                if wanted > has && class.allow_volume_expansion == Some(true) {
                    out.push(Action::Expand(claim_volume::ExpandParams {
                        cluster_id: cluster_id.into(),
                        claim,
                        size_gib: wanted,
                    }));
                }
            }
            _ => {}
        }
    }
    for v in &snap.volumes {
        if annotation(&v.metadata, "pv.kubernetes.io/provisioned-by") != Some(PROVISIONER) {
            continue;
        }
        let spec = v.spec.clone().unwrap_or_default();
        if spec
            .persistent_volume_reclaim_policy
            .as_deref()
            .unwrap_or("Delete")
            != "Delete"
        {
            continue;
        }
        let Some(claim) = spec.claim_ref else {
            continue;
        };
        let claim_uid = claim.uid.clone().unwrap_or_default();
        // Reclaimed once the claim is gone (not while it is only terminating).
        let claimed = snap
            .claims
            .iter()
            .any(|c| c.metadata.uid.as_deref() == Some(claim_uid.as_str()));
        if !claimed {
            out.push(Action::Reclaim(claim_volume::RemoveParams {
                cluster_id: cluster_id.into(),
                pv: v.metadata.name.clone().unwrap_or_default(),
                claim_uid,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests;
