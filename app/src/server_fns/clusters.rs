//! Server functions of the clusters pages: the list, the create form and its plan,
//! a cluster's page, and deleting a cluster. The create form posts to
//! `/api/cluster_create` (also without JavaScript).

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use leptos::server_fn::ServerFn;

#[cfg(feature = "ssr")]
use super::operations::RetryOperation;
#[cfg(feature = "ssr")]
use super::{convert, forms, lookup};
use crate::dto::*;
use crate::error::AppError;

/// Clusters listed per page.
pub const PER_PAGE: i64 = 20;

/// One page of the current project's clusters, narrowed by name and status.
#[server(endpoint = "clusters")]
pub async fn list_clusters(q: String, status: String, page: i64) -> Result<ClusterPage, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        let project = lookup::current_membership(&actor, &session).await?;
        let page = page.max(1);
        let filter = provision::clusters::ClusterFilter {
            name: Some(q.trim().to_string()).filter(|s| !s.is_empty()),
            status: Some(status.trim().to_uppercase()).filter(|s| !s.is_empty()),
            limit: PER_PAGE,
            offset: (page - 1) * PER_PAGE,
        };
        let (items, total) =
            provision::clusters::search_in(&state()?.store, &actor, &project, &filter).await?;
        Ok(ClusterPage {
            items: items.into_iter().map(convert::list_row).collect(),
            total,
            page,
            per_page: PER_PAGE,
        })
    })
    .await
}

/// The versions and flavors the create form offers.
#[server(endpoint = "cluster_options")]
pub async fn get_create_options() -> Result<CreateOptions, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        require_actor().await?;
        let st = state()?;
        let versions = provision::clusters::versions::list(&st.store, false).await?;
        let flavors = lookup::flavors(&st).await?;
        let offers = provision::clusters::flavors::list(&st.store, &flavors).await?;
        Ok(CreateOptions {
            versions: versions.into_iter().rev().map(|v| v.version).collect(),
            flavors: offers
                .into_iter()
                .filter(|f| f.enabled)
                .map(convert::flavor)
                .collect(),
        })
    })
    .await
}

/// The plan of the cluster the form describes (changes nothing).
#[server(endpoint = "cluster_plan")]
pub async fn cluster_plan(form: ClusterForm) -> Result<PlanDto, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        let project = lookup::current_project(&actor, &session).await?;
        let st = state()?;
        provision::authz::authorize(&st.store, &actor, &project, provision::authz::Action::View)
            .await?;
        let mut spec = forms::spec(&form)?;
        let flavors = lookup::flavors(&st).await?;
        provision::clusters::prepare(&st.store, &mut spec, &flavors).await?;
        let plan = provision::clusters::plan::create_plan_full(
            &st.store,
            &project,
            &spec,
            &flavors,
            st.cloud.as_ref(),
        )
        .await?;
        Ok(convert::plan(&plan, false))
    })
    .await
}

/// Creates the cluster of the plan the user read (`plan_id`), then opens its page.
#[server(endpoint = "cluster_create")]
pub async fn create_cluster(
    name: String,
    kubernetes_version: String,
    master_count: String,
    master_flavor: String,
    pod_cidr: String,
    service_cidr: String,
    api_endpoint: String,
    ng_name: String,
    ng_flavor: String,
    ng_count: String,
    ng_min: String,
    ng_max: String,
    plan_id: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, session) = require_actor().await?;
        let project = lookup::current_project(&actor, &session).await?;
        let st = state()?;
        let form = ClusterForm {
            name,
            kubernetes_version,
            master_count,
            master_flavor,
            pod_cidr,
            service_cidr,
            api_endpoint,
            ng_name,
            ng_flavor,
            ng_count,
            ng_min,
            ng_max,
        };
        let mut spec = forms::spec(&form)?;
        let flavors = lookup::flavors(&st).await?;
        provision::clusters::prepare(&st.store, &mut spec, &flavors).await?;
        if !plan_id.is_empty() {
            let plan = provision::clusters::plan::create_plan_full(
                &st.store,
                &project,
                &spec,
                &flavors,
                st.cloud.as_ref(),
            )
            .await?;
            provision::clusters::plan::check_unchanged(&plan, Some(&plan_id))?;
        }
        let started =
            provision::clusters::create(&st.store, &st.engine, &actor, &project, spec, &flavors)
                .await?;
        leptos_axum::redirect(&format!("/clusters/{}", started.cluster.id));
        Ok(())
    })
    .await
}

/// The cluster's page: the record and what the cloud holds of it, drawn on the server.
#[server(endpoint = "cluster")]
pub async fn get_cluster(id: String) -> Result<ClusterPageDto, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let v = provision::clusters::view(&st.store, st.cloud.as_ref(), &actor, &id).await?;
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
                let k =
                    provision::clusters::kube_status::read(&st.store, &st.secret_key, &actor, &id)
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
        Ok(ClusterPageDto {
            id: detail.cluster.id.clone(),
            busy: detail.busy(),
            html: crate::components::report::cluster_html(detail, RetryOperation::PATH),
        })
    })
    .await
}

/// What deleting the cluster removes (read from the cloud), and the cluster's name to
/// type.
#[server(endpoint = "cluster_delete_plan")]
pub async fn cluster_delete_plan(id: String) -> Result<(ClusterRowDto, PlanDto), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let (cluster, _) = provision::clusters::cluster_for(
            &st.store,
            &actor,
            &id,
            provision::authz::Action::Mutate,
        )
        .await?;
        let plan = provision::clusters::plan::delete_plan(st.cloud.as_ref(), &cluster.id).await?;
        Ok((
            convert::row(&cluster, 0, String::new()),
            convert::plan(&plan, true),
        ))
    })
    .await
}

/// Deletes the cluster once its name is typed, if the plan read is still the plan.
#[server(endpoint = "cluster_delete")]
pub async fn delete_cluster(id: String, confirm: String, plan_id: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let (cluster, _) = provision::clusters::cluster_for(
            &st.store,
            &actor,
            &id,
            provision::authz::Action::Mutate,
        )
        .await?;
        if confirm.trim() != cluster.name {
            return Err(provision::Error::invalid(
                "confirm",
                format!("Type the cluster's name, {}, to delete it.", cluster.name),
            )
            .into());
        }
        let plan = provision::clusters::plan::delete_plan(st.cloud.as_ref(), &cluster.id).await?;
        provision::clusters::plan::check_unchanged(
            &plan,
            Some(plan_id.as_str()).filter(|p| !p.is_empty()),
        )?;
        provision::clusters::delete(
            &st.store,
            &st.engine,
            &actor,
            &cluster.project_id,
            &cluster.id,
        )
        .await?;
        leptos_axum::redirect(&format!("/clusters/{}", cluster.id));
        Ok(())
    })
    .await
}
