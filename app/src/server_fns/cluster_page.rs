//! The cluster's page as the server draws it: the record, what the cloud holds of it,
//! its operations with the steps running now, and what its Kubernetes API says.

use provision::domain::Actor;

use super::{convert, lookup};
use crate::dto::*;
use crate::error::AppError;
use crate::ssr::AppState;

/// Everything the cluster's page shows, for someone who may see it.
pub async fn detail(st: &AppState, actor: &Actor, id: &str) -> Result<ClusterDetail, AppError> {
    let v = st.cluster_view(actor, id).await?;
    let cluster = lookup::row_with_creator(&st.store, &v.cluster, &v.node_groups).await?;
    let mut operations = Vec::new();
    for o in v.operations.iter().take(10) {
        let current = if o.state.unfinished() {
            st.store
                .op_steps(&o.id)
                .await?
                .into_iter()
                .filter(|s| s.state == provision::ops::StepState::Running)
                .map(|s| s.step)
                .collect()
        } else {
            Vec::new()
        };
        operations.push(OperationDto {
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
        });
    }
    let kubernetes = match v.cluster.api_address {
        Some(_) => {
            let k = provision::clusters::kube_status::read(&st.store, &st.secret_key, actor, id)
                .await?;
            Some(KubeDto {
                reachable: k.api.reachable,
                version: k.api.version,
                error: k.api.error,
                nodes: k
                    .nodes
                    .into_iter()
                    .map(|n| KubeNodeDto {
                        name: n.name,
                        ready: n.ready,
                        version: n.kubelet_version,
                        pods: n.pods,
                        simulated: n.simulated,
                    })
                    .collect(),
            })
        }
        None => None,
    };
    let detail = ClusterDetail {
        kubernetes,
        cluster,
        api_address: v.cluster.api_address.clone(),
        api_endpoint: v.cluster.api_endpoint.clone(),
        master_flavor: v.cluster.master_flavor.clone(),
        pod_cidr: v.cluster.pod_cidr.clone(),
        service_cidr: v.cluster.service_cidr.clone(),
        node_groups: v.node_groups.iter().map(convert::node_group).collect(),
        nodes: v
            .nodes
            .into_iter()
            .map(|n| NodeDto {
                name: n.name,
                role: n.role,
                node_group: n.node_group,
                status: n.status,
                host: n.host,
                address: n.address,
            })
            .collect(),
        load_balancers: v
            .load_balancers
            .into_iter()
            .map(|l| LoadBalancerDto {
                name: l.name,
                role: l.role,
                vip: l.vip,
                status: l.status,
                operating_status: l.operating_status,
            })
            .collect(),
        volumes: v
            .volumes
            .into_iter()
            .map(|x| VolumeDto {
                name: x.name,
                role: x.role,
                size_gib: x.size_gib,
                status: x.status,
                attached_to: x.attached_to,
            })
            .collect(),
        operations,
        can_edit: v.role.allows(provision::authz::Action::Mutate),
        cloud_error: v.cloud_error,
    };
    Ok(detail)
}
