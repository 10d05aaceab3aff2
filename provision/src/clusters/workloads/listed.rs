//! The lists of a cluster's services and volumes: what the cluster's API has (Services
//! of type LoadBalancer, PersistentVolumeClaims), each with what the controllers made
//! of it in the cloud (the ledger row: status, VIP, volume id), and ledger rows whose
//! object is gone while their cloud side is being removed. When the API does not
//! answer, the ledger alone, with the reason.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{display_name, PersistentVolume, Service, ServicePort};
use crate::kube::KubeClient;
use crate::pki::SecretKey;
use crate::{Result, Store};

/// A cluster's services and volumes.
#[derive(Clone, Debug, Default)]
pub struct Listed {
    pub services: Vec<Service>,
    pub volumes: Vec<PersistentVolume>,
    /// Why the cluster's own view is missing (its API did not answer).
    pub api_error: Option<String>,
}

impl Listed {
    /// Whether something is still being made or removed.
    pub fn settling(&self) -> bool {
        let moving = |s: &str| matches!(s, "PENDING" | "CREATING" | "DELETING");
        self.services.iter().any(|s| moving(&s.status))
            || self.volumes.iter().any(|v| moving(&v.status))
    }
}

fn created_at(m: &ObjectMeta) -> Option<i64> {
    let text = serde_json::to_value(m.creation_timestamp.as_ref()?).ok()?;
    let t = time::OffsetDateTime::parse(
        text.as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn requested_by(m: &ObjectMeta) -> String {
    m.annotations
        .as_ref()
        .and_then(|a| a.get("shipyard.io/requested-by").cloned())
        .unwrap_or_else(|| "kubectl".into())
}

fn status(m: &ObjectMeta, row_status: Option<&str>) -> String {
    if m.deletion_timestamp.is_some() {
        "DELETING".into()
    } else {
        row_status.unwrap_or("PENDING").into()
    }
}

/// A Service as the lists show it, with its ledger row when the controller made one.
pub(super) fn service(cluster_id: &str, s: &core::Service, row: Option<&Service>) -> Service {
    let m = &s.metadata;
    let ports = s
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_ref())
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| {
                    Some(ServicePort {
                        port: u16::try_from(p.port).ok()?,
                        node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let vip = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .and_then(|i| i.first())
        .and_then(|i| i.ip.clone())
        .or_else(|| row.and_then(|r| r.vip.clone()));
    Service {
        id: m.uid.clone().unwrap_or_default(),
        cluster_id: cluster_id.to_string(),
        name: display_name(
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
        ),
        ports,
        status: status(m, row.map(|r| r.status.as_str())),
        status_reason: row.and_then(|r| r.status_reason.clone()),
        vip,
        created_by: requested_by(m),
        created_at: created_at(m)
            .or(row.map(|r| r.created_at))
            .unwrap_or_default(),
    }
}

/// A claim as the lists show it, with its ledger row when the provisioner made one.
pub(super) fn volume(
    cluster_id: &str,
    c: &core::PersistentVolumeClaim,
    row: Option<&PersistentVolume>,
) -> PersistentVolume {
    let m = &c.metadata;
    let spec = c.spec.clone().unwrap_or_default();
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| crate::controllers::decide::gib(&q.0))
        .map(|g| g as i64)
        .or(row.map(|r| r.size_gib))
        .unwrap_or_default();
    PersistentVolume {
        id: m.uid.clone().unwrap_or_default(),
        cluster_id: cluster_id.to_string(),
        name: display_name(
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
        ),
        size_gib: size,
        volume_type: spec.storage_class_name.clone(),
        status: status(m, row.map(|r| r.status.as_str())),
        status_reason: row.and_then(|r| r.status_reason.clone()),
        volume_id: row.and_then(|r| r.volume_id.clone()),
        created_by: requested_by(m),
        created_at: created_at(m)
            .or(row.map(|r| r.created_at))
            .unwrap_or_default(),
    }
}

/// The cluster's services and volumes: the cluster's objects joined with the ledger.
pub async fn listed(store: &Store, key: &SecretKey, cluster_id: &str) -> Result<Listed> {
    let rows = store.services_of(cluster_id).await?;
    let volume_rows = store.volumes_of(cluster_id).await?;
    let from_cluster = async {
        let kube = KubeClient::for_cluster(store, key, cluster_id)
            .await
            .map_err(|e| e.to_string())?;
        let (services, _) = kube
            .list::<core::Service>("/api/v1/services")
            .await
            .map_err(|e| e.to_string())?;
        let (claims, _) = kube
            .list::<core::PersistentVolumeClaim>("/api/v1/persistentvolumeclaims")
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((services, claims))
    };
    let (services, claims) = match from_cluster.await {
        Ok(both) => both,
        Err(e) => {
            return Ok(Listed {
                services: rows,
                volumes: volume_rows,
                api_error: Some(e),
            })
        }
    };
    let mut out = Listed::default();
    for s in &services {
        let is_lb = s.spec.as_ref().and_then(|x| x.type_.as_deref()) == Some("LoadBalancer");
        let uid = s.metadata.uid.as_deref().unwrap_or_default();
        let row = rows.iter().find(|r| r.id == uid);
        if is_lb || row.is_some() {
            out.services.push(service(cluster_id, s, row));
        }
    }
    for r in &rows {
        if !out.services.iter().any(|s| s.id == r.id) {
            out.services.push(r.clone());
        }
    }
    for c in &claims {
        let uid = c.metadata.uid.as_deref().unwrap_or_default();
        let row = volume_rows.iter().find(|r| r.id == uid);
        out.volumes.push(volume(cluster_id, c, row));
    }
    for r in &volume_rows {
        if !out.volumes.iter().any(|v| v.id == r.id) {
            out.volumes.push(r.clone());
        }
    }
    out.services
        .sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    out.volumes
        .sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    Ok(out)
}
