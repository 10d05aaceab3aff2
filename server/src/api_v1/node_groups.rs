//! A cluster's node groups: list, show, add, scale or change bounds, delete, each change
//! with its plan (`dry_run`, `plan_id`); autoscaling on or off.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::{ClusterId, NodeGroupId};
use provision::authz::Action;
use provision::clusters::{self, NodeGroup};
use provision::{Error, Intent, Outcome};

use super::clusters::visible_cluster;
use super::query::{parse, ProjectQuery};
use super::{accepted, planned, ApiResult, AppState, Caller};
use crate::views::*;

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/nodegroups",
    summary = "The cluster's node groups",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "Node groups", body = NodeGroupList),
        ApiErrors,
    )
)]
pub(super) async fn node_group_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let groups = state.core.store.node_groups_of(&cluster.id).await?;
    Ok(Json(NodeGroupList {
        node_groups: groups.iter().map(NodeGroupView::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}",
    summary = "A node group",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name")),
    responses(
        (status = 200, description = "The node group", body = NodeGroupShown),
        ApiErrors,
    )
)]
pub(super) async fn node_group_show(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, ng)): Path<(ClusterId, NodeGroupId)>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let group = node_group_named(&state, &cluster.id, &ng).await?;
    Ok(Json(NodeGroupShown {
        node_group: (&group).into(),
    }))
}

/// `PATCH` a node group: `node_count`, `min_node_count`, `max_node_count`, and
/// optionally `remove_nodes` (names) when shrinking.
#[utoipa::path(
    patch,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}",
    summary = "Scale a node group or change its bounds (remove_nodes names the nodes to remove when shrinking; else the newest go). dry_run=true: the plan",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name"), ProjectQuery),
    request_body = provision::clusters::NodeGroupChange,
    responses(
        (status = 200, description = "Bounds changed, or the plan (dry_run=true)", content((NodeGroupChanged = "application/json"), (PlanBody = "application/json"))),
        (status = 202, description = "Scaling: the node group and its operation", body = NodeGroupChanged),
        ApiErrors,
    )
)]
pub(super) async fn node_group_update(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, ng)): Path<(ClusterId, NodeGroupId)>,
    q: ProjectQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let change: clusters::NodeGroupChange = parse(&body, "a node group change")?;
    let out = state
        .core
        .node_group_scale(&caller.actor, &id, &ng, change, q.intent())
        .await?;
    let op = match out {
        Outcome::Planned(plan) => return Ok(Json(PlanBody { plan: *plan }).into_response()),
        Outcome::Started(op) => op,
    };
    let group = node_group_named(&state, &cluster.id, &ng).await?;
    let status = match op {
        Some(_) => StatusCode::ACCEPTED,
        None => StatusCode::OK,
    };
    let node_group = (&group).into();
    let operation = op.as_ref().map(OperationView::from);
    let changed = NodeGroupChanged {
        node_group,
        operation,
    };
    Ok((status, Json(changed)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/nodegroups",
    summary = "Add a node group (dry_run=true: its plan; plan_id: apply only that plan)",
    params(("id" = String, Path, description = "The cluster's id"), ProjectQuery),
    request_body = provision::clusters::NodeGroupSpec,
    responses(
        (status = 200, description = "The plan (dry_run=true)", body = PlanBody),
        (status = 202, description = "The node group and its operation", body = NodeGroupChanged),
        ApiErrors,
    )
)]
pub(super) async fn node_group_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
    q: ProjectQuery,
    body: Bytes,
) -> ApiResult<Response> {
    // Not found before the body is read, as everywhere under the cluster.
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let group: clusters::NodeGroupSpec = parse(&body, "a node group")?;
    let out = state
        .core
        .node_group_create(&caller.actor, &id, group, q.intent())
        .await?;
    planned(out, |(ng, op)| {
        accepted(NodeGroupChanged {
            node_group: (&ng).into(),
            operation: Some((&op).into()),
        })
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}/plan-delete",
    summary = "What deleting the node group removes (its workers as the cloud has them)",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name")),
    responses(
        (status = 200, description = "The plan", body = PlanBody),
        ApiErrors,
    )
)]
pub(super) async fn node_group_plan_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, ng)): Path<(ClusterId, NodeGroupId)>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let out = state
        .core
        .node_group_delete(&caller.actor, &id, &ng, Intent::Plan)
        .await?;
    let plan = out.into_plan()?;
    Ok(Json(PlanBody { plan }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}",
    summary = "Delete a node group and its workers (a cluster keeps at least one)",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name"), ProjectQuery),
    responses(
        (status = 202, description = "Its operation", body = OperationStarted),
        ApiErrors,
    )
)]
pub(super) async fn node_group_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, ng)): Path<(ClusterId, NodeGroupId)>,
    q: ProjectQuery,
) -> ApiResult<Response> {
    // A delete is planned with plan-delete; `dry_run` is not one of its parameters.
    let intent = Intent::from_query(false, q.plan_id.as_deref());
    let out = state
        .core
        .node_group_delete(&caller.actor, &id, &ng, intent);
    let op = out.await?.into_started()?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

/// `PUT` a node group's autoscaling: on between `min_node_count` and
/// `max_node_count` (the autoscaler grows it for unschedulable pods and removes
/// underused nodes, never past the bounds; a manual resize is refused while it is on),
/// or off.
#[utoipa::path(
    put,
    path = "/api/v1/clusters/{id}/nodegroups/{ng}/autoscaling",
    summary = "Turn autoscaling of a node group on (between min_node_count and max_node_count) or off",
    params(("id" = String, Path, description = "The cluster's id"), ("ng" = String, Path, description = "The node group's name")),
    request_body = provision::clusters::Autoscaling,
    responses(
        (status = 200, description = "The node group as it is now", body = NodeGroupShown),
        ApiErrors,
    )
)]
pub(super) async fn node_group_autoscale(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, ng)): Path<(ClusterId, NodeGroupId)>,
    body: Bytes,
) -> ApiResult<Json<impl serde::Serialize>> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let asked: clusters::Autoscaling = parse(&body, "autoscaling")?;
    let group = state
        .core
        .node_group_autoscale(&caller.actor, &id, &ng, &asked)
        .await?;
    Ok(Json(NodeGroupShown {
        node_group: (&group).into(),
    }))
}

/// The cluster's node group by name (or id).
async fn node_group_named(state: &AppState, cluster: &str, ng: &str) -> ApiResult<NodeGroup> {
    let groups = state.core.store.node_groups_of(cluster).await?;
    let found = groups.into_iter().find(|n| n.name == ng || n.id == ng);
    Ok(found.ok_or_else(|| Error::NotFound(format!("Node group {ng} not found.")))?)
}
