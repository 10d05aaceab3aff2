//! The cluster's page as the server draws it: the record, what the cloud holds of it,
//! its operations with the steps running now, and what its Kubernetes API says.

use provision::clusters::{Cluster, ClusterView, LoadBalancerView, NodeView, VolumeView};
use provision::domain::Actor;
use provision::ops::{OperationRow, StepState};

use super::{convert, lookup};
use crate::dto::*;
use crate::error::AppError;
use crate::ssr::AppState;

/// Everything the cluster's page shows, for someone who may see it.
pub async fn detail(
    st: &AppState,
    actor: &Actor,
    id: &ClusterId,
) -> Result<ClusterDetail, AppError> {
    let v = st.cluster_view(actor, id).await?;
    let cluster = lookup::row_with_creator(&st.store, &v.cluster, &v.node_groups).await?;
    let mut operations = Vec::new();
    for o in v.operations.iter().take(10) {
        operations.push(operation(st, o).await?);
    }
    let kubernetes = kubernetes(st, actor, &v.cluster).await?;
    Ok(page(v, cluster, operations, kubernetes))
}

/// An operation with the steps it runs now.
async fn operation(st: &AppState, o: &OperationRow) -> Result<OperationDto, AppError> {
    let mut current = Vec::new();
    if o.state.unfinished() {
        let steps = st.store.op_steps(&o.id).await?;
        let running = steps.into_iter().filter(|s| s.state == StepState::Running);
        current = running.map(|s| s.step).collect();
    }
    Ok(OperationDto {
        id: o.id.clone(),
        kind: o.kind.clone(),
        state: o.state.as_str().to_string(),
        done: o.steps_done,
        total: o.steps_total,
        current,
        error: o.error.clone(),
        retryable: o.retryable.unwrap_or(false),
        created_at: o.created_at,
        finished: !o.state.unfinished(),
    })
}

/// What the cluster's Kubernetes API says of itself and its nodes, once it has one.
async fn kubernetes(
    st: &AppState,
    actor: &Actor,
    cluster: &Cluster,
) -> Result<Option<KubeDto>, AppError> {
    if cluster.api_address.is_none() {
        return Ok(None);
    }
    let k = provision::clusters::kube_status::read(&st.store, &st.secret_key, actor, &cluster.id)
        .await?;
    let nodes = k.nodes.into_iter().map(|n| KubeNodeDto {
        name: n.name,
        ready: n.ready,
        version: n.kubelet_version,
        pods: n.pods,
        simulated: n.simulated,
    });
    Ok(Some(KubeDto {
        reachable: k.api.reachable,
        version: k.api.version,
        error: k.api.error,
        nodes: nodes.collect(),
    }))
}

/// The page from what was read.
fn page(
    v: ClusterView,
    cluster: ClusterRowDto,
    operations: Vec<OperationDto>,
    kubernetes: Option<KubeDto>,
) -> ClusterDetail {
    ClusterDetail {
        kubernetes,
        cluster,
        api_address: v.cluster.api_address.clone(),
        api_endpoint: v.cluster.api_endpoint.clone(),
        master_flavor: v.cluster.master_flavor.clone(),
        pod_cidr: v.cluster.pod_cidr.clone(),
        service_cidr: v.cluster.service_cidr.clone(),
        node_groups: v.node_groups.iter().map(convert::node_group).collect(),
        nodes: v.nodes.into_iter().map(node).collect(),
        load_balancers: v.load_balancers.into_iter().map(load_balancer).collect(),
        volumes: v.volumes.into_iter().map(volume).collect(),
        operations,
        can_edit: v.role.allows(provision::authz::Action::Mutate),
        cloud_error: v.cloud_error,
    }
}

fn node(n: NodeView) -> NodeDto {
    NodeDto {
        name: n.name,
        role: n.role,
        node_group: n.node_group,
        status: n.status,
        host: n.host,
        address: n.address,
    }
}

fn load_balancer(l: LoadBalancerView) -> LoadBalancerDto {
    LoadBalancerDto {
        name: l.name,
        role: l.role,
        vip: l.vip,
        status: l.status,
        operating_status: l.operating_status,
    }
}

fn volume(x: VolumeView) -> VolumeDto {
    VolumeDto {
        name: x.name,
        role: x.role,
        size_gib: x.size_gib,
        status: x.status,
        attached_to: x.attached_to,
    }
}
