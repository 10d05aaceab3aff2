//! Clusters and node groups: what a user asks for (validated with the same rules for
//! the console and the API), how it is stored, and the operations that make it real in
//! the cloud ([`saga`]).

pub mod access;
pub mod bootstrap;
mod cluster_steps;
mod create;
mod delete;
pub mod flavors;
pub mod kube_status;
mod node_group_sagas;
pub mod plan;
pub mod rotate;
pub mod saga;
mod store;
pub mod versions;
pub mod workloads;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::authz::{authorize, Action};
use crate::domain::Actor;
use crate::ops::{Engine, NewOperation, OperationRow};
use crate::{Error, Result, Store};

pub use store::{Cluster, ClusterFilter, ClusterSummary, NodeGroup};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApiEndpoint {
    Public,
    Private,
}

impl ApiEndpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiEndpoint::Public => "public",
            ApiEndpoint::Private => "private",
        }
    }
}

fn default_masters() -> u32 {
    1
}
fn default_master_flavor() -> String {
    "m1.medium".into()
}
fn default_pod_cidr() -> String {
    "10.244.0.0/16".into()
}
fn default_service_cidr() -> String {
    "10.96.0.0/12".into()
}
fn default_endpoint() -> ApiEndpoint {
    ApiEndpoint::Public
}
fn default_boot_gib() -> u64 {
    20
}

/// A cluster as asked for. Omitted fields take the defaults a console would suggest;
/// an omitted version means the newest one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default = "default_masters")]
    pub master_count: u32,
    #[serde(default = "default_master_flavor")]
    pub master_flavor: String,
    #[serde(default = "default_pod_cidr")]
    pub pod_cidr: String,
    #[serde(default = "default_service_cidr")]
    pub service_cidr: String,
    #[serde(default = "default_endpoint")]
    pub api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub node_groups: Vec<NodeGroupSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeGroupSpec {
    pub name: String,
    #[serde(default = "default_master_flavor")]
    pub flavor: String,
    pub node_count: u32,
    #[serde(default)]
    pub min_node_count: Option<u32>,
    #[serde(default)]
    pub max_node_count: Option<u32>,
    #[serde(default = "default_boot_gib")]
    pub boot_volume_gib: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<String>,
}

/// Largest node group.
pub const MAX_NODES: u32 = 100;

/// A DNS label: lowercase letters, digits and `-`, starting with a letter, not ending
/// with `-`, at most `max` characters.
pub fn check_dns_label(field: &'static str, what: &str, name: &str, max: usize) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{what} must be 1–{max} lowercase letters, digits or '-', start with a letter and not end with '-'."),
        ))
    }
}

/// An IPv4 CIDR: (network, prefix).
fn parse_cidr(field: &'static str, s: &str) -> Result<(u32, u8)> {
    let bad = || {
        Error::invalid(
            field,
            format!("'{s}' is not an IPv4 CIDR like 10.244.0.0/16."),
        )
    };
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let n = u32::from(ip);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if n & !mask != 0 {
        return Err(Error::invalid(
            field,
            format!(
                "'{s}' has host bits set; the network is {}/{len}.",
                Ipv4Addr::from(n & mask)
            ),
        ));
    }
    if ip.is_link_local()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
    {
        return Err(Error::invalid(
            field,
            format!("'{s}' is not a usable private range."),
        ));
    }
    Ok((n, len))
}

fn overlaps((a, la): (u32, u8), (b, lb): (u32, u8)) -> bool {
    let l = la.min(lb);
    let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
    a & mask == b & mask
}

impl NodeGroupSpec {
    /// (min, max) with defaults: min 1 (0 allowed), max at least the count.
    pub fn bounds(&self) -> (u32, u32) {
        let min = self.min_node_count.unwrap_or(self.node_count.min(1));
        let max = self.max_node_count.unwrap_or(self.node_count.max(min));
        (min, max)
    }

