//! Node groups as the core changes them: add, scale (with the workers to add or
//! remove worked out against the cloud), delete, and their plans.

use crate::authz::Action;
use crate::domain::Actor;
use crate::ops::{Engine, NewOperation, OperationRow};
use crate::{Error, Result, Store};
use model::ClusterStatus;

use super::lifecycle::{cluster_for, cluster_to_change, submit_marked};
use super::saga_shared as saga;
use super::{
    flavors, plan, versions, ApiEndpoint, Cluster, ClusterSpec, NodeGroup, NodeGroupChange,
    NodeGroupSpec, MAX_NODES,
};

/// The cluster's spec with one node group: what a node group operation works on.
pub(super) fn spec_with_group(cluster: &Cluster, group: NodeGroupSpec) -> ClusterSpec {
    spec_with_groups(cluster, vec![group])
}

/// The cluster as a spec, with these node groups (none: its masters alone).
pub(super) fn spec_with_groups(cluster: &Cluster, node_groups: Vec<NodeGroupSpec>) -> ClusterSpec {
    ClusterSpec {
        name: cluster.name.clone(),
        kubernetes_version: Some(cluster.kubernetes_version.clone()),
        master_count: cluster.master_count as u32,
        master_flavor: cluster.master_flavor.clone(),
        pod_cidr: cluster.pod_cidr.clone(),
        service_cidr: cluster.service_cidr.clone(),
        api_endpoint: if cluster.api_endpoint == "private" {
            ApiEndpoint::Private
        } else {
            ApiEndpoint::Public
        },
        node_groups,
    }
}

impl NodeGroup {
    /// The group as a spec (its stored count and bounds).
    pub fn spec(&self) -> NodeGroupSpec {
        NodeGroupSpec {
            name: self.name.clone(),
            flavor: self.flavor.clone(),
            node_count: self.node_count as u32,
            min_node_count: Some(self.min_node_count as u32),
            max_node_count: Some(self.max_node_count as u32),
            boot_volume_gib: self.boot_volume_gib as u64,
            labels: serde_json::from_str(&self.labels).unwrap_or_default(),
            taints: serde_json::from_str(&self.taints).unwrap_or_default(),
        }
    }
}

/// The workers of a node group in the cloud, by name.
async fn group_workers(
    cloud: &dyn crate::cloud::Cloud,
    cluster_id: &str,
    group: &str,
) -> Result<Vec<String>> {
    Ok(cloud
        .server_list(&saga::cluster_metadata(cluster_id))
        .await
        .map_err(|e| Error::internal(format!("listing workers: {e}")))?
        .into_iter()
        .filter(|s| s.metadata.get("shipyard-node-group").map(String::as_str) == Some(group))
        .map(|s| s.name)
        .collect())
}

/// Adds a node group to an ACTIVE cluster and starts making its workers. A create that
/// fails unwinds: the workers go and so does the group.
pub async fn node_group_create(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    cluster_id: &str,
    group: NodeGroupSpec,
    flavors: &[crate::cloud::Flavor],
) -> Result<(NodeGroup, OperationRow)> {
    let (cluster, _) = cluster_to_change(store, engine, actor, cluster_id).await?;
    let names = self::flavors::offered(store, flavors).await?;
    group.validate(&names)?;
    if !cluster.status.accepts_changes() {
        return Err(Error::Conflict(format!(
            "The cluster is {}; add node groups once it is ACTIVE.",
            cluster.status
        )));
    }
    let f = flavors.iter().find(|f| f.name == group.flavor);
    let n = group.node_count as i64;
    let claim = crate::quotas::Claim {
        flavors,
        etcd_gib: saga::ETCD_GIB as i64,
        more: crate::quotas::Usage {
            vcpus: f.map_or(0, |f| f.vcpus as i64) * n,
            ram_mib: f.map_or(0, |f| f.ram_mib as i64) * n,
            volume_gib: group.boot_volume_gib as i64 * n,
            ..Default::default()
        },
    };
    let ng = store
        .node_group_insert_within_quota(&cluster.project_id, cluster_id, &group, &claim)
        .await?;
    let spec = spec_with_group(&cluster, group.clone());
    let image = versions::image_of(store, &cluster.kubernetes_version).await?;
    let submitted = submit_marked(
        store,
        engine,
        &cluster,
        ClusterStatus::Updating,
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: saga::NODE_GROUP_CREATE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: saga::stored(&saga::NodeGroupParams {
                cluster_id: cluster.id.clone().into(),
                node_group_id: ng.id.clone().into(),
                spec,
                image,
                add: (0..group.node_count).collect(),
                remove: Vec::new(),
                target: group.node_count,
            })?,
        },
    )
    .await;
    match submitted {
        Ok(op) => Ok((ng, op)),
        Err(e) => {
            store.node_group_remove(&ng.id).await?;
            Err(e)
        }
    }
}

