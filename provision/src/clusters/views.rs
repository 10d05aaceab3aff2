//! What a cluster's pages show: its record, node groups, services and volumes, and
//! what the cloud holds of it, read for someone who may see it.

use crate::authz::Action;
use crate::domain::Actor;
use crate::ops::OperationRow;
use crate::{Result, Store};

use super::lifecycle::cluster_for;
use super::saga_shared as saga;
use super::{Cluster, NodeGroup};

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
    pub services: Vec<super::workloads::Service>,
    pub persistent_volumes: Vec<super::workloads::PersistentVolume>,
    /// Whether an operation of the cluster is under way, or a service or volume is
    /// still being made or removed.
    pub busy: bool,
    /// Why the cluster's own objects are missing from the lists (its API did not
    /// answer): the lists are what Shipyard made in the cloud.
    pub api_error: Option<String>,
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
pub async fn workloads(
    store: &Store,
    key: &crate::pki::SecretKey,
    actor: &Actor,
    cluster_id: &str,
) -> Result<WorkloadsView> {
    let (cluster, role) = cluster_for(store, actor, cluster_id, Action::View).await?;
    // Operations first, as in `view`: a finished one means the rows read next are final.
    let running = store
        .op_list_for(cluster_id)
        .await?
        .iter()
        .any(|o| o.state.unfinished());
    let listed = if cluster.status.serves_api() {
        super::workloads::listed(store, key, cluster_id).await?
    } else {
        super::workloads::Listed {
            services: store.services_of(cluster_id).await?,
            volumes: store.volumes_of(cluster_id).await?,
            api_error: None,
        }
    };
    Ok(WorkloadsView {
        busy: running || listed.settling(),
        services: listed.services,
        persistent_volumes: listed.volumes,
        api_error: listed.api_error,
        cluster,
        role,
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