    pub fn validate(&self, flavors: &[String]) -> Result<()> {
        check_dns_label("node_group_name", "A node group name", &self.name, 30)?;
        if !flavors.contains(&self.flavor) {
            return Err(Error::invalid(
                "node_group_flavor",
                format!("Flavor '{}' is not on offer.", self.flavor),
            ));
        }
        let (min, max) = self.bounds();
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
        if self.node_count < min || self.node_count > max {
            return Err(Error::invalid(
                "node_count",
                format!(
                    "The node count must be between the minimum ({min}) and the maximum ({max})."
                ),
            ));
        }
        if !(10..=2048).contains(&self.boot_volume_gib) {
            return Err(Error::invalid(
                "boot_volume_gib",
                "Boot volumes are 10 to 2048 GiB.",
            ));
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.len() > 63 || v.len() > 63 {
                return Err(Error::invalid(
                    "labels",
                    "Label keys are 1–63 characters, values at most 63.",
                ));
            }
        }
        for t in &self.taints {
            let effect_ok = t.ends_with(":NoSchedule")
                || t.ends_with(":PreferNoSchedule")
                || t.ends_with(":NoExecute");
            if !effect_ok || t.len() > 253 {
                return Err(Error::invalid("taints", format!("Taint '{t}' must look like key=value:NoSchedule (or PreferNoSchedule, NoExecute).")));
            }
        }
        Ok(())
    }
}

impl ClusterSpec {
    /// The version asked for (filled in with the newest by [`versions::resolve`]).
    pub fn version(&self) -> &str {
        self.kubernetes_version.as_deref().unwrap_or("")
    }