/// The plan of adding a node group (nothing is changed).
pub async fn node_group_create_plan(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    group: &NodeGroupSpec,
    flavors: &[crate::cloud::Flavor],
) -> Result<plan::Plan> {
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let names = self::flavors::offered(store, flavors).await?;
    group.validate(&names)?;
    let add: Vec<String> = (0..group.node_count)
        .map(|j| format!("{}-{}-{j}", saga::prefix(&cluster.id), group.name))
        .collect();
    plan::workers_plan(store, &cluster.project_id, cloud, flavors, group, &add, &[]).await
}

/// The plan of deleting a node group: its workers as the cloud has them now.
pub async fn node_group_delete_plan(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
) -> Result<plan::Plan> {
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let ng = store
        .node_groups_of(cluster_id)
        .await?
        .into_iter()
        .find(|n| n.name == node_group || n.id == node_group)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))?;
    let mut workers = group_workers(cloud, cluster_id, &ng.name).await?;
    workers.sort();
    let flavors = super::flavors::of_cloud(cloud).await?;
    plan::workers_plan(
        store,
        &cluster.project_id,
        cloud,
        &flavors,
        &ng.spec(),
        &[],
        &workers,
    )
    .await
}

/// Removes a node group and its workers. A cluster keeps at least one node group.
pub async fn node_group_delete(
    store: &Store,
    engine: &Engine,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
) -> Result<OperationRow> {
    let (cluster, _) = cluster_to_change(store, engine, actor, cluster_id).await?;
    let groups = store.node_groups_of(cluster_id).await?;
    let ng = groups
        .iter()
        .find(|n| n.name == node_group || n.id == node_group)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))?;
    if groups.len() == 1 {
        return Err(Error::Conflict(format!(
            "'{}' is the cluster's only node group; a cluster keeps at least one (delete the cluster instead).",
            ng.name
        )));
    }
    if !cluster.status.accepts_changes() {
        return Err(Error::Conflict(format!(
            "The cluster is {}; delete node groups once it is ACTIVE.",
            cluster.status
        )));
    }
    let workers = group_workers(cloud, cluster_id, &ng.name).await?;
    submit_marked(
        store,
        engine,
        &cluster,
        ClusterStatus::Updating,
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: saga::NODE_GROUP_DELETE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: saga::stored(&saga::NodeGroupDeleteParams {
                cluster_id: cluster.id.clone().into(),
                node_group_id: ng.id.clone().into(),
                node_group: ng.name.clone(),
                remove: workers,
            })?,
        },
    )
    .await
}

/// The index at the end of a worker's name (`sy-xxxxxxxx-<group>-<index>`).
pub(super) fn worker_index(name: &str) -> Option<u32> {
    name.rsplit('-').next()?.parse().ok()
}

/// A node group change worked out: the new count and bounds, the worker indices to
/// add and the worker names to remove.
pub struct ScaleChange {
    pub cluster: Cluster,
    pub node_group: NodeGroup,
    pub target: u32,
    pub min: u32,
    pub max: u32,
    pub add: Vec<u32>,
    pub remove: Vec<String>,
}

