//! Server functions of the cluster pages: who is asking, then `provision`, then wire
//! types. The create form posts to `/api/cluster_create` (also without JavaScript).

// A form's fields are the server function's arguments (so it posts without JavaScript);
// the generated client stubs carry them too.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::dto::*;
use crate::error::AppError;

/// Clusters listed per page.
pub const PER_PAGE: i64 = 20;

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use provision::clusters::{Cluster, ClusterSpec};
    use provision::Error;

    pub fn node_group(n: &provision::clusters::NodeGroup) -> NodeGroupDto {
        NodeGroupDto {
            name: n.name.clone(),
            flavor: n.flavor.clone(),
            node_count: n.node_count,
            min_node_count: n.min_node_count,
            max_node_count: n.max_node_count,
        }
    }

    /// A row of the clusters list.
    pub fn list_row(s: provision::clusters::ClusterSummary) -> ClusterRowDto {
        ClusterRowDto {
            id: s.id,
            name: s.name,
            status: s.status,
            status_reason: s.status_reason,
            version: s.kubernetes_version,
            masters: s.master_count,
            nodes: s.nodes,
            created_at: s.created_at,
            created_by: s.created_by_email,
        }
    }

    pub fn row(c: &Cluster, nodes: i64, created_by: String) -> ClusterRowDto {
        ClusterRowDto {
            id: c.id.clone(),
            name: c.name.clone(),
            status: c.status.clone(),
            status_reason: c.status_reason.clone(),
            version: c.kubernetes_version.clone(),
            masters: c.master_count,
            nodes,
            created_at: c.created_at,
            created_by,
        }
    }

    /// The row of one cluster for its own pages: nodes summed over its groups, and its
    /// creator's email read from the store.
    pub async fn row_with_creator(
        store: &provision::Store,
        c: &Cluster,
        groups: &[provision::clusters::NodeGroup],
    ) -> Result<ClusterRowDto, AppError> {
        let nodes = groups.iter().map(|n| n.node_count).sum();
        let created_by = store
            .user_by_id(&c.created_by)
            .await?
            .map(|u| u.email)
            .unwrap_or_default();
        Ok(row(c, nodes, created_by))
    }

    fn number(field: &'static str, label: &str, v: &str) -> Result<u32, Error> {
        v.trim()
            .parse()
            .map_err(|_| Error::invalid(field, format!("{label} must be a whole number.")))
    }

    /// A node count typed in a form.
    pub fn count(v: &str) -> Result<u32, Error> {
        number("node_count", "The node count", v)
    }

    /// The form as a spec, with the same rules as the API after it.
    pub fn spec(f: &ClusterForm) -> Result<ClusterSpec, Error> {
        let endpoint = match f.api_endpoint.as_str() {
            "private" => provision::clusters::ApiEndpoint::Private,
            "public" | "" => provision::clusters::ApiEndpoint::Public,
            _ => {
                return Err(Error::invalid(
                    "api_endpoint",
                    "The API endpoint is public or private.",
                ))
            }
        };
        Ok(ClusterSpec {
            name: f.name.trim().to_string(),
            kubernetes_version: Some(f.kubernetes_version.trim().to_string())
                .filter(|v| !v.is_empty()),
            master_count: number("master_count", "The master count", &f.master_count)?,
            master_flavor: f.master_flavor.trim().to_string(),
            pod_cidr: f.pod_cidr.trim().to_string(),
            service_cidr: f.service_cidr.trim().to_string(),
            api_endpoint: endpoint,
            node_groups: vec![group(
                &f.ng_name,
                &f.ng_flavor,
                &f.ng_count,
                &f.ng_min,
                &f.ng_max,
            )?],
        })
    }

    /// A node group as typed in a form.
    pub fn group(
        name: &str,
        flavor: &str,
        count: &str,
        min: &str,
        max: &str,
    ) -> Result<provision::clusters::NodeGroupSpec, Error> {
        Ok(provision::clusters::NodeGroupSpec {
            name: name.trim().to_string(),
            flavor: flavor.trim().to_string(),
            node_count: number("node_count", "The node count", count)?,
            min_node_count: Some(number("min_node_count", "The minimum", min)?),
            max_node_count: Some(number("max_node_count", "The maximum", max)?),
            boot_volume_gib: 20,
            labels: Default::default(),
            taints: Vec::new(),
        })
    }

    /// A plan from the core, its report drawn. `removal`: a deletion's plan.
    pub fn plan(p: &provision::clusters::plan::Plan, removal: bool) -> PlanDto {
        let mut totals = Vec::new();
        for (key, label) in [
            ("servers", "servers"),
            ("vcpus", "vCPUs"),
            ("ram_mib", "RAM (MiB)"),
            ("volume_gib", "volume GiB"),
            ("load_balancers", "load balancers"),
        ] {
            if let Some(v) = p.totals.get(key) {
                totals.push((label.to_string(), v.to_string()));
            }
        }
        let quota_left = p
            .quota
            .as_ref()
            .map(|q| {
                let l = &q.left_after;
                vec![
                    ("clusters".to_string(), l.clusters),
                    ("vCPUs".to_string(), l.vcpus),
                    ("RAM (MiB)".to_string(), l.ram_mib),
                    ("volume GiB".to_string(), l.volume_gib),
                    ("load balancers".to_string(), l.load_balancers),
                ]
            })
            .unwrap_or_default();
        let report = PlanReport {
            rows: p
                .resources
                .iter()
                .map(|x| PlanRow {
                    action: x.action.to_string(),
                    kind: x.kind.replace('_', " "),
                    name: x.name.clone(),
                    detail: x.detail.clone(),
                })
                .collect(),
            totals,
            fits: p.capacity.fits,
            quota_fits: p.quota.as_ref().is_some_and(|q| q.fits),
            quota_left,
            expected_seconds: p.expected_seconds.ceil() as u64,
            removal,
        };
        PlanDto {
            plan_id: p.plan_id.clone(),
            fits: report.fits,
            quota_fits: report.quota_fits,
            html: crate::pages::clusters::plan_html(report),
        }
    }

    /// The cloud's flavors.
    pub async fn flavors(
        st: &crate::ssr::AppState,
    ) -> Result<Vec<provision::cloud::Flavor>, AppError> {
        st.cloud
            .flavor_list()
            .await
            .map_err(|e| AppError::from(Error::from(e)))
    }

    pub fn flavor(f: provision::clusters::flavors::FlavorOffer) -> FlavorDto {
        FlavorDto {
            name: f.name,
            vcpus: f.vcpus,
            ram_mib: f.ram_mib,
            enabled: f.enabled,
        }
    }

    /// The project the console works in, with the user's role in it.
    pub async fn current_membership(
        actor: &provision::domain::Actor,
        session: &tower_sessions::Session,
    ) -> Result<provision::domain::ProjectWithRole, AppError> {
        crate::ssr::current_project(&actor.user_id, session)
            .await?
            .0
            .ok_or_else(|| {
                AppError::from(Error::NotFound(
                    "You are not a member of any project.".into(),
                ))
            })
    }

    /// The id of the project the console works in.
    pub async fn current_project(
        actor: &provision::domain::Actor,
        session: &tower_sessions::Session,
    ) -> Result<String, AppError> {
        Ok(current_membership(actor, session).await?.project.id)
    }
}