    /// The same rules for the console and the API; `flavors` are the cloud's.
    pub fn validate(&self, flavors: &[String]) -> Result<()> {
        check_dns_label("name", "A cluster name", &self.name, 40)?;
        if ![1, 3, 5].contains(&self.master_count) {
            return Err(Error::invalid(
                "master_count",
                "A cluster has 1, 3 or 5 masters (an odd number keeps etcd's quorum).",
            ));
        }
        if !flavors.contains(&self.master_flavor) {
            return Err(Error::invalid(
                "master_flavor",
                format!("Flavor '{}' is not on offer.", self.master_flavor),
            ));
        }
        let pods = parse_cidr("pod_cidr", &self.pod_cidr)?;
        let services = parse_cidr("service_cidr", &self.service_cidr)?;
        if !(8..=22).contains(&pods.1) {
            return Err(Error::invalid(
                "pod_cidr",
                "The pod range must be between /8 and /22 (each node takes a /24).",
            ));
        }
        if !(12..=24).contains(&services.1) {
            return Err(Error::invalid(
                "service_cidr",
                "The service range must be between /12 and /24.",
            ));
        }
        if overlaps(pods, services) {
            return Err(Error::invalid(
                "service_cidr",
                "The pod and service ranges overlap.",
            ));
        }
        if self.node_groups.is_empty() {
            return Err(Error::invalid(
                "node_groups",
                "A cluster needs at least one node group.",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for ng in &self.node_groups {
            ng.validate(flavors)?;
            if !names.insert(ng.name.as_str()) {
                return Err(Error::invalid(
                    "node_group_name",
                    format!("Two node groups are named '{}'.", ng.name),
                ));
            }
        }
        Ok(())
    }
}

/// What a create or delete answers with.
#[derive(Clone, Debug)]
pub struct Started {
    pub cluster: Cluster,
    pub operation: OperationRow,
}

/// A live cluster the actor may `action`, with the actor's role; "not found" to anyone
/// outside its project (existence never leaks).
pub async fn cluster_for(
    store: &Store,
    actor: &Actor,
    cluster_id: &str,
    action: Action,
) -> Result<(Cluster, crate::domain::Role)> {
    let hidden = || Error::NotFound(format!("Cluster {cluster_id} not found."));
    let cluster = store.cluster_by_id(cluster_id).await?;
    let (_, role) = authorize(store, actor, &cluster.project_id, action)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => hidden(),
            other => other,
        })?;
    let cluster = store
        .cluster_get(&cluster.project_id, cluster_id)
        .await
        .map_err(|_| hidden())?;
    Ok((cluster, role))
}

/// Fills in the defaults the store cannot know (the newest enabled version) and checks
/// the spec with the same rules for the console and the API; returns the node image.
pub async fn prepare(
    store: &Store,
    spec: &mut ClusterSpec,
    flavors: &[crate::cloud::Flavor],
) -> Result<String> {
    let names = self::flavors::offered(store, flavors).await?;
    spec.validate(&names)?;
    versions::resolve(store, spec).await
}

/// Marks the cluster `status`, then submits `new`. The status goes first: an operation
/// that finishes at once (its end hook sets ACTIVE) must not be overwritten by it — the
/// other order left clusters UPDATING for good (found by the browser tests). A refused
/// submit (another operation runs) puts the old status back.
async fn submit_marked(
    store: &Store,
    engine: &Engine,
    cluster: &Cluster,
    status: &str,
    new: NewOperation,
) -> Result<OperationRow> {
    store.cluster_set_status(&cluster.id, status, None).await?;
    match engine.submit(new).await {
        Ok(op) => Ok(op),
        Err(e) => {
            store
                .cluster_set_status(
                    &cluster.id,
                    &cluster.status,
                    cluster.status_reason.as_deref(),
                )
                .await?;
            Err(e)
        }
    }
}

/// Validates, records the cluster (CREATING) and starts its create operation.
pub async fn create(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    project_id: &str,
    mut spec: ClusterSpec,
    flavors: &[crate::cloud::Flavor],
) -> Result<Started> {
    authorize(store, actor, project_id, Action::Mutate).await?;
    let image = prepare(store, &mut spec, flavors).await?;
    let etcd = saga::ETCD_GIB as i64;
    let claim = crate::quotas::Claim {
        flavors,
        etcd_gib: etcd,
        more: crate::quotas::cluster_usage(&spec, flavors, etcd),
    };
    let cluster = store
        .cluster_insert_within_quota(project_id, &actor.user_id, &spec, &claim)
        .await?;
    let operation = engine
        .submit(NewOperation {
            project_id: project_id.to_string(),
            kind: saga::CREATE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: serde_json::json!({ "cluster_id": cluster.id, "spec": spec, "image": image }),
        })
        .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(project_id),
        "cluster.create",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!(
            "{} masters, Kubernetes {}, operation {}",
            spec.master_count,
            spec.version(),
            operation.id
        ),
    )
    .await?;
    Ok(Started { cluster, operation })
}

/// Starts removing everything of the cluster from the cloud (whatever its state).
pub async fn delete(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    project_id: &str,
    cluster_id: &str,
) -> Result<Started> {
    authorize(store, actor, project_id, Action::Mutate).await?;
    let cluster = store.cluster_get(project_id, cluster_id).await?;
    let operation = submit_marked(
        store,
        engine,
        &cluster,
        "DELETING",
        NewOperation {
            project_id: project_id.to_string(),
            kind: saga::DELETE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: serde_json::json!({ "cluster_id": cluster.id }),
        },
    )
    .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(project_id),
        "cluster.delete",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!("operation {}", operation.id),
    )
    .await?;
    // The record as it was marked, not read again: the delete may have finished (and
    // the cluster be gone) by now, and the caller must still learn that it started.
    let cluster = Cluster {
        status: "DELETING".into(),
        status_reason: None,
        ..cluster
    };
    Ok(Started { cluster, operation })
}

