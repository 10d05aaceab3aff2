//! Server functions of the node group pages: scaling with its plan, adding with its
//! plan, deleting, autoscaling on or off.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::{convert, forms, lookup};
use crate::dto::*;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use provision::Intent;

/// A cluster's record and node groups, without asking the cloud: what the node group
/// pages show (and a much smaller answer for the browser to read than the whole page's).
#[server(endpoint = "cluster_groups")]
pub async fn get_cluster_groups(id: ClusterId) -> Result<ClusterGroups, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let (cluster, groups) = provision::clusters::groups(&st.store, &actor, &id).await?;
        Ok(ClusterGroups {
            cluster: lookup::row_with_creator(&st.store, &cluster, &groups).await?,
            node_groups: groups.iter().map(convert::node_group).collect(),
        })
    })
    .await
}

/// The plan of scaling a node group to `node_count` (changes nothing).
#[server(endpoint = "nodegroup_plan")]
pub async fn node_group_plan(
    id: ClusterId,
    group: NodeGroupId,
    node_count: String,
) -> Result<PlanDto, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let change = forms::scale(&node_count)?;
        let st = state()?;
        let out = st.node_group_scale(&actor, &id, &group, change, Intent::Plan);
        Ok(convert::plan(&out.await?.into_plan()?, false))
    })
    .await
}

/// Scales a node group as planned, then back to the cluster's page.
#[server(endpoint = "nodegroup_scale")]
pub async fn scale_node_group(
    id: ClusterId,
    group: NodeGroupId,
    node_count: String,
    plan_id: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let change = forms::scale(&node_count)?;
        let intent = Intent::from_query(false, Some(&plan_id));
        let st = state()?;
        st.node_group_scale(&actor, &id, &group, change, intent)
            .await?;
        leptos_axum::redirect(&format!("/clusters/{id}"));
        Ok(())
    })
    .await
}

/// The plan of adding a node group (changes nothing).
#[server(endpoint = "nodegroup_create_plan")]
pub async fn node_group_create_plan(
    id: ClusterId,
    name: String,
    flavor: String,
    node_count: String,
    min_node_count: String,
    max_node_count: String,
) -> Result<PlanDto, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let group = forms::group(
            &name,
            &flavor,
            &node_count,
            &min_node_count,
            &max_node_count,
        )?;
        let st = state()?;
        let out = st.node_group_create(&actor, &id, group, Intent::Plan);
        Ok(convert::plan(&out.await?.into_plan()?, false))
    })
    .await
}

/// Adds the node group of the plan the user read (`plan_id`), then back to the
/// cluster's page.
#[server(endpoint = "nodegroup_create")]
pub async fn create_node_group(
    id: ClusterId,
    name: String,
    flavor: String,
    node_count: String,
    min_node_count: String,
    max_node_count: String,
    plan_id: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let group = forms::group(
            &name,
            &flavor,
            &node_count,
            &min_node_count,
            &max_node_count,
        )?;
        let intent = Intent::from_query(false, Some(&plan_id));
        state()?
            .node_group_create(&actor, &id, group, intent)
            .await?;
        leptos_axum::redirect(&format!("/clusters/{id}"));
        Ok(())
    })
    .await
}

/// Turns autoscaling of a node group on or off with its bounds, then back to the
/// cluster's page.
#[server(endpoint = "nodegroup_autoscale")]
pub async fn autoscale_node_group(
    id: ClusterId,
    group: NodeGroupId,
    enabled: String,
    min_node_count: String,
    max_node_count: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let asked = forms::autoscaling(&enabled, &min_node_count, &max_node_count)?;
        state()?
            .node_group_autoscale(&actor, &id, &group, &asked)
            .await?;
        leptos_axum::redirect(&format!("/clusters/{id}"));
        Ok(())
    })
    .await
}

/// Deletes a node group (a cluster keeps at least one).
#[server(endpoint = "nodegroup_delete")]
pub async fn delete_node_group(id: ClusterId, group: NodeGroupId) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        st.node_group_delete(&actor, &id, &group, Intent::Apply)
            .await?;
        leptos_axum::redirect(&format!("/clusters/{id}"));
        Ok(())
    })
    .await
}
