//! A cluster's node groups: list, show, add, scale or change bounds, delete, each change
//! with its plan (`dry_run`, `plan_id`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use provision::authz::Action;
use provision::clusters;
use provision::Error;

use super::clusters::visible_cluster;
use super::query::{parse, query, ProjectQuery};
use super::{accepted, flavors, ApiResult, ApiState, Caller};
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
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let groups = state.store.node_groups_of(&cluster.id).await?;
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
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let group = state
        .store
        .node_groups_of(&cluster.id)
        .await?
        .into_iter()
        .find(|n| n.name == ng || n.id == ng)
        .ok_or_else(|| Error::NotFound(format!("Node group {ng} not found.")))?;
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
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let change: clusters::NodeGroupChange = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("The body is not a node group change: {e}")))?;
    if q.dry_run.unwrap_or(false) || q.plan_id.is_some() {
        let plan = clusters::scale_plan(
            &state.store,
            state.cloud.as_ref(),
            &caller.actor,
            &cluster.id,
            &ng,
            &change,
        )
        .await?;
        if q.dry_run.unwrap_or(false) {
            return Ok(Json(PlanBody { plan }).into_response());
        }
        clusters::plan::check_unchanged(&plan, q.plan_id.as_deref())?;
    }
    let op = clusters::scale(
        &state.store,
        &state.engine,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        &ng,
        change,
    )
    .await?;
    let group = state
        .store
        .node_groups_of(&cluster.id)
        .await?
        .into_iter()
        .find(|n| n.name == ng)
        .ok_or_else(|| Error::NotFound(format!("Node group {ng} not found.")))?;
    let status = if op.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(NodeGroupChanged {
            node_group: (&group).into(),
            operation: op.as_ref().map(OperationView::from),
        }),
    )
        .into_response())
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
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let group: clusters::NodeGroupSpec = parse(&body, "a node group")?;
    let flavors = flavors(&state).await?;
    if q.dry_run.unwrap_or(false) || q.plan_id.is_some() {
        let plan = clusters::node_group_create_plan(
            &state.store,
            state.cloud.as_ref(),
            &caller.actor,
            &cluster.id,
            &group,
            &flavors,
        )
        .await?;
        if q.dry_run.unwrap_or(false) {
            return Ok(Json(PlanBody { plan }).into_response());
        }
        clusters::plan::check_unchanged(&plan, q.plan_id.as_deref())?;
    }
    let (ng, op) = clusters::node_group_create(
        &state.store,
        &state.engine,
        &caller.actor,
        &cluster.id,
        group,
        &flavors,
    )
    .await?;
    Ok(accepted(NodeGroupChanged {
        node_group: (&ng).into(),
        operation: Some((&op).into()),
    }))
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
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let plan = clusters::node_group_delete_plan(
        &state.store,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        &ng,
    )
    .await?;
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
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, ng)): Path<(String, String)>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    if let Some(expected) = q.plan_id.as_deref() {
        let plan = clusters::node_group_delete_plan(
            &state.store,
            state.cloud.as_ref(),
            &caller.actor,
            &cluster.id,
            &ng,
        )
        .await?;
        clusters::plan::check_unchanged(&plan, Some(expected))?;
    }
    let op = clusters::node_group_delete(
        &state.store,
        &state.engine,
        state.cloud.as_ref(),
        &caller.actor,
        &cluster.id,
        &ng,
    )
    .await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}