impl ScaleChange {
    /// Only the bounds change (no worker added or removed).
    pub fn bounds_only(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The names the added workers will have.
    pub fn added_names(&self) -> Vec<String> {
        self.add
            .iter()
            .map(|j| {
                format!(
                    "{}-{}-{j}",
                    saga::prefix(&self.cluster.id),
                    self.node_group.name
                )
            })
            .collect()
    }
}

/// Works out a node group change against the cloud's current workers (no change made).
#[allow(clippy::too_many_arguments)]
pub async fn scale_change(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    action: Action,
    cluster_id: &str,
    node_group: &str,
    change: &NodeGroupChange,
) -> Result<ScaleChange> {
    change_by(
        store,
        cloud,
        actor,
        action,
        cluster_id,
        node_group,
        change,
        By::Hand,
    )
    .await
}

/// Who resizes a group: a user (refused while the group autoscales) or the autoscaler.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    Hand,
    Autoscaler,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn change_by(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    action: Action,
    cluster_id: &str,
    node_group: &str,
    change: &NodeGroupChange,
    by: By,
) -> Result<ScaleChange> {
    let (cluster, _) = cluster_for(store, actor, cluster_id, action).await?;
    let ng = store
        .node_groups_of(cluster_id)
        .await?
        .into_iter()
        .find(|n| n.name == node_group || n.id == node_group)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))?;
    let autoscaled = ng.autoscale && by == By::Hand;
    let resized = change
        .node_count
        .is_some_and(|n| i64::from(n) != ng.node_count)
        || !change.remove_nodes.is_empty();
    if autoscaled && resized {
        return Err(Error::Conflict(super::autoscaling::RESIZE_REFUSED.into()));
    }
    let target = change.node_count.unwrap_or(ng.node_count as u32);
    let min = change.min_node_count.unwrap_or(ng.min_node_count as u32);
    let max = change.max_node_count.unwrap_or(ng.max_node_count as u32);
    if max > MAX_NODES {
        return Err(Error::invalid(
            "max_node_count",
            format!("A node group has at most {MAX_NODES} nodes."),
        ));
    }
    if min > max {
        return Err(Error::invalid(
            "min_node_count",
            "The minimum node count is above the maximum.",
        ));
    }
    // An autoscaled group's new bounds may leave it outside them: the autoscaler
    // brings it back in, as it does any group below its minimum or above its maximum.
    if !autoscaled && (target < min || target > max) {
        return Err(Error::invalid(
            "node_count",
            format!("The node count must be between the minimum ({min}) and the maximum ({max})."),
        ));
    }
    let mut out = ScaleChange {
        cluster,
        node_group: ng,
        target,
        min,
        max,
        add: Vec::new(),
        remove: Vec::new(),
    };
    if target as i64 == out.node_group.node_count && change.remove_nodes.is_empty() {
        return Ok(out);
    }
    let workers = group_workers(cloud, cluster_id, &out.node_group.name).await?;
    let current = workers.len() as u32;
    if target > current {
        if !change.remove_nodes.is_empty() {
            return Err(Error::invalid(
                "remove_nodes",
                "Name nodes to remove only when shrinking.",
            ));
        }
        let next = workers
            .iter()
            .filter_map(|w| worker_index(w))
            .max()
            .map_or(0, |m| m + 1);
        out.add = (next..next + (target - current)).collect();
    } else {
        let drop = (current - target) as usize;
        out.remove = if change.remove_nodes.is_empty() {
            let mut by_age = workers.clone();
            by_age.sort_by_key(|w| std::cmp::Reverse(worker_index(w).unwrap_or(0)));
            by_age.into_iter().take(drop).collect()
        } else {
            if change.remove_nodes.len() != drop {
                return Err(Error::invalid(
                    "remove_nodes",
                    format!(
                        "Shrinking from {current} to {target} removes {drop} node(s); {} named.",
                        change.remove_nodes.len()
                    ),
                ));
            }
            if let Some(n) = change.remove_nodes.iter().find(|n| !workers.contains(n)) {
                return Err(Error::invalid(
                    "remove_nodes",
                    format!("{n} is not a node of this group."),
                ));
            }
            change.remove_nodes.clone()
        };
    }
    Ok(out)
}

/// The plan of a node group change: which workers are added or removed, quota
/// headroom, whether the hosts can take it, how long it should take.
pub async fn scale_plan(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
    change: &NodeGroupChange,
) -> Result<plan::Plan> {
    plan_by(
        store,
        cloud,
        actor,
        cluster_id,
        node_group,
        change,
        By::Hand,
    )
    .await
}

