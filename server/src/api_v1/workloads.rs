//! What runs on a cluster and needs the cloud: services exposed on load balancers, and
//! persistent volumes on block storage.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use model::ClusterId;
use provision::authz::Action;
use provision::clusters::workloads;

use super::clusters::visible_cluster;
use super::query::parse;
use super::{accepted, ApiResult, AppState, Caller};
use crate::views::*;

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/services",
    summary = "Services exposed on load balancers",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "Services", body = ServiceList),
        ApiErrors,
    )
)]
pub(super) async fn service_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    Ok(Json(ServiceList {
        services: state.core.store.services_of(&cluster.id).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/services",
    summary = "Expose a service: a load balancer, one listener per port, the workers as members on the node port (picked from 30000-32767 when omitted)",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body = provision::clusters::workloads::ServiceSpec,
    responses(
        (status = 202, description = "The service (CREATING) and its operation", body = ServiceStarted),
        ApiErrors,
    )
)]
pub(super) async fn service_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
    body: Bytes,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let spec: workloads::ServiceSpec = parse(&body, "a service")?;
    let (service, op) = state.core.service_create(&caller.actor, &id, spec).await?;
    Ok(accepted(ServiceStarted {
        service,
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/services/{name}",
    summary = "Remove a service's load balancer",
    params(("id" = String, Path, description = "The cluster's id"), ("name" = String, Path, description = "The service's name or id")),
    responses(
        (status = 202, description = "Its operation", body = OperationStarted),
        ApiErrors,
    )
)]
pub(super) async fn service_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(ClusterId, String)>,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let op = state.core.service_delete(&caller.actor, &id, &name).await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/volumes",
    summary = "Persistent volumes",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "Volumes", body = VolumeList),
        ApiErrors,
    )
)]
pub(super) async fn volume_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    Ok(Json(VolumeList {
        volumes: state.core.store.volumes_of(&cluster.id).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/volumes",
    summary = "Create a persistent volume on block storage",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body = provision::clusters::workloads::VolumeRequest,
    responses(
        (status = 202, description = "The volume (CREATING) and its operation", body = VolumeStarted),
        ApiErrors,
    )
)]
pub(super) async fn volume_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
    body: Bytes,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let req: workloads::VolumeRequest = parse(&body, "a volume")?;
    let (volume, op) = state.core.volume_create(&caller.actor, &id, req).await?;
    Ok(accepted(VolumeStarted {
        volume,
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/volumes/{name}",
    summary = "Delete a persistent volume (detached first)",
    params(("id" = String, Path, description = "The cluster's id"), ("name" = String, Path, description = "The volume's name or id")),
    responses(
        (status = 202, description = "Its operation", body = OperationStarted),
        ApiErrors,
    )
)]
pub(super) async fn volume_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(ClusterId, String)>,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let op = state.core.volume_delete(&caller.actor, &id, &name).await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}