/// The cluster's spec with one node group: what a node group operation works on.
fn spec_with_group(cluster: &Cluster, group: NodeGroupSpec) -> ClusterSpec {
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
        node_groups: vec![group],
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
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    let names = self::flavors::offered(store, flavors).await?;
    group.validate(&names)?;
    if cluster.status != "ACTIVE" {
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
        "UPDATING",
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: saga::NODE_GROUP_CREATE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: serde_json::json!({
                "cluster_id": cluster.id, "node_group_id": ng.id, "spec": spec,
                "image": image,
                "add": (0..group.node_count).collect::<Vec<u32>>(), "remove": [],
                "target": group.node_count,
            }),
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
    let flavors = cloud
        .flavor_list()
        .await
        .map_err(|e| Error::internal(format!("listing flavors: {e}")))?;
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
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::Mutate).await?;
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
    if cluster.status != "ACTIVE" {
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
        "UPDATING",
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: saga::NODE_GROUP_DELETE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: serde_json::json!({
                "cluster_id": cluster.id, "node_group_id": ng.id, "node_group": ng.name,
                "remove": workers,
            }),
        },
    )
    .await
}

/// A change to a node group: a new count and bounds, and optionally which nodes to
/// remove when shrinking (else the newest go).
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeGroupChange {
    pub node_count: Option<u32>,
    pub min_node_count: Option<u32>,
    pub max_node_count: Option<u32>,
    #[serde(default)]
    pub remove_nodes: Vec<String>,
}

/// The index at the end of a worker's name (`sy-xxxxxxxx-<group>-<index>`).
fn worker_index(name: &str) -> Option<u32> {
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
    let (cluster, _) = cluster_for(store, actor, cluster_id, action).await?;
    let ng = store
        .node_groups_of(cluster_id)
        .await?
        .into_iter()
        .find(|n| n.name == node_group || n.id == node_group)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))?;
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
    if target < min || target > max {
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
    let ch = scale_change(
        store,
        cloud,
        actor,
        Action::View,
        cluster_id,
        node_group,
        change,
    )
    .await?;
    let flavors = cloud
        .flavor_list()
        .await
        .map_err(|e| Error::internal(format!("listing flavors: {e}")))?;
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
    let ScaleChange {
        cluster,
        node_group: ng,
        target,
        min,
        max,
        add,
        remove,
    } = scale_change(
        store,
        cloud,
        actor,
        Action::Mutate,
        cluster_id,
        node_group,
        &change,
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
    if cluster.status != "ACTIVE" {
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
        let flavors = cloud
            .flavor_list()
            .await
            .map_err(|e| Error::internal(format!("listing flavors: {e}")))?;
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
        "UPDATING",
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: if add.is_empty() {
                saga::SHRINK.into()
            } else {
                saga::SCALE.into()
            },
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: serde_json::json!({
                "cluster_id": cluster.id, "node_group_id": ng.id, "spec": spec,
                "image": image,
                "add": add, "remove": remove, "target": target,
            }),
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

/// Issues a kubeconfig for the actor on the cluster: a fresh client certificate (CN =
/// the user's email, O = the group of their project role), audit-logged.
pub async fn kubeconfig(
    store: &Store,
    key: &crate::pki::SecretKey,
    actor: &Actor,
    cluster_id: &str,
    validity_hours: Option<u32>,
) -> Result<crate::pki::Kubeconfig> {
    let (cluster, role) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let hours = validity_hours.unwrap_or(crate::pki::DEFAULT_VALIDITY_HOURS);
    crate::pki::check_validity(hours)?;
    let address = match (&cluster.api_address, cluster.status.as_str()) {
        (Some(a), "ACTIVE" | "UPDATING") => a.clone(),
        _ => {
            return Err(Error::Conflict(format!(
                "The cluster is {}; its API endpoint serves kubeconfigs once it is ACTIVE.",
                cluster.status
            )))
        }
    };
    let group = crate::pki::role_group(role);
    let issued = crate::pki::issue_kubeconfig(
        store,
        key,
        &crate::pki::IssueRequest {
            cluster_id: &cluster.id,
            cluster_name: &cluster.name,
            user_id: &actor.user_id,
            user: &actor.email,
            group,
            server_url: &format!("https://{address}"),
            validity_hours: hours,
        },
    )
    .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(&cluster.project_id),
        "kubeconfig.issue",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!(
            "serial {} group {group} expires {} (CA generation {})",
            issued.serial,
            crate::pki::rfc3339(issued.not_after),
            issued.ca_generation
        ),
    )
    .await?;
    Ok(issued)
}

/// Replaces the cluster's CA: every kubeconfig issued so far stops working and its
/// holders must download a new one. Audit-logged.
pub async fn rotate_ca(
    store: &Store,
    engine: &Engine,
    key: &crate::pki::SecretKey,
    actor: &Actor,
    cluster_id: &str,
) -> Result<(crate::pki::Rotation, OperationRow)> {
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    if cluster.status != "ACTIVE" {
        return Err(Error::Conflict(format!(
            "The cluster is {}; rotate its CA once it is ACTIVE.",
            cluster.status
        )));
    }
    let image = versions::image_of(store, &cluster.kubernetes_version).await?;
    let rotation = crate::pki::ca_rotate(store, key, &cluster.id).await?;
    // Every server boots again with certificates of the new CA.
    let operation = submit_marked(
        store,
        engine,
        &cluster,
        "UPDATING",
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: rotate::ROTATE_CA.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: serde_json::json!({ "cluster_id": cluster.id, "image": image }),
        },
    )
    .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(&cluster.project_id),
        "cluster.rotate_ca",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!(
            "CA generation {} replaced {}; {} kubeconfig(s) must be downloaded again; operation {}",
            rotation.ca.generation,
            rotation
                .retired_generation
                .map_or("none".to_string(), |g| g.to_string()),
            rotation.invalidated_kubeconfigs,
            operation.id
        ),
    )
    .await?;
    Ok((rotation, operation))
}