/// One page of the current project's clusters, narrowed by name and status.
#[server(endpoint = "clusters")]
pub async fn list_clusters(q: String, status: String, page: i64) -> Result<ClusterPage, AppError> {
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    let project = ssr::current_membership(&actor, &session).await?;
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
        items: items.into_iter().map(ssr::list_row).collect(),
        total,
        page,
        per_page: PER_PAGE,
    })
}

/// The versions and flavors the create form offers.
#[server(endpoint = "cluster_options")]
pub async fn get_create_options() -> Result<CreateOptions, AppError> {
    use crate::ssr::*;
    require_actor().await?;
    let st = state()?;
    let versions = provision::clusters::versions::list(&st.store, false).await?;
    let flavors = ssr::flavors(&st).await?;
    let offers = provision::clusters::flavors::list(&st.store, &flavors).await?;
    Ok(CreateOptions {
        versions: versions.into_iter().rev().map(|v| v.version).collect(),
        flavors: offers
            .into_iter()
            .filter(|f| f.enabled)
            .map(ssr::flavor)
            .collect(),
    })
}

/// The plan of the cluster the form describes (changes nothing).
#[server(endpoint = "cluster_plan")]
pub async fn cluster_plan(form: ClusterForm) -> Result<PlanDto, AppError> {
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    let project = ssr::current_project(&actor, &session).await?;
    let st = state()?;
    provision::authz::authorize(&st.store, &actor, &project, provision::authz::Action::View)
        .await?;
    let mut spec = ssr::spec(&form)?;
    let flavors = ssr::flavors(&st).await?;
    provision::clusters::prepare(&st.store, &mut spec, &flavors).await?;
    let plan = provision::clusters::plan::create_plan_full(
        &st.store,
        &project,
        &spec,
        &flavors,
        st.cloud.as_ref(),
    )
    .await?;
    Ok(ssr::plan(&plan, false))
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
    use crate::ssr::*;
    let (actor, _, session) = require_actor().await?;
    let project = ssr::current_project(&actor, &session).await?;
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
    let mut spec = ssr::spec(&form)?;
    let flavors = ssr::flavors(&st).await?;
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
}

