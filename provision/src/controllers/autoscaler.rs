//! The node group autoscaler's side effects: it reads the groups and flavors, asks
//! [`autoscale::decide`] what to do, and does it as the autoscaler (requested by
//! [`CONTROLLER`]): a scale-up is the normal scale operation with its plan; a
//! scale-down first cordons the node and evicts its pods through the cluster's API
//! (their ReplicaSets make new ones, the scheduler puts them elsewhere), then shrinks
//! the group removing exactly that node. A node it drains carries cluster-autoscaler's
//! `ToBeDeletedByClusterAutoscaler` taint; one still carrying it that no scale-down of
//! its is removing (Shipyard stopped between the drain and the operation) is released
//! again. It remembers, per cluster, the nodes it found unneeded, its last scale-up, its
//! last failure and the operation it started.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::autoscale::{self, Decision, Group, Memory, Settings};
use super::decide::Snapshot;
use super::{Controllers, CONTROLLER};
use crate::cloud::Flavor;
use crate::clusters::{autoscaling, NodeGroupChange};
use crate::domain::{Actor, Credential};
use crate::kube::KubeClient;
use crate::ops::OpState;
use crate::Result;

/// How long the cloud's flavors are kept before they are read again.
const FLAVORS_FOR_MS: i64 = 5 * 60 * 1000;
/// The taint on a node the autoscaler is removing (cluster-autoscaler's own).
pub const TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";

/// The autoscaler of every cluster: its settings and what it remembers.
#[derive(Clone, Default)]
pub struct Autoscaler {
    pub settings: Settings,
    clusters: Arc<Mutex<HashMap<String, Remembered>>>,
}

#[derive(Clone, Default)]
struct Remembered {
    memory: Memory,
    /// The operation last started, and what it was for.
    started: Option<(String, Decision)>,
    flavors: Option<(i64, Vec<Flavor>)>,
}

impl Autoscaler {
    pub fn new(settings: Settings) -> Self {
        Autoscaler {
            settings,
            ..Default::default()
        }
    }

    /// One pass over a cluster; `true` when it should run again soon (a change runs or a
    /// timer does). Errors are logged and backed off, never passed on: the cloud
    /// controller's work goes on regardless.
    pub async fn pass(
        &self,
        c: &Controllers,
        kube: &KubeClient,
        cluster_id: &str,
        snap: &Snapshot,
    ) -> bool {
        let mut r = self
            .clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(cluster_id)
            .cloned()
            .unwrap_or_default();
        let again = match self.run(c, kube, cluster_id, snap, &mut r).await {
            Ok(again) => again,
            Err(e) => {
                tracing::warn!(cluster = %cluster_id, error = %e, "autoscaler pass failed");
                r.memory.last_failure = Some(crate::now_ms());
                true
            }
        };
        let mut all = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        match again || r.started.is_some() || r.memory != Memory::default() {
            true => all.insert(cluster_id.to_string(), r),
            false => all.remove(cluster_id),
        };
        again
    }

    async fn run(
        &self,
        c: &Controllers,
        kube: &KubeClient,
        cluster_id: &str,
        snap: &Snapshot,
        r: &mut Remembered,
    ) -> Result<bool> {
        if r.started.is_none() {
            release_stale(c, kube, cluster_id, snap, r).await?;
        }
        let groups = c.store.node_groups_of(cluster_id).await?;
        if !groups.iter().any(|g| g.autoscale) {
            *r = Remembered::default();
            return Ok(false);
        }
        let now = crate::now_ms();
        if let Some((op_id, decision)) = r.started.clone() {
            let op = c.store.op_get(&op_id).await?;
            if op.state.unfinished() {
                return Ok(true);
            }
            r.started = None;
            if op.state != OpState::Succeeded {
                r.memory.last_failure = Some(now);
                if let Decision::Down { nodes, .. } = decision {
                    for node in &nodes {
                        r.memory.removing.remove(node);
                        let _ = cordon(kube, node, false).await;
                    }
                }
            }
        }
        if c.store.op_active_for(cluster_id).await?.is_some() {
            return Ok(true);
        }
        let cluster = c.store.cluster_by_id(cluster_id).await?;
        if !cluster.status.accepts_changes() {
            return Ok(true);
        }
        let flavors = match &r.flavors {
            Some((at, f)) if now - at < FLAVORS_FOR_MS => f.clone(),
            _ => {
                let f = crate::clusters::flavors::of_cloud(c.cloud.as_ref()).await?;
                r.flavors = Some((now, f.clone()));
                f
            }
        };
        let groups: Vec<Group> = groups
            .iter()
            .filter_map(|g| {
                let f = flavors.iter().find(|f| f.name == g.flavor)?;
                let spec = g.spec();
                Some(Group {
                    name: g.name.clone(),
                    autoscale: g.autoscale,
                    node_count: g.node_count as u32,
                    min: g.min_node_count as u32,
                    max: g.max_node_count as u32,
                    cpu: f.vcpus as i64 * 1000,
                    memory: f.ram_mib as i64 * (1 << 20),
                    labels: spec.labels,
                    taints: spec.taints,
                })
            })
            .collect();
        let out = autoscale::decide(
            &groups,
            &snap.nodes,
            &snap.pods,
            &mut r.memory,
            now,
            &self.settings,
        );
        let Some(decision) = out.decision else {
            return Ok(out.waiting);
        };
        let actor = Actor {
            user_id: CONTROLLER.into(),
            email: CONTROLLER.into(),
            is_admin: true,
            client_addr: "controller".into(),
            credential: Credential::Session,
        };
        let (group, change, why) = match &decision {
            Decision::Up { group, to, why } => {
                r.memory.last_up = Some(now);
                let change = NodeGroupChange {
                    node_count: Some(*to),
                    ..Default::default()
                };
                (group, change, format!("scale up: {why}"))
            }
            Decision::Down {
                group,
                nodes,
                to,
                why,
            } => {
                for node in nodes {
                    if let Err(e) = drain(kube, node, &snap.pods).await {
                        for n in nodes {
                            r.memory.removing.remove(n);
                            let _ = cordon(kube, n, false).await;
                        }
                        return Err(e);
                    }
                    r.memory.removing.insert(node.clone());
                }
                let change = NodeGroupChange {
                    node_count: Some(*to),
                    remove_nodes: nodes.clone(),
                    ..Default::default()
                };
                (
                    group,
                    change,
                    format!("scale down {}: {why}", nodes.join(", ")),
                )
            }
        };
        tracing::info!(cluster = %cluster_id, group = %group, "autoscaler: {why}");
        let started = autoscaling::autoscaler_scale(
            &c.store,
            &c.engine,
            c.cloud.as_ref(),
            &actor,
            cluster_id,
            group,
            change,
            &why,
        )
        .await;
        match started {
            Ok(Some(op)) => r.started = Some((op.id, decision)),
            Ok(None) => {}
            Err(e) => {
                if let Decision::Down { nodes, .. } = &decision {
                    for node in nodes {
                        r.memory.removing.remove(node);
                        let _ = cordon(kube, node, false).await;
                    }
                }
                // Another operation came first: not a failure, the next pass sees.
                if matches!(e, crate::Error::Conflict(_)) {
                    return Ok(true);
                }
                return Err(e);
            }
        }
        Ok(true)
    }
}

