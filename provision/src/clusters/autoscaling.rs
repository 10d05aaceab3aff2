//! Node group autoscaling as the core changes it: turning it on or off with the bounds
//! it keeps to, and the changes the autoscaler itself makes (a normal scale, with its
//! plan, allowed where a manual resize is refused). What to change is decided in
//! [`crate::controllers::autoscale`].

use serde::Deserialize;

use crate::authz::Action;
use crate::domain::{Actor, Outcome};
use crate::ops::{Engine, OperationRow};
use crate::{Error, Result, Store};

use super::lifecycle::cluster_for;
use super::node_groups::{plan_by, scale_by, By};
use super::{plan, NodeGroup, NodeGroupChange, MAX_NODES};

/// What a manual resize of an autoscaled group is answered.
pub const RESIZE_REFUSED: &str = "Autoscaling is on for this node group; change its minimum and maximum, or turn autoscaling off to resize it by hand.";

/// Autoscaling of a node group as asked: on (between the bounds) or off. Bounds left
/// out stay as they are.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    pub enabled: bool,
    pub min_node_count: Option<u32>,
    pub max_node_count: Option<u32>,
}

/// Turns autoscaling of a node group on or off and sets its bounds. Turned on, the
/// group may be outside the new bounds: the autoscaler brings it in. Turned off, the
/// bounds must hold the group as it is.
pub async fn node_group_autoscale(
    store: &Store,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
    asked: &Autoscaling,
) -> Result<NodeGroup> {
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    let ng = store
        .node_groups_of(cluster_id)
        .await?
        .into_iter()
        .find(|n| n.name == node_group || n.id == node_group)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))?;
    let min = asked.min_node_count.unwrap_or(ng.min_node_count as u32);
    let max = asked.max_node_count.unwrap_or(ng.max_node_count as u32);
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
    if asked.enabled && max == 0 {
        return Err(Error::invalid(
            "max_node_count",
            "An autoscaled node group may grow to at least one node.",
        ));
    }
    let count = ng.node_count as u32;
    if !asked.enabled && (count < min || count > max) {
        return Err(Error::invalid(
            "min_node_count",
            format!("The group has {count} nodes; without autoscaling its bounds must hold them."),
        ));
    }
    store
        .node_group_set_autoscale(&ng.id, asked.enabled, min as i64, max as i64)
        .await?;
    let what = if asked.enabled {
        format!("on, {min} to {max} nodes (now {count})")
    } else {
        format!("off, bounds {min} to {max} (now {count})")
    };
    crate::accounts::audit(
        store,
        actor,
        Some(&cluster.project_id),
        "node_group.autoscale",
        &format!("{}/{}", cluster.name, ng.name),
        Outcome::Success,
        &what,
    )
    .await?;
    store
        .node_groups_of(cluster_id)
        .await?
        .into_iter()
        .find(|n| n.id == ng.id)
        .ok_or_else(|| Error::NotFound(format!("Node group {node_group} not found.")))
}

/// The plan of a change the autoscaler makes (as [`super::scale_plan`], allowed on an
/// autoscaled group).
pub async fn autoscaler_plan(
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
        By::Autoscaler,
    )
    .await
}

/// Applies a change of the autoscaler if its plan is still `planned` (the normal scale
/// operation), and records it, with the plan and why, in the audit log.
#[allow(clippy::too_many_arguments)]
pub async fn autoscaler_scale(
    store: &Store,
    engine: &Engine,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    cluster_id: &str,
    node_group: &str,
    change: NodeGroupChange,
    why: &str,
) -> Result<Option<OperationRow>> {
    let planned = autoscaler_plan(store, cloud, actor, cluster_id, node_group, &change).await?;
    let (cluster, _) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let op = scale_by(
        store,
        engine,
        cloud,
        actor,
        cluster_id,
        node_group,
        change.clone(),
        By::Autoscaler,
    )
    .await?;
    let names = |action: &str| {
        planned
            .resources
            .iter()
            .filter(|r| r.action == action)
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let detail = format!(
        "{why}; to {} nodes; plan {}: create [{}] delete [{}]; operation {}",
        change.node_count.unwrap_or_default(),
        planned.plan_id,
        names("create"),
        names("delete"),
        op.as_ref().map_or("none", |o| o.id.as_str()),
    );
    crate::accounts::audit(
        store,
        actor,
        Some(&cluster.project_id),
        "node_group.autoscale_resize",
        &format!("{}/{node_group}", cluster.name),
        Outcome::Success,
        &detail,
    )
    .await?;
    Ok(op)
}