/// A cluster's record and node groups, without asking the cloud: what the node group
/// pages show (and a much smaller answer for the browser to read than the whole page's).
#[server(endpoint = "cluster_groups")]
pub async fn get_cluster_groups(id: String) -> Result<ClusterGroups, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let (cluster, groups) = provision::clusters::groups(&st.store, &actor, &id).await?;
    Ok(ClusterGroups {
        cluster: ssr::row_with_creator(&st.store, &cluster, &groups).await?,
        node_groups: groups.iter().map(ssr::node_group).collect(),
    })
}

/// The cluster's page: the record and what the cloud holds of it, drawn on the server.
#[server(endpoint = "cluster")]
pub async fn get_cluster(id: String) -> Result<ClusterPageDto, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let v = provision::clusters::view(&st.store, st.cloud.as_ref(), &actor, &id).await?;
    let cluster = ssr::row_with_creator(&st.store, &v.cluster, &v.node_groups).await?;
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
            let k = provision::clusters::kube_status::read(&st.store, &st.secret_key, &actor, &id)
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
        node_groups: v.node_groups.iter().map(ssr::node_group).collect(),
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
        html: crate::pages::clusters::cluster_html(detail),
    })
}

/// A cluster's services and persistent volumes (the store alone, no cloud reads).
#[server(endpoint = "cluster_workloads")]
pub async fn get_cluster_workloads(id: String) -> Result<ClusterWorkloads, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let v = provision::clusters::workloads(&st.store, &actor, &id).await?;
    Ok(ClusterWorkloads {
        id: v.cluster.id,
        name: v.cluster.name,
        status: v.cluster.status,
        status_reason: v.cluster.status_reason,
        services: v
            .services
            .iter()
            .map(|x| ServiceDto {
                name: x.name.clone(),
                ports: x
                    .ports
                    .iter()
                    .map(|p| format!("{}→{}", p.port, p.node_port.unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", "),
                status: x.status.clone(),
                status_reason: x.status_reason.clone(),
                vip: x.vip.clone(),
            })
            .collect(),
        persistent_volumes: v
            .persistent_volumes
            .iter()
            .map(|x| PersistentVolumeDto {
                name: x.name.clone(),
                size_gib: x.size_gib,
                status: x.status.clone(),
                status_reason: x.status_reason.clone(),
            })
            .collect(),
        can_edit: v.role.allows(provision::authz::Action::Mutate),
        busy: v.busy,
    })
}