/// One page of a project's clusters, in a project whose membership the caller has just
/// read (the console's current project): no query for the check.
pub async fn search_in(
    store: &Store,
    actor: &Actor,
    project: &crate::domain::ProjectWithRole,
    filter: &ClusterFilter,
) -> Result<(Vec<ClusterSummary>, i64)> {
    crate::authz::authorize_member(actor, project, Action::View)?;
    store.cluster_search(&project.project.id, filter).await
}

/// A server of the cluster as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    /// master or worker
    pub role: String,
    pub node_group: Option<String>,
    pub status: String,
    pub host: Option<String>,
    pub address: Option<String>,
}

/// A load balancer of the cluster: the API's or a service's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerView {
    pub name: String,
    /// api or service
    pub role: String,
    pub vip: Option<String>,
    pub status: String,
    pub operating_status: String,
}

/// A volume of the cluster: an etcd volume or a persistent volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeView {
    pub name: String,
    pub role: String,
    pub size_gib: u64,
    pub status: String,
    /// Names of the servers it is attached to.
    pub attached_to: Vec<String>,
}

/// Everything the cluster's page shows: the record, and what the cloud holds of it
/// (read live, by the cluster's mark). `cloud_error` says why the cloud part is empty.
#[derive(Clone, Debug)]
pub struct ClusterView {
    pub cluster: Cluster,
    pub role: crate::domain::Role,
    pub node_groups: Vec<NodeGroup>,
    pub nodes: Vec<NodeView>,
    pub load_balancers: Vec<LoadBalancerView>,
    pub volumes: Vec<VolumeView>,
    pub operations: Vec<OperationRow>,
    pub cloud_error: Option<String>,
}

/// A cluster's services and persistent volumes as the store holds them.
pub struct WorkloadsView {
    pub cluster: Cluster,
    pub role: crate::domain::Role,
    pub services: Vec<workloads::Service>,
    pub persistent_volumes: Vec<workloads::PersistentVolume>,
    /// Whether an operation of the cluster is under way (a service or volume being made
    /// or removed among them).
    pub busy: bool,
}