pub(super) async fn plan_by(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
    change: &NodeGroupChange,
    by: By,
) -> Result<plan::Plan> {
    let ch = change_by(
        store,
        cloud,
        actor,
        Action::View,
        cluster_id,
        node_group,
        change,
        by,
    )
    .await?;
    let flavors = super::flavors::of_cloud(cloud).await?;
    plan::workers_plan(
        store,
        &ch.cluster.project_id,
        cloud,
        &flavors,
        &ch.node_group.spec(),
        &ch.added_names(),
        &ch.remove,
    )
    .await
}

/// Scales a node group (and sets its bounds). `None` when only the bounds changed.
#[allow(clippy::too_many_arguments)]
pub async fn scale(
    store: &Store,
    engine: &Engine,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
    change: NodeGroupChange,
) -> Result<Option<OperationRow>> {
    scale_by(
        store,
        engine,
        cloud,
        actor,
        cluster_id,
        node_group,
        change,
        By::Hand,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn scale_by(
    store: &Store,
    engine: &Engine,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
    change: NodeGroupChange,
    by: By,
) -> Result<Option<OperationRow>> {
    // A person's resize is worked out once the controllers' work on the cluster ended.
    if by == By::Hand {
        cluster_to_change(store, engine, actor, cluster_id).await?;
    }
    let ScaleChange {
        cluster,
        node_group: ng,
        target,
        min,
        max,
        add,
        remove,
    } = change_by(
        store,
        cloud,
        actor,
        Action::Mutate,
        cluster_id,
        node_group,
        &change,
        by,
    )
    .await?;
    if add.is_empty() && remove.is_empty() {
        store
            .node_group_set_bounds(&ng.id, min as i64, max as i64)
            .await?;
        // The cloud already has `target` workers (the count had drifted): record it.
        store.node_group_set_count(&ng.id, target as i64).await?;
        return Ok(None);
    }
    if !cluster.status.accepts_changes() {
        return Err(Error::Conflict(format!(
            "The cluster is {}; scale it once it is ACTIVE.",
            cluster.status
        )));
    }
    let image = versions::image_of(store, &cluster.kubernetes_version).await?;
    // A scale-up claims its workers now, in one step with the check: usage counts the
    // target until the operation ends, so parallel scales and creates see each other.
    let mut claimed_before = None;
    if !add.is_empty() {
        let flavors = super::flavors::of_cloud(cloud).await?;
        let f = flavors.iter().find(|f| f.name == ng.flavor);
        let n = add.len() as i64;
        let claim = crate::quotas::Claim {
            flavors: &flavors,
            etcd_gib: saga::ETCD_GIB as i64,
            more: crate::quotas::Usage {
                vcpus: f.map_or(0, |f| f.vcpus as i64) * n,
                ram_mib: f.map_or(0, |f| f.ram_mib as i64) * n,
                volume_gib: ng.boot_volume_gib * n,
                ..Default::default()
            },
        };
        claimed_before = Some(
            store
                .node_group_claim(&cluster.project_id, &ng.id, target as i64, &claim)
                .await?,
        );
    }
    let spec = spec_with_group(
        &cluster,
        NodeGroupSpec {
            node_count: target,
            min_node_count: Some(min),
            max_node_count: Some(max),
            ..ng.spec()
        },
    );
    let op = submit_marked(
        store,
        engine,
        &cluster,
        ClusterStatus::Updating,
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: if add.is_empty() {
                saga::SHRINK.into()
            } else {
                saga::SCALE.into()
            },
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: saga::stored(&saga::NodeGroupParams {
                cluster_id: cluster.id.clone().into(),
                node_group_id: ng.id.clone().into(),
                spec,
                image,
                add,
                remove,
                target,
            })?,
        },
    )
    .await;
    let op = match op {
        Ok(op) => op,
        Err(e) => {
            if let Some(before) = claimed_before {
                store.node_group_set_claim(&ng.id, before).await?;
            }
            return Err(e);
        }
    };
    store
        .node_group_set_bounds(&ng.id, min as i64, max as i64)
        .await?;
    Ok(Some(op))
}
