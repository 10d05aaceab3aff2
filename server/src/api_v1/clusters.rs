//! Clusters: list, create (with its plan), show, delete (with its plan), and
//! [`visible_cluster`], which every handler under `/clusters/{id}` starts with.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use model::ClusterId;
use provision::authz::Action;
use provision::clusters::{self, Cluster, ClusterSpec};
use provision::Intent;

use super::query::{parse, project_of, ProjectQuery};
use super::{accepted, planned, ApiResult, AppState, Caller};
use crate::views::*;

#[utoipa::path(
    get,
    path = "/api/v1/clusters",
    summary = "List the project's clusters",
    params(ProjectQuery),
    responses(
        (status = 200, description = "Clusters", body = ClusterList),
        ApiErrors,
    )
)]
pub(super) async fn cluster_list(
    State(state): State<AppState>,
    caller: Caller,
    q: ProjectQuery,
) -> ApiResult<Json<impl serde::Serialize>> {
    let project = project_of(&state, &caller, &q).await?;
    let list = state.core.cluster_list(&caller.actor, &project).await?;
    Ok(Json(ClusterList { clusters: list }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters",
    summary = "Create a cluster (dry_run=true: its plan; plan_id: apply only that plan)",
    params(ProjectQuery),
    request_body = provision::clusters::ClusterSpec,
    responses(
        (status = 200, description = "The plan (dry_run=true)", body = PlanBody),
        (status = 202, description = "Accepted: the cluster (CREATING) and its operation", body = ClusterStarted),
        ApiErrors,
    )
)]
pub(super) async fn cluster_create(
    State(state): State<AppState>,
    caller: Caller,
    q: ProjectQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let spec: ClusterSpec = parse(&body, "a cluster")?;
    let project = project_of(&state, &caller, &q).await?;
    let out = state
        .core
        .cluster_create(&caller.actor, &project, spec, q.intent())
        .await?;
    planned(out, cluster_started)
}

/// The 202 answer to a cluster's create or delete: the cluster as it is now and the
/// operation carrying the change out.
fn cluster_started(started: clusters::Started) -> Response {
    accepted(ClusterStarted {
        cluster: started.cluster,
        operation: (&started.operation).into(),
    })
}

/// A cluster the caller may see (404 otherwise, whoever owns it).
pub(super) async fn visible_cluster(
    state: &AppState,
    caller: &Caller,
    id: &ClusterId,
    action: Action,
) -> ApiResult<Cluster> {
    Ok(state.core.cluster(&caller.actor, id, action).await?.0)
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}",
    summary = "A cluster with its node groups and operations",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "The cluster", body = ClusterShown),
        ApiErrors,
    )
)]
pub(super) async fn cluster_show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let ops = state.core.store.op_list_for(&cluster.id).await?;
    let node_groups = state.core.store.node_groups_of(&cluster.id).await?;
    Ok(Json(ClusterShown {
        cluster: ClusterDetail {
            cluster,
            node_groups: node_groups.iter().map(NodeGroupView::from).collect(),
            operations: ops.iter().map(OperationView::from).collect(),
        },
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}",
    summary = "Delete a cluster and everything it has in the cloud (plan_id from plan-delete: only if that is still the plan)",
    params(("id" = String, Path, description = "The cluster's id"), ProjectQuery),
    responses(
        (status = 202, description = "Accepted: the cluster (DELETING) and its operation", body = ClusterStarted),
        ApiErrors,
    )
)]
pub(super) async fn cluster_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
    q: ProjectQuery,
) -> ApiResult<Response> {
    // A delete is planned with plan-delete; `dry_run` is not one of its parameters.
    let intent = Intent::from_query(false, q.plan_id.as_deref());
    let out = state
        .core
        .cluster_delete(&caller.actor, &id, intent)
        .await?;
    planned(out, cluster_started)
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/plan-delete",
    summary = "What deleting the cluster removes: everything of it the cloud holds; pass its plan_id to DELETE to apply exactly that",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "The plan", body = PlanBody),
        ApiErrors,
    )
)]
pub(super) async fn cluster_plan_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let out = state
        .core
        .cluster_delete(&caller.actor, &id, Intent::Plan)
        .await?;
    let plan = out.into_plan()?;
    Ok(Json(PlanBody { plan }))
}