/// What deleting the cluster removes (read from the cloud), and the cluster's name to
/// type.
#[server(endpoint = "cluster_delete_plan")]
pub async fn cluster_delete_plan(id: String) -> Result<(ClusterRowDto, PlanDto), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let (cluster, _) =
        provision::clusters::cluster_for(&st.store, &actor, &id, provision::authz::Action::Mutate)
            .await?;
    let plan = provision::clusters::plan::delete_plan(st.cloud.as_ref(), &cluster.id).await?;
    Ok((ssr::row(&cluster, 0, String::new()), ssr::plan(&plan, true)))
}

/// Deletes the cluster once its name is typed, if the plan read is still the plan.
#[server(endpoint = "cluster_delete")]
pub async fn delete_cluster(id: String, confirm: String, plan_id: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let (cluster, _) =
        provision::clusters::cluster_for(&st.store, &actor, &id, provision::authz::Action::Mutate)
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
}

/// The plan of scaling a node group to `node_count` (changes nothing).
#[server(endpoint = "nodegroup_plan")]
pub async fn node_group_plan(
    id: String,
    group: String,
    node_count: String,
) -> Result<PlanDto, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let change = provision::clusters::NodeGroupChange {
        node_count: Some(ssr::count(&node_count)?),
        ..Default::default()
    };
    let plan =
        provision::clusters::scale_plan(&st.store, st.cloud.as_ref(), &actor, &id, &group, &change)
            .await?;
    Ok(ssr::plan(&plan, false))
}

/// Scales a node group as planned, then back to the cluster's page.
#[server(endpoint = "nodegroup_scale")]
pub async fn scale_node_group(
    id: String,
    group: String,
    node_count: String,
    plan_id: String,
) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let change = provision::clusters::NodeGroupChange {
        node_count: Some(ssr::count(&node_count)?),
        ..Default::default()
    };
    if !plan_id.is_empty() {
        let plan = provision::clusters::scale_plan(
            &st.store,
            st.cloud.as_ref(),
            &actor,
            &id,
            &group,
            &change,
        )
        .await?;
        provision::clusters::plan::check_unchanged(&plan, Some(&plan_id))?;
    }
    provision::clusters::scale(
        &st.store,
        &st.engine,
        st.cloud.as_ref(),
        &actor,
        &id,
        &group,
        change,
    )
    .await?;
    leptos_axum::redirect(&format!("/clusters/{id}"));
    Ok(())
}

/// The plan of adding a node group (changes nothing).
#[server(endpoint = "nodegroup_create_plan")]
pub async fn node_group_create_plan(
    id: String,
    name: String,
    flavor: String,
    node_count: String,
    min_node_count: String,
    max_node_count: String,
) -> Result<PlanDto, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let group = ssr::group(
        &name,
        &flavor,
        &node_count,
        &min_node_count,
        &max_node_count,
    )?;
    let flavors = ssr::flavors(&st).await?;
    let plan = provision::clusters::node_group_create_plan(
        &st.store,
        st.cloud.as_ref(),
        &actor,
        &id,
        &group,
        &flavors,
    )
    .await?;
    Ok(ssr::plan(&plan, false))
}

/// Adds the node group of the plan the user read (`plan_id`), then back to the
/// cluster's page.
#[server(endpoint = "nodegroup_create")]
pub async fn create_node_group(
    id: String,
    name: String,
    flavor: String,
    node_count: String,
    min_node_count: String,
    max_node_count: String,
    plan_id: String,
) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let group = ssr::group(
        &name,
        &flavor,
        &node_count,
        &min_node_count,
        &max_node_count,
    )?;
    let flavors = ssr::flavors(&st).await?;
    if !plan_id.is_empty() {
        let plan = provision::clusters::node_group_create_plan(
            &st.store,
            st.cloud.as_ref(),
            &actor,
            &id,
            &group,
            &flavors,
        )
        .await?;
        provision::clusters::plan::check_unchanged(&plan, Some(&plan_id))?;
    }
    provision::clusters::node_group_create(&st.store, &st.engine, &actor, &id, group, &flavors)
        .await?;
    leptos_axum::redirect(&format!("/clusters/{id}"));
    Ok(())
}