/// A cluster's record and its node groups, for someone who may see it: the store alone,
/// no cloud reads (what the node group pages need).
pub async fn groups(
    store: &Store,
    actor: &Actor,
    cluster_id: &str,
) -> Result<(Cluster, Vec<NodeGroup>)> {
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let groups = store.node_groups_of(cluster_id).await?;
    Ok((cluster, groups))
}

/// A cluster's services and persistent volumes, for someone who may see it: the store
/// alone, no cloud reads (the "Services and volumes" page).
pub async fn workloads(store: &Store, actor: &Actor, cluster_id: &str) -> Result<WorkloadsView> {
    let (cluster, role) = cluster_for(store, actor, cluster_id, Action::View).await?;
    // Operations first, as in `view`: a finished one means the rows read next are final.
    let busy = store
        .op_list_for(cluster_id)
        .await?
        .iter()
        .any(|o| o.state.unfinished());
    Ok(WorkloadsView {
        services: store.services_of(cluster_id).await?,
        persistent_volumes: store.volumes_of(cluster_id).await?,
        cluster,
        role,
        busy,
    })
}

/// The cluster's page, for someone who may see it.
pub async fn view(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
) -> Result<ClusterView> {
    let (cluster, role) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let mark = saga::cluster_metadata(cluster_id);
    let from_cloud = async {
        let servers = cloud.server_list(&mark).await?;
        let lbs = cloud
            .load_balancer_list(&[saga::cluster_tag(cluster_id)])
            .await?;
        let volumes = cloud.volume_list(&mark).await?;
        Ok::<_, crate::cloud::CloudError>((servers, lbs, volumes))
    };
    let (mut nodes, mut load_balancers, mut volumes, mut cloud_error) =
        (Vec::new(), Vec::new(), Vec::new(), None);
    match from_cloud.await {
        Ok((servers, lbs, vols)) => {
            let name_of = |id: &str| {
                servers
                    .iter()
                    .find(|s| s.id == id)
                    .map_or(id.to_string(), |s| s.name.clone())
            };
            for s in &servers {
                nodes.push(NodeView {
                    name: s.name.clone(),
                    role: s.metadata.get("shipyard-role").cloned().unwrap_or_default(),
                    node_group: s.metadata.get("shipyard-node-group").cloned(),
                    status: s.status.clone(),
                    host: s.host.clone(),
                    address: s.addresses.first().cloned(),
                });
            }
            nodes.sort_by(|a, b| (&a.role, &a.name).cmp(&(&b.role, &b.name)));
            for l in lbs {
                let service = l.tags.iter().any(|t| t == "shipyard-role=service");
                load_balancers.push(LoadBalancerView {
                    name: l.name,
                    role: if service { "service" } else { "api" }.into(),
                    vip: l.vip_address,
                    status: l.provisioning_status,
                    operating_status: l.operating_status,
                });
            }
            load_balancers.sort_by(|a, b| a.name.cmp(&b.name));
            for v in vols {
                volumes.push(VolumeView {
                    role: v.metadata.get("shipyard-role").cloned().unwrap_or_default(),
                    size_gib: v.size_gib,
                    status: v.status,
                    attached_to: v.attached_to.iter().map(|id| name_of(id)).collect(),
                    name: v.name,
                });
            }
            volumes.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Err(e) => cloud_error = Some(format!("The cloud could not be read: {e}")),
    }
    // Operations first, then the record: an operation writes the cluster's status before
    // its own end, so a finished operation read here means the status read next is
    // final. (The other order could show CREATING beside a finished create — and a page
    // that follows only unfinished operations stayed on CREATING.) A cluster deleted in
    // between is not found: its record as read before would show a finished delete
    // beside DELETING, and the page would stop following there.
    let operations = store.op_list_for(cluster_id).await?;
    let cluster = store.cluster_get(&cluster.project_id, cluster_id).await?;
    Ok(ClusterView {
        node_groups: store.node_groups_of(cluster_id).await?,
        operations,
        cluster,
        role,
        nodes,
        load_balancers,
        volumes,
        cloud_error,
    })
}
