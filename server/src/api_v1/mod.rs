//! The public REST API, `/api/v1`: JSON in and out, authenticated by a personal API
//! token (`Authorization: Bearer sy_…`) or by the console's session cookie. Errors are
//! `{"error": {"code", "message", "retryable"}}` with the matching status; another
//! project's ids answer 404. Handlers stay thin: who is asking, then `provision`.
//!
//! This module holds the router, the list of documented routes and what the handlers
//! share; the handlers live in one submodule per area.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use provision::Outcome;

mod admin;
mod caller;
mod clusters;
mod error;
mod events;
mod kubeconfig;
mod kubernetes;
mod node_groups;
mod operations;
mod projects;
mod query;
mod tokens;
mod workloads;

use caller::Caller;
pub use error::ApiError;
use error::{not_found, ApiResult};

/// The REST API's state is the console's: one state, one core.
pub(crate) use app::ssr::AppState;

/// The REST API; `streams` caps the live event streams per user and in all.
pub fn router(state: AppState, streams: Arc<crate::live_streams::LiveStreams>) -> Router {
    let (routes, doc) = documented().split_for_parts();
    // Made once: every request answers the same bytes.
    let doc = Bytes::from(crate::openapi::document(doc).to_string());
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .route("/clusters/{id}/events", get(events::cluster_events))
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .with_state(state)
        .layer(axum::Extension(streams))
}

#[cfg(test)]
pub(crate) fn documented_for_tests() -> utoipa_axum::router::OpenApiRouter<AppState> {
    documented()
}

/// Every documented route: the handler and its part of the OpenAPI document come from
/// the same `#[utoipa::path]`, so neither can be added without the other.
fn documented() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(clusters::cluster_list, clusters::cluster_create))
        .routes(routes!(clusters::cluster_show, clusters::cluster_delete))
        .routes(routes!(kubeconfig::kubeconfig_issue))
        .routes(routes!(kubeconfig::ca_rotate))
        .routes(routes!(
            node_groups::node_group_list,
            node_groups::node_group_create
        ))
        .routes(routes!(
            node_groups::node_group_show,
            node_groups::node_group_update,
            node_groups::node_group_delete
        ))
        .routes(routes!(node_groups::node_group_plan_delete))
        .routes(routes!(node_groups::node_group_autoscale))
        .routes(routes!(clusters::cluster_plan_delete))
        .routes(routes!(workloads::service_list, workloads::service_create))
        .routes(routes!(workloads::service_delete))
        .routes(routes!(workloads::volume_list, workloads::volume_create))
        .routes(routes!(workloads::volume_delete))
        .routes(routes!(operations::operation_show))
        .routes(routes!(operations::operation_retry))
        .routes(routes!(operations::operation_abort))
        .routes(routes!(admin::admin_operations))
        .routes(routes!(admin::version_list))
        .routes(routes!(admin::version_set))
        .routes(routes!(admin::flavor_list))
        .routes(routes!(admin::flavor_set))
        .routes(routes!(admin::quota_list))
        .routes(routes!(admin::quota_set))
        .routes(routes!(admin::audit_list))
        .routes(routes!(tokens::token_list, tokens::token_create))
        .routes(routes!(tokens::token_revoke))
        .routes(routes!(kubernetes::cluster_kubernetes))
        .routes(routes!(projects::project_list, projects::project_create))
        .routes(routes!(projects::member_list, projects::member_set))
        .routes(routes!(projects::member_remove))
}

/// The cloud's flavors, as every check of a spec against them needs.
/// A change's answer: its plan (200, `dry_run=true`), or what `started` makes of what
/// it started.
fn planned<T>(out: Outcome<T>, started: impl FnOnce(T) -> Response) -> ApiResult<Response> {
    Ok(match out {
        Outcome::Planned(plan) => Json(crate::views::PlanBody { plan: *plan }).into_response(),
        Outcome::Started(t) => started(t),
    })
}

/// A 202 Accepted answer with `body`.
fn accepted(body: impl serde::Serialize) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
