//! `GET /api/v1/clusters/{id}/kubernetes`: what the cluster itself says (its API's
//! health and version, each Node's readiness, version and pods), read through its API.

use axum::extract::{Path, State};
use axum::Json;
use model::ClusterId;
use provision::clusters::kube_status::{self, KubeStatus};

use super::{ApiResult, AppState, Caller};
use crate::views::ApiErrors;

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}/kubernetes",
    summary = "The cluster as its Kubernetes API reports it: the API's health and version, and each node's status, version and pod count. An API that does not answer is reported (reachable: false), not an error",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 200, description = "The cluster's own view", body = KubeStatus),
        ApiErrors,
    )
)]
pub(super) async fn cluster_kubernetes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<Json<KubeStatus>> {
    let status = kube_status::read(
        &state.core.store,
        &state.core.secret_key,
        &caller.actor,
        &id,
    )
    .await?;
    Ok(Json(status))
}
