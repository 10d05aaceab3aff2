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
#[cfg(feature = "ssr")]
use provision::{authz::Action, Intent};

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
            status: forms::status(&status)?,
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
        let flavors = st.flavors().await?;
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
        let spec = forms::spec(&form)?;
        let st = state()?;
        let out = st
            .cluster_create(&actor, &project, spec, Intent::Plan)
            .await?;
        let plan = out.into_plan()?;
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
        let spec = forms::spec(&form)?;
        let intent = Intent::from_query(false, Some(&plan_id));
        let st = state()?;
        let started = st.cluster_create(&actor, &project, spec, intent).await?;
        let started = started.into_started()?;
        leptos_axum::redirect(&format!("/clusters/{}", started.cluster.id));
        Ok(())
    })
    .await
}

/// The cluster's page: the record and what the cloud holds of it, drawn on the server.
#[server(endpoint = "cluster")]
pub async fn get_cluster(id: ClusterId) -> Result<ClusterPageDto, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let detail = super::cluster_page::detail(&state()?, &actor, &id).await?;
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
pub async fn cluster_delete_plan(id: ClusterId) -> Result<(ClusterRowDto, PlanDto), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        // Only who may delete it sees what deleting it removes.
        let (cluster, _) = st.cluster(&actor, &id, Action::Mutate).await?;
        let plan = st
            .cluster_delete(&actor, &id, Intent::Plan)
            .await?
            .into_plan()?;
        Ok((
            convert::row(&cluster, 0, String::new()),
            convert::plan(&plan, true),
        ))
    })
    .await
}

/// Deletes the cluster once its name is typed, if the plan read is still the plan.
#[server(endpoint = "cluster_delete")]
pub async fn delete_cluster(
    id: ClusterId,
    confirm: String,
    plan_id: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let (cluster, _) = st.cluster(&actor, &id, Action::Mutate).await?;
        if confirm.trim() != cluster.name {
            return Err(provision::Error::invalid(
                "confirm",
                format!("Type the cluster's name, {}, to delete it.", cluster.name),
            )
            .into());
        }
        let intent = Intent::from_query(false, Some(&plan_id));
        st.cluster_delete(&actor, &id, intent).await?;
        leptos_axum::redirect(&format!("/clusters/{}", cluster.id));
        Ok(())
    })
    .await
}
