//! Clusters: list, create (with its plan), show, delete (with its plan), and
//! [`visible_cluster`], which every handler under `/clusters/{id}` starts with.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use provision::authz::{authorize, Action};
use provision::clusters::{self, Cluster, ClusterSpec};
use provision::Error;

use super::query::{project_of, query, ProjectQuery};
use super::{accepted, flavors, ApiResult, ApiState, Caller};
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
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let q = query(q)?;
    let project = project_of(&state, &caller, &q).await?;
    authorize(&state.store, &caller.actor, &project, Action::View).await?;
    let list = state.store.cluster_list(&project).await?;
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
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(q)?;
    let mut spec: ClusterSpec = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("The body is not a cluster: {e}")))?;
    let project = project_of(&state, &caller, &q).await?;
    let flavors = flavors(&state).await?;
    if q.dry_run.unwrap_or(false) || q.plan_id.is_some() {
        authorize(&state.store, &caller.actor, &project, Action::View).await?;
        clusters::prepare(&state.store, &mut spec, &flavors).await?;
        let plan = clusters::plan::create_plan_full(
            &state.store,
            &project,
            &spec,
            &flavors,
            state.cloud.as_ref(),
        )
        .await?;
        if q.dry_run.unwrap_or(false) {
            return Ok(Json(PlanBody { plan }).into_response());
        }
        clusters::plan::check_unchanged(&plan, q.plan_id.as_deref())?;
    }
    let started = clusters::create(
        &state.store,
        &state.engine,
        &caller.actor,
        &project,
        spec,
        &flavors,
    )
    .await?;
    Ok(cluster_started(started))
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
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<Cluster> {
    Ok(
        clusters::cluster_for(&state.store, &caller.actor, id, action)
            .await?
            .0,
    )
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
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let ops = state.store.op_list_for(&cluster.id).await?;
    let node_groups = state.store.node_groups_of(&cluster.id).await?;
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
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    if let Some(expected) = q.plan_id.as_deref() {
        let plan = clusters::plan::delete_plan(state.cloud.as_ref(), &cluster.id).await?;
        clusters::plan::check_unchanged(&plan, Some(expected))?;
    }
    let started = clusters::delete(
        &state.store,
        &state.engine,
        &caller.actor,
        &cluster.project_id,
        &id,
    )
    .await?;
    Ok(cluster_started(started))
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
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let plan = clusters::plan::delete_plan(state.cloud.as_ref(), &cluster.id).await?;
    Ok(Json(PlanBody { plan }))
}
