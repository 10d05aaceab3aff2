//! An operation in the caller's projects: its state, steps and events; retrying a failed
//! one and aborting a running one.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use model::OperationId;

use super::{accepted, ApiResult, AppState, Caller};
use crate::views::*;

#[utoipa::path(
    get,
    path = "/api/v1/operations/{id}",
    summary = "An operation: state, progress, steps, events, error",
    params(("id" = String, Path, description = "The operation's id")),
    responses(
        (status = 200, description = "The operation", body = OperationShown),
        ApiErrors,
    )
)]
pub(super) async fn operation_show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OperationId>,
) -> ApiResult<Json<impl serde::Serialize>> {
    let record = state.core.operation_record(&caller.actor, &id).await?;
    let operation = OperationDetail {
        operation: (&record.operation).into(),
        steps: record.steps.into_iter().map(StepView::from).collect(),
        events: record.events.into_iter().map(EventView::from).collect(),
    };
    Ok(Json(OperationShown { operation }))
}

#[utoipa::path(
    post,
    path = "/api/v1/operations/{id}/retry",
    summary = "Run a failed operation again from its first unfinished step (stuck ones: admins only)",
    params(("id" = String, Path, description = "The operation's id")),
    responses(
        (status = 202, description = "The operation", body = OperationStarted),
        ApiErrors,
    )
)]
pub(super) async fn operation_retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OperationId>,
) -> ApiResult<Response> {
    let op = state.core.operation_retry(&caller.actor, &id).await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/operations/{id}/abort",
    summary = "Stop a pending or running operation; a create unwinds what it made",
    params(("id" = String, Path, description = "The operation's id")),
    responses(
        (status = 202, description = "The operation", body = OperationStarted),
        ApiErrors,
    )
)]
pub(super) async fn operation_abort(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OperationId>,
) -> ApiResult<Response> {
    let op = state.core.operation_abort(&caller.actor, &id).await?;
    Ok(accepted(OperationStarted {
        operation: (&op).into(),
    }))
}