/// Deletes a node group (a cluster keeps at least one).
#[server(endpoint = "nodegroup_delete")]
pub async fn delete_node_group(id: String, group: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    provision::clusters::node_group_delete(
        &st.store,
        &st.engine,
        st.cloud.as_ref(),
        &actor,
        &id,
        &group,
    )
    .await?;
    leptos_axum::redirect(&format!("/clusters/{id}"));
    Ok(())
}

/// Exposes a service on a load balancer: one port, the node port picked when blank.
#[server(endpoint = "service_expose")]
pub async fn expose_service(
    id: String,
    name: String,
    port: String,
    node_port: String,
) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| provision::Error::invalid("ports", "The port is a number from 1 to 65535."))?;
    let node_port = match node_port.trim() {
        "" => None,
        n => Some(n.parse::<u16>().map_err(|_| {
            provision::Error::invalid("ports", "The node port is a number from 30000 to 32767.")
        })?),
    };
    provision::clusters::workloads::service_create(
        &st.store,
        &st.engine,
        st.cloud.as_ref(),
        &actor,
        &id,
        provision::clusters::workloads::ServiceSpec {
            name: name.trim().to_string(),
            ports: vec![provision::clusters::workloads::ServicePort { port, node_port }],
        },
    )
    .await?;
    leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
    Ok(())
}

/// Creates a persistent volume.
#[server(endpoint = "volume_create")]
pub async fn create_volume(id: String, name: String, size_gib: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let size_gib: u64 = size_gib
        .trim()
        .parse()
        .map_err(|_| provision::Error::invalid("size_gib", "The size is a whole number of GiB."))?;
    provision::clusters::workloads::volume_create(
        &st.store,
        &st.engine,
        st.cloud.as_ref(),
        &actor,
        &id,
        provision::clusters::workloads::VolumeRequest {
            name: name.trim().to_string(),
            size_gib,
            volume_type: None,
        },
    )
    .await?;
    leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
    Ok(())
}

/// Removes a service (`what` = service) or a persistent volume (`what` = volume).
#[server(endpoint = "workload_delete")]
pub async fn delete_workload(id: String, what: String, name: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    match what.as_str() {
        "service" => {
            provision::clusters::workloads::service_delete(
                &st.store, &st.engine, &actor, &id, &name,
            )
            .await?
        }
        "volume" => {
            provision::clusters::workloads::volume_delete(&st.store, &st.engine, &actor, &id, &name)
                .await?
        }
        _ => return Err(provision::Error::invalid("what", "Delete a service or a volume.").into()),
    };
    leptos_axum::redirect(&format!("/clusters/{id}/workloads"));
    Ok(())
}

/// Runs a failed operation of the cluster again.
#[server(endpoint = "operation_retry")]
pub async fn retry_operation(id: String, operation: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    provision::operations::retry(&st.store, &st.engine, &actor, &operation).await?;
    leptos_axum::redirect(&format!("/clusters/{id}"));
    Ok(())
}

/// The admin's overview: clusters and operations at a glance, the cloud's capacity,
/// and the operations that are running, failed or stuck.
#[server(endpoint = "admin_overview")]
pub async fn get_admin_overview() -> Result<AdminOverview, AppError> {
    use crate::ssr::*;
    use provision::ops::OpState;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let st = state()?;
    let overview = provision::admin::overview(&st.store, &actor).await?;
    let capacity = provision::admin::capacity(st.cloud.as_ref(), &actor).await?;
    let operations = provision::operations::list_all(
        &st.store,
        &actor,
        &[
            OpState::Pending,
            OpState::Running,
            OpState::Unwinding,
            OpState::Failed,
            OpState::Stuck,
        ],
    )
    .await?;
    Ok(AdminOverview {
        clusters_by_status: overview.clusters_by_status,
        operations_24h: overview.operations_24h,
        hosts: capacity
            .hosts
            .iter()
            .map(|h| HostDto {
                name: h.name.clone(),
                vcpus_used: h.vcpus_used,
                vcpus: h.vcpus,
                ram_used_mib: h.ram_used_mib,
                ram_mib: h.ram_mib,
            })
            .collect(),
        load_balancers: capacity.load_balancers,
        volumes: capacity.volumes,
        volume_gib: capacity.volume_gib,
        cloud_error: capacity.error,
        operations: operations
            .iter()
            .rev()
            .take(100)
            .map(|o| AdminOperationDto {
                id: o.id.clone(),
                kind: o.kind.clone(),
                state: o.state.as_str().to_string(),
                project_id: o.project_id.clone(),
                target_id: o.target_id.clone(),
                done: o.steps_done,
                total: o.steps_total,
                error: o.error.clone(),
                created_at: o.created_at,
            })
            .collect(),
    })
}

