//! Server functions of operations: one operation's page, retrying or aborting it.

use leptos::prelude::*;

use crate::dto::*;
use crate::error::AppError;

/// An operation with its steps and events, for someone who may see its project.
#[server(endpoint = "operation")]
pub async fn get_operation(id: String) -> Result<OperationDetail, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        use provision::authz::{authorize, Action};
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        let op = st.operation(&actor, &id).await?;
        let can_act = authorize(&st.store, &actor, &op.project_id, Action::Mutate)
            .await
            .is_ok();
        let steps = st.store.op_steps(&op.id).await?;
        let events = st.store.op_events(&op.id).await?;
        let skip = events.len().saturating_sub(200);
        Ok(OperationDetail {
            operation: OperationDto {
                id: op.id.clone(),
                kind: op.kind.clone(),
                state: op.state.as_str().to_string(),
                done: op.steps_done,
                total: op.steps_total,
                current: steps
                    .iter()
                    .filter(|s| s.state.as_str() == "running")
                    .map(|s| s.step.clone())
                    .collect(),
                error: op.error.clone(),
                retryable: op.retryable.unwrap_or(false),
                created_at: op.created_at,
                finished: !op.state.unfinished(),
            },
            cluster_id: op.target_id.clone(),
            steps: steps
                .into_iter()
                .map(|s| StepDto {
                    state: s.state.as_str().to_string(),
                    step: s.step,
                    attempts: s.attempts,
                    error: s.error,
                    started_at: s.started_at,
                    finished_at: s.finished_at,
                })
                .collect(),
            events: events
                .into_iter()
                .skip(skip)
                .map(|e| EventDto {
                    at: e.at,
                    step: e.step,
                    event: e.event,
                    detail: e.detail,
                })
                .collect(),
            can_act,
            is_admin: actor.is_admin,
        })
    })
    .await
}

/// Runs a failed operation of the cluster again.
#[server(endpoint = "operation_retry")]
pub async fn retry_operation(id: String, operation: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        st.operation_retry(&actor, &operation).await?;
        leptos_axum::redirect(&format!("/clusters/{id}"));
        Ok(())
    })
    .await
}

/// Retries or aborts an operation from its page (`action` = retry or abort); the
/// core decides who may (members retry failed ones, only admins stuck ones).
#[server(endpoint = "operation_change")]
pub async fn change_operation(operation: String, action: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        match action.as_str() {
            "retry" => st.operation_retry(&actor, &operation).await?,
            "abort" => st.operation_abort(&actor, &operation).await?,
            _ => return Err(provision::Error::invalid("action", "Retry or abort.").into()),
        };
        leptos_axum::redirect(&format!("/operations/{operation}"));
        Ok(())
    })
    .await
}
