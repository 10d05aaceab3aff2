//! Server functions of operations: one operation's page, retrying or aborting it.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::convert;
use crate::dto::*;
use crate::error::AppError;

/// An operation with its steps and events, for someone who may see its project.
#[server(endpoint = "operation")]
pub async fn get_operation(id: OperationId) -> Result<OperationDetail, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let record = state()?.operation_record(&actor, &id).await?;
        Ok(convert::operation_detail(record, actor.is_admin))
    })
    .await
}

/// Runs a failed operation of the cluster again.
#[server(endpoint = "operation_retry")]
pub async fn retry_operation(id: ClusterId, operation: OperationId) -> Result<(), AppError> {
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
pub async fn change_operation(operation: OperationId, action: String) -> Result<(), AppError> {
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
