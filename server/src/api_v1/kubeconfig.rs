//! A cluster's credentials: issuing a kubeconfig to the caller, and rotating the
//! cluster's CA (which voids the kubeconfigs issued before).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::ClusterId;
use provision::authz::Action;
use provision::Error;
use serde::Deserialize;

use super::clusters::visible_cluster;
use super::{ApiResult, AppState, Caller};
use crate::views::*;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KubeconfigRequest {
    validity_hours: Option<u32>,
}

/// A fresh kubeconfig for the caller: YAML (as a download), or JSON with its serial
/// and expiry when the client asks for `application/json`.
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/kubeconfig",
    summary = "Issue a kubeconfig for you: a fresh client certificate (CN = you) signed by the cluster's CA; what you may do in the cluster follows your project role, which Shipyard keeps in the cluster's RBAC; 24 h by default (1 h to 30 days). YAML download, or JSON with its serial and expiry when you Accept application/json",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body(content = KubeconfigRequest, description = "Optional", content_type = "application/json"),
    responses(
        (status = 201, description = "The kubeconfig", content((KubeconfigFile = "application/yaml"), (KubeconfigIssued = "application/json"))),
        ApiErrors,
    )
)]
pub(super) async fn kubeconfig_issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Path(id): Path<ClusterId>,
    body: Bytes,
) -> ApiResult<Response> {
    visible_cluster(&state, &caller, &id, Action::View).await?;
    let req = KubeconfigRequest::parse(&body)?;
    let kc = state
        .core
        .kubeconfig(&caller.actor, &id, req.validity_hours)
        .await?;
    let wants_json = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    Ok(if wants_json {
        (StatusCode::CREATED, Json(KubeconfigIssued::from(kc))).into_response()
    } else {
        yaml_download(kc)
    })
}

impl KubeconfigRequest {
    /// The optional body: nothing, or `{"validity_hours": n}`.
    fn parse(body: &Bytes) -> ApiResult<KubeconfigRequest> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(KubeconfigRequest::default());
        }
        Ok(serde_json::from_slice(body).map_err(|e| {
            Error::invalid(
                "body",
                format!("Send {{\"validity_hours\": 24}} or nothing: {e}"),
            )
        })?)
    }
}

impl From<provision::pki::Kubeconfig> for KubeconfigIssued {
    fn from(kc: provision::pki::Kubeconfig) -> Self {
        KubeconfigIssued {
            kubeconfig: KubeconfigView {
                expires_at: provision::pki::rfc3339(kc.not_after),
                yaml: kc.yaml,
                serial: kc.serial,
                file_name: kc.file_name,
                ca_generation: kc.ca_generation,
            },
        }
    }
}

/// The kubeconfig as a YAML download, its serial and expiry in headers.
fn yaml_download(kc: provision::pki::Kubeconfig) -> Response {
    let expires = provision::pki::rfc3339(kc.not_after);
    (
        StatusCode::CREATED,
        [
            (http::header::CONTENT_TYPE, "application/yaml".to_string()),
            (
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", kc.file_name),
            ),
            (http::header::CACHE_CONTROL, "no-store".to_string()),
            (
                http::header::HeaderName::from_static("x-shipyard-kubeconfig-serial"),
                kc.serial.clone(),
            ),
            (
                http::header::HeaderName::from_static("x-shipyard-kubeconfig-expires"),
                expires,
            ),
        ],
        kc.yaml,
    )
        .into_response()
}

/// Replaces the cluster's CA and starts rebuilding its servers with certificates of the
/// new one; kubeconfigs issued before stop working.
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/rotate-ca",
    summary = "Replace the cluster's CA: the servers boot again with certificates of the new CA (an operation; the API is down while the masters boot), and kubeconfigs issued before stop working",
    params(("id" = String, Path, description = "The cluster's id")),
    responses(
        (status = 202, description = "The new CA generation, and the operation that rebuilds the servers", body = CaRotated),
        ApiErrors,
    )
)]
pub(super) async fn ca_rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ClusterId>,
) -> ApiResult<(StatusCode, Json<CaRotated>)> {
    let (r, op) = state.core.rotate_ca(&caller.actor, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(CaRotated {
        operation: OperationView::from(&op),
        ca: CaRotation {
            generation: r.ca.generation,
            not_after: provision::pki::rfc3339(r.ca.not_after),
            retired_generation: r.retired_generation,
            invalidated_kubeconfigs: r.invalidated_kubeconfigs,
            message: "The cluster's servers boot again with certificates of the new CA; kubeconfigs issued before this rotation no longer work: download a new one.",
        },
    })))
}