/// The clusters of every project (the newest 200), each with its project's name.
#[server(endpoint = "admin_clusters")]
pub async fn get_admin_clusters() -> Result<Vec<(ClusterRowDto, String)>, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let clusters = provision::admin::clusters(&state()?.store, &actor, 200).await?;
    Ok(clusters
        .iter()
        .map(|(c, p)| (ssr::row(c, 0, String::new()), p.clone()))
        .collect())
}

/// The Kubernetes versions and the cloud's flavors, each with whether it is on offer.
#[server(endpoint = "admin_offer")]
pub async fn get_admin_offer() -> Result<AdminOffer, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let st = state()?;
    let versions = provision::clusters::versions::list(&st.store, true).await?;
    // Without the cloud's flavors the versions still show, and the page says why the
    // flavors do not.
    let (flavors, cloud_error) = match ssr::flavors(&st).await {
        Ok(f) => (f, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let offers = provision::clusters::flavors::list(&st.store, &flavors).await?;
    Ok(AdminOffer {
        cloud_error,
        versions: versions
            .into_iter()
            .map(|v| VersionDto {
                version: v.version,
                image: v.image,
                enabled: v.enabled,
            })
            .collect(),
        flavors: offers.into_iter().map(ssr::flavor).collect(),
    })
}

/// Every project's quota beside what it uses.
#[server(endpoint = "admin_quota_table")]
pub async fn get_admin_quotas() -> Result<Vec<ProjectQuotaDto>, AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let st = state()?;
    // The cloud's flavors size the usage; without them the usage of vCPUs and RAM
    // reads 0 and the limits can still be set.
    let flavors = ssr::flavors(&st).await.unwrap_or_default();
    let quotas = provision::admin::project_quotas(&st.store, &actor, &flavors, 500).await?;
    let q = |q: &provision::quotas::Quota| QuotaDto {
        clusters: q.clusters,
        vcpus: q.vcpus,
        ram_mib: q.ram_mib,
        volume_gib: q.volume_gib,
        load_balancers: q.load_balancers,
    };
    let u = |u: &provision::quotas::Usage| QuotaDto {
        clusters: u.clusters,
        vcpus: u.vcpus,
        ram_mib: u.ram_mib,
        volume_gib: u.volume_gib,
        load_balancers: u.load_balancers,
    };
    Ok(quotas
        .iter()
        .map(|p| ProjectQuotaDto {
            project_id: p.project_id.clone(),
            name: p.name.clone(),
            personal_of: p.personal_of.clone(),
            quota: q(&p.quota),
            usage: u(&p.usage),
        })
        .collect())
}

/// Offers a flavor or stops offering it (admins).
#[server(endpoint = "admin_flavor")]
pub async fn admin_flavor(name: String, enabled: bool) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    provision::clusters::flavors::set(&st.store, st.cloud.as_ref(), &actor, &name, enabled).await?;
    Ok(())
}