/// Marks a node unschedulable and to be deleted by the autoscaler (or takes both
/// marks off again), over the version read.
async fn cordon(kube: &KubeClient, node: &str, on: bool) -> Result<()> {
    let path = format!("/api/v1/nodes/{node}");
    let now: serde_json::Value = match kube.get(&path).await {
        Ok(v) => v,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut taints: Vec<serde_json::Value> = now["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    taints.retain(|t| t["key"] != TO_BE_DELETED);
    if on {
        let at = (crate::now_ms() / 1000).to_string();
        taints.push(json!({"key": TO_BE_DELETED, "value": at, "effect": "NoSchedule"}));
    }
    kube.merge_patch(
        &path,
        &json!({
            "metadata": {"resourceVersion": now["metadata"]["resourceVersion"]},
            "spec": {"unschedulable": if on { json!(true) } else { json!(null) }, "taints": taints},
        }),
    )
    .await?;
    Ok(())
}

/// Releases the nodes still marked for deletion that no scale-down removes: this
/// Shipyard drained them and stopped before its operation started (or forgot it).
async fn release_stale(
    c: &Controllers,
    kube: &KubeClient,
    cluster_id: &str,
    snap: &Snapshot,
    r: &Remembered,
) -> Result<()> {
    let marked: Vec<&str> = snap
        .nodes
        .iter()
        .filter(|n| {
            n.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.iter().any(|t| t.key == TO_BE_DELETED))
        })
        .filter_map(|n| n.metadata.name.as_deref())
        .filter(|n| !r.memory.removing.contains(*n))
        .collect();
    if marked.is_empty() {
        return Ok(());
    }
    let removing: Vec<String> = match c.store.op_active_for(cluster_id).await? {
        Some(op) if op.requested_by == CONTROLLER => op.spec["remove"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect(),
        // Another operation: judged again once it ends.
        Some(_) => return Ok(()),
        None => Vec::new(),
    };
    for node in marked {
        if !removing.iter().any(|n| n == node) {
            tracing::info!(cluster = %cluster_id, node, "autoscaler: releasing a node no scale-down removes");
            cordon(kube, node, false).await?;
        }
    }
    Ok(())
}

/// Cordons `node` and evicts its pods (DaemonSets' stay, as `kubectl drain
/// --ignore-daemonsets` leaves them). An API without the eviction subresource has the
/// pod deleted instead; an eviction refused (a disruption budget) stops the drain.
async fn drain(kube: &KubeClient, node: &str, pods: &[Pod]) -> Result<()> {
    cordon(kube, node, true).await?;
    for p in pods {
        let on_node = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node);
        let daemon = p
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o.kind == "DaemonSet"));
        if !on_node || daemon || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (Some(ns), Some(name)) = (p.metadata.namespace.as_deref(), p.metadata.name.as_deref())
        else {
            continue;
        };
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
        let eviction = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": ns},
        });
        match kube.create(&format!("{path}/eviction"), &eviction).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => kube.delete(&path).await?,
            Err(crate::kube::KubeError::Status(code, _)) if code == 405 || code == 400 => {
                kube.delete(&path).await?
            }
            Err(e) => {
                let _ = cordon(kube, node, false).await;
                return Err(e.into());
            }
        }
    }
    Ok(())
}
