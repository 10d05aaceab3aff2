//! What runs on a cluster and needs the cloud: services exposed on load balancers, and
//! persistent volumes on block storage. Each is a Kubernetes object in the cluster
//! (what `kubectl` would create); Shipyard's controllers make and remove its cloud side.

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
    visible_cluster(&state, &caller, &id, Action::View).await?;
    Ok(Json(ServiceList {
        services: state.core.workloads(&caller.actor, &id).await?.services,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/services",
    summary = "Expose a service: a Service of type LoadBalancer in the cluster's default namespace (selecting pods labelled app=<name>); the cloud controller gives it a load balancer, one listener per port, the Ready nodes as members on the node port (picked from 30000-32767 when omitted)",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body = provision::clusters::workloads::ServiceSpec,
    responses(
        (status = 202, description = "The service (PENDING until its load balancer is made)", body = ServiceStarted),
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
    let service = state.core.service_create(&caller.actor, &id, spec).await?;
    Ok(accepted(ServiceStarted { service }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/services/{name}",
    summary = "Delete a service (its load balancer goes first)",
    params(("id" = String, Path, description = "The cluster's id"), ("name" = String, Path, description = "The service's name or id")),
    responses(
        (status = 202, description = "Being deleted", body = Deleting),
        ApiErrors,
    )
)]
pub(super) async fn service_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(ClusterId, String)>,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    state.core.service_delete(&caller.actor, &id, &name).await?;
    Ok(accepted(Deleting { name }))
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
    visible_cluster(&state, &caller, &id, Action::View).await?;
    Ok(Json(VolumeList {
        volumes: state
            .core
            .workloads(&caller.actor, &id)
            .await?
            .persistent_volumes,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/volumes",
    summary = "Ask for a persistent volume: a PersistentVolumeClaim in the cluster's default namespace, of the StorageClass volume_type (the cluster's default when omitted); the provisioner makes its Cinder volume",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body = provision::clusters::workloads::VolumeRequest,
    responses(
        (status = 202, description = "The volume (PENDING until it is made)", body = VolumeStarted),
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
    let volume = state.core.volume_create(&caller.actor, &id, req).await?;
    Ok(accepted(VolumeStarted { volume }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clusters/{id}/volumes/{name}",
    summary = "Delete a persistent volume claim (its volume is deleted once detached)",
    params(("id" = String, Path, description = "The cluster's id"), ("name" = String, Path, description = "The volume's name or id")),
    responses(
        (status = 202, description = "Being deleted", body = Deleting),
        ApiErrors,
    )
)]
pub(super) async fn volume_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(ClusterId, String)>,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    state.core.volume_delete(&caller.actor, &id, &name).await?;
    Ok(accepted(Deleting { name }))
}