/// Sets a project's quota (admins), then back to the quotas card.
#[server(endpoint = "admin_quota")]
pub async fn admin_quota(
    project_id: String,
    clusters: String,
    vcpus: String,
    ram_mib: String,
    volume_gib: String,
    load_balancers: String,
) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let limit = |field: &'static str, label: &str, v: &str| -> Result<i64, AppError> {
        v.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                provision::Error::invalid(
                    field,
                    format!("{label} must be a whole number, 0 or more."),
                )
                .into()
            })
    };
    let quota = provision::quotas::Quota {
        clusters: limit("clusters", "Clusters", &clusters)?,
        vcpus: limit("vcpus", "vCPUs", &vcpus)?,
        ram_mib: limit("ram_mib", "RAM", &ram_mib)?,
        volume_gib: limit("volume_gib", "Volume GiB", &volume_gib)?,
        load_balancers: limit("load_balancers", "Load balancers", &load_balancers)?,
    };
    provision::admin::set_quota(&state()?.store, &actor, &project_id, &quota).await?;
    leptos_axum::redirect("/admin/quotas?saved=quota");
    Ok(())
}

/// An operation with its steps and events, for someone who may see its project.
#[server(endpoint = "operation")]
pub async fn get_operation(id: String) -> Result<OperationDetail, AppError> {
    use crate::ssr::*;
    use provision::authz::{authorize, Action};
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    let op = provision::operations::visible(&st.store, &actor, &id, Action::View).await?;
    let can_act = authorize(&st.store, &actor, &op.project_id, Action::Mutate)
        .await
        .is_ok();
    let steps = st.store.op_steps(&op.id).await?;
    let events = st.store.op_events(&op.id).await?;
    let skip = events.len().saturating_sub(200);
    Ok(OperationDetail {
        operation: OperationDto {
            id: op.id.clone(),
            kind: op.kind.clone(),
            state: op.state.as_str().to_string(),
            done: op.steps_done,
            total: op.steps_total,
            current: steps
                .iter()
                .filter(|s| s.state.as_str() == "running")
                .map(|s| s.step.clone())
                .collect(),
            error: op.error.clone(),
            retryable: op.retryable.unwrap_or(false),
            created_at: op.created_at,
            finished: !op.state.unfinished(),
        },
        cluster_id: op.target_id.clone(),
        steps: steps
            .into_iter()
            .map(|s| StepDto {
                state: s.state.as_str().to_string(),
                step: s.step,
                attempts: s.attempts,
                error: s.error,
                started_at: s.started_at,
                finished_at: s.finished_at,
            })
            .collect(),
        events: events
            .into_iter()
            .skip(skip)
            .map(|e| EventDto {
                at: e.at,
                step: e.step,
                event: e.event,
                detail: e.detail,
            })
            .collect(),
        can_act,
        is_admin: actor.is_admin,
    })
}

/// Retries or aborts an operation from its page (`action` = retry or abort); the
/// core decides who may (members retry failed ones, only admins stuck ones).
#[server(endpoint = "operation_change")]
pub async fn change_operation(operation: String, action: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    match action.as_str() {
        "retry" => provision::operations::retry(&st.store, &st.engine, &actor, &operation).await?,
        "abort" => provision::operations::abort(&st.store, &st.engine, &actor, &operation).await?,
        _ => return Err(provision::Error::invalid("action", "Retry or abort.").into()),
    };
    leptos_axum::redirect(&format!("/operations/{operation}"));
    Ok(())
}

/// Retries or aborts any project's operation (admins; `action` = retry or abort).
#[server(endpoint = "admin_operation")]
pub async fn admin_operation(operation: String, action: String) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    provision::accounts::require_admin(&actor)?;
    let st = state()?;
    match action.as_str() {
        "retry" => provision::operations::retry(&st.store, &st.engine, &actor, &operation).await?,
        "abort" => provision::operations::abort(&st.store, &st.engine, &actor, &operation).await?,
        _ => return Err(provision::Error::invalid("action", "Retry or abort.").into()),
    };
    Ok(())
}

/// Offers a Kubernetes version or stops offering it (admins).
#[server(endpoint = "admin_version")]
pub async fn admin_version(version: String, enabled: bool) -> Result<(), AppError> {
    use crate::ssr::*;
    let (actor, _, _) = require_actor().await?;
    let st = state()?;
    provision::clusters::versions::set(
        &st.store,
        st.cloud.as_ref(),
        &actor,
        &version,
        enabled,
        None,
    )
    .await?;
    Ok(())
}
