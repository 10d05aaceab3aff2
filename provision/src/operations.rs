//! What people may do to operations: a project's members retry a failed operation
//! and abort a running one (it unwinds); only admins retry a stuck one (an undo that
//! could not finish needs someone to look) and list every project's operations. Each
//! is audit-logged.

use crate::accounts::{audit, require_admin};
use crate::authz::{authorize, Action};
use crate::domain::{Actor, Outcome};
use crate::ops::{Engine, OpState, OperationRow};
use crate::{Error, Result, Store};

/// The operation, if the actor may see it (404 otherwise, whoever owns it).
pub async fn visible(
    store: &Store,
    actor: &Actor,
    id: &str,
    action: Action,
) -> Result<OperationRow> {
    let hidden = || Error::NotFound(format!("Operation {id} not found."));
    let op = store.op_get(id).await.map_err(|_| hidden())?;
    authorize(store, actor, &op.project_id, action)
        .await
        .map_err(|e| match e {
            Error::Forbidden(m) => Error::Forbidden(m),
            _ => hidden(),
        })?;
    Ok(op)
}

/// Runs a failed (or, for admins, stuck) operation again from its first unfinished step.
pub async fn retry(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    id: &str,
) -> Result<OperationRow> {
    let op = visible(store, actor, id, Action::Mutate).await?;
    if op.state == OpState::Stuck && !actor.is_admin {
        return Err(Error::Forbidden(
            "This operation is stuck: an undo could not finish. An administrator has to look at it and retry it.".into(),
        ));
    }
    engine.retry(&op.id).await?;
    audit(
        store,
        actor,
        Some(&op.project_id),
        "operation.retry",
        &op.id,
        Outcome::Success,
        &op.kind,
    )
    .await?;
    store.op_get(id).await
}

/// Asks a pending or running operation to stop; a create unwinds what it made.
pub async fn abort(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    id: &str,
) -> Result<OperationRow> {
    let op = visible(store, actor, id, Action::Mutate).await?;
    engine.abort(&op.id).await?;
    audit(
        store,
        actor,
        Some(&op.project_id),
        "operation.abort",
        &op.id,
        Outcome::Success,
        &op.kind,
    )
    .await?;
    store.op_get(id).await
}

/// Every project's operations in the given states (admins only), oldest first.
pub async fn list_all(
    store: &Store,
    actor: &Actor,
    states: &[OpState],
) -> Result<Vec<OperationRow>> {
    require_admin(actor)?;
    store.op_list_in(states).await
}
